package dev.sandbox.engine.review;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.review.SpecReview.ChangeKind;
import dev.sandbox.engine.review.SpecReview.Weakening;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.SpecLoader;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** One test per weakening rule of issue 11, and the changes that must not be flagged. */
class SpecReviewTest {

    /** A well-isolated sandbox: root inside mapped to 100000, read-only root, a read-only bind, a mask, a read-only path. */
    static final String BASE = """
            apiVersion: sandbox/v1
            kind: Sandbox
            name: review
            namespaces:
              user:
                uidMap: [{inside: 0, outside: 100000, count: 65536}]
                gidMap: [{inside: 0, outside: 100000, count: 65536}]
              mount:
                root: {type: tmpfs}
                readonlyRoot: true
                mounts:
                  - {type: bind, source: /usr, target: /usr, readonly: true}
                  - {type: tmpfs, target: /tmp}
                masks: [/proc/kcore]
                readonlyPaths: [/proc/sys]
              pid: {}
              uts: {hostname: box}
              ipc: {}
              cgroup: {}
            process:
              command: [/bin/true]
            """;

    static final long USER = 1000;
    static final long ROOT = 0;

    static EffectiveSpec model(String yaml, long callerUid) {
        LoadedSpec spec = new SpecLoader().parse(Path.of("t.yaml"), "t.yaml", yaml);
        assertNotNull(spec.root(), spec.diagnostics().toString());
        return EffectiveSpec.of(spec.root(), callerUid, callerUid);
    }

    static List<Weakening> weakenings(String before, String after, long callerUid) {
        return SpecReview.compare(model(before, callerUid), model(after, callerUid)).weakenings();
    }

    static List<Weakening> weakenings(String before, String after) {
        return weakenings(before, after, USER);
    }

    static String edit(String from, String to) {
        assertTrue(BASE.contains(from), "BASE has no '" + from + "'");
        return BASE.replace(from, to);
    }

    static void assertOnly(List<Weakening> found, String code, String key) {
        assertEquals(1, found.size(), found.toString());
        assertEquals(code, found.get(0).code(), found.toString());
        assertEquals(key, found.get(0).key(), found.toString());
    }

    // ------------------------------------------------------------------------- nothing to report

    @Test
    void writingADefaultOutChangesNothing() {
        String after = edit("  command: [/bin/true]\n", "  command: [/bin/true]\n  noNewPrivileges: true\n  seccomp: default\n  cwd: /\n");
        var review = SpecReview.compare(model(BASE, USER), model(after, USER));
        assertEquals(List.of(), review.changes());
        assertEquals(List.of(), review.weakenings());
    }

    @Test
    void strengtheningChangesAreListedButNotFlagged() {
        String after = edit("masks: [/proc/kcore]", "masks: [/proc/kcore, /etc/shadow]")
                .replace("  - {type: tmpfs, target: /tmp}", "  - {type: tmpfs, target: /tmp, readonly: true}")
                .replace("  command: [/bin/true]\n", "  command: [/bin/true]\n  capabilities: [chown]\n");
        var review = SpecReview.compare(model(BASE, USER), model(after, USER));
        assertEquals(List.of(), review.weakenings());
        assertTrue(review.changes().stream().anyMatch(c -> c.kind() == ChangeKind.ADDED && c.key().equals("namespaces.mount.masks[/etc/shadow]")),
                review.changes().toString());
        var caps = review.changes().stream().filter(c -> c.key().equals("process.capabilities")).findFirst().orElseThrow();
        assertTrue(caps.before().defaulted(), caps.toString());
        assertEquals("CAP_CHOWN", caps.after().value());
    }

    // ------------------------------------------------------------------------------- namespaces

    @Test
    void aNamespaceRemovedIsFlagged() {
        assertOnly(weakenings(BASE, edit("  ipc: {}\n", "")), "namespace.removed", "namespaces.ipc");
    }

