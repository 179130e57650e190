package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Failures part-way through {@code sandbox up}, as root: each is reported as one clear line (step,
 * syscall, path, errno name; no stack trace), exits 125, and leaves nothing behind — no runtime
 * directory, no cgroup, no process, nothing {@code leakcheck} can see.
 */
class FailureIT {

    private SpecDir specs;

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "the scenarios create a cgroup and a runtime dir under /run/sandbox; they run as root (like CI)");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        if (specs == null) return;
        List<String> problems = ItHost.unmountAllUnder(specs.dir);
        specs.close();
        assertTrue(problems.isEmpty(), "cleanup: " + problems);
    }

    /** A spec named {@code name}: tmpfs root, /usr and /bin read-only, {@code mounts}, a pid namespace and a cgroup. */
    private Path spec(String name, String mounts) {
        return specs.spec(name + ".yaml", "name: " + name + "\n"
                + "namespaces:\n"
                + "  mount:\n"
                + "    root: {type: tmpfs}\n"
                + "    mounts:\n"
                + "      - {type: bind, source: /usr, target: /usr, readonly: true}\n"
                + "      - {type: bind, source: /bin, target: /bin, readonly: true}\n"
                + mounts.stripIndent().indent(6)
                + "  pid: {}\n"
                + "  cgroup: {}\n"
                + "process:\n"
                + "  command: [/bin/echo, target-ran]\n");
    }

    private static List<String> lines(String text) {
        return text.lines().filter(l -> !l.isBlank()).toList();
    }

    /** Exit 125, the target never ran, exactly one stderr line, no stack trace; returns the line. */
    private static String oneErrorLine(Cli.Result r) {
        assertEquals(125, r.exit(), r::toString);
        assertFalse(r.out().contains("target-ran"), "the target must not run: " + r);
        assertFalse(r.err().contains("Exception") || r.err().contains("\tat "), "no stack trace: " + r);
        // validation warnings (a located diagnostic and its hint) may come first; the failure is one line
        List<String> lines = new java.util.ArrayList<>(lines(r.err()));
        for (int i = lines.size() - 1; i >= 0; i--) {
            if (lines.get(i).contains(": warning[")) {
                if (i + 1 < lines.size() && lines.get(i + 1).startsWith("  hint: ")) lines.remove(i + 1);
                lines.remove(i);
            }
        }
        assertEquals(1, lines.size(), "one line on stderr besides warnings: " + r);
        return lines.get(0);
    }

    /** Nothing of sandbox {@code name} is left: runtime dir, cgroup, processes, and whatever leakcheck finds. */
    private static void assertNothingLeft(String name, Optional<Path> cgroup, Path leakBaseline) {
        assertFalse(Files.exists(Path.of("/run/sandbox", name)), "runtime dir /run/sandbox/" + name + " is left");
        cgroup.ifPresent(dir -> assertFalse(Files.exists(dir), "cgroup " + dir + " is left"));
        assertEquals(List.of(), ItHost.processesMentioning("/run/sandbox/" + name + "/").stream().map(p -> p.pid() + " " + ItHost.cmdline(p.pid())).toList(),
                "processes of the run are left");
        assertEquals(List.of(), ItHost.leaksSince(leakBaseline, name), "leakcheck");
    }

    /** Runs {@code up} (with {@code -v} when asked), checking for leaks around it. */
    private static Cli.Result upChecked(String name, Path spec, Optional<Path> cgroup, Map<String, String> env, boolean verbose) {
        Path baseline = ItHost.leakBaseline();
        Cli.Result r = verbose ? Cli.run(List.of(), env, "up", "-v", spec.toString()) : Cli.run(List.of(), env, "up", spec.toString());
        assertNothingLeft(name, cgroup, baseline);
        return r;
    }

    private static final Pattern CGROUP_CREATED = Pattern.compile("(?m)^sandbox: prepare\\s+cgroup-create\\s+[0-9.]+ ms");

    // ---------------------------------------------------------------------------------------------

    @Test
    void aMountFailingInsideTheChildExits125NamingStepSyscallPathAndErrnoAndUndoesTheCgroup() throws IOException {
        Files.createDirectories(specs.dir.resolve("ro"));
        Files.createDirectories(specs.dir.resolve("rw"));
        String name = "fsit-fail-child-mount";
        // The second bind needs a mount point below the first, read-only one: mkdir fails with EROFS in the child.
        Path spec = spec(name, """
                - {type: bind, source: ./ro, target: /ro, readonly: true}
                - {type: bind, source: ./rw, target: /ro/newdir/x}
                """);
        Optional<Path> cgroup = ItHost.plannedCgroup(spec);
        assertTrue(cgroup.isPresent(), "the spec creates a cgroup on the host");

        String line = oneErrorLine(upChecked(name, spec, cgroup, Map.of(), false));
        // paths below the new root are shown as the sandbox sees them (issue 7), with a hint naming the read-only mount
        assertTrue(Pattern.compile("^sandbox: mounts:\\d+ mount: mkdir /ro/newdir: EROFS").matcher(line).find(),
                "step (mounts:N mount), syscall (mkdir), path and errno name: " + line);
        assertTrue(line.contains("under the read-only mount at /ro"), "the hint names the read-only mount: " + line);

        // The same run, verbose: the cgroup was really created before the child failed, and still nothing is left.
        Cli.Result verbose = upChecked(name, spec, cgroup, Map.of(), true);
        assertEquals(125, verbose.exit(), verbose::toString);
        assertTrue(CGROUP_CREATED.matcher(verbose.err()).find(), "the cgroup was created: " + verbose);
        assertTrue(verbose.err().contains("mkdir /ro/newdir: EROFS"), verbose::toString);
    }

    @Test
    void anOverlayWhoseWorkDirIsOnAnotherFileSystemFailsInTheChildWithEinvalAndNothingIsLeft() throws IOException {
        Path shm = Path.of("/dev/shm");
        assumeTrue(Files.isDirectory(shm) && !Files.getFileStore(shm).equals(Files.getFileStore(specs.dir)),
                "needs /dev/shm on another file system than " + specs.dir);
        Path work = shm.resolve("fsit-fail-work-" + UUID.randomUUID());
        Files.createDirectories(specs.dir.resolve("lower"));
        Files.createDirectories(specs.dir.resolve("upper"));
        Files.createDirectories(work);
        try {
            String name = "fsit-fail-overlay";
            Path spec = spec(name, "- {type: overlay, target: /ov, lower: ./lower, upper: ./upper, work: " + work + "}\n");
            Optional<Path> cgroup = ItHost.plannedCgroup(spec);

            String line = oneErrorLine(upChecked(name, spec, cgroup, Map.of(), false));
            assertTrue(line.startsWith("sandbox: mounts:") && line.contains(" mount: fsconfig /ov: EINVAL"),
                    "step, syscall, path and errno name: " + line);
            assertTrue(line.contains("same file system"), "the hint is about overlay's rule: " + line);
        } finally {
            try (var left = Files.walk(work)) {
                for (Path p : left.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            }
        }
    }

    @Test
    void aMissingBindSourceFailsInPrepareWithEnoentBeforeAnythingIsCreated() {
        String name = "fsit-fail-missing-source";
        Path missing = specs.dir.resolve("does-not-exist");
        Path spec = spec(name, "- {type: bind, source: " + missing + ", target: /data}\n");
        Optional<Path> cgroup = ItHost.plannedCgroup(spec);

        String line = oneErrorLine(upChecked(name, spec, cgroup, Map.of(), false));
        assertTrue(line.startsWith("sandbox: prepare check-path"), line);
        assertTrue(line.contains("stat " + missing + ": ENOENT"), "syscall, path and errno name: " + line);

        Cli.Result verbose = upChecked(name, spec, cgroup, Map.of(), true);
        assertEquals(125, verbose.exit(), verbose::toString);
        assertFalse(CGROUP_CREATED.matcher(verbose.err()).find(), "the cgroup must not be created before the check: " + verbose);
        assertFalse(verbose.err().contains("unshare-user") || verbose.err().contains(" clone "), "the helper must not start: " + verbose);
    }

    @Test
    void aNonexistentHelperBinaryExits125WithAClearMessageAndTheCgroupIsUndone() {
        String name = "fsit-fail-no-helper";
        Path spec = spec(name, "");
        Optional<Path> cgroup = ItHost.plannedCgroup(spec);

        String line = oneErrorLine(upChecked(name, spec, cgroup, Map.of("SANDBOX_HELPER", "/nope"), false));
        assertTrue(line.contains("start helper") && line.contains("/nope") && line.contains("ENOENT"), line);
        assertTrue(line.contains("SANDBOX_HELPER"), "says how the helper is found: " + line);
    }

    @Test
    void aPlanThatIsNotVersion1IsRefusedBeforeAnythingIsCreated() throws IOException {
        // the runtime executes only canonical plans (PlanFile.HEADER on line 1): a helper-mode plan is not one
        Path plan = specs.write("old.plan", "enter\tunshare-user\nclone\tclone\tflags=\nfinish\texec\targ=/bin/true\n");
        Path baseline = ItHost.leakBaseline();
        ItHost.Run r = ItHost.run(HelperRun.HELPER.toString(), "run", "--plan", plan.toString());
        assertEquals(125, r.exit(), r::toString);
        assertEquals("sandbox: plan: " + plan + " (not a sandbox plan of version 1 (the first line must be '# sandbox-plan 1'))\n",
                r.err(), r::toString);
        assertEquals(List.of(), ItHost.leaksSince(baseline, "old"), "leakcheck");
    }

    @Test
    void aHelperKilledAfterEnteredExits125WithOneLineNamingTheStepAndNothingIsLeft() {
        // H says ENTERED and dies of SIGKILL at once (as an OOM kill would): the monitor names the step it was at,
        // never the uid_map hint or a broken pipe
        String name = "fsit-fail-dying-helper";
        Path spec = spec(name, "");
        Optional<Path> cgroup = ItHost.plannedCgroup(spec);

        String line = oneErrorLine(upChecked(name, spec, cgroup, Map.of("SANDBOX_CRASH_AT", "helper-entered"), false));
        assertTrue(line.matches("sandbox: helper: .*sandbox-init was killed by signal 9 during (identity|clone) \\(step \\w+:\\d+ [a-z-]+\\)"),
                "125, not the helper's 137 passed off as the target's: " + line);
    }

    @Test
    void aSecondUpOfARunningNameFailsClearlyAndLeavesTheFirstOnesStateAlone() throws IOException {
        String name = "fsit-fail-same-name";
        Path spec = specs.spec(name + ".yaml", "name: " + name + "\n"
                + Specs.isolated("", "[/bin/sh, -c, 'trap \"echo first-done; exit 0\" TERM; echo ready; while :; do sleep 0.05; done']"));
        Path runtimeDir = Path.of("/run/sandbox", name);
        Path baseline = ItHost.leakBaseline();
        try (LaunchedSandbox first = LaunchedSandbox.start("up", spec.toString())) {
            first.awaitOut("ready", java.time.Duration.ofSeconds(60));
            List<String> before;
            try (var files = Files.list(runtimeDir)) {
                before = files.map(p -> p.getFileName().toString()).sorted().toList();
            }

            Cli.Result second = Cli.run("up", spec.toString(), "--", "/bin/echo", "target-ran");
            String line = oneErrorLine(second);
            assertTrue(line.contains("'" + name + "' is running or starting"), line);
            try (var files = Files.list(runtimeDir)) {
                assertEquals(before, files.map(p -> p.getFileName().toString()).sorted().toList(), "the first run's state is untouched");
            }

            first.signal("TERM");
            assertEquals(0, first.awaitExit(java.time.Duration.ofSeconds(60)), first::toString);
            assertTrue(first.out().contains("first-done"), first::toString);
        }
        assertNothingLeft(name, ItHost.plannedCgroup(spec), baseline);
    }

    @Test
    void twoUpsOfTheSameNameStartedTogetherNeverBreakEachOther() throws Exception {
        String name = "fsit-fail-same-name-race";
        Path spec = specs.spec(name + ".yaml", "name: " + name + "\n" + Specs.isolated("", "[/bin/true]"));
        Path baseline = ItHost.leakBaseline();
        for (int round = 0; round < 3; round++) {
            var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
            try {
                var a = pool.submit(() -> Cli.run("up", spec.toString(), "--", "/bin/sh", "-c", "sleep 1; echo ran"));
                var b = pool.submit(() -> Cli.run("up", spec.toString(), "--", "/bin/sh", "-c", "sleep 1; echo ran"));
                int ok = 0;
                for (Cli.Result r : List.of(a.get(), b.get())) {
                    if (r.exit() == 0) {
                        assertEquals("ran\n", r.out(), r::toString);
                        ok++;
                    } else {
                        // the loser fails up front, clearly, and never mid-way because its state was deleted
                        assertTrue(oneErrorLine(r).contains("'" + name + "' is running or starting"), r::toString);
                    }
                }
                assertTrue(ok >= 1, "one of the two runs must succeed");
            } finally {
                pool.shutdownNow();
            }
        }
        assertNothingLeft(name, ItHost.plannedCgroup(spec), baseline);
    }

    @Test
    void anInvalidSpecIsRefusedByUpWithLocatedDiagnosticsAndNothingIsCreated() {
        String name = "fsit-fail-invalid";
        Path spec = specs.spec(name + ".yaml", "name: " + name + "\n"
                + "namespaces:\n"
                + "  mount:\n"
                + "    root: {type: tmpfs}\n"
                + "    mounts:\n"
                + "      - {type: bind, target: relative/path}\n"
                + "      - {type: tmpfs, target: /t, size: 12Q}\n"
                + "  pid: {}\n"
                + "  cgroup: {}\n"
                + "process:\n"
                + "  command: [/bin/echo, target-ran]\n");
        Path baseline = ItHost.leakBaseline();

        Cli.Result r = Cli.run("up", spec.toString());

        assertEquals(125, r.exit(), "up exits 125 when sandbox itself fails (validate would exit 1): " + r);
        assertFalse(r.out().contains("target-ran"), r::toString);
        String file = spec.toString();
        for (String code : List.of("mount.bind-without-source", "mount.relative-target", "mount.bad-size")) {
            assertTrue(Pattern.compile("(?m)^" + Pattern.quote(file) + ":\\d+:\\d+: error\\[" + Pattern.quote(code) + "]").matcher(r.err()).find(),
                    "a located diagnostic " + code + ": " + r);
        }
        assertTrue(r.err().contains("nothing was started"), r::toString);
        assertFalse(r.err().contains("Exception"), r::toString);
        assertNothingLeft(name, Optional.of(Path.of("/sys/fs/cgroup/unified/sandbox", name)), baseline);
        assertFalse(Files.exists(Path.of("/sys/fs/cgroup/sandbox", name)));
    }
}
