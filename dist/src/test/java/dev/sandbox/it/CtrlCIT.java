package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Ctrl-C typed on a real pty ({@link PtyRun}) while {@code sandbox up} runs in its foreground: the
 * terminal sends SIGINT to the whole foreground group, the JVM, the helper and (unless it left the
 * group) the target. The helper forwards it only where the target could not get it itself (a PID 1
 * of a pid namespace without a handler, a target in a new session), then SIGKILLs after
 * {@code --stop-timeout}, or at once on a second Ctrl-C; every other target gets it exactly once.
 * Durations are guards against hangs (the targets sleep 60 s), not speed requirements.
 */
class CtrlCIT {

    static final Duration READY = Duration.ofSeconds(60);
    static final Duration END = Duration.ofSeconds(60);
    /** Far below the targets' 60 s sleep: the run ended because of the Ctrl-C. */
    static final Duration PROMPTLY = Duration.ofSeconds(25);

    /** A SIGINT trap that counts; it keeps running 2 s after the first one (a second copy would be counted), then prints the count and exits 3. */
    static final String COUNTING_TRAP = "[/bin/sh, -c, 'n=0; trap ''n=$((n+1))'' INT; echo ready; while [ $n -eq 0 ]; do sleep 0.05 & wait $!; done; "
            + "end=$(($(date +%s)+2)); while [ $(date +%s) -lt $end ]; do sleep 0.05 & wait $!; done; echo total-$n; exit 3']";

    /** The targets exec it after printing ready (until then dash, run with -c, catches SIGINT itself). */
    static final String SLEEP = "sleep";

