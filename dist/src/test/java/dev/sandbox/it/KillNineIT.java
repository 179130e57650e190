package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code kill -9} at every crash point of {@code up} (docs/architecture.md, "Crash points"): the runtime
 * honours {@code SANDBOX_CRASH_AT=<point>} by killing, with SIGKILL, the process that reaches that point
 * (the monitor, the helper or the child). Whatever the moment, {@code sandbox gc} — or the next {@code up}
 * of the name — must leave nothing: no runtime dir, no cgroup, no veth, no process of the run, no
 * namespace of it, nothing new that leakcheck can tie to the sandbox.
 *
 * <p>As root the spec has a user namespace (setgroups denied, so that point is reached too), pid, mount
 * with a tmpfs root, net with a veth link on 198.18.52.0/24 (a /30 per point) and a cgroup; rootless (the
 * user {@value RootlessIT#USER}, as RootlessIT runs it) the same without the link and the cgroup, whose
 * six points don't apply there. Every run has a runtime base of its own (SANDBOX_RUNTIME_DIR), so gc never
 * meets another test's sandboxes, and a marker in its environment, so that every process of the run (the
 * monitor, the helper, the child before its exec) can be found in /proc whatever became of its parent.
 */
class KillNineIT {

    enum Who { MONITOR, HELPER, CHILD }

    /** The crash points in the order {@code up} reaches them. */
    enum Point {
        MONITOR_START("monitor-start", Who.MONITOR, true),
        RUNTIME_DIR_LOCKED("runtime-dir-locked", Who.MONITOR, true),
        JOURNAL_OPENED("journal-opened", Who.MONITOR, true),
        CGROUP_JOURNALED("cgroup-journaled", Who.MONITOR, false),
        CGROUP_CREATED("cgroup-created", Who.MONITOR, false),
        HELPER_FORKED("helper-forked", Who.MONITOR, true),
        HELPER_ENTERED("helper-entered", Who.HELPER, true),
        ENTERED("entered", Who.MONITOR, true),
        SETGROUPS_WRITTEN("setgroups-written", Who.MONITOR, true),
        UID_MAP_WRITTEN("uid-map-written", Who.MONITOR, true),
        GID_MAP_WRITTEN("gid-map-written", Who.MONITOR, true),
        CGROUP_PLACED("cgroup-placed", Who.MONITOR, false),
        HELPER_CLONED("helper-cloned", Who.HELPER, true),
        CLONED("cloned", Who.MONITOR, true),
        STATE_RUNNING("state-running", Who.MONITOR, true),
        VETH_JOURNALED("veth-journaled", Who.MONITOR, false),
        VETH_CREATED("veth-created", Who.MONITOR, false),
        VETH_CONFIGURED("veth-configured", Who.MONITOR, false),
        RELEASED("released", Who.MONITOR, true),
        CHILD_MOUNTS("child-mounts", Who.CHILD, true),
        CHILD_PIVOTED("child-pivoted", Who.CHILD, true),
        CHILD_EXEC("child-exec", Who.CHILD, true),
        TARGET_EXITED("target-exited", Who.MONITOR, true),
        TEARDOWN_STEP("teardown-step", Who.MONITOR, true),
        TEARDOWN_DONE("teardown-done", Who.MONITOR, true);

        final String wire;
        final Who who;
        final boolean rootless;

        Point(String wire, Who who, boolean rootless) {
            this.wire = wire;
            this.who = who;
            this.rootless = rootless;
        }

        @Override
        public String toString() {
            return wire;
        }
    }

    enum Variant { ROOT, ROOTLESS }

    static Stream<Arguments> points() {
        List<Arguments> all = new ArrayList<>();
        for (Variant v : Variant.values()) {
            for (Point p : Point.values()) {
                if (v == Variant.ROOT || p.rootless) all.add(Arguments.of(v, p));
            }
        }
        return all.stream();
    }

    private static SpecDir dist;   // a copy of the distribution the rootless user can read
    private static SpecDir home;   // an empty HOME for the rootless user
    private static long userUid;
    private static long userGid;

    private SpecDir work;
    private final List<String> linksToRemove = new ArrayList<>();
    private final List<String> markers = new ArrayList<>();
    private final List<String> names = new ArrayList<>();
    private Path baseline; // leakcheck's, deleted by ItHost.leaksSince or, when a test failed before, here

    @BeforeAll
    static void rootAndARootlessUser() {
        assumeTrue(Cli.isRoot(), "crash points with cgroups and veth links need root; the rootless runs need runuser as root");
        if (ItHost.run("sh", "-c", "command -v runuser").exit() != 0) return; // rootless cases are skipped then
        ItHost.ensureUser(RootlessIT.USER); // kept for later runs
        userUid = Long.parseLong(ItHost.must("id", "-u", RootlessIT.USER).out().strip());
        userGid = Long.parseLong(ItHost.must("id", "-g", RootlessIT.USER).out().strip());
        dist = new SpecDir();
        ItHost.copyDistribution(dist);
        home = new SpecDir();
    }

    @AfterAll
    static void removeTheCopy() {
        if (dist != null) dist.close();
        if (home != null) home.close();
    }

    @AfterEach
    void cleanUpWhateverIsLeft() throws IOException {
        if (baseline != null) Files.deleteIfExists(baseline);
        // only what this test made: its marked processes, its links, its cgroups, its runtime base
        for (String marker : markers) {
            for (long pid : markedProcesses(marker)) ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
        for (String link : linksToRemove) {
            if (ItHost.run("ip", "link", "show", link).exit() == 0) ItHost.run("ip", "link", "del", link);
        }
        for (String name : names) {
            for (Path cg : cgroupDirs(name)) ItHost.run("sh", "-c", "find " + cg + " -depth -type d -exec rmdir {} +");
        }
        if (work != null) {
            ItHost.unmountAllUnder(work.dir);
            work.close();
        }
    }

    // ---------------------------------------------------------------------------------------------

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("points")
    void aKillAtThePointLeavesNothingAfterGc(Variant variant, Point point) {
        Run run = prepare(variant, point, "g");
        baseline = ItHost.leakBaseline();

        crash(run, point);
        Map<String, Long> namespaces = namespacesOf(run);
        boolean dirLeft = Files.exists(run.runtimeDir());

        Cli.Result gc = sandbox(run, Map.of(), "gc");
        assertEquals(0, gc.exit(), () -> "sandbox gc after a kill at " + point + ":\n" + gc);
        assertEquals(dirLeft ? "removed " + run.name + "\n" : "", gc.out(), () -> "gc's report: " + gc);
        assertNothingLeft(run, namespaces, baseline);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("points")
    void aKillAtThePointIsFinishedByTheNextUpOfTheName(Variant variant, Point point) {
        Run run = prepare(variant, point, "u");
        baseline = ItHost.leakBaseline();

        crash(run, point);
        Map<String, Long> namespaces = namespacesOf(run);

        Cli.Result again = sandbox(run, Map.of(), "up", run.spec.toString());
        assertEquals(0, again.exit(), () -> "the next up of " + run.name + " after a kill at " + point + ":\n" + again);
        assertTrue(again.out().contains("ran"), again::toString);
        assertNothingLeft(run, namespaces, baseline);
    }

    // ---------------------------------------------------------------------------------------------

    /** One test's sandbox: its name, spec, runtime base, veth host name, environment marker. */
    private record Run(Variant variant, String name, Path spec, Path base, String hostLink, String marker) {
        Path runtimeDir() {
            return base.resolve(name);
        }
    }

    private Run prepare(Variant variant, Point point, String kind) {
        if (variant == Variant.ROOTLESS) assumeTrue(dist != null, "runuser (util-linux) is missing: no rootless runs");
        work = new SpecDir();
        int index = point.ordinal();
        String name = "journal-kn" + (variant == Variant.ROOT ? "" : "r") + kind + "-" + point.wire;
        String marker = "journal-kn-" + UUID.randomUUID();
        names.add(name);
        markers.add(marker);
        Path base = work.dir.resolve("runtime");
        try {
            Files.createDirectory(base, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            if (variant == Variant.ROOTLESS) ItHost.must("chown", userUid + ":" + userGid, base.toString());
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        String hostLink = null;
        StringBuilder spec = new StringBuilder("name: " + name + "\nnamespaces:\n");
        if (variant == Variant.ROOT) {
            hostLink = "jrn-kn" + kind + index;
            linksToRemove.add(hostLink);
            int net = index * 4; // 198.18.52.<net>/30: .net+1 the host, .net+2 the sandbox
            spec.append("  user: {setgroups: deny}\n");
            spec.append(mounts());
            spec.append("  pid: {}\n");
            spec.append("  net:\n    links:\n      - {type: veth, name: eth0, hostName: ").append(hostLink)
                    .append(", address: 198.18.52.").append(net + 2).append("/30, hostAddress: 198.18.52.").append(net + 1).append("/30}\n");
            spec.append("  cgroup: {}\n");
        } else {
            spec.append("  user: {}\n");
            spec.append(mounts());
            spec.append("  pid: {}\n");
            spec.append("  net: {}\n");
        }
        // $0 is the name: the target's command line names the sandbox (ItHost.processesMentioning, leakcheck)
        spec.append("process:\n  command: [/bin/sh, -c, 'echo ran; sleep 0.2', ").append(name).append("]\n");
        Path file = work.spec(name + ".yaml", spec.toString());
        try {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return new Run(variant, name, file, base, hostLink, marker);
    }

    private static String mounts() {
        return "  mount:\n    root: {type: tmpfs}\n    mounts:\n" + Specs.SYSTEM_MOUNTS;
    }

    /** {@code up} with SANDBOX_CRASH_AT: it must not succeed, and the point must be the one that ended it. */
    private void crash(Run run, Point point) {
        Cli.Result r = sandbox(run, Map.of("SANDBOX_CRASH_AT", point.wire), "up", run.spec.toString());
        assertNotEquals(0, r.exit(), () -> "up with SANDBOX_CRASH_AT=" + point + " succeeded: was the point reached?\n" + r);
        switch (point.who) {
            // bin/sandbox execs the monitor: up's own process is the one killed (runuser passes 128+9 on)
            case MONITOR -> assertEquals(137, r.exit(), () -> "the monitor was killed by SIGKILL at " + point + ":\n" + r);
            case HELPER -> assertTrue(r.err().contains("was killed by signal 9"), () -> "the monitor names the helper's death:\n" + r);
            case CHILD -> assertFalse(r.out().contains("ran"), () -> "the target never ran:\n" + r);
        }
        // the helper and the child notice the monitor's death and end (socket EOF, PR_SET_PDEATHSIG);
        // until they have, the runtime dir's lock may still be theirs
        awaitNoMarkedProcesses(run.marker, 10_000);
    }

    /** Runs bin/sandbox as the variant's user, with the run's runtime base and marker. */
    private static Cli.Result sandbox(Run run, Map<String, String> extra, String... args) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("SANDBOX_RUNTIME_DIR", run.base.toString());
        env.put("SANDBOX_IT_MARKER", run.marker);
        env.putAll(extra);
        if (run.variant == Variant.ROOT) return Cli.run(List.of(), env, args);
        List<String> prefix = new ArrayList<>(List.of("runuser", "-u", RootlessIT.USER, "--", "env", "-u", "XDG_RUNTIME_DIR",
                "HOME=" + home.dir));
        env.forEach((k, v) -> prefix.add(k + "=" + v));
        return Cli.exec(prefix, Map.of(), dist.dir, null, args);
    }

    // ---------------------------------------------------------------------------------------------
    // What may be left

    private void assertNothingLeft(Run run, Map<String, Long> namespaces, Path baseline) {
        // a sandbox's namespaces may outlive its last process for a moment (a netns with a veth being
        // destroyed); poll until nothing is left, then list what still is
        for (int i = 0; i < 50 && !leftOver(run, namespaces).isEmpty(); i++) ItHost.sleepMs(100);
        List<String> left = leftOver(run, namespaces);
        left.addAll(ItHost.leaksSince(baseline, run.name));
        assertEquals(List.of(), left, "left after the kill and the cleanup of " + run.name);
    }

    private List<String> leftOver(Run run, Map<String, Long> namespaces) {
        List<String> left = new ArrayList<>();
        try (Stream<Path> entries = Files.list(run.base)) {
            entries.filter(p -> p.getFileName().toString().contains(run.name)).forEach(p -> left.add("runtime " + p));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        for (Path cg : cgroupDirs(run.name)) left.add("cgroup " + cg);
        if (run.hostLink != null && ItHost.run("ip", "link", "show", run.hostLink).exit() == 0) left.add("veth " + run.hostLink);
        for (long pid : markedProcesses(run.marker)) left.add("process " + pid + " " + ItHost.cmdline(pid));
        for (ProcessHandle p : ItHost.processesMentioning(run.name)) left.add("process " + p.pid() + " " + ItHost.cmdline(p.pid()));
        namespaces.forEach((type, inode) -> {
            for (long pid : processesIn(type, inode)) left.add("ns " + type + " " + inode + ": process " + pid + " " + ItHost.cmdline(pid));
        });
        return left;
    }

    /** The cgroup dirs of sandbox {@code name} in any hierarchy (cgroup2, v1 pids, name=systemd...). */
    private static List<Path> cgroupDirs(String name) {
        List<Path> out = new ArrayList<>();
        Path root = Path.of("/sys/fs/cgroup");
        List<Path> hierarchies = new ArrayList<>(List.of(root));
        try (Stream<Path> h = Files.list(root)) {
            h.filter(Files::isDirectory).forEach(hierarchies::add);
        } catch (IOException e) {
            // no cgroup fs: nothing can be left there
        }
        for (Path h : hierarchies) {
            Path cg = h.resolve("sandbox").resolve(name);
            if (Files.isDirectory(cg)) out.add(cg);
        }
        return out;
    }

    /** The namespaces the sandbox created, from its state.json (when the kill left one), minus the test's own. */
    private static Map<String, Long> namespacesOf(Run run) {
        Path state = run.runtimeDir().resolve("state.json");
        Map<String, Long> out = new HashMap<>();
        if (!Files.exists(state)) return out;
        try {
            var json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(Files.readAllBytes(state));
            assertEquals(1, json.path("version").asInt(), "state.json version: " + json);
            var ns = json.path("namespaces");
            ns.fieldNames().forEachRemaining(type -> {
                long inode = ns.get(type).asLong();
                if (inode != ownNamespace(type)) out.put(type, inode);
            });
        } catch (IOException e) {
            throw new AssertionError("state.json of " + run.name + " is not JSON", e);
        }
        return out;
    }

    private static long ownNamespace(String type) {
        try {
            String link = Files.readSymbolicLink(Path.of("/proc/self/ns", type)).toString();
            return Long.parseLong(link.substring(link.indexOf('[') + 1, link.indexOf(']')));
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    private static List<Long> processesIn(String type, long inode) {
        String expected = type + ":[" + inode + "]";
        List<Long> out = new ArrayList<>();
        ProcessHandle.allProcesses().forEach(p -> {
            try {
                if (Files.readSymbolicLink(Path.of("/proc", Long.toString(p.pid()), "ns", type)).toString().equals(expected)) out.add(p.pid());
            } catch (IOException | UnsupportedOperationException ignored) {
                // gone, or a kernel thread
            }
        });
        return out;
    }

    /** Processes whose environment holds the run's marker: the monitor, the helper, the child before its exec. */
    static List<Long> markedProcesses(String marker) {
        byte[] needle = ("SANDBOX_IT_MARKER=" + marker).getBytes(StandardCharsets.UTF_8);
        long self = ProcessHandle.current().pid();
        List<Long> out = new ArrayList<>();
        ProcessHandle.allProcesses().forEach(p -> {
            if (p.pid() == self) return;
            try {
                byte[] env = Files.readAllBytes(Path.of("/proc", Long.toString(p.pid()), "environ"));
                if (indexOf(env, needle) >= 0 && !isZombie(p.pid())) out.add(p.pid());
            } catch (IOException ignored) {
                // gone, or not readable
            }
        });
        return out;
    }

    private static boolean isZombie(long pid) {
        try {
            String stat = new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "stat")), StandardCharsets.UTF_8);
            String state = stat.substring(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
            return state.equals("Z") || state.equals("X");
        } catch (IOException | RuntimeException e) {
            return true; // gone
        }
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) continue outer;
            }
            if (i + needle.length == hay.length || hay[i + needle.length] == 0) return i;
        }
        return -1;
    }

    static void awaitNoMarkedProcesses(String marker, long ms) {
        long deadline = System.nanoTime() + ms * 1_000_000;
        while (!markedProcesses(marker).isEmpty() && System.nanoTime() < deadline) ItHost.sleepMs(20);
        List<Long> left = markedProcesses(marker);
        assertEquals(List.of(), left.stream().map(p -> p + " " + ItHost.cmdline(p)).toList(),
                "processes of the run still alive " + ms + " ms after up returned");
    }
}
