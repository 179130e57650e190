package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Joining several namespaces of a running sandbox at once, the mount namespace included (issue 8).
 * The helper used to open each {@code /proc/N/ns/<type>} right before its setns: once the mount
 * namespace was entered, the next path resolved in the joined sandbox's own {@code /proc} (its pid
 * namespace, where N is another process or none) and the run failed with
 * {@code open /proc/N/ns/pid: ENOENT}. Now every file is opened first. A probe in the joining
 * sandbox prints {@code readlink /proc/self/ns/*}; the host reads {@code /proc/<pid of A>/ns/*}.
 */
class JoinRunningSandboxIT {

    private SpecDir specs;
    private final List<String> names = new ArrayList<>();
    private final List<LaunchedSandbox> running = new ArrayList<>();

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "joining by sandbox name reads the root runtime dir /run/sandbox (like CI)");
        assumeTrue(Files.exists(Path.of("/proc/self/ns/time")), "this kernel has no time namespaces (they need Linux 5.6)");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        for (int i = running.size() - 1; i >= 0; i--) running.get(i).close();
        if (specs != null) specs.close();
        for (String name : names) ItHost.assertNothingLeftOf(name);
    }

    @Test
    void joiningAllEightNamespacesOfARunningSandboxByNameEntersExactlyItsNamespaces() throws IOException {
        String a = "joinit-all-a";
        long pid = startIsolated(a);
        Map<String, String> ofA = namespacesOf(pid);
        StringBuilder joins = new StringBuilder();
        for (String type : List.of("user", "mount", "pid", "uts", "ipc", "net", "cgroup", "time")) {
            joins.append("  ").append(type).append(": {join: {sandbox: ").append(a).append("}}\n");
        }
        Path b = spec("joinit-all-b", "namespaces:\n" + joins + "process:\n  command: " + NamespacesIT.NS_PROBE + "\n");

        Map<String, String> inside = probe(b);
        for (String type : NamespacesIT.TYPES) {
            assertNotNull(inside.get(type), "the probe printed no " + type + ": " + inside);
            assertEquals(ofA.get(type), inside.get(type), type + " namespace of the joining sandbox is not the running one's");
        }
        assertTrue(running.get(0).isAlive(), "joining must not disturb the running sandbox:\n" + running.get(0));
    }

    @Test
    void joiningMountPidAndNetOfARunningSandboxEntersThoseAndKeepsTheOthers() throws IOException {
        String a = "joinit-mpn-a";
        long pid = startIsolated(a);
        Map<String, String> ofA = namespacesOf(pid);
        Map<String, String> host = NamespacesIT.hostNamespaces();
        // the mount namespace first in the spec, as in the bug report: its /proc must not be where
        // the pid and net namespace files are looked up
        Path b = spec("joinit-mpn-b", """
                namespaces:
                  mount: {join: {sandbox: %1$s}}
                  pid: {join: {sandbox: %1$s}}
                  net: {join: {sandbox: %1$s}}
                process:
                  command: %2$s
                """.formatted(a, NamespacesIT.NS_PROBE));

        Map<String, String> inside = probe(b);
        for (String type : List.of("mnt", "pid", "net")) {
            assertEquals(ofA.get(type), inside.get(type), type + " namespace is not the running sandbox's");
        }
        for (String type : List.of("user", "uts", "ipc", "cgroup", "time")) {
            assertEquals(host.get(type), inside.get(type), type + " namespace was not asked for and must stay the host's");
            assertNotEquals(ofA.get(type), inside.get(type), type + " of the running sandbox was entered without being asked for");
        }
    }

    // ------------------------------------------------------------------------------ helpers

    /** Starts sandbox NAME with all eight namespaces new and a tmpfs root; returns the pid of its first process. */
    private long startIsolated(String name) {
        Path spec = spec(name, Specs.isolated("time: {}", "[/bin/sh, -c, 'echo ready; exec sleep 60']"));
        LaunchedSandbox run = LaunchedSandbox.start("up", "--stop-timeout", "1", spec.toString());
        running.add(run);
        run.awaitOut("ready", Duration.ofSeconds(60));
        return NamespacesIT.sandboxPid(name);
    }

    /** {@code type -> type:[inode]} of a host process, read from the host's /proc. */
    private static Map<String, String> namespacesOf(long pid) throws IOException {
        Map<String, String> out = new LinkedHashMap<>();
        for (String type : NamespacesIT.TYPES) {
            out.put(type, Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "ns", type)).toString());
        }
        return out;
    }

    private Map<String, String> probe(Path spec) {
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(0, r.exit(), r::toString);
        Map<String, String> seen = ItHost.probe(r.out());
        assertTrue(seen.keySet().containsAll(NamespacesIT.TYPES),
                "the probe printed " + seen.keySet().stream().collect(Collectors.joining(" ")) + ":\n" + r);
        return seen;
    }

    private Path spec(String name, String body) {
        names.add(name);
        return specs.spec(name + ".yaml", body);
    }
}
