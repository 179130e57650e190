package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Each namespace type, end to end through the packaged {@code bin/sandbox}, as root: a small probe
 * inside prints what the sandbox sees of itself ({@code /proc/self/ns/*}, hostname, {@code $$},
 * {@code /proc}, {@code ipcs}, {@code /proc/self/cgroup}, {@code /proc/uptime}) and the test compares
 * it with what the spec asked and with what this JVM sees on the host.
 */
class NamespacesIT {

    /** The types under /proc/PID/ns (the *_for_children links excepted). */
    static final List<String> TYPES = List.of("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts");

    /** Prints {@code TYPE=TYPE:[INODE]} for every type. */
    static final String NS_PROBE = "[/bin/sh, -c, 'for t in " + String.join(" ", TYPES)
            + "; do echo \"$t=$(readlink /proc/self/ns/$t)\"; done']";

    private SpecDir specs;
    private final List<String> names = new ArrayList<>();
    private final List<AutoCloseable> cleanups = new ArrayList<>();

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "namespaces without a user namespace, cgroups and id maps to other uids need root (like CI)");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() throws Exception {
        // reverse order of creation
        for (int i = cleanups.size() - 1; i >= 0; i--) cleanups.get(i).close();
        if (specs != null) specs.close();
        for (String name : names) {
            ItHost.assertNothingLeftOf(name);
        }
    }

    /** Writes {@code NAME.yaml} (the sandbox is named NAME) and remembers the name for the leftovers check. */
    private Path spec(String name, String body) {
        names.add(name);
        return specs.spec(name + ".yaml", body);
    }

    private static Cli.Result up(Path spec, String... extra) {
        List<String> args = new ArrayList<>(List.of("up", spec.toString()));
        args.addAll(List.of(extra));
        return Cli.run(args.toArray(String[]::new));
    }

    private static Cli.Result upOk(Path spec) {
        Cli.Result r = up(spec);
        assertEquals(0, r.exit(), r::toString);
        return r;
    }

    // ------------------------------------------------------------------------------ /proc/self/ns

    @Test
    void everyRequestedTypeGetsANamespaceOfItsOwn() {
        assumeTimeNamespaces();
        Path spec = spec("nsit-all", Specs.isolated("time: {}", NS_PROBE));
        Map<String, String> inside = ItHost.probe(upOk(spec).out());
        Map<String, String> host = hostNamespaces();
        for (String type : TYPES) {
            assertNotNull(inside.get(type), "the probe printed no " + type + ": " + inside);
            assertNotEquals(host.get(type), inside.get(type), type + " namespace is the host's, but the spec asks for a new one");
        }
    }

    @Test
    void onlyUtsAndIpcRequestedLeavesEveryOtherNamespaceTheHosts() {
        assumeTimeNamespaces();
        Path spec = spec("nsit-uts-ipc", """
                namespaces:
                  uts: {hostname: only-uts}
                  ipc: {}
                process:
                  command: %s
                """.formatted(NS_PROBE));
        assertOnlyTheseDiffer(Set.of("uts", "ipc"), ItHost.probe(upOk(spec).out()));
    }

    @ParameterizedTest(name = "namespaces.{0} alone")
    @ValueSource(strings = {"user", "mount", "pid", "uts", "ipc", "net", "cgroup", "time"})
    void aSingleRequestedTypeIsTheOnlyNamespaceThatDiffers(String section) {
        assumeTimeNamespaces();
        Path spec = spec("nsit-one-" + section, """
                namespaces:
                  %s: {}
                process:
                  command: %s
                """.formatted(section, NS_PROBE));
        String procName = section.equals("mount") ? "mnt" : section;
        assertOnlyTheseDiffer(Set.of(procName), ItHost.probe(upOk(spec).out()));
    }

    private static void assertOnlyTheseDiffer(Set<String> requested, Map<String, String> inside) {
        Map<String, String> host = hostNamespaces();
        for (String type : TYPES) {
            assertNotNull(inside.get(type), "the probe printed no " + type + ": " + inside);
            if (requested.contains(type)) {
                assertNotEquals(host.get(type), inside.get(type), type + " was requested but is the host's namespace");
            } else {
                assertEquals(host.get(type), inside.get(type), type + " was not requested but is not the host's namespace");
            }
        }
    }

    /** The probes list every type, time included. */
    private static void assumeTimeNamespaces() {
        assumeTrue(Files.exists(Path.of("/proc/self/ns/time")), "this kernel has no time namespaces (they need Linux 5.6)");
    }

    /** This JVM's namespaces: the host's (the test runs as root in the initial namespaces). */
    static Map<String, String> hostNamespaces() {
        Map<String, String> out = new LinkedHashMap<>();
        for (String type : TYPES) {
            try {
                out.put(type, Files.readSymbolicLink(Path.of("/proc/self/ns", type)).toString());
            } catch (IOException e) {
                throw new AssertionError("readlink /proc/self/ns/" + type, e);
            }
        }
        return out;
    }

    // ------------------------------------------------------------------------------ uts

    @Test
    void hostnameAndDomainnameAreSetInsideAndTheHostsStayUnchanged() throws IOException {
        String hostBefore = kernel("hostname");
        String domainBefore = kernel("domainname");
        Path spec = spec("nsit-uts", """
                namespaces:
                  uts: {hostname: it-box, domainname: it.example}
                process:
                  command: [/bin/sh, -c, 'echo "hostname=$(cat /proc/sys/kernel/hostname)"; echo "domainname=$(cat /proc/sys/kernel/domainname)"; echo "uname=$(uname -n)"']
                """);
        Map<String, String> inside = ItHost.probe(upOk(spec).out());
        assertEquals("it-box", inside.get("hostname"));
        assertEquals("it-box", inside.get("uname"));
        assertEquals("it.example", inside.get("domainname"));
        assertEquals(hostBefore, kernel("hostname"), "the host's hostname changed");
        assertEquals(domainBefore, kernel("domainname"), "the host's domainname changed");
    }

    private static String kernel(String file) throws IOException {
        return Files.readString(Path.of("/proc/sys/kernel", file)).strip();
    }

    // ------------------------------------------------------------------------------ pid

    @Test
    void withoutInitTheTargetIsPid1AndProcShowsOnlyIt() {
        Path spec = spec("nsit-pid1", """
                namespaces:
                  mount:
                    mounts:
                      - {type: proc, target: /proc}
                  pid: {}
                process:
                  command: [/bin/sh, -c, 'set -- /proc/[0-9]*; echo "procs=$*"; echo "self=$$"']
                """);
        // the shell expands the glob itself, in the process that is PID 1, before it forks anything
        Map<String, String> inside = ItHost.probe(upOk(spec).out());
        assertEquals("1", inside.get("self"));
        assertEquals("/proc/1", inside.get("procs"));
    }

    @Test
    void withInitTheTargetIsPid2AndPid1IsSandboxInit() {
        Path spec = spec("nsit-init", """
                namespaces:
                  mount:
                    mounts:
                      - {type: proc, target: /proc}
                  pid: {init: true}
                process:
                  command: [/bin/sh, -c, 'set -- /proc/[0-9]*; echo "procs=$*"; echo "self=$$"; echo "comm1=$(cat /proc/1/comm)"']
                """);
        Map<String, String> inside = ItHost.probe(upOk(spec).out());
        assertEquals("2", inside.get("self"));
        assertEquals("sandbox-init", inside.get("comm1"));
        // expanded by the target before it forks anything: PID 1 (the init) and the target; the host has many more
        assertEquals("/proc/1 /proc/2", inside.get("procs"));
    }

    // ------------------------------------------------------------------------------ ipc

    @Test
    void aSysVSegmentOfTheHostIsInvisibleInANewIpcNamespace() {
        assumeTrue(ItHost.run("sh", "-c", "command -v ipcmk && command -v ipcs && command -v ipcrm").exit() == 0,
                "ipcmk/ipcs/ipcrm (util-linux) are not installed");
        String id = createShmSegment();
        cleanups.add(() -> ItHost.must("ipcrm", "-m", id));
        assertTrue(shmIds(ItHost.must("ipcs", "-m").out()).contains(id), "the host's ipcs -m does not list segment " + id);

        // the same probe without an ipc namespace sees the segment: the probe itself works
        Path shared = spec("nsit-ipc-shared", """
                namespaces:
                  uts: {}
                process:
                  command: [ipcs, -m]
                """);
        assertTrue(shmIds(upOk(shared).out()).contains(id), "without an ipc namespace the sandbox should see segment " + id);

        Path isolated = spec("nsit-ipc", Specs.isolated("", "[ipcs, -m]"));
        Cli.Result r = upOk(isolated);
        assertFalse(shmIds(r.out()).contains(id), "segment " + id + " of the host is visible in the sandbox:\n" + r);
        assertEquals(List.of(), shmIds(r.out()), "a new ipc namespace starts without segments:\n" + r);
    }

    /** {@code ipcmk -M 4096}; prints e.g. "Shared memory id: 32769". */
    private static String createShmSegment() {
        ItHost.Run made = ItHost.must("ipcmk", "-M", "4096");
        Matcher m = Pattern.compile("(\\d+)\\s*$").matcher(made.out().strip());
        assertTrue(m.find(), "no id in ipcmk's output: " + made);
        return m.group(1);
    }

    /** The shmid column of {@code ipcs -m} (rows start with the hex key). */
    private static List<String> shmIds(String ipcs) {
        return ipcs.lines().map(String::trim).filter(l -> l.startsWith("0x")).map(l -> l.split("\\s+")[1]).toList();
    }

    // ------------------------------------------------------------------------------ cgroup

    @Test
    void cgroupNamespaceIsRootedAtTheSandboxsCgroupWhichIsGoneAfterExit() {
        Path cgroup2 = cgroup2Mount();
        String name = "nsit-cgroup";
        Path dir = cgroup2.resolve("sandbox").resolve(name);
        Path spec = spec(name, """
                namespaces:
                  mount:
                    mounts:
                      - {type: proc, target: /proc}
                  pid: {init: true}
                  cgroup: {}
                process:
                  command: [/bin/sh, -c, 'sed "s/^/cgroup=/" /proc/self/cgroup | grep "^cgroup=0::"; echo ready; exec sleep 60']
                """);
        LaunchedSandbox run = track(LaunchedSandbox.start("up", spec.toString()));
        run.awaitOut("ready", Duration.ofSeconds(60));
        assertEquals("0::/", ItHost.probe(run.out()).get("cgroup"), "the cgroup2 line inside:\n" + run);

        // the same process seen from the host: it is in <cgroup2>/sandbox/<name>
        long pid = sandboxPid(name);
        String hostView = read(Path.of("/proc", Long.toString(pid), "cgroup"));
        assertTrue(hostView.lines().anyMatch(l -> l.equals("0::/sandbox/" + name)), "host's /proc/" + pid + "/cgroup:\n" + hostView);
        assertTrue(Files.isDirectory(dir), dir + " does not exist while the sandbox runs");

        run.signal("TERM");
        assertEquals(143, run.awaitExit(Duration.ofSeconds(60)), run::toString);
        assertFalse(Files.exists(dir), dir + " is left after the sandbox ended");
    }

    /** The cgroup2 mount: /sys/fs/cgroup (v2) or /sys/fs/cgroup/unified (hybrid). */
    private static Path cgroup2Mount() {
        List<Path> found = ItHost.hostMounts().stream().filter(m -> m.fsType().equals("cgroup2")).map(m -> Path.of(m.mountPoint())).toList();
        assumeTrue(!found.isEmpty(), "no cgroup2 file system is mounted on this host");
        return found.get(0);
    }

    // ------------------------------------------------------------------------------ time

    @Test
    void bootAndMonotonicOffsetsOfADayShowInUptime() throws IOException {
        assumeTimeNamespaces();
        Path spec = spec("nsit-time", """
                namespaces:
                  time: {offsets: {boottime: 86400, monotonic: 86400}}
                process:
                  command: [/bin/sh, -c, 'echo "uptime=$(cut -d" " -f1 /proc/uptime)"']
                """);
        double before = hostUptime();
        Cli.Result r = upOk(spec);
        double after = hostUptime();
        double inside = Double.parseDouble(ItHost.probe(r.out()).get("uptime"));
        assertTrue(inside >= before + 86400 - 1, "uptime inside " + inside + " is not a day ahead of the host's " + before);
        assertTrue(inside <= after + 86400 + 1, "uptime inside " + inside + " is more than a day ahead of the host's " + after);
    }

    private static double hostUptime() throws IOException {
        return Double.parseDouble(Files.readString(Path.of("/proc/uptime")).split(" ")[0]);
    }

    // ------------------------------------------------------------------------------ join

    @Test
    void joiningByPathAndBySandboxNameSharesTheRunningSandboxsUtsNamespace() throws IOException {
        String name = "nsit-joined";
        Path first = spec(name, """
                namespaces:
                  uts: {hostname: joined-host}
                process:
                  command: [/bin/sh, -c, 'echo ready; exec sleep 30']
                """);
        LaunchedSandbox running = track(LaunchedSandbox.start("up", first.toString()));
        running.awaitOut("ready", Duration.ofSeconds(60));
        long pid = sandboxPid(name);
        String utsOfFirst = Files.readSymbolicLink(Path.of("/proc", Long.toString(pid), "ns", "uts")).toString();

        String probe = "[/bin/sh, -c, 'echo \"hostname=$(hostname)\"; echo \"uts=$(readlink /proc/self/ns/uts)\"']";
        Path byPath = spec("nsit-join-path", """
                namespaces:
                  uts: {join: {path: /proc/%d/ns/uts}}
                process:
                  command: %s
                """.formatted(pid, probe));
        Map<String, String> viaPath = ItHost.probe(upOk(byPath).out());
        assertEquals("joined-host", viaPath.get("hostname"));
        assertEquals(utsOfFirst, viaPath.get("uts"));

        Path byName = spec("nsit-join-name", """
                namespaces:
                  uts: {join: {sandbox: %s}}
                process:
                  command: %s
                """.formatted(name, probe));
        Map<String, String> viaName = ItHost.probe(upOk(byName).out());
        assertEquals("joined-host", viaName.get("hostname"));
        assertEquals(utsOfFirst, viaName.get("uts"));

        assertTrue(running.isAlive(), "joining must not disturb the running sandbox:\n" + running);
    }

    @Test
    void aJoinPathThatDoesNotExistFailsWith125NamingThePathAndEnoent() {
        long missing = 4_000_000_000L;
        String path = "/proc/" + missing + "/ns/uts";
        assertFalse(Files.exists(Path.of(path)));
        Path spec = spec("nsit-join-missing", """
                namespaces:
                  uts: {join: {path: %s}}
                process:
                  command: [/bin/echo, target-ran]
                """.formatted(path));
        Cli.Result r = up(spec);
        assertEquals(125, r.exit(), r::toString);
        assertFalse(r.out().contains("target-ran"), r::toString);
        assertTrue(r.err().contains(path) && r.err().contains("ENOENT"), "the message must name " + path + " and ENOENT:\n" + r);
        assertFalse(r.err().contains("\tat "), "no stack trace:\n" + r);
    }

    @Test
    void aNetNamespacePathGivenToUtsIsAJoinWrongTypeError() {
        Path spec = spec("nsit-join-type", """
                namespaces:
                  uts: {join: {path: /proc/self/ns/net}}
                process:
                  command: [/bin/true]
                """);
        Cli.Result r = Cli.run("validate", spec.toString());
        assertEquals(1, r.exit(), r::toString);
        assertTrue(r.out().contains("error[join.wrong-type]"), r::toString);
        assertTrue(r.out().contains("/proc/self/ns/net"), r::toString);
    }

    // ------------------------------------------------------------------------------ helpers

    private LaunchedSandbox track(LaunchedSandbox run) {
        cleanups.add(run);
        return run;
    }

    /** The pid of the sandbox's first process, from its runtime state (what join: {sandbox: ...} reads). */
    static long sandboxPid(String name) {
        Path file = Path.of("/run/sandbox", name, "pid");
        assertTrue(Files.exists(file), file + " does not exist while the sandbox runs");
        return Long.parseLong(read(file).strip());
    }

    static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (IOException e) {
            throw new AssertionError("read " + file, e);
        }
    }
}
