package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sandbox.it.ItHost.MountLine;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * namespaces.mount end to end, as root: every mount type, read-only binds (recursive), masks,
 * readonlyPaths, readonlyRoot, what stays of the host (nothing but what was mounted), and the
 * host-root mode. Each sandbox runs a small shell probe that prints {@code key=value} lines (and
 * its mountinfo as {@code mi ...} lines); the test compares them with what the spec asked.
 */
class MountsIT {

    private static final String EROFS = "Read-only file system";

    private SpecDir specs;

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "these tests mount on the host and bind host directories; they run as root (like CI)");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        if (specs == null) return;
        List<String> problems = ItHost.unmountAllUnder(specs.dir);
        specs.close();
        assertTrue(problems.isEmpty(), "cleanup: " + problems);
    }

    /**
     * A spec named {@code fsit-mounts-<name>}: a tmpfs root with {@link Specs#SYSTEM_MOUNTS}, then
     * {@code extraMounts} (entries of {@code mounts:}), {@code mountKeys} (other keys of {@code mount:}),
     * new pid/ipc/net namespaces (and a user namespace when {@code userNs}), and {@code script} for /bin/sh.
     */
    private Path spec(String name, boolean userNs, String extraMounts, String mountKeys, String script) {
        String yaml = "name: fsit-mounts-" + name + "\n"
                + "namespaces:\n"
                + (userNs ? "  user: {}\n" : "")
                + "  mount:\n"
                + "    root: {type: tmpfs}\n"
                + mountKeys.stripIndent().indent(4)
                + "    mounts:\n"
                + Specs.SYSTEM_MOUNTS
                + extraMounts.stripIndent().indent(6)
                + "  pid: {}\n"
                + "  ipc: {}\n"
                + "  net: {}\n"
                + shell(script);
        return specs.spec(name + ".yaml", yaml);
    }

    /** {@code process.command: [/bin/sh, -c, script]} as a YAML literal block. */
    static String shell(String script) {
        return "process:\n  command:\n    - /bin/sh\n    - -c\n    - |\n" + script.stripIndent().indent(6);
    }

    /** A probe function for scripts: {@code w FILE KEY} tries to write FILE and prints KEY=written or KEY=<the error>. */
    private static final String WRITE_PROBE = """
            w() { if out=$( { echo probe > "$1"; } 2>&1 ); then echo "$2=written"; else echo "$2=$out"; fi; }
            """;

    private static Cli.Result up(Path spec) {
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(0, r.exit(), () -> "sandbox up " + spec.getFileName() + " failed:\n" + r);
        return r;
    }

    /** The sandbox's own mount table, printed by {@code sed 's/^/mi /' /proc/self/mountinfo}. */
    private static List<MountLine> insideMounts(String out) {
        return ItHost.mounts(out.lines().filter(l -> l.startsWith("mi ")).map(l -> l.substring(3)).collect(Collectors.joining("\n")));
    }

    private static MountLine mountAt(List<MountLine> mounts, String point) {
        return mounts.stream().filter(m -> m.mountPoint().equals(point)).reduce((a, b) -> b)
                .orElseThrow(() -> new AssertionError("no mount at " + point + " inside: " + mounts.stream().map(MountLine::mountPoint).toList()));
    }

    /** The per-mount options (field 6) of a mountinfo line, e.g. ro,relatime. */
    private static List<String> mountOptions(MountLine m) {
        return List.of(m.line().split(" ")[5].split(","));
    }

    private Path dir(String name) throws IOException {
        return Files.createDirectories(specs.dir.resolve(name));
    }

    // ---------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "user namespace: {0}")
    @ValueSource(booleans = {true, false})
    void readonlyBindRefusesWritesWithErofsForRootInsideSubmountsIncluded(boolean userNs) throws IOException {
        Path src = dir("ro-src");
        Files.writeString(src.resolve("file.txt"), "host file\n");
        Path sub = dir("ro-src/sub");
        ItHost.must("mount", "-t", "tmpfs", "-o", "size=1M", "fsit-ro-sub", sub.toString());
        Files.writeString(sub.resolve("inner.txt"), "host submount\n");

        Path spec = spec("ro" + (userNs ? "-userns" : ""), userNs, "- {type: bind, source: ./ro-src, target: /ro, readonly: true}\n", "", WRITE_PROBE + """
                echo "uid=$(id -u)"
                echo "read=$(cat /ro/file.txt)"
                echo "read_sub=$(cat /ro/sub/inner.txt)"
                w /ro/new.txt create_top
                w /ro/file.txt overwrite_top
                w /ro/sub/new.txt create_sub
                w /ro/sub/inner.txt overwrite_sub
                echo "mkdir_sub=$(mkdir /ro/sub/d 2>&1 && echo made)"
                sed 's/^/mi /' /proc/self/mountinfo
                """);
        Cli.Result r = up(spec);
        Map<String, String> p = ItHost.probe(r.out());

        assertEquals("0", p.get("uid"), "the probe runs as root inside");
        assertEquals("host file", p.get("read"));
        assertEquals("host submount", p.get("read_sub"), "the bind is recursive: the host's submount is there");
        for (String key : List.of("create_top", "overwrite_top", "create_sub", "overwrite_sub", "mkdir_sub")) {
            assertTrue(p.get(key).contains(EROFS), key + " must fail with EROFS, got: " + p.get(key) + "\n" + r);
        }
        List<MountLine> inside = insideMounts(r.out());
        assertTrue(mountOptions(mountAt(inside, "/ro")).contains("ro"), "/ro is mounted ro: " + mountAt(inside, "/ro").line());
        assertTrue(mountOptions(mountAt(inside, "/ro/sub")).contains("ro"), "/ro/sub is mounted ro: " + mountAt(inside, "/ro/sub").line());

        assertEquals("host file\n", Files.readString(src.resolve("file.txt")));
        assertEquals("host submount\n", Files.readString(sub.resolve("inner.txt")));
        assertFalse(Files.exists(src.resolve("new.txt")));
        assertFalse(Files.exists(sub.resolve("new.txt")));
        // the host's own submount stays writable: read-only applied to the sandbox's copy only
        Files.writeString(sub.resolve("host-write.txt"), "ok");
    }

    @Test
    void readWriteBindWritesAreVisibleOnTheHostAndHostFilesInside() throws IOException {
        Path src = dir("rw-src");
        Files.writeString(src.resolve("from-host.txt"), "written on the host\n");
        Path spec = spec("rw", true, "- {type: bind, source: ./rw-src, target: /rw}\n", "", """
                echo "host_file=$(cat /rw/from-host.txt)"
                echo "written inside" > /rw/from-inside.txt && echo "write=ok"
                mkdir /rw/dir-inside && echo "mkdir=ok"
                """);
        Map<String, String> p = ItHost.probe(up(spec).out());

        assertEquals("written on the host", p.get("host_file"));
        assertEquals("ok", p.get("write"));
        assertEquals("ok", p.get("mkdir"));
        assertEquals("written inside\n", Files.readString(src.resolve("from-inside.txt")));
        assertTrue(Files.isDirectory(src.resolve("dir-inside")));
        assertEquals(0, (int) Files.getAttribute(src.resolve("from-inside.txt"), "unix:uid"), "root inside is root outside (uid_map 0 0 1)");
    }

    @Test
    void tmpfsHasTheSizeAndModeTheSpecAskedAndTheKernelDefaultsOtherwise() {
        Path spec = spec("tmpfs", true, """
                - {type: tmpfs, target: /sized, size: 8M, mode: "0710"}
                - {type: tmpfs, target: /plain}
                """, "", """
                echo "sized_type=$(stat -f -c %T /sized)"
                echo "sized_mode=$(stat -c %a /sized)"
                echo "sized_blocks=$(stat -f -c '%b %S' /sized)"
                echo "plain_type=$(stat -f -c %T /plain)"
                echo "plain_mode=$(stat -c %a /plain)"
                echo "plain_write=$(echo x > /plain/f && echo ok)"
                """);
        Map<String, String> p = ItHost.probe(up(spec).out());

        assertEquals("tmpfs", p.get("sized_type"));
        assertEquals("710", p.get("sized_mode"));
        String[] blocks = p.get("sized_blocks").split(" ");
        assertEquals(8L << 20, Long.parseLong(blocks[0]) * Long.parseLong(blocks[1]), "size: 8M is 8 MiB (statfs blocks * block size)");
        assertEquals("tmpfs", p.get("plain_type"));
        assertEquals("1777", p.get("plain_mode"), "the kernel's default mode");
        assertEquals("ok", p.get("plain_write"));
    }

    @Test
    void procSysfsDevptsAndMqueueAreFreshInstancesOfTheSandboxsNamespaces() {
        Path spec = spec("vfs", true, """
                - {type: sysfs, target: /sys}
                - {type: devpts, target: /pts}
                - {type: mqueue, target: /mq}
                """, "", """
                for d in proc sys pts mq; do echo "type_$d=$(stat -f -c %T /$d)"; done
                echo "pid1=$(cat /proc/1/comm)"
                echo "self=$$"
                echo "net=$(ls /sys/class/net | tr '\\n' ' ')"
                echo "pts=$(ls -A /pts | tr '\\n' ' ')"
                echo "mq=$(ls -A /mq | wc -l)"
                """);
        Map<String, String> p = ItHost.probe(up(spec).out());

        assertEquals("proc", p.get("type_proc"));
        assertEquals("sysfs", p.get("type_sys"));
        assertEquals("devpts", p.get("type_pts"));
        assertEquals("mqueue", p.get("type_mq"));
        assertEquals("1", p.get("self"), "the probe is PID 1 of its own pid namespace, and /proc is that namespace's");
        assertEquals("sh", p.get("pid1"));
        assertEquals("lo", p.get("net").strip(), "sysfs shows the sandbox's network namespace: only lo");
        assertEquals("ptmx", p.get("pts").strip(), "a new devpts instance holds no host ptys");
        assertEquals("0", p.get("mq"), "a new IPC namespace has no message queues");
    }

    @Test
    void overlayReadsLowerAndWritesLandInUpperOnTheHost() throws IOException {
        Path lower = dir("ov-lower");
        dir("ov-upper");
        dir("ov-work");
        Files.writeString(lower.resolve("l.txt"), "lower\n");
        Path spec = spec("overlay", true, "- {type: overlay, target: /ov, lower: ./ov-lower, upper: ./ov-upper, work: ./ov-work}\n", "", """
                echo "type=$(stat -f -c %T /ov)"
                echo "read=$(cat /ov/l.txt)"
                echo new > /ov/new.txt && echo "create=ok"
                echo changed > /ov/l.txt && echo "copy_up=ok"
                """);
        Map<String, String> p = ItHost.probe(up(spec).out());

        assertEquals("overlayfs", p.get("type"));
        assertEquals("lower", p.get("read"));
        assertEquals("ok", p.get("create"));
        assertEquals("ok", p.get("copy_up"));
        Path upper = specs.dir.resolve("ov-upper");
        assertEquals("new\n", Files.readString(upper.resolve("new.txt")), "a new file lands in upper");
        assertEquals("changed\n", Files.readString(upper.resolve("l.txt")), "a changed lower file is copied up");
        assertEquals("lower\n", Files.readString(lower.resolve("l.txt")), "lower is untouched");
        assertFalse(Files.exists(lower.resolve("new.txt")));
    }

    @Test
    void minimalDevHoldsExactlyTheDocumentedEntriesAndTheDevicesWork() {
        Path spec = spec("dev", true, "", "", WRITE_PROBE + """
                echo "entries=$(ls -A /dev | tr '\\n' ' ')"
                w /dev/null null_write
                echo "zero=$(head -c 8 /dev/zero | od -An -tx1 | tr -d ' \\n')"
                echo "urandom=$(head -c 16 /dev/urandom | wc -c)"
                echo "full_write=$(head -c 1 /dev/zero 2>&1 > /dev/full)"
                echo "null_dev=$(stat -c %t:%T /dev/null)"
                for l in ptmx fd stdin stdout stderr; do echo "link_$l=$(readlink /dev/$l)"; done
                echo "pts_type=$(stat -f -c %T /dev/pts)"
                echo "shm_type=$(stat -f -c %T /dev/shm)"
                echo "shm_write=$(echo x > /dev/shm/f && echo ok)"
                """);
        Map<String, String> p = ItHost.probe(up(spec).out());

        assertEquals(new TreeSet<>(List.of("null", "zero", "full", "random", "urandom", "tty", "pts", "ptmx", "shm", "fd", "stdin", "stdout", "stderr")),
                new TreeSet<>(List.of(p.get("entries").trim().split(" "))), "exactly the documented /dev entries");
        assertEquals("written", p.get("null_write"));
        assertEquals("0000000000000000", p.get("zero"));
        assertEquals("16", p.get("urandom").strip());
        assertTrue(p.get("full_write").contains("No space left on device"), p.get("full_write"));
        assertEquals("1:3", p.get("null_dev"), "the host's /dev/null (1:3), bound in");
        assertEquals("pts/ptmx", p.get("link_ptmx"));
        assertEquals("/proc/self/fd", p.get("link_fd"));
        assertEquals("/proc/self/fd/0", p.get("link_stdin"));
        assertEquals("/proc/self/fd/1", p.get("link_stdout"));
        assertEquals("/proc/self/fd/2", p.get("link_stderr"));
        assertEquals("devpts", p.get("pts_type"));
        assertEquals("tmpfs", p.get("shm_type"));
        assertEquals("ok", p.get("shm_write"));
    }

    @Test
    void masksReadEmptyAndRefuseWritesForAFileAndADirectory() throws IOException {
        Path data = dir("mask-data");
        Files.writeString(data.resolve("secret.txt"), "secret\n");
        Files.writeString(data.resolve("public.txt"), "public\n");
        Path secretDir = dir("mask-data/secretdir");
        Files.writeString(secretDir.resolve("inner.txt"), "inner secret\n");
        Path spec = spec("masks", true, "- {type: bind, source: ./mask-data, target: /data}\n",
                "masks: [/data/secret.txt, /data/secretdir, /data/does-not-exist]\n", WRITE_PROBE + """
                echo "file=[$(cat /data/secret.txt)]"
                echo "file_size=$(stat -c %s /data/secret.txt)"
                w /data/secret.txt file_write
                echo "dir=[$(ls -A /data/secretdir)]"
                w /data/secretdir/new.txt dir_create
                w /data/secretdir/inner.txt dir_overwrite
                echo "public=$(cat /data/public.txt)"
                w /data/public-new.txt unmasked_write
                echo "missing=$(test -e /data/does-not-exist && echo exists || echo absent)"
                """);
        Map<String, String> p = ItHost.probe(up(spec).out());

        assertEquals("[]", p.get("file"), "a masked file reads empty");
        assertEquals("0", p.get("file_size"));
        assertTrue(p.get("file_write").contains(EROFS), "writing a masked file: " + p.get("file_write"));
        assertEquals("[]", p.get("dir"), "a masked directory is empty");
        assertTrue(p.get("dir_create").contains(EROFS), "creating in a masked directory: " + p.get("dir_create"));
        assertTrue(p.get("dir_overwrite").contains(EROFS), "a masked directory's old file is not there to write: " + p.get("dir_overwrite"));
        assertEquals("public", p.get("public"), "an unmasked file of the same bind is still there");
        assertEquals("written", p.get("unmasked_write"), "the bind itself stays writable");
        assertEquals("absent", p.get("missing"), "a mask of a missing path is skipped, not created");

        assertEquals("secret\n", Files.readString(data.resolve("secret.txt")), "the host's file is untouched");
        assertEquals("inner secret\n", Files.readString(secretDir.resolve("inner.txt")));
        assertFalse(Files.exists(secretDir.resolve("new.txt")));
        assertFalse(Files.exists(data.resolve("does-not-exist")));
        assertFalse(ItHost.isMountPoint(data.resolve("secret.txt")), "no mask reached the host");
        assertFalse(ItHost.isMountPoint(secretDir), "no mask reached the host");
    }

    @Test
    void readonlyPathsMakeProcSysReadOnlyAndLeaveTheRestOfProcWritable() {
        Path spec = spec("ropaths", true, "", "readonlyPaths: [/proc/sys]\n", WRITE_PROBE + """
                w /proc/sys/kernel/ns_last_pid sys_write
                printf renamed > /proc/$$/comm && echo "comm=$(cat /proc/$$/comm)"
                sed 's/^/mi /' /proc/self/mountinfo
                """);
        Cli.Result r = up(spec);
        Map<String, String> p = ItHost.probe(r.out());

        assertTrue(p.get("sys_write").contains(EROFS), "/proc/sys is read-only: " + p.get("sys_write"));
        assertEquals("renamed", p.get("comm"), "the rest of /proc stays writable");
        List<MountLine> inside = insideMounts(r.out());
        assertTrue(mountOptions(mountAt(inside, "/proc/sys")).contains("ro"), mountAt(inside, "/proc/sys").line());
        assertTrue(mountOptions(mountAt(inside, "/proc")).contains("rw"), mountAt(inside, "/proc").line());
    }

    @Test
    void readonlyRootRefusesWritesToSlashButMountsOnItKeepTheirOwnFlags() {
        Path spec = spec("roroot", true, "- {type: tmpfs, target: /scratch}\n", "readonlyRoot: true\n", WRITE_PROBE + """
                w /new-file root_write
                echo "root_mkdir=$(mkdir /new-dir 2>&1 && echo made)"
                w /scratch/file scratch_write
                sed 's/^/mi /' /proc/self/mountinfo
                """);
        Cli.Result r = up(spec);
        Map<String, String> p = ItHost.probe(r.out());

        assertTrue(p.get("root_write").contains(EROFS), p.get("root_write"));
        assertTrue(p.get("root_mkdir").contains(EROFS), p.get("root_mkdir"));
        assertEquals("written", p.get("scratch_write"), "a tmpfs mounted on the read-only root stays writable");
        assertTrue(mountOptions(mountAt(insideMounts(r.out()), "/")).contains("ro"));
    }

    @Test
    void theOldRootIsNotReachableAndOnlyWhatWasMountedIsThere() throws IOException {
        // A marker in a host directory that the spec does not mount.
        String marker = "fsit-marker-" + UUID.randomUUID();
        Path hidden = dir("not-mounted");
        Path markerFile = Files.writeString(hidden.resolve(marker), "host only\n");
        Path spec = spec("oldroot", true, "", "", """
                echo "direct=$(test -e %s && echo reachable || echo absent)"
                echo "found=[$(find / \\( -path /proc -o -path /sys \\) -prune -o -name %s -print 2>/dev/null)]"
                echo "run=$(test -e /run && echo exists || echo absent)"
                sed 's/^/mi /' /proc/self/mountinfo
                """.formatted(markerFile, marker));
        Cli.Result r = up(spec);
        Map<String, String> p = ItHost.probe(r.out());

        assertEquals("absent", p.get("direct"), "the marker's host path does not exist inside");
        assertEquals("[]", p.get("found"), "the marker is nowhere in the sandbox's tree");
        assertEquals("absent", p.get("run"), "the host's /run (and the runtime dir in it) is not there");

        Set<String> expected = Set.of("/", "/usr", "/bin", "/lib", "/lib64", "/proc", "/dev", "/dev/null", "/dev/zero", "/dev/full",
                "/dev/random", "/dev/urandom", "/dev/tty", "/dev/pts", "/dev/shm");
        // also allowed: the default system paths on the proc (docker's read-only and masked ones, where this kernel has them)
        Set<String> systemPaths = Stream.of("bus", "fs", "irq", "sys", "sysrq-trigger", "asound", "acpi", "interrupts", "kcore", "keys",
                "latency_stats", "timer_list", "timer_stats", "sched_debug", "scsi").map(sp -> "/proc/" + sp).collect(Collectors.toSet());
        // The binds are recursive: submounts the host has below /usr come along (none on most hosts).
        Set<String> hostUsrSubmounts = ItHost.hostMounts().stream().map(MountLine::mountPoint).filter(m -> m.startsWith("/usr/")).collect(Collectors.toSet());
        List<String> unexpected = new ArrayList<>();
        for (MountLine m : insideMounts(r.out())) {
            if (!expected.contains(m.mountPoint()) && !systemPaths.contains(m.mountPoint()) && !hostUsrSubmounts.contains(m.mountPoint())) {
                unexpected.add(m.line());
            }
        }
        assertTrue(unexpected.isEmpty(), "mounts inside that the spec did not ask for: " + unexpected);
        assertEquals(expected, insideMounts(r.out()).stream().map(MountLine::mountPoint).filter(expected::contains).collect(Collectors.toSet()),
                "every mount the spec asked for is there");
        assertEquals(1, insideMounts(r.out()).stream().filter(m -> m.mountPoint().equals("/")).count(), "one root, nothing stacked on it");
    }

    @ParameterizedTest(name = "user namespace: {0}")
    @ValueSource(booleans = {true, false})
    void hostRootModeWithProcAndTmpfsLeavesTheHostsMountsUntouched(boolean userNs) throws IOException {
        Path scratch = dir("hostroot-scratch");
        List<String> before = comparableHostMounts();
        long procMountsBefore = ItHost.hostMounts().stream().filter(m -> m.fsType().equals("proc")).count();
        Path spec = specs.spec("hostroot.yaml", "name: fsit-mounts-hostroot" + (userNs ? "-userns" : "") + "\n"
                + "namespaces:\n"
                + (userNs ? "  user: {}\n" : "")
                + "  mount:\n"
                + "    mounts:\n"
                + "      - {type: proc, target: /proc}\n"
                + "      - {type: tmpfs, target: " + scratch + "}\n"
                + "  pid: {}\n"
                + shell("""
                        echo "pid1=$(cat /proc/1/comm)"
                        echo "self=$$"
                        echo "host_fs=$(test -e /etc/os-release && echo visible)"
                        echo "scratch_type=$(stat -f -c %%T %1$s)"
                        echo inside > %1$s/inside.txt && echo "scratch_write=ok"
                        """.formatted(scratch)));
        Map<String, String> p = ItHost.probe(up(spec).out());

        assertEquals("1", p.get("self"), "a new proc: the probe is PID 1 of its pid namespace");
        assertEquals("sh", p.get("pid1"));
        assertEquals("visible", p.get("host_fs"), "without a root the sandbox sees the host's file systems");
        assertEquals("tmpfs", p.get("scratch_type"));
        assertEquals("ok", p.get("scratch_write"));

        assertFalse(ItHost.isMountPoint(scratch), "the sandbox's tmpfs did not reach the host");
        try (Stream<Path> left = Files.list(scratch)) {
            assertEquals(List.of(), left.toList(), "the write went to the sandbox's tmpfs, not the host directory");
        }
        List<String> after = comparableHostMounts();
        assertEquals(before, after, "the host's mount table (propagation included) is unchanged");
        assertEquals(procMountsBefore, ItHost.hostMounts().stream().filter(m -> m.fsType().equals("proc")).count(), "no new proc mount on the host");
    }

    /**
     * The host's mount table, whole lines (mount ids, options, shared:N/master:N), except what other
     * test runs on this machine may mount or unmount meanwhile: named network namespaces and other
     * temporary directories under /tmp (this test's own directory is kept).
     */
    private List<String> comparableHostMounts() {
        String mine = specs.dir.toString();
        return ItHost.hostMounts().stream()
                .filter(m -> !m.mountPoint().startsWith("/run/netns") && !m.fsType().equals("nsfs"))
                .filter(m -> !m.mountPoint().startsWith("/tmp/") || m.mountPoint().startsWith(mine))
                .map(MountLine::line).toList();
    }
}
