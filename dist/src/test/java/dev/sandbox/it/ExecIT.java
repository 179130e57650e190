package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code sandbox exec NAME -- CMD} (issue 9): a process in every namespace of a running sandbox, its
 * cgroup and its process identity. The sandbox is a foreground {@code up} this test runs in the
 * background ({@code sleep} as its target); the exec'd process's view is compared with the target's,
 * read from the host's /proc.
 */
class ExecIT {

    private static final String NAME = "ex-exec";
    private static SpecDir specs;
    private static LaunchedSandbox running;
    private static long target;

    @BeforeAll
    static void aRunningSandbox() {
        assumeTrue(Cli.isRoot(), "the root runtime dir /run/sandbox and a cgroup (like CI)");
        specs = new SpecDir();
        Path spec = specs.spec(NAME + ".yaml", "name: " + NAME + "\n" + Specs.isolated("", "[/bin/sh, -c, 'echo ready; exec sleep 120']")
                .replace("hostname: box", "hostname: ex-exec-box")
                .replace("  user: {}", "  user: {uidMap: [{inside: 0, outside: 0, count: 65536}], gidMap: [{inside: 0, outside: 0, count: 65536}]}"));
        running = LaunchedSandbox.start("up", "--stop-timeout", "1", spec.toString());
        running.awaitOut("ready", Duration.ofSeconds(60));
        target = NamespacesIT.sandboxPid(NAME);
    }

    @AfterAll
    static void stop() {
        try {
            if (running != null) running.close();
            if (specs != null) specs.close();
        } finally {
            if (running != null) {
                ItHost.assertNothingLeftOf(NAME);
                assertEquals(List.of(), execRecords("/run/sandbox", NAME), "exec records are left");
            }
        }
    }

    static List<String> execRecords(String base, String name) {
        try (Stream<Path> s = Files.list(Path.of(base))) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(name + "@exec-")).toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    private static Cli.Result exec(String... args) {
        List<String> all = new ArrayList<>(List.of("exec", NAME, "--"));
        all.addAll(List.of(args));
        return Cli.run(all.toArray(String[]::new));
    }

    @Test
    void theCommandRunsInEveryNamespaceOfTheSandbox() throws IOException {
        StringBuilder script = new StringBuilder();
        for (String type : NamespacesIT.TYPES) script.append("echo ").append(type).append("=$(readlink /proc/self/ns/").append(type).append(");");
        Cli.Result r = exec("/bin/sh", "-c", script + "echo host=$(hostname); echo pid1=$(cat /proc/1/comm); echo root=$(ls /)");
        assertEquals(0, r.exit(), r::toString);
        Map<String, String> seen = ItHost.probe(r.out());
        for (String type : NamespacesIT.TYPES) {
            String theirs = Files.readSymbolicLink(Path.of("/proc", Long.toString(target), "ns", type)).toString();
            assertEquals(theirs, seen.get(type), type + " namespace of the exec'd process is not the sandbox's:\n" + r);
        }
        assertEquals("ex-exec-box", seen.get("host"), r::toString);
        assertEquals("sleep", seen.get("pid1"), "pid 1 of the exec'd process's pid namespace is the sandbox's target\n" + r);
        assertFalse(seen.get("root").contains("home"), "the exec'd process sees the sandbox's root, not the host's: " + seen.get("root"));
        assertEquals(List.of(), execRecords("/run/sandbox", NAME), "the exec's record is removed when it ends");
    }