    @Test
    void aNamespaceSwitchedToJoinIsFlagged() {
        assertOnly(weakenings(BASE, edit("  ipc: {}\n", "  ipc: {join: {sandbox: other}}\n")), "namespace.joined", "namespaces.ipc");
    }

    // ----------------------------------------------------------------------------------- mounts

    @Test
    void aBindAddedIsFlagged() {
        var w = weakenings(BASE, edit("  - {type: tmpfs, target: /tmp}", "  - {type: tmpfs, target: /tmp}\n      - {type: bind, source: /srv/data, target: /data}"));
        assertOnly(w, "mount.bind-added", "namespaces.mount.mounts[/data]");
        assertTrue(w.get(0).message().contains("/srv/data") && w.get(0).message().contains("writable"), w.toString());
    }

    @Test
    void aBindMadeWritableIsFlagged() {
        assertOnly(weakenings(BASE, edit("target: /usr, readonly: true}", "target: /usr}")), "mount.bind-writable", "namespaces.mount.mounts[/usr]");
    }

    @Test
    void aBindWithAnotherSourceIsFlaggedAsAdded() {
        assertOnly(weakenings(BASE, edit("source: /usr, target: /usr", "source: /, target: /usr")), "mount.bind-added", "namespaces.mount.mounts[/usr]");
    }

    @Test
    void aHostDirectoryAsRootIsFlagged() {
        assertOnly(weakenings(BASE, edit("root: {type: tmpfs}", "root: {type: bind, source: /srv/rootfs}")), "mount.bind-added", "namespaces.mount.root");
    }

    @Test
    void readonlyRootRemovedIsFlagged() {
        assertOnly(weakenings(BASE, edit("    readonlyRoot: true\n", "")), "mount.readonly-removed", "namespaces.mount.readonlyRoot");
    }

    @Test
    void systemPathsUnconfinedIsFlagged() {
        var w = weakenings(BASE, edit("    readonlyRoot: true\n", "    readonlyRoot: true\n    systemPaths: unconfined\n"));
        assertOnly(w, "mount.system-paths-unconfined", "namespaces.mount.systemPaths");
        assertTrue(w.get(0).message().contains("/proc/sys"), w.toString());
    }

    @Test
    void systemPathsWrittenAsTheirDefaultChangesNothing() {
        var review = SpecReview.compare(model(BASE, USER), model(edit("    readonlyRoot: true\n", "    readonlyRoot: true\n    systemPaths: default\n"), USER));
        assertEquals(List.of(), review.changes());
        assertEquals(List.of(), review.weakenings());
    }

    @Test
    void systemPathsConfinedAgainIsListedButNotFlagged() {
        String unconfined = edit("    readonlyRoot: true\n", "    readonlyRoot: true\n    systemPaths: unconfined\n");
        var review = SpecReview.compare(model(unconfined, USER), model(BASE, USER));
        assertEquals(List.of(), review.weakenings());
        assertTrue(review.changes().stream().anyMatch(c -> c.key().equals("namespaces.mount.systemPaths")), review.changes().toString());
    }

    @Test
    void aMaskRemovedIsFlagged() {
        assertOnly(weakenings(BASE, edit("masks: [/proc/kcore]", "masks: []")), "mount.mask-removed", "namespaces.mount.masks[/proc/kcore]");
    }

    @Test
    void aReadonlyPathRemovedIsFlagged() {
        assertOnly(weakenings(BASE, edit("readonlyPaths: [/proc/sys]", "readonlyPaths: []")), "mount.readonly-path-removed",
                "namespaces.mount.readonlyPaths[/proc/sys]");
    }

    @Test
    void sharedPropagationOnABindIsFlagged() {
        var w = weakenings(BASE, edit("target: /usr, readonly: true}", "target: /usr, readonly: true, propagation: rshared}"));
        assertOnly(w, "mount.shared", "namespaces.mount.mounts[/usr]");
    }

    // ------------------------------------------------------------------------------ capabilities

