package dev.sandbox.plugins.uts;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.testkit.PluginHarness;
import java.util.List;
import org.junit.jupiter.api.Test;

class UtsNamespacePluginTest {

    @Test
    void hostnameAndDomainnameBecomeFinishSteps() {
        var h = PluginHarness.with(new UtsNamespacePlugin()).spec("""
                namespaces:
                  uts: {hostname: web-1, domainname: lab.test}
                """);
        assertEquals(List.of(), h.errors());
        Step host = h.first("sethostname").orElseThrow();
        assertEquals(Stage.FINISH, host.stage());
        assertEquals("web-1", host.arg("name").orElseThrow());
        assertEquals("lab.test", h.first("setdomainname").orElseThrow().arg("name").orElseThrow());
        assertEquals("CLONE_NEWUTS", h.first("clone").orElseThrow().arg("flags").orElseThrow());
    }

    @Test
    void tooLongAndInvalidNamesAreLocatedErrors() {
        var h = PluginHarness.with(new UtsNamespacePlugin()).spec("""
                namespaces:
                  uts:
                    hostname: %s
                    domainname: "bad_name!"
                """.formatted("a".repeat(65)));
        assertEquals(List.of("6:15 uts.hostname-too-long", "7:17 uts.domainname-invalid"), h.errorCodes());
    }

    @Test
    void unknownKeySuggestsTheClosestOne() {
        var h = PluginHarness.with(new UtsNamespacePlugin()).spec("""
                namespaces:
                  uts: {hostnme: web}
                """);
        var errors = h.errors();
        assertEquals(1, errors.size());
        assertEquals("schema.unknown-key", errors.get(0).code());
        assertEquals("did you mean 'hostname'?", errors.get(0).hint());
    }
}
