package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Rootless labs (docs/labs.md, "Rootless labs") against the real kernel: the test (root) runs the packaged launcher
 * as the unprivileged user {@value RootlessIT#USER} with {@code runuser}, from a world-readable copy of the
 * distribution, as {@link RootlessIT} does. The triangle of issue 12 (a pings b through r, three members of a bridge
 * ping each other) comes up in one user namespace of the caller's, nothing of it is a mount, and {@code down} leaves
 * nothing: no runtime dir, no process, no file descriptor or mount that holds one of its namespaces. Labs are named
 * {@code lr-*}; addresses only from 198.18.113.0/24.
 */
class LabsRootlessIT {

    static final String USER = RootlessIT.USER;

    private static long uid;
    private static long gid;
    private static SpecDir dist;
    private static SpecDir home;
    private SpecDir specs;
    private final List<String> labs = new ArrayList<>();
    private final List<String> nodes = new ArrayList<>();

    @BeforeAll
    static void anUnprivilegedUserAndAReadableCopyOfTheDistribution() throws IOException {
        assumeTrue(Cli.isRoot(), "creating the test user and running sandbox as that user needs root");
        assumeTrue(ItHost.run("sh", "-c", "command -v runuser").exit() == 0, "runuser (util-linux) is missing");
        assumeTrue(!Files.exists(Path.of("/proc/sys/kernel/unprivileged_userns_clone"))
                || !Files.readAllLines(Path.of("/proc/sys/kernel/unprivileged_userns_clone")).get(0).strip().equals("0"),
                "unprivileged user namespaces are disabled on this host");
        ItHost.ensureUser(USER); // kept for later runs
        uid = Long.parseLong(ItHost.must("id", "-u", USER).out().strip());
        gid = Long.parseLong(ItHost.must("id", "-g", USER).out().strip());
        ensureSubordinateRange("/etc/subuid", "--add-subuids");
        ensureSubordinateRange("/etc/subgid", "--add-subgids");
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
        try {
            for (String lab : labs) asUser("down", "--timeout", "2", lab);
            if (!nodes.isEmpty()) {
                List<String> args = new ArrayList<>(List.of("down", "--timeout", "2"));
                args.addAll(nodes);
                asUser(args.toArray(String[]::new));
            }
            if (!labs.isEmpty()) asUser("gc");
        } finally {
            specs.close();
        }
    }

    /** A range of 65536 ids in {@code file} for the user when it has none (RootlessIT's rule). */
    private static void ensureSubordinateRange(String file, String option) throws IOException {
        long last = 100000;
        if (Files.exists(Path.of(file))) {
            for (String line : Files.readAllLines(Path.of(file))) {
                String[] f = line.split(":");
                if (f.length != 3) continue;
                if (f[0].equals(USER) || f[0].equals(Long.toString(uid))) return;
                last = Math.max(last, Long.parseLong(f[1].trim()) + Long.parseLong(f[2].trim()));
            }
        }
        ItHost.must("usermod", option, last + "-" + (last + 65535), USER);
    }

    /** The user's first subordinate range in {@code file}: {start, count}. */
    private static long[] subordinate(String file) throws IOException {
        for (String line : Files.readAllLines(Path.of(file))) {
            String[] f = line.split(":");
            if (f.length == 3 && (f[0].equals(USER) || f[0].equals(Long.toString(uid)))) {
                return new long[] {Long.parseLong(f[1].trim()), Long.parseLong(f[2].trim())};
            }
        }
        throw new AssertionError(USER + " has no range in " + file);
    }

    /** runuser -u sbtest -- env -u XDG_RUNTIME_DIR HOME=... [env] <copy>/bin/sandbox args... */
    private static Cli.Result asUser(Map<String, String> env, String... args) {
        List<String> prefix = new ArrayList<>(List.of("runuser", "-u", USER, "--", "env", "-u", "XDG_RUNTIME_DIR", "-u", "SANDBOX_RUNTIME_DIR",
                "HOME=" + home.dir, "SANDBOX_NO_CACHE=1"));
        env.forEach((k, v) -> prefix.add(k + "=" + v));
        return Cli.exec(prefix, Map.of(), dist.dir, null, args);
    }

    private static Cli.Result asUser(String... args) {
        return asUser(Map.of(), args);
    }

    private static Path base() {
        return Path.of("/tmp", "sandbox-" + uid);
    }

    private Path lab(String file, String text) throws IOException {
        Path p = specs.write(file, text);
        Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r--r--"));
        return p;
    }

    private Cli.Result up(String lab, Path file, String... nodeNames) {
        labs.add(lab);
        for (String n : nodeNames) nodes.add(lab + "-" + n);
        return asUser("up", file.toString());
    }

    /** The triangle: a -- r -- b on two /30s, r forwarding, and a bridge lan of all three. */
    private Path triangle(String name) throws IOException {
        return lab(name + ".yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: %s
                defaults:
                  namespaces:
                    user: {}                       # a rootless node spec's own: the lab's user namespace takes its place
                    mount: {mounts: [{type: proc, target: /proc}]}
                    pid: {init: true}
                    uts: {}
                  process: {command: [sleep, infinity], capabilities: [CAP_NET_RAW]}
                nodes:
                  a: {}
                  r: {namespaces: {net: {sysctls: {net.ipv4.ip_forward: 1}}}}
                  b: {}
                links:
                  - endpoints: [a:eth0, r:eth0]
                    addresses: [198.18.113.1/30, 198.18.113.2/30]
                  - {endpoints: [r:eth1, b:eth0], addresses: [198.18.113.6/30, 198.18.113.5/30], mtu: 1400}
                  - type: bridge
                    name: lan
                    endpoints: [a:eth1, b:eth1, r:eth2]
                    addresses: [198.18.113.17/29, 198.18.113.18/29, 198.18.113.19/29]
                routes:
                  a: [{to: 198.18.113.4/30, via: 198.18.113.2}]
                  b: [{to: 198.18.113.0/30, via: 198.18.113.6}]
                """.formatted(name));
    }

    /** The namespace links ("user:[4026...]") of a node's target, read by root from the host. */
    private static String nsOf(String sandbox, String type) throws IOException {
        String state = String.join("\n", Files.readAllLines(base().resolve(sandbox).resolve("state.json")));
        Matcher m = Pattern.compile("\"target\": \\{\"pid\": (\\d+)").matcher(state);
        assertTrue(m.find(), state);
        return Files.readSymbolicLink(Path.of("/proc", m.group(1), "ns", type)).toString();
    }

    /** The pid of a lab's holder (its record's monitor). */
    private static long holder(String lab) throws IOException {
        String state = String.join("\n", Files.readAllLines(base().resolve(lab).resolve("state.json")));
        Matcher m = Pattern.compile("\"monitor\": \\{\"pid\": (\\d+)").matcher(state);
        assertTrue(m.find(), state);
        return Long.parseLong(m.group(1));
    }

    /** Every process's namespace links and open files that name one of {@code namespaces} ("net:[4026...]"). */
    /** Within 5 s no process holds (as an fd or a namespace link) any of {@code namespaces}: the kernel freed them. */
    private static void assertNothingHolds(List<String> namespaces) {
        List<String> held = holdersOf(namespaces);
        for (int i = 0; i < 50 && !held.isEmpty(); i++) {
            sleep(100);
            held = holdersOf(namespaces);
        }
        assertEquals(List.of(), held, "nothing holds the lab's namespaces " + namespaces);
    }

    private static List<String> holdersOf(List<String> namespaces) {
        List<String> found = new ArrayList<>();
        try (Stream<Path> procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                List<Path> links = new ArrayList<>();
                for (String t : List.of("user", "net")) links.add(p.resolve("ns").resolve(t));
                try (Stream<Path> fds = Files.list(p.resolve("fd"))) {
                    fds.forEach(links::add);
                } catch (IOException e) {
                    // gone, or a kernel thread
                }
                for (Path l : links) {
                    try {
                        String target = Files.readSymbolicLink(l).toString();
                        if (namespaces.contains(target)) found.add(l + " -> " + target);
                    } catch (IOException e) {
                        // gone meanwhile
                    }
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return found;
    }

    /** Nothing of the lab is left: no runtime dir or plan file, no mount, no process of the user with its name. */
    private static void assertNothingLeft(String lab) throws IOException {
        if (Files.isDirectory(base())) {
            try (Stream<Path> dirs = Files.list(base())) {
                List<String> left = dirs.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(lab) || n.startsWith("." + lab)
                        || n.startsWith(".plan-" + lab)).toList();
                assertEquals(List.of(), left, "runtime dirs and plan files of " + lab + " in " + base());
            }
        }
        List<String> mounts = Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().filter(l -> l.contains(base() + "/" + lab)).toList();
        assertEquals(List.of(), mounts, "mounts of " + lab);
        List<String> procs = new ArrayList<>();
        for (int i = 0; i < 50; i++) { // a downed node's processes are reaped by init a moment after down returned
            procs = ProcessHandle.allProcesses().filter(p -> p.info().user().orElse("").equals(USER))
                    .map(p -> p.pid() + " " + p.info().commandLine().orElse("")).filter(c -> c.contains(lab)).toList();
            if (procs.isEmpty()) break;
            sleep(100);
        }
        assertEquals(List.of(), procs, "processes of " + lab);
        Cli.Result ps = asUser("ps", "-a");
        assertFalse(ps.out().contains(lab), ps.out());
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void theTriangleRunsRootlessInOneUserNamespaceAndDownLeavesNothing() throws IOException {
        String hostForward = Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_forward")).get(0);
        Path file = triangle("lr-tri");
        Cli.Result v = asUser("validate", file.toString());
        assertEquals(0, v.exit(), "no lab.needs-root where the kernel allows user namespaces: " + v);
        Cli.Result r = up("lr-tri", file, "a", "r", "b");
        assertEquals(0, r.exit(), r.toString());
        assertFalse(r.err().contains("lab.needs-root"), r.err());
        assertEquals(List.of("lr-tri-a", "lr-tri-r", "lr-tri-b", "lr-tri"), r.out().lines().toList(), r.toString());

        // a pings b through r: one hop (ttl 63)
        Cli.Result ping = asUser("exec", "lr-tri-a", "--", "ping", "-c1", "-W2", "198.18.113.5");
        assertEquals(0, ping.exit(), ping.toString());
        assertTrue(ping.out().contains("ttl=63"), "one hop through r: " + ping.out());
        // the members of the bridge ping each other
        for (String[] pair : new String[][] {{"a", "198.18.113.18"}, {"b", "198.18.113.19"}, {"r", "198.18.113.17"}}) {
            Cli.Result p = asUser("exec", "lr-tri-" + pair[0], "--", "ping", "-c1", "-W2", "-q", pair[1]);
            assertEquals(0, p.exit(), pair[0] + " -> " + pair[1] + ": " + p);
        }
        Cli.Result mtu = asUser("exec", "lr-tri-b", "--", "cat", "/sys/class/net/eth0/mtu");
        assertEquals("1400", mtu.out().strip(), mtu.toString());
        // ip_forward only inside r's namespace
        Cli.Result fwd = asUser("exec", "lr-tri-r", "--", "cat", "/proc/sys/net/ipv4/ip_forward");
        assertEquals("1", fwd.out().strip(), fwd.toString());
        assertEquals(hostForward, Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_forward")).get(0), "the host's ip_forward");

        // one user namespace for all nodes, the caller root inside and the subordinate ids after it
        String userns = nsOf("lr-tri-a", "user");
        assertEquals(userns, nsOf("lr-tri-r", "user"));
        assertEquals(userns, nsOf("lr-tri-b", "user"));
        assertNotEquals(Files.readSymbolicLink(Path.of("/proc/self/ns/user")).toString(), userns, "not the host's");
        Cli.Result map = asUser("exec", "lr-tri-a", "--", "cat", "/proc/self/uid_map", "/proc/self/gid_map");
        long[] su = subordinate("/etc/subuid"), sg = subordinate("/etc/subgid");
        assertEquals(List.of("0 " + uid + " 1", "1 " + su[0] + " " + Math.min(su[1], 65536), "0 " + gid + " 1",
                "1 " + sg[0] + " " + Math.min(sg[1], 65536)), map.out().lines().map(l -> l.strip().replaceAll("\\s+", " ")).toList(), map.toString());
        List<String> namespaces = new ArrayList<>(List.of(userns));
        for (String n : List.of("a", "r", "b")) namespaces.add(nsOf("lr-tri-" + n, "net"));
        // held by processes only: no nsfs mount, the node links point at the holder's descriptors
        assertTrue(Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().noneMatch(l -> l.contains(base().toString())),
                "nothing mounted below " + base());
        long holder = holder("lr-tri");
        assertEquals(Path.of("/proc/" + holder + "/fd"), Files.readSymbolicLink(base().resolve("lr-tri/netns/a")).getParent(),
                "the node's namespace is the holder's descriptor");
        assertTrue(Files.isSymbolicLink(base().resolve("lr-tri/netns/_switch")), "the bridges' namespace");
        assertFalse(holdersOf(namespaces).isEmpty());

        Cli.Result down = asUser("down", "lr-tri");
        assertEquals(0, down.exit(), down.toString());
        assertNothingLeft("lr-tri");
        assertNothingHolds(namespaces);
    }

    @Test
    void aNodeWithAUserNamespaceOfItsOwnIsLabNodeUserAndNothingStarts() throws IOException {
        Path file = lab("lr-user.yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: lr-user
                defaults:
                  namespaces: {user: {}, uts: {}}
                  process: {command: [sleep, infinity]}
                nodes:
                  a:
                    namespaces:
                      user:
                        uidMap: [{inside: 0, outside: %d, count: 1}]
                        setgroups: allow
                  b: {namespaces: {user: {join: {path: /proc/1/ns/user}}}}
                  c: {}
                links:
                  - endpoints: [a:eth0, b:eth0]
                """.formatted(uid));
        Cli.Result r = up("lr-user", file);
        assertEquals(125, r.exit(), r.toString());
        String f = file.toString();
        assertTrue(r.err().contains(f + ":11:17: error[lab.node-user]: node a's uidMap is not the lab's"), r.err());
        assertTrue(r.err().contains(f + ":12:20: error[lab.node-user]: node a asks for setgroups allow"), r.err());
        assertTrue(r.err().contains(f + ":13:27: error[lab.node-user]: node b joins a user namespace"), r.err());
        assertTrue(r.err().contains("hint: remove namespaces.user from node a"), r.err());
        assertFalse(r.err().contains("node c"), "user: {} is the lab's: " + r.err());
        assertTrue(r.err().contains("nothing was started"), r.err());
        assertNothingLeft("lr-user");

        Cli.Result v = asUser("validate", file.toString());
        assertEquals(1, v.exit(), v.toString());
        assertTrue(v.out().contains("error[lab.node-user]"), v.toString());
    }

    @Test
    void aKilledHolderTakesTheLabsOwnNamespacesAndDownFinishesTheRest() throws IOException {
        Cli.Result r = up("lr-kill", triangle("lr-kill"), "a", "r", "b");
        assertEquals(0, r.exit(), r.toString());
        List<String> namespaces = new ArrayList<>(List.of(nsOf("lr-kill-a", "user")));
        for (String n : List.of("a", "r", "b")) namespaces.add(nsOf("lr-kill-" + n, "net"));
        ItHost.must("kill", "-KILL", Long.toString(holder("lr-kill")));
        Cli.Result ps = null;
        for (int i = 0; i < 50; i++) {
            ps = asUser("ps", "-a");
            if (ps.out().matches("(?s).*lr-kill +dead.*")) break;
            sleep(100);
        }
        assertTrue(ps.out().matches("(?s).*lr-kill +dead.*"), ps.out());
        // the nodes keep running (they hold their namespaces themselves) until they are downed
        assertEquals(0, asUser("exec", "lr-kill-a", "--", "ping", "-c1", "-W2", "-q", "198.18.113.5").exit());
        Cli.Result down = asUser("down", "lr-kill");
        assertEquals(0, down.exit(), down.toString());
        asUser("down", "lr-kill-a", "lr-kill-r", "lr-kill-b");
        assertNothingLeft("lr-kill");
        assertNothingHolds(namespaces);
    }

    @Test
    void aSysctlTheKernelRefusesTearsDownTheHalfBuiltRootlessLab() throws IOException {
        Path file = lab("lr-sys.yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: lr-sys
                defaults: {process: {command: [sleep, infinity]}}
                nodes:
                  a: {}
                  b: {namespaces: {net: {sysctls: {net.ipv4.no_such_sysctl: 1}}}}
                links:
                  - {endpoints: [a:eth0, b:eth0], addresses: [198.18.113.41/30, 198.18.113.42/30]}
                """);
        Cli.Result r = up("lr-sys", file, "a", "b");
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("sandbox: lab lr-sys: node b: sysctl net.ipv4.no_such_sysctl: open /proc/sys/net/ipv4/no_such_sysctl: ENOENT"),
                r.err());
        assertNothingLeft("lr-sys");
    }

    @Test
    void aHostFacingLinkOnARootlessNodeIsNetLinksNeedRootInItsFile() throws IOException {
        Path file = lab("lr-hl.yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: lr-hl
                defaults: {process: {command: [sleep, infinity]}}
                nodes:
                  a:
                    namespaces:
                      net:
                        links:
                          - {type: veth, name: up0, hostName: lrhl0, address: 198.19.113.2/30, hostAddress: 198.19.113.1/30}
                  b: {}
                links:
                  - {endpoints: [a:eth0, b:eth0], addresses: [198.18.113.45/30, 198.18.113.46/30]}
                """);
        Cli.Result r = up("lr-hl", file);
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains(file + ":10:11: error[net.links-need-root]"), r.err());
        assertTrue(r.err().contains(file + ": 1 error, 0 warnings; nothing was started"), "the link's the only mistake: " + r.err());
        assertNothingLeft("lr-hl");
    }

    /** The names of a node's interfaces, from inside it. */
    private static List<String> interfaces(String node) {
        Cli.Result dev = asUser("exec", node, "--", "cat", "/proc/net/dev");
        assertEquals(0, dev.exit(), dev.toString());
        return dev.out().lines().filter(l -> l.contains(":")).map(l -> l.substring(0, l.indexOf(':')).trim()).sorted().toList();
    }

    @Test
    void downOfOneRootlessNodeTakesItsLinksAndPsAndInspectShowTheLab() throws IOException {
        Cli.Result r = up("lr-dn", triangle("lr-dn"), "a", "r", "b");
        assertEquals(0, r.exit(), r.toString());
        assertEquals(List.of("eth0", "eth1", "eth2", "lo"), interfaces("lr-dn-r"));
        Cli.Result ps = asUser("ps");
        assertTrue(ps.out().lines().findFirst().orElse("").matches("NAME\\s+STATUS\\s+PID\\s+UPTIME\\s+LAB\\s+NAMESPACES\\s+SPEC"), ps.out());
        for (String name : List.of("lr-dn", "lr-dn-a", "lr-dn-r", "lr-dn-b")) {
            assertTrue(ps.out().lines().anyMatch(l -> l.matches(name + "\\s+running\\s+\\d+\\s+\\S+\\s+lr-dn\\s.*")), name + ":\n" + ps.out());
        }

        // down of a: its links are deleted from inside its namespace (entered through the lab's user namespace)
        Cli.Result down = asUser("down", "lr-dn-a");
        assertEquals(0, down.exit(), down.toString());
        assertEquals("", down.err(), "a quiet down");
        assertEquals(List.of("eth1", "eth2", "lo"), interfaces("lr-dn-r"), "a's veth went with its peer in r");
        assertEquals(0, asUser("exec", "lr-dn-b", "--", "ping", "-c1", "-W2", "-q", "198.18.113.6").exit(), "b still pings r");
        assertEquals(0, asUser("exec", "lr-dn-b", "--", "ping", "-c1", "-W2", "-q", "198.18.113.19").exit(), "b still reaches r over the bridge");
        assertFalse(Files.exists(base().resolve("lr-dn/netns/a"), java.nio.file.LinkOption.NOFOLLOW_LINKS), "a's link to its namespace is gone");
        ps = asUser("ps");
        assertTrue(ps.out().lines().anyMatch(l -> l.matches("lr-dn\\s+running\\s.*")), "the lab keeps running:\n" + ps.out());
        assertFalse(ps.out().contains("lr-dn-a"), ps.out());

        // inspect r: a's link is gone from the kernel and its peer is down; b's is there with its MTU
        Cli.Result inspect = asUser("inspect", "lr-dn-r");
        assertEquals(0, inspect.exit(), inspect.toString());
        var lab = new com.fasterxml.jackson.databind.ObjectMapper().readTree(inspect.out()).path("lab");
        assertEquals("lr-dn", lab.path("name").asText(), inspect.out());
        var links = lab.path("links");
        assertEquals(3, links.size(), inspect.out());
        assertEquals("lr-dn-a", links.get(0).path("peer").path("node").asText(), inspect.out());
        assertFalse(links.get(0).path("peer").path("up").asBoolean(true), inspect.out());
        assertFalse(links.get(0).path("kernel").path("present").asBoolean(true), inspect.out());
        assertEquals("lr-dn-b", links.get(1).path("peer").path("node").asText(), inspect.out());
        assertEquals(1400, links.get(1).path("mtu").asInt(), inspect.out());
        assertTrue(links.get(1).path("kernel").path("present").asBoolean(), inspect.out());
        assertTrue(links.get(1).path("addresses").get(0).path("inKernel").asBoolean(), inspect.out());

        List<String> namespaces = new ArrayList<>(List.of(nsOf("lr-dn-r", "user")));
        for (String n : List.of("r", "b")) namespaces.add(nsOf("lr-dn-" + n, "net"));
        Cli.Result all = asUser("down", "--timeout", "0", "lr-dn");
        assertEquals(0, all.exit(), all.toString());
        assertEquals("", all.err(), "SIGKILL at once is no timeout to report");
        assertNothingLeft("lr-dn");
        assertNothingHolds(namespaces);
    }

    @Test
    void aRootlessLabUpKilledHalfWayIsFinishedByGc() throws IOException {
        Path file = triangle("lr-crash");
        labs.add("lr-crash");
        Cli.Result r = asUser(Map.of("SANDBOX_CRASH_AT", "lab-linked"), "up", file.toString());
        assertEquals(137, r.exit(), r.toString());
        assertTrue(Files.isSymbolicLink(base().resolve("lr-crash/userns")), "the half-built lab is there");
        Cli.Result gc = asUser("gc");
        assertEquals(0, gc.exit(), gc.toString());
        assertTrue(gc.out().contains("removed lr-crash"), gc.toString());
        assertNothingLeft("lr-crash");
    }

    // ---------------------------------------------------------------------------------------------
    // kill -9 of a rootless lab's processes: LabsKillNineIT's cases (lab-up killed at each crash point, the holder
    // killed), finished by gc, the next up or down, as the unprivileged user. Labs lr-kn*, sleeps 1132000+n.

    static Stream<org.junit.jupiter.params.provider.Arguments> killCases() {
        return LabsKillNineIT.cases();
    }

    @ParameterizedTest(name = "rootless {0} then {1}")
    @MethodSource("killCases")
    void aKilledRootlessLabIsFinishedAndLeavesNothing(LabsKillNineIT.Point point, LabsKillNineIT.Finisher finisher) throws IOException {
        int n = point.ordinal() * LabsKillNineIT.Finisher.values().length + finisher.ordinal();
        String name = "lr-kn" + n;
        String sleep = "sleep " + (1132000 + n);
        Path file = lab(name + ".yaml", """
                apiVersion: sandbox/v1
                kind: Lab
                name: %s
                defaults: {process: {command: [%s]}}
                nodes: {a: {}, b: {}, c: {}}
                links:
                  - {endpoints: [a:eth0, b:eth0], addresses: [198.18.113.33/30, 198.18.113.34/30]}
                  - {type: bridge, name: lan, endpoints: [a:eth1, b:eth1, c:eth0]}
                """.formatted(name, sleep.replace(" ", ", \"") + "\""));
        labs.add(name);
        try {
            if (point == LabsKillNineIT.Point.HOLDER_KILLED) {
                Cli.Result up = asUser("up", file.toString());
                assertEquals(0, up.exit(), up.toString());
                long holder = holder(name);
                ProcessHandle.of(holder).ifPresent(ProcessHandle::destroyForcibly);
                LabsKillNineIT.awaitGone(holder);
            } else {
                Cli.Result up = asUser(Map.of("SANDBOX_CRASH_AT", point.wire), "up", file.toString());
                assertEquals(137, up.exit(), () -> "lab-up was killed at " + point.wire + ":\n" + up);
            }
            LabsKillNineIT.awaitLockFree(base().resolve(name).resolve("lock"));
            switch (finisher) {
                case GC -> {
                    Cli.Result gc = asUser("gc");
                    assertEquals(0, gc.exit(), gc.toString());
                }
                case UP -> {
                    Cli.Result again = asUser("up", file.toString());
                    assertEquals(0, again.exit(), () -> "the next up of " + name + ":\n" + again);
                    assertEquals(3, LabsKillNineIT.processes(sleep).size(), "three nodes of the new lab, none of the old one");
                    Cli.Result down = asUser("down", name);
                    assertEquals(0, down.exit(), down.toString());
                }
                case DOWN -> {
                    Cli.Result down = asUser("down", name);
                    assertEquals(0, down.exit(), down.toString());
                }
            }
            List<Long> left = LabsKillNineIT.processes(sleep);
            for (int i = 0; i < 50 && !left.isEmpty(); i++) {
                sleep(100);
                left = LabsKillNineIT.processes(sleep);
            }
            assertEquals(List.of(), left, "node processes of " + name);
            assertNothingLeft(name);
        } finally {
            for (long pid : LabsKillNineIT.processes(sleep)) ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }
}
