package dev.sandbox.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Plan;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** PlanText reads back what PlanFile.canonical writes; ExecPlan keeps a sandbox's identity and applies the options. */
class ExecPlanTest {

    private static final Plan SANDBOX = new Plan("web", List.of(
            Step.of(Stage.PREPARE, "cgroup-create").arg("path", "/sys/fs/cgroup/sandbox/web").build(),
            Step.of(Stage.ENTER, "unshare-user").build(),
            Step.of(Stage.IDENTITY, "write-id-map").arg("kind", "uid").arg("map", "0 0 1").arg("via", "direct").build(),
            Step.of(Stage.IDENTITY, "cgroup-place").arg("path", "/sys/fs/cgroup/sandbox/web").build(),
            Step.of(Stage.CLONE, "clone").arg("flags", "CLONE_NEWNS|CLONE_NEWPID").build(),
            Step.of(Stage.CONNECT, "veth").arg("name", "eth0").arg("hostName", "h0").arg("address", "198.18.3.2/24").build(),
            Step.of(Stage.MOUNTS, "pivot-root").arg("path", "/run/sandbox/web/root").build(),
            Step.of(Stage.FINISH, "close-fds").build(),
            Step.of(Stage.FINISH, "sethostname").arg("name", "web").build(),
            Step.of(Stage.FINISH, "setrlimit").arg("resource", "NOFILE").arg("soft", "64").arg("hard", "64").build(),
            Step.of(Stage.FINISH, "setresgid").arg("gid", "0").build(),
            Step.of(Stage.FINISH, "setresuid").arg("uid", "0").build(),
            Step.of(Stage.FINISH, "capabilities").arg("keep", "0,1,5").build(),
            Step.of(Stage.FINISH, "no-new-privs").build(),
            Step.of(Stage.FINISH, "chdir").arg("path", "/srv").build(),
            Step.of(Stage.FINISH, "seccomp").arg("default", "allow").arg("rule", "errno:1 ioctl 1:masked_eq:4294967295:21522").build(),
            Step.of(Stage.FINISH, "exec").arg("arg", "server").arg("env", "PATH=/bin").arg("env", "MODE=a%b\tc").build(),
            Step.of(Stage.SUPERVISE, "cgroup-remove").arg("path", "/sys/fs/cgroup/sandbox/web").build()));

    private static PlanText parsed() {
        String text = PlanFile.canonical(SANDBOX, Path.of("/run/sandbox/web"), "/srv/web.yaml", "ab12").text();
        return PlanText.parse(text).orElseThrow();
    }

    @Test
    void planTextReadsBackEveryStepOfTheCanonicalText() {
        PlanText p = parsed();
        assertEquals(Optional.of("web"), p.runtimeDirArg("name"));
        assertEquals(Optional.of("/srv/web.yaml"), p.runtimeDirArg("spec"));
        assertEquals(SANDBOX.steps().size(), p.steps().size());
        for (int i = 0; i < SANDBOX.steps().size(); i++) {
            assertEquals(SANDBOX.steps().get(i).stage(), p.steps().get(i).stage());
            assertEquals(SANDBOX.steps().get(i).op(), p.steps().get(i).op());
            assertEquals(SANDBOX.steps().get(i).args(), p.steps().get(i).args(), "values are unescaped");
        }
        assertTrue(PlanText.parse("# sandbox plan for x\nenter\tjoin\n").isEmpty(), "not a canonical plan of version 1");
    }

    private static List<Step> finish(ExecPlan.Options o) throws ExecPlan.ExecException {
        SandboxState state = new SandboxState(Path.of("/run/sandbox/web"), "web", "running", null, null, null, null, null, null, null,
                null, null, false, Map.of());
        return ExecPlan.finish(parsed(), state, ProcessHandle.current().pid(), o);
    }

    private static List<String> ops(List<Step> steps) {
        return steps.stream().map(Step::op).toList();
    }

