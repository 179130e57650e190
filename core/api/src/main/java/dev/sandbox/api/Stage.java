package dev.sandbox.api;

/**
 * Where and when a plan step runs. The order of the constants is the execution order; it follows
 * the kernel's rules (see docs/architecture.md): the user namespace exists before its id maps are
 * written, the maps and the cgroup placement happen before the other namespaces are created, the
 * veth peer needs the child's network namespace, and mounts precede the identity switch and exec.
 */
public enum Stage {
    /** Controller, before the helper starts: check the host, create the cgroup. */
    PREPARE(Executor.CONTROLLER, "prepare"),
    /** Helper: join existing namespaces, then unshare the user namespace. */
    ENTER(Executor.HELPER, "enter"),
    /** Controller: setgroups, uid_map/gid_map of the helper, cgroup placement. */
    IDENTITY(Executor.CONTROLLER, "identity"),
    /** Helper: time namespace and its offsets, then clone() the child with the namespace flags. */
    CLONE(Executor.HELPER, "clone"),
    /** Controller: veth links into the child's network namespace. */
    CONNECT(Executor.CONTROLLER, "connect"),
    /** Child: mounts in order, pivot_root, root propagation, read-only paths, masks. */
    MOUNTS(Executor.CHILD, "mounts"),
    /** Child: hostname, loopback, credentials, capabilities, no_new_privs, exec. */
    FINISH(Executor.CHILD, "finish"),
    /** Controller: forward signals, collect the exit status, undo host-side steps. */
    SUPERVISE(Executor.CONTROLLER, "supervise");

    public enum Executor { CONTROLLER, HELPER, CHILD }

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

    public boolean runsInHelper() {
        return executor != Executor.CONTROLLER;
    }
}
