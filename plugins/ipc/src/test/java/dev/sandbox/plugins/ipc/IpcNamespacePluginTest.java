package dev.sandbox.plugins.ipc;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.testkit.PluginHarness;
import java.util.List;
import org.junit.jupiter.api.Test;

class IpcNamespacePluginTest {

    @Test
    void emptySectionCreatesTheNamespaceThroughTheCloneFlagOnly() {
        var h = PluginHarness.with(new IpcNamespacePlugin()).spec("""
                namespaces:
                  ipc: {}
                """);
        assertEquals(List.of(), h.errors());
        Step clone = h.first("clone").orElseThrow();
        assertEquals(Stage.CLONE, clone.stage());
        assertEquals("CLONE_NEWIPC", clone.arg("flags").orElseThrow());
        assertEquals("clone(CLONE_NEWIPC|SIGCHLD)", clone.syscall());
        assertEquals("ipc", clone.plugin());
        assertEquals(List.of(clone), h.steps().stream().filter(s -> s.plugin().equals("ipc")).toList());
    }

    @Test
    void unknownKeyIsASchemaError() {
        var h = PluginHarness.with(new IpcNamespacePlugin()).spec("""
                namespaces:
                  ipc: {shm: 64M}
                """);
        assertEquals(List.of("5:9 schema.unknown-key"), h.errorCodes());
    }
}
