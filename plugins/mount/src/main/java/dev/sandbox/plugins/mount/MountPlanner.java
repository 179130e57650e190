package dev.sandbox.plugins.mount;

import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.plugins.mount.MountSpec.Mount;
import dev.sandbox.plugins.mount.MountSpec.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Compiles a {@link MountSpec} into plan steps, in the order documented on
 * {@link MountNamespacePlugin}. Pure apart from one question to the host (is a bind source a file?),
 * which is injectable.
 */
final class MountPlanner {

    /** A mount already placed by an earlier entry: where and of what type. */
    record Placed(String target, Type type) {}

    /** Device nodes of the minimal /dev, as bubblewrap's --dev. */
    static final List<String> DEV_NODES = List.of("null", "zero", "full", "random", "urandom", "tty");
    /** Symlinks of the minimal /dev: name → link contents. */
    private static final List<String[]> DEV_LINKS = List.of(
            new String[] {"fd", "/proc/self/fd"}, new String[] {"stdin", "/proc/self/fd/0"},
            new String[] {"stdout", "/proc/self/fd/1"}, new String[] {"stderr", "/proc/self/fd/2"});
    /** Canonical order of MS_* names in a flags argument, so plans are stable. */
    private static final List<String> FLAG_ORDER = List.of("MS_RDONLY", "MS_NOSUID", "MS_NODEV", "MS_NOEXEC", "MS_BIND", "MS_REC");
    private static final Map<String, String> OPTION_FLAGS = Map.of("nosuid", "MS_NOSUID", "nodev", "MS_NODEV", "noexec", "MS_NOEXEC");

    /** docker's and runc's default read-only and masked system paths ({@link dev.sandbox.api.SystemPaths}). */
    static final List<String> PROC_READONLY = dev.sandbox.api.SystemPaths.PROC_READONLY;
    static final List<String> PROC_MASKED = dev.sandbox.api.SystemPaths.PROC_MASKED;
    static final List<String> SYS_MASKED = dev.sandbox.api.SystemPaths.SYS_MASKED;

    private final MountSpec spec;
    /** NEWROOT, or null when the host's root is kept. */
    private final Path newRoot;
    private final Predicate<Path> isNonDirectory;
    private final List<Step> out = new ArrayList<>();
    private final List<Placed> placed = new ArrayList<>();
    /** clone-tree ids of the shared binds, by index in {@code spec.mounts()}. */
    private final Map<Integer, String> treeIds = new HashMap<>();
    private int nextTreeId = 1;

    MountPlanner(MountSpec spec, Optional<Path> newRoot, Predicate<Path> isNonDirectory) {
        this.spec = spec;
        this.newRoot = newRoot.orElse(null);
        this.isNonDirectory = isNonDirectory;
    }

    /** The host answers whether a bind source is a file: the mount point must be of the same kind. */
    static boolean hostNonDirectory(Path p) {
        return Files.exists(p) && !Files.isDirectory(p);
    }

    List<Step> steps() {
        prepare();
        cloneSharedBinds();
        rootSlave();
        root();
        for (int i = 0; i < spec.mounts().size(); i++) {
            mount(i, spec.mounts().get(i));
        }
        if (newRoot != null) pivot();
        afterPivot();
        return List.copyOf(out);
    }

    // ---------------------------------------------------------------------------------------- 1

    private void prepare() {
        Set<Path> exist = new LinkedHashSet<>();
        spec.root().flatMap(MountSpec.Root::source).ifPresent(exist::add);
        for (Mount m : spec.mounts()) {
            m.source().filter(s -> m.type() == Type.BIND).ifPresent(exist::add);
            if (m.type() == Type.OVERLAY) {
                exist.addAll(m.lower());
                m.upper().ifPresent(exist::add);
                m.work().ifPresent(exist::add);
            }
        }
        for (Path p : exist) {
            // Why before anything: a missing source found by the child would leave a half-built sandbox
            // and a terse errno; the controller names the path while nothing exists yet.
            add(Step.of(Stage.PREPARE, "check-path").arg("path", p).arg("kind", "exists")
                    .summary("check that " + p + " exists on the host before anything is created")
                    .syscall("stat(\"" + p + "\")"));
        }
        for (Mount m : spec.mounts()) {
            if (!m.sharedBind()) continue;
            Path source = m.source().orElseThrow();
            add(Step.of(Stage.PREPARE, "check-shared-mount").arg("path", source)
                    .summary("check that " + source + " is on a shared mount of the host; otherwise events can't propagate "
                            + "(fix on the host: mount --make-rshared <its mount point>)")
                    .syscall("read /proc/self/mountinfo: the mount holding \"" + source + "\" has a shared:N tag"));
        }
    }

