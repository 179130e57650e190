package dev.sandbox.engine.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.source.SpecSources;
import dev.sandbox.engine.source.TestRepo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** include: relative paths, nesting, cycles, bounds, missing files, x-* keys, and diagnostics that name the include chain. */
class IncludeTest {

    @TempDir Path dir;

    private Path write(String name, String text) throws Exception {
        Path f = dir.resolve(name);
        Files.createDirectories(f.getParent());
        Files.writeString(f, text);
        return f;
    }

    private LoadedSpec load(String name) {
        return new SpecLoader(Variables.of(Map.of("WHO", "env"))).load(dir.resolve(name));
    }

    private static List<String> formatted(LoadedSpec spec) {
        return spec.diagnostics().stream().map(Diagnostic::format).toList();
    }

    private String rel(String s) {
        return s.replace(dir + "/", "");
    }

    @Test
    void pathsAreRelativeToTheIncludingFileAndIncludesNest() throws Exception {
        write("base/system.yaml", "include: [../common/env.yaml]\nprocess:\n  cwd: /srv\n");
        write("common/env.yaml", "process:\n  env: {FROM: common}\n");
        write("web.yaml", "include:\n  - base/system.yaml\nname: web\n");
        LoadedSpec spec = load("web.yaml");
        assertEquals(List.of(), formatted(spec));
        assertEquals("common", spec.root().get("process").get("env").get("FROM").text());
        assertEquals("/srv", spec.root().get("process").get("cwd").text());
        assertFalse(spec.root().has("include"), "include is consumed");
        assertEquals(3, spec.inputs().files().size());
        assertEquals(List.of("base/system.yaml", "common/env.yaml"), spec.inputs().includes().stream()
                .map(i -> dir.relativize(i.file()).toString()).toList());
    }

    @Test
    void includedFilesAreMergedInOrderAndTheIncludingFileLast() throws Exception {
        write("a.yaml", "name: a\nprocess: {capabilities: [CAP_A]}\n");
        write("b.yaml", "name: b\nprocess: {capabilities: [CAP_B]}\n");
        write("top.yaml", "include: [a.yaml, b.yaml]\nprocess: {capabilities: [CAP_T]}\n");
        SpecNode r = load("top.yaml").root();
        assertEquals("b", r.get("name").text(), "a later include wins over an earlier one");
        assertEquals(List.of("CAP_A", "CAP_B", "CAP_T"), r.get("process").get("capabilities").elements().stream().map(SpecNode::text).toList());
    }

    @Test
    void aDiagnosticInAnIncludedFileNamesTheFileLineAndTheChainOfIncludes() throws Exception {
        write("base.yaml", "process:\n  env:\n    A: ${UNSET_FOR_TEST}\n");
        write("mid.yaml", "# mid\ninclude: [base.yaml]\n");
        write("web.yaml", "name: web\ninclude:\n  - mid.yaml\n");
        LoadedSpec spec = load("web.yaml");
        assertEquals(1, spec.diagnostics().size(), formatted(spec).toString());
        String d = rel(spec.diagnostics().get(0).format());
        assertTrue(d.startsWith("base.yaml:3:8: error[spec.unset-variable]: the variable UNSET_FOR_TEST is not set (at process.env.A)\n"
                + "  included from mid.yaml:2:11\n  included from web.yaml:3:5\n  hint: "), d);
    }

    @Test
    void laterDiagnosticsOnTheMergedTreeGetTheChainToo() throws Exception {
        write("base.yaml", "process:\n  cwd: 5\n");
        write("web.yaml", "include: [base.yaml]\n");
        LoadedSpec spec = load("web.yaml");
        SpecNode cwd = spec.root().get("process").get("cwd");
        List<Diagnostic> later = spec.locate(List.of(Diagnostic.error("schema.type", "not a string", cwd.path(), cwd.location(), null)));
        assertEquals("base.yaml:2:8: error[schema.type]: not a string (at process.cwd)\n  included from web.yaml:1:11",
                rel(later.get(0).format()));
    }

    @Test
    void aFileIncludedThroughTwoOthersIsMergedOnce() throws Exception {
        write("common.yaml", "namespaces:\n  uts: {hostname: common}\n  mount: {masks: [/proc/kcore], mounts: [{type: proc, target: /proc}]}\n");
        write("b.yaml", "include: [common.yaml]\nnamespaces:\n  uts: {hostname: from-b}\n");
        write("c.yaml", "include: [common.yaml]\nprocess: {cwd: /}\n");
        write("a.yaml", "include: [b.yaml, c.yaml, common.yaml]\n");
        LoadedSpec spec = load("a.yaml");
        assertEquals(List.of(), formatted(spec));
        SpecNode ns = spec.root().get("namespaces");
        assertEquals(1, ns.get("mount").get("mounts").elements().size(), "not appended twice");
        assertEquals("from-b", ns.get("uts").get("hostname").text(), "c's include of common.yaml doesn't undo b's change");
        assertEquals("/", spec.root().get("process").get("cwd").text());
        assertEquals(4, spec.inputs().files().size());
    }

