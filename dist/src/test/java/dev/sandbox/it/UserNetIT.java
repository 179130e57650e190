package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code net: {mode: user}} end to end, rootless (issue 14): pasta connects the sandbox's network namespace.
 * The sandboxes run as the unprivileged user of {@link RootlessIT} from a readable copy of the distribution.
 *
 * <p>Network rule: every connection is between the host's loopback and the sandbox's own namespace (through
 * pasta's forwarding, or its gateway mapping to the host's 127.0.0.1). Nothing is sent toward any other
 * address: without {@code hostLoopback}, the gateway address is never contacted (it would leave the machine).
 *
 * <p>/dev/net/tun is 0600 on this host; the tests that need pasta set it to 0666 and restore its mode in a
 * finally block. Leftover pasta processes are found by their pid file under the runtime dir and killed by pid.
 */
class UserNetIT {

    private static final String USER = RootlessIT.USER;
    private static final Path TUN = Path.of("/dev/net/tun");

    private static long uid;
    private static SpecDir dist;
    private static SpecDir home;
    private SpecDir specs;

    @BeforeAll
    static void anUnprivilegedUserPastaAndPython() {
        assumeTrue(Cli.isRoot(), "running sandbox as the test user and changing /dev/net/tun's mode need root");
        assumeTrue(ItHost.run("sh", "-c", "command -v runuser").exit() == 0, "runuser (util-linux) is missing");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/pasta")), "pasta (package passt) is missing: .ci/run installs it");
        assumeTrue(Files.isExecutable(Path.of("/usr/bin/python3")), "python3 (the servers and clients inside) is missing");
        assumeTrue(Files.exists(TUN), "/dev/net/tun is missing (modprobe tun)");
        ItHost.ensureUser(USER); // kept for later runs
        uid = Long.parseLong(ItHost.must("id", "-u", USER).out().strip());
        dist = new SpecDir();
        ItHost.copyDistribution(dist);
        home = new SpecDir();
    }

    @AfterAll
    static void removeTheCopy() {
        if (dist != null) dist.close();
        if (home != null) home.close();
    }

    @BeforeEach
    void setUp() {
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        if (specs != null) specs.close();
    }

    // ---------------------------------------------------------------------------------------------

