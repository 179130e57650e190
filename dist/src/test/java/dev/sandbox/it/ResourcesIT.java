package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The {@code resources:} section on the real kernel, as root (this host is hybrid: memory, pids and cpu on v1
 * hierarchies): a memory limit OOM-kills and up says so, a pids limit stops a fork bomb, a cpus limit holds a busy
 * loop near its share; what can't be applied is a located validate warning, or an error with {@code required: true}.
 */
class ResourcesIT {

    private static final List<String> HIERARCHIES = List.of("memory", "pids", "cpu", "unified");

    private SpecDir specs;
    private final List<String> names = new ArrayList<>();

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "cgroup limits need root (like CI)");
        specs = new SpecDir();
    }

    /** Nothing of the sandbox is left; its cgroups are removed here even when the test failed, then reported. */
    @AfterEach
    void tearDown() {
        if (specs != null) specs.close();
        List<String> left = new ArrayList<>();
        for (String name : names) {
            for (String h : HIERARCHIES) {
                Path dir = Path.of("/sys/fs/cgroup", h, "sandbox", name);
                if (!Files.isDirectory(dir)) continue;
                left.add(dir.toString());
                ItHost.run("sh", "-c", "for p in $(cat " + dir + "/cgroup.procs); do kill -9 $p; done; sleep 0.2; rmdir " + dir);
                ItHost.run("rmdir", dir.getParent().toString()); // the shared parent, when empty
            }
        }
        for (String name : names) ItHost.assertNothingLeftOf(name);
        assertEquals(List.of(), left, "cgroups left behind (removed now)");
    }

    private Path spec(String name, String body) {
        names.add(name);
        return specs.spec(name + ".yaml", "name: " + name + "\n" + body);
    }

    /** A spec on the host's root with a new pid namespace (the cgroup limits don't need more) and the given limits. */
    private Path limited(String name, String resources, String command) {
        return spec(name, """
                namespaces:
                  pid: {}
                process:
                  command: %s
                resources: %s
                """.formatted(command, resources));
    }

    @Test
    void memory64MAllocating256MiBIsOomKilledExit137AndTheLine() {
        Path spec = limited("res-oom", "{memory: 64M}", "[/usr/bin/python3, -c, 'b = bytearray(256 << 20); print(\"allocated\")']");
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(137, r.exit(), r::toString);
        assertFalse(r.out().contains("allocated"), r::toString);
        assertTrue(r.err().contains("sandbox: killed by the memory limit (64M)\n"), r::toString);
    }

    @Test
    void onlyAChildOomKilledTheLineIsPrintedAndTheTargetsStatusKept() {
        Path spec = limited("res-oom-child", "{memory: 64M}",
                "[/bin/sh, -c, '/usr/bin/python3 -c \"b = bytearray(256 << 20)\"; echo child=$?; exit 3']");
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(3, r.exit(), r::toString);
        assertTrue(r.out().contains("child=137"), r::toString);
        assertTrue(r.err().contains("sandbox: killed by the memory limit (64M)"), r::toString);
    }

    @Test
    void withinTheLimitNothingIsSaid() {
        Path spec = limited("res-oom-fine", "{memory: 64M}", "[/usr/bin/python3, -c, 'b = bytearray(16 << 20); print(\"allocated\")']");
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("allocated"), r::toString);
        assertFalse(r.err().contains("memory limit"), r::toString);
    }

    /**
     * A bounded fork bomb: every process forks up to 3 children, 6 generations deep (at most 1092 processes without a
     * limit, which this host survives too), each child sleeping 2 s. With pids: 32 forks fail with EAGAIN, the cgroup
     * never holds more than 32, and the host can still start processes.
     */
    @Test
    void pids32StopsAForkBombAndTheHostIsFine() {
        String bomb = """
                import errno, os, sys, time
                def bomb(depth):
                    for _ in range(3):
                        try:
                            pid = os.fork()
                        except OSError as e:
                            print("fork failed: " + errno.errorcode[e.errno], flush=True)
                            return
                        if pid == 0:
                            if depth < 6:
                                bomb(depth + 1)
                            time.sleep(2)
                            os._exit(0)
                bomb(1)
                n = 0
                while True:
                    try:
                        os.wait()
                        n += 1
                    except ChildProcessError:
                        break
                print("reaped", n, flush=True)
                """;
        specs.write("bomb.py", bomb);
        Path spec = limited("res-pids", "{pids: 32}", "[/usr/bin/python3, " + specs.dir.resolve("bomb.py") + "]");
        Path cgroup = Path.of("/sys/fs/cgroup/pids/sandbox/res-pids");
        long[] peak = {-1};
        AtomicReference<String> max = new AtomicReference<>("unread");
        Cli.Result r = Cli.exec(List.of(), Map.of(), Cli.DIST, p -> {
            // sample pids.current while the sandbox runs (the JVM's start takes a while on a busy host)
            while (p.isAlive()) {
                String current = read(cgroup.resolve("pids.current"));
                if (current.matches("\\d+")) {
                    peak[0] = Math.max(peak[0], Long.parseLong(current));
                    max.set(read(cgroup.resolve("pids.max")));
                }
                ItHost.sleepMs(20);
            }
        }, "up", spec.toString());
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("fork failed: EAGAIN"), r::toString);
        assertEquals("32", max.get(), "pids.max while it ran");
        assertTrue(peak[0] > 1 && peak[0] <= 32, "pids.current peaked at " + peak[0]);
        assertEquals(0, ItHost.run("true").exit(), "the host can still start processes");
    }

    /**
     * cpus: 0.5 holds busy loops near half a CPU: four busy processes over 3 s of wall time get at most about 1.5 s of
     * CPU together (their own CPU time; unlimited they would get 6 s on this 2-CPU host; the lower bound tolerates a busy
     * shared host), and the cgroup's cpu.stat shows the CFS throttling them (nr_throttled > 0: they hit the quota).
     */
    @Test
    void cpusHalfHoldsABusyLoopNearHalfACpu() {
        // four busy processes: the quota is the whole cgroup's, however many CPUs and processes share it
        specs.write("busy.py", """
                import os, time
                t = time.time()
                kids = []
                for _ in range(3):
                    pid = os.fork()
                    if pid == 0:
                        kids = None
                        break
                    kids.append(pid)
                while time.time() - t < 3:
                    pass
                if kids is None:
                    os._exit(0)
                for pid in kids:
                    os.waitpid(pid, 0)
                c = os.times()
                print("cpu=%.3f" % (c.user + c.system + c.children_user + c.children_system))
                print("wall=%.3f" % (time.time() - t))
                """);
        Path spec = limited("res-cpu", "{cpus: 0.5}", "[/usr/bin/python3, " + specs.dir.resolve("busy.py") + "]");
        Path cgroup = Path.of("/sys/fs/cgroup/cpu/sandbox/res-cpu");
        AtomicReference<String> stat = new AtomicReference<>("unread");
        Cli.Result r = Cli.exec(List.of(), Map.of(), Cli.DIST, p -> {
            // the cgroup appears just before the loop starts: read its cpu.stat 2 s into the 3 s loop
            while (p.isAlive() && !Files.exists(cgroup.resolve("cpu.stat"))) ItHost.sleepMs(20);
            ItHost.sleepMs(2000);
            stat.set(read(cgroup.resolve("cpu.stat")));
        }, "up", spec.toString());
        assertEquals(0, r.exit(), r::toString);
        Map<String, String> m = ItHost.probe(r.out());
        double ratio = Double.parseDouble(m.get("cpu")) / Double.parseDouble(m.get("wall"));
        // at most half a CPU for all four, plus a period's slack (unlimited, they would take both CPUs: 2.0); the lower
        // bound only says they ran: on this shared 2-CPU host (load averages of 10 happen) even 0.5 is not guaranteed
        assertTrue(ratio > 0.1 && ratio < 0.6, "CPU/wall " + ratio + " is not at most 0.5: " + r);
        long throttled = stat.get().lines().filter(l -> l.startsWith("nr_throttled ")).mapToLong(l -> Long.parseLong(l.substring(13).trim()))
                .findFirst().orElse(-1);
        // the CFS throttles only a cgroup that reached its quota in a period: on a saturated host four busy processes
        // may not get 50 ms per 100 ms at all (load averages of 10 were seen here; unlimited they then got 0.3 CPU)
        assumeTrue(throttled > 0 || ratio >= 0.4, "the host was too busy for the loop to reach its quota (CPU/wall " + ratio
                + "): the limit held, throttling not observable");
        assertTrue(throttled > 0, "cpu.stat while it ran: " + stat.get());
    }

    @Test
    void theLimitsAreWrittenToTheV1ControlFilesBeforeTheTargetRuns() {
        specs.write("files.sh", """
                d=/sys/fs/cgroup
                for f in memory/sandbox/res-files/memory.limit_in_bytes memory/sandbox/res-files/memory.memsw.limit_in_bytes \\
                    pids/sandbox/res-files/pids.max cpu/sandbox/res-files/cpu.cfs_quota_us cpu/sandbox/res-files/cpu.cfs_period_us \\
                    cpu/sandbox/res-files/cpu.shares; do
                  echo "$(basename $f)=$(cat $d/$f)"
                done
                cat /proc/self/cgroup
                """);
        Path spec = limited("res-files", "{memory: 1G, memorySwap: 1536M, pids: 100, cpus: 1.5, cpuWeight: 200}",
                "[/bin/sh, " + specs.dir.resolve("files.sh") + "]");
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(0, r.exit(), r::toString);
        Map<String, String> m = ItHost.probe(r.out());
        assertEquals(Long.toString(1L << 30), m.get("memory.limit_in_bytes"), r::toString);
        assertEquals(Long.toString(3L << 29), m.get("memory.memsw.limit_in_bytes"), r::toString);
        assertEquals("100", m.get("pids.max"), r::toString);
        assertEquals("150000", m.get("cpu.cfs_quota_us"), r::toString);
        assertEquals("100000", m.get("cpu.cfs_period_us"), r::toString);
        assertEquals("2048", m.get("cpu.shares"), r::toString);
        for (String c : List.of("memory", "pids", "cpu")) {
            assertTrue(r.out().lines().anyMatch(l -> l.matches("\\d+:" + c + ":/sandbox/res-files")), c + ": " + r);
        }
    }

    /**
     * {@code inspect} of a running sandbox with limits (issue 14): each limit in the spec's terms with the control file
     * the plan wrote, and the usage the kernel counts in the same cgroups.
     */
    @Test
    void inspectShowsTheLimitsAndTheCurrentUsage() throws IOException {
        String name = "insres-inspect";
        Path spec = limited(name, "{memory: 64M, pids: 32}", "[/bin/sleep, '30']");
        try {
            Cli.Result up = Cli.run("up", "-d", spec.toString());
            assertEquals(0, up.exit(), up::toString);
            Cli.Result r = Cli.run("inspect", name);
            assertEquals(0, r.exit(), r::toString);
            com.fasterxml.jackson.databind.JsonNode doc = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.out());
            assertEquals("running", doc.path("status").asText(), r::toString);
            com.fasterxml.jackson.databind.JsonNode limits = doc.path("resources").path("limits");
            assertEquals(67108864, limits.path("memory").path("value").asLong(), r::toString);
            assertEquals("64M", limits.path("memory").path("human").asText(), r::toString);
            String memCgroup = "/sys/fs/cgroup/memory/sandbox/" + name;
            assertEquals(memCgroup, limits.path("memory").path("cgroup").asText(), r::toString);
            assertEquals("67108864", limits.path("memory").path("files").path("memory.limit_in_bytes").asText(), r::toString);
            assertEquals(read(Path.of(memCgroup, "memory.limit_in_bytes")), limits.path("memory").path("files")
                    .path("memory.limit_in_bytes").asText(), "the plan's value is the kernel's\n" + r);
            assertEquals(32, limits.path("pids").path("value").asLong(), r::toString);
            assertEquals("32", limits.path("pids").path("files").path("pids.max").asText(), r::toString);
            if (Files.exists(Path.of("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"))) {
                assertEquals("128M", limits.path("memorySwap").path("human").asText(), "docker's default: 2 × memory\n" + r);
            }
            assertFalse(limits.has("cpus") || limits.has("cpuWeight"), r::toString);

            com.fasterxml.jackson.databind.JsonNode usage = doc.path("resources").path("usage");
            assertEquals(memCgroup, usage.path("memory").path("cgroup").asText(), r::toString);
            long memory = usage.path("memory").path("current").asLong();
            assertTrue(memory > 0 && memory <= 67108864, "memory in use: " + memory + "\n" + r);
            assertEquals(0, usage.path("memory").path("oomKills").asLong(-1), r::toString);
            long pids = usage.path("pids").path("current").asLong();
            assertTrue(pids >= 1 && pids <= 32, "pids.current " + pids + "\n" + r);
            assertTrue(usage.path("cpu").path("usageUsec").asLong() > 0, "the sandbox's setup and sleep used some CPU\n" + r);

            Cli.Result down = Cli.run("down", "--timeout", "0", name);
            assertEquals(0, down.exit(), down::toString);
        } finally {
            Cli.run("down", "--timeout", "0", name); // 1 when the test took it down already: fine
            Cli.run("gc");
        }
    }

    @Test
    void dockersSwapRuleIsALocatedValidateError() {
        Path spec = limited("res-swap", "\n  memory: 1G\n  memorySwap: 512M", "[/bin/true]");
        Cli.Result v = Cli.run("validate", spec.toString());
        assertEquals(1, v.exit(), v::toString);
        assertTrue((v.out() + v.err()).contains(spec.getFileName() + ":10:3: error[resources.swap-below-memory]"), v::toString);
        Cli.Result up = Cli.run("up", spec.toString());
        assertEquals(125, up.exit(), up::toString);
    }

    /** Rootless, without a delegated cgroup: a warning at the section, and the sandbox runs; required: true makes it an error. */
    @Test
    void rootlessIsAWarningAtTheSectionOrAnErrorWhenRequired() throws IOException {
        assumeTrue(ItHost.run("sh", "-c", "command -v runuser && id -u " + RootlessIT.USER).exit() == 0, "runuser or the test user is missing");
        SpecDir dist = new SpecDir();
        try {
            ItHost.copyDistribution(dist);
            List<String> asUser = List.of("runuser", "-u", RootlessIT.USER, "--", "env", "-u", "XDG_RUNTIME_DIR", "HOME=" + specs.dir);
            Path warn = spec("res-rootless", "process:\n  command: [/bin/true]\nresources:\n  memory: 64M\n");
            Cli.Result v = Cli.exec(asUser, Map.of(), dist.dir, null, "validate", warn.toString());
            assertEquals(0, v.exit(), v::toString);
            assertTrue((v.out() + v.err()).contains(warn.getFileName() + ":6:1: warning[resources.not-delegated]"), v::toString);
            Path required = spec("res-rootless-req", "process:\n  command: [/bin/echo, target-ran]\nresources:\n  memory: 64M\n  required: true\n");
            Cli.Result e = Cli.exec(asUser, Map.of(), dist.dir, null, "validate", required.toString());
            assertEquals(1, e.exit(), e::toString);
            assertTrue((e.out() + e.err()).contains(required.getFileName() + ":6:1: error[resources.not-delegated]"), e::toString);
            Cli.Result up = Cli.exec(asUser, Map.of(), dist.dir, null, "up", required.toString());
            assertEquals(125, up.exit(), up::toString);
            assertFalse(up.out().contains("target-ran"), up::toString);
        } finally {
            dist.close();
        }
    }

    private static String read(Path file) {
        try {
            return String.join("\n", Files.readAllLines(file)).trim();
        } catch (IOException e) {
            return "unreadable: " + e;
        }
    }
}