    @Test
    void aMissingIncludeIsAnErrorAtTheEntry() throws Exception {
        write("web.yaml", "name: web\ninclude: [nope.yaml]\n");
        LoadedSpec spec = load("web.yaml");
        assertNull(spec.root(), "nothing is validated on top of a missing base");
        assertEquals(List.of("web.yaml:2:11: error[spec.not-found]: cannot include nope.yaml: no such file: " + "nope.yaml (at include)\n  hint: check the path"),
                formatted(spec).stream().map(this::rel).toList());
    }

    @Test
    void aCycleIsAnErrorAtTheEntryThatClosesIt() throws Exception {
        write("a.yaml", "include: [b.yaml]\n");
        write("b.yaml", "x-note: b\ninclude: [a.yaml]\n");
        LoadedSpec spec = load("a.yaml");
        assertEquals(1, spec.diagnostics().size(), formatted(spec).toString());
        Diagnostic d = spec.diagnostics().get(0);
        assertEquals("spec.include-cycle", d.code());
        assertEquals("b.yaml:2:11", rel(d.location().toString()));
        assertTrue(rel(d.message()).contains("a.yaml -> b.yaml -> a.yaml"), d.message());
        assertEquals("a.yaml:1:11", rel(d.includedFrom().get(0).toString()));
    }

    @Test
    void aFileIncludingItselfIsACycle() throws Exception {
        write("self.yaml", "include: [./self.yaml]\n");
        assertEquals("spec.include-cycle", load("self.yaml").diagnostics().get(0).code());
    }

    @Test
    void includeDepthIsBounded() throws Exception {
        for (int i = 0; i < 12; i++) write("d" + i + ".yaml", "include: [d" + (i + 1) + ".yaml]\n");
        write("d12.yaml", "name: deep\n");
        LoadedSpec spec = load("d0.yaml");
        assertEquals(List.of("spec.include-too-deep"), spec.diagnostics().stream().map(Diagnostic::code).toList());
        // d0 is the spec, d1..d8 are included 1..8 levels deep; d8's entry for d9 would be the ninth level
        assertEquals("d8.yaml:1:11", rel(spec.diagnostics().get(0).location().toString()));
        assertEquals(Composition.MAX_DEPTH, spec.diagnostics().get(0).includedFrom().size(), "the whole chain is named");
    }

    @Test
    void theNumberOfFilesIsBounded() throws Exception {
        StringBuilder top = new StringBuilder("include:\n");
        for (int i = 0; i < 70; i++) {
            write("f" + i + ".yaml", "process: {env: {V" + i + ": x}}\n");
            top.append("  - f").append(i).append(".yaml\n");
        }
        write("top.yaml", top.toString());
        LoadedSpec spec = load("top.yaml");
        assertTrue(spec.diagnostics().stream().allMatch(d -> d.code().equals("spec.too-many-includes")), formatted(spec).toString());
        assertEquals(70 - (Composition.MAX_FILES - 1), spec.diagnostics().size());
    }

    @Test
    void anIncludedFileHasTheSameHostileInputBoundsAsASpec() throws Exception {
        Files.write(dir.resolve("latin1.yaml"), new byte[] {'a', ':', ' ', (byte) 0xE9, '\n'});
        write("web.yaml", "include: [latin1.yaml]\n");
        LoadedSpec spec = load("web.yaml");
        assertEquals("latin1.yaml:1:4: error[spec.not-utf8]", rel(formatted(spec).get(0)).substring(0, "latin1.yaml:1:4: error[spec.not-utf8]".length()));
        assertTrue(formatted(spec).get(0).contains("included from " + dir.resolve("web.yaml") + ":1:11"), formatted(spec).get(0));
        write("dir/x", "");
        write("web2.yaml", "include: [dir]\n");
        assertEquals("spec.not-regular", load("web2.yaml").diagnostics().get(0).code());
    }

