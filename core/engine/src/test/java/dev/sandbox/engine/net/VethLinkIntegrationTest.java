package dev.sandbox.engine.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Real veth links on the real kernel, as root. Each test starts its own network namespace with
 * {@code unshare --net sleep 600}, configures links into it and checks the result from both sides.
 *
 * <p>Network rules: traffic only between the host and namespaces this test created; addresses only from
 * 198.19.77.0/24 (inside 198.18.0.0/15) and the ULA fd00:198:19:77::/64 on the links themselves; no
 * forwarding, no NAT, nothing routed off the machine. {@link #cleanUp()} deletes every host end and kills
 * every namespace process, also when a test fails.
 */
class VethLinkIntegrationTest {

    private static LinkConfigurator links;

    private final List<Process> sandboxes = new ArrayList<>();
    private final List<String> hostNames = new ArrayList<>();

    /** A command's exit code and combined output. */
    private record Result(int exit, String output) {
    }

    @BeforeAll
    static void openConfigurator() throws Exception {
        assumeTrue(isRoot(), "needs root: creating veth links and network namespaces requires CAP_NET_ADMIN/CAP_SYS_ADMIN");
        for (String tool : List.of("unshare", "nsenter", "ip")) {
            assumeTrue(onPath(tool), tool + " is not installed (util-linux / iproute2)");
        }
        long start = System.nanoTime();
        links = LinkConfigurator.open();
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
        System.out.println("LinkConfigurator.open() first call in this JVM: " + millis + " ms");
    }

    @AfterAll
    static void closeConfigurator() {
        if (links != null) {
            links.close();
        }
    }

    @AfterEach
    void cleanUp() throws Exception {
        for (String name : hostNames) {
            if (Files.exists(Path.of("/sys/class/net", name))) {
                run("ip", "link", "del", name);
            }
        }
        for (Process sandbox : sandboxes) {
            sandbox.destroyForcibly();
            sandbox.waitFor(10, TimeUnit.SECONDS);
        }
    }

    // ---- scenarios -----------------------------------------------------------------------------------------

    @Test
    void ipv4LinkPingsBothWays() throws Exception {
        long pid = sandbox();
        links.setUp(List.of(link("eth0", host("ping"), "198.19.77.2/30", "198.19.77.1/30", null)), pid);

        assertPings(null, "198.19.77.2");
        assertPings(pid, "198.19.77.1");
        assertTrue(inside(pid, "ip", "-o", "addr", "show", "dev", "eth0").output().contains("inet 198.19.77.2/30"));
        assertTrue(run("ip", "-o", "addr", "show", "dev", host("ping")).output().contains("inet 198.19.77.1/30"));
    }

    @Test
    void sandboxWithItsOwnUserNamespaceWorksToo() throws Exception {
        // The usual sandbox: the network namespace belongs to a new user namespace, which host root owns.
        long pid = sandbox("--user", "--map-root-user");
        links.setUp(List.of(link("eth0", host("user"), "198.19.77.54/30", "198.19.77.53/30", "198.19.77.53")), pid);

        assertPings(null, "198.19.77.54");
        String routes = inside(pid, "ip", "route", "show", "default").output();
        assertTrue(routes.contains("default via 198.19.77.53 dev eth0"), routes);
    }

    @Test
    void tcpRoundTripFromSandboxToHost() throws Exception {
        long pid = sandbox();
        links.setUp(List.of(link("eth0", host("tcp"), "198.19.77.6/30", "198.19.77.5/30", null)), pid);

        try (ServerSocket server = new ServerSocket()) {
            server.bind(new InetSocketAddress(InetAddress.getByName("198.19.77.5"), 0));
            server.setSoTimeout(10_000);
            CompletableFuture<String> peer = CompletableFuture.supplyAsync(() -> echoOnce(server));
            String script = "exec 3<>/dev/tcp/198.19.77.5/" + server.getLocalPort()
                    + " && echo hello-from-sandbox >&3 && read -r reply <&3 && echo \"$reply\"";
            Result client = inside(pid, "bash", "-c", script);

            assertEquals(0, client.exit(), client.output());
            assertEquals("host got hello-from-sandbox", client.output().strip());
            assertEquals("198.19.77.6", peer.get(10, TimeUnit.SECONDS), "the connection came from the sandbox end");
        }
    }

    @Test
    void twoLinksToTwoSubnetsInOneNamespace() throws Exception {
        long pid = sandbox();
        links.setUp(List.of(
                link("eth0", host("two0"), "198.19.77.10/30", "198.19.77.9/30", null),
                link("eth1", host("two1"), "198.19.77.14/30", "198.19.77.13/30", null)), pid);

        assertPings(null, "198.19.77.10");
        assertPings(null, "198.19.77.14");
        String addresses = inside(pid, "ip", "-o", "addr").output();
        assertTrue(addresses.contains("eth0    inet 198.19.77.10/30"), addresses);
        assertTrue(addresses.contains("eth1    inet 198.19.77.14/30"), addresses);
    }

    @Test
    void mtuAndMacAreVisibleInside() throws Exception {
        long pid = sandbox();
        links.setUp(List.of(new VethLink("eth0", host("mtu"), List.of("198.19.77.18/30"), List.of("198.19.77.17/30"),
                null, 1400, "02:5a:00:00:00:17")), pid);

        // Not /sys/class/net under nsenter -n: sysfs shows the namespace of whoever mounted it (the host's).
        String eth0 = inside(pid, "ip", "-o", "link", "show", "dev", "eth0").output();
        assertTrue(eth0.contains(" mtu 1400 "), eth0);
        assertTrue(eth0.contains("link/ether 02:5a:00:00:00:17 "), eth0);
        assertTrue(eth0.contains("state UP"), eth0);
        assertEquals("1400", Files.readString(Path.of("/sys/class/net", host("mtu"), "mtu")).strip());
    }

    @Test
    void defaultRouteInsideGoesViaTheGateway() throws Exception {
        long pid = sandbox();
        links.setUp(List.of(link("eth0", host("route"), "198.19.77.22/30", "198.19.77.21/30", "198.19.77.21")), pid);

        String routes = inside(pid, "ip", "route", "show", "default").output();
        assertTrue(routes.contains("default via 198.19.77.21 dev eth0"), routes);
    }

    @Test
    void ipv6AddressesAreUsableAtOnceAndCarryTheDefaultRoute() throws Exception {
        long pid = sandbox();
        links.setUp(List.of(link("eth0", host("six"), "fd00:198:19:77::2/64", "fd00:198:19:77::1/64",
                "fd00:198:19:77::1")), pid);

        String addresses = inside(pid, "ip", "-o", "-6", "addr", "show", "dev", "eth0").output();
        assertTrue(addresses.contains("inet6 fd00:198:19:77::2/64 scope global nodad"), addresses);
        assertFalse(addresses.contains("fd00:198:19:77::2/64 scope global tentative"), addresses);
        assertPings(null, "fd00:198:19:77::2");
        assertPings(pid, "fd00:198:19:77::1");
        String routes = inside(pid, "ip", "-6", "route", "show", "default").output();
        assertTrue(routes.contains("default via fd00:198:19:77::1 dev eth0"), routes);
    }

    @Test
    void hostNameCollisionFailsWithEexistAndLeavesNothingOfOurs() throws Exception {
        long pid = sandbox();
        String taken = host("taken");
        // A veth pair entirely on the host stands in for "someone else's interface" (no dummy module here).
        Result made = run("ip", "link", "add", taken, "type", "veth", "peer", "name", host("takenp"));
        assertEquals(0, made.exit(), made.output());

        NetworkException e = assertThrows(NetworkException.class, () -> links.setUp(List.of(
                link("eth0", host("coll"), "198.19.77.26/30", "198.19.77.25/30", null),
                link("eth1", taken, "198.19.77.30/30", "198.19.77.29/30", null)), pid));

        assertEquals("create veth " + taken + ": EEXIST (an interface with that name already exists on the host)",
                e.getMessage());
        assertTrue(Files.exists(Path.of("/sys/class/net", taken)), "the pre-existing interface is untouched");
        assertTrue(Files.exists(Path.of("/sys/class/net", host("takenp"))));
        assertFalse(Files.exists(Path.of("/sys/class/net", host("coll"))), "the link created before is rolled back");
        assertEquals(List.of("lo"), linksInside(pid), "no peer left behind in the sandbox");
    }

    @Test
    void hostEndDiesWithTheNamespace() throws Exception {
        long pid = sandbox();
        links.setUp(List.of(link("eth0", host("dies"), "198.19.77.34/30", "198.19.77.33/30", null)), pid);
        Path hostEnd = Path.of("/sys/class/net", host("dies"));
        assertTrue(Files.exists(hostEnd));

        Process sandbox = sandboxes.get(0);
        sandbox.destroyForcibly();
        assertTrue(sandbox.waitFor(10, TimeUnit.SECONDS));

        // The kernel tears the namespace down from a work queue: poll briefly. It only goes if we hold no
        // reference to it (the namespace fd and the inside socket are closed).
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (Files.exists(hostEnd) && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertFalse(Files.exists(hostEnd), "the host end vanished with the sandbox's network namespace");
    }

    @Test
    void invalidMtuFailsCleanlyWithNothingLeft() throws Exception {
        long pid = sandbox();
        NetworkException e = assertThrows(NetworkException.class, () -> links.setUp(List.of(new VethLink("eth0",
                host("mtu0"), List.of("198.19.77.38/30"), List.of("198.19.77.37/30"), null, 70000, null)), pid));

        assertTrue(e.getMessage().startsWith("create veth " + host("mtu0") + ": E"), e.getMessage());
        assertTrue(List.of("EINVAL", "ERANGE").contains(e.errnoName()), e.getMessage());
        assertTrue(e.getMessage().contains("MTU 70000"), e.getMessage());
        assertFalse(Files.exists(Path.of("/sys/class/net", host("mtu0"))));
        assertEquals(List.of("lo"), linksInside(pid));
    }

    @Test
    void failureInsideTheSandboxDeletesTheHostEnd() throws Exception {
        long pid = sandbox();
        NetworkException e = assertThrows(NetworkException.class, () -> links.setUp(List.of(new VethLink("eth0",
                host("dup"), List.of("198.19.77.42/30", "198.19.77.42/30"), List.of("198.19.77.41/30"), null, null,
                null)), pid));

        assertEquals("add address eth0: EEXIST (198.19.77.42/30 in the sandbox: already assigned to this interface; "
                + "is it listed twice?)", e.getMessage());
        assertFalse(Files.exists(Path.of("/sys/class/net", host("dup"))));
        assertEquals(List.of("lo"), linksInside(pid));
    }

    @Test
    void deleteHostLinkRemovesBothEndsAndIsIdempotent() throws Exception {
        long pid = sandbox();
        links.setUp(List.of(link("eth0", host("del"), "198.19.77.46/30", "198.19.77.45/30", null)), pid);

        links.deleteHostLink(host("del"));
        links.deleteHostLink(host("del"));

        assertFalse(Files.exists(Path.of("/sys/class/net", host("del"))));
        assertEquals(List.of("lo"), linksInside(pid));
    }

    @Test
    void deleteHostLinkRefusesAnInterfaceThatIsNotAVeth() {
        NetworkException e = assertThrows(NetworkException.class, () -> links.deleteHostLink("lo"));
        assertEquals("delete veth lo: EINVAL (lo is not a veth; refusing to delete it)", e.getMessage());
        assertTrue(Files.exists(Path.of("/sys/class/net/lo")));
    }

    @Test
    void processWithoutItsOwnNetworkNamespaceIsRefused() throws Exception {
        NetworkException e = assertThrows(NetworkException.class, () -> links.setUp(
                List.of(link("eth0", host("self"), "198.19.77.50/30", "198.19.77.49/30", null)),
                ProcessHandle.current().pid()));
        assertEquals("open network namespace of", e.step());
        assertFalse(Files.exists(Path.of("/sys/class/net", host("self"))));
    }

    // ---- helpers -------------------------------------------------------------------------------------------

    /** A host-side name unique to this test class, registered for clean-up before anything creates it. */
    private String host(String suffix) {
        String name = "sbnt-" + suffix;
        if (!hostNames.contains(name)) {
            hostNames.add(name);
        }
        return name;
    }

    private static VethLink link(String name, String hostName, String address, String hostAddress, String gateway) {
        return new VethLink(name, hostName, List.of(address), List.of(hostAddress), gateway, null, null);
    }

    /** Starts {@code unshare --net sleep 600} and waits until it is in its new network namespace. */
    private long sandbox(String... moreNamespaces) throws Exception {
        List<String> command = new ArrayList<>(List.of("unshare", "--net"));
        command.addAll(Arrays.asList(moreNamespaces));
        command.addAll(List.of("sleep", "600"));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        sandboxes.add(process);
        long pid = process.pid();
        Path ours = Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net"));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            // unshare(1) unshares, then execs sleep under the same pid: wait for the first step.
            if (!Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/net")).equals(ours)) {
                return pid;
            }
            assertTrue(process.isAlive(), "unshare --net exited early");
            Thread.sleep(5);
        }
        throw new AssertionError("unshare --net did not enter a new network namespace");
    }

    private static List<String> linksInside(long pid) throws Exception {
        return inside(pid, "ip", "-o", "link", "show").output().lines()
                .map(line -> line.split(": ")[1].replaceAll("@.*", ""))
                .toList();
    }

    private static Result inside(long pid, String... command) throws Exception {
        List<String> full = new ArrayList<>(List.of("nsenter", "-t", Long.toString(pid), "-n"));
        full.addAll(Arrays.asList(command));
        return run(full.toArray(String[]::new));
    }

    private static Result run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getOutputStream().close();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            throw new AssertionError("timed out: " + String.join(" ", command));
        }
        return new Result(process.exitValue(), output);
    }

    /**
     * One ICMP echo to {@code address}, from the host ({@code pid} null) or from inside the sandbox. Uses
     * {@code ping -c1 -W1}; where iputils isn't installed, the same echo from a few lines of Python on a raw
     * socket. A few tries absorb the first ARP/neighbour resolution.
     */
    private static void assertPings(Long pid, String address) throws Exception {
        List<String> command = new ArrayList<>();
        if (pid != null) {
            command.addAll(List.of("nsenter", "-t", pid.toString(), "-n"));
        }
        if (onPath("ping")) {
            command.addAll(List.of("ping", "-c1", "-W1", address));
        } else {
            assumeTrue(Files.isExecutable(Path.of("/usr/bin/python3")), "neither ping nor /usr/bin/python3 is installed");
            command.addAll(List.of("/usr/bin/python3", "-c", PYTHON_PING, address));
        }
        Result result = null;
        for (int attempt = 0; attempt < 3; attempt++) {
            result = run(command.toArray(String[]::new));
            if (result.exit() == 0) {
                return;
            }
        }
        throw new AssertionError("no echo reply from " + address + (pid == null ? " (from the host)" : " (from the sandbox)")
                + ":\n" + result.output());
    }

    /** ICMP / ICMPv6 echo on a raw socket: exit 0 on a matching reply within one second. */
    private static final String PYTHON_PING = """
            import os, select, socket, struct, sys, time
            addr = sys.argv[1]
            v6 = ':' in addr
            s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW,
                              socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
            ident = os.getpid() & 0xffff
            def checksum(b):
                b += b'\\0' * (len(b) % 2)
                total = sum(struct.unpack('!%dH' % (len(b) // 2), b))
                total = (total >> 16) + (total & 0xffff)
                total += total >> 16
                return ~total & 0xffff
            request = 128 if v6 else 8
            packet = struct.pack('!BBHHH', request, 0, 0, ident, 1) + b'sandbox'
            if not v6:  # the kernel fills in the ICMPv6 checksum itself
                packet = packet[:2] + struct.pack('!H', checksum(packet)) + packet[4:]
            s.sendto(packet, (addr, 0))
            deadline = time.time() + 1
            while time.time() < deadline:
                if not select.select([s], [], [], deadline - time.time())[0]:
                    break
                data, source = s.recvfrom(2048)
                icmp = data if v6 else data[(data[0] & 0x0f) * 4:]
                kind, _, _, got_ident, _ = struct.unpack('!BBHHH', icmp[:8])
                if kind == (129 if v6 else 0) and got_ident == ident and source[0] == addr:
                    sys.exit(0)
            sys.exit(1)
            """;

    /** Accepts one connection, answers its first line, returns the peer's address. */
    private static String echoOnce(ServerSocket server) {
        try (Socket connection = server.accept();
             BufferedReader in = new BufferedReader(new InputStreamReader(connection.getInputStream(), StandardCharsets.UTF_8));
             PrintWriter out = new PrintWriter(new OutputStreamWriter(connection.getOutputStream(), StandardCharsets.UTF_8), true)) {
            out.println("host got " + in.readLine());
            return connection.getInetAddress().getHostAddress();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static boolean isRoot() throws IOException {
        return Files.readAllLines(Path.of("/proc/self/status")).stream()
                .anyMatch(line -> line.matches("Uid:\\s+0\\s.*"));
    }

    private static boolean onPath(String tool) {
        String path = System.getenv().getOrDefault("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        return Arrays.stream(path.split(":")).anyMatch(dir -> Files.isExecutable(Path.of(dir, tool)));
    }
}
