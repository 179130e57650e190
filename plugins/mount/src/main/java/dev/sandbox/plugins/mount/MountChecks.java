package dev.sandbox.plugins.mount;

import dev.sandbox.api.SectionContext;
import dev.sandbox.api.SpecNode;
import dev.sandbox.plugins.mount.MountSpec.Type;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The semantic checks of {@code namespaces.mount} that the schema can't express well: per-type
 * requirements, sizes, modes, absolute paths and combinations with other sections. Each finding is a
 * located diagnostic with a stable {@code mount.*} code and a hint. The schema already passed.
 */
final class MountChecks {

    /** Keys that only some types take; any other type given one is {@code mount.key-not-applicable}. */
    private static final Map<String, Set<Type>> ONLY_FOR = Map.of(
            "size", EnumSet.of(Type.TMPFS),
            "mode", EnumSet.of(Type.TMPFS),
            "lower", EnumSet.of(Type.OVERLAY),
            "upper", EnumSet.of(Type.OVERLAY),
            "work", EnumSet.of(Type.OVERLAY));
    private static final List<String> ONLY_FOR_ORDER = List.of("size", "mode", "lower", "upper", "work");

    private final SectionContext ctx;
    private final SpecNode section;
    private final boolean hostRoot;

    private MountChecks(SectionContext ctx) {
        this.ctx = ctx;
        this.section = ctx.section();
        this.hostRoot = section.get("root").isMissing();
    }

    static void run(SectionContext ctx) {
        new MountChecks(ctx).all();
    }

    private void all() {
        root();
        rootPropagation();
        List<SpecNode> earlier = new ArrayList<>();
        for (SpecNode m : section.get("mounts").elements()) {
            mount(m, earlier);
            underReadOnly(m, earlier);
            earlier.add(m);
        }
        absolute(section.get("masks"), "mount.relative-mask", "a mask");
        for (SpecNode mask : section.get("masks").elements()) maskMissing(mask, earlier);
        absolute(section.get("readonlyPaths"), "mount.relative-readonly-path", "a read-only path");
        systemPaths();
    }

    /** {@code systemPaths: unconfined}: the opt-out of docker's read-only and masked /proc and /sys paths, warned. */
    private void systemPaths() {
        SpecNode key = section.get("systemPaths");
        if (!key.optText().map("unconfined"::equals).orElse(false)) return;
        ctx.warning(key, "mount.system-paths-unconfined",
                "systemPaths: unconfined leaves /proc/sys, /proc/sysrq-trigger, /proc/kcore and the other system paths "
                        + "writable or visible: a uid 0 inside that is host root for files (no user namespace, or a map 0 -> 0) "
                        + "can write host-wide sysctls such as kernel.core_pattern",
                "remove it to keep docker's defaults (read-only /proc/bus fs irq sys sysrq-trigger, masked /proc/kcore keys "
                        + "timer_list ..., /sys/firmware); a nested sandbox that mounts its own proc is the usual reason to keep it");
    }

    private void root() {
        SpecNode root = section.get("root");
        if (root.kind() != SpecNode.Kind.MAP) return;
        String type = root.get("type").text();
        SpecNode source = root.get("source");
        SpecNode size = root.get("size");
        if (type.equals("bind") && source.isMissing()) {
            ctx.error(root, "mount.root-bind-without-source", "a bind root needs a source: the host directory to use as /",
                    "add 'source: ./rootfs' (relative to the spec file) or use 'type: tmpfs' for an empty root");
        }
        if (type.equals("bind") && source.kind() == SpecNode.Kind.STRING && !source.text().isEmpty()) {
            sourceMissingOnHost(source);
        }
        if (type.equals("tmpfs") && source.isPresent()) {
            ctx.error(source, "mount.source-not-allowed", "a tmpfs root takes no source",
                    "remove 'source', or use 'type: bind' to use a host directory as the root");
        }
        if (type.equals("bind") && size.isPresent()) {
            ctx.error(size, "mount.key-not-applicable", "'size' applies to a tmpfs root only",
                    "remove 'size'; a bind root is as large as the host directory's file system");
        } else {
            size(size);
        }
    }

    private void rootPropagation() {
        SpecNode p = section.get("rootPropagation");
        if (hostRoot && p.optText().filter(MountSpec::isShared).isPresent()) {
            ctx.error(p, "mount.shared-root-propagation",
                    "rootPropagation '" + p.text() + "' without a new root would propagate the sandbox's mounts to the host",
                    "use rslave (the default without root) or rprivate, give 'root:' for a new root, "
                            + "or share single directories with a bind mount with 'propagation: rshared'");
        }
    }

