package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * veth links through rtnetlink, end to end, as root. Only 198.18.0.0/15 (and a ULA on the link for
 * IPv6), only between the host and namespaces these tests create; nothing is forwarded or routed.
 */
class NetworkIT {

    private SpecDir specs;
    private final List<String> hostLinksToRemove = new ArrayList<>();
    private final List<Process> started = new ArrayList<>();

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "veth links in the host's network namespace need root");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (Process p : started) {
            if (p.isAlive()) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
        for (String link : hostLinksToRemove) {
            if (linkExists(link)) run("ip", "link", "del", link);
        }
        if (specs != null) specs.close();
    }

    private static final String MOUNTS = """
              mount:
                root: {type: tmpfs}
                mounts:
            """ + Specs.SYSTEM_MOUNTS + """
                  - {type: sysfs, target: /sys}
            """;

    private Path linkSpec(String name, String links, String command) {
        return specs.spec(name + ".yaml", """
                namespaces:
                %s  pid: {}
                  uts: {hostname: %s}
                  net:
                    links:
                %s
                process:
                  command: %s
                """.formatted(MOUNTS, name, links.indent(6), command));
    }

    @Test
    void pingAndTcpWorkInBothDirectionsOverTheLink() throws Exception {
        // The sandbox listens on 7000 and echoes one line, then pings the host and talks to the host's listener on 7001.
        String script = """
                use IO::Socket::INET;
                $| = 1;
                my $l = IO::Socket::INET->new(LocalAddr => '198.18.20.2', LocalPort => 7000, Listen => 1, ReuseAddr => 1) or die "listen: $!";
                print "ready\\n";
                my $c = $l->accept; my $line = <$c>; print $c "echo:$line"; close $c;
                system('/usr/bin/ping', '-c', '1', '-W', '2', '-q', '198.18.20.1') == 0 and print "ping host ok\\n";
                my $s; for (1..100) { $s = IO::Socket::INET->new(PeerAddr => '198.18.20.1', PeerPort => 7001) and last; select(undef, undef, undef, 0.05); }
                $s or die "connect: $!";
                print $s "from-sandbox\\n"; my $reply = <$s>; print "host said $reply";
                """;
        specs.write("echo.pl", script);
        Path spec = specs.spec("netlab.yaml", """
                namespaces:
                %s  pid: {}
                  net:
                    links:
                      - {type: veth, name: eth0, hostName: sb-it-tcp0, address: 198.18.20.2/30, hostAddress: 198.18.20.1/30, gateway: 198.18.20.1}
                process:
                  command: [/usr/bin/perl, /work/echo.pl]
                """.formatted((MOUNTS + "      - {type: bind, source: " + specs.dir + ", target: /work, readonly: true}\n")));
        hostLinksToRemove.add("sb-it-tcp0");
        Path out = Files.createTempFile("netlab", ".out");
        try {
            Process up = start(out, "up", spec.toString());
            awaitLine(out, "ready", up);
            assertEquals(0, run("ping", "-c", "1", "-W", "2", "-q", "198.18.20.2"), "host -> sandbox ping");
            try (ServerSocket hostListener = new ServerSocket()) {
                hostListener.bind(new InetSocketAddress(InetAddress.getByName("198.18.20.1"), 7001));
                try (Socket s = new Socket("198.18.20.2", 7000)) {
                    new PrintWriter(s.getOutputStream(), true).println("hello");
                    assertEquals("echo:hello", new BufferedReader(new InputStreamReader(s.getInputStream())).readLine(), "host -> sandbox TCP");
                }
                hostListener.setSoTimeout(20_000);
                try (Socket c = hostListener.accept()) {
                    assertEquals("from-sandbox", new BufferedReader(new InputStreamReader(c.getInputStream())).readLine(), "sandbox -> host TCP");
                    new PrintWriter(c.getOutputStream(), true).println("welcome");
                }
            }
            assertTrue(up.waitFor(30, TimeUnit.SECONDS), "the sandbox ends");
            String text = Files.readString(out);
            assertEquals(0, up.exitValue(), text);
            assertTrue(text.contains("ping host ok"), "sandbox -> host ping: " + text);
            assertTrue(text.contains("host said welcome"), text);
            assertFalse(linkExists("sb-it-tcp0"), "the host end disappears with the sandbox");
        } finally {
            Files.deleteIfExists(out);
        }
    }

    @Test
    void twoLinksReachTwoHostSubnets() {
        Path spec = linkSpec("twolinks", """
                - {type: veth, name: eth0, hostName: sb-it-a0, address: 198.18.21.2/30, hostAddress: 198.18.21.1/30}
                - {type: veth, name: eth1, hostName: sb-it-b0, address: 198.18.22.2/30, hostAddress: 198.18.22.1/30}
                """, "[/bin/sh, -c, 'ping -c1 -W2 -q 198.18.21.1 >/dev/null && ping -c1 -W2 -q 198.18.22.1 >/dev/null && echo both']");
        hostLinksToRemove.addAll(List.of("sb-it-a0", "sb-it-b0"));
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(0, r.exit(), r.toString());
        assertEquals("both", r.out().strip());
        assertFalse(linkExists("sb-it-a0") || linkExists("sb-it-b0"), "both host ends are gone");
    }

    @Test
    void mtuMacAndTheDefaultRouteAreVisibleInside() {
        Path spec = linkSpec("mtumac", """
                - {type: veth, name: eth0, hostName: sb-it-mtu0, address: 198.18.23.2/30, hostAddress: 198.18.23.1/30,
                   gateway: 198.18.23.1, mtu: 1400, mac: "02:42:c6:12:17:02"}
                """, "[/bin/sh, -c, 'cat /sys/class/net/eth0/mtu /sys/class/net/eth0/address; /usr/sbin/ip route show default']");
        hostLinksToRemove.add("sb-it-mtu0");
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(0, r.exit(), r.toString());
        List<String> lines = r.out().lines().toList();
        assertEquals("1400", lines.get(0));
        assertEquals("02:42:c6:12:17:02", lines.get(1));
        assertTrue(lines.get(2).startsWith("default via 198.18.23.1 dev eth0"), r.out());
    }

    @Test
    void ipv6AddressesOnTheLinkCarryTraffic() {
        Path spec = linkSpec("ipv6", """
                - {type: veth, name: eth0, hostName: sb-it-v60, address: [198.18.24.2/30, "fd00:198:18:24::2/64"],
                   hostAddress: [198.18.24.1/30, "fd00:198:18:24::1/64"]}
                """, "[/bin/sh, -c, '/usr/sbin/ip -6 -o addr show dev eth0 scope global; ping -6 -c1 -W2 -q fd00:198:18:24::1 >/dev/null && echo v6-ok']");
        hostLinksToRemove.add("sb-it-v60");
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("fd00:198:18:24::2/64"), r.out());
        assertTrue(r.out().contains("v6-ok"), r.out());
    }

    @Test
    void aNameCollisionIsAClearErrorAndLeavesTheExistingInterfaceAlone() throws Exception {
        assertEquals(0, run("ip", "link", "add", "sb-it-coll0", "type", "veth", "peer", "name", "sb-it-coll1"));
        hostLinksToRemove.add("sb-it-coll0");
        Path spec = linkSpec("collide", """
                - {type: veth, name: eth0, hostName: sb-it-coll0, address: 198.18.25.2/30, hostAddress: 198.18.25.1/30}
                """, "[/bin/true]");
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("create veth sb-it-coll0: EEXIST (an interface with that name already exists on the host)"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
        assertTrue(linkExists("sb-it-coll0"), "the pre-existing interface is untouched");
        assertFalse(Files.exists(Path.of("/run/sandbox/collide")), "no runtime state is left");
    }

    @Test
    void aHostAddressAlreadyInUseOnTheHostIsAClearErrorAndNothingIsCreated() {
        assertEquals(0, run("ip", "link", "add", "sb-it-used0", "type", "veth", "peer", "name", "sb-it-used1"));
        hostLinksToRemove.add("sb-it-used0");
        assertEquals(0, run("ip", "addr", "add", "198.18.28.1/30", "dev", "sb-it-used0"));
        Path spec = linkSpec("inuse", """
                - {type: veth, name: eth0, hostName: sb-it-new0, address: 198.18.28.2/30, hostAddress: 198.18.28.1/30}
                """, "[/bin/true]");
        hostLinksToRemove.add("sb-it-new0");
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("EADDRINUSE") && r.err().contains("198.18.28.1") && r.err().contains("sb-it-used0"), r.err());
        assertFalse(linkExists("sb-it-new0"), "no host end was created");
        assertTrue(linkExists("sb-it-used0"), "the interface that has the address is untouched");
    }

    @Test
    void aSpecFailingAfterTheLinkWasCreatedLeavesNoHostEnd() {
        // The mount fails in the child (stage mounts), after stage connect created the pair: a missing target
        // without a new root is only a warning at validation. (A failing check-path would stop in stage
        // prepare, before any link exists, and prove nothing.)
        Path spec = specs.spec("linkfail.yaml", """
                namespaces:
                  mount:
                    mounts:
                      - {type: tmpfs, target: /nonexistent-sandbox-it-target}
                  net:
                    links:
                      - {type: veth, name: eth0, hostName: sb-it-fail0, address: 198.18.26.2/30, hostAddress: 198.18.26.1/30}
                process:
                  command: [/bin/true]
                """);
        hostLinksToRemove.add("sb-it-fail0");
        assertFalse(Files.exists(Path.of("/nonexistent-sandbox-it-target")), "the test needs a target that doesn't exist");
        Cli.Result r = Cli.run("up", "-v", spec.toString());
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().lines().anyMatch(l -> l.matches("sandbox: connect +veth .*")), "the link was created first:\n" + r);
        // the mount point is resolved with openat2 before anything is mounted (fd-based mounts, issue 7)
        assertTrue(r.err().contains("mount: openat2 /nonexistent-sandbox-it-target: ENOENT (the mount point does not exist"), r.toString());
        assertFalse(linkExists("sb-it-fail0"), "the host end is deleted on the error path");
    }

    @Test
    void aFailureOfTheSecondLinkDeletesTheFirstAndLeavesTheExistingInterfaceAlone() {
        assertEquals(0, run("ip", "link", "add", "sb-it-coll2", "type", "veth", "peer", "name", "sb-it-coll3"));
        hostLinksToRemove.addAll(List.of("sb-it-coll2", "sb-it-ok0"));
        Path spec = linkSpec("secondfails", """
                - {type: veth, name: eth0, hostName: sb-it-ok0, address: 198.18.28.2/30, hostAddress: 198.18.28.1/30}
                - {type: veth, name: eth1, hostName: sb-it-coll2, address: 198.18.29.2/30, hostAddress: 198.18.29.1/30}
                """, "[/bin/true]");
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("create veth sb-it-coll2: EEXIST"), r.err());
        assertFalse(linkExists("sb-it-ok0"), "the first link's host end is deleted when the second fails");
        assertTrue(linkExists("sb-it-coll2") && linkExists("sb-it-coll3"), "the pre-existing pair is untouched");
    }

    @Test
    @Warm.Cold("looks at the classes the JVM loads: a call the front serves has no JVM")
    void theJvmLoadsNoJnrWithOrWithoutLinks() throws Exception {
        // links are made by sandbox-init (netlink.c): the JVM only compiles the plan
        Path log = Files.createTempFile("classes", ".log");
        try {
            Path spec = specs.spec("nolinks.yaml", """
                    namespaces:
                      uts: {hostname: quiet}
                      net: {loopback: true}
                    process:
                      command: [/bin/true]
                    """);
            Cli.Result r = Cli.run(List.of(), Map.of("JAVA_OPTS", "-Xlog:class+load=info:file=" + log), "up", spec.toString());
            assertEquals(0, r.exit(), r.toString());
            String classes = Files.readString(log);
            assertTrue(classes.contains("dev.sandbox.engine.runtime.Controller"), "the log is real");
            assertFalse(classes.contains(" jnr."), "no JNR class is loaded without links");

            Path withLink = linkSpec("withlink", """
                    - {type: veth, name: eth0, hostName: sb-it-jnr0, address: 198.18.27.2/30, hostAddress: 198.18.27.1/30}
                    """, "[/bin/true]");
            hostLinksToRemove.add("sb-it-jnr0");
            Files.writeString(log, "");
            r = Cli.run(List.of(), Map.of("JAVA_OPTS", "-Xlog:class+load=info:file=" + log), "up", withLink.toString());
            assertEquals(0, r.exit(), r.toString());
            classes = Files.readString(log);
            assertTrue(classes.contains("dev.sandbox.engine.runtime.Controller"), "the log is real");
            assertFalse(classes.contains(" jnr."), "no JNR class is loaded with a link either");
            assertFalse(linkExists("sb-it-jnr0"), "the host end disappears with the sandbox");
        } finally {
            Files.deleteIfExists(log);
        }
    }

    private Process start(Path out, String... args) throws IOException {
        List<String> cmd = Warm.up(args);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(out.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        started.add(p);
        return p;
    }

    private static void awaitLine(Path out, String line, Process p) throws Exception {
        for (int i = 0; i < 600; i++) {
            if (Files.readString(out).lines().anyMatch(line::equals)) return;
            if (!p.isAlive()) throw new AssertionError("ended before '" + line + "': " + Files.readString(out));
            Thread.sleep(50);
        }
        throw new AssertionError("no '" + line + "' in 30 s: " + Files.readString(out));
    }

    static boolean linkExists(String name) {
        return Files.exists(Path.of("/sys/class/net", name));
    }

    static int run(String... cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int exit = p.waitFor();
            if (exit != 0) System.err.println(String.join(" ", cmd) + ": " + text);
            return exit;
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
