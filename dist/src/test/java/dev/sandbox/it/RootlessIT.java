package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * sandbox as an unprivileged user, end to end: the test (root) runs the packaged launcher as the
 * user {@value #USER} with {@code runuser}, from a world-readable copy of the distribution (the
 * build's own may sit below directories that user can't enter).
 *
 * <p>The user is created when missing and kept for later runs, with subordinate id ranges in
 * /etc/subuid and /etc/subgid (added when it has none). XDG_RUNTIME_DIR is unset unless a test
 * sets it, so the runtime dir is /tmp/sandbox-UID/NAME.
 */
class RootlessIT {

    static final String USER = "sbtest";

    private static long uid;
    private static long gid;
    private static SpecDir dist;
    private static SpecDir home;
    private SpecDir specs;

    @BeforeAll
    static void anUnprivilegedUserAndAReadableCopyOfTheDistribution() {
        assumeTrue(Cli.isRoot(), "creating the test user and running sandbox as that user needs root");
        assumeTrue(ItHost.run("sh", "-c", "command -v runuser").exit() == 0, "runuser (util-linux) is missing");
        ItHost.ensureUser(USER); // kept for later runs
        uid = Long.parseLong(ItHost.must("id", "-u", USER).out().strip());
        gid = Long.parseLong(ItHost.must("id", "-g", USER).out().strip());
        ensureSubordinateRange("/etc/subuid", "--add-subuids");
        ensureSubordinateRange("/etc/subgid", "--add-subgids");

        dist = new SpecDir();
        ItHost.copyDistribution(dist);
        home = new SpecDir(); // an empty HOME: no plugins of a real user take part
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

    /** Gives the user a range of 65536 ids in {@code file} when it has none, after every range already granted. */
    private static void ensureSubordinateRange(String file, String option) {
        List<long[]> all = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(Path.of(file))) {
                String[] f = line.split(":");
                if (f.length != 3) continue;
                if (f[0].equals(USER) || f[0].equals(Long.toString(uid))) return;
                all.add(new long[] {Long.parseLong(f[1].trim()), Long.parseLong(f[2].trim())});
            }
        } catch (java.nio.file.NoSuchFileException e) {
            // created by usermod
        } catch (IOException | NumberFormatException e) {
            throw new AssertionError("cannot read " + file, e);
        }
        long start = Math.max(100000, all.stream().mapToLong(r -> r[0] + r[1]).max().orElse(0));
        ItHost.must("usermod", option, start + "-" + (start + 65535), USER);
    }

    /** The user's first subordinate range in {@code file}: {start, count}. */
    private static long[] subordinate(String file) {
        try {
            for (String line : Files.readAllLines(Path.of(file))) {
                String[] f = line.split(":");
                if (f.length == 3 && (f[0].equals(USER) || f[0].equals(Long.toString(uid)))) {
                    return new long[] {Long.parseLong(f[1].trim()), Long.parseLong(f[2].trim())};
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        throw new AssertionError(USER + " has no range in " + file);
    }

    /** A spec readable by the user: tmpfs root, the system mounts, pid/uts/ipc/net, {@code namespaces} extras and a script. */
    private Path spec(String name, String userSection, String extraNamespaces, String extraMounts, String script) {
        Path p = specs.spec(name + ".yaml", "name: " + name + "\n"
                + "namespaces:\n"
                + userSection.stripIndent().indent(2)
                + "  mount:\n"
                + "    root: {type: tmpfs}\n"
                + "    mounts:\n"
                + Specs.SYSTEM_MOUNTS
                + extraMounts.stripIndent().indent(6)
                + "  pid: {}\n"
                + "  uts: {hostname: rootless}\n"
                + "  ipc: {}\n"
                + "  net: {}\n"
                + extraNamespaces.stripIndent().indent(2)
                + MountsIT.shell(script));
        readable(p);
        return p;
    }

    private static void readable(Path p) {
        try {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r--r--"));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /** A directory of this test that belongs to the user (for binds the sandbox writes to). */
    private Path userDir(String name) throws IOException {
        Path d = Files.createDirectories(specs.dir.resolve(name));
        ItHost.must("chown", uid + ":" + gid, d.toString());
        return d;
    }

    /** runuser -u sbtest -- env -u XDG_RUNTIME_DIR HOME=... [env] <copy>/bin/sandbox args... */
    private static List<String> asUser(Map<String, String> env) {
        List<String> prefix = new ArrayList<>(List.of("runuser", "-u", USER, "--", "env", "-u", "XDG_RUNTIME_DIR", "HOME=" + home.dir));
        env.forEach((k, v) -> prefix.add(k + "=" + v));
        return prefix;
    }

    private static Cli.Result up(Path spec) {
        return up(spec, Map.of(), null);
    }

    private static Cli.Result up(Path spec, Map<String, String> env, Consumer<Process> during) {
        return Cli.exec(asUser(env), Map.of(), dist.dir, during, "up", spec.toString());
    }

    private static Path runtimeDir(String name) {
        return Path.of("/tmp", "sandbox-" + uid, name);
    }

    private static String normalized(String idMapLine) {
        return idMapLine == null ? null : idMapLine.trim().replaceAll("\\s+", " ");
    }

    // ---------------------------------------------------------------------------------------------

    @Test
    void helloRunsRootlessAsRootInsideMappedToTheCallersOwnIds() {
        String name = "fsit-rl-hello";
        Path spec = spec(name, "user: {}", "", "", """
                echo "uid=$(id -u)"
                echo "gid=$(id -g)"
                echo "id=$(id)"
                echo "uid_map=$(cat /proc/self/uid_map)"
                echo "gid_map=$(cat /proc/self/gid_map)"
                echo "setgroups=$(cat /proc/self/setgroups)"
                echo "hostname=$(hostname)"
                """);
        Cli.Result r = up(spec);
        assertEquals(0, r.exit(), r::toString);
        Map<String, String> p = ItHost.probe(r.out());

        assertEquals("0", p.get("uid"), "root inside");
        assertEquals("0", p.get("gid"));
        assertTrue(p.get("id").startsWith("uid=0 gid=0"), "id inside: " + p.get("id"));
        assertEquals("0 " + uid + " 1", normalized(p.get("uid_map")), "inside 0 is " + USER + "'s uid outside, nothing else");
        assertEquals("0 " + gid + " 1", normalized(p.get("gid_map")));
        assertEquals("deny", p.get("setgroups"), "an unprivileged gid_map needs setgroups denied");
        assertEquals("rootless", p.get("hostname"));
        assertFalse(Files.exists(runtimeDir(name)), "runtime dir left: " + runtimeDir(name));
    }

    @org.junit.jupiter.api.TestFactory
    java.util.stream.Stream<org.junit.jupiter.api.DynamicTest> everyExampleWithAUserNamespaceAndNoLinksRunsRootless() throws IOException {
        // the README says the examples run as any user; those that create a user namespace and no veth
        // link must. A copy, readable by the user, because specs bind paths relative to themselves.
        Path copy = specs.dir.resolve("examples");
        ItHost.must("cp", "-r", Cli.ROOT.resolve("examples").toString(), copy.toString());
        ItHost.must("chmod", "-R", "a+rX", copy.toString());
        List<Path> examples;
        try (var files = Files.list(copy)) {
            examples = files.filter(f -> f.toString().endsWith(".yaml")).sorted().toList();
        }
        List<Path> rootless = new ArrayList<>();
        for (Path e : examples) {
            String text = Files.readString(e);
            if (text.contains("  user: {}") && !text.contains("links:")) rootless.add(e);
        }
        assertTrue(rootless.size() >= 3, "examples that should run rootless: " + rootless);
        return rootless.stream().map(e -> org.junit.jupiter.api.DynamicTest.dynamicTest(e.getFileName().toString(), () -> {
            // shell.yaml is interactive: run its environment with a command instead
            Cli.Result r = e.getFileName().toString().equals("shell.yaml")
                    ? Cli.exec(asUser(Map.of()), Map.of(), dist.dir, null, "up", e.toString(), "--", "/bin/true")
                    : up(e);
            assertEquals(0, r.exit(), r::toString);
        }));
    }

    @Test
    void aHelperKilledAfterEnteredIsNamedWithItsStepNotTheUidMapHint() {
        // issue 8: a killed helper looked like a refused uid_map ("an unprivileged caller may only map its own uid ...")
        String name = "fsit-rl-killed";
        Path spec = specs.spec(name + ".yaml", "name: " + name + "\n"
                + "namespaces:\n"
                + "  user: {}\n"
                + "  pid: {}\n"
                + "process:\n"
                + "  command: [/bin/echo, target-ran]\n");
        readable(spec);
        Cli.Result r = up(spec, Map.of("SANDBOX_CRASH_AT", "helper-entered"), null);

        assertEquals(125, r.exit(), r::toString);
        assertFalse(r.out().contains("target-ran"), r::toString);
        assertTrue(r.err().matches("(?s).*sandbox: helper: \\S+sandbox-init was killed by signal 9 during (identity|clone) "
                + "\\(step (identity|clone):\\d+ [a-z-]+\\)\n"), r::toString); // it dies as the maps are written: either side of GO
        assertFalse(r.err().contains("may only map"), r::toString);
        assertFalse(Files.exists(runtimeDir(name)), "the runtime dir is left");
    }

    @Test
    void aRootlessSpecWithoutAUserNamespaceIsRefusedWithUserRequiredRootless() {
        Path spec = specs.spec("fsit-rl-nouser.yaml", "name: fsit-rl-nouser\n"
                + "namespaces:\n"
                + "  pid: {}\n"
                + "  uts: {hostname: x}\n"
                + "process:\n"
                + "  command: [/bin/echo, target-ran]\n");
        readable(spec);
        Cli.Result r = up(spec);

        assertEquals(125, r.exit(), r::toString);
        assertFalse(r.out().contains("target-ran"));
        assertTrue(r.err().contains("error[user.required-rootless]"), r::toString);
        assertTrue(r.err().contains("user: {}"), "the hint says to add namespaces.user: {}: " + r);
        assertTrue(r.err().contains("nothing was started"), r::toString);
        assertFalse(Files.exists(runtimeDir("fsit-rl-nouser")));
    }

    @Test
    void multiRangeMapsGoThroughNewuidmapAndShowInsideAndOnTheHostsFiles() throws IOException {
        if (hostLacksUidmap()) ItHost.run("apt-get", "install", "-y", "-q", "uidmap");
        assumeTrue(!hostLacksUidmap(), "newuidmap/newgidmap (package uidmap) are missing and could not be installed");
        long[] subuid = subordinate("/etc/subuid");
        long[] subgid = subordinate("/etc/subgid");
        assumeTrue(subuid[1] >= 1000 && subgid[1] >= 1000, USER + "'s subordinate ranges are smaller than 1000");
        Path shared = userDir("shared");
        String name = "fsit-rl-multirange";
        Path spec = spec(name, """
                user:
                  uidMap: [{inside: 0, outside: %d, count: 1}, {inside: 1, outside: %d, count: 1000}]
                  gidMap: [{inside: 0, outside: %d, count: 1}, {inside: 1, outside: %d, count: 1000}]
                """.formatted(uid, subuid[0], gid, subgid[0]), "", "- {type: bind, source: " + shared + ", target: /shared}\n", """
                sed 's/^/uid_map /' /proc/self/uid_map
                sed 's/^/gid_map /' /proc/self/gid_map
                touch /shared/owned-by-1 && chown 1:1 /shared/owned-by-1 && echo "chown=ok"
                echo "owner=$(stat -c %u:%g /shared/owned-by-1)"
                """);
        Cli.Result r = up(spec);
        assertEquals(0, r.exit(), r::toString);

        List<String> uidMap = r.out().lines().filter(l -> l.startsWith("uid_map ")).map(l -> normalized(l.substring(8))).toList();
        List<String> gidMap = r.out().lines().filter(l -> l.startsWith("gid_map ")).map(l -> normalized(l.substring(8))).toList();
        assertEquals(List.of("0 " + uid + " 1", "1 " + subuid[0] + " 1000"), uidMap, r::toString);
        assertEquals(List.of("0 " + gid + " 1", "1 " + subgid[0] + " 1000"), gidMap, r::toString);
        Map<String, String> p = ItHost.probe(r.out());
        assertEquals("ok", p.get("chown"), r::toString);
        assertEquals("1:1", p.get("owner"));
        Path file = shared.resolve("owned-by-1");
        assertEquals(subuid[0], ((Number) Files.getAttribute(file, "unix:uid")).longValue(), "uid 1 inside is the first subordinate uid outside");
        assertEquals(subgid[0], ((Number) Files.getAttribute(file, "unix:gid")).longValue());
        assertFalse(Files.exists(runtimeDir(name)));
    }

    private static boolean hostLacksUidmap() {
        return !Files.isExecutable(Path.of("/usr/bin/newuidmap")) || !Files.isExecutable(Path.of("/usr/bin/newgidmap"));
    }

    @Test
    void aRangeNotGrantedInEtcSubuidIsAValidationErrorNamingEtcSubuid() {
        long[] granted = subordinate("/etc/subuid");
        long outside = 2_000_000_000L;
        assumeTrue(outside + 1000 <= granted[0] || outside >= granted[0] + granted[1], "the test's range happens to be granted");
        Path spec = spec("fsit-rl-notsub", """
                user:
                  uidMap: [{inside: 0, outside: %d, count: 1}, {inside: 1, outside: %d, count: 1000}]
                """.formatted(uid, outside), "", "", "echo target-ran\n");
        Cli.Result r = up(spec);

        assertEquals(125, r.exit(), r::toString);
        assertFalse(r.out().contains("target-ran"));
        assertTrue(r.err().contains("error[user.not-subordinate]"), r::toString);
        assertTrue(r.err().contains("/etc/subuid"), "names /etc/subuid: " + r);
        assertTrue(r.err().contains("nothing was started"), r::toString);
    }

    @Test
    void vethLinksRootlessAreRefusedWithNetLinksNeedRoot() {
        String hostName = "sb-fsitrl0";
        Path spec = specs.spec("fsit-rl-veth.yaml", "name: fsit-rl-veth\n"
                + "namespaces:\n"
                + "  user: {}\n"
                + "  net:\n"
                + "    links:\n"
                + "      - {type: veth, name: eth0, hostName: " + hostName + ", address: 198.18.0.2/30, hostAddress: 198.18.0.1/30}\n"
                + "process:\n"
                + "  command: [/bin/echo, target-ran]\n");
        readable(spec);
        Cli.Result r = up(spec);

        assertEquals(125, r.exit(), r::toString);
        assertTrue(r.err().contains("error[net.links-need-root]"), r::toString);
        assertFalse(r.out().contains("target-ran"));
        assertTrue(ItHost.run("ip", "link", "show", hostName).exit() != 0, "no host link " + hostName);
    }

    @Test
    void aCgroupRootlessWarnsNotDelegatedAndTheRunStillWorks() {
        String name = "fsit-rl-cgroup";
        Path spec = spec(name, "user: {}", "cgroup: {}", "", """
                echo "ran=yes"
                echo "cgroup=$(cat /proc/self/cgroup | tr '\\n' ' ')"
                """);
        Cli.Result r = up(spec);

        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.err().contains("warning[cgroup.not-delegated]"), r::toString);
        assertEquals("yes", ItHost.probe(r.out()).get("ran"));
        assertFalse(Files.exists(Path.of("/sys/fs/cgroup/unified/sandbox", name)), "no cgroup was created");
        assertFalse(Files.exists(Path.of("/sys/fs/cgroup/sandbox", name)), "no cgroup was created");
    }

    @ParameterizedTest(name = "XDG_RUNTIME_DIR set: {0}")
    @ValueSource(booleans = {false, true})
    void aRootlessRunLeavesNothingBehindInItsRuntimeDir(boolean xdg) throws Exception {
        String name = "fsit-rl-cleanup" + (xdg ? "-xdg" : "");
        Path flags = userDir("flags");
        Map<String, String> env = Map.of();
        Path runtime = runtimeDir(name);
        if (xdg) {
            Path xdgDir = userDir("xdg");
            Files.setPosixFilePermissions(xdgDir, PosixFilePermissions.fromString("rwx------"));
            env = Map.of("XDG_RUNTIME_DIR", xdgDir.toString());
            runtime = xdgDir.resolve("sandbox").resolve(name);
        }
        Path spec = spec(name, "user: {}", "", "- {type: bind, source: " + flags + ", target: /flags}\n", """
                touch /flags/running
                while [ ! -e /flags/go ]; do sleep 0.05; done
                echo "ran=yes"
                """);
        Path expectedRuntime = runtime;
        AtomicBoolean existedWhileRunning = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Cli.Result r = up(spec, env, p -> {
            try {
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (!Files.exists(flags.resolve("running"))) {
                    if (!p.isAlive() || System.nanoTime() > deadline) throw new AssertionError("the sandbox did not start");
                    Thread.sleep(20);
                }
                existedWhileRunning.set(Files.isDirectory(expectedRuntime));
            } catch (Throwable t) {
                failure.set(t);
            } finally {
                try {
                    Files.createFile(flags.resolve("go"));
                } catch (IOException ignored) {
                    // Cli's timeout is the last resort
                }
            }
        });
        if (failure.get() != null) throw new AssertionError(r.toString(), failure.get());

        assertEquals(0, r.exit(), r::toString);
        assertEquals("yes", ItHost.probe(r.out()).get("ran"));
        assertTrue(existedWhileRunning.get(), "the runtime dir is " + expectedRuntime + " while the sandbox runs");
        assertFalse(Files.exists(expectedRuntime), "runtime dir left: " + expectedRuntime);
        assertEquals(List.of(), ItHost.processesMentioning(expectedRuntime + "/"), "processes of the run are left");
    }

    /**
     * A host that forbids user namespaces, simulated without touching the host's sysctl (other test
     * runs share this machine): the launcher runs as the user inside a user namespace of this test
     * whose own user.max_user_namespaces is 0 (the limit is per user namespace and applies to its
     * descendants), identity-mapped so that everything else looks like the host.
     */
    private static final String NO_USERNS = """
            uid=$1 gid=$2; shift 2
            unshare -U -- sh -c 'kill -STOP $$; exec sh -c "echo 0 > /proc/sys/user/max_user_namespaces || exit 120; exec \\"\\$@\\"" sh "$@"' \\
                sh setpriv --reuid="$uid" --regid="$gid" --clear-groups -- "$@" &
            pid=$!
            for i in $(seq 200); do [ "$(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null)" = T ] && break; sleep 0.05; done
            echo "0 0 4294967295" > /proc/$pid/uid_map && echo "0 0 4294967295" > /proc/$pid/gid_map || { kill -KILL $pid; wait $pid; exit 121; }
            kill -CONT $pid
            wait $pid
            """;

    @Test
    void whenUserNamespacesAreDisabledTheErrorNamesTheHostSetting() throws IOException {
        assumeTrue(ItHost.run("sh", "-c", "command -v unshare && command -v setpriv").exit() == 0, "unshare/setpriv (util-linux) are missing");
        Path sysctl = Path.of("/proc/sys/user/max_user_namespaces");
        String hostLimit = Files.readString(sysctl).strip();
        String name = "fsit-rl-nouserns";
        Path spec = spec(name, "user: {}", "", "", "echo target-ran\n");
        List<String> prefix = new ArrayList<>(List.of("bash", "-c", NO_USERNS, "no-userns", Long.toString(uid), Long.toString(gid)));
        prefix.addAll(List.of("env", "-u", "XDG_RUNTIME_DIR", "HOME=" + home.dir));

        Cli.Result r = Cli.exec(prefix, Map.of(), dist.dir, null, "up", spec.toString());

        assumeTrue(r.exit() != 120 && r.exit() != 121, "could not set up a user namespace with user.max_user_namespaces=0: " + r);
        assertEquals(hostLimit, Files.readString(sysctl).strip(), "the host's own limit is untouched");
        assertEquals(125, r.exit(), r::toString);
        assertFalse(r.out().contains("target-ran"));
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), "one line: " + r);
        String line = lines.get(0);
        assertTrue(line.contains("unshare") && line.contains("ENOSPC"), "the call and its errno: " + line);
        assertTrue(line.contains("user.max_user_namespaces is 0"), "names the setting that forbids it: " + line);
        assertFalse(Files.exists(runtimeDir(name)), "runtime dir left");
        assertEquals(List.of(), ItHost.processesMentioning(runtimeDir(name) + "/"));
    }

    /** process.rlimits, rootless: lowering works; raising a hard limit above the caller's own is a validate error. */
    @Test
    void rootlessRlimitsLowerButRaisingAHardLimitIsAValidateError() {
        String name = "fsit-rl-rlimits";
        Path lower = spec(name, "user: {}", "", "", "echo soft=$(ulimit -n) hard=$(ulimit -Hn)\n");
        appendRlimits(lower, "{nofile: {soft: 256, hard: 512}}");
        // the user's nofile (soft and hard) is set to 4096 first (after runuser: PAM's limits don't undo it)
        List<String> prefix = new ArrayList<>(asUser(Map.of()));
        prefix.addAll(List.of("sh", "-c", "ulimit -n 4096 && exec \"$@\"", "sh"));
        Cli.Result r = Cli.exec(prefix, Map.of(), dist.dir, null, "up", lower.toString());
        assertEquals(0, r.exit(), r::toString);
        assertTrue(r.out().contains("soft=256 hard=512"), r::toString);

        Path raise = spec(name, "user: {}", "", "", "echo target-ran\n");
        appendRlimits(raise, "{nofile: 8192}");
        Cli.Result v = Cli.exec(prefix, Map.of(), dist.dir, null, "validate", raise.toString());
        assertEquals(1, v.exit(), v::toString);
        assertTrue(v.out().contains("error[process.rlimit-raise-needs-privilege]") && v.out().contains("above your own (4096)"), v::toString);
        Cli.Result u = Cli.exec(prefix, Map.of(), dist.dir, null, "up", raise.toString());
        assertEquals(125, u.exit(), u::toString);
        assertFalse(u.out().contains("target-ran"), u::toString);
        assertFalse(Files.exists(runtimeDir(name)), "runtime dir left");
    }

    private static void appendRlimits(Path spec, String rlimits) {
        try {
            Files.writeString(spec, Files.readString(spec) + "  rlimits: " + rlimits + "\n");
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }
}