    private void mount(SpecNode m, List<SpecNode> earlier) {
        Optional<Type> parsed = Type.of(m.get("type").text());
        if (parsed.isEmpty()) return;
        Type type = parsed.get();
        SpecNode target = m.get("target");
        SpecNode source = m.get("source");
        if (!target.text().startsWith("/")) {
            ctx.error(target, "mount.relative-target", "target '" + target.text() + "' must be absolute",
                    "write it as seen inside the sandbox, starting with '/', e.g. '/" + target.text() + "'");
        } else if (hostRoot && MountSpec.normalize(target.text()).equals("/")) {
            ctx.error(target, "mount.target-is-root", "a mount on / needs a new root",
                    "give 'root:' (a tmpfs or a bind of a directory) instead of mounting on /");
        } else if (hostRoot) {
            missingOnHost(target, earlier);
        }
        if (type == Type.BIND && source.isMissing()) {
            ctx.error(m, "mount.bind-without-source", "a bind mount needs a source: the host path to mount on " + target.text(),
                    "add 'source:' with a host path (relative paths are relative to the spec file)");
        }
        if (type == Type.BIND && source.kind() == SpecNode.Kind.STRING && !source.text().isEmpty()) {
            sourceMissingOnHost(source);
        }
        if (type != Type.BIND && source.isPresent()) {
            ctx.error(source, "mount.source-not-allowed", "a " + type.key() + " mount takes no source",
                    type == Type.OVERLAY ? "an overlay takes 'lower' (and 'upper' with 'work') instead of 'source'"
                            : "remove 'source', or use 'type: bind' to mount a host path");
        }
        for (String key : ONLY_FOR_ORDER) {
            SpecNode value = m.get(key);
            if (value.isPresent() && !ONLY_FOR.get(key).contains(type)) {
                String owner = ONLY_FOR.get(key).iterator().next().key();
                ctx.error(value, "mount.key-not-applicable", "'" + key + "' applies to " + owner + " mounts only, not to " + type.key(),
                        "remove '" + key + "'");
            }
        }
        if (type == Type.TMPFS) {
            size(m.get("size"));
            mode(m.get("mode"));
        }
        if (type == Type.OVERLAY) overlay(m);
        namespaceWarnings(m, type);
        propagationWithoutMaster(m, type);
        sharedInUserNamespace(m, type);
    }

    private void size(SpecNode size) {
        if (size.isMissing() || size.kind() == SpecNode.Kind.NULL) return;
        if (Units.size(size.text()).isEmpty()) {
            ctx.error(size, "mount.bad-size", "size '" + size.text() + "' is not a positive number of bytes",
                    "use bytes or a number with a K, M or G suffix (powers of 1024), e.g. 64M; percentages are not supported");
        }
    }

    private void mode(SpecNode mode) {
        if (mode.isMissing() || mode.kind() == SpecNode.Kind.NULL) return;
        if (Units.mode(mode.text()).isEmpty()) {
            ctx.error(mode, "mount.bad-mode", "mode '" + mode.text() + "' is not an octal file mode",
                    "use up to four octal digits in quotes, e.g. mode: \"1777\" or mode: \"0755\"");
        }
    }

    private void overlay(SpecNode m) {
        SpecNode lower = m.get("lower");
        SpecNode upper = m.get("upper");
        SpecNode work = m.get("work");
        List<String> lowers = MountSpec.strings(lower);
        if (lowers.isEmpty()) {
            ctx.error(m, "mount.overlay-without-lower", "an overlay needs at least one lower directory",
                    "add 'lower: ./base' (or a list, uppermost first)");
        }
        if (upper.isPresent() && work.isMissing()) {
            ctx.error(upper, "mount.overlay-upper-without-work", "an overlay with 'upper' also needs 'work'",
                    "add 'work:' with an empty directory on the same file system as upper");
        }
        if (work.isPresent() && upper.isMissing()) {
            ctx.error(work, "mount.overlay-work-without-upper", "'work' is only used together with 'upper'",
                    "add 'upper:' for a writable overlay, or remove 'work' for a read-only one");
        }
        if (upper.isMissing() && work.isMissing() && lowers.size() == 1) {
            ctx.error(lower, "mount.overlay-single-lower", "a read-only overlay needs at least two lower directories (the kernel refuses one)",
                    "add a second lower directory, add 'upper' and 'work' for a writable overlay, "
                            + "or use a read-only bind mount of the directory instead");
        }
        List<SpecNode> paths = new ArrayList<>(lower.kind() == SpecNode.Kind.LIST ? lower.elements() : List.of(lower));
        paths.add(upper);
        paths.add(work);
        for (SpecNode p : paths) {
            if (p.kind() == SpecNode.Kind.STRING && (p.text().contains(",") || p.text().contains(":"))) {
                ctx.error(p, "mount.overlay-bad-path", "overlay path '" + p.text() + "' contains ',' or ':', which separate overlay options",
                        "rename the directory or reach it through a symlink without those characters");
            }
        }
    }