    @Test
    void anIncludeBombStaysSmallAndAFifoOrADeviceIsRefusedWithoutBlocking() throws Exception {
        // each file includes the next one twice (8 deep, within the bound): read and merged once each
        for (int i = 0; i < 8; i++) write("bomb" + i + ".yaml", "include: [bomb" + (i + 1) + ".yaml, bomb" + (i + 1) + ".yaml]\n");
        write("bomb8.yaml", "process: {capabilities: [CAP_KILL], command: [/bin/true]}\n");
        LoadedSpec bomb = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(10), () -> load("bomb0.yaml"));
        assertEquals(List.of(), formatted(bomb));
        assertEquals(9, bomb.inputs().files().size(), "each file read once, not 2^8 times");
        Path fifo = dir.resolve("fifo.yaml");
        new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor();
        write("web.yaml", "include: [fifo.yaml, /dev/zero]\n");
        LoadedSpec spec = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(10), () -> load("web.yaml"));
        assertEquals(List.of("1:11 spec.not-regular", "1:22 spec.not-regular"), spec.diagnostics().stream()
                .map(d -> d.location().line() + ":" + d.location().column() + " " + d.code()).toList());
    }

    @Test
    void badIncludeValuesAreLocated() throws Exception {
        write("web.yaml", "include: {a: b}\n");
        assertEquals(List.of("spec.bad-include"), load("web.yaml").diagnostics().stream().map(Diagnostic::code).toList());
        write("web2.yaml", "include: [1, [a]]\n");
        assertEquals(List.of("1:11 spec.bad-include", "1:14 spec.bad-include"), load("web2.yaml").diagnostics().stream()
                .map(d -> d.location().line() + ":" + d.location().column() + " " + d.code()).toList());
        write("list.yaml", "- a\n");
        write("web3.yaml", "include: [list.yaml]\n");
        assertEquals(List.of("spec.include-not-a-map"), load("web3.yaml").diagnostics().stream().map(Diagnostic::code).toList());
    }

    @Test
    void xKeysAreDroppedAndMergeKeysWorkAcrossThem() throws Exception {
        write("base.yaml", """
                x-ro: &ro {type: bind, readonly: true}
                namespaces:
                  mount:
                    mounts:
                      - {<<: *ro, source: /usr, target: /usr}
                """);
        write("web.yaml", """
                include: [base.yaml]
                x-env: &env {A: a}
                process:
                  env: {<<: *env, B: b}
                """);
        LoadedSpec spec = load("web.yaml");
        assertEquals(List.of(), formatted(spec));
        assertFalse(spec.root().fields().keySet().stream().anyMatch(k -> k.startsWith("x-")), spec.root().fields().keySet().toString());
        SpecNode mount = spec.root().get("namespaces").get("mount").get("mounts").elements().get(0);
        assertEquals("true", mount.get("readonly").text());
        assertEquals("a", spec.root().get("process").get("env").get("A").text());
    }

    @Test
    void variablesResolveInIncludedFilesAndInIncludePaths() throws Exception {
        write("env-file-base.yaml", "name: ${WHO}\n");
        write("web.yaml", "include: ['${BASE:-env-file-base.yaml}']\n");
        LoadedSpec spec = load("web.yaml");
        assertEquals("env", spec.root().get("name").text());
        assertTrue(spec.inputs().variables().containsKey("WHO"));
        assertTrue(spec.inputs().variables().containsKey("BASE"));
    }

    @Test
    void aSpecFromARevisionIncludesFromThatRevision() throws Exception {
        try (TestRepo repo = new TestRepo()) {
            repo.write("specs/base.yaml", "name: old\n");
            repo.write("specs/web.yaml", "include: [base.yaml]\nprocess: {command: [/bin/true]}\n");
            repo.commit("one");
            repo.write("specs/base.yaml", "name: new\n");
            LoadedSpec spec = new SpecLoader(Variables.none()).load(SpecSources.forArgument("HEAD:specs/web.yaml", repo.top, new ArrayList<>()));
            assertEquals(List.of(), formatted(spec));
            assertEquals("old", spec.root().get("name").text(), "the include comes from HEAD, not the working tree");
            assertEquals("HEAD:specs/base.yaml", spec.root().get("name").location().file());
            assertNull(spec.inputs().includes().get(0).file(), "a blob, not a host file");
            repo.write("specs/web.yaml", "include: [/etc/base.yaml]\n");
            repo.commit("absolute");
            LoadedSpec abs = new SpecLoader(Variables.none()).load(SpecSources.forArgument("HEAD:specs/web.yaml", repo.top, new ArrayList<>()));
            assertEquals("spec.bad-include", abs.diagnostics().get(0).code());
            repo.write("specs/web.yaml", "include: [gone.yaml]\n");
            repo.commit("missing");
            LoadedSpec gone = new SpecLoader(Variables.none()).load(SpecSources.forArgument("HEAD:specs/web.yaml", repo.top, new ArrayList<>()));
            assertEquals("HEAD:specs/web.yaml:1:11 spec.not-in-revision", gone.diagnostics().get(0).location() + " " + gone.diagnostics().get(0).code());
        }
    }
}