    @Test
    void capabilitiesAddedToAnExplicitListAreFlagged() {
        String before = edit("  command: [/bin/true]\n", "  command: [/bin/true]\n  capabilities: [CHOWN]\n");
        String after = edit("  command: [/bin/true]\n", "  command: [/bin/true]\n  capabilities: [chown, cap_sys_admin]\n");
        var w = weakenings(before, after);
        assertOnly(w, "process.capabilities-added", "process.capabilities");
        assertTrue(w.get(0).message().contains("CAP_SYS_ADMIN") && !w.get(0).message().contains("CAP_CHOWN"), w.toString());
    }

    @Test
    void anExplicitListBeyondTheDefaultSetIsFlagged() {
        var w = weakenings(BASE, edit("  command: [/bin/true]\n", "  command: [/bin/true]\n  capabilities: [NET_ADMIN]\n"));
        assertOnly(w, "process.capabilities-added", "process.capabilities");
        assertTrue(w.get(0).message().endsWith("CAP_NET_ADMIN"), w.toString());
    }

    @Test
    void capabilitiesAllIsFlagged() {
        assertOnly(weakenings(BASE, edit("  command: [/bin/true]\n", "  command: [/bin/true]\n  capabilities: all\n")),
                "process.capabilities-all", "process.capabilities");
    }

    @Test
    void becomingUid0GainsTheDefaultSet() {
        String before = edit("  command: [/bin/true]\n", "  command: [/bin/true]\n  user: {uid: 1000, gid: 1000}\n");
        var w = weakenings(before, BASE);
        assertOnly(w, "process.capabilities-added", "process.capabilities");
        assertTrue(w.get(0).message().contains("CAP_DAC_OVERRIDE") && w.get(0).message().contains("uid 0"), w.toString());
        assertTrue(!w.get(0).message().contains("CAP_MKNOD") && !w.get(0).message().contains("CAP_SYS_ADMIN"), w.toString());
    }

    @Test
    void aNewNetNamespaceBringsNetRawWithoutAFlag() {
        var review = SpecReview.compare(model(BASE, USER), model(edit("  cgroup: {}\n", "  cgroup: {}\n  net: {}\n"), USER));
        assertEquals(List.of(), review.weakenings());
        assertTrue(review.changes().stream().anyMatch(c -> c.key().equals("process.capabilities") && c.after().value().contains("CAP_NET_RAW")),
                review.changes().toString());
    }

    // ---------------------------------------------------------------------- seccomp, no_new_privs

    @Test
    void seccompUnconfinedIsFlagged() {
        var w = weakenings(BASE, edit("  command: [/bin/true]\n", "  command: [/bin/true]\n  seccomp: unconfined\n"));
        assertOnly(w, "seccomp.loosened", "process.seccomp");
        assertTrue(w.get(0).message().contains("was default"), w.toString());
    }

    @Test
    void seccompProfileInsteadOfTheDefaultIsFlagged() {
        assertOnly(weakenings(BASE, edit("  command: [/bin/true]\n", "  command: [/bin/true]\n  seccomp: profiles/build.json\n")),
                "seccomp.loosened", "process.seccomp");
    }

    @Test
    void seccompBackToTheDefaultIsNotFlagged() {
        assertEquals(List.of(), weakenings(edit("  command: [/bin/true]\n", "  command: [/bin/true]\n  seccomp: unconfined\n"), BASE));
    }

    @Test
    void noNewPrivilegesOffIsFlagged() {
        assertOnly(weakenings(BASE, edit("  command: [/bin/true]\n", "  command: [/bin/true]\n  noNewPrivileges: false\n")),
                "process.no-new-privileges-off", "process.noNewPrivileges");
    }

    // ---------------------------------------------------------------------------------- network

    static final String WITH_NET = edit("  cgroup: {}\n", "  cgroup: {}\n  net: {}\n");