    @Test
    void theCommandHasTheSandboxsIdentityAndCgroup() throws IOException {
        Cli.Result r = exec("/bin/sh", "-c", "id; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status;"
                + " echo cg=$(cat /proc/self/cgroup | tr '\\n' ' '); echo cg1=$(cat /proc/1/cgroup | tr '\\n' ' ')");
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("uid=0 gid=0 groups=0"), r::toString);
        Map<String, String> status = status(target);
        Map<String, String> mine = colonFields(r.out());
        for (String key : List.of("CapEff", "CapBnd", "NoNewPrivs", "Seccomp")) {
            assertEquals(status.get(key), mine.get(key), key + " of the exec'd process differs from the target's\n" + r);
        }
        assertEquals("1", mine.get("NoNewPrivs"), r::toString);
        assertEquals("2", mine.get("Seccomp"), r::toString);
        Map<String, String> seen = ItHost.probe(r.out());
        assertEquals(seen.get("cg1"), seen.get("cg"), "the exec'd process is in the target's cgroup\n" + r);
    }

    @Test
    void theExitStatusPropagates() {
        assertEquals(7, exec("/bin/sh", "-c", "exit 7").exit());
        assertEquals(137, exec("/bin/sh", "-c", "kill -KILL $$").exit());
        Cli.Result missing = exec("/no/such/program");
        assertEquals(127, missing.exit(), missing::toString);
    }

    @Test
    void aSigtermToExecReachesTheCommand() {
        try (LaunchedSandbox e = LaunchedSandbox.start("exec", NAME, "--", "/bin/sh", "-c",
                "trap 'echo got-term; exit 3' TERM; echo waiting; sleep 100 & wait")) {
            e.awaitOut("waiting", Duration.ofSeconds(60));
            e.signal("TERM"); // to the exec's monitor: forwarded as for up
            assertEquals(3, e.awaitExit(Duration.ofSeconds(30)), e::toString);
            assertTrue(e.out().contains("got-term"), e::toString);
        }
    }

    @Test
    void optionsOverrideUserEnvironmentAndDirectory() {
        Cli.Result r = Cli.run("exec", "--user", "1000:1001", "--env", "GREETING=hi", "--cwd", "/proc", NAME, "--",
                "/bin/sh", "-c", "id -u; id -g; echo greeting=$GREETING; echo pwd=$(pwd); grep CapEff /proc/self/status");
        assertEquals(0, r.exit(), r::toString);
        List<String> lines = r.out().lines().toList();
        assertEquals("1000", lines.get(0), r::toString);
        assertEquals("1001", lines.get(1), r::toString);
        assertEquals("hi", ItHost.probe(r.out()).get("greeting"), r::toString);
        assertEquals("/proc", ItHost.probe(r.out()).get("pwd"), r::toString);
        assertEquals("0000000000000000", colonFields(r.out()).get("CapEff"), "a uid other than 0 keeps no capabilities\n" + r);

        Cli.Result unmapped = Cli.run("exec", "--user", "70000", NAME, "--", "true");
        assertEquals(125, unmapped.exit(), unmapped::toString);
        assertEquals(1, unmapped.err().lines().count(), unmapped::toString);
        assertTrue(unmapped.err().contains("not mapped"), unmapped::toString);
    }

    @Test
    void theDefaultCommandIsTheSandboxsShell() {
        Cli.Result r = Cli.exec(List.of("sh", "-c", "echo 'echo shell=$0; exit 3' | \"$0\" exec " + NAME), Map.of(), Cli.DIST, null);
        // the launcher is appended after the prefix: the shell runs `echo ... | bin/sandbox exec NAME` with $0 = the launcher
        assertEquals(3, r.exit(), r::toString);
        assertEquals("/bin/sh", ItHost.probe(r.out()).get("shell"), r::toString);
    }

    @Test
    void anUnknownNameIsRefusedWithASuggestion() {
        Cli.Result r = Cli.run("exec", "ex-exek", "--", "true");
        assertEquals(125, r.exit(), r::toString);
        assertEquals(1, r.err().lines().count(), r::toString);
        assertTrue(r.err().contains("no sandbox named 'ex-exek'") && r.err().contains("did you mean '" + NAME + "'"), r::toString);
        Cli.Result none = Cli.run("exec", "ex-nothing-like-it", "--", "true");
        assertEquals(125, none.exit(), none::toString);
        assertEquals(1, none.err().lines().count(), none::toString);
    }

    @Test
    void tGivesThePtyOfTheSandboxsDevpts() {
        // without a terminal of our own the bytes are proxied all the same (no raw mode to set)
        Cli.Result r = Cli.run("exec", "-t", NAME, "--", "/bin/sh", "-c", "echo tty=$(tty); echo ctty=$(ps -o tty= -p $$); exit 5");
        assertEquals(5, r.exit(), r::toString);
        Map<String, String> seen = ItHost.probe(r.out().replace("\r", ""));
        assertTrue(seen.get("tty").matches("/dev/pts/\\d+"), r::toString);
        assertEquals(seen.get("tty").substring(5), seen.get("ctty"), "the pty is the command's controlling terminal\n" + r);
    }

    @Test
    void tOnATerminalIsRawAndCtrlCReachesTheCommandInsideThroughItsPty() {
        assumeTrue(Files.isExecutable(Path.of(PtyRun.SCRIPT)), "script(1) (util-linux) is missing");
        String launcher = Cli.DIST.resolve("bin/sandbox").toString();
        try (PtyRun run = PtyRun.start("sh -c 'before=$(stty -g); " + launcher + " exec -it " + NAME
                + " -- /bin/sh; s=$?; [ \"$(stty -g)\" = \"$before\" ] && echo terminal-restored; exit $s'")) {
            run.type("echo in-$((40+2))\n");
            run.awaitOut("in-42", Duration.ofSeconds(30));
            run.type("sleep 100\n");
            run.awaitProgram("sleep", Duration.ofSeconds(30));
            run.type("\u0003"); // a byte for the sandbox's pty in raw mode: its line discipline sends SIGINT to the sleep
            run.type("echo after-$((1+1))\n"); // the shell inside is back at its prompt
            run.awaitOut("after-2", Duration.ofSeconds(30));
            run.type("exit 6\n");
            assertEquals(6, run.awaitExit(Duration.ofSeconds(30)), run::toString);
            run.awaitOut("terminal-restored", Duration.ofSeconds(5));
        }
    }

    /** examples/ns-lab.sh, the lsns/nsenter experiments of docs/cli.md, prints exactly the output documented there. */
    @Test
    void theNamespaceLabExampleGivesTheDocumentedOutput() throws IOException {
        String doc = Files.readString(Cli.ROOT.resolve("docs/cli.md"));
        int at = doc.indexOf("$ examples/ns-lab.sh\n");
        assertTrue(at >= 0, "docs/cli.md shows the output of examples/ns-lab.sh");
        String expected = doc.substring(at + "$ examples/ns-lab.sh\n".length(), doc.indexOf("```", at));
        ProcessBuilder pb = new ProcessBuilder(Cli.ROOT.resolve("examples/ns-lab.sh").toString());
        pb.environment().put("SANDBOX", Cli.DIST.resolve("bin/sandbox").toString());
        pb.environment().put("LAB_NAME", "ex-lab");
        Path out = Files.createTempFile("ex-lab", ".out");
        try {
            pb.redirectOutput(out.toFile()).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            Process p = pb.start();
            assertTrue(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "ns-lab.sh did not end");
            String got = Files.readString(out);
            assertEquals(0, p.exitValue(), got);
            assertEquals(expected, got.replace("uid 0 (you)", "uid 1000 (you)"));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        } finally {
            Files.deleteIfExists(out);
            for (int i = 0; i < 100 && Files.exists(Path.of("/run/sandbox/ex-lab")); i++) ItHost.sleepMs(50);
            ItHost.assertNothingLeftOf("ex-lab");
        }
    }

    /** A record whose monitor is gone (kill -9): exec and join refuse it; one whose pids name other processes too. */
    @Test
    void aDeadSandboxAndAStaleRecordAreRefused() throws IOException {
        Path base = Files.createTempDirectory(Path.of("/tmp"), "ex-base-");
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwx--x--x"));
        Map<String, String> env = Map.of("SANDBOX_RUNTIME_DIR", base.toString());
        SpecDir own = new SpecDir();
        LaunchedSandbox dead = null;
        try {
            Path spec = own.spec("ex-dead.yaml", Specs.isolated("", "[/bin/sh, -c, 'echo ready; exec sleep 120']"));
            dead = LaunchedSandbox.start(List.of(), Cli.DIST, env, "up", spec.toString());
            dead.awaitOut("ready", Duration.ofSeconds(60));
            dead.signal("KILL"); // the monitor: its helper sees EOF and kills the target; the record stays, unlocked
            dead.awaitExit(Duration.ofSeconds(20));
            Cli.Result r = Cli.run(List.of(), env, "exec", "ex-dead", "--", "true");
            assertEquals(125, r.exit(), r::toString);
            assertEquals(1, r.err().lines().count(), r::toString);
            assertTrue(r.err().contains("sandbox 'ex-dead' is dead"), r::toString);
            Cli.Result i = Cli.run(List.of(), env, "inspect", "ex-dead");
            assertEquals(0, i.exit(), i::toString);
            assertTrue(i.out().contains("\"status\" : \"dead\""), "inspect shows a dead record as dead\n" + i);

            // the bug of issue 8: a record naming live processes with other start times (a reused pid) is not trusted
            Path stale = Files.createDirectories(base.resolve("ex-stale"));
            Files.writeString(stale.resolve("state.json"), """
                    {"version": 1, "name": "ex-stale", "status": "running", "monitor": {"pid": %d, "startTime": 1},
                     "target": {"pid": 1, "startTime": 2}, "namespaces": {}}
                    """.formatted(ProcessHandle.current().pid()));
            Files.writeString(stale.resolve("pid"), "1\n");
            Cli.Result e = Cli.run(List.of(), env, "exec", "ex-stale", "--", "true");
            assertEquals(125, e.exit(), e::toString);
            assertTrue(e.err().contains("sandbox 'ex-stale' is dead"), e::toString);
            Path joiner = own.spec("ex-joiner.yaml", "namespaces:\n  uts: {join: {sandbox: ex-stale}}\nprocess:\n  command: [/bin/true]\n");
            Cli.Result j = Cli.run(List.of(), env, "up", joiner.toString());
            assertEquals(125, j.exit(), j::toString);
            assertTrue(j.err().contains("join.sandbox-not-running") || j.err().contains("is dead"), j::toString);
        } finally {
            if (dead != null) dead.close();
            own.close();
            ItHost.run("rm", "-rf", base.resolve("ex-stale").toString());
            Cli.Result gc = Cli.run(List.of(), env, "gc");
            assertEquals(0, gc.exit(), gc::toString);
            try (Stream<Path> left = Files.list(base)) {
                assertEquals(List.of(), left.map(Path::toString).filter(p -> !p.contains(".plan-")).toList(), "gc left records");
            }
            ItHost.run("rm", "-rf", base.toString());
            assertFalse(Files.exists(Path.of("/sys/fs/cgroup/unified/sandbox/ex-dead")) || Files.exists(Path.of("/sys/fs/cgroup/sandbox/ex-dead")),
                    "the dead sandbox's cgroup is left");
        }
    }

    /** The same as a user without privileges: the user namespace is joined first, then the others. */
    @Test
    void rootlessExecJoinsTheUserNamespaceFirst() throws IOException {
        Rootless user = Rootless.get();
        assumeTrue(user != null, "runuser or the test user is missing");
        Path spec = user.spec("ex-rootless", "namespaces:\n  user: {}\n  mount:\n    root: {type: tmpfs}\n    mounts:\n"
                + Specs.SYSTEM_MOUNTS + "  pid: {}\n  uts: {hostname: ex-rl-box}\n  ipc: {}\n  net: {}\n"
                + "process:\n  command: [/bin/sh, -c, 'echo ready; exec sleep 120']\n");
        LaunchedSandbox up = LaunchedSandbox.start(user.prefix(), user.dist(), Map.of(), "up", "--stop-timeout", "1", spec.toString());
        Path rt = Path.of("/tmp", "sandbox-" + user.uid(), "ex-rootless");
        try {
            up.awaitOut("ready", Duration.ofSeconds(60));
            long pid = Long.parseLong(Files.readString(rt.resolve("pid")).strip());
            StringBuilder script = new StringBuilder("echo id=$(id -u):$(id -g); echo host=$(hostname); grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status;");
            for (String type : NamespacesIT.TYPES) script.append("echo ").append(type).append("=$(readlink /proc/self/ns/").append(type).append(");");
            Cli.Result r = Cli.exec(user.prefix(), Map.of(), user.dist(), null, "exec", "ex-rootless", "--", "/bin/sh", "-c", script.toString());
            assertEquals(0, r.exit(), r::toString);
            Map<String, String> seen = ItHost.probe(r.out());
            assertEquals("0:0", seen.get("id"), r::toString);
            assertEquals("ex-rl-box", seen.get("host"), r::toString);
            for (String type : NamespacesIT.TYPES) {
                assertEquals(Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "ns", type)).toString(), seen.get(type), type + "\n" + r);
            }
            Map<String, String> status = status(pid);
            Map<String, String> mine = colonFields(r.out());
            for (String key : List.of("CapEff", "NoNewPrivs", "Seccomp")) assertEquals(status.get(key), mine.get(key), key + "\n" + r);
            assertEquals(7, Cli.exec(user.prefix(), Map.of(), user.dist(), null, "exec", "ex-rootless", "--", "/bin/sh", "-c", "exit 7").exit());
        } finally {
            stopByRecord(rt);
            up.close();
            user.close();
            assertEquals(List.of(), execRecords(rt.getParent().toString(), "ex-rootless"), "exec records are left");
        }
    }

    /** SIGTERM to the monitor named in a record (checked against its start time), then a wait for the record to go. */
    static void stopByRecord(Path rt) {
        try {
            String json = Files.readString(rt.resolve("state.json"));
            var m = java.util.regex.Pattern.compile("\"monitor\": \\{\"pid\": (\\d+), \"startTime\": (\\d+)\\}").matcher(json);
            if (m.find()) {
                long pid = Long.parseLong(m.group(1));
                String stat = String.join("", Files.readAllLines(Path.of("/proc", m.group(1), "stat")));
                String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                if (f[19].equals(m.group(2))) ItHost.run("kill", "-TERM", Long.toString(pid));
            }
        } catch (IOException | RuntimeException e) {
            // gone already
        }
        for (int i = 0; i < 200 && Files.exists(rt); i++) ItHost.sleepMs(50);
    }

    static Map<String, String> status(long pid) throws IOException {
        return colonFields(String.join("\n", Files.readAllLines(Path.of("/proc", Long.toString(pid), "status"))));
    }

    private static Map<String, String> colonFields(String text) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String line : text.lines().toList()) {
            int c = line.indexOf(':');
            if (c > 0) out.put(line.substring(0, c), line.substring(c + 1).trim());
        }
        return out;
    }

    /** The unprivileged user of {@link RootlessIT} and a world-readable copy of the distribution. */
    record Rootless(long uid, SpecDir copy, SpecDir home, SpecDir specs) implements AutoCloseable {

        static Rootless get() {
            if (ItHost.run("sh", "-c", "command -v runuser").exit() != 0) return null;
            ItHost.ensureUser(RootlessIT.USER); // kept for later runs
            long uid = Long.parseLong(ItHost.must("id", "-u", RootlessIT.USER).out().strip());
            SpecDir copy = new SpecDir();
            ItHost.copyDistribution(copy);
            return new Rootless(uid, copy, new SpecDir(), new SpecDir());
        }

        List<String> prefix() {
            return List.of("runuser", "-u", RootlessIT.USER, "--", "env", "-u", "XDG_RUNTIME_DIR", "HOME=" + home.dir);
        }

        Path dist() {
            return copy.dir;
        }

        Path spec(String name, String body) {
            Path p = specs.spec(name + ".yaml", "name: " + name + "\n" + body);
            ItHost.must("chmod", "a+r", p.toString());
            return p;
        }

        @Override
        public void close() {
            copy.close();
            home.close();
            specs.close();
        }
    }
}