    /** Runs {@code body} with /dev/net/tun in {@code mode}; its original mode comes back whatever happens. */
    private static void withTunMode(String mode, Runnable body) {
        String original;
        try {
            original = PosixFilePermissions.toString(Files.getPosixFilePermissions(TUN));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        try {
            Files.setPosixFilePermissions(TUN, PosixFilePermissions.fromString(mode));
            body.run();
        } catch (IOException e) {
            throw new AssertionError(e);
        } finally {
            try {
                Files.setPosixFilePermissions(TUN, PosixFilePermissions.fromString(original));
            } catch (IOException e) {
                throw new AssertionError("could not restore " + TUN + " to " + original, e);
            }
        }
    }

    private Path spec(String name, String net, String script) {
        return spec(name, true, net, script);
    }

    private Path spec(String name, boolean userNamespace, String net, String script) {
        Path p = specs.spec(name + ".yaml", "name: " + name + "\n"
                + "namespaces:\n"
                + (userNamespace ? "  user: {}\n" : "")
                + "  mount:\n"
                + "    root: {type: tmpfs}\n"
                + "    mounts:\n"
                + Specs.SYSTEM_MOUNTS
                + "  pid: {}\n"
                + "  net:\n"
                + net.stripIndent().indent(4)
                + MountsIT.shell(script));
        try {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r--r--"));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return p;
    }

    private static Path runtimeDir(String name) {
        return Path.of("/tmp", "sandbox-" + uid, name);
    }

    /** Runs {@code sandbox up} as the test user; afterwards no pasta of this sandbox may be alive (killed by pid if one is, and the test fails). */
    private static Cli.Result up(String name, Path spec, java.util.function.Consumer<Process> during) {
        List<String> prefix = new ArrayList<>(List.of("runuser", "-u", USER, "--", "env", "-u", "XDG_RUNTIME_DIR", "HOME=" + home.dir));
        AtomicReference<Long> pasta = new AtomicReference<>();
        Cli.Result r = Cli.exec(prefix, Map.of(), dist.dir, p -> {
            // pasta writes its pid file under the runtime dir once the sandbox's network is up
            Path pidFile = runtimeDir(name).resolve("pasta.pid");
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (p.isAlive() && System.nanoTime() < deadline && pasta.get() == null) {
                try {
                    String text = Files.readString(pidFile).strip();
                    if (!text.isEmpty()) pasta.set(Long.parseLong(text));
                } catch (IOException | NumberFormatException e) {
                    ItHost.sleepMs(5);
                }
            }
            if (during != null) during.accept(p);
        }, "up", spec.toString());
        List<String> left = ItHost.processesMentioning(runtimeDir(name) + "/").stream().map(h -> h.pid() + " " + ItHost.cmdline(h.pid())).toList();
        Long pid = pasta.get();
        boolean pastaAlive = pid != null && ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
        if (pastaAlive) ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        ItHost.processesMentioning(runtimeDir(name) + "/").forEach(ProcessHandle::destroyForcibly);
        assertFalse(pastaAlive, "pasta (pid " + pid + ") outlived the sandbox");
        assertEquals(List.of(), left, "processes of " + name + " are left");
        assertFalse(Files.exists(runtimeDir(name)), "runtime dir left: " + runtimeDir(name));
        return r;
    }

    /** A tiny HTTP server on the host's 127.0.0.1 that answers {@code body}; closed by the caller. */
    private static HttpServer hostServer(String body) throws IOException {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 8);
        server.createContext("/", exchange -> {
            byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
            exchange.sendResponseHeaders(200, bytes.length);
            exchange.getResponseBody().write(bytes);
            exchange.close();
        });
        server.start();
        return server;
    }

    /** python3 inside: GET url, print "KEY=<body>" or "KEY=error <why>". 3 s timeout. */
    private static String fetch(String key, String url) {
        return "/usr/bin/python3 -c 'import urllib.request,sys\n"
                + "try: print(\"" + key + "=\" + urllib.request.urlopen(\"" + url + "\", timeout=3).read().decode())\n"
                + "except Exception as e: print(\"" + key + "=error\", type(e).__name__, e)'\n";
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void withHostLoopbackTheSandboxReachesAServerOnTheHostsLoopbackAt10_0_2_2() throws IOException {
        HttpServer server = hostServer("usernet-hello-from-host");
        try {
            int port = server.getAddress().getPort();
            String name = "usernet-loopback-on";
            Path spec = spec(name, """
                    mode: user
                    hostLoopback: true
                    """, "echo \"route=$(ip route show default)\"\n" + fetch("gateway", "http://10.0.2.2:" + port + "/")
                    + fetch("own", "http://127.0.0.1:" + port + "/"));
            AtomicReference<Cli.Result> r = new AtomicReference<>();
            withTunMode("rw-rw-rw-", () -> r.set(up(name, spec, null)));
            assertEquals(0, r.get().exit(), r.get()::toString);
            Map<String, String> p = ItHost.probe(r.get().out());
            assertTrue(p.get("route").contains("default via 10.0.2.2 dev eth0"), r.get()::toString);
            assertEquals("usernet-hello-from-host", p.get("gateway"), "10.0.2.2 is the host's 127.0.0.1: " + r.get());
            assertTrue(p.get("own").startsWith("error"), "127.0.0.1 inside is the sandbox's own loopback, never the host's: " + r.get());
        } finally {
            server.stop(0);
        }
    }

    @Test
    void withoutHostLoopbackTheHostsLoopbackServicesAreNotForwarded() throws IOException {
        HttpServer server = hostServer("must-not-be-reached");
        try {
            int port = server.getAddress().getPort();
            String name = "usernet-loopback-off";
            // Only the sandbox's own 127.0.0.1 is tried: 10.0.2.2 without the mapping would be a real outbound
            // connection (network rule). pasta's options for it (--no-map-gw) are checked on the plan below.
            Path spec = spec(name, "mode: user\n", "ip -br addr show eth0 | sed 's/^/eth0=/'\n" + fetch("own", "http://127.0.0.1:" + port + "/"));
            AtomicReference<Cli.Result> r = new AtomicReference<>();
            withTunMode("rw-rw-rw-", () -> r.set(up(name, spec, null)));
            assertEquals(0, r.get().exit(), r.get()::toString);
            Map<String, String> p = ItHost.probe(r.get().out());
            assertTrue(p.get("eth0").contains("10.0.2.100/24"), r.get()::toString);
            assertTrue(p.get("own").startsWith("error") && p.get("own").contains("refused"), "no port of the host is forwarded: " + r.get());

            Cli.Result plan = Cli.run("plan", "--format=json", spec.toString()); // as root: /dev/net/tun's mode is back to 0600
            assertTrue(plan.out().contains("--no-map-gw") && plan.out().contains("--tcp-ns none --udp-ns none"), plan::toString);
        } finally {
            server.stop(0);
        }
    }

    @Test
    void theHostReachesAServerInsideThroughAForwardedPort() throws IOException {
        int published = freePort();
        String name = "usernet-ports";
        // one request, then the server and the sandbox end by themselves
        Path spec = spec(name, """
                mode: user
                ports:
                  - {target: 8000, published: %d, host_ip: 127.0.0.1}
                """.formatted(published), """
                mkdir -p /tmp/www && echo usernet-hello-from-inside > /tmp/www/index.html && cd /tmp/www
                /usr/bin/python3 -c 'import http.server,socketserver
                h = http.server.HTTPServer(("0.0.0.0", 8000), http.server.SimpleHTTPRequestHandler)
                h.timeout = 20
                h.handle_request()'
                echo served=yes
                """);
        AtomicReference<String> got = new AtomicReference<>("nothing");
        AtomicReference<Cli.Result> r = new AtomicReference<>();
        withTunMode("rw-rw-rw-", () -> r.set(up(name, spec, p -> got.set(getThroughForward(published, p)))));
        assertEquals(0, r.get().exit(), r.get()::toString);
        assertTrue(got.get().contains("usernet-hello-from-inside"), "through 127.0.0.1:" + published + ": " + got.get() + "\n" + r.get());
        assertEquals("yes", ItHost.probe(r.get().out()).get("served"), r.get()::toString);
    }

    @Test
    void aUdpPortIsForwardedBothWays() throws IOException {
        int port;
        try (java.net.DatagramSocket probe = new java.net.DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            port = probe.getLocalPort();
        }
        String name = "usernet-udp";
        Path spec = spec(name, """
                mode: user
                ports: [{target: %d, published: %d, protocol: udp}]
                """.formatted(port, port), """
                /usr/bin/python3 -c 'import socket
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(("0.0.0.0", %d))
                s.settimeout(20)
                d, a = s.recvfrom(100)
                s.sendto(b"echo:" + d, a)
                print("udp=" + d.decode())'
                """.formatted(port));
        AtomicReference<String> got = new AtomicReference<>("nothing");
        AtomicReference<Cli.Result> r = new AtomicReference<>();
        withTunMode("rw-rw-rw-", () -> r.set(up(name, spec, p -> got.set(udpEcho(port, p)))));
        assertEquals(0, r.get().exit(), r.get()::toString);
        assertEquals("echo:usernet-datagram", got.get(), r.get()::toString);
        assertEquals("usernet-datagram", ItHost.probe(r.get().out()).get("udp"), r.get()::toString);
    }

    /** Sends a datagram to 127.0.0.1:port until the echo comes back (the server inside may not listen yet), 15 s at most. */
    private static String udpEcho(int port, Process sandbox) {
        long deadline = System.nanoTime() + 15_000_000_000L;
        String last = "no answer";
        try (java.net.DatagramSocket s = new java.net.DatagramSocket(0, InetAddress.getLoopbackAddress())) {
            s.setSoTimeout(300);
            byte[] out = "usernet-datagram".getBytes(StandardCharsets.US_ASCII);
            while (System.nanoTime() < deadline && sandbox.isAlive()) {
                s.send(new java.net.DatagramPacket(out, out.length, InetAddress.getLoopbackAddress(), port));
                java.net.DatagramPacket in = new java.net.DatagramPacket(new byte[100], 100);
                try {
                    s.receive(in);
                    return new String(in.getData(), 0, in.getLength(), StandardCharsets.US_ASCII);
                } catch (java.net.SocketTimeoutException e) {
                    // not yet
                }
            }
        } catch (IOException e) {
            last = e.toString();
        }
        return last;
    }

    /** GET / on 127.0.0.1:port until the server inside answers (pasta accepts before the server listens), 15 s at most. */
    private static String getThroughForward(int port, Process sandbox) {
        long deadline = System.nanoTime() + 15_000_000_000L;
        String last = "";
        while (System.nanoTime() < deadline && sandbox.isAlive()) {
            try (Socket s = new Socket(InetAddress.getLoopbackAddress(), port)) {
                s.setSoTimeout(5000);
                s.getOutputStream().write("GET / HTTP/1.0\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                InputStream in = s.getInputStream();
                String answer = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                if (answer.startsWith("HTTP/")) return answer;
                last = "empty answer";
            } catch (IOException e) {
                last = e.toString();
            }
            ItHost.sleepMs(100);
        }
        return last;
    }

    @Test
    void rootWithoutAUserNamespaceGetsTheSameNetworkWhateverTunsMode() throws IOException {
        // root's pasta opens /dev/net/tun as root in the host's user namespace: 0600 is enough
        int published = freePort();
        HttpServer server = hostServer("usernet-hello-root");
        try {
            String name = "usernet-root";
            Path spec = spec(name, false, """
                    mode: user
                    hostLoopback: true
                    ports: [{target: 8000, published: %d}]
                    """.formatted(published), fetch("gateway", "http://10.0.2.2:" + server.getAddress().getPort() + "/") + """
                    mkdir -p /tmp/www && echo usernet-root-inside > /tmp/www/index.html && cd /tmp/www
                    /usr/bin/python3 -c 'import http.server
                    h = http.server.HTTPServer(("0.0.0.0", 8000), http.server.SimpleHTTPRequestHandler)
                    h.timeout = 20
                    h.handle_request()'
                    """);
            AtomicReference<String> got = new AtomicReference<>("nothing");
            AtomicReference<Cli.Result> r = new AtomicReference<>();
            withTunMode("rw-------", () -> r.set(Cli.exec(List.of(), Map.of(), Cli.DIST, p -> got.set(getThroughForward(published, p)),
                    "up", spec.toString())));
            assertEquals(0, r.get().exit(), r.get()::toString);
            assertEquals("usernet-hello-root", ItHost.probe(r.get().out()).get("gateway"), r.get()::toString);
            assertTrue(got.get().contains("usernet-root-inside"), got.get() + "\n" + r.get());
            ItHost.assertNothingLeftOf(name); // pasta's command line names /run/sandbox/NAME/
        } finally {
            server.stop(0);
        }
    }

    @Test
    void aTunDeviceTheCallerCannotOpenIsALocatedValidateErrorNamingItAndTheFix() {
        String name = "usernet-tun";
        Path spec = spec(name, "mode: user\n", "echo target-ran\n");
        AtomicReference<Cli.Result> r = new AtomicReference<>();
        withTunMode("rw-------", () -> r.set(up(name, spec, null)));
        Cli.Result result = r.get();
        assertEquals(125, result.exit(), result::toString);
        assertFalse(result.out().contains("target-ran"));
        assertTrue(result.err().contains("error[net.tun-not-usable]"), result::toString);
        assertTrue(result.err().contains(name + ".yaml:"), "located in the spec: " + result);
        assertTrue(result.err().contains("/dev/net/tun") && result.err().contains("EACCES, mode rw-------"), result::toString);
        assertTrue(result.err().contains("chmod 0666 /dev/net/tun"), "the fix: " + result);
        assertTrue(result.err().contains("nothing was started"), result::toString);
    }
}
