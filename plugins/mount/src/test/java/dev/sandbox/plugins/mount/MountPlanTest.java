package dev.sandbox.plugins.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Ops;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.testkit.PluginHarness;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MountPlanTest {

    static final String R = "/run/sandbox/test/root";

    /** The plugin's own steps (the engine's clone step is attributed to the namespaces it creates, "mount" among them). */
    static List<Step> mountSteps(PluginHarness h) {
        return h.steps().stream().filter(s -> s.plugin().equals("mount") && !s.op().equals("clone")).toList();
    }

    /** {@code op} and, for mount-like steps, the target, so a sequence reads like the plan. */
    static List<String> ops(List<Step> steps) {
        return steps.stream().map(s -> s.op() + s.arg("target").filter(t -> !s.op().equals("symlink")).map(t -> " " + t)
                .or(() -> s.arg("path").map(p -> " " + p)).orElse("")).toList();
    }

    /** The default read-only system paths below {@code proc} (docker's list), in plan order, without {@code except}. */
    static List<String> readonlyDefaults(String proc, String... except) {
        return Stream.of("bus", "fs", "irq", "sys", "sysrq-trigger").map(p -> proc + "/" + p)
                .filter(p -> !List.of(except).contains(p)).map(p -> "readonly-path " + p).toList();
    }

    /** The default masks below {@code proc} and, when not null, {@code sys} (docker's list), in plan order. */
    static List<String> maskDefaults(String proc, String sys) {
        Stream<String> procs = Stream.of("asound", "acpi", "interrupts", "kcore", "keys", "latency_stats", "timer_list",
                "timer_stats", "sched_debug", "scsi").map(p -> proc + "/" + p);
        Stream<String> syss = sys == null ? Stream.empty() : Stream.of("firmware", "devices/virtual/powercap").map(p -> sys + "/" + p);
        return Stream.concat(procs, syss).map(p -> "mask " + p).toList();
    }

    @SafeVarargs
    static List<String> concat(List<String>... parts) {
        return Stream.of(parts).flatMap(List::stream).toList();
    }

    static Step at(List<Step> steps, String op, String target) {
        return steps.stream().filter(s -> s.op().equals(op) && (s.arg("target").orElse("").equals(target)
                || s.arg("path").orElse("").equals(target))).findFirst().orElseThrow(() -> new AssertionError(op + " " + target));
    }

    static String arg(Step s, String key) {
        return s.arg(key).orElseThrow(() -> new AssertionError(s.op() + " has no " + key));
    }

    @Test
    void aTmpfsRootCompilesToTheDocumentedSequence() {
        var h = MountChecksTest.harness("""
                namespaces:
                  pid: {}
                  mount:
                    root: {type: tmpfs}
                    readonlyRoot: true
                    mounts:
                      - {type: bind, source: /usr, target: /usr, readonly: true, propagation: rslave}
                      - {type: tmpfs, target: /tmp, size: 64M, mode: "1777", options: [noexec]}
                      - {type: proc, target: /proc}
                      - {type: dev, target: /dev}
                    masks: [/etc/shadow]
                    readonlyPaths: [/proc/sys]
                """);
        // nothing is mounted on /etc of the empty root: the mask is compiled all the same, with a warning
        assertEquals(List.of("mount.mask-missing"), h.diagnostics().stream().map(d -> d.code()).toList());
        List<Step> steps = mountSteps(h);
        assertEquals(concat(List.of(
                "check-path /usr",
                "propagation /",
                "mount " + R, "propagation " + R,
                "mount " + R + "/usr", "propagation " + R + "/usr", "setattr " + R + "/usr",
                "mount " + R + "/tmp",
                "mount " + R + "/proc",
                "mount " + R + "/dev",
                "mount " + R + "/dev/null", "mount " + R + "/dev/zero", "mount " + R + "/dev/full",
                "mount " + R + "/dev/random", "mount " + R + "/dev/urandom", "mount " + R + "/dev/tty",
                "mkdir " + R + "/dev/pts", "mount " + R + "/dev/pts", "symlink " + R + "/dev/ptmx",
                "mount " + R + "/dev/shm",
                "symlink " + R + "/dev/fd", "symlink " + R + "/dev/stdin", "symlink " + R + "/dev/stdout", "symlink " + R + "/dev/stderr",
                "pivot-root " + R,
                "setattr /"),
                // the default read-only system paths (the spec's own /proc/sys once), then the spec's; no sysfs: no /sys masks
                readonlyDefaults("/proc", "/proc/sys"),
                List.of("mount /proc/sys", "setattr /proc/sys"),
                maskDefaults("/proc", null),
                List.of("mask /etc/shadow")), ops(steps));

        assertEquals(Stage.PREPARE, steps.get(0).stage());
        assertEquals("exists", arg(steps.get(0), "kind"));
        assertTrue(steps.subList(1, steps.size()).stream().allMatch(s -> s.stage() == Stage.MOUNTS));
        assertEquals("rslave", arg(steps.get(1), "mode"));
        assertEquals("mount(NULL, \"/\", NULL, MS_SLAVE|MS_REC, NULL)", steps.get(1).syscall());

        Step root = steps.get(2);
        assertEquals(List.of("tmpfs", "tmpfs", "MS_NOSUID|MS_NODEV", "mode=0755", "dir"),
                List.of(arg(root, "source"), arg(root, "fstype"), arg(root, "flags"), arg(root, "data"), arg(root, "create")));
        assertEquals("rprivate", arg(steps.get(3), "mode"));

        Step usr = at(steps, "mount", R + "/usr");
        assertEquals(List.of("/usr", "", "MS_BIND|MS_REC", "", "dir"),
                List.of(arg(usr, "source"), arg(usr, "fstype"), arg(usr, "flags"), arg(usr, "data"), arg(usr, "create")));
        assertEquals("mount(\"/usr\", \"" + R + "/usr\", NULL, MS_BIND|MS_REC, NULL)", usr.syscall());
        assertEquals("rslave", arg(at(steps, "propagation", R + "/usr"), "mode"));
        Step usrRo = at(steps, "setattr", R + "/usr");
        assertEquals(List.of("rdonly", "1"), List.of(arg(usrRo, "attr"), arg(usrRo, "recursive")));

        Step tmp = at(steps, "mount", R + "/tmp");
        assertEquals("MS_NOSUID|MS_NODEV|MS_NOEXEC", arg(tmp, "flags"));
        assertEquals("size=67108864,mode=1777", arg(tmp, "data"));

        Step proc = at(steps, "mount", R + "/proc");
        assertEquals(List.of("proc", "proc", "MS_NOSUID|MS_NODEV|MS_NOEXEC"), List.of(arg(proc, "source"), arg(proc, "fstype"), arg(proc, "flags")));
        assertTrue(steps.indexOf(proc) < steps.indexOf(at(steps, "pivot-root", R)), "proc before pivot_root");

        Step dev = at(steps, "mount", R + "/dev");
        assertEquals(List.of("tmpfs", "mode=0755"), List.of(arg(dev, "fstype"), arg(dev, "data")));
        Step devNull = at(steps, "mount", R + "/dev/null");
        assertEquals(List.of("/dev/null", "MS_BIND", "file"), List.of(arg(devNull, "source"), arg(devNull, "flags"), arg(devNull, "create")));
        Step pts = at(steps, "mount", R + "/dev/pts");
        assertEquals(List.of("devpts", "newinstance,ptmxmode=0666,mode=0620"), List.of(arg(pts, "fstype"), arg(pts, "data")));
        assertEquals("pts/ptmx", arg(at(steps, "symlink", R + "/dev/ptmx"), "target"));
        assertEquals("/proc/self/fd/2", arg(at(steps, "symlink", R + "/dev/stderr"), "target"));
        assertEquals("mode=1777", arg(at(steps, "mount", R + "/dev/shm"), "data"));

        Step readonlyRoot = at(steps, "setattr", "/");
        assertEquals(List.of("rdonly", "0"), List.of(arg(readonlyRoot, "attr"), arg(readonlyRoot, "recursive")));
        Step sys = at(steps, "mount", "/proc/sys");
        assertEquals(List.of("/proc/sys", "MS_BIND|MS_REC", "none"), List.of(arg(sys, "source"), arg(sys, "flags"), arg(sys, "create")));
        assertEquals("1", arg(at(steps, "setattr", "/proc/sys"), "recursive"));
    }

    @Test
    void everyStepIsInTheVocabularyWithASummaryAndASyscall() {
        var h = MountChecksTest.harness("""
                namespaces:
                  pid: {}
                  net: {}
                  ipc: {}
                  mount:
                    root: {type: tmpfs, size: 1G}
                    readonlyRoot: true
                    rootPropagation: rshared
                    mounts:
                      - {type: bind, source: /usr, target: /usr, readonly: true, propagation: rshared, options: [nosuid]}
                      - {type: tmpfs, target: /tmp, readonly: true, propagation: private}
                      - {type: proc, target: /proc}
                      - {type: sysfs, target: /sys, readonly: true}
                      - {type: devpts, target: /dev2/pts}
                      - {type: mqueue, target: /dev/mqueue}
                      - {type: overlay, target: /o, lower: [/a, /b]}
                      - {type: dev, target: /dev, readonly: true, propagation: rslave}
                    masks: [/etc/shadow]
                    readonlyPaths: [/proc/sys]
                """);
        List<Step> steps = mountSteps(h);
        assertFalse(steps.isEmpty());
        for (Step s : steps) {
            assertTrue(Ops.allowed(s), s.op() + " in " + s.stage());
            assertFalse(s.summary().isBlank(), s.op() + " has no summary");
            assertFalse(s.syscall().isBlank(), s.op() + " has no syscall");
        }
    }

    @Test
    void withoutARootThereIsNoPivotAndTargetsAreTheHostsPaths() {
        var h = MountChecksTest.harness("""
                namespaces:
                  pid: {}
                  mount:
                    readonlyRoot: true
                    mounts:
                      - {type: tmpfs, target: /tmp}
                      - {type: bind, source: /usr, target: /tmp/usr, readonly: true}
                      - {type: proc, target: /proc}
                    masks: [/etc/shadow]
                """);
        assertEquals(List.of(), h.errorCodes());
        List<Step> steps = mountSteps(h);
        // the host's /proc and /sys are the sandbox's (its own proc on /proc): the defaults cover both
        assertEquals(concat(List.of("check-path /usr", "propagation /", "mount /tmp", "mount /tmp/usr", "setattr /tmp/usr", "mount /proc",
                "setattr /"), readonlyDefaults("/proc"), maskDefaults("/proc", "/sys"), List.of("mask /etc/shadow")), ops(steps));
        assertTrue(steps.stream().noneMatch(s -> s.args().stream().anyMatch(a -> a.value().contains("/run/sandbox"))));
        assertEquals("rslave", arg(steps.get(1), "mode"), "default without a root: rslave");
        // nothing is created on the host's file systems, only inside the sandbox's own tmpfs
        assertEquals("none", arg(at(steps, "mount", "/tmp"), "create"));
        assertEquals("dir", arg(at(steps, "mount", "/tmp/usr"), "create"));
        assertEquals("none", arg(at(steps, "mount", "/proc"), "create"));
    }

    @Test
    void withoutARootRootPropagationAppliesToSlash() {
        var h = MountChecksTest.harness("""
                namespaces:
                  mount:
                    rootPropagation: rprivate
                """);
        List<Step> steps = mountSteps(h);
        assertEquals(concat(List.of("propagation /"), readonlyDefaults("/proc"), maskDefaults("/proc", "/sys")), ops(steps));
        assertEquals("rprivate", arg(steps.get(0), "mode"));
    }

    @Test
    void anEmptySectionStillMakesSlashASlave() {
        var h = MountChecksTest.harness("""
                namespaces:
                  mount: {}
                """);
        // the host's /proc and /sys, seen through the new mount namespace, get the defaults
        assertEquals(concat(List.of("propagation /"), readonlyDefaults("/proc"), maskDefaults("/proc", "/sys")), ops(mountSteps(h)));
        assertEquals("rslave", arg(mountSteps(h).get(0), "mode"));
        assertEquals("CLONE_NEWNS", h.first("clone").orElseThrow().arg("flags").orElseThrow());
    }

    @Test
    void aMinimalDevOverTheHostsDevClonesTheNodesFirst() {
        var h = MountChecksTest.harness("""
                namespaces:
                  mount:
                    mounts:
                      - {type: dev, target: /dev}
                """);
        List<Step> steps = mountSteps(h);
        List<String> ops = ops(steps);
        assertEquals(concat(List.of("propagation /", "clone-tree", "clone-tree", "clone-tree", "clone-tree", "clone-tree", "clone-tree",
                "mount /dev", "attach-tree /dev/null", "attach-tree /dev/zero", "attach-tree /dev/full", "attach-tree /dev/random",
                "attach-tree /dev/urandom", "attach-tree /dev/tty", "mkdir /dev/pts", "mount /dev/pts", "symlink /dev/ptmx",
                "mount /dev/shm", "symlink /dev/fd", "symlink /dev/stdin", "symlink /dev/stdout", "symlink /dev/stderr"),
                readonlyDefaults("/proc"), maskDefaults("/proc", "/sys")), ops);
        Step clone = steps.get(1);
        assertEquals(List.of("/dev/null", "0"), List.of(arg(clone, "source"), arg(clone, "recursive")));
        assertEquals(arg(clone, "id"), arg(at(steps, "attach-tree", "/dev/null"), "id"));
        assertEquals("file", arg(at(steps, "attach-tree", "/dev/null"), "create"));
    }

    @Test
    void aBindRootIsCheckedBoundAndPivotedInto() {
        var h = MountChecksTest.harness("""
                namespaces:
                  mount:
                    root: {type: bind, source: /srv/rootfs}
                    rootPropagation: rslave
                """);
        List<Step> steps = mountSteps(h);
        assertEquals(List.of("check-path /srv/rootfs", "propagation /", "mount " + R, "propagation " + R, "pivot-root " + R), ops(steps));
        Step root = steps.get(2);
        assertEquals(List.of("/srv/rootfs", "", "MS_BIND|MS_REC", "", "dir"),
                List.of(arg(root, "source"), arg(root, "fstype"), arg(root, "flags"), arg(root, "data"), arg(root, "create")));
        assertEquals("rslave", arg(steps.get(3), "mode"));
    }

    @Test
    void aSharedRootPropagationIsSetAfterPivotRoot() {
        var h = MountChecksTest.harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs, size: 256M}
                    rootPropagation: rshared
                """);
        List<Step> steps = mountSteps(h);
        assertEquals(List.of("propagation /", "mount " + R, "pivot-root " + R, "propagation /"), ops(steps));
        assertEquals("size=268435456,mode=0755", arg(steps.get(1), "data"));
        assertEquals("rshared", arg(steps.get(3), "mode"));
        assertEquals("mount(NULL, \"/\", NULL, MS_SHARED|MS_REC, NULL)", steps.get(3).syscall());
    }

    @Test
    void aSharedBindIsClonedBeforeSlashBecomesASlaveAndAttachedInPlace() {
        var h = MountChecksTest.harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: tmpfs, target: /tmp}
                      - {type: bind, source: /mnt, target: /mnt, propagation: rshared, readonly: true}
                """);
        List<Step> steps = mountSteps(h);
        assertEquals(List.of("check-path /mnt", "check-shared-mount /mnt", "clone-tree", "propagation /", "mount " + R, "propagation " + R,
                "mount " + R + "/tmp", "attach-tree " + R + "/mnt", "propagation " + R + "/mnt", "setattr " + R + "/mnt",
                "pivot-root " + R), ops(steps));
        assertEquals(Stage.PREPARE, steps.get(1).stage());
        assertEquals("/mnt", arg(steps.get(1), "path"));
        Step clone = steps.get(2);
        assertEquals(List.of("1", "/mnt", "1"), List.of(arg(clone, "id"), arg(clone, "source"), arg(clone, "recursive")));
        assertEquals("open_tree(AT_FDCWD, \"/mnt\", OPEN_TREE_CLONE|AT_RECURSIVE)", clone.syscall());
        assertEquals("rslave", arg(steps.get(3), "mode"));
        Step attach = steps.get(7);
        assertEquals(List.of("1", "dir"), List.of(arg(attach, "id"), arg(attach, "create")));
        assertEquals("rshared", arg(steps.get(8), "mode"));
        assertEquals("rdonly", arg(steps.get(9), "attr"));
    }

    @Test
    void aReadonlyBindIsMadeReadOnlyRecursivelyWithItsOptions() {
        var h = MountChecksTest.harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: bind, source: /usr, target: /usr, readonly: true, options: [nosuid, nodev]}
                      - {type: bind, source: /var, target: /var}
                """);
        List<Step> steps = mountSteps(h);
        Step ro = at(steps, "setattr", R + "/usr");
        assertEquals(List.of("rdonly|nosuid|nodev", "1"), List.of(arg(ro, "attr"), arg(ro, "recursive")));
        assertEquals("mount_setattr(AT_FDCWD, \"" + R + "/usr\", AT_RECURSIVE, {.attr_set = MOUNT_ATTR_RDONLY|MOUNT_ATTR_NOSUID|MOUNT_ATTR_NODEV})",
                ro.syscall());
        assertTrue(steps.stream().noneMatch(s -> s.op().equals("setattr") && arg(s, "target").equals(R + "/var")), "a writable bind has no setattr");
        assertTrue(steps.stream().noneMatch(s -> s.op().equals("propagation") && arg(s, "target").equals(R + "/var")),
                "no propagation call when none is asked for");
    }

    @Test
    void newFileSystemsTakeReadonlyAsAFlag() {
        var h = MountChecksTest.harness("""
                namespaces:
                  net: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: sysfs, target: /sys, readonly: true}
                      - {type: tmpfs, target: /t, readonly: true}
                      - {type: overlay, target: /o, lower: [/a, /b]}
                      - {type: overlay, target: /w, lower: /a, upper: /u, work: /x, options: [nodev]}
                      - {type: mqueue, target: /dev/mqueue}
                """);
        List<Step> steps = mountSteps(h);
        assertEquals("MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC", arg(at(steps, "mount", R + "/sys"), "flags"));
        assertEquals("MS_RDONLY|MS_NOSUID|MS_NODEV", arg(at(steps, "mount", R + "/t"), "flags"));
        Step ro = at(steps, "mount", R + "/o");
        assertEquals(List.of("overlay", "overlay", "MS_RDONLY", "lowerdir=/a:/b"),
                List.of(arg(ro, "source"), arg(ro, "fstype"), arg(ro, "flags"), arg(ro, "data")));
        Step rw = at(steps, "mount", R + "/w");
        assertEquals(List.of("MS_NODEV", "lowerdir=/a,upperdir=/u,workdir=/x"), List.of(arg(rw, "flags"), arg(rw, "data")));
        assertEquals("mqueue", arg(at(steps, "mount", R + "/dev/mqueue"), "fstype"));
        assertTrue(steps.stream().noneMatch(s -> s.op().equals("setattr")));
        assertEquals(List.of("check-path /a", "check-path /b", "check-path /u", "check-path /x"),
                ops(steps.stream().filter(s -> s.stage() == Stage.PREPARE).toList()));
    }

    @Test
    void relativeHostPathsAreResolvedAgainstTheSpecDirectory() {
        var h = MountChecksTest.harness("""
                namespaces:
                  mount:
                    root: {type: bind, source: ./rootfs}
                    mounts:
                      - {type: bind, source: data, target: /data}
                      - {type: overlay, target: /o, lower: [../layers/a, ./b], upper: up, work: ./work/}
                """).specFile(Path.of("/work/proj/spec.yaml"));
        List<Step> steps = mountSteps(h);
        assertEquals(List.of("check-path /work/proj/rootfs", "check-path /work/proj/data", "check-path /work/layers/a",
                "check-path /work/proj/b", "check-path /work/proj/up", "check-path /work/proj/work"),
                ops(steps.stream().filter(s -> s.stage() == Stage.PREPARE).toList()));
        assertEquals("/work/proj/rootfs", arg(at(steps, "mount", R), "source"));
        assertEquals("/work/proj/data", arg(at(steps, "mount", R + "/data"), "source"));
        assertEquals("lowerdir=/work/layers/a:/work/proj/b,upperdir=/work/proj/up,workdir=/work/proj/work",
                arg(at(steps, "mount", R + "/o"), "data"));
    }

    @Test
    void aFileSourceGetsAFileMountPoint(@TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("resolv.conf"), "nameserver 198.18.0.1\n");
        var h = MountChecksTest.harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: bind, source: %s, target: /etc/resolv.conf, readonly: true}
                      - {type: bind, source: %s, target: /d}
                """.formatted(file, dir));
        List<Step> steps = mountSteps(h);
        assertEquals("file", arg(at(steps, "mount", R + "/etc/resolv.conf"), "create"));
        assertEquals("dir", arg(at(steps, "mount", R + "/d"), "create"));
    }

    @Test
    void targetsAreNormalised() {
        var h = MountChecksTest.harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: tmpfs, target: /var/./cache/../tmp/}
                      - {type: tmpfs, target: /../../escape}
                """);
        List<Step> steps = mountSteps(h);
        at(steps, "mount", R + "/var/tmp");
        at(steps, "mount", R + "/escape");
    }

    @Test
    void anUnquotedModeIsReadAsWrittenNotAsAYamlOctalNumber() {
        var h = MountChecksTest.harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: tmpfs, target: /a, mode: 0644}
                      - {type: tmpfs, target: /b, mode: 700}
                      - {type: tmpfs, target: /c}
                """);
        List<Step> steps = mountSteps(h);
        assertEquals("mode=0644", arg(at(steps, "mount", R + "/a"), "data"));
        assertEquals("mode=0700", arg(at(steps, "mount", R + "/b"), "data"));
        assertEquals("mode=1777", arg(at(steps, "mount", R + "/c"), "data"), "the kernel's default");
    }

    // ------------------------------------------------------------------------------ system paths (docker's defaults)

    @Test
    void aProcMountGetsDockersReadonlyAndMaskedPathsAfterTheSpecsOwnMounts() {
        var h = MountChecksTest.harness("""
                namespaces:
                  user: {}
                  pid: {}
                  net: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: proc, target: /proc}
                      - {type: sysfs, target: /sys}
                    masks: [/proc/kcore]
                """);
        assertEquals(List.of(), h.errorCodes());
        List<String> ops = ops(mountSteps(h));
        int pivot = ops.indexOf("pivot-root " + R);
        List<String> after = ops.subList(pivot + 1, ops.size());
        // the spec's mask of /proc/kcore is not repeated; /sys/firmware and powercap are masked below the sysfs
        List<String> masks = new java.util.ArrayList<>(maskDefaults("/proc", "/sys"));
        masks.remove("mask /proc/kcore");
        assertEquals(concat(readonlyDefaults("/proc"), masks, List.of("mask /proc/kcore")), after);
        Step sys = at(mountSteps(h), "readonly-path", "/proc/sys");
        assertEquals(Stage.MOUNTS, sys.stage());
        assertTrue(sys.summary().contains("default") && sys.summary().contains("docker"), sys.summary());
        assertTrue(sys.summary().contains("systemPaths: unconfined"), "the summary names the opt-out: " + sys.summary());
        assertTrue(mountSteps(h).stream().allMatch(Ops::allowed), "readonly-path is in the op vocabulary");
    }

    @Test
    void aProcMountedElsewhereOrABindOfTheHostsProcIsCoveredWhereItIs() {
        var h = MountChecksTest.harness("""
                namespaces:
                  pid: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: proc, target: /mnt/proc}
                      - {type: bind, source: /proc, target: /hostproc}
                """);
        List<String> ops = ops(mountSteps(h));
        assertTrue(ops.containsAll(concat(readonlyDefaults("/hostproc"), readonlyDefaults("/mnt/proc"),
                maskDefaults("/hostproc", null), maskDefaults("/mnt/proc", null))), ops.toString());
        assertFalse(ops.contains("readonly-path /proc/sys"), "nothing is at /proc: " + ops);
    }

    @Test
    void withoutProcOrSysfsVisibleNoSystemPathStepsAreAdded() {
        var h = MountChecksTest.harness("""
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: tmpfs, target: /tmp}
                """);
        assertTrue(mountSteps(h).stream().noneMatch(s -> s.op().equals("readonly-path") || s.op().equals("mask")),
                ops(mountSteps(h)).toString());
    }

    @Test
    void aTmpfsCoveringTheHostsProcLeavesNothingToProtectThere() {
        var h = MountChecksTest.harness("""
                namespaces:
                  mount:
                    mounts:
                      - {type: tmpfs, target: /proc}
                """);
        List<String> ops = ops(mountSteps(h));
        assertTrue(ops.stream().noneMatch(o -> o.contains(" /proc/")), ops.toString());
        assertTrue(ops.contains("mask /sys/firmware"), "the host's /sys is still visible: " + ops);
    }

    @Test
    void systemPathsUnconfinedAddsNoStepsAndIsWarnedAtTheKey() {
        var h = MountChecksTest.harness("""
                namespaces:
                  pid: {}
                  mount:
                    systemPaths: unconfined
                    root: {type: tmpfs}
                    mounts:
                      - {type: proc, target: /proc}
                """);
        assertTrue(mountSteps(h).stream().noneMatch(s -> s.op().equals("readonly-path") || s.op().equals("mask")),
                ops(mountSteps(h)).toString());
        assertEquals(List.of("mount.system-paths-unconfined"), h.diagnostics().stream().map(d -> d.code()).toList());
        var d = h.diagnostics().get(0);
        // the harness puts apiVersion, kind and name above the body: line 4 of it is line 7
        assertEquals(List.of("7:18 mount.system-paths-unconfined"), MountChecksTest.warnings(h), "located at the systemPaths value");
        assertEquals("namespaces.mount.systemPaths", d.path());
    }

    @Test
    void systemPathsDefaultIsTheSameAsOmittingIt() {
        String body = """
                  mount:
                    root: {type: tmpfs}
                    mounts:
                      - {type: proc, target: /proc}
                """;
        var omitted = MountChecksTest.harness("namespaces:\n  pid: {}\n" + body);
        var explicit = MountChecksTest.harness("namespaces:\n  pid: {}\n" + body + "    systemPaths: default\n");
        assertEquals(ops(mountSteps(omitted)), ops(mountSteps(explicit)));
        assertEquals(List.of(), explicit.diagnostics());
    }
}