    private SpecDir specs;
    private final List<String> names = new ArrayList<>();
    private final List<AutoCloseable> cleanups = new ArrayList<>();

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "the specs create namespaces; that needs root (like CI)");
        assumeTrue(Files.isExecutable(Path.of(PtyRun.SCRIPT)), "script(1) from util-linux is missing");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (int i = cleanups.size() - 1; i >= 0; i--) cleanups.get(i).close();
        if (specs != null) specs.close();
        for (String name : names) ItHost.assertNothingLeftOf(name);
    }

    private Path spec(String name, String body) {
        names.add(name);
        return specs.spec(name + ".yaml", body);
    }

    private PtyRun up(String args) {
        PtyRun run = PtyRun.start(Cli.DIST.resolve("bin/sandbox") + " up " + args);
        cleanups.add(run);
        return run;
    }

    @Test
    void ctrlCStopsAPid1WithoutHandlersAfterTheStopTimeoutAndSaysSo() {
        // regression: the kernel drops the terminal's SIGINT for a handler-less PID 1, nobody forwarded it, up ran 60 s and returned 0
        Path spec = spec("ctrlc-pid1", "namespaces:\n  pid: {}\nprocess:\n  command: [/bin/sh, -c, 'echo ready; exec sleep 60']\n");
        PtyRun run = up("--stop-timeout 1 " + spec);
        run.awaitOut("ready", READY);
        run.awaitProgram(SLEEP, READY);
        long typed = System.nanoTime();
        run.type("\u0003");
        assertEquals(137, run.awaitExit(END), "SIGKILL after the stop timeout:\n" + run);
        assertTrue(Duration.ofNanos(System.nanoTime() - typed).compareTo(PROMPTLY) < 0, "not the 60 s of the target:\n" + run);
        assertTrue(run.out().contains("sandbox: the target did not stop within 1 s of SIGINT; sent SIGKILL"), run::toString);
        assertEquals(1, PtyRun.count(run.out(), "sandbox: "), "one line from sandbox:\n" + run);
    }

    @Test
    void aSecondCtrlCKillsAtOnce() {
        Path spec = spec("ctrlc-twice", "namespaces:\n  pid: {}\nprocess:\n  command: [/bin/sh, -c, 'echo ready; exec sleep 60']\n");
        PtyRun run = up("--stop-timeout 60 " + spec);
        run.awaitOut("ready", READY);
        run.awaitProgram(SLEEP, READY);
        long typed = System.nanoTime();
        run.type("\u0003");
        ItHost.sleepMs(300);
        run.type("\u0003");
        assertEquals(137, run.awaitExit(END), run::toString);
        assertTrue(Duration.ofNanos(System.nanoTime() - typed).compareTo(PROMPTLY) < 0, "not the 60 s stop timeout:\n" + run);
        assertTrue(run.out().contains("sandbox: sent SIGKILL on a second SIGINT"), run::toString);
    }

    @Test
    void aTargetThatIgnoresSigintIsStoppedAndASecondCtrlCKillsIt() {
        // found by trying it: `trap "" INT` made two Ctrl-C do nothing, up ran to the end and exited 0
        Path spec = spec("ctrlc-ignored", "namespaces:\n  pid: {}\nprocess:\n  command: [/bin/sh, -c, 'trap \"\" INT; echo ready; sleep 60']\n");
        PtyRun run = up("--stop-timeout 60 " + spec);
        run.awaitOut("ready", READY);
        run.awaitProgram(SLEEP, READY);
        long typed = System.nanoTime();
        run.type("\u0003");
        ItHost.sleepMs(300);
        run.type("\u0003");
        assertEquals(137, run.awaitExit(END), run::toString);
        assertTrue(Duration.ofNanos(System.nanoTime() - typed).compareTo(PROMPTLY) < 0, "not the 60 s of the target:\n" + run);
        assertTrue(run.out().contains("sandbox: sent SIGKILL on a second SIGINT"), run::toString);
    }

    @Test
    void aTargetThatGetsCtrlCItselfDiesOfItAndUpExits130() {
        // no pid namespace: the terminal's SIGINT kills the target; nothing to forward, no stop timeout
        Path spec = spec("ctrlc-plain", "namespaces:\n  uts: {}\nprocess:\n  command: [/bin/sh, -c, 'echo ready; exec sleep 60']\n");
        PtyRun run = up("--stop-timeout 60 " + spec);
        run.awaitOut("ready", READY);
        run.type("\u0003");
        assertEquals(130, run.awaitExit(END), run::toString);
        assertFalse(run.out().contains("sandbox: "), run::toString);
    }

    @Test
    void ctrlBackslashReachesTheTargetAndPrintsNoJvmThreadDump() {
        // regression: HotSpot owns SIGQUIT and printed a full thread dump of up's JVM into the terminal
        Path spec = spec("ctrlc-quit", "namespaces:\n  uts: {}\nprocess:\n  command: [/bin/sh, -c, 'echo ready; exec sleep 60']\n");
        PtyRun run = up(spec.toString());
        run.awaitOut("ready", READY);
        run.awaitProgram(SLEEP, READY);
        run.type("\u001c");
        assertEquals(128 + 3, run.awaitExit(END), run::toString);
        assertFalse(run.out().contains("thread dump"), run::toString);
    }

    /**
     * Regression: with stdin not a terminal (new session) the JVM and the helper both forwarded the
     * terminal's SIGINT, and the trap ran twice. Each layout, stdin a terminal or not: exactly one.
     */
    @ParameterizedTest(name = "{0}, stdin {1}")
    @CsvSource({
            "'pid: {init: true}', terminal",
            "'pid: {init: true}', /dev/null",
            "'pid: {}', terminal",
            "'pid: {}', /dev/null",
            "'uts: {}', terminal",
            "'uts: {}', /dev/null"})
    void aTargetWithASigintHandlerGetsCtrlCExactlyOnce(String namespace, String stdin) {
        String name = "ctrlc-trap" + (namespace.contains("init") ? "-init" : namespace.startsWith("pid") ? "-pid" : "-nopid")
                + (stdin.equals("terminal") ? "-tty" : "-null");
        Path spec = spec(name, "namespaces:\n  " + namespace + "\nprocess:\n  command: " + COUNTING_TRAP + "\n");
        PtyRun run = up(spec + (stdin.equals("terminal") ? "" : " </dev/null"));
        run.awaitOut("ready", READY);
        run.type("\u0003");
        assertEquals(3, run.awaitExit(END), run::toString);
        assertTrue(run.out().contains("total-1"), "exactly one SIGINT:\n" + run);
    }

    @Test
    void killIntOfAForegroundUpIsForwardedToo() {
        // the monitor can't tell a kill from the terminal's SIGINT; the helper can (it got no terminal one)
        Path spec = spec("ctrlc-kill-int", "namespaces:\n  pid: {}\nprocess:\n  command: [/bin/sh, -c, 'echo ready; exec sleep 60']\n");
        PtyRun run = up("--stop-timeout 1 " + spec);
        run.awaitOut("ready", READY);
        run.awaitProgram(SLEEP, READY);
        // the monitor (H, forked from it, has the same command line: take the one whose parent is not a monitor of it):
        // `sandbox-init run --plan .../.plan-NAME.* --consume` after the JVM; on the warm path (Warm) the native front
        // re-executed as `sandbox-init run --plan <cache>/H.plan-native`, named by its parent: script(1) running this spec
        String tag = ".plan-ctrlc-kill-int.";
        ProcessHandle monitor = ProcessHandle.allProcesses().filter(h -> {
                    String c = ItHost.cmdline(h.pid());
                    String parent = h.parent().map(p -> ItHost.cmdline(p.pid())).orElse("");
                    return (c.contains(tag) && !parent.contains(tag)) || (c.contains("sandbox-init run --plan ")
                            && parent.startsWith(PtyRun.SCRIPT + " ") && parent.contains(spec.toString()));
                }).findFirst()
                .orElseThrow(() -> new AssertionError("no monitor for " + spec));
        ItHost.must("kill", "-INT", Long.toString(monitor.pid()));
        assertEquals(137, run.awaitExit(END), run::toString);
        assertTrue(run.out().contains("sandbox: the target did not stop within 1 s of SIGINT; sent SIGKILL"), run::toString);
    }

    @Test
    void ctrlCAtAnInteractiveBashPromptInterruptsOnlyItsForegroundJob() throws Exception {
        // bash takes the terminal for its own jobs (job control): the Ctrl-C never reaches the JVM or the helper
        String shell = Files.readString(Cli.ROOT.resolve("examples/shell.yaml")).replace("\nname: shell\n", "\nname: ctrlc-shell\n");
        names.add("ctrlc-shell");
        Path spec = specs.write("ctrlc-shell.yaml", shell);
        PtyRun run = up(spec.toString());
        run.type("echo sleeping-$((6*7)); sleep 60\n");
        run.awaitOut("sleeping-42", READY);
        ItHost.sleepMs(300); // sleep has started (if not, the Ctrl-C only clears the line and the check below says so)
        run.type("\u0003");
        // the Ctrl-C flushes what is typed ahead: ask again until the answer shows
        for (int i = 0; i < 20 && !run.out().contains("alive-130"); i++) {
            run.type("echo alive-$?\n");
            ItHost.sleepMs(500);
        }
        assertTrue(run.out().contains("alive-130"), "bash lives on, its sleep died of SIGINT:\n" + run);
        run.type("exit 7\n");
        assertEquals(7, run.awaitExit(END), run::toString);
        assertFalse(run.out().contains("sandbox: "), run::toString);
    }
}
