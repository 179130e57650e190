package dev.sandbox.api;

/**
 * Where and when a plan step runs. The order of the constants is the execution order; it follows
 * the kernel's rules (see docs/architecture.md): the user namespace exists before its id maps are
 * written, the maps and the cgroup placement happen before the other namespaces are created, the
 * veth peer needs the child's network namespace, and mounts precede the identity switch and exec.
 */
public enum Stage {
    /** Monitor, before the helper starts: the runtime dir and its lock, host checks, the sandbox's cgroup. */
    PREPARE(Executor.MONITOR, "prepare"),
    /** Helper: join existing namespaces, then unshare the user namespace. */
    ENTER(Executor.HELPER, "enter"),
    /** Monitor: setgroups, uid_map/gid_map of the helper, cgroup placement. */
    IDENTITY(Executor.MONITOR, "identity"),
    /** Helper: time namespace and its offsets, then clone() the child with the namespace flags. */
    CLONE(Executor.HELPER, "clone"),
    /** Monitor: veth links into the child's network namespace. */
    CONNECT(Executor.MONITOR, "connect"),
    /** Child: mounts in order, pivot_root, root propagation, read-only paths, masks. */
    MOUNTS(Executor.CHILD, "mounts"),
    /** Child: hostname, loopback, credentials, capabilities, no_new_privs, exec. */
    FINISH(Executor.CHILD, "finish"),
    /** Monitor: forward signals, collect the exit status, undo host-side steps. */
    SUPERVISE(Executor.MONITOR, "supervise");

    /**
     * The part of the runtime that executes a stage's steps: the monitor ({@code sandbox-init run}, on the host's
     * side, the sandbox's parent), the helper (the monitor's forked process, until the clone) or the child (the
     * sandbox's first process, until exec).
     */
    public enum Executor {
        MONITOR, HELPER, CHILD;

        /** {@code monitor}, {@code helper} or {@code child}: the name in {@code sandbox plan}'s text and JSON. */
        public String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    private final Executor executor;
    private final String wireName;

    Stage(Executor executor, String wireName) {
        this.executor = executor;
        this.wireName = wireName;
    }

    public Executor executor() {
        return executor;
    }

    /** The stage's name in the plan file and in {@code sandbox plan}. */
    public String wireName() {
        return wireName;
    }

    /** Does the helper process (or the child it clones) run this stage, rather than the monitor? */
    /** The stage whose {@link #wireName()} is {@code name}. */
    public static java.util.Optional<Stage> byWireName(String name) {
        for (Stage s : values()) {
            if (s.wireName.equals(name)) return java.util.Optional.of(s);
        }
        return java.util.Optional.empty();
    }

    public boolean runsInHelper() {
        return executor != Executor.MONITOR;
    }
}
