package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code sandbox up -d} and the native state verbs {@code ps}, {@code logs}, {@code wait}, {@code down}
 * (issue 9) against the real kernel, as root and rootless. Every sandbox is named {@code det-*}; every
 * test removes what it started in a finally block ({@code down}, then {@code gc}).
 */
class DetachedIT {

    private SpecDir specs;
    private final List<String> started = new ArrayList<>();
    private final Map<String, String> env = new HashMap<>();

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "these tests run sandboxes as root (the rootless one uses runuser)");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        try {
            if (!started.isEmpty()) {
                List<String> args = new ArrayList<>(List.of("down", "--timeout", "0"));
                args.addAll(started);
                Cli.run(List.of(), env, args.toArray(String[]::new)); // 1 when some were removed by the test already: fine
                Cli.run(List.of(), env, "gc");
            }
        } finally {
            if (specs != null) specs.close();
        }
    }

    /** A spec of every namespace but time and cgroup (tmpfs root, the system mounts); {@code init} adds the init; a shell script. */
    private Path spec(String name, boolean init, String script) {
        return specs.spec(name + ".yaml", "name: " + name + "\n"
                + "namespaces:\n"
                + "  user: {}\n"
                + "  mount:\n"
                + "    root: {type: tmpfs}\n"
                + "    mounts:\n"
                + Specs.SYSTEM_MOUNTS
                + (init ? "  pid: {init: true}\n" : "  pid: {}\n")
                + "  uts: {hostname: det}\n"
                + "  ipc: {}\n"
                + "  net: {}\n"
                + MountsIT.shell(script));
    }

    private Cli.Result sandbox(String... args) {
        return Cli.run(List.of(), env, args);
    }

    /** up -d, with pipes as stdout/stderr (as `name=$(sandbox up -d ...)` has): both must reach EOF at once. */
    private Cli.Result upDetached(Path spec, String name) {
        started.add(name);
        List<String> cmd = Warm.command(List.of(), env, Cli.DIST, null, List.of("up", "-d", spec.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(env);
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        try {
            Process p = pb.start();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> drain(p.getInputStream()));
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> drain(p.getErrorStream()));
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("up -d " + name + " did not return in 60 s");
            }
            // EOF on both pipes: nothing (the monitor, the helper, the target) kept the caller's stdout/stderr
            return new Cli.Result(p.exitValue(), out.get(10, TimeUnit.SECONDS), err.get(10, TimeUnit.SECONDS));
        } catch (IOException | java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new AssertionError("up -d " + name + ": its stdout/stderr did not reach EOF (something holds the caller's pipes)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static String drain(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private Path base() {
        return Path.of(env.getOrDefault("SANDBOX_RUNTIME_DIR", "/run/sandbox"));
    }

    /** The ps line of {@code name} (table), empty when not listed. */
    private Optional<String> psLine(String name, boolean all) {
        Cli.Result r = all ? sandbox("ps", "-a") : sandbox("ps");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().startsWith("NAME"), r::toString);
        return r.out().lines().filter(l -> l.startsWith(name + " ")).findFirst();
    }

    private static long field(String json, String key) {
        Matcher m = Pattern.compile("\"" + key + "\": \\{\"pid\": (\\d+)").matcher(json);
        assertTrue(m.find(), key + " in " + json);
        return Long.parseLong(m.group(1));
    }

    private String state(String name) throws IOException {
        return String.join("\n", Files.readAllLines(base().resolve(name).resolve("state.json")));
    }

    /**
     * Is pid a process that has not exited? A zombie is not: a detached monitor's parent is gone, so it
     * is reaped by PID 1 (or a subreaper), which on some hosts does that only now and then.
     */
    static boolean running(long pid) {
        try {
            String stat = String.join(" ", Files.readAllLines(Path.of("/proc", Long.toString(pid), "stat")));
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state != 'Z' && state != 'X';
        } catch (IOException e) {
            return false;
        }
    }

    private void assertGone(String name, long... pids) {
        assertFalse(Files.exists(base().resolve(name)), "the record of " + name + " is left in " + base());
        for (long pid : pids) assertFalse(running(pid), "process " + pid + " of " + name + " is left");
        try (var list = Files.list(base())) {
            List<String> left = list.map(p -> p.getFileName().toString()).filter(n -> n.contains(name)).toList();
            assertEquals(List.of(), left, "leftovers of " + name + " in " + base());
        } catch (java.nio.file.NoSuchFileException e) {
            // no base: nothing left
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void upDetachedReturnsOnceTheTargetRunsThenPsLogsAndDownWork() throws IOException {
        Path spec = spec("det-basic", true, """
                echo hello out
                echo hello err >&2
                exec sleep 300
                """);
        Path baseline = ItHost.leakBaseline();
        Cli.Result up = upDetached(spec, "det-basic");
        assertEquals(0, up.exit(), up::toString);
        assertEquals("det-basic\n", up.out(), up::toString);

        String line = psLine("det-basic", false).orElseThrow(() -> new AssertionError("ps does not list det-basic"));
        String[] cols = line.trim().split("\\s+");
        assertEquals("running", cols[1], line);
        long target = Long.parseLong(cols[2]);
        assertTrue(ProcessHandle.of(target).isPresent(), "ps's PID is a host process: " + line);
        assertEquals(target, field(state("det-basic"), "target"));
        assertTrue(line.contains("user,mnt,pid,net,uts,ipc"), line);
        assertTrue(line.endsWith(spec.toString()), line);
        // the target is in its own pid namespace: another link than ours
        assertFalse(Files.readSymbolicLink(Path.of("/proc", Long.toString(target), "ns/pid"))
                .equals(Files.readSymbolicLink(Path.of("/proc/self/ns/pid"))), "own pid namespace");

        Cli.Result json = sandbox("ps", "--format", "json");
        assertEquals(0, json.exit(), json::toString);
        assertTrue(json.out().contains("\"name\": \"det-basic\", \"status\": \"running\"") && json.out().contains("\"pid\": " + target),
                json::toString);

        long monitor = field(state("det-basic"), "monitor");
        long deadline = System.currentTimeMillis() + 5000;
        Cli.Result logs;
        do {
            logs = sandbox("logs", "det-basic");
        } while (!logs.out().contains("hello err") && System.currentTimeMillis() < deadline);
        assertEquals(0, logs.exit(), logs::toString);
        assertEquals("hello out\nhello err\n", logs.out(), logs::toString);

        long t0 = System.nanoTime();
        Cli.Result down = sandbox("down", "det-basic");
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(0, down.exit(), down::toString);
        assertFalse(down.err().contains("SIGKILL"), "the init stops on SIGTERM: " + down);
        assertTrue(ms < 8000, "down took " + ms + " ms");
        assertGone("det-basic", target, monitor);
        assertEquals(List.of(), ItHost.leaksSince(baseline, "det-basic"));
        System.out.println("DetachedIT: up -d + down of det-basic: down took " + ms + " ms");
    }

    @Test
    void waitExitsWithTheTargetsStatusAndTheFinishedRecordStaysUntilDown() throws IOException {
        Path spec = spec("det-wait", false, """
                sleep 1
                echo done
                exit 7
                """);
        Cli.Result up = upDetached(spec, "det-wait");
        assertEquals(0, up.exit(), up::toString);
        Cli.Result w = sandbox("wait", "det-wait");
        assertEquals(7, w.exit(), w::toString);
        assertTrue(psLine("det-wait", false).isEmpty(), "ps without -a lists running sandboxes only");
        String line = psLine("det-wait", true).orElseThrow(() -> new AssertionError("ps -a does not list det-wait"));
        assertTrue(line.contains("exited (7)"), line);
        String st = state("det-wait");
        assertTrue(st.contains("\"status\": \"exited\"") && st.contains("\"exitStatus\": 7"), st);
        assertEquals("", Files.readString(base().resolve("det-wait/journal")), "every journal record was undone");
        assertEquals("done\n", sandbox("logs", "det-wait").out());
        assertEquals(7, sandbox("wait", "det-wait").exit(), "wait of a finished record answers at once");
        // a new up of the name replaces a finished record
        Cli.Result again = upDetached(spec, "det-wait");
        assertEquals(0, again.exit(), again::toString);
        assertEquals(7, sandbox("wait", "det-wait").exit());
        Cli.Result down = sandbox("down", "det-wait");
        assertEquals(0, down.exit(), down::toString);
        assertGone("det-wait");
    }

    @Test
    void aForegroundUpIsListedWhileItRunsAndDownStopsIt() throws Exception {
        Path spec = spec("det-fg", true, "exec sleep 300\n");
        started.add("det-fg");
        ProcessBuilder pb = new ProcessBuilder(Warm.up("up", spec.toString()));
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        pb.redirectError(ProcessBuilder.Redirect.DISCARD);
        Process up = pb.start();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            long deadline = System.currentTimeMillis() + 30000;
            Optional<String> line = Optional.empty();
            while (System.currentTimeMillis() < deadline && (line.isEmpty() || !line.get().contains("running"))) {
                ItHost.sleepMs(100);
                line = psLine("det-fg", false);
            }
            assertTrue(line.isPresent() && line.get().contains("running"), "ps lists the foreground sandbox: " + line);
            assertTrue(state("det-fg").contains("\"detached\": false"));
            Cli.Result logs = sandbox("logs", "det-fg");
            assertEquals(1, logs.exit(), logs::toString);
            assertTrue(logs.err().contains("foreground"), logs::toString);
            var waiter = pool.submit(() -> sandbox("wait", "det-fg"));
            ItHost.sleepMs(300);
            Cli.Result down = sandbox("down", "det-fg");
            assertEquals(0, down.exit(), down::toString);
            assertTrue(up.waitFor(30, TimeUnit.SECONDS), "the foreground up ended");
            assertEquals(143, up.exitValue(), "the init passed SIGTERM on: 128+15");
            Cli.Result w = waiter.get(30, TimeUnit.SECONDS);
            assertTrue(w.exit() == 143 || w.exit() == 125, "wait gives the status (or 125 when the record went first): " + w);
            System.out.println("DetachedIT: wait of a foreground sandbox stopped by down: " + w.exit());
            assertGone("det-fg");
        } finally {
            pool.shutdownNow();
            up.destroyForcibly();
        }
    }

    @Test
    void logsFollowPrintsUntilTheSandboxEnds() {
        Path spec = spec("det-follow", false, """
                echo first
                sleep 1
                echo second
                """);
        assertEquals(0, upDetached(spec, "det-follow").exit());
        long t0 = System.nanoTime();
        Cli.Result logs = sandbox("logs", "-f", "det-follow");
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(0, logs.exit(), logs::toString);
        assertEquals("first\nsecond\n", logs.out(), logs::toString);
        assertTrue(ms < 20000, "logs -f returned after " + ms + " ms");
    }

    @Test
    void theLogIsRotatedOnceAt10MiB() throws IOException {
        Path spec = spec("det-log", false, """
                head -c 11000000 /dev/zero | tr '\\0' a
                echo
                echo tail
                """);
        assertEquals(0, upDetached(spec, "det-log").exit());
        assertEquals(0, sandbox("wait", "det-log").exit());
        assertEquals(10L << 20, Files.size(base().resolve("det-log/log.1")));
        assertEquals(11_000_006L - (10L << 20), Files.size(base().resolve("det-log/log")));
        Cli.Result logs = sandbox("logs", "det-log");
        assertEquals(0, logs.exit());
        assertEquals(11_000_006, logs.out().length());
        assertTrue(logs.out().endsWith("aaa\ntail\n"));
    }

    @Test
    void aSecondUpOfARunningNameFailsAtOnceNamingIt() {
        Path spec = spec("det-twice", true, "exec sleep 300\n");
        assertEquals(0, upDetached(spec, "det-twice").exit());
        Cli.Result second = upDetached(spec, "det-twice");
        assertEquals(125, second.exit(), second::toString);
        assertTrue(second.err().contains("a sandbox named 'det-twice' is running"), second::toString);
        assertEquals(1, second.err().lines().count(), second::toString);
        assertTrue(psLine("det-twice", false).orElseThrow().contains("running"), "the first one still runs");
    }

    @Test
    void aSetupFailureIs125WithOneLineAndLeavesNothing() {
        Path spec = spec("det-fail", false, "exec sleep 300\n");
        Path bad = specs.write("det-fail.yaml", readString(spec).replace("  pid: {}\n",
                "      - {type: bind, source: /nonexistent-det-src, target: /x}\n  pid: {}\n"));
        Cli.Result up = upDetached(bad, "det-fail");
        assertEquals(125, up.exit(), up::toString);
        assertEquals("", up.out(), up::toString);
        assertTrue(up.err().contains("/nonexistent-det-src"), up::toString);
        assertGone("det-fail");
    }

    @Test
    void aTargetThatDoesNotExistFailsUpDetachedWith127AndLeavesNothing() {
        Path spec = spec("det-127", false, "exec sleep 300\n");
        Path bad = specs.write("det-127.yaml", readString(spec).replaceAll("(?s)process:.*", "process:\n  command: [/nonexistent-det]\n"));
        Cli.Result up = upDetached(bad, "det-127");
        assertEquals(127, up.exit(), up::toString);
        assertEquals("", up.out(), up::toString);
        assertTrue(up.err().contains("/nonexistent-det"), up::toString);
        assertGone("det-127");
    }

    private static String readString(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void downOfAPid1WithoutHandlerSendsSigkillAfterTheTimeoutAndSaysSo() throws IOException {
        Path spec = spec("det-pid1", false, "exec sleep 300\n");
        assertEquals(0, upDetached(spec, "det-pid1").exit());
        long target = field(state("det-pid1"), "target");
        long t0 = System.nanoTime();
        Cli.Result down = sandbox("down", "--timeout", "1", "det-pid1");
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(0, down.exit(), down::toString);
        assertTrue(down.err().contains("sandbox: down det-pid1: the target (pid " + target + ") did not stop within 1 s of SIGTERM; sent SIGKILL"),
                down::toString);
        assertTrue(ms >= 1000 && ms < 8000, "down --timeout 1 took " + ms + " ms");
        assertGone("det-pid1", target);
    }

    @Test
    void twoDownsOfOneNameRacingBothSucceedAndDownIsIdempotent() throws Exception {
        Path spec = spec("det-race", true, "exec sleep 300\n");
        assertEquals(0, upDetached(spec, "det-race").exit());
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            var a = pool.submit(() -> sandbox("down", "det-race"));
            var b = pool.submit(() -> sandbox("down", "det-race"));
            Cli.Result ra = a.get(60, TimeUnit.SECONDS), rb = b.get(60, TimeUnit.SECONDS);
            assertEquals(0, ra.exit(), ra::toString);
            assertEquals(0, rb.exit(), rb::toString);
        } finally {
            pool.shutdownNow();
        }
        assertGone("det-race");
        Cli.Result again = sandbox("down", "det-race");
        assertEquals(1, again.exit(), "no record left: " + again);
    }

    @Test
    void downRacingExecEndsBothAndLeavesNothing() throws Exception {
        // issue 9, "down racing exec": an exec'd command inside, the sandbox downed meanwhile; both return, nothing is left
        Path spec = spec("det-dnex", true, "exec sleep 300\n");
        assertEquals(0, upDetached(spec, "det-dnex").exit());
        ExecutorService pool = Executors.newFixedThreadPool(3);
        try {
            var inside = pool.submit(() -> sandbox("exec", "det-dnex", "--", "/bin/sh", "-c", "echo in; exec sleep 60"));
            var racing = pool.submit(() -> sandbox("exec", "det-dnex", "--", "/bin/true")); // starts while down runs
            ItHost.sleepMs(700);
            Cli.Result down = pool.submit(() -> sandbox("down", "--timeout", "2", "det-dnex")).get(60, TimeUnit.SECONDS);
            assertEquals(0, down.exit(), down::toString);
            Cli.Result ex = inside.get(60, TimeUnit.SECONDS);
            assertTrue(ex.exit() != 0, "the command inside ended with its sandbox (a signal's status, or 125): " + ex);
            Cli.Result r = racing.get(60, TimeUnit.SECONDS);
            assertTrue(r.exit() == 0 || r.exit() == 125 || r.exit() > 128, "the racing exec either ran or was refused: " + r);
        } finally {
            pool.shutdownNow();
        }
        assertGone("det-dnex"); // the record of the sandbox and those of the execs into it (det-dnex@exec-*)
    }

    @Test
    void unknownNamesAndBadUsageGetOneLineWithASuggestion() {
        Path spec = spec("det-known", true, "exec sleep 300\n");
        assertEquals(0, upDetached(spec, "det-known").exit());
        Cli.Result down = sandbox("down", "det-knwn");
        assertEquals(1, down.exit(), down::toString);
        assertEquals("sandbox: down: no sandbox named 'det-knwn' (did you mean 'det-known'?)\n", down.err());
        Cli.Result w = sandbox("wait", "det-nothing-like-it");
        assertEquals(125, w.exit(), w::toString);
        assertEquals(1, w.err().lines().count(), w::toString);
        Cli.Result logs = sandbox("logs", "det-knwn");
        assertEquals(1, logs.exit(), logs::toString);
        for (String bad : List.of("..", ".", "")) { // the base or its parent, never a record (logs .. read <base>/../log)
            Cli.Result l = sandbox("logs", bad);
            assertEquals(1, l.exit(), l::toString);
            assertTrue(l.err().startsWith("sandbox: logs: no sandbox named '" + bad + "'"), l::toString);
            Cli.Result wt = sandbox("wait", bad);
            assertEquals(125, wt.exit(), wt::toString);
            assertTrue(wt.err().startsWith("sandbox: wait: no sandbox named '" + bad + "'"), wt::toString);
        }
        Cli.Result ps = sandbox("ps", "--bogus");
        assertEquals(2, ps.exit(), ps::toString);
        assertEquals(1, ps.err().lines().count(), ps::toString);
        Cli.Result noName = sandbox("down");
        assertEquals(2, noName.exit(), noName::toString);
        Cli.Result gcBogus = sandbox("gc", "--bogus"); // was the top-level usage, as if gc were unknown
        assertEquals(2, gcBogus.exit(), gcBogus::toString);
        assertEquals("sandbox gc: unknown option '--bogus' (sandbox gc --help shows the usage)\n", gcBogus.err(), gcBogus::toString);
        for (String verb : List.of("ps", "wait", "down", "logs", "gc")) {
            Cli.Result help = sandbox(verb, "--help");
            assertEquals(0, help.exit(), help::toString);
            assertTrue(help.out().startsWith("Usage: sandbox " + verb), help::toString);
        }
    }

    @Test
    void aKilledMonitorShowsDeadAndDownOrGcCleanEverything() throws IOException {
        Path baseline = ItHost.leakBaseline();
        for (String cleaner : List.of("down", "gc")) {
            String name = "det-dead-" + cleaner;
            assertEquals(0, upDetached(spec(name, true, "exec sleep 300\n"), name).exit());
            String st = state(name);
            long monitor = field(st, "monitor"), target = field(st, "target");
            ItHost.must("kill", "-9", Long.toString(monitor));
            long deadline = System.currentTimeMillis() + 5000;
            while (running(monitor) && System.currentTimeMillis() < deadline) ItHost.sleepMs(20);
            String line = psLine(name, false).orElseThrow(() -> new AssertionError("ps does not list " + name));
            assertTrue(line.contains(" dead "), line);
            Cli.Result w = sandbox("wait", name);
            assertEquals(125, w.exit(), w::toString);
            assertTrue(w.err().contains("dead"), w::toString);
            Cli.Result r = sandbox(cleaner.equals("down") ? new String[] {"down", name} : new String[] {"gc"});
            assertEquals(0, r.exit(), r::toString);
            assertGone(name, target, monitor);
        }
        assertEquals(List.of(), ItHost.leaksSince(baseline, "det-dead-"));
    }

    @Test
    void aRecordNamingHostProcessesWithTheirStartTimesIsDeadAndDownSignalsNoOne() throws Exception {
        // pids and start times right, namespaces wrong (a garbage or forged state.json): only exec checked the
        // namespaces; ps said running and down SIGTERMed, then SIGKILLed the host process and waited for the
        // "monitor" until killed
        Path base = Files.createTempDirectory(Path.of("/tmp"), "det-base-");
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwx------"));
        Process victim = new ProcessBuilder("sleep", "300").start();
        Process monitor = new ProcessBuilder("sleep", "301").start();
        Map<String, String> own = new HashMap<>(env);
        own.put("SANDBOX_RUNTIME_DIR", base.toString());
        try {
            Path rt = Files.createDirectory(base.resolve("det-forged"));
            Files.writeString(rt.resolve("lock"), "");
            Files.writeString(rt.resolve("journal"), "");
            Files.writeString(rt.resolve("state.json"), "{\n  \"version\": 1,\n  \"name\": \"det-forged\",\n  \"status\": \"running\",\n"
                    + "  \"spec\": \"/nonexistent.yaml\",\n"
                    + "  \"monitor\": {\"pid\": " + monitor.pid() + ", \"startTime\": " + startTime(monitor.pid()) + "},\n"
                    + "  \"helper\": {\"pid\": " + monitor.pid() + ", \"startTime\": " + startTime(monitor.pid()) + "},\n"
                    + "  \"target\": {\"pid\": " + victim.pid() + ", \"startTime\": " + startTime(victim.pid()) + "},\n"
                    + "  \"cgroup\": null,\n  \"detached\": true,\n"
                    + "  \"namespaces\": {\"pid\": 4026539999, \"user\": 4026539998}\n}\n");
            Cli.Result ps = Cli.run(List.of(), own, "ps");
            assertTrue(ps.out().lines().anyMatch(l -> l.matches("det-forged\\s+dead\\s+-\\s.*")), ps::toString);
            Cli.Result down = Cli.run(List.of(), own, "down", "--timeout", "1", "det-forged");
            assertEquals(0, down.exit(), down::toString);
            assertTrue(down.err().contains("is not the sandbox's target") && down.err().contains("not signalled"), down::toString);
            assertTrue(victim.isAlive() && monitor.isAlive(), "no host process was signalled: " + down);
            assertFalse(Files.exists(rt), "the record is removed");
        } finally {
            victim.destroyForcibly();
            monitor.destroyForcibly();
            ItHost.run("rm", "-rf", base.toString());
        }
    }

    private static long startTime(long pid) throws IOException {
        String stat = String.join(" ", Files.readAllLines(Path.of("/proc", Long.toString(pid), "stat")));
        return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[19]);
    }

    @Test
    void aMonitorKilledDuringItsTeardownLeavesADeadRecordNotAnExitedOne() throws IOException {
        // the crash point after the first undo record: the rest of the journal is not undone; ps used to
        // show `exited (3)` (hidden without -a) with the pid of the gone target
        Path spec = spec("det-half", false, "exit 3\n");
        started.add("det-half");
        Map<String, String> crash = new HashMap<>(env);
        crash.put("SANDBOX_CRASH_AT", "teardown-step");
        Cli.Result up = Cli.run(List.of(), crash, "up", "-d", spec.toString());
        assertEquals(0, up.exit(), up::toString);
        long monitor = field(state("det-half"), "monitor");
        long deadline = System.currentTimeMillis() + 10000;
        while (running(monitor) && System.currentTimeMillis() < deadline) ItHost.sleepMs(20);
        assertFalse(running(monitor), "the monitor killed itself at teardown-step");
        assertTrue(Files.size(base().resolve("det-half/journal")) > 0, "records are left in the journal");
        String line = psLine("det-half", false).orElseThrow(() -> new AssertionError("plain ps lists the dead record"));
        String[] cols = line.trim().split("\\s+");
        assertEquals("dead", cols[1], line);
        assertEquals("-", cols[2], "the gone target's pid is not shown: " + line);
        assertEquals(125, sandbox("wait", "det-half").exit());
        Cli.Result gc = sandbox("gc");
        assertEquals(0, gc.exit(), gc::toString);
        assertTrue(gc.out().contains("removed det-half"), gc::toString);
        assertFalse(Files.exists(base().resolve("det-half")), "gc removed the record");
    }

    @Test
    void aMonitorKilledDuringTheSetupOfUpDetachedIsOneLineAnd125() {
        // SANDBOX_CRASH_AT: the monitor raises SIGKILL after the clone, as a kill -9 would; up -d's waiting
        // half must say so (it used to exit 125 without a word)
        Path spec = spec("det-crash", false, "exec sleep 300\n");
        started.add("det-crash");
        Map<String, String> crash = new HashMap<>(env);
        crash.put("SANDBOX_CRASH_AT", "cloned");
        Cli.Result r = Cli.run(List.of(), crash, "up", "-d", spec.toString());
        assertEquals(125, r.exit(), r::toString);
        assertEquals("", r.out(), r::toString);
        assertEquals(1, r.err().lines().count(), r::toString);
        assertTrue(r.err().startsWith("sandbox: up -d det-crash: the monitor (pid ") && r.err().contains("killed by signal 9")
                && r.err().contains("sandbox gc"), r::toString);
        Cli.Result gc = sandbox("gc");
        assertEquals(0, gc.exit(), gc::toString);
        assertTrue(gc.out().contains("removed det-crash"), gc::toString);
    }

    @Test
    void aFailedUpLeavesTheSandboxWhoseCgroupOrLinkNameItCollidedWithAlone() throws Exception {
        // the undo record of cgroup-create and veth is journaled before the create: when the create fails
        // because the name is taken (the same name in another runtime base: one cgroup path; a hostName
        // another sandbox's link has), the failed up's teardown must not kill or delete the other's
        Path base = Files.createTempDirectory(Path.of("/tmp"), "det-base-");
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwx------"));
        String link = "  net:\n    links:\n      - {type: veth, name: eth0, hostName: det-clash0, address: 198.18.53.2/30, hostAddress: 198.18.53.1/30}\n";
        Path a = specs.spec("det-clash.yaml", "name: det-clash\nnamespaces:\n  user: {}\n  mount:\n    root: {type: tmpfs}\n    mounts:\n"
                + Specs.SYSTEM_MOUNTS + "  pid: {init: true}\n" + link + MountsIT.shell("exec sleep 300\n"));
        Path b = specs.spec("det-clash-b.yaml", "name: det-clash-b\nnamespaces:\n  user: {}\n  mount:\n    root: {type: tmpfs}\n    mounts:\n"
                + Specs.SYSTEM_MOUNTS + "  pid: {init: true}\n" + link + MountsIT.shell("exec sleep 300\n"));
        Path sameNameNoLink = specs.spec("det-clash-c.yaml", "name: det-clash\nnamespaces:\n  user: {}\n  mount:\n    root: {type: tmpfs}\n    mounts:\n"
                + Specs.SYSTEM_MOUNTS + "  pid: {init: true}\n" + MountsIT.shell("exec sleep 300\n"));
        try {
            Cli.Result up = upDetached(a, "det-clash");
            assertEquals(0, up.exit(), up::toString);
            long target = field(state("det-clash"), "target");
            assertTrue(Files.exists(Path.of("/sys/class/net/det-clash0")), "the link is there");

            Cli.Result clash = Cli.run(List.of(), env, "up", "-d", b.toString()); // another name, the same hostName
            started.add("det-clash-b");
            assertEquals(125, clash.exit(), clash::toString);
            assertTrue(running(target), "the first sandbox's target survived: " + clash);
            assertTrue(Files.exists(Path.of("/sys/class/net/det-clash0")), "the first sandbox's link survived: " + clash);

            Map<String, String> other = new HashMap<>(env);
            other.put("SANDBOX_RUNTIME_DIR", base.toString());
            Cli.Result twin = Cli.run(List.of(), other, "up", "-d", sameNameNoLink.toString()); // the same name, another base
            assertEquals(125, twin.exit(), twin::toString);
            assertTrue(twin.err().contains("cgroup-create") && twin.err().contains("EEXIST"), twin::toString);
            assertTrue(running(target), "the first sandbox's target survived the twin's teardown: " + twin);
            Cli.Result ps = sandbox("ps");
            assertTrue(psLine("det-clash", false).map(l -> l.contains("running")).orElse(false), ps::toString);
            Cli.Result gc = Cli.run(List.of(), other, "gc");
            assertEquals(0, gc.exit(), gc::toString);
            assertTrue(running(target), "gc of the other base left it alone: " + gc);
        } finally {
            ItHost.run("rm", "-rf", base.toString());
        }
    }

    @Test
    void twentyDetachedSandboxesStartedInParallelThenDownAllLeavesNothing() throws Exception {
        // a runtime base of this test alone: down --all must not touch anyone else's sandboxes
        Path base = Files.createTempDirectory(Path.of("/tmp"), "det-base-");
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwx------"));
        env.put("SANDBOX_RUNTIME_DIR", base.toString());
        Path baseline = ItHost.leakBaseline();
        ExecutorService pool = Executors.newFixedThreadPool(20);
        List<Long> targets = new ArrayList<>();
        try {
            List<java.util.concurrent.Future<Cli.Result>> ups = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                String name = "det-many-" + i;
                Path spec = spec(name, true, "exec sleep 300\n");
                synchronized (started) {
                    started.add(name);
                }
                ups.add(pool.submit(() -> Cli.run(List.of(), env, "up", "-d", spec.toString())));
            }
            for (var f : ups) {
                Cli.Result r = f.get(120, TimeUnit.SECONDS);
                assertEquals(0, r.exit(), r::toString);
            }
            Cli.Result ps = sandbox("ps", "--format", "json");
            assertEquals(20, Pattern.compile("\"status\": \"running\"").matcher(ps.out()).results().count(), ps::toString);
            Pattern.compile("\"pid\": (\\d+)").matcher(ps.out()).results().forEach(m -> targets.add(Long.parseLong(m.group(1))));
            long t0 = System.nanoTime();
            Cli.Result down = sandbox("down", "--all");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(0, down.exit(), down::toString);
            assertEquals("", down.err(), down::toString);
            assertTrue(ms < 30000, "down --all took " + ms + " ms");
            try (var list = Files.list(base)) {
                assertEquals(List.of(), list.map(Path::toString).toList(), "runtime dirs left");
            }
            for (long pid : targets) assertFalse(running(pid), "target " + pid + " is left");
            for (int i = 0; i < 20; i++) {
                Optional<Path> cg = ItHost.plannedCgroup(specs.dir.resolve("det-many-" + i + ".yaml"));
                cg.ifPresent(p -> assertFalse(Files.exists(p), "cgroup " + p + " is left"));
            }
            assertEquals(List.of(), ItHost.leaksSince(baseline, "det-many-"));
            System.out.println("DetachedIT: 20 parallel up -d, then down --all in " + ms + " ms");
        } finally {
            pool.shutdownNow();
            try {
                sandbox("down", "--timeout", "0", "--all");
                sandbox("gc");
            } finally {
                env.remove("SANDBOX_RUNTIME_DIR");
                ItHost.run("rm", "-rf", base.toString());
            }
        }
    }

    @Test
    void aDetachedSandboxsMonitorIsSmall() throws IOException {
        assertEquals(0, upDetached(spec("det-rss", true, "exec sleep 300\n"), "det-rss").exit());
        String st = state("det-rss");
        long monitor = field(st, "monitor"), helper = field(st, "helper");
        long mRss = kb(monitor, "status", "VmRSS:"), hRss = kb(helper, "status", "VmRSS:");
        long mPss = kb(monitor, "smaps_rollup", "Pss:"), hPss = kb(helper, "smaps_rollup", "Pss:");
        System.out.println("DetachedIT: det-rss monitor VmRSS " + mRss + " kB (Pss " + mPss + " kB), helper VmRSS " + hRss
                + " kB (Pss " + hPss + " kB)");
        assertTrue(mRss > 0 && mRss < 16 * 1024, "monitor VmRSS " + mRss + " kB");
    }

    private static long kb(long pid, String file, String key) {
        try {
            for (String l : Files.readAllLines(Path.of("/proc", Long.toString(pid), file))) {
                if (l.startsWith(key)) return Long.parseLong(l.substring(key.length()).trim().split("\\s+")[0]);
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    @Test
    void rootlessUpDetachedPsLogsWaitDown() throws IOException {
        assumeTrue(ItHost.run("sh", "-c", "command -v runuser").exit() == 0, "runuser (util-linux) is missing");
        assumeTrue(ItHost.run("id", "-u", RootlessIT.USER).exit() == 0, "the user " + RootlessIT.USER + " of RootlessIT is missing");
        long uid = Long.parseLong(ItHost.must("id", "-u", RootlessIT.USER).out().strip());
        SpecDir dist = new SpecDir(), home = new SpecDir();
        ItHost.must("chown", RootlessIT.USER, home.dir.toString());
        List<String> asUser = List.of("runuser", "-u", RootlessIT.USER, "--", "env", "-u", "XDG_RUNTIME_DIR", "HOME=" + home.dir);
        Path rt = Path.of("/tmp", "sandbox-" + uid, "det-rootless");
        try {
            ItHost.copyDistribution(dist);
            Path spec = spec("det-rootless", false, """
                    echo uid=$(id -u)
                    sleep 1
                    exit 5
                    """);
            Files.setPosixFilePermissions(spec, PosixFilePermissions.fromString("rw-r--r--"));
            Cli.Result up = Cli.exec(asUser, Map.of(), dist.dir, null, "up", "-d", spec.toString());
            assertEquals(0, up.exit(), up::toString);
            assertEquals("det-rootless\n", up.out());
            assertTrue(Files.isDirectory(rt), "the record is in the user's base: " + rt);
            Cli.Result ps = Cli.exec(asUser, Map.of(), dist.dir, null, "ps");
            assertTrue(ps.out().lines().anyMatch(l -> l.startsWith("det-rootless ") && l.contains("running")), ps::toString);
            Cli.Result w = Cli.exec(asUser, Map.of(), dist.dir, null, "wait", "det-rootless");
            assertEquals(5, w.exit(), w::toString);
            Cli.Result logs = Cli.exec(asUser, Map.of(), dist.dir, null, "logs", "det-rootless");
            assertEquals("uid=0\n", logs.out(), logs::toString);
            Cli.Result down = Cli.exec(asUser, Map.of(), dist.dir, null, "down", "det-rootless");
            assertEquals(0, down.exit(), down::toString);
            assertFalse(Files.exists(rt), "record left: " + rt);
        } finally {
            Cli.exec(asUser, Map.of(), dist.dir, null, "down", "--timeout", "0", "det-rootless");
            Cli.exec(asUser, Map.of(), dist.dir, null, "gc");
            dist.close();
            home.close();
        }
    }
}