    // ---------------------------------------------------------------------------------------- 2, 3

    private void cloneSharedBinds() {
        for (int i = 0; i < spec.mounts().size(); i++) {
            Mount m = spec.mounts().get(i);
            if (!m.sharedBind()) continue;
            String id = String.valueOf(nextTreeId++);
            treeIds.put(i, id);
            Path source = m.source().orElseThrow();
            // Why before `propagation / rslave`: the new namespace's mounts are still peers of the
            // host's, so a copy taken now stays in the host's peer group (events flow both ways, like
            // docker's rshared binds); a bind made after the rslave step could only be a slave.
            add(Step.of(Stage.MOUNTS, "clone-tree").arg("id", id).arg("source", source).arg("recursive", 1)
                    .summary("take a detached copy of " + source + " that stays a peer of the host's mount (for "
                            + m.propagation().orElseThrow() + " propagation to " + m.target() + ")")
                    .syscall("open_tree(AT_FDCWD, \"" + source + "\", OPEN_TREE_CLONE|AT_RECURSIVE)"));
        }
    }

    private void rootSlave() {
        // Why first: the new mount namespace is a copy whose mounts are peers of the host's; until /
        // is a slave every mount below would appear on the host. As a slave, host events still reach
        // the sandbox's copies (so per-mount rslave binds work) but nothing flows back.
        // Without a new root the namespace keeps this tree, so rootPropagation applies here
        // (default rslave, not rprivate: a bind of a private mount has no master to be a slave of).
        String mode = newRoot != null ? "rslave" : spec.rootPropagation().orElse("rslave");
        add(propagation("/", mode, newRoot != null
                ? "make every mount of the new namespace a slave: nothing mounted in the sandbox reaches the host"
                : "set the propagation of the namespace's copy of the host's mounts to " + mode
                        + (mode.endsWith("slave") ? ": host events still arrive, nothing mounted in the sandbox reaches the host"
                        : ": no events in either direction")));
    }

    // ---------------------------------------------------------------------------------------- 4

    private void root() {
        if (newRoot == null) return;
        MountSpec.Root root = spec.root().orElseThrow();
        String target = newRoot.toString();
        if (root.tmpfs()) {
            String data = (root.size().isPresent() ? "size=" + root.size().getAsLong() + "," : "") + "mode=0755";
            add(mountStep("tmpfs", target, "tmpfs", flags(List.of("MS_NOSUID", "MS_NODEV")), data, "dir")
                    .summary("an empty tmpfs as the new root at " + target));
        } else {
            Path source = root.source().orElseThrow();
            add(mountStep(source.toString(), target, "", "MS_BIND|MS_REC", "", "dir")
                    .summary("bind " + source + " (recursively) as the new root at " + target));
        }
        placed.add(new Placed("/", root.tmpfs() ? Type.TMPFS : Type.BIND));
        String mode = spec.rootPropagation().orElse("rprivate");
        if (!MountSpec.isShared(mode)) {
            // Why now, before the mounts below it: a recursive mode set later would override the
            // per-mount propagation of every mount beneath.
            add(propagation(target, mode, "the new root's propagation (" + mode + "), before anything is mounted beneath it"));
        }
    }

    // ---------------------------------------------------------------------------------------- 5

