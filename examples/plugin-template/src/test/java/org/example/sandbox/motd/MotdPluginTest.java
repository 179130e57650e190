package org.example.sandbox.motd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.testkit.PluginHarness;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Unit tests through sandbox's real pipeline (schema composition, validation, compilation), without
 * PF4J and without root. The section under test is parsed from YAML, so locations are real.
 */
class MotdPluginTest {

    /**
     * A stand-in for the built-in mount plugin: owns {@code namespaces.mount} with an open schema and
     * ends its steps with pivot_root, like the real one. Enough to check that our steps come after it.
     */
    static final class StubMount implements NamespacePlugin {
        @Override public String id() { return "mount"; }
        @Override public String schemaFragment() { return "{\"type\": \"object\"}"; }
        @Override public void validate(SectionContext context) {}
        @Override public void contribute(PlanContext context) {
            context.add(Step.of(Stage.MOUNTS, "pivot-root").arg("path", context.newRoot()).build());
        }
    }

    private static PluginHarness harness() {
        return PluginHarness.with(new MotdPlugin(), new StubMount());
    }

    @Test
    void messageIsWrittenAfterPivotRootWithTheDefaultPath() {
        var h = harness().spec("""
                namespaces:
                  mount: {root: {type: tmpfs}}
                  motd: {message: hello}
                """);
        assertEquals(List.of(), h.errors());
        List<Step> mounts = h.plan().stage(Stage.MOUNTS);
        Step write = h.first("write-file").orElseThrow();
        assertEquals("motd", write.plugin());
        assertEquals("/etc/motd", write.arg("path").orElseThrow());
        assertEquals("0644", write.arg("mode").orElseThrow());
        assertEquals("hello\n", write.arg("content").orElseThrow());
        assertTrue(mounts.indexOf(h.first("pivot-root").orElseThrow()) < mounts.indexOf(write),
                "write-file must come after pivot-root: " + mounts);
        assertEquals("/etc", h.first("mkdir").orElseThrow().arg("path").orElseThrow());
    }

    @Test
    void aMessageEndingInANewlineGetsNoSecondOne() {
        var h = harness().spec("""
                namespaces:
                  mount: {root: {type: tmpfs}}
                  motd:
                    message: |
                      line one
                      line two
                    path: /motd
                """);
        Step write = h.first("write-file").orElseThrow();
        assertEquals("line one\nline two\n", write.arg("content").orElseThrow());
        assertTrue(h.steps("mkdir").isEmpty(), "no directory to create for a file in /");
    }

    @Test
    void relativePathIsALocatedError() {
        var h = harness().spec("""
                namespaces:
                  mount: {root: {type: tmpfs}}
                  motd:
                    message: hello
                    path: etc/motd
                """);
        assertEquals(List.of("8:11 motd.relative-path"), h.errorCodes());
        assertEquals("e.g. path: /etc/motd", h.errors().get(0).hint());
    }

    @Test
    void messageOverTheLimitIsTooLong() {
        var h = harness().spec("""
                namespaces:
                  mount: {root: {type: tmpfs}}
                  motd: {message: %s}
                """.formatted("x".repeat(MotdPlugin.MAX_BYTES + 1)));
        assertEquals(List.of("6:19 motd.too-long"), h.errorCodes());
    }

    @Test
    void messageAtTheLimitIsFine() {
        var h = harness().spec("""
                namespaces:
                  mount: {root: {type: tmpfs}}
                  motd: {message: %s}
                """.formatted("x".repeat(MotdPlugin.MAX_BYTES)));
        assertEquals(List.of(), h.errors());
    }

    @Test
    void missingMessageIsASchemaError() {
        var h = harness().spec("""
                namespaces:
                  mount: {root: {type: tmpfs}}
                  motd: {path: /etc/motd}
                """);
        // a missing key is located at the key of the map that lacks it ('motd:'), not at the map's '{'
        assertEquals(List.of("6:3 schema.required"), h.errorCodes());
    }

    @Test
    void misspelledKeySuggestsTheRightOne() {
        var h = harness().spec("""
                namespaces:
                  mount: {root: {type: tmpfs}}
                  motd: {message: hi, pth: /etc/motd}
                """);
        var unknown = h.errors().stream().filter(d -> d.code().equals("schema.unknown-key")).toList();
        assertEquals(1, unknown.size(), h.errors().toString());
        assertEquals("did you mean 'path'?", unknown.get(0).hint());
    }

    @Test
    void withoutANewRootTheHostsFileWouldBeOverwritten() {
        var h = harness().spec("""
                namespaces:
                  mount: {}
                  motd: {message: hello}
                """);
        assertEquals(List.of("6:9 motd.without-new-root"), h.errorCodes());
    }

    @Test
    void aReadOnlyRootIsRefusedUnlessAWritableMountCoversThePath() {
        var readOnly = harness().spec("""
                namespaces:
                  mount: {root: {type: tmpfs}, readonlyRoot: true}
                  motd: {message: hello}
                """);
        assertEquals(List.of("6:9 motd.read-only-root"), readOnly.errorCodes());

        var covered = harness().spec("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    readonlyRoot: true
                    mounts: [{type: tmpfs, target: /etc}]
                  motd: {message: hello}
                """);
        assertEquals(List.of(), covered.errors());
    }
}
