package dev.sandbox.engine.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.SpecNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The one merge rule (docs/spec.md, "Composition"), case by case, through include as a user writes it. */
class SpecMergeTest {

    @TempDir Path dir;

    /** {@code top} (web.yaml) includes base.yaml; the merged root. */
    private SpecNode merged(String base, String top) throws Exception {
        Files.writeString(dir.resolve("base.yaml"), base);
        Files.writeString(dir.resolve("web.yaml"), "include: [base.yaml]\n" + top);
        LoadedSpec spec = new SpecLoader(Variables.none()).load(dir.resolve("web.yaml"));
        assertEquals(List.of(), spec.diagnostics(), "no problem while loading");
        return spec.root();
    }

    private static List<String> texts(SpecNode list) {
        return list.elements().stream().map(SpecNode::text).toList();
    }

    @Test
    void mapsMergeKeyByKeyAndTheIncludingFileWinsOnAScalar() throws Exception {
        SpecNode r = merged("name: base\nnamespaces:\n  uts: {hostname: base-host}\n  ipc: {}\n",
                "name: web\nnamespaces:\n  uts: {hostname: web-host}\n  pid: {}\n");
        assertEquals("web", r.get("name").text());
        assertEquals("web-host", r.get("namespaces").get("uts").get("hostname").text());
        assertEquals(List.of("uts", "ipc", "pid"), List.copyOf(r.get("namespaces").fields().keySet()), "the base's keys first");
    }

    @Test
    void envMergesKeyByKey() throws Exception {
        SpecNode env = merged("process:\n  env: {A: a, B: b}\n", "process:\n  env: {B: B2, C: c}\n").get("process").get("env");
        assertEquals(Map.of("A", "a", "B", "B2", "C", "c"),
                Map.of("A", env.get("A").text(), "B", env.get("B").text(), "C", env.get("C").text()));
        assertEquals(3, env.fields().size());
    }

    @Test
    void listsAppendTheBasesElementsFirstAndAScalarIsNotAddedTwice() throws Exception {
        SpecNode r = merged("""
                namespaces:
                  mount:
                    mounts: [{type: proc, target: /proc}]
                    masks: [/proc/kcore]
                    readonlyPaths: [/proc/sys]
                process:
                  capabilities: [CAP_CHOWN, CAP_KILL]
                """, """
                namespaces:
                  mount:
                    mounts: [{type: tmpfs, target: /tmp}]
                    masks: [/proc/keys]
                    readonlyPaths: [/proc/bus]
                process:
                  capabilities: [CAP_KILL, CAP_NET_RAW]
                """);
        SpecNode mount = r.get("namespaces").get("mount");
        assertEquals(List.of("/proc", "/tmp"), mount.get("mounts").elements().stream().map(m -> m.get("target").text()).toList());
        assertEquals("namespaces.mount.mounts[1].target", mount.get("mounts").elements().get(1).get("target").path(), "paths renumbered");
        assertEquals(List.of("/proc/kcore", "/proc/keys"), texts(mount.get("masks")));
        assertEquals(List.of("/proc/sys", "/proc/bus"), texts(mount.get("readonlyPaths")));
        assertEquals(List.of("CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"), texts(r.get("process").get("capabilities")));
    }

    @Test
    void linksAppend() throws Exception {
        SpecNode links = merged("namespaces:\n  net:\n    links: [{type: veth, name: a}]\n",
                "namespaces:\n  net:\n    links: [{type: veth, name: b}]\n").get("namespaces").get("net").get("links");
        assertEquals(List.of("a", "b"), links.elements().stream().map(l -> l.get("name").text()).toList());
    }

    @Test
    void processCommandReplaces() throws Exception {
        SpecNode r = merged("process:\n  command: [/bin/sh, -c, base]\n  cwd: /\n", "process:\n  command: [/bin/true]\n");
        assertEquals(List.of("/bin/true"), texts(r.get("process").get("command")));
        assertEquals("/", r.get("process").get("cwd").text());
    }

    @Test
    void aNamespaceSectionThatJoinsInTheIncludingFileReplacesTheBasesSectionWhole() throws Exception {
        SpecNode net = merged("namespaces:\n  net: {loopback: true, links: [{type: veth, name: a}]}\n",
                "namespaces:\n  net: {join: {path: /run/netns/x}}\n").get("namespaces").get("net");
        assertEquals(List.of("join"), List.copyOf(net.fields().keySet()));
    }

    @Test
    void aNamespaceSectionThatJoinsInTheBaseIsReplacedWholeByTheIncludingFilesSection() throws Exception {
        SpecNode net = merged("namespaces:\n  net: {join: {path: /run/netns/x}}\n",
                "namespaces:\n  net: {loopback: true}\n").get("namespaces").get("net");
        assertEquals(List.of("loopback"), List.copyOf(net.fields().keySet()));
    }

    @Test
    void resetRemovesAKeyOrEmptiesAList() throws Exception {
        SpecNode r = merged("""
                namespaces:
                  uts: {hostname: base}
                  mount: {masks: [/proc/kcore]}
                process:
                  env: {A: a, B: b}
                  capabilities: [CAP_KILL]
                """, """
                namespaces:
                  uts: !reset
                  mount: {masks: !reset []}
                process:
                  env: {A: !reset null}
                  capabilities: !reset []
                """);
        assertFalse(r.get("namespaces").has("uts"), "the key is removed");
        assertEquals(List.of(), r.get("namespaces").get("mount").get("masks").elements(), "the list is emptied");
        assertEquals(SpecNode.Kind.LIST, r.get("namespaces").get("mount").get("masks").kind());
        assertEquals(List.of("B"), List.copyOf(r.get("process").get("env").fields().keySet()));
        assertEquals(List.of(), r.get("process").get("capabilities").elements());
    }

