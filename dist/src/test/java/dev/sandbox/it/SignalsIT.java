package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Signals sent to {@code sandbox up} (the controller's JVM: {@code bin/sandbox} execs java, so the
 * process the test starts is the JVM) while the target runs: forwarded to the target, escalated to
 * SIGKILL after {@code --stop-timeout} for a PID 1 that ignores them, and a SIGKILLed controller takes
 * the sandbox with it. Each target prints {@code ready} once it runs; the tests wait for that line.
 */
class SignalsIT {

    static final Duration READY = Duration.ofSeconds(60);
    /** An upper bound against hangs, not a speed requirement. */
    static final Duration END = Duration.ofSeconds(60);

    private SpecDir specs;
    private final List<String> names = new ArrayList<>();
    private final List<AutoCloseable> cleanups = new ArrayList<>();

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "the specs create namespaces and a cgroup; that needs root (like CI)");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (int i = cleanups.size() - 1; i >= 0; i--) cleanups.get(i).close();
        if (specs != null) specs.close();
        for (String name : names) {
            ItHost.assertNothingLeftOf(name);
        }
    }

    private Path spec(String name, String body) {
        names.add(name);
        return specs.spec(name + ".yaml", body);
    }

    /** Starts {@code up ARGS}, registers it for clean-up, waits for the target's {@code ready} and checks the pid is the monitor. */
    private LaunchedSandbox startReady(String... args) {
        LaunchedSandbox run = LaunchedSandbox.start(args);
        cleanups.add(run);
        run.awaitOut("ready", READY);
        assertTrue(ItHost.cmdline(run.pid()).contains("sandbox-init run "),
                "the started process is not the monitor (the launcher execs it once the JVM handed the plan over): " + ItHost.cmdline(run.pid()));
        return run;
    }

    // ------------------------------------------------------------------------------ forwarding

    @Test
    void sigtermReachesATargetThatTrapsItAndItsExit0IsUps() {
        Path spec = spec("sgit-trap", Specs.isolated("",
                "[/bin/sh, -c, 'trap \"echo got-term; exit 0\" TERM; echo ready; while :; do sleep 0.1; done']"));
        LaunchedSandbox run = startReady("up", spec.toString());
        run.signal("TERM");
        assertEquals(0, run.awaitExit(END), run::toString);
        assertTrue(run.out().lines().anyMatch("got-term"::equals), "the target's trap did not run:\n" + run);
    }

    /**
     * Regression: the controller installed its signal handlers only after it had released the target,
     * so a SIGTERM right after the target's first output killed the JVM instead (exit 143, the target
     * SIGKILLed by the helper, its trap never run) or, inside Signal.handle, was lost. Sent as soon as
     * {@code ready} shows (polled every millisecond), ten times.
     */
    @RepeatedTest(value = 10, name = "run {currentRepetition} of {totalRepetitions}")
    void sigtermAsSoonAsTheTargetRunsIsForwardedNotLost() {
        Path spec = spec("sgit-early", """
                process:
                  command: [/bin/sh, -c, 'trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.05; done']
                """);
        LaunchedSandbox run = LaunchedSandbox.start("up", spec.toString());
        cleanups.add(run);
        run.awaitOut("ready", READY, 1);
        run.signal("TERM");
        assertEquals(0, run.awaitExit(END), run::toString);
        assertTrue(run.out().lines().anyMatch("got-term"::equals), "the target's trap did not run:\n" + run);
    }

    @Test
    void aPid1WithoutHandlersIgnoresSigtermAndIsKilledAfterTheStopTimeout() {
        // sleep is PID 1 of the new pid namespace: the kernel drops signals it has no handler for
        Path spec = spec("sgit-pid1", Specs.isolated("", "[/bin/sh, -c, 'echo ready; exec sleep 60']"));
        LaunchedSandbox run = startReady("up", "--stop-timeout", "1", spec.toString());
        run.signal("TERM");
        assertEquals(137, run.awaitExit(END), "expected SIGKILL after the stop timeout:\n" + run);
        // regression: the escalation was silent
        assertTrue(run.err().contains("sandbox: the target did not stop within 1 s of SIGTERM; sent SIGKILL\n"), run::toString);
    }

    @ParameterizedTest(name = "SIG{0} → {1}")
    @CsvSource({"TERM, 143", "HUP, 129"})
    void underInitTheSignalKillsTheTargetAndUpExits128PlusN(String signal, int expected) {
        Path spec = spec("sgit-init-" + signal.toLowerCase(), Specs.isolated("", "[/bin/sh, -c, 'echo ready; exec sleep 60']")
                .replace("  pid: {}\n", "  pid: {init: true}\n"));
        LaunchedSandbox run = startReady("up", spec.toString());
        run.signal(signal);
        assertEquals(expected, run.awaitExit(END), run::toString);
    }

    // ------------------------------------------------------------------------------ process.timeout

    @Test
    void whenTheTimeoutExpiresTheTargetGetsSigtermAndUpExits124() {
        // no pid namespace: sleep dies of the SIGTERM
        Path spec = spec("sgit-timeout-term", "namespaces:\n  uts: {}\nprocess:\n  command: [/bin/sleep, \"60\"]\n  timeout: 1\n");
        long start = System.nanoTime();
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(124, r.exit(), r::toString);
        assertTrue(Duration.ofNanos(System.nanoTime() - start).compareTo(Duration.ofSeconds(30)) < 0, "not the 60 s of the target: " + r);
        assertEquals("sandbox: timed out after 1 s; the target stopped on SIGTERM\n", r.err(), r::toString);
    }

    @Test
    void aPid1ThatIgnoresSigtermIsKilledAfterTheStopTimeoutAndUpStillExits124() {
        Path spec = spec("sgit-timeout-kill", "namespaces:\n  pid: {}\nprocess:\n  command: [/bin/sleep, \"60\"]\n  timeout: 1\n");
        Cli.Result r = Cli.run("up", "--stop-timeout", "1", spec.toString());
        assertEquals(124, r.exit(), r::toString);
        assertEquals("sandbox: timed out after 1 s; sent SIGKILL after 1 s\n", r.err(), r::toString);
    }

    @Test
    void aTargetThatEndsInTimeIsNotTouchedByTheTimeout() {
        Path spec = spec("sgit-timeout-none", "namespaces:\n  uts: {}\nprocess:\n  command: [/bin/sh, -c, 'exit 5']\n  timeout: 30\n");
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(5, r.exit(), r::toString);
        assertEquals("", r.err(), r::toString);
    }

    // ------------------------------------------------------------------------------ SIGKILL

    @Test
    void aSigkilledControllerTakesTheSandboxWithItAndTheNameCanBeUsedAgain() throws IOException {
        String name = "sgit-killed";
        Path spec = spec(name, Specs.isolated("", "[/bin/sh, -c, 'echo ready; exec sleep 60']"));
        Optional<Path> cgroup = ItHost.plannedCgroup(spec);
        Path runtimeDir = Path.of("/run/sandbox", name);
        Map<Long, ProcessHandle> sandboxProcesses = new LinkedHashMap<>();
        try {
            LaunchedSandbox run = startReady("up", spec.toString());
            // the sandbox's processes: the helper and its children (every descendant of the JVM), the pid
            // in the runtime state, and whatever is in the sandbox's cgroup
            List<Long> pids = new ArrayList<>();
            run.descendants().forEach(p -> pids.add(p.pid()));
            pids.add(Long.parseLong(Files.readString(runtimeDir.resolve("pid")).strip()));
            cgroup.ifPresent(dir -> pids.addAll(procs(dir)));
            // handles, not bare pids: a handle never kills a later process that got the same pid
            for (long pid : pids) ProcessHandle.of(pid).ifPresent(h -> sandboxProcesses.put(pid, h));
            Set<Long> sandboxPids = sandboxProcesses.keySet();
            assertTrue(sandboxPids.size() >= 2, "expected the helper and the target below the JVM: " + sandboxPids);

            run.signal("KILL");
            assertEquals(137, run.awaitExit(END), run::toString);
            long deadline = System.nanoTime() + END.toNanos();
            while (!alive(sandboxPids).isEmpty() && System.nanoTime() < deadline) ItHost.sleepMs(20);
            assertEquals(Set.of(), alive(sandboxPids), "the sandbox's processes outlived its controller");
            cgroup.ifPresent(dir -> assertEquals(List.of(), procs(dir), dir + " still has processes"));

            // the killed controller could not clean up; the next 'up' of the same name must do it
            boolean staleState = Files.exists(runtimeDir);
            Cli.Result again = Cli.run("up", spec.toString(), "--", "/bin/echo", "second-run");
            assertEquals(0, again.exit(), "stale state " + (staleState ? "present" : "absent") + "; " + again);
            assertEquals("second-run\n", again.out(), again::toString);
            assertFalse(Files.exists(runtimeDir), runtimeDir + " is left after the second run");
            cgroup.ifPresent(dir -> assertFalse(Files.exists(dir), dir + " is left after the second run"));
        } finally {
            // only what this test's run started, by pid; then its state, if a failure left it
            for (long pid : alive(sandboxProcesses.keySet())) sandboxProcesses.get(pid).destroyForcibly();
            cgroup.filter(Files::isDirectory).filter(dir -> procs(dir).isEmpty()).ifPresent(dir -> ItHost.run("rmdir", dir.toString()));
            if (Files.exists(runtimeDir) && alive(sandboxProcesses.keySet()).isEmpty()) deleteTree(runtimeDir);
        }
    }

    /** The pids in a cgroup's cgroup.procs. */
    private static List<Long> procs(Path cgroup) {
        try {
            return Files.readAllLines(cgroup.resolve("cgroup.procs")).stream().filter(l -> !l.isBlank()).map(l -> Long.parseLong(l.strip())).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /** Those of {@code pids} that still run (a zombie counts as gone: it is only waiting to be reaped). */
    private static Set<Long> alive(Set<Long> pids) {
        return pids.stream().filter(pid -> {
            try {
                String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
                return !stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
            } catch (IOException e) {
                return false;
            }
        }).collect(Collectors.toCollection(LinkedHashSet::new));
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