    @Test
    void aHostLinkAddedIsFlagged() {
        String after = WITH_NET.replace("  net: {}\n", "  net:\n    links: [{type: veth, name: eth0, address: 198.18.0.2/30, hostAddress: 198.18.0.1/30}]\n");
        var w = weakenings(WITH_NET, after);
        assertOnly(w, "net.host-link", "namespaces.net.links[eth0]");
        assertTrue(w.get(0).message().contains("198.18.0.1/30"), w.toString());
    }

    @Test
    void aPublishedPortIsFlagged() {
        assertOnly(weakenings(WITH_NET, WITH_NET + "ports: [\"8080:80\"]\n"), "net.published-port", "ports[8080:80]");
    }

    @Test
    void userModeNetworkIsFlagged() {
        assertOnly(weakenings(WITH_NET, WITH_NET.replace("  net: {}\n", "  net: {mode: user}\n")), "net.user-mode", "namespaces.net.mode");
    }

    // -------------------------------------------------------------------------------- resources

    static final String LIMITED = BASE + "resources: {memory: 256M, memorySwap: 0, pids: 64, cpus: 1.5, cpuWeight: 100}\n";

    @Test
    void aResourceLimitRemovedIsFlagged() {
        assertOnly(weakenings(LIMITED, LIMITED.replace("pids: 64, ", "")), "resources.removed", "resources.pids");
    }

    @Test
    void aResourceLimitRaisedIsFlaggedAndALoweredOneIsNot() {
        assertOnly(weakenings(LIMITED, LIMITED.replace("memory: 256M", "memory: 1G")), "resources.raised", "resources.memory");
        assertOnly(weakenings(LIMITED, LIMITED.replace("cpus: 1.5", "cpus: 2")), "resources.raised", "resources.cpus");
        assertOnly(weakenings(LIMITED, LIMITED.replace("memorySwap: 0", "memorySwap: max")), "resources.raised", "resources.memorySwap");
        assertEquals(List.of(), weakenings(LIMITED, LIMITED.replace("memory: 256M", "memory: 268435456")));
        assertEquals(List.of(), weakenings(LIMITED, LIMITED.replace("pids: 64", "pids: 32").replace("cpuWeight: 100", "cpuWeight: 50")));
    }

    @Test
    void limitsAreReadWithBinarySuffixes() {
        assertEquals(0, SpecReview.limit("1G").compareTo(SpecReview.limit("1024M")));
        assertEquals(0, SpecReview.limit("64MiB").compareTo(SpecReview.limit("67108864")));
        assertTrue(SpecReview.limit("max").compareTo(SpecReview.limit("1T")) > 0);
        assertEquals(null, SpecReview.limit("lots"));
    }

    // ------------------------------------------------------------------------------- host root

    @Test
    void uid0MappedToTheHostsRootIsFlagged() {
        var w = weakenings(BASE, edit("uidMap: [{inside: 0, outside: 100000, count: 65536}]", "uidMap: [{inside: 0, outside: 0, count: 65536}]"), ROOT);
        assertOnly(w, "user.host-root", "namespaces.user");
    }

    @Test
    void theDefaultMapOfARootCallerIsTheHostsRoot() {
        String after = edit("    uidMap: [{inside: 0, outside: 100000, count: 65536}]\n", "");
        assertOnly(weakenings(BASE, after, ROOT), "user.host-root", "namespaces.user");
        assertEquals(List.of(), weakenings(BASE, after, USER)); // 0 -> 1000: not the host's root
    }

    @Test
    void noUserNamespaceForARootCallerIsTheHostsRoot() {
        String after = BASE.substring(0, BASE.indexOf("  user:")) + BASE.substring(BASE.indexOf("  mount:"));
        var w = weakenings(BASE, after, ROOT);
        assertEquals(List.of("namespace.removed", "user.host-root"), w.stream().map(Weakening::code).toList(), w.toString());
        var rootless = weakenings(BASE, after, USER);
        assertEquals(List.of("namespace.removed"), rootless.stream().map(Weakening::code).toList(), rootless.toString());
    }
}