    /**
     * A new proc/sysfs/mqueue instance shows the namespace the child is in; in the host's it shows the
     * host's objects. In a new user namespace it is an error: the kernel refuses the mount (EPERM), since
     * the host's pid (net, ipc) namespace is not owned by the new user namespace, so `up` would certainly
     * fail.
     */
    private void namespaceWarnings(SpecNode m, Type type) {
        SpecNode at = m.get("type");
        if (type == Type.PROC && !ctx.creates("pid") && !ctx.joins("pid")) {
            report(at, "mount.proc-without-pid-namespace", "proc is mounted but the sandbox has no pid namespace: it would show the host's"
                    + " processes", "add 'pid: {}' under namespaces");
        }
        if (type == Type.SYSFS && !ctx.creates("net") && !ctx.joins("net")) {
            report(at, "mount.sysfs-without-net-namespace", "sysfs is mounted but the sandbox has no network namespace: it would show the"
                    + " host's network devices", "add 'net: {}' under namespaces, or bind /sys read-only instead");
        }
        if (type == Type.MQUEUE && !ctx.creates("ipc") && !ctx.joins("ipc")) {
            report(at, "mount.mqueue-without-ipc-namespace", "mqueue is mounted but the sandbox has no IPC namespace: it would show the"
                    + " host's message queues", "add 'ipc: {}' under namespaces");
        }
    }

    private void report(SpecNode at, String code, String message, String hint) {
        if (ctx.creates("user")) {
            ctx.error(at, code, message + ", and in a new user namespace the kernel refuses the mount (EPERM): 'sandbox up' would fail", hint);
        } else {
            ctx.warning(at, code, message, hint);
        }
    }

    /**
     * A mount point that must be created inside an earlier read-only mount can't be (mkdir fails with
     * EROFS while the sandbox is set up). Only when it is missing there: mounting on an existing
     * directory of a read-only file system works.
     */
    private void underReadOnly(SpecNode m, List<SpecNode> earlier) {
        SpecNode target = m.get("target");
        if (!target.text().startsWith("/")) return;
        String t = MountSpec.normalize(target.text());
        for (int i = earlier.size() - 1; i >= 0; i--) {
            SpecNode e = earlier.get(i);
            String at = e.get("target").text();
            if (!at.startsWith("/")) continue;
            String et = MountSpec.normalize(at);
            if (et.equals(t)) return; // a mount on the same target: this one covers it, no mount point is created
            if (!(et.equals("/") || t.startsWith(et + "/"))) continue;
            // the deepest earlier mount holding the target decides
            if (!e.get("readonly").bool(false)) return;
            Optional<Type> type = Type.of(e.get("type").text());
            if (type.isPresent() && type.get() == Type.BIND && e.get("source").kind() == SpecNode.Kind.STRING) {
                Path inSource = ctx.resolve(e.get("source").text()).resolve(et.equals("/") ? t.substring(1) : t.substring(et.length() + 1));
                if (Files.exists(inSource)) return;
            }
            ctx.warning(target, "mount.target-under-readonly-mount", "mount point " + t + " is inside the read-only " + e.get("type").text()
                            + " mount on " + et + " and does not exist there: it can't be created (EROFS while the sandbox is set up)",
                    "mount on " + et + " (" + e.path() + ") without 'readonly: true' and make it read-only with readonlyPaths: [" + et
                            + "] instead (applied after every mount), create " + t + " in the source, or mount on an existing directory");
            return;
        }
    }