    private void mount(int index, Mount m) {
        String t = at(m.target());
        switch (m.type()) {
            case BIND -> bind(index, m, t);
            case TMPFS -> {
                String data = (m.size().isPresent() ? "size=" + m.size().getAsLong() + "," : "") + "mode=" + m.mode();
                add(mountStep("tmpfs", t, "tmpfs", fresh(m, "MS_NOSUID", "MS_NODEV"), data, create(m.target(), false))
                        .summary("a tmpfs on " + m.target() + (m.size().isPresent() ? " of at most " + human(m.size().getAsLong()) : "")
                                + ", mode " + m.mode() + (m.readonly() ? ", read-only" : "")));
            }
            // Why proc, sysfs, devpts and mqueue before pivot_root: in a user namespace the kernel
            // only lets us mount them while a fully visible instance is reachable
            // (mnt_already_visible); once pivot_root detached the old root it isn't: EPERM.
            case PROC -> add(mountStep("proc", t, "proc", fresh(m, "MS_NOSUID", "MS_NODEV", "MS_NOEXEC"), "", create(m.target(), false))
                    .summary("a new proc on " + m.target() + ": it shows the processes of the sandbox's pid namespace"
                            + " (mounted before pivot_root: in a user namespace it is refused afterwards)"));
            case SYSFS -> add(mountStep("sysfs", t, "sysfs", fresh(m, "MS_NOSUID", "MS_NODEV", "MS_NOEXEC"), "", create(m.target(), false))
                    .summary("a new sysfs on " + m.target() + ": its network devices are those of the sandbox's network namespace"
                            + (m.readonly() ? ", read-only" : "")));
            case DEVPTS -> add(mountStep("devpts", t, "devpts", fresh(m, "MS_NOSUID", "MS_NOEXEC"), "newinstance,ptmxmode=0666,mode=0620",
                    create(m.target(), false))
                    .summary("a new, private devpts instance on " + m.target() + " (its own pty numbers; ptmx usable by everyone)"));
            case MQUEUE -> add(mountStep("mqueue", t, "mqueue", fresh(m, "MS_NOSUID", "MS_NODEV", "MS_NOEXEC"), "", create(m.target(), false))
                    .summary("a new mqueue on " + m.target() + ": the POSIX message queues of the sandbox's IPC namespace"));
            case OVERLAY -> overlay(m, t);
            case DEV -> dev(m, t);
        }
        if (m.type() != Type.BIND) {
            m.propagation().ifPresent(p -> add(propagation(t, p, "propagation " + p + " for " + m.target())));
        }
        if (m.type() == Type.DEV && m.readonly()) {
            add(setattr(t, List.of("rdonly"), false, "make the /dev tmpfs on " + m.target()
                    + " read-only (the device nodes, pts and shm keep their own flags)"));
        }
        placed.add(new Placed(m.target(), m.type()));
    }

    private void bind(int index, Mount m, String t) {
        Path source = m.source().orElseThrow();
        boolean file = isNonDirectory.test(source);
        String create = create(m.target(), file);
        String p = m.propagation().orElse(null);
        if (treeIds.containsKey(index)) {
            add(Step.of(Stage.MOUNTS, "attach-tree").arg("id", treeIds.get(index)).arg("target", t).arg("create", create)
                    .summary("attach the copy of " + source + " taken before / became a slave on " + m.target())
                    .syscall("move_mount(fd, \"\", AT_FDCWD, \"" + t + "\", MOVE_MOUNT_F_EMPTY_PATH)"));
        } else {
            add(mountStep(source.toString(), t, "", "MS_BIND|MS_REC", "", create)
                    .summary("bind " + source + " on " + m.target() + " (recursively)"));
        }
        if (p != null) {
            // Why a separate call: mount(2) ignores propagation flags combined with MS_BIND.
            add(propagation(t, p, "propagation " + p + " for " + m.target()
                    + (MountSpec.isShared(p) ? ": mounts under it on the host appear in the sandbox, and the other way round"
                    : p.endsWith("slave") ? ": mounts under " + source + " on the host appear in the sandbox, nothing flows back" : "")));
        }
        List<String> attrs = new ArrayList<>();
        if (m.readonly()) attrs.add("rdonly");
        attrs.addAll(m.options());
        if (!attrs.isEmpty()) {
            // Why mount_setattr(AT_RECURSIVE) and not a remount: MS_REMOUNT|MS_RDONLY only affects the
            // top mount; every submount of the recursive bind would stay writable.
            add(setattr(t, attrs, true, "make " + m.target() + " " + String.join(", ", attrs.stream().map(MountPlanner::word).toList())
                    + ", submounts included"));
        }
    }

    private void overlay(Mount m, String t) {
        StringBuilder data = new StringBuilder("lowerdir=").append(String.join(":", m.lower().stream().map(Path::toString).toList()));
        m.upper().ifPresent(u -> data.append(",upperdir=").append(u));
        m.work().ifPresent(w -> data.append(",workdir=").append(w));
        List<String> flags = new ArrayList<>(optionFlags(m));
        if (m.readonly() || m.upper().isEmpty()) flags.add("MS_RDONLY");
        add(mountStep("overlay", t, "overlay", flags(flags), data.toString(), create(m.target(), false))
                .summary("an overlay on " + m.target() + " of " + m.lower().size() + " lower director" + (m.lower().size() == 1 ? "y" : "ies")
                        + m.upper().map(u -> "; writes go to " + u).orElse("; read-only (no upper)")));
    }

