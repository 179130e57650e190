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
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Labs and the host (issue 12, docs/labs.md): a node's host-facing links ({@code namespaces.net.links}: the host end in
 * the host's namespace, the other in the node's), removed by {@code down} of the node or of the lab; their mistakes
 * located in the node's own file; a 20-node chain (bench/lab's lab) comes up with every node started at once, pings
 * end to end and goes down leaving nothing. As root. Names {@code ln-*}, host ends {@code lnit*}; addresses from
 * 198.18.115.0/24 (lab links) and 198.19.115.0/24 (host links).
 */
class LabsNetIT {

    static final Path BASE = Path.of("/run/sandbox");
    private SpecDir specs;
    private final List<String> labs = new ArrayList<>();

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "labs need root today (docs/labs.md)");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        try {
            for (String lab : labs) Cli.run("down", "--timeout", "2", lab);
            if (!labs.isEmpty()) Cli.run("gc");
            for (String dev : List.of("lnit0", "lnit1")) ItHost.run("ip", "link", "del", dev); // only when a test failed half-way
        } finally {
            specs.close();
        }
    }

    private Cli.Result up(String lab, Path file) {
        labs.add(lab);
        return Cli.run(List.of(), Map.of("LAB", lab, "SANDBOX_NO_CACHE", "1"), "up", file.toString());
    }

    private static boolean hostHas(String dev) {
        return Files.exists(Path.of("/sys/class/net", dev));
    }

    private static void assertNothingLeft(String lab) throws IOException {
        try (Stream<Path> dirs = Files.list(BASE)) {
            List<String> left = dirs.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(lab) || n.startsWith(".plan-" + lab)).toList();
            assertEquals(List.of(), left, "runtime dirs and plan files of " + lab);
        }
        List<String> mounts = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().filter(l -> l.contains(BASE + "/" + lab)).toList();
        assertEquals(List.of(), mounts, "mounts of " + lab);
        assertFalse(Cli.run("ps", "-a").out().contains(lab));
    }

    @Test
    void aNodesHostLinkHasItsHostEndOnTheHostAndGoesWithTheNode() throws IOException {
        Path lab = specs.write("ln-hl.yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: ${LAB}
                defaults:
                  process: {command: [sleep, infinity], capabilities: [CAP_NET_RAW]}
                nodes:
                  a:
                    namespaces:
                      net:
                        links:
                          - {type: veth, name: up0, hostName: lnit0, address: 198.19.115.2/30, hostAddress: 198.19.115.1/30}
                  b:
                    namespaces:
                      net:
                        links:
                          - {type: veth, name: up0, hostName: lnit1, address: 198.19.115.6/30, hostAddress: 198.19.115.5/30}
                links:
                  - endpoints: [a:eth0, b:eth0]
                    addresses: [198.18.115.1/30, 198.18.115.2/30]
                """);
        Cli.Result r = up("ln-hl", lab);
        assertEquals(0, r.exit(), r.toString());
        assertTrue(hostHas("lnit0") && hostHas("lnit1"), "the host ends are on the host");
        assertFalse(hostHas("up0"), "the node end is not");
        Cli.Result ping = ItHost.run("ping", "-c1", "-W2", "-q", "198.19.115.2").exit() == 0 ? null : Cli.run("ps");
        assertEquals(null, ping, "the host reaches node a over its link");
        // /proc/net is the reader's namespace (the node has no mount namespace: its /sys is the host's)
        Cli.Result inside = Cli.run("exec", "ln-hl-a", "--", "cat", "/proc/net/dev");
        assertTrue(inside.out().contains("up0:") && inside.out().contains("eth0:"), "both ends in the node: " + inside);
        Cli.Result across = Cli.run("exec", "ln-hl-a", "--", "ping", "-c1", "-W2", "-q", "198.18.115.2");
        assertEquals(0, across.exit(), "the lab's own link still works: " + across);

        assertEquals(0, Cli.run("down", "ln-hl-a").exit(), "down of one node");
        assertFalse(hostHas("lnit0"), "down of the node deletes its host link");
        assertTrue(hostHas("lnit1"), "the other node's stays");
        assertEquals(0, Cli.run("down", "ln-hl").exit());
        assertFalse(hostHas("lnit1"), "down of the lab deletes every host link");
        assertNothingLeft("ln-hl");
    }

    @Test
    void aNodesHostLinkMistakesAreLocatedInItsOwnFile() {
        specs.write("nodes/up.yaml", """
                apiVersion: sandbox/v1
                kind: Sandbox
                namespaces:
                  net:
                    links:
                      - {type: veth, name: up0, hostName: lnit0, address: 198.19.115.300/30}
                    mode: user
                """);
        Path lab = specs.write("ln-hlbad.yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: ${LAB}
                defaults:
                  process: {command: [sleep, infinity]}
                nodes:
                  a: {spec: nodes/up.yaml}
                """);
        Cli.Result r = up("ln-hlbad", lab);
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("nodes/up.yaml:6:59: error[net.bad-address]: address '198.19.115.300/30'"), r.err());
        assertTrue(r.err().contains("nodes/up.yaml:7:11: error[lab.node-net-unsupported]: namespaces.net.mode"), r.err());
        assertTrue(r.err().contains("nothing was started"), r.err());
        assertFalse(hostHas("lnit0"));
    }

    @Test
    void aChainOfTwentyNodesStartsAtOncePingsEndToEndAndGoesDownLeavingNothing() throws IOException {
        StringBuilder text = new StringBuilder("""
                apiVersion: sandbox/v1
                kind: Lab
                name: ${LAB}
                defaults:
                  namespaces: {mount: {mounts: [{type: proc, target: /proc}]}, pid: {init: true}}
                  process: {command: [sleep, infinity], capabilities: [CAP_NET_RAW]}
                nodes:
                """);
        for (int i = 0; i < 20; i++) text.append("  n").append(i).append(": {namespaces: {net: {sysctls: {net.ipv4.ip_forward: 1}}}}\n");
        text.append("links:\n");
        for (int i = 0; i < 19; i++) {
            text.append("  - {endpoints: [n").append(i).append(":eth1, n").append(i + 1).append(":eth0], addresses: [198.18.115.")
                    .append(4 * i + 1).append("/30, 198.18.115.").append(4 * i + 2).append("/30]}\n");
        }
        text.append("routes:\n");
        // every node: the far end through its neighbours (n0 -> n19 and back)
        for (int i = 0; i < 20; i++) {
            text.append("  n").append(i).append(": [");
            List<String> rs = new ArrayList<>();
            if (i < 18) rs.add("{to: 198.18.115.72/30, via: 198.18.115." + (4 * i + 2) + "}");
            if (i > 1) rs.add("{to: 198.18.115.0/30, via: 198.18.115." + (4 * (i - 1) + 1) + "}");
            text.append(String.join(", ", rs)).append("]\n");
        }
        Path lab = specs.write("ln-chain.yaml", text.toString());
        long t0 = System.nanoTime();
        Cli.Result r = up("ln-chain", lab);
        long upMs = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(0, r.exit(), r.toString());
        List<String> names = r.out().strip().lines().toList();
        assertEquals(21, names.size(), r.out());
        assertEquals("ln-chain-n0", names.get(0), "the nodes in the lab's order, then the lab");
        assertEquals("ln-chain", names.get(20));
        Cli.Result ping = Cli.run("exec", "ln-chain-n0", "--", "ping", "-c1", "-W3", "198.18.115.74");
        assertEquals(0, ping.exit(), ping.toString());
        assertTrue(ping.out().contains("ttl=46"), "18 routers between n0 and n19: " + ping.out());
        t0 = System.nanoTime();
        assertEquals(0, Cli.run("down", "ln-chain").exit());
        long downMs = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("LabsNetIT: 20-node chain: up " + upMs + " ms, down " + downMs + " ms (load " + Files.readAllLines(Path.of("/proc/loadavg")).get(0) + ")");
        assertNothingLeft("ln-chain");
    }

    /**
     * lab-up killed while nodes with host-facing links start (all at once), or the holder killed: {@code gc} finishes the
     * lab from its journal (each node is journaled before its fork), and each node's teardown deletes its host link.
     * Names ln-mk*, host ends lnmk*; addresses 198.19.115.100-111, 198.18.115.200/30.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(value = LabsKillNineIT.Point.class, names = {"NODE_STARTING", "NODE_STARTED", "HOLDER_FORKED", "HOLDER_KILLED"})
    void aKilledLabWithHostLinksIsFinishedByGcAndLeavesNoHostLink(LabsKillNineIT.Point point) throws IOException {
        String name = "ln-mk" + point.ordinal();
        List<String> hostEnds = List.of("lnmk" + point.ordinal() + "a", "lnmk" + point.ordinal() + "b");
        int o = 100 + 8 * (point.ordinal() % 2);
        Path file = specs.write(name + ".yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: %s
                defaults: {process: {command: [sleep, infinity]}}
                nodes:
                  a: {namespaces: {net: {links: [{type: veth, name: up0, hostName: %s, address: 198.19.115.%d/30, hostAddress: 198.19.115.%d/30}]}}}
                  b: {namespaces: {net: {links: [{type: veth, name: up0, hostName: %s, address: 198.19.115.%d/30, hostAddress: 198.19.115.%d/30}]}}}
                  c: {}
                links:
                  - {endpoints: [a:eth0, b:eth0], addresses: [198.18.115.201/30, 198.18.115.202/30]}
                """.formatted(name, hostEnds.get(0), o + 2, o + 1, hostEnds.get(1), o + 6, o + 5));
        labs.add(name);
        try {
            if (point == LabsKillNineIT.Point.HOLDER_KILLED) {
                Cli.Result r = up(name, file);
                assertEquals(0, r.exit(), r.toString());
                assertTrue(hostHas(hostEnds.get(0)) && hostHas(hostEnds.get(1)), "the host ends are on the host");
                var state = new com.fasterxml.jackson.databind.ObjectMapper().readTree(Files.readAllBytes(BASE.resolve(name).resolve("state.json")));
                long holder = state.path("monitor").path("pid").asLong();
                ProcessHandle.of(holder).ifPresent(ProcessHandle::destroyForcibly);
                LabsKillNineIT.awaitGone(holder);
            } else {
                Cli.Result r = Cli.run(List.of(), Map.of("SANDBOX_NO_CACHE", "1", "SANDBOX_CRASH_AT", point.wire), "up", file.toString());
                assertEquals(137, r.exit(), () -> "lab-up was killed at " + point.wire + ":\n" + r);
            }
            LabsKillNineIT.awaitLockFree(BASE.resolve(name).resolve("lock"));
            Cli.Result gc = Cli.run("gc");
            assertEquals(0, gc.exit(), gc.toString());
            for (int i = 0; i < 50 && hostEnds.stream().anyMatch(LabsNetIT::hostHas); i++) ItHost.sleepMs(100);
            assertEquals(List.of(), hostEnds.stream().filter(LabsNetIT::hostHas).toList(), "host links left after gc");
            assertNothingLeft(name);
        } finally {
            for (String dev : hostEnds) if (hostHas(dev)) ItHost.run("ip", "link", "del", dev);
        }
    }
}
