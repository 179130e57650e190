package dev.sandbox.plugins.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Severity;
import dev.sandbox.testkit.PluginHarness;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * One test per diagnostic code at least, each asserting line:col. The harness adds three lines
 * (apiVersion, kind, name) above each snippet, so snippet line N is reported as N+3.
 */
class MountChecksTest {

    static PluginHarness harness(String yaml) {
        return PluginHarness.with(new MountNamespacePlugin(), new StubNamespace("pid"), new StubNamespace("net"),
                new StubNamespace("ipc"), new StubNamespace("user")).spec(yaml);
    }

    static List<String> warnings(PluginHarness h) {
        return h.diagnostics().stream().filter(d -> d.severity() == Severity.WARNING)
                .map(d -> d.location().line() + ":" + d.location().column() + " " + d.code()).toList();
    }

    static Diagnostic only(List<Diagnostic> ds) {
        assertEquals(1, ds.size(), () -> ds.stream().map(Diagnostic::format).toList().toString());
        return ds.get(0);
    }

    @Test
    void aRelativeTargetIsAnErrorAtTheTarget() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: tmpfs, target: tmp}
                """);
        assertEquals(List.of("8:31 mount.relative-target"), h.errorCodes());
        Diagnostic d = only(h.errors());
        assertEquals("namespaces.mount.mounts[0].target", d.path());
        assertTrue(d.hint().contains("'/tmp'"), d.hint());
    }

    @Test
    void aMountOnSlashWithoutANewRootIsAnError() {
        var h = harness("""
                namespaces:
                  mount:
                    mounts:
                      - {type: tmpfs, target: /}
                """);
        assertEquals(List.of("7:31 mount.target-is-root"), h.errorCodes());
    }

    @Test
    void aMountOnSlashIsFineWithANewRoot() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: tmpfs, target: /}
                """);
        assertEquals(List.of(), h.errorCodes());
        assertEquals("/run/sandbox/test/root", h.steps("mount").get(1).arg("target").orElseThrow());
    }

    @Test
    void aBindWithoutSourceIsAnErrorAtTheEntry() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: tmpfs, target: /tmp}
                      - type: bind
                        target: /data
                """);
        assertEquals(List.of("9:9 mount.bind-without-source"), h.errorCodes());
        assertTrue(only(h.errors()).hint().contains("source:"));
    }

    @Test
    void aBindRootWithoutSourceIsAnErrorAtTheRoot() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: bind}
                """);
        assertEquals(List.of("6:11 mount.root-bind-without-source"), h.errorCodes());
    }

    @Test
    void aSourceOnATypeWithoutOneIsAnErrorAtTheSource() {
        var h = harness("""
                namespaces:
                  pid: {}
                  mount:
                    root: {type: tmpfs, source: /srv}
                    mounts:
                      - {type: proc, target: /proc, source: proc}
                      - {type: overlay, target: /o, source: /a, lower: [/l1, /l2]}
                """);
        assertEquals(List.of("7:33 mount.source-not-allowed", "9:45 mount.source-not-allowed", "10:45 mount.source-not-allowed"),
                h.errorCodes());
        assertTrue(h.errors().get(2).hint().contains("lower"), h.errors().get(2).hint());
    }

    @Test
    void keysOfOtherTypesAreErrorsAtTheKey() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: bind, source: /srv, size: 1G}
                    mounts:
                      - {type: bind, source: /usr, target: /usr, size: 64M}
                      - type: tmpfs
                        target: /t
                        lower: /x
                      - {type: dev, target: /dev, mode: "0755"}
                """);
        assertEquals(List.of("6:44 mount.key-not-applicable", "8:56 mount.key-not-applicable",
                "11:16 mount.key-not-applicable", "12:41 mount.key-not-applicable"), h.errorCodes());
    }

    @Test
    void readonlyOnAnyTypeIsFine() {
        var h = harness("""
                namespaces:
                  pid: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: proc, target: /proc, readonly: true}
                      - {type: dev, target: /dev, readonly: true}
                """);
        assertEquals(List.of(), h.errorCodes());
    }

    @Test
    void badSizesAreErrorsAtTheSize() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs, size: 0}
                    mounts:
                      - {type: tmpfs, target: /a, size: -5}
                      - {type: tmpfs, target: /b, size: "10%"}
                      - {type: tmpfs, target: /c, size: 1.5G}
                      - {type: tmpfs, target: /d, size: lots}
                      - {type: tmpfs, target: /e, size: 64MB}
                      - {type: tmpfs, target: /f, size: 99999999999G}
                """);
        assertEquals(List.of("6:31 mount.bad-size", "8:41 mount.bad-size", "9:41 mount.bad-size", "10:41 mount.bad-size",
                "11:41 mount.bad-size", "12:41 mount.bad-size", "13:41 mount.bad-size"), h.errorCodes());
        assertTrue(h.errors().get(0).hint().contains("64M"));
    }

    @Test
    void goodSizesValidate() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs, size: 1g}
                    mounts:
                      - {type: tmpfs, target: /a, size: 1048576}
                      - {type: tmpfs, target: /b, size: 512k}
                      - {type: tmpfs, target: /c, size: 64M}
                      - {type: tmpfs, target: /d, size: "2G"}
                """);
        assertEquals(List.of(), h.errorCodes());
    }

    @Test
    void aModeThatIsNotOctalIsAnErrorAtTheMode() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: tmpfs, target: /a, mode: rwx}
                      - {type: tmpfs, target: /b, mode: "0999"}
                      - {type: tmpfs, target: /c, mode: "17777"}
                      - {type: tmpfs, target: /d, mode: "0755"}
                      - {type: tmpfs, target: /e, mode: 1777}
                """);
        assertEquals(List.of("8:41 mount.bad-mode", "9:41 mount.bad-mode", "10:41 mount.bad-mode"), h.errorCodes());
        assertTrue(h.errors().get(0).hint().contains("\"1777\""));
    }

    @Test
    void relativeMasksAndReadonlyPathsAreErrorsAtTheElement() {
        var h = harness("""
                namespaces:
                  mount:
                    masks: [/etc/shadow, etc/gshadow]
                    readonlyPaths:
                      - proc/sys
                """);
        assertEquals(List.of("6:26 mount.relative-mask", "8:9 mount.relative-readonly-path"), h.errorCodes());
    }

    @Test
    void anOverlayWithoutLowerIsAnErrorAtTheEntry() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: overlay, target: /o, upper: /u, work: /w}
                """);
        assertEquals(List.of("8:9 mount.overlay-without-lower"), h.errorCodes());
    }

    @Test
    void upperAndWorkComeTogether() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: overlay, target: /a, lower: [/l1, /l2], upper: /u}
                      - {type: overlay, target: /b, lower: [/l1, /l2], work: /w}
                """);
        assertEquals(List.of("8:63 mount.overlay-upper-without-work", "9:62 mount.overlay-work-without-upper"), h.errorCodes());
    }

    @Test
    void aReadOnlyOverlayNeedsTwoLowerDirectories() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: overlay, target: /a, lower: /l1}
                      - {type: overlay, target: /b, lower: [/l1, /l2]}
                      - {type: overlay, target: /c, lower: /l1, upper: /u, work: /w}
                """);
        assertEquals(List.of("8:44 mount.overlay-single-lower"), h.errorCodes());
    }

    @Test
    void overlayPathsWithSeparatorsAreErrors() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: overlay, target: /a, lower: ["/l:1", /l2], upper: "/u,x", work: /w}
                """);
        assertEquals(List.of("8:45 mount.overlay-bad-path", "8:66 mount.overlay-bad-path"), h.errorCodes());
    }

    @Test
    void sharedRootPropagationWithoutANewRootIsAnError() {
        var h = harness("""
                namespaces:
                  mount:
                    rootPropagation: rshared
                """);
        assertEquals(List.of("6:22 mount.shared-root-propagation"), h.errorCodes());
        assertTrue(only(h.errors()).message().contains("to the host"));
    }

    @Test
    void sharedRootPropagationWithANewRootIsFine() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    rootPropagation: shared
                """);
        assertEquals(List.of(), h.errorCodes());
    }

    @Test
    void procInANewUserNamespaceWithoutAPidNamespaceIsAnErrorSinceTheKernelRefusesIt() {
        var h = harness("""
                namespaces:
                  user: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: proc, target: /proc}
                """);
        assertEquals(List.of("9:16 mount.proc-without-pid-namespace"), h.errorCodes());
        Diagnostic d = h.errors().get(0);
        assertTrue(d.message().contains("host's processes") && d.message().contains("EPERM"), d.message());
        assertEquals("add 'pid: {}' under namespaces", d.hint());
    }

    @Test
    void sysfsAndMqueueInANewUserNamespaceWithoutTheirNamespacesAreErrors() {
        var h = harness("""
                namespaces:
                  user: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: sysfs, target: /sys}
                      - {type: mqueue, target: /dev/mqueue}
                """);
        assertEquals(List.of("9:16 mount.sysfs-without-net-namespace", "10:16 mount.mqueue-without-ipc-namespace"), h.errorCodes());
    }

    @Test
    void procWithoutAPidNamespaceAndWithoutAUserNamespaceIsAWarning() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: proc, target: /proc}
                """);
        assertEquals(List.of(), h.errorCodes());
        assertEquals(List.of("8:16 mount.proc-without-pid-namespace"), warnings(h));
        assertFalse(h.diagnostics().get(0).message().contains("EPERM"));
    }

    @Test
    void aMaskThatDoesNotExistIsAWarningAtTheMask(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Files.createDirectories(dir.resolve("rootfs/etc"));
        java.nio.file.Files.writeString(dir.resolve("rootfs/etc/shadow"), "");
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: bind, source: %s}
                    mounts:
                      - {type: proc, target: /proc}
                      - {type: bind, source: %s, target: /data}
                    masks: [/etc/shadow, /etc/shadw, /proc/kcore, /data/secret, /data/etc]
                """.formatted(dir.resolve("rootfs"), dir.resolve("rootfs")));
        assertEquals(List.of(), h.errorCodes());
        assertEquals(List.of("10:26 mount.mask-missing", "10:51 mount.mask-missing"),
                warnings(h).stream().filter(w -> w.contains("mask-missing")).toList());
        assertTrue(h.diagnostics().stream().anyMatch(d -> d.message().contains(dir.resolve("rootfs/etc/shadw").toString())));
    }

    @Test
    void aMissingMountPointUnderAnEarlierReadOnlyBindIsAWarningNamingThatMount(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        java.nio.file.Files.createDirectories(dir.resolve("usr/exists"));
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: bind, source: %s, target: /usr, readonly: true}
                      - {type: tmpfs, target: /usr/x}
                      - {type: tmpfs, target: /usr/exists}
                      - {type: tmpfs, target: /tmp, readonly: true}
                      - {type: tmpfs, target: /tmp/a}
                      - {type: bind, source: %s, target: /opt}
                      - {type: tmpfs, target: /opt/y}
                """.formatted(dir.resolve("usr"), dir.resolve("usr")));
        assertEquals(List.of(), h.errorCodes());
        assertEquals(List.of("9:31 mount.target-under-readonly-mount", "12:31 mount.target-under-readonly-mount"), warnings(h));
        Diagnostic d = h.diagnostics().get(0);
        assertTrue(d.message().contains("/usr/x") && d.message().contains("read-only bind mount on /usr"), d.message());
        assertTrue(d.hint().contains("namespaces.mount.mounts[0]") && d.hint().contains("readonlyPaths"), d.hint());
    }

    @Test
    void procWithAPidNamespaceIsNoWarning() {
        var h = harness("""
                namespaces:
                  pid: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: proc, target: /proc}
                """);
        assertEquals(List.of(), warnings(h));
    }

    @Test
    void sysfsAndMqueueWithoutTheirNamespacesAreWarnings() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: sysfs, target: /sys}
                      - {type: mqueue, target: /dev/mqueue}
                """);
        assertEquals(List.of("8:16 mount.sysfs-without-net-namespace", "9:16 mount.mqueue-without-ipc-namespace"), warnings(h));
        var with = harness("""
                namespaces:
                  net: {}
                  ipc: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: sysfs, target: /sys}
                      - {type: mqueue, target: /dev/mqueue}
                """);
        assertEquals(List.of(), warnings(with));
    }

    @Test
    void aSlaveBindUnderAPrivateHostRootIsAWarning() {
        var h = harness("""
                namespaces:
                  mount:
                    rootPropagation: rprivate
                    mounts:
                      - {type: bind, source: /usr, target: /usr, propagation: rslave}
                """);
        assertEquals(List.of(), h.errorCodes());
        assertEquals(List.of("8:63 mount.slave-without-master"), warnings(h));
        var defaulted = harness("""
                namespaces:
                  mount:
                    mounts:
                      - {type: bind, source: /usr, target: /usr, propagation: rslave}
                """);
        assertEquals(List.of(), warnings(defaulted));
    }

    @Test
    void aHostRootTargetMissingOnTheHostIsAWarningUnlessATmpfsHoldsIt() {
        var h = harness("""
                namespaces:
                  mount:
                    mounts:
                      - {type: tmpfs, target: /no-such-dir-for-sandbox-tests}
                      - {type: tmpfs, target: /tmp}
                      - {type: tmpfs, target: /tmp/no-such-dir-for-sandbox-tests/x}
                """);
        assertEquals(List.of(), h.errorCodes());
        assertEquals(List.of("7:31 mount.target-missing-on-host"), warnings(h));
    }

    @Test
    void aBindSourceMissingOnTheHostIsALocatedWarningResolvedAgainstTheSpecDir() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: bind, source: ./no-such-rootfs}
                    mounts:
                      - {type: bind, source: /usr, target: /usr}
                      - {type: bind, source: no-such-data, target: /data}
                """);
        assertEquals(List.of(), h.errorCodes());
        assertEquals(List.of("6:32 mount.source-missing-on-host", "9:30 mount.source-missing-on-host"), warnings(h));
    }

    @Test
    void twoMountsOnTheSameTargetAreFine() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: tmpfs, target: /tmp}
                      - {type: tmpfs, target: /tmp/}
                """);
        assertEquals(List.of(), h.diagnostics());
        assertEquals(2, h.steps("mount").stream().filter(s -> s.arg("target").orElseThrow().equals("/run/sandbox/test/root/tmp")).count());
    }

    @Test
    void theSchemaRejectsUnknownTypesOptionsPropagationsAndKeys() {
        var h = harness("""
                namespaces:
                  mount:
                    root: {type: squashfs}
                    rootPropagation: rslave
                    mounts:
                      - {type: tmpfs, target: /a, options: [nosuid, ro]}
                      - {type: bind, source: /usr, target: /usr, propagation: recursive}
                      - {type: tmpfs, target: /b, sise: 1M}
                """);
        assertEquals(List.of("6:18 schema.enum", "9:53 schema.enum", "10:63 schema.enum", "11:35 schema.unknown-key"), h.errorCodes());
        assertEquals("did you mean 'size'?", h.errors().get(3).hint());
    }

    @Test
    void theSchemaRequiresTypeAndTarget() {
        var h = harness("""
                namespaces:
                  mount:
                    mounts:
                      - {source: /usr}
                """);
        assertEquals(List.of("schema.required", "schema.required"), h.errors().stream().map(Diagnostic::code).toList());
    }

    @Test
    void aSharedBindInAUserNamespaceIsAWarning() {
        var h = harness("""
                namespaces:
                  user: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: bind, source: /mnt, target: /mnt, propagation: rshared}
                """);
        assertEquals(List.of(), h.errorCodes());
        assertEquals(List.of("9:63 mount.shared-bind-in-user-namespace"), warnings(h));
    }
}