    private void dev(Mount m, String t) {
        // Why clone the host's nodes first when the sandbox keeps the host's root: the tmpfs below
        // covers /dev, and the sources of the binds would be gone.
        boolean coversSources = newRoot == null && m.target().equals("/dev");
        Map<String, String> ids = new HashMap<>();
        if (coversSources) {
            for (String n : DEV_NODES) {
                String id = String.valueOf(nextTreeId++);
                ids.put(n, id);
                add(Step.of(Stage.MOUNTS, "clone-tree").arg("id", id).arg("source", "/dev/" + n).arg("recursive", 0)
                        .summary("keep a handle on the host's /dev/" + n + " before a tmpfs covers /dev")
                        .syscall("open_tree(AT_FDCWD, \"/dev/" + n + "\", OPEN_TREE_CLONE)"));
            }
        }
        List<String> tmpfsFlags = new ArrayList<>(List.of("MS_NOSUID", "MS_NODEV", "MS_NOEXEC"));
        tmpfsFlags.addAll(optionFlags(m));
        add(mountStep("tmpfs", t, "tmpfs", flags(tmpfsFlags), "mode=0755", create(m.target(), false))
                .summary("a minimal /dev on " + m.target() + ": a tmpfs holding only what follows (no host devices)"));
        for (String n : DEV_NODES) {
            String node = t + "/" + n;
            if (coversSources) {
                add(Step.of(Stage.MOUNTS, "attach-tree").arg("id", ids.get(n)).arg("target", node).arg("create", "file")
                        .summary("the host's /dev/" + n + " on " + m.target() + "/" + n)
                        .syscall("move_mount(fd, \"\", AT_FDCWD, \"" + node + "\", MOVE_MOUNT_F_EMPTY_PATH)"));
            } else {
                add(mountStep("/dev/" + n, node, "", "MS_BIND", "", "file")
                        .summary("bind the host's /dev/" + n + " on " + m.target() + "/" + n));
            }
        }
        String pts = t + "/pts";
        add(Step.of(Stage.MOUNTS, "mkdir").arg("path", pts).arg("mode", "0755")
                .summary("the mount point of the sandbox's own pty instance")
                .syscall("mkdir(\"" + pts + "\", 0755)"));
        add(mountStep("devpts", pts, "devpts", "MS_NOSUID|MS_NOEXEC", "newinstance,ptmxmode=0666,mode=0620", "none")
                .summary("a new devpts instance: the sandbox's ptys are not the host's"));
        add(symlink("pts/ptmx", t + "/ptmx", "ptmx opens this devpts instance's multiplexer"));
        add(mountStep("tmpfs", t + "/shm", "tmpfs", "MS_NOSUID|MS_NODEV", "mode=1777", "dir")
                .summary("a private /dev/shm for POSIX shared memory"));
        for (String[] link : DEV_LINKS) {
            add(symlink(link[1], t + "/" + link[0], m.target() + "/" + link[0] + " → " + link[1]));
        }
    }

    // ---------------------------------------------------------------------------------------- 6, 7

    private void pivot() {
        String root = newRoot.toString();
        add(Step.of(Stage.MOUNTS, "pivot-root").arg("path", root)
                .summary("make " + root + " the root; the old root is made a slave and detached, so nothing of the host "
                        + "stays reachable but what was mounted")
                .syscall("chdir(\"" + root + "\"); pivot_root(\".\", \".\"); mount(NULL, \".\", NULL, MS_SLAVE|MS_REC, NULL); "
                        + "umount2(\".\", MNT_DETACH)"));
    }

