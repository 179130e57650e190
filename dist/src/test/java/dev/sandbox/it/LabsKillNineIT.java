package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code kill -9} of a lab's processes (docs/labs.md, "How it runs"; docs/architecture.md, "Crash points"): lab-up
 * killed at each of its crash points — among them while a node starts — and the lab's holder killed once the lab
 * runs. Whatever the moment, {@code sandbox gc}, the next {@code up} of the lab (then downed) or {@code down LAB}
 * must leave nothing: no runtime dir of the lab or a node, no nsfs mount, no node process, nothing new leakcheck
 * ties to the lab. Every node's command is {@code sleep <a number of this case>}, so its processes are found
 * whatever became of their parents. Labs are named {@code lo-kn*}; addresses from 198.18.114.0/24 (inside the lab's
 * namespaces only). LabsRootlessIT runs the same cases rootless.
 */
class LabsKillNineIT {

    static final Path BASE = Path.of("/run/sandbox");

    /** Where up is killed: lab-up's crash points in the order it reaches them, then the holder of a running lab. */
    enum Point {
        NETNS_CREATED("lab-netns-created"),
        LINKED("lab-linked"),
        NODE_JOURNALED("lab-node-journaled"),
        NODE_STARTING("lab-node-starting"),
        NODE_STARTED("lab-node-started"),
        HOLDER_FORKED("lab-holder-forked"),
        HOLDER_KILLED(null);

        final String wire;

        Point(String wire) {
            this.wire = wire;
        }
    }

    enum Finisher { GC, UP, DOWN }

    static Stream<Arguments> cases() {
        List<Arguments> all = new ArrayList<>();
        for (Point p : Point.values()) {
            for (Finisher f : Finisher.values()) all.add(Arguments.of(p, f));
        }
        return all.stream();
    }

    private SpecDir specs;
    private String lab;
    private String sleep;
    private Path baseline;

    @AfterEach
    void cleanUp() throws IOException {
        if (baseline != null) Files.deleteIfExists(baseline);
        if (lab != null) {
            Cli.run("down", "--timeout", "0", lab);
            Cli.run("gc");
            for (long pid : processes(sleep)) ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        if (specs != null) specs.close();
    }

    @ParameterizedTest(name = "{0} then {1}")
    @MethodSource("cases")
    void aKilledLabIsFinishedAndLeavesNothing(Point point, Finisher finisher) throws IOException {
        assumeTrue(Cli.isRoot(), "labs need root today (docs/labs.md)");
        int n = point.ordinal() * Finisher.values().length + finisher.ordinal();
        lab = "lo-kn" + n;
        sleep = "sleep " + (1142000 + n);
        specs = new SpecDir();
        Path file = specs.write(lab + ".yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: %s
                defaults: {process: {command: [%s]}}
                nodes: {a: {}, b: {}, c: {}}
                links:
                  - {endpoints: [a:eth0, b:eth0], addresses: [198.18.114.33/30, 198.18.114.34/30]}
                  - {type: bridge, name: lan, endpoints: [a:eth1, b:eth1, c:eth0]}
                """.formatted(lab, sleep.replace(" ", ", \"") + "\""));
        baseline = ItHost.leakBaseline();

        if (point == Point.HOLDER_KILLED) {
            Cli.Result up = up(file, Map.of());
            assertEquals(0, up.exit(), up.toString());
            long holder = holderPid();
            ProcessHandle.of(holder).ifPresent(ProcessHandle::destroyForcibly);
            awaitGone(holder);
            Cli.Result ps = Cli.run("ps");
            assertFalse(ps.out().lines().anyMatch(l -> l.matches(lab + "\\s+running\\s.*")), "the lab is dead:\n" + ps.out());
        } else {
            Cli.Result up = up(file, Map.of("SANDBOX_CRASH_AT", point.wire));
            assertEquals(137, up.exit(), () -> "lab-up was killed at " + point.wire + ":\n" + up);
        }
        // the lab's lock goes with the last process holding it (lab-up, a fork of it, the holder)
        awaitLockFree(BASE.resolve(lab).resolve("lock"));

        switch (finisher) {
            case GC -> {
                Cli.Result gc = Cli.run("gc");
                assertEquals(0, gc.exit(), gc.toString());
            }
            case UP -> {
                Cli.Result again = up(file, Map.of());
                assertEquals(0, again.exit(), () -> "the next up of " + lab + ":\n" + again);
                assertEquals(3, processes(sleep).size(), "three nodes of the new lab, none of the old one");
                Cli.Result down = Cli.run("down", lab);
                assertEquals(0, down.exit(), down.toString());
            }
            case DOWN -> {
                Cli.Result down = Cli.run("down", lab);
                assertEquals(0, down.exit(), down.toString());
            }
        }
        assertNothingLeft();
    }

    private Cli.Result up(Path file, Map<String, String> env) {
        Map<String, String> all = new java.util.HashMap<>(env);
        all.put("SANDBOX_NO_CACHE", "1");
        return Cli.run(List.of(), all, "up", file.toString());
    }

    private long holderPid() throws IOException {
        var state = new com.fasterxml.jackson.databind.ObjectMapper().readTree(Files.readAllBytes(BASE.resolve(lab).resolve("state.json")));
        return state.path("monitor").path("pid").asLong();
    }

    static void awaitGone(long pid) {
        for (int i = 0; i < 100 && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false); i++) ItHost.sleepMs(20);
    }

    /** Until no process has {@code lock} open (flock(2) locks are not visible to Java's fcntl-based FileLock). */
    static void awaitLockFree(Path lock) {
        for (int i = 0; i < 250 && held(lock); i++) ItHost.sleepMs(20);
    }

    private static boolean held(Path lock) {
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            return procs.filter(p -> p.getFileName().toString().chars().allMatch(Character::isDigit)).anyMatch(p -> {
                try (Stream<Path> fds = Files.list(p.resolve("fd"))) {
                    return fds.anyMatch(fd -> {
                        try {
                            return Files.readSymbolicLink(fd).equals(lock);
                        } catch (IOException e) {
                            return false;
                        }
                    });
                } catch (IOException | RuntimeException e) {
                    return false;
                }
            });
        } catch (IOException e) {
            return false;
        }
    }

    static List<Long> processes(String cmdline) {
        return ProcessHandle.allProcesses().map(ProcessHandle::pid).filter(pid -> ItHost.cmdline(pid).equals(cmdline + " ")).toList();
    }

    private void assertNothingLeft() throws IOException {
        List<String> left = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            left = leftOver();
            if (left.isEmpty()) break;
            ItHost.sleepMs(100);
        }
        left.addAll(ItHost.leaksSince(baseline, lab));
        baseline = null;
        assertEquals(List.of(), left, "left after the kill and the cleanup of " + lab);
        Cli.Result ps = Cli.run("ps", "-a");
        assertFalse(ps.out().contains(lab), ps.out());
    }

    private List<String> leftOver() throws IOException {
        List<String> left = new ArrayList<>();
        try (Stream<Path> dirs = Files.list(BASE)) {
            dirs.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(lab) || n.startsWith("." + lab) || n.startsWith(".plan-" + lab))
                    .forEach(n -> left.add("runtime " + n));
        }
        Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().filter(l -> l.contains(BASE + "/" + lab) || l.contains(BASE + "/." + lab))
                .forEach(l -> left.add("mount " + l));
        for (long pid : processes(sleep)) left.add("process " + pid + " " + sleep);
        return left;
    }
}
