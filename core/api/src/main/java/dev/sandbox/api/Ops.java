package dev.sandbox.api;

import java.util.Map;
import java.util.Set;

/**
 * The closed vocabulary of plan operations and the stages each may appear in. The helper
 * ({@code core/native/PROTOCOL.md}) executes the helper/child ops; the monitor executes the
 * host ops (the stage's {@link Stage#executor()}). The engine rejects a step outside this table, so a plugin cannot invent syscalls.
 */
public final class Ops {

    private Ops() {}

    public static final Map<String, Set<Stage>> ALLOWED = Map.ofEntries(
            // helper, enter/clone
            Map.entry("join", Set.of(Stage.ENTER)),
            Map.entry("unshare-user", Set.of(Stage.ENTER)),
            Map.entry("unshare", Set.of(Stage.CLONE)),
            Map.entry("timens-offset", Set.of(Stage.CLONE)),
            Map.entry("timeout", Set.of(Stage.CLONE)),
            Map.entry("clone", Set.of(Stage.CLONE)),
            // child, mounts
            Map.entry("propagation", Set.of(Stage.MOUNTS)),
            Map.entry("clone-tree", Set.of(Stage.MOUNTS)),
            Map.entry("attach-tree", Set.of(Stage.MOUNTS)),
            Map.entry("mkdir", Set.of(Stage.MOUNTS)),
            Map.entry("mount", Set.of(Stage.MOUNTS)),
            Map.entry("setattr", Set.of(Stage.MOUNTS)),
            Map.entry("symlink", Set.of(Stage.MOUNTS)),
            Map.entry("write-file", Set.of(Stage.MOUNTS)),
            Map.entry("pivot-root", Set.of(Stage.MOUNTS)),
            Map.entry("mask", Set.of(Stage.MOUNTS)),
            Map.entry("readonly-path", Set.of(Stage.MOUNTS)),
            // child, finish
            Map.entry("sethostname", Set.of(Stage.FINISH)),
            Map.entry("setdomainname", Set.of(Stage.FINISH)),
            Map.entry("link-up", Set.of(Stage.FINISH)),
            Map.entry("chdir", Set.of(Stage.FINISH)),
            Map.entry("setrlimit", Set.of(Stage.FINISH)),
            Map.entry("setgroups", Set.of(Stage.FINISH)),
            Map.entry("setresgid", Set.of(Stage.FINISH)),
            Map.entry("setresuid", Set.of(Stage.FINISH)),
            Map.entry("capabilities", Set.of(Stage.FINISH)),
            Map.entry("no-new-privs", Set.of(Stage.FINISH)),
            Map.entry("close-fds", Set.of(Stage.FINISH)),
            Map.entry("new-session", Set.of(Stage.FINISH)),
            Map.entry("pty", Set.of(Stage.FINISH)),
            Map.entry("seccomp", Set.of(Stage.FINISH)),
            Map.entry("init", Set.of(Stage.FINISH)),
            Map.entry("exec", Set.of(Stage.FINISH)),
            // monitor; runtime-dir is the plan file's first step (PlanFile.canonical writes it from the runtime dir,
            // never a step of a Plan)
            Map.entry("runtime-dir", Set.of(Stage.PREPARE)),
            Map.entry("check-shared-mount", Set.of(Stage.PREPARE)),
            Map.entry("check-path", Set.of(Stage.PREPARE)),
            Map.entry("cgroup-create", Set.of(Stage.PREPARE)),
            Map.entry("cgroup-set", Set.of(Stage.PREPARE)),
            Map.entry("write-setgroups", Set.of(Stage.IDENTITY)),
            Map.entry("write-id-map", Set.of(Stage.IDENTITY)),
            Map.entry("cgroup-place", Set.of(Stage.IDENTITY)),
            Map.entry("veth", Set.of(Stage.CONNECT)),
            Map.entry("user-net", Set.of(Stage.CONNECT)),
            Map.entry("sysctl", Set.of(Stage.CONNECT)),
            Map.entry("cgroup-remove", Set.of(Stage.SUPERVISE)));

    /**
     * Ops only the engine emits: namespace creation and joins (from its execution-stage table) and the
     * {@code process:} section (resource limits, identity, capabilities, seccomp, the new session, the timeout) and the {@code resources:} section's cgroup writes ({@code cgroup-set}: a control file of a cgroup,
     * which as root could be any file if a plugin chose the path). A plugin contributing one of them is rejected, so no plugin can replace
     * the target or reorder the kernel's required sequence.
     */
    public static final Set<String> ENGINE_ONLY = Set.of("join", "unshare-user", "unshare", "clone", "close-fds", "setrlimit", "setgroups",
            "setresgid", "setresuid", "capabilities", "no-new-privs", "chdir", "exec", "new-session", "pty", "seccomp", "timeout", "runtime-dir",
            "cgroup-set");

    /** May a plugin contribute this step? */
    public static boolean allowedForPlugin(Step step) {
        return allowed(step) && !ENGINE_ONLY.contains(step.op())
                && step.args().stream().noneMatch(a -> a.key().indexOf('\0') >= 0 || a.value().indexOf('\0') >= 0);
    }

    public static boolean allowed(Step step) {
        Set<Stage> stages = ALLOWED.get(step.op());
        return stages != null && stages.contains(step.stage());
    }
}