    private void afterPivot() {
        spec.rootPropagation().filter(p -> newRoot != null && MountSpec.isShared(p)).ifPresent(p ->
                // Why after pivot_root: it refuses a shared new root (EINVAL). Peers are in the
                // sandbox only: its mounts came from slaves of the host's, so nothing reaches the host.
                add(propagation("/", p, "make the sandbox's root " + p + " (for nested namespaces); "
                        + "its peers are inside the sandbox only")));
        if (spec.readonlyRoot()) {
            // Why last: mount points for everything above had to be created first.
            add(setattr("/", List.of("rdonly"), false, "make / read-only (mounts on it keep their own flags)"));
        }
        List<String> defaultReadonly = new ArrayList<>(), defaultMasks = new ArrayList<>();
        if (!spec.systemPathsUnconfined()) {
            for (String t : visible(Type.PROC, "/proc")) {
                PROC_READONLY.forEach(p -> defaultReadonly.add(below(t, p)));
                PROC_MASKED.forEach(p -> defaultMasks.add(below(t, p)));
            }
            for (String t : visible(Type.SYSFS, "/sys")) SYS_MASKED.forEach(p -> defaultMasks.add(below(t, p)));
            defaultReadonly.removeAll(spec.readonlyPaths());
            defaultMasks.removeAll(spec.masks());
        }
        for (String p : defaultReadonly) {
            // Why by default: without them uid 0 inside that is host root for files (no user
            // namespace, or a map 0 -> 0) writes host-wide sysctls through /proc/sys; CAP_SYS_ADMIN
            // is not needed for that, so the default capabilities don't stop it.
            add(Step.of(Stage.MOUNTS, "readonly-path").arg("path", p)
                    .summary("default (docker's and runc's read-only paths; systemPaths: unconfined to opt out): make " + p
                            + " read-only, submounts included (nothing when it doesn't exist)")
                    .syscall("open_tree(\"" + p + "\", OPEN_TREE_CLONE|AT_RECURSIVE); mount_setattr(tree, AT_RECURSIVE, "
                            + "{.attr_set = MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV|MOUNT_ATTR_NOEXEC}); "
                            + "move_mount(tree, \"" + p + "\")"));
        }
        for (String p : spec.readonlyPaths()) {
            // Why a bind onto itself: mount_setattr works on mounts, and the path may be a plain
            // directory of a larger mount.
            add(mountStep(p, p, "", "MS_BIND|MS_REC", "", "none")
                    .summary("bind " + p + " onto itself so it is a mount of its own"));
            add(setattr(p, List.of("rdonly"), true, "make " + p + " read-only, submounts included"));
        }
        for (String p : defaultMasks) {
            add(Step.of(Stage.MOUNTS, "mask").arg("path", p)
                    .summary("default (docker's and runc's masked paths; systemPaths: unconfined to opt out): hide " + p
                            + " behind an empty read-only file or directory (nothing when it doesn't exist)")
                    .syscall(maskSyscall(p)));
        }
        for (String p : spec.masks()) {
            add(Step.of(Stage.MOUNTS, "mask").arg("path", p)
                    .summary("hide " + p + " behind an empty read-only " + "file or directory (nothing when it doesn't exist)")
                    .syscall(maskSyscall(p)));
        }
    }

    private static String below(String dir, String rel) {
        return dir.equals("/") ? "/" + rel : dir + "/" + rel;
    }

    private static String maskSyscall(String p) {
        return "mount(\"tmpfs\", \"" + p + "\", \"tmpfs\", MS_RDONLY, NULL) for a directory, "
                + "move_mount(<empty read-only file>, \"" + p + "\") for a file";
    }

    /**
     * Where the target sees a {@code type} file system (proc or sysfs) once everything is mounted: each
     * target whose last mount is of that type or a bind of the host's {@code hostPath}, and
     * {@code hostPath} itself when the host's root is kept and no mount of the spec covers it with
     * something else. Sorted, so plans are stable.
     */
    private Set<String> visible(Type type, String hostPath) {
        Map<String, Boolean> last = new HashMap<>();
        if (newRoot == null) last.put(hostPath, true);
        for (Mount m : spec.mounts()) {
            boolean is = m.type() == type
                    || (m.type() == Type.BIND && m.source().map(s -> s.normalize().toString().equals(hostPath)).orElse(false));
            last.put(m.target(), is);
        }
        Set<String> out = new java.util.TreeSet<>();
        last.forEach((t, is) -> { if (is) out.add(t); });
        return out;
    }

    // ---------------------------------------------------------------------------------------- helpers

    /** Where {@code target} is before pivot_root: below NEWROOT, or as it is on the host's root. */
    private String at(String target) {
        if (newRoot == null) return target;
        return target.equals("/") ? newRoot.toString() : newRoot + target;
    }