    @Test
    void overrideReplacesInsteadOfMerging() throws Exception {
        SpecNode r = merged("""
                namespaces:
                  mount: {mounts: [{type: proc, target: /proc}]}
                process:
                  env: {A: a, B: b}
                """, """
                namespaces:
                  mount: {mounts: !override [{type: tmpfs, target: /tmp}]}
                process:
                  env: !override {C: c}
                """);
        assertEquals(List.of("/tmp"), r.get("namespaces").get("mount").get("mounts").elements().stream()
                .map(m -> m.get("target").text()).toList());
        assertEquals(List.of("C"), List.copyOf(r.get("process").get("env").fields().keySet()));
        assertEquals(null, ((YamlSpecNode) r.get("process").get("env")).tag(), "compose's tags are consumed");
    }

    @Test
    void aValueOfAnotherKindReplaces() throws Exception {
        SpecNode r = merged("process:\n  env: {A: a}\n", "process:\n  env: [x]\n");
        assertEquals(SpecNode.Kind.LIST, r.get("process").get("env").kind());
    }

    @Test
    void resetAndOverrideWithoutABaseAreHarmless() throws Exception {
        Files.writeString(dir.resolve("alone.yaml"), "name: !override alone\nprocess:\n  cwd: !reset\n  env: !override {A: a}\n");
        LoadedSpec spec = new SpecLoader(Variables.none()).load(dir.resolve("alone.yaml"));
        assertEquals(List.of(), spec.diagnostics());
        assertEquals("alone", spec.root().get("name").text());
        assertFalse(spec.root().get("process").has("cwd"));
        assertEquals("a", spec.root().get("process").get("env").get("A").text());
    }

    @Test
    void everyValueKeepsTheFileAndLineWhereItIsWritten() throws Exception {
        SpecNode r = merged("name: base\nprocess:\n  cwd: /srv\n", "process:\n  command: [/bin/true]\n");
        assertTrue(r.get("name").location().file().endsWith("base.yaml"), r.get("name").location().toString());
        assertEquals(1, r.get("name").location().line());
        assertEquals(3, r.get("process").get("cwd").location().line());
        assertTrue(r.get("process").get("command").location().file().endsWith("web.yaml"));
        assertEquals(3, r.get("process").get("command").location().line(), "after the include line");
    }

    @Test
    void theMergeIsUsableOnItsOwnForOtherTreesSuchAsALabsDefaults() {
        SpecLoader loader = new SpecLoader(Variables.none());
        SpecNode defaults = loader.parse(Path.of("/w/lab.yaml"), "lab.yaml", "process: {env: {A: a}, capabilities: [CAP_KILL]}\n").root();
        SpecNode sandbox = loader.parse(Path.of("/w/s.yaml"), "s.yaml", "process: {env: {B: b}, command: [/bin/true]}\n").root();
        SpecNode r = SpecMerge.finish(SpecMerge.merge(defaults, sandbox));
        assertEquals(2, r.get("process").get("env").fields().size());
        assertEquals(List.of("CAP_KILL"), texts(r.get("process").get("capabilities")));
        assertEquals("process.env.A", r.get("process").get("env").get("A").path());
    }

    /** The example of docs/spec.md ("The merge rule"), exactly as written there. */
    @Test
    void theDocumentedExampleGivesTheDocumentedResult() throws Exception {
        SpecNode r = merged("""
                namespaces:
                  uts: {hostname: base}
                  mount:
                    mounts:
                      - {type: proc, target: /proc}
                    masks: [/proc/kcore]
                  net: {loopback: true}
                process:
                  env: {LANG: C.UTF-8, MODE: base}
                  command: [/bin/false]
                  capabilities: [CAP_CHOWN]
                """, """
                name: web
                namespaces:
                  uts: {hostname: web}
                  mount:
                    mounts:
                      - {type: tmpfs, target: /tmp}
                    masks: !reset []
                  net: {join: {sandbox: db}}
                process:
                  env: {MODE: web}
                  command: [/usr/bin/web]
                  capabilities: !override [CAP_NET_BIND_SERVICE]
                """);
        SpecNode ns = r.get("namespaces");
        assertEquals("web", ns.get("uts").get("hostname").text());
        assertEquals(List.of("/proc", "/tmp"), ns.get("mount").get("mounts").elements().stream().map(m -> m.get("target").text()).toList());
        assertEquals(List.of(), ns.get("mount").get("masks").elements());
        assertEquals(List.of("join"), List.copyOf(ns.get("net").fields().keySet()));
        assertEquals("db", ns.get("net").get("join").get("sandbox").text());
        assertEquals("C.UTF-8", r.get("process").get("env").get("LANG").text());
        assertEquals("web", r.get("process").get("env").get("MODE").text());
        assertEquals(List.of("/usr/bin/web"), texts(r.get("process").get("command")));
        assertEquals(List.of("CAP_NET_BIND_SERVICE"), texts(r.get("process").get("capabilities")));
    }
}
