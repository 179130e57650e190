package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code sandbox gc}: finishes every dead sandbox of the caller (its runtime dir's lock can be taken) by
 * replaying its undo journal, prints {@code removed NAME} for each, and leaves running ones alone.
 * Every test has a runtime base of its own (SANDBOX_RUNTIME_DIR), so gc never meets another test's
 * sandboxes.
 */
class GcIT {

    private SpecDir work;
    private Path base;
    private final List<Process> started = new ArrayList<>();
    private final List<Path> cgroups = new ArrayList<>();
    private Path baseline; // leakcheck's, deleted by ItHost.leaksSince or, when a test failed before, here

    @BeforeEach
    void setUp() throws IOException {
        work = new SpecDir();
        base = work.dir.resolve("runtime");
        Files.createDirectory(base, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }

    @AfterEach
    void tearDown() throws Exception {
        if (baseline != null) Files.deleteIfExists(baseline);
        for (Process p : started) {
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        for (Path cg : cgroups) {
            if (Files.isDirectory(cg)) ItHost.run("sh", "-c", "find " + cg + " -depth -type d -exec rmdir {} +");
        }
        if (work != null) {
            ItHost.unmountAllUnder(work.dir);
            work.close();
        }
    }

    private Cli.Result gc() {
        return Cli.run(List.of(), Map.of("SANDBOX_RUNTIME_DIR", base.toString()), "gc");
    }

    @Test
    void gcWithNothingToDoPrintsNothingAndExitsZero() throws IOException {
        Cli.Result empty = gc();
        assertEquals(0, empty.exit(), empty::toString);
        assertEquals("", empty.out(), empty::toString);
        assertEquals("", empty.err(), empty::toString);

        Files.delete(base);
        Cli.Result missing = gc();
        assertEquals(0, missing.exit(), () -> "a runtime base that does not exist: nothing ever ran\n" + missing);
        assertEquals("", missing.out() + missing.err(), missing::toString);
        assertFalse(Files.exists(base), "gc does not create the base");
    }

    /** Two dead sandboxes made by hand in the journal's format: each a runtime dir with a free lock and a cgroup with a process. */
    @Test
    void gcFinishesTwoDeadSandboxesFromTheirJournals() throws Exception {
        assumeTrue(Cli.isRoot(), "creating cgroups needs root");
        Path hierarchy = Files.exists(Path.of("/sys/fs/cgroup/unified/cgroup.procs")) ? Path.of("/sys/fs/cgroup/unified")
                : Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers")) ? Path.of("/sys/fs/cgroup") : null;
        assumeTrue(hierarchy != null, "no cgroup2 hierarchy");
        List<Process> inside = new ArrayList<>();
        for (String name : List.of("journal-gc-a", "journal-gc-b")) {
            Path cg = hierarchy.resolve("sandbox").resolve(name);
            cgroups.add(cg);
            Files.createDirectories(cg.resolve("inner")); // a child cgroup, as a target with delegation could make
            Process sleep = new ProcessBuilder("sleep", "300").start();
            started.add(sleep);
            inside.add(sleep);
            Files.writeString(cg.resolve("inner/cgroup.procs"), sleep.pid() + "\n");
            Path rt = Files.createDirectory(base.resolve(name));
            Files.createFile(rt.resolve("lock"));
            Files.createDirectory(rt.resolve("root"));
            Files.writeString(rt.resolve("journal"), "cgroup-remove\tpath=" + cg + "\n");
        }

        Cli.Result r = gc();

        assertEquals(0, r.exit(), r::toString);
        assertEquals("removed journal-gc-a\nremoved journal-gc-b\n", r.out(), r::toString);
        assertEquals("", r.err(), r::toString);
        for (Path cg : cgroups) assertFalse(Files.exists(cg), cg + " is removed");
        for (Process p : inside) assertTrue(p.waitFor(5, TimeUnit.SECONDS), "the process in the cgroup was killed");
        try (var entries = Files.list(base)) {
            assertEquals(List.of(), entries.toList(), "the runtime dirs are gone");
        }
        Cli.Result again = gc();
        assertEquals(0, again.exit(), again::toString);
        assertEquals("", again.out(), () -> "a second gc finds nothing: " + again);
    }

    /** Two real sandboxes whose monitor was killed (SIGKILL) while their targets ran. */
    @Test
    void gcFinishesTwoSandboxesWhoseMonitorWasKilled() {
        assumeTrue(Cli.isRoot(), "veth links and cgroups need root");
        String marker = "journal-gc-" + UUID.randomUUID();
        List<String> names = List.of("journal-gc-k1", "journal-gc-k2");
        baseline = ItHost.leakBaseline();
        for (int i = 0; i < names.size(); i++) {
            String name = names.get(i);
            Path spec = work.spec(name + ".yaml", """
                    namespaces:
                      mount:
                        root: {type: tmpfs}
                        mounts:
                    %s  pid: {}
                      net:
                        links:
                          - {type: veth, name: eth0, hostName: jrn-gc%d, address: 198.18.52.%d/30, hostAddress: 198.18.52.%d/30}
                      cgroup: {}
                    process:
                      command: [/bin/sh, -c, 'echo ran; sleep 0.2', %s]
                    """.formatted(Specs.SYSTEM_MOUNTS, i, 202 + 4 * i, 201 + 4 * i, name));
            Cli.Result up = Cli.run(List.of(), Map.of("SANDBOX_RUNTIME_DIR", base.toString(), "SANDBOX_CRASH_AT", "released",
                    "SANDBOX_IT_MARKER", marker), "up", spec.toString());
            assertEquals(137, up.exit(), () -> "the monitor is killed after the release:\n" + up);
            cgroups.add(Path.of("/sys/fs/cgroup/unified/sandbox", name));
        }
        KillNineIT.awaitNoMarkedProcesses(marker, 10_000);
        for (String name : names) assertTrue(Files.isDirectory(base.resolve(name)), name + "'s runtime dir is left by the kill");

        Cli.Result r = gc();

        assertEquals(0, r.exit(), r::toString);
        assertEquals("removed journal-gc-k1\nremoved journal-gc-k2\n", r.out(), r::toString);
        List<String> left = new ArrayList<>();
        for (String name : names) {
            if (Files.exists(base.resolve(name))) left.add("runtime dir " + name);
            for (String h : List.of("/sys/fs/cgroup/unified", "/sys/fs/cgroup", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/systemd")) {
                if (Files.exists(Path.of(h, "sandbox", name))) left.add("cgroup " + h + "/sandbox/" + name);
            }
            ItHost.processesMentioning(name).forEach(p -> left.add("process " + p.pid() + " " + ItHost.cmdline(p.pid())));
        }
        for (int i = 0; i < names.size(); i++) {
            if (ItHost.run("ip", "link", "show", "jrn-gc" + i).exit() == 0) left.add("veth jrn-gc" + i);
        }
        left.addAll(KillNineIT.markedProcesses(marker).stream().map(p -> "process " + p + " " + ItHost.cmdline(p)).toList());
        left.addAll(ItHost.leaksSince(baseline, "journal-gc-k").stream().map(l -> "leakcheck: " + l).toList());
        assertEquals(List.of(), left);
    }

    /** A running sandbox (its monitor holds the lock) is left alone; a dead one next to it is removed. */
    @Test
    void gcLeavesARunningSandboxAlone() throws Exception {
        assumeTrue(Cli.isRoot(), "the bind of the flag dir into a sandbox without a user namespace needs root");
        Path flags = Files.createDirectory(work.dir.resolve("flags"));
        Path dead = Files.createDirectory(base.resolve("journal-gc-dead"));
        Files.createFile(dead.resolve("lock"));
        Files.writeString(dead.resolve("journal"), "");
        String name = "journal-gc-running";
        Path spec = work.spec(name + ".yaml", """
                namespaces:
                  mount:
                    root: {type: tmpfs}
                    mounts:
                %s      - {type: bind, source: %s, target: /flags}
                  pid: {}
                process:
                  command: [/bin/sh, -c, 'touch /flags/running; while [ ! -e /flags/go ]; do sleep 0.05; done; echo ran', %s]
                """.formatted(Specs.SYSTEM_MOUNTS, flags, name));
        AtomicReference<Cli.Result> gcWhileRunning = new AtomicReference<>();
        AtomicReference<Boolean> dirWhileRunning = new AtomicReference<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Cli.Result up = Cli.exec(List.of(), Map.of("SANDBOX_RUNTIME_DIR", base.toString()), Cli.DIST, p -> {
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (!Files.exists(flags.resolve("running"))) {
                    if (!p.isAlive() || System.nanoTime() > deadline) throw new AssertionError("the sandbox did not start");
                    Thread.sleep(20);
                }
                gcWhileRunning.set(gc());
                dirWhileRunning.set(Files.isDirectory(base.resolve(name)));
            } catch (Throwable t) {
                failure.set(t);
            } finally {
                try {
                    Files.createFile(flags.resolve("go"));
                } catch (IOException ignored) {
                    // Cli's timeout is the last resort
                }
            }
        }, "up", spec.toString());
        if (failure.get() != null) throw new AssertionError(up.toString(), failure.get());

        Cli.Result gc = gcWhileRunning.get();
        assertEquals(0, gc.exit(), gc::toString);
        assertEquals("removed journal-gc-dead\n", gc.out(), () -> "only the dead one is removed: " + gc);
        assertTrue(dirWhileRunning.get(), "the running sandbox's runtime dir is untouched");
        assertEquals(0, up.exit(), () -> "the running sandbox went on undisturbed: " + up);
        assertTrue(up.out().contains("ran"), up::toString);
        assertFalse(Files.exists(base.resolve(name)), "and removed its own dir at its end");
    }

    /** Leftovers of starts and teardowns that never finished, and handoff files nobody consumed. */
    @Test
    void gcRemovesOldLeftoversAndKeepsYoungOnes() throws IOException {
        FileTime old = FileTime.from(Instant.now().minusSeconds(120));
        Path oldPlan = Files.writeString(base.resolve(".plan-journalgc1"), "# sandbox-plan 1\n");
        Files.setLastModifiedTime(oldPlan, old);
        Path youngPlan = Files.writeString(base.resolve(".plan-journalgc2"), "# sandbox-plan 1\n");
        Path oldNew = Files.createDirectory(base.resolve(".journal-gc-x.new-abc123"));
        Files.createFile(oldNew.resolve("lock"));
        Files.setLastModifiedTime(oldNew, old);
        Path youngNew = Files.createDirectory(base.resolve(".journal-gc-y.new-def456"));
        Path stale = Files.createDirectory(base.resolve(".journal-gc-z.stale-1-2"));
        Files.createDirectory(stale.resolve("root"));

        Cli.Result r = gc();

        assertEquals(0, r.exit(), r::toString);
        assertEquals("", r.out() + r.err(), () -> "leftovers are removed silently: " + r);
        assertFalse(Files.exists(oldPlan), "an old .plan-* is removed");
        assertFalse(Files.exists(oldNew), "an old .NAME.new-* is removed");
        assertFalse(Files.exists(stale), "a .NAME.stale-* is removed");
        assertTrue(Files.exists(youngPlan), "a young .plan-* may still be on its way to the runtime");
        assertTrue(Files.exists(youngNew), "a young .NAME.new-* may be a start in progress");
    }

    @Test
    void gcRefusesABaseOthersCanWrite() throws IOException {
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxrwxrwx"));
        Path dead = Files.createDirectory(base.resolve("journal-gc-planted"));
        Files.createFile(dead.resolve("lock"));

        Cli.Result r = gc();

        assertEquals(1, r.exit(), r::toString);
        assertTrue(r.err().startsWith("sandbox: gc: " + base) && r.err().contains("refusing"), r::toString);
        assertEquals(1, r.err().lines().count(), () -> "one line: " + r);
        assertTrue(Files.exists(dead), "nothing in it is touched");
    }
}