    @Test
    void theSandboxsIdentityIsKeptAndItsOneTimeStepsAreNot() throws Exception {
        List<Step> f = finish(new ExecPlan.Options(Optional.empty(), List.of(), Optional.empty(), Optional.of(List.of("id"))));
        assertEquals(List.of("close-fds", "setrlimit", "setresgid", "setresuid", "capabilities", "no-new-privs", "chdir", "seccomp", "exec"), ops(f));
        Step exec = f.get(f.size() - 1);
        assertEquals(List.of("id"), exec.all("arg"));
        assertEquals(List.of("PATH=/bin", "MODE=a%b\tc"), exec.all("env"));
        assertEquals(Optional.of("/srv"), f.get(6).arg("path"));
    }

    @Test
    void optionsReplaceUserDirectoryAndEnvironment() throws Exception {
        List<Step> f = finish(new ExecPlan.Options(Optional.of("1000:1001"), List.of("MODE=b", "NEW=1"), Optional.of("/tmp"),
                Optional.empty()));
        assertEquals(List.of("close-fds", "setrlimit", "setresgid", "setresuid", "capabilities", "no-new-privs", "chdir", "seccomp", "exec"), ops(f));
        assertEquals(Optional.of("1001"), f.get(2).arg("gid"));
        assertEquals(Optional.of("1000"), f.get(3).arg("uid"));
        assertEquals(Optional.of(""), f.get(4).arg("keep"), "any uid but 0 keeps no capability");
        assertEquals(Optional.of("/tmp"), f.get(6).arg("path"));
        Step exec = f.get(f.size() - 1);
        assertEquals(List.of("/bin/sh"), exec.all("arg"), "the default command");
        assertEquals(List.of("PATH=/bin", "MODE=b", "NEW=1"), exec.all("env"));
    }

    @Test
    void tPutsThePtyAfterCloseFdsInPlaceOfTheNewSession() throws Exception {
        List<Step> f = finish(new ExecPlan.Options(Optional.empty(), List.of(), Optional.empty(), Optional.of(List.of("sh")), true));
        assertEquals(List.of("close-fds", "pty", "setrlimit", "setresgid", "setresuid", "capabilities", "no-new-privs", "chdir", "seccomp", "exec"), ops(f));
    }

    @Test
    void badOptionsAreRefusedWithTheirReason() {
        assertThrows(ExecPlan.ExecException.class, () -> finish(new ExecPlan.Options(Optional.of("1:x-no-such-group-x"), List.of(),
                Optional.empty(), Optional.empty())));
        assertThrows(ExecPlan.ExecException.class, () -> finish(new ExecPlan.Options(Optional.of("99999999999"), List.of(),
                Optional.empty(), Optional.empty())));
        assertThrows(ExecPlan.ExecException.class, () -> finish(new ExecPlan.Options(Optional.empty(), List.of("NOEQUALS"),
                Optional.empty(), Optional.empty())));
    }

    @Test
    void namesAreLookedUpInTheSandboxsPasswdAndGroup() throws Exception {
        // this process's root stands for the sandbox's: its /etc/passwd has root
        long self = ProcessHandle.current().pid();
        assertEquals(List.of(0L, 0L), java.util.Arrays.stream(ExecPlan.user("root", self)).boxed().toList());
        assertEquals(List.of(0L, 0L), java.util.Arrays.stream(ExecPlan.user("root:root", self)).boxed().toList());
        assertEquals(List.of(4242L, 7L), java.util.Arrays.stream(ExecPlan.user("4242:7", self)).boxed().toList());
        assertThrows(ExecPlan.ExecException.class, () -> ExecPlan.user("no-such-user-x", self));
        assertThrows(ExecPlan.ExecException.class, () -> ExecPlan.user(":5", self));
    }

    @Test
    void execRecordsAreToldApartFromSandboxes() {
        assertEquals("web@exec-42", ExecPlan.recordName("web", 42));
        assertTrue(ExecPlan.isExecRecord("web@exec-42"));
        assertTrue(!ExecPlan.isExecRecord("web.exec-42"));
    }
}