    /**
     * {@code create} of a mount point. With a new root everything is created in it. Without one the
     * sandbox shares the host's file systems, so mount points are only created inside a tmpfs or
     * /dev this spec mounted: the sandbox must not leave directories behind on the host.
     */
    private String create(String target, boolean file) {
        boolean allowed = newRoot != null || coveringType(target, placed).map(MountPlanner::scratch).orElse(false);
        return !allowed ? "none" : file ? "file" : "dir";
    }

    /** The type of the last earlier mount on a proper ancestor of {@code target}: the file system it is created in. */
    static Optional<Type> coveringType(String target, List<Placed> earlier) {
        for (int i = earlier.size() - 1; i >= 0; i--) {
            String t = earlier.get(i).target();
            if (!t.equals(target) && (t.equals("/") || target.startsWith(t + "/"))) return Optional.of(earlier.get(i).type());
        }
        return Optional.empty();
    }

    /** File systems private to the sandbox, where creating a mount point changes nothing on the host. */
    static boolean scratch(Type type) {
        return type == Type.TMPFS || type == Type.DEV;
    }

    /** Flags of a new file system instance: the type's defaults, the options and MS_RDONLY when read-only. */
    private static String fresh(Mount m, String... defaults) {
        List<String> names = new ArrayList<>(List.of(defaults));
        names.addAll(optionFlags(m));
        // Why a flag and not mount_setattr: for a new instance path_mount() turns MS_RDONLY into the
        // mount's own read-only flag in the same call.
        if (m.readonly()) names.add("MS_RDONLY");
        return flags(names);
    }

    private static List<String> optionFlags(Mount m) {
        return m.options().stream().map(OPTION_FLAGS::get).toList();
    }

    private static String flags(List<String> names) {
        Set<String> set = new LinkedHashSet<>(names);
        return String.join("|", FLAG_ORDER.stream().filter(set::contains).toList());
    }

    private void add(Step.Builder step) {
        out.add(step.build());
    }

    private void add(Step step) {
        out.add(step);
    }

    private static Step.Builder mountStep(String source, String target, String fstype, String flags, String data, String create) {
        return Step.of(Stage.MOUNTS, "mount").arg("source", source).arg("target", target).arg("fstype", fstype)
                .arg("flags", flags).arg("data", data).arg("create", create)
                .syscall("mount(" + c(source) + ", " + c(target) + ", " + c(fstype) + ", " + (flags.isEmpty() ? "0" : flags)
                        + ", " + c(data) + ")");
    }

    private static Step propagation(String target, String mode, String summary) {
        boolean recursive = mode.startsWith("r");
        String flag = "MS_" + (recursive ? mode.substring(1) : mode).toUpperCase(Locale.ROOT) + (recursive ? "|MS_REC" : "");
        return Step.of(Stage.MOUNTS, "propagation").arg("target", target).arg("mode", mode).summary(summary)
                .syscall("mount(NULL, \"" + target + "\", NULL, " + flag + ", NULL)").build();
    }

    private static Step setattr(String target, List<String> attrs, boolean recursive, String summary) {
        String set = String.join("|", attrs.stream().map(a -> "MOUNT_ATTR_" + a.toUpperCase(Locale.ROOT)).toList());
        return Step.of(Stage.MOUNTS, "setattr").arg("target", target).arg("attr", String.join("|", attrs))
                .arg("recursive", recursive ? 1 : 0).summary(summary)
                .syscall("mount_setattr(AT_FDCWD, \"" + target + "\", " + (recursive ? "AT_RECURSIVE" : "0")
                        + ", {.attr_set = " + set + "})").build();
    }

    private static Step symlink(String target, String path, String summary) {
        return Step.of(Stage.MOUNTS, "symlink").arg("target", target).arg("path", path).summary(summary)
                .syscall("symlink(\"" + target + "\", \"" + path + "\")").build();
    }

    private static String c(String s) {
        return s.isEmpty() ? "NULL" : "\"" + s + "\"";
    }

    private static String word(String attr) {
        return switch (attr) {
            case "rdonly" -> "read-only";
            default -> attr;
        };
    }

    private static String human(long bytes) {
        for (String[] unit : new String[][] {{"G", "30"}, {"M", "20"}, {"K", "10"}}) {
            int shift = Integer.parseInt(unit[1]);
            if (bytes % (1L << shift) == 0) return (bytes >> shift) + unit[0];
        }
        return bytes + " bytes";
    }
}
