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

/**
 * Network labs ({@code kind: Lab}, docs/labs.md) against the real kernel, as root: the examples in
 * examples/labs/ come up, ping across their links, and {@code down} leaves nothing (no runtime dir, no
 * nsfs bind mount, no process); lab-level mistakes are located and start nothing; a failure half-way
 * leaves nothing. Labs and nodes are named {@code lab-*}; addresses only from 198.18.80.0/24. The lifecycle and
 * observability cases (down of one node with its links, the LAB column, inspect's links, {@code down --timeout 0})
 * name theirs {@code lo-*} and use 198.18.114.0/24; LabsKillNineIT kills lab-up and the holder.
 */
class LabsIT {

    static final Path LABS = Cli.ROOT.resolve("examples/labs");
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
            for (String lab : labs) {
                Cli.run("down", "--timeout", "2", lab);
            }
            if (!labs.isEmpty()) Cli.run("gc");
        } finally {
            specs.close();
        }
    }

    private Cli.Result up(String lab, Path file) {
        labs.add(lab);
        return Cli.run(List.of(), Map.of("LAB", lab, "SANDBOX_NO_CACHE", "1"), "up", file.toString());
    }

    /** Nothing of the lab is left: no runtime dir (lab or node), no mount under them, no process of its plans. */
    private static void assertNothingLeft(String lab) throws IOException {
        try (Stream<Path> dirs = Files.list(BASE)) {
            List<String> left = dirs.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(lab) || n.startsWith("." + lab)
                    || n.startsWith(".plan-" + lab)).toList();
            assertEquals(List.of(), left, "runtime dirs and plan files of " + lab);
        }
        List<String> mounts = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream()
                .filter(l -> l.contains(BASE + "/" + lab)).toList();
        assertEquals(List.of(), mounts, "mounts of " + lab);
        List<String> procs = ProcessHandle.allProcesses().map(p -> p.info().commandLine().orElse(""))
                .filter(c -> c.contains(".plan-" + lab)).toList();
        assertEquals(List.of(), procs, "processes of " + lab);
        Cli.Result ps = Cli.run("ps", "-a");
        assertFalse(ps.out().contains(lab), ps.out());
    }

    @Test
    void twoNodesPingOverTheirVethAndDownLeavesNothing() throws IOException {
        Cli.Result r = up("lab-pair", LABS.resolve("veth-pair.yaml"));
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("lab-pair-a") && r.out().contains("lab-pair-b"), r.out());
        Cli.Result ps = Cli.run("ps");
        assertTrue(ps.out().contains("lab-pair-a") && ps.out().contains("lab-pair-b") && ps.out().contains("lab-pair "), ps.out());
        Cli.Result ping = Cli.run("exec", "lab-pair-a", "--", "ping", "-c1", "-W2", "-q", "198.18.80.2");
        assertEquals(0, ping.exit(), ping.toString());
        Cli.Result mtu = Cli.run("exec", "lab-pair-b", "--", "cat", "/sys/class/net/eth0/mtu");
        assertEquals(0, mtu.exit(), mtu.toString());
        Cli.Result down = Cli.run("down", "lab-pair");
        assertEquals(0, down.exit(), down.toString());
        assertNothingLeft("lab-pair");
    }

    @Test
    void aRouterForwardsBetweenTwoSubnetsOnlyInsideItsOwnNamespace() throws IOException {
        String hostForward = Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_forward")).get(0);
        Cli.Result r = up("lab-rt", LABS.resolve("router.yaml"));
        assertEquals(0, r.exit(), r.toString());
        Cli.Result ping = Cli.run("exec", "lab-rt-a", "--", "ping", "-c1", "-W2", "198.18.80.9");
        assertEquals(0, ping.exit(), ping.toString());
        assertTrue(ping.out().contains("ttl=63"), "one hop through r: " + ping.out());
        // traceroute(8) (UDP probes, no raw socket): r's address on a's subnet is the first hop, b the second
        Cli.Result trace = Cli.run("exec", "lab-rt-a", "--", "traceroute", "-n", "-q1", "-w2", "198.18.80.9");
        assertEquals(0, trace.exit(), trace.toString());
        List<String> hops = trace.out().lines().skip(1).map(String::strip).toList();
        assertEquals(2, hops.size(), trace.out());
        assertTrue(hops.get(0).startsWith("1  198.18.80.6 "), "r is the first hop: " + trace.out());
        assertTrue(hops.get(1).startsWith("2  198.18.80.9 "), "b the second: " + trace.out());
        Cli.Result fwd = Cli.run("exec", "lab-rt-r", "--", "cat", "/proc/sys/net/ipv4/ip_forward");
        assertEquals("1", fwd.out().strip(), fwd.toString());
        assertEquals(hostForward, Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_forward")).get(0), "the host's ip_forward");
        assertEquals(0, Cli.run("down", "lab-rt").exit());
        assertNothingLeft("lab-rt");
    }

    @Test
    void threeMembersOfABridgePingEachOther() throws IOException {
        Cli.Result r = up("lab-lan", LABS.resolve("bridge.yaml"));
        assertEquals(0, r.exit(), r.toString());
        for (String[] pair : new String[][] {{"a", "198.18.80.35"}, {"b", "198.18.80.33"}, {"c", "198.18.80.34"}}) {
            Cli.Result ping = Cli.run("exec", "lab-lan-" + pair[0], "--", "ping", "-c1", "-W2", "-q", pair[1]);
            assertEquals(0, ping.exit(), pair[0] + " -> " + pair[1] + ": " + ping);
        }
        assertEquals(0, Cli.run("down", "lab-lan").exit());
        assertNothingLeft("lab-lan");
    }

    @Test
    void anEndpointCarriesAnIpv4AndAnIpv6Address() throws IOException {
        Path lab = specs.write("lab-v6.yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: lab-v6
                defaults: {process: {command: [sleep, infinity], capabilities: [CAP_NET_RAW]}}
                nodes: {a: {}, b: {}}
                links:
                  - endpoints: [a:eth0, b:eth0]
                    addresses: [[198.18.80.41/30, "fd00:198:18:80::1/64"], [198.18.80.42/30, "fd00:198:18:80::2/64"]]
                """);
        Cli.Result r = up("lab-v6", lab);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(0, Cli.run("exec", "lab-v6-a", "--", "ping", "-c1", "-W2", "-q", "198.18.80.42").exit());
        Cli.Result v6 = Cli.run("exec", "lab-v6-b", "--", "ping", "-6", "-c1", "-W3", "-q", "fd00:198:18:80::1");
        assertEquals(0, v6.exit(), v6.toString());
        assertEquals(0, Cli.run("down", "lab-v6").exit());
        assertNothingLeft("lab-v6");
    }

    @Test
    void labMistakesAreLocatedAndStartNothing() throws IOException {
        Path lab = specs.write("lab-bad.yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: lab-bad
                defaults: {process: {command: [sleep, infinity]}}
                nodes:
                  a: {}
                  b:
                    namespaces: {net: {join: {path: /proc/1/ns/net}}}
                links:
                  - endpoints: [a:eth0, c:eth0]
                  - {endpoints: [a:eth0, b:eth0], addresses: [198.18.80.1/30, 198.18.80.300/30]}
                  - {endpoints: [a:eth1, b:eth1], addresses: [198.18.80.1/30, 198.18.80.2/29]}
                  - {type: bridge, name: lan, endpoints: [a:eth2]}
                """);
        Cli.Result r = up("lab-bad", lab);
        assertEquals(125, r.exit(), r.toString());
        String f = lab.toString();
        assertTrue(r.err().contains(f + ":10:25: error[lab.unknown-node]"), r.err());
        assertTrue(r.err().contains(f + ":11:18: error[lab.interface-used-twice]"), r.err());
        assertTrue(r.err().contains("error[lab.bad-address]: '198.18.80.300/30'"), r.err());
        assertTrue(r.err().contains("error[lab.duplicate-address]"), r.err());
        assertTrue(r.err().contains("error[lab.overlapping-subnets]"), r.err());
        assertTrue(r.err().contains(f + ":8:30: error[lab.node-joins-net]"), r.err());
        assertTrue(r.err().contains(f + ":13:42: error[lab.bridge-one-member]"), r.err());
        assertTrue(r.err().contains("nothing was started"), r.err());
        assertNothingLeft("lab-bad");
    }

    @Test
    void aSysctlTheKernelRefusesTearsDownTheHalfBuiltLab() throws IOException {
        Path lab = specs.write("lab-sys.yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: lab-sys
                defaults: {process: {command: [sleep, infinity]}}
                nodes:
                  a: {}
                  b: {namespaces: {net: {sysctls: {net.ipv4.no_such_sysctl: 1}}}}
                links:
                  - {endpoints: [a:eth0, b:eth0], addresses: [198.18.80.13/30, 198.18.80.14/30]}
                """);
        Cli.Result r = up("lab-sys", lab);
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("sandbox: lab lab-sys: node b: sysctl net.ipv4.no_such_sysctl: open /proc/sys/net/ipv4/no_such_sysctl: ENOENT"),
                r.err());
        assertNothingLeft("lab-sys");
    }

    @Test
    void aNodeThatFailsToStartTakesTheStartedOnesDown() throws IOException {
        Path lab = specs.write("lab-half.yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: lab-half
                nodes:
                  a: {process: {command: [sleep, infinity]}}
                  b: {process: {command: [/nonexistent/lab-half]}}
                links:
                  - {endpoints: [a:eth0, b:eth0], addresses: [198.18.80.17/30, 198.18.80.18/30]}
                """);
        Cli.Result r = up("lab-half", lab);
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("node lab-half-b did not start; tearing the lab down"), r.err());
        assertNothingLeft("lab-half");
    }

    @Test
    void aLabUpKilledHalfWayIsFinishedByDown() throws IOException {
        labs.add("lab-crash");
        Cli.Result r = Cli.run(List.of(), Map.of("LAB", "lab-crash", "SANDBOX_CRASH_AT", "lab-linked", "SANDBOX_NO_CACHE", "1"),
                "up", LABS.resolve("veth-pair.yaml").toString());
        assertEquals(137, r.exit(), r.toString());
        assertTrue(Files.exists(BASE.resolve("lab-crash/netns/a")), "the half-built lab is there");
        Cli.Result down = Cli.run("down", "lab-crash");
        assertEquals(0, down.exit(), down.toString());
        assertNothingLeft("lab-crash");
    }

    // ---------------------------------------------------------------------------------------------
    // lifecycle and observability (issue 12; helper lab-ops: names lo-*, addresses 198.18.114.0/24)

    /** The triangle: a - r - b over two veths (one with an MTU), and a bridge of all three. */
    private Path triangle(String lab, String sleepArg) {
        return specs.write(lab + ".yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: %s
                defaults: {process: {command: [sleep, "%s"], capabilities: [CAP_NET_RAW]}}
                nodes:
                  a: {}
                  r: {namespaces: {net: {sysctls: {net.ipv4.ip_forward: 1}}}}
                  b: {}
                links:
                  - {endpoints: [a:eth0, r:eth0], addresses: [198.18.114.1/30, 198.18.114.2/30]}
                  - {endpoints: [r:eth1, b:eth0], addresses: [198.18.114.6/30, 198.18.114.5/30], mtu: 1400}
                  - {type: bridge, name: lan, endpoints: [a:eth1, b:eth1, r:eth2],
                     addresses: [198.18.114.17/29, 198.18.114.18/29, 198.18.114.19/29]}
                routes:
                  a: [{to: 198.18.114.4/30, via: 198.18.114.2}]
                  b: [{to: 198.18.114.0/30, via: 198.18.114.6}]
                """.formatted(lab, sleepArg));
    }

    private static List<String> interfaces(String node) {
        Cli.Result dev = Cli.run("exec", node, "--", "cat", "/proc/net/dev");
        assertEquals(0, dev.exit(), dev.toString());
        return dev.out().lines().filter(l -> l.contains(":")).map(l -> l.substring(0, l.indexOf(':')).trim()).toList();
    }

    private static List<Long> processesRunning(String cmdline) {
        return ProcessHandle.allProcesses().map(ProcessHandle::pid).filter(pid -> ItHost.cmdline(pid).equals(cmdline + " ")).toList();
    }

    @Test
    void downOfOneNodeTakesItsLinksAndTheLabKeepsRunning() throws IOException {
        Cli.Result r = up("lo-tri", triangle("lo-tri", "1140001"));
        assertEquals(0, r.exit(), r.toString());
        assertEquals(0, Cli.run("exec", "lo-tri-a", "--", "ping", "-c1", "-W2", "-q", "198.18.114.5").exit(), "a pings b through r");
        assertEquals(List.of("lo", "eth0", "eth1", "eth2"), interfaces("lo-tri-r").stream().sorted((x, y) -> x.equals("lo") ? -1
                : y.equals("lo") ? 1 : x.compareTo(y)).toList());

        Cli.Result down = Cli.run("down", "lo-tri-a");
        assertEquals(0, down.exit(), down.toString());
        assertEquals("", down.err(), "a quiet down");
        List<String> left = interfaces("lo-tri-r");
        assertFalse(left.contains("eth0"), "a's veth went with its peer in r: " + left);
        assertTrue(left.contains("eth1") && left.contains("eth2"), left.toString());
        Cli.Result ping = Cli.run("exec", "lo-tri-b", "--", "ping", "-c1", "-W2", "-q", "198.18.114.6");
        assertEquals(0, ping.exit(), "b still pings r: " + ping);
        Cli.Result lan = Cli.run("exec", "lo-tri-b", "--", "ping", "-c1", "-W2", "-q", "198.18.114.19");
        assertEquals(0, lan.exit(), "b still reaches r over the bridge: " + lan);
        assertFalse(Files.exists(BASE.resolve("lo-tri/netns/a")), "a's namespace is unmounted");
        assertTrue(Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().noneMatch(l -> l.contains(BASE + "/lo-tri/netns/a ")));
        Cli.Result ps = Cli.run("ps");
        assertTrue(ps.out().lines().anyMatch(l -> l.matches("lo-tri\\s+running\\s.*")), "the lab keeps running:\n" + ps.out());
        assertFalse(ps.out().contains("lo-tri-a"), ps.out());
        assertEquals(2, processesRunning("sleep 1140001").size(), "r and b run");

        // the inspected links of r: a's is gone from the kernel, b's is there with its MTU
        Cli.Result inspect = Cli.run("inspect", "lo-tri-r");
        assertEquals(0, inspect.exit(), inspect.toString());
        var lab = new com.fasterxml.jackson.databind.ObjectMapper().readTree(inspect.out()).path("lab");
        assertEquals("lo-tri", lab.path("name").asText(), inspect.out());
        assertEquals("r", lab.path("node").asText(), inspect.out());
        var links = lab.path("links");
        assertEquals(3, links.size(), inspect.out());
        assertEquals("eth0", links.get(0).path("interface").asText());
        assertEquals("lo-tri-a", links.get(0).path("peer").path("node").asText());
        assertFalse(links.get(0).path("peer").path("up").asBoolean(true), inspect.out());
        assertFalse(links.get(0).path("kernel").path("present").asBoolean(true), inspect.out());
        assertEquals("lo-tri-b", links.get(1).path("peer").path("node").asText());
        assertEquals("eth0", links.get(1).path("peer").path("interface").asText());
        assertEquals(1400, links.get(1).path("mtu").asInt(), inspect.out());
        assertEquals("198.18.114.6/30", links.get(1).path("addresses").get(0).path("address").asText());
        assertTrue(links.get(1).path("addresses").get(0).path("inKernel").asBoolean(), inspect.out());
        assertTrue(links.get(1).path("kernel").path("present").asBoolean(), inspect.out());
        assertEquals("lan", links.get(2).path("bridge").asText(), inspect.out());
        assertEquals(2, links.get(2).path("members").size(), inspect.out());

        Cli.Result all = Cli.run("down", "lo-tri");
        assertEquals(0, all.exit(), all.toString());
        assertNothingLeft("lo-tri");
        assertEquals(List.of(), processesRunning("sleep 1140001"));
    }

    @Test
    void psShowsTheLabOfEachNodeAndDownTimeoutZeroTakesTheNodesToo() throws IOException {
        Cli.Result r = up("lo-t0", LABS.resolve("veth-pair.yaml"));
        assertEquals(0, r.exit(), r.toString());
        Cli.Result ps = Cli.run("ps");
        assertTrue(ps.out().lines().findFirst().orElse("").matches("NAME\\s+STATUS\\s+PID\\s+UPTIME\\s+LAB\\s+NAMESPACES\\s+SPEC"), ps.out());
        for (String name : List.of("lo-t0", "lo-t0-a", "lo-t0-b")) {
            assertTrue(ps.out().lines().anyMatch(l -> l.matches(name + "\\s+running\\s+\\d+\\s+\\S+\\s+lo-t0\\s.*")), name + ":\n" + ps.out());
        }
        Cli.Result json = Cli.run("ps", "--format", "json");
        assertTrue(json.out().contains("\"name\": \"lo-t0-a\"") && json.out().contains("\"lab\": \"lo-t0\""), json.out());
        Cli.Result inspect = Cli.run("inspect", "lo-t0-a");
        assertTrue(inspect.out().contains("\"interface\" : \"eth0\"") && inspect.out().contains("\"node\" : \"lo-t0-b\""), inspect.out());

        Cli.Result down = Cli.run("down", "--timeout", "0", "lo-t0");
        assertEquals(0, down.exit(), down.toString());
        assertEquals("", down.err(), "SIGKILL at once is no timeout to report");
        assertNothingLeft("lo-t0");
    }

    @Test
    void validateChecksTheLabAndEveryNode() {
        Path lab = specs.write("lab-val.yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: lab-val
                nodes:
                  a: {process: {command: [sleep, infinity]}, namespaces: {net: {sysctls: {kernel.panic: 1}}}}
                  b: {processs: {}}
                """);
        Cli.Result r = Cli.run("validate", lab.toString());
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.out().contains(lab + ":5:89: error[net.bad-sysctl]: 'kernel.panic' is not a net.* sysctl name"), r.out());
        assertTrue(r.out().contains("error[schema.unknown-key]"), r.out());
        assertEquals(0, Cli.run(List.of(), Map.of("LAB", "lab-val"), "validate", LABS.resolve("router.yaml").toString()).exit());
    }

    @Test
    void graphPrintsMermaidAndDot() {
        Cli.Result m = Cli.run(List.of(), Map.of("LAB", "lab-g"), "graph", LABS.resolve("router.yaml").toString());
        assertEquals(0, m.exit(), m.toString());
        assertTrue(m.out().startsWith("graph LR\n"), m.out());
        assertTrue(m.out().contains("a ---|\"eth0 198.18.80.5/30 -- eth0 198.18.80.6/30\"| r"), m.out());
        Cli.Result d = Cli.run(List.of(), Map.of("LAB", "lab-g"), "graph", "--format", "dot", LABS.resolve("veth-pair.yaml").toString());
        assertEquals(0, d.exit(), d.toString());
        assertTrue(d.out().contains("\"a\" -- \"b\" [label=\"eth0 198.18.80.1/30 -- eth0 198.18.80.2/30\"];"), d.out());
    }
}