    /**
     * A mask whose path doesn't exist in the sandbox is skipped, silently: a typo such as /etc/shadw
     * hides nothing. Checked where the path can be known: under a bind mount (its source), a bind root,
     * or the host's root; under a tmpfs root nothing exists that wasn't mounted. Paths under other file
     * systems (proc, sysfs, tmpfs, ...) are not checked.
     */
    private void maskMissing(SpecNode mask, List<SpecNode> mounts) {
        if (mask.kind() != SpecNode.Kind.STRING || !mask.text().startsWith("/")) return;
        String p = MountSpec.normalize(mask.text());
        Path where = null;
        for (int i = mounts.size() - 1; i >= 0 && where == null; i--) {
            SpecNode e = mounts.get(i);
            String at = e.get("target").text();
            if (!at.startsWith("/")) continue;
            String et = MountSpec.normalize(at);
            if (!(et.equals(p) || et.equals("/") || p.startsWith(et + "/"))) continue;
            Optional<Type> type = Type.of(e.get("type").text());
            if (type.isEmpty() || type.get() != Type.BIND || e.get("source").kind() != SpecNode.Kind.STRING) return;
            String rest = et.equals(p) ? "" : et.equals("/") ? p.substring(1) : p.substring(et.length() + 1);
            where = ctx.resolve(e.get("source").text()).resolve(rest);
        }
        if (where == null) {
            SpecNode root = section.get("root");
            if (hostRoot) {
                where = Path.of(p);
            } else if (root.get("type").text().equals("bind") && root.get("source").kind() == SpecNode.Kind.STRING) {
                where = ctx.resolve(root.get("source").text()).resolve(p.substring(1));
            } else if (root.get("type").text().equals("tmpfs")) {
                where = null;
            } else {
                return;
            }
        }
        if (where == null || !Files.exists(where, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            ctx.warning(mask, "mount.mask-missing", "mask " + p + " does not exist in the sandbox" + (where == null ? " (nothing is mounted there"
                            + " on the empty tmpfs root)" : " (" + where + " is missing)") + ", so it hides nothing; masks that don't exist are"
                            + " skipped", "check the path for a typo");
        }
    }

    /**
     * Without a new root, rootPropagation private/unbindable makes every mount of the namespace's copy
     * private first; a bind of a private mount has no master, so a slave request can't take effect.
     */
    private void propagationWithoutMaster(SpecNode m, Type type) {
        SpecNode p = m.get("propagation");
        String rootMode = section.get("rootPropagation").text("rslave");
        if (hostRoot && type == Type.BIND && p.optText().filter(v -> v.endsWith("slave")).isPresent()
                && (rootMode.endsWith("private") || rootMode.endsWith("unbindable"))) {
            ctx.warning(p, "mount.slave-without-master",
                    "propagation '" + p.text() + "' has no effect: with rootPropagation " + rootMode
                            + " the bind's source is no longer a copy of the host's mount, so it has no master and stays private",
                    "remove rootPropagation (the default without root is rslave), or use propagation: rprivate");
        }
    }

    /**
     * A mount namespace owned by another user namespace than the host's is "less privileged": the
     * kernel turns the shared mounts it copies into slaves (mount_namespaces(7)), so an rshared bind
     * only works one way there.
     */
    private void sharedInUserNamespace(SpecNode m, Type type) {
        SpecNode p = m.get("propagation");
        if (type == Type.BIND && p.optText().filter(MountSpec::isShared).isPresent() && (ctx.creates("user") || ctx.joins("user"))) {
            ctx.warning(p, "mount.shared-bind-in-user-namespace",
                    "propagation '" + p.text() + "' works one way only in a user namespace: the kernel makes the copied host mounts "
                            + "slaves, so host mounts appear in the sandbox but the sandbox's mounts don't reach the host",
                    "use propagation: rslave to say so, or run as root without a user namespace for two-way propagation");
        }
    }

    /**
     * Without a new root the sandbox never creates mount points on the host's file system (see
     * {@link MountPlanner}): a target must exist there unless an earlier tmpfs or dev mount of this
     * spec holds it. A warning, not an error: the spec may be checked on another machine.
     */
    private void missingOnHost(SpecNode target, List<SpecNode> earlier) {
        String t = MountSpec.normalize(target.text());
        List<MountPlanner.Placed> placed = new ArrayList<>();
        for (SpecNode e : earlier) {
            String at = e.get("target").text();
            Type.of(e.get("type").text()).filter(type -> at.startsWith("/"))
                    .ifPresent(type -> placed.add(new MountPlanner.Placed(MountSpec.normalize(at), type)));
        }
        if (MountPlanner.coveringType(t, placed).map(MountPlanner::scratch).orElse(false)) return;
        if (!Files.exists(Path.of(t))) {
            ctx.warning(target, "mount.target-missing-on-host", "target " + t + " does not exist on the host, and without a new root "
                            + "the sandbox does not create mount points on the host's file system",
                    "create it on the host, mount a tmpfs on a parent directory first, or give 'root:' for a new root");
        }
    }

    /**
     * A bind source that doesn't exist here fails {@code up} in its first stage; said at validation
     * time too, with the location. A warning, not an error: the spec may be checked on another machine.
     */
    private void sourceMissingOnHost(SpecNode source) {
        Path path = ctx.resolve(source.text());
        if (!Files.exists(path)) {
            ctx.warning(source, "mount.source-missing-on-host", "bind source " + path + " does not exist on this host; 'sandbox up' "
                    + "would stop before creating anything", "create it, or fix the path (relative paths are relative to the spec file)");
        }
    }

    private void absolute(SpecNode list, String code, String what) {
        for (SpecNode p : list.elements()) {
            if (p.kind() == SpecNode.Kind.STRING && !p.text().startsWith("/")) {
                ctx.error(p, code, what + " must be an absolute path inside the sandbox, not '" + p.text() + "'",
                        "write it as seen inside the sandbox, starting with '/', e.g. '/" + p.text() + "'");
            }
        }
    }
}
