package dev.sandbox.engine.pipeline;

import java.util.Map;
import java.util.Optional;

/**
 * The execution-stage table: the only place the engine knows namespace types by name. It says how
 * each type is created (a clone flag, or an unshare at a given point) and its name under /proc/PID/ns.
 * Sections without an entry (third-party plugins) create no namespace of their own.
 */
public final class NamespaceTable {

    /** How a type is created. */
    public enum Creation {
        /** unshare(CLONE_NEWUSER) in the helper first: every later namespace is owned by it (user_namespaces(7)). */
        UNSHARE_FIRST,
        /** unshare(CLONE_NEWTIME) right before clone: it is not a valid clone flag (collides with CSIGNAL), and only children enter it. */
        UNSHARE_BEFORE_CLONE,
        /** A CLONE_NEW* flag of the clone that creates the child. */
        CLONE_FLAG
    }

    public record Entry(String type, String procName, String cloneFlag, Creation creation) {

        /** The step that creates this namespace when it is not a clone flag (an unshare at its point). */
        Optional<dev.sandbox.api.Step> unshareStep() {
            return switch (creation) {
                case UNSHARE_FIRST -> Optional.of(dev.sandbox.api.Step.of(dev.sandbox.api.Stage.ENTER, "unshare-user")
                        .summary("create the user namespace first: every namespace created after it is owned by it")
                        .syscall("unshare(" + cloneFlag + ")").build().withPlugin(type));
                case UNSHARE_BEFORE_CLONE -> Optional.of(dev.sandbox.api.Step.of(dev.sandbox.api.Stage.CLONE, "unshare").arg("type", procName)
                        .summary("create the " + type + " namespace; " + cloneFlag + " is not a clone flag (it collides with CSIGNAL), and only children enter it")
                        .syscall("unshare(" + cloneFlag + ")").build().withPlugin(type));
                case CLONE_FLAG -> Optional.empty();
            };
        }
    }

    /** The files of /proc/PID/ns (namespaces(7)), including the *_for_children ones setns accepts. */
    static final java.util.List<String> PROC_FILES = java.util.List.of("cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time",
            "time_for_children", "user", "uts");

    /** The type whose namespace owns all the others, and without which an unprivileged caller can create none. */
    public static final String USER = "user";

    private static final Map<String, Entry> TABLE = Map.of(
            "user", new Entry("user", "user", "CLONE_NEWUSER", Creation.UNSHARE_FIRST),
            "mount", new Entry("mount", "mnt", "CLONE_NEWNS", Creation.CLONE_FLAG),
            "pid", new Entry("pid", "pid", "CLONE_NEWPID", Creation.CLONE_FLAG),
            "uts", new Entry("uts", "uts", "CLONE_NEWUTS", Creation.CLONE_FLAG),
            "ipc", new Entry("ipc", "ipc", "CLONE_NEWIPC", Creation.CLONE_FLAG),
            "net", new Entry("net", "net", "CLONE_NEWNET", Creation.CLONE_FLAG),
            // created by the clone, which happens after the controller placed the helper in the
            // sandbox's cgroup: the namespace's root is then that cgroup (cgroup_namespaces(7))
            "cgroup", new Entry("cgroup", "cgroup", "CLONE_NEWCGROUP", Creation.CLONE_FLAG),
            "time", new Entry("time", "time", "CLONE_NEWTIME", Creation.UNSHARE_BEFORE_CLONE));

    /** Clone flags in a fixed order, so plans are stable. */
    static final java.util.List<String> CLONE_ORDER = java.util.List.of("mount", "uts", "ipc", "net", "pid", "cgroup");

    private NamespaceTable() {}

    public static Optional<Entry> lookup(String type) {
        return Optional.ofNullable(TABLE.get(type));
    }

    /** Every entry, in the order their creation steps are emitted. */
    static java.util.List<Entry> entries() {
        return java.util.List.of(TABLE.get("user"), TABLE.get("time"), TABLE.get("mount"), TABLE.get("uts"), TABLE.get("ipc"),
                TABLE.get("net"), TABLE.get("pid"), TABLE.get("cgroup"));
    }

    public static boolean isNamespace(String type) {
        return TABLE.containsKey(type);
    }
}
