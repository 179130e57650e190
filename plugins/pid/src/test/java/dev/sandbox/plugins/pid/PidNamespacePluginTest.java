package dev.sandbox.plugins.pid;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.testkit.PluginHarness;
import java.util.List;
import org.junit.jupiter.api.Test;

class PidNamespacePluginTest {

    /** Stands in for the uts and net plugins: one finish step each, to check the order against init. */
    private record StubPlugin(String id, String op) implements NamespacePlugin {
        @Override public String schemaFragment() { return "{\"type\": \"object\"}"; }
        @Override public void validate(SectionContext context) { }
        @Override public void contribute(PlanContext context) {
            context.add(Step.of(Stage.FINISH, op).arg("name", "x").build());
        }
    }

    @Test
    void initTrueAddsAFinishInitStepAndTheCloneCarriesNewpid() {
        var h = PluginHarness.with(new PidNamespacePlugin()).spec("""
                namespaces:
                  pid: {init: true}
                """);
        assertEquals(List.of(), h.errors());
        List<Step> init = h.steps("init");
        assertEquals(1, init.size());
        assertEquals(Stage.FINISH, init.get(0).stage());
        assertEquals(List.of(), init.get(0).args());
        assertEquals("pid", init.get(0).plugin());
        assertEquals("CLONE_NEWPID", h.first("clone").orElseThrow().arg("flags").orElseThrow());
    }

    @Test
    void withoutInitTheTargetIsPid1AndThereIsNoInitStep() {
        for (String section : List.of("{}", "{init: false}")) {
            var h = PluginHarness.with(new PidNamespacePlugin()).spec("""
                    namespaces:
                      pid: %s
                    """.formatted(section));
            assertEquals(List.of(), h.steps("init"), section);
            assertEquals("CLONE_NEWPID", h.first("clone").orElseThrow().arg("flags").orElseThrow());
        }
    }

    @Test
    void initForksAfterHostnameAndLoopbackAndBeforeTheIdentitySwitch() {
        var h = PluginHarness.with(new PidNamespacePlugin(), new StubPlugin("uts", "sethostname"), new StubPlugin("net", "link-up"))
                .spec("""
                        namespaces:
                          pid: {init: true}
                          net: {}
                          uts: {}
                        process:
                          command: [/bin/true]
                          user: {uid: 1000, gid: 1000}
                        """);
        List<String> finish = h.plan().stage(Stage.FINISH).stream().map(Step::op).toList();
        // new-session before init (init and the target share the session); seccomp (the tty filter, then the default profile) last before exec
        assertEquals(List.of("close-fds", "new-session", "link-up", "sethostname", "init", "setgroups", "setresgid", "setresuid", "capabilities",
                        "no-new-privs", "chdir", "seccomp", "seccomp", "exec"),
                finish);
    }

    @Test
    void initMustBeABoolean() {
        var h = PluginHarness.with(new PidNamespacePlugin()).spec("""
                namespaces:
                  pid: {init: yes please}
                """);
        assertEquals(List.of("5:15 schema.type"), h.errorCodes());
    }

    @Test
    void unknownKeyIsASchemaError() {
        var h = PluginHarness.with(new PidNamespacePlugin()).spec("""
                namespaces:
                  pid: {inti: true}
                """);
        assertEquals(List.of("5:9 schema.unknown-key"), h.errorCodes());
        assertEquals("did you mean 'init'?", h.errors().get(0).hint());
    }
}
