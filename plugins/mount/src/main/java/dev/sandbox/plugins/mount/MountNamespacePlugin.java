package dev.sandbox.plugins.mount;

import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;
import org.pf4j.Extension;

/**
 * {@code namespaces.mount}: a new mount namespace and what the sandbox sees of the file system.
 *
 * <pre>{@code
 * namespaces:
 *   mount:
 *     root: {type: tmpfs}            # or {type: bind, source: ./rootfs}; omitted: keep the host's root
 *     readonlyRoot: false
 *     rootPropagation: rprivate
 *     mounts:                        # performed in this order
 *       - {type: bind, source: /usr, target: /usr, readonly: true, propagation: rslave}
 *       - {type: tmpfs, target: /tmp, size: 64M, mode: "1777"}
 *       - {type: proc, target: /proc}
 *       - {type: dev, target: /dev}
 *     masks: [/etc/shadow]
 *     readonlyPaths: [/proc/sys]
 * }</pre>
 *
 * <h2>Keys</h2>
 * <ul>
 * <li>{@code root} — the new root. {@code {type: tmpfs}} is an empty in-memory root (mode 0755,
 *     nosuid, nodev; optional {@code size}); {@code {type: bind, source: DIR}} uses a host directory
 *     (a rootfs), recursively. <b>Omitted</b>: the sandbox keeps the host's root, in its own copy of
 *     the mount table: there is no pivot_root and every target is a path of the host's tree.</li>
 * <li>{@code readonlyRoot} (default {@code false}) — make {@code /} read-only after everything is
 *     mounted; mounts on it keep their own flags.</li>
 * <li>{@code rootPropagation} — {@code shared slave private unbindable} or an {@code r}-variant.
 *     Default {@code rprivate} with a new root. <b>Without a root the default is {@code rslave}</b>:
 *     the namespace keeps its copy of the host's mounts, and a per-mount {@code rslave} bind can
 *     only be a slave of a slave copy (a bind of a private mount has no master). {@code shared} and
 *     {@code rshared} are an error without a root (they would propagate the sandbox's mounts to the
 *     host); with a root they are applied after pivot_root (which refuses a shared new root), and
 *     the peers are then inside the sandbox only.</li>
 * <li>{@code mounts} — a list, performed in this order; a later mount on the same target covers
 *     an earlier one. Keys of an entry:
 *   <ul>
 *   <li>{@code type} (required) — {@code bind tmpfs proc sysfs devpts mqueue overlay dev}.</li>
 *   <li>{@code target} (required) — absolute path inside the sandbox.</li>
 *   <li>{@code source} — bind only (required there): the host path, file or directory, bound
 *       recursively.</li>
 *   <li>{@code readonly} (default {@code false}) — binds: recursively, with
 *       {@code mount_setattr(AT_RECURSIVE)}; new file systems: {@code MS_RDONLY}; dev: the /dev
 *       tmpfs itself.</li>
 *   <li>{@code propagation} — any type; on a bind, {@code shared}/{@code rshared} shares mount
 *       events with the host in both directions (like docker's bind propagation; the host's source
 *       must be on a shared mount, checked before start; in a user namespace the kernel turns the
 *       copy into a slave, so it works one way only), {@code slave}/{@code rslave} receives the
 *       host's. Not given: a bind is whatever the kernel makes of a bind of the host's slave copy,
 *       i.e. a slave (host mounts below the source appear inside, nothing flows back).</li>
 *   <li>{@code options} — any of {@code nosuid nodev noexec}.</li>
 *   <li>{@code size} — tmpfs only: bytes, or with a {@code K M G} suffix (also lower case, powers
 *       of 1024), e.g. {@code 64M}. No percentages. Default: the kernel's (half of RAM).</li>
 *   <li>{@code mode} — tmpfs only: octal mode of its root directory as a string, e.g. {@code "0755"}.
 *       Default {@code "1777"} (the kernel's).</li>
 *   <li>{@code lower} (a path or a list, uppermost first), {@code upper}, {@code work} — overlay
 *       only. {@code upper} and {@code work} come together (work: an empty directory on the same file
 *       system as upper); without them the overlay is read-only and needs at least two lower
 *       directories.</li>
 *   </ul>
 *   Type {@code dev} is a minimal /dev like bubblewrap's {@code --dev}: a tmpfs with the host's
 *   {@code null zero full random urandom tty} bound in, a new devpts instance on {@code pts} with
 *   {@code ptmx -> pts/ptmx}, a tmpfs on {@code shm}, and {@code fd stdin stdout stderr} symlinks into
 *   {@code /proc/self/fd}.</li>
 * <li>{@code masks} — absolute paths inside the sandbox hidden behind an empty read-only file or
 *     directory; a path that doesn't exist is skipped.</li>
 * <li>{@code readonlyPaths} — absolute paths inside the sandbox made read-only recursively; each
 *     must exist.</li>
 * <li>{@code systemPaths} (default {@code default}) — docker's and runc's system paths: wherever a proc
 *     or sysfs is visible (a proc/sysfs mount, a bind of the host's /proc or /sys, the host's own
 *     without a root) /proc/bus, fs, irq, sys, sysrq-trigger are made read-only and /proc/acpi, asound,
 *     interrupts, kcore, keys, latency_stats, timer_list, timer_stats, sched_debug, scsi,
 *     /sys/firmware and /sys/devices/virtual/powercap masked; missing ones are skipped.
 *     {@code unconfined} turns that off (docker's {@code systempaths=unconfined}), with a warning.</li>
 * </ul>
 * Relative host paths (bind {@code source}, root {@code source}, overlay {@code lower upper work})
 * are relative to the spec file's directory; {@code ~} is not expanded.
 *
 * <h2>Mount points</h2>
 * With a root, missing mount points are created in the new root (a directory, or an empty file when
 * a bind's source is a file). Without a root the sandbox shares the host's file systems, so it only
 * creates mount points inside a tmpfs or dev this spec mounted earlier; any other target must exist
 * on the host (warning {@code mount.target-missing-on-host}). Mount points are created before the
 * mount they are for, so a read-only mount can not receive new mount points later.
 *
 * <h2>Order of operations</h2>
 * NEWROOT is {@code <runtimeDir>/root}, e.g. {@code /run/sandbox/NAME/root}. With a root, every
 * target before pivot_root is NEWROOT + target; without one, the target itself.
 * <ol>
 * <li>Monitor, before anything is created: {@code check-path} of every bind source, root source
 *     and overlay directory; {@code check-shared-mount} of the source of every shared/rshared
 *     bind.</li>
 * <li>{@code clone-tree} of every shared/rshared bind source: a detached copy taken while the new
 *     namespace's mounts are still peers of the host's, so it stays in the host's peer group.</li>
 * <li>{@code propagation / rslave} (without a root: rootPropagation, default rslave): from now on
 *     nothing mounted in the sandbox reaches the host.</li>
 * <li>The root: a tmpfs or a recursive bind on NEWROOT, then {@code propagation NEWROOT
 *     rootPropagation} (default rprivate) before anything is mounted beneath it.</li>
 * <li>Each mount, in order: the mount (or {@code attach-tree} for a shared bind), then a separate
 *     {@code propagation} call (mount(2) ignores propagation flags combined with MS_BIND), then
 *     {@code setattr} for a read-only or nosuid/nodev/noexec bind. proc, sysfs, devpts and mqueue are
 *     mounted here, before pivot_root: in a user namespace the kernel refuses them once the old
 *     root is detached.</li>
 * <li>With a root: {@code pivot-root NEWROOT}; the old root is made a slave and detached.</li>
 * <li>As seen from inside: a shared rootPropagation on {@code /}; readonlyRoot; the default
 *     read-only system paths ({@code readonly-path}); each readonlyPath bound onto itself and made
 *     read-only recursively; the default masks; each mask.</li>
 * </ol>
 *
 * <h2>Diagnostics</h2>
 * Errors: {@code mount.relative-target}, {@code mount.target-is-root} (a mount on / without a
 * root), {@code mount.bind-without-source}, {@code mount.root-bind-without-source},
 * {@code mount.source-not-allowed}, {@code mount.key-not-applicable}, {@code mount.bad-size},
 * {@code mount.bad-mode}, {@code mount.relative-mask}, {@code mount.relative-readonly-path},
 * {@code mount.overlay-without-lower}, {@code mount.overlay-upper-without-work},
 * {@code mount.overlay-work-without-upper}, {@code mount.overlay-single-lower},
 * {@code mount.overlay-bad-path}, {@code mount.shared-root-propagation}. Warnings:
 * {@code mount.proc-without-pid-namespace}, {@code mount.sysfs-without-net-namespace},
 * {@code mount.mqueue-without-ipc-namespace}, {@code mount.slave-without-master},
 * {@code mount.shared-bind-in-user-namespace},
 * {@code mount.target-missing-on-host}, {@code mount.system-paths-unconfined}.
 */
@Extension
public class MountNamespacePlugin implements NamespacePlugin {

    @Override
    public String id() {
        return "mount";
    }

    @Override
    public String schemaFragment() {
        return resource("/mount.schema.json");
    }

    @Override
    public void validate(SectionContext ctx) {
        MountChecks.run(ctx);
    }

    @Override
    public void contribute(PlanContext ctx) {
        MountSpec spec = MountSpec.bind(ctx.section(), ctx::resolve);
        var newRoot = spec.root().isPresent() ? Optional.of(ctx.newRoot()) : Optional.<Path>empty();
        new MountPlanner(spec, newRoot, MountPlanner::hostNonDirectory).steps().forEach(ctx::add);
    }

    static String resource(String name) {
        try (InputStream in = MountNamespacePlugin.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is missing from the plugin jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
