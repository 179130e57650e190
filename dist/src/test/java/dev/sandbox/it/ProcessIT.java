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
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The {@code process:} section and {@code up}'s exit status, end to end through the packaged
 * {@code bin/sandbox}, as root: exit codes (the target's, 128+signal, 126, 127), the command
 * override, the clean environment, cwd, uid/gid/groups, capabilities, no_new_privs, descriptor
 * hygiene and {@code -v}. A probe inside prints what the target really got.
 */
class ProcessIT {

    /** Documented in docs/spec.md ("The environment starts clean"). */
    static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private SpecDir specs;
    private final List<String> names = new ArrayList<>();

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "the specs create namespaces and map uids 100000+; that needs root (like CI)");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        if (specs != null) specs.close();
        for (String name : names) {
            ItHost.assertNothingLeftOf(name);
        }
    }

    private Path spec(String name, String body) {
        names.add(name);
        return specs.spec(name + ".yaml", body);
    }

    /** Every namespace new, a tmpfs root with the host's programs read-only, and {@code command}. */
    private Path isolated(String name, String command) {
        return spec(name, Specs.isolated("", command));
    }

    private static Cli.Result up(Path spec, String... extra) {
        List<String> args = new ArrayList<>(List.of("up", spec.toString()));
        args.addAll(List.of(extra));
        return Cli.run(args.toArray(String[]::new));
    }

    private static Cli.Result upOk(Path spec, String... extra) {
        Cli.Result r = up(spec, extra);
        assertEquals(0, r.exit(), r::toString);
        return r;
    }

    // ------------------------------------------------------------------------------ exit status

    @Test
    void aTargetThatSucceedsExits0() {
        Cli.Result r = upOk(isolated("prit-exit0", "[/bin/true]"));
        assertEquals("", r.err(), r::toString);
    }

    @Test
    void aTargetThatExits1MakesUpExit1() {
        Cli.Result r = up(isolated("prit-exit1", "[/bin/sh, -c, 'exit 1']"));
        assertEquals(1, r.exit(), r::toString);
        assertEquals("", r.err(), "the target's own failure is not sandbox's to report:\n" + r);
    }

    /**
     * The target kills itself: {@code $$} is the target (PID 2 under the init, or a host pid without a
     * pid namespace; a PID 1 could not kill itself with a signal it has no handler for).
     */
    @ParameterizedTest(name = "kill -{0} with {2}")
    @CsvSource({
            "KILL, 137, 'pid: {init: true}'",
            "KILL, 137, 'no pid namespace'",
            "TERM, 143, 'pid: {init: true}'",
            "TERM, 143, 'no pid namespace'"})
    void aTargetKilledBySignalNExits128PlusN(String signal, int expected, String pidSetup) {
        String pid = pidSetup.startsWith("pid:") ? "  " + pidSetup + "\n" : "";
        Path spec = spec("prit-kill-" + signal.toLowerCase() + (pid.isEmpty() ? "-nopid" : "-init"), """
                namespaces:
                %s  uts: {}
                process:
                  command: [/bin/sh, -c, 'kill -%s $$; echo survived']
                """.formatted(pid, signal));
        Cli.Result r = up(spec);
        assertEquals(expected, r.exit(), r::toString);
        assertFalse(r.out().contains("survived"), r::toString);
    }

    @Test
    void aTargetWithoutTheExecuteBitExits126NamingThePathInside() throws IOException {
        Path script = specs.write("not-executable.sh", "#!/bin/sh\necho ran\n");
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rw-r--r--"));
        Path spec = spec("prit-126", Specs.isolated("", "[/opt/tool.sh]").replace("  pid: {}\n",
                "      - {type: bind, source: " + script + ", target: /opt/tool.sh, readonly: true}\n  pid: {}\n"));
        Cli.Result r = up(spec);
        assertEquals(126, r.exit(), r::toString);
        assertFalse(r.out().contains("ran"), r::toString);
        assertTrue(r.err().contains("/opt/tool.sh") && r.err().contains("EACCES"), "the message must name /opt/tool.sh and EACCES:\n" + r);
        assertFalse(r.err().contains(script.toString()), "the path inside the sandbox, not the host's:\n" + r);
    }

    @Test
    void aTargetThatDoesNotExistExits127NamingIt() {
        Cli.Result r = up(isolated("prit-127", "[/nope]"));
        assertEquals(127, r.exit(), r::toString);
        assertTrue(r.err().contains("/nope") && r.err().contains("ENOENT"), "the message must name /nope and ENOENT:\n" + r);
        assertFalse(r.err().contains("\tat "), "no stack trace:\n" + r);
    }

    // ------------------------------------------------------------------------------ command

    @Test
    void theCommandAfterDoubleDashReplacesProcessCommand() {
        Path spec = isolated("prit-override", "[/bin/echo, from-the-spec]");
        assertEquals("from-the-spec\n", upOk(spec).out());
        Cli.Result r = upOk(spec, "--", "/bin/echo", "from the", "override");
        assertEquals("from the override\n", r.out(), r::toString);
    }

    // ------------------------------------------------------------------------------ environment

    @Test
    void theEnvironmentIsPathHomeTermAndTheSpecsEnvAndNothingElseOfTheCallers() {
        Path spec = spec("prit-env", Specs.isolated("", "[/usr/bin/env]").replace("process:\n",
                "process:\n  env: {GREETING: hi, COUNT: 3, HOME: /home/it}\n"));
        Cli.Result r = Cli.run(List.of(), Map.of("SANDBOX_IT_CANARY", "leaked-from-the-caller", "TERM", "it-term"), "up", spec.toString());
        assertEquals(0, r.exit(), r::toString);
        // the spec's HOME overrides the default /root
        assertEquals(Set.of("PATH=" + DEFAULT_PATH, "HOME=/home/it", "TERM=it-term", "GREETING=hi", "COUNT=3"), lines(r.out()));
    }

    @Test
    void withoutTermInTheCallersEnvironmentThereIsNoTermInside() {
        Path spec = isolated("prit-env-noterm", "[/usr/bin/env]");
        Cli.Result r = Cli.run(List.of("env", "-u", "TERM", "SANDBOX_IT_CANARY=leaked-from-the-caller"), Map.of(), "up", spec.toString());
        assertEquals(0, r.exit(), r::toString);
        assertEquals(Set.of("PATH=" + DEFAULT_PATH, "HOME=/root"), lines(r.out()));
    }

    private static Set<String> lines(String out) {
        return out.lines().filter(l -> !l.isBlank()).collect(Collectors.toSet());
    }

    // ------------------------------------------------------------------------------ cwd, identity

    @Test
    void theTargetStartsInProcessCwd() {
        Path spec = spec("prit-cwd", Specs.isolated("", "[/bin/pwd]").replace("  pid: {}\n",
                "      - {type: tmpfs, target: /work/dir}\n  pid: {}\n").replace("process:\n", "process:\n  cwd: /work/dir\n"));
        assertEquals("/work/dir\n", upOk(spec).out());
    }

    @Test
    void processUserSetsUidGidAndGroupsInsideAUserNamespaceMappedTo100000() {
        Path spec = spec("prit-user", Specs.isolated("", "[/bin/sh, -c, 'echo \"uid=$(id -u)\"; echo \"gid=$(id -g)\"; "
                        + "echo \"groups=$(id -G)\"; echo \"uid_map=$(cat /proc/self/uid_map)\"; echo \"gid_map=$(cat /proc/self/gid_map)\"; "
                        + "echo \"home=$HOME\"']")
                .replace("  user: {}\n", """
                          user:
                            uidMap: [{inside: 0, outside: 100000, count: 65536}]
                            gidMap: [{inside: 0, outside: 100000, count: 65536}]
                        """)
                .replace("process:\n", "process:\n  user: {uid: 1000, gid: 1001, groups: [10, 20]}\n"));
        Map<String, String> inside = ItHost.probe(upOk(spec).out());
        assertEquals("1000", inside.get("uid"));
        assertEquals("1001", inside.get("gid"));
        assertEquals(List.of("1001", "10", "20"), Arrays.asList(inside.get("groups").trim().split("\\s+")));
        assertEquals(List.of("0", "100000", "65536"), Arrays.asList(inside.get("uid_map").trim().split("\\s+")));
        assertEquals(List.of("0", "100000", "65536"), Arrays.asList(inside.get("gid_map").trim().split("\\s+")));
        assertEquals("/", inside.get("home"), "HOME is / for a uid other than 0");
    }

    @Test
    void rootMappedTo100000KeepsNoneOfTheHostsSupplementaryGroups() {
        // regression: the helper kept the caller's (host root's) groups, which showed as the overflow gid inside
        Path spec = spec("prit-nogroups", Specs.isolated("", "[/bin/sh, -c, 'echo \"uid=$(id -u)\"; echo \"groups=$(id -G)\"; touch /made-by-root && echo created=yes']")
                .replace("  user: {}\n", """
                          user:
                            uidMap: [{inside: 0, outside: 100000, count: 65536}]
                            gidMap: [{inside: 0, outside: 100000, count: 65536}]
                        """));
        Map<String, String> inside = ItHost.probe(upOk(spec).out());
        assertEquals("0", inside.get("uid"));
        assertEquals("0", inside.get("groups").trim());
        assertEquals("yes", inside.get("created"), "root inside must be able to create files in its tmpfs root");
    }

    // ------------------------------------------------------------------------------ capabilities, no_new_privs

    @Test
    void capabilitiesListKeepsExactlyThoseBits() {
        Path spec = spec("prit-caps", Specs.isolated("", "[/bin/grep, -E, '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs):', /proc/self/status]")
                .replace("process:\n", "process:\n  capabilities: [CAP_NET_BIND_SERVICE]\n"));
        Map<String, Long> status = status(upOk(spec).out());
        long netBindService = 1L << 10;
        assertEquals(netBindService, status.get("CapEff"), () -> "CapEff " + hex(status.get("CapEff")));
        assertEquals(netBindService, status.get("CapBnd"), () -> "CapBnd " + hex(status.get("CapBnd")));
        assertEquals(netBindService, status.get("CapPrm"), () -> "CapPrm " + hex(status.get("CapPrm")));
        assertEquals(1L, status.get("NoNewPrivs"), "noNewPrivileges is on by default");
    }

    @Test
    void keepingACapabilityTheCallerLacksNamesIt() {
        // root without a user namespace whose bounding (so permitted) set lacks SYS_TIME: capset(2) alone says EPERM
        assumeTrue(ItHost.run("sh", "-c", "command -v setpriv").exit() == 0, "setpriv (util-linux) is missing");
        Path spec = spec("prit-caps-lacking", """
                namespaces:
                  pid: {}
                process:
                  capabilities: all
                  command: [/bin/true]
                """);
        Cli.Result r = Cli.run(List.of("setpriv", "--bounding-set", "-sys_time", "--"), Map.of(), "up", spec.toString());
        assertEquals(125, r.exit(), r::toString);
        assertTrue(r.err().lines().anyMatch(l -> l.startsWith("sandbox: finish:") && l.contains(" capabilities: capset ")
                && l.contains("CAP_SYS_TIME") && l.contains(": EPERM (these kept capabilities are not in the caller's permitted set")), r::toString);
    }

    /** Docker's default set without MKNOD (docs/spec.md, capabilities), as a bit mask. */
    private static long defaultCaps(boolean newNet) {
        long m = 0;
        for (int cap : new int[] {0, 1, 3, 4, 5, 6, 7, 8, 10, 18, 29, 31}) m |= 1L << cap; // CHOWN .. SETFCAP
        return newNet ? m | 1L << 13 : m; // NET_RAW only in a new network namespace
    }

    @Test
    void rootInsideKeepsOnlyTheDefaultCapabilitiesAndGetsNoNewPrivsAndTheSeccompFilter() {
        Path spec = spec("prit-defcaps", Specs.isolated("", "[/bin/grep, -E, '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters):',"
                + " /proc/self/status]"));
        Map<String, Long> status = status(upOk(spec).out());
        boolean newNet = Specs.isolated("", "[/bin/true]").contains("  net:");
        assertEquals(defaultCaps(newNet), status.get("CapBnd"), () -> "CapBnd " + hex(status.get("CapBnd")));
        assertEquals(defaultCaps(newNet), status.get("CapEff"), () -> "CapEff " + hex(status.get("CapEff")));
        assertEquals(1L, status.get("NoNewPrivs"));
        assertEquals(2L, status.get("Seccomp"), "mode 2: a filter");
        assertEquals(2L, status.get("Seccomp_filters"), "docker's default and the tty filter");
    }

    @Test
    void rootInsideCanNoLongerRemountAReadOnlyBindWritableNorUnmountAMask() throws Exception {
        // issue 7, item 1: with every capability kept, remount,rw of a read-only bind wrote through to the host file
        Path dir = java.nio.file.Files.createDirectories(specs.dir.resolve("prit-ro-src"));
        java.nio.file.Files.writeString(dir.resolve("file"), "host\n");
        java.nio.file.Files.writeString(dir.resolve("secret"), "secret\n");
        Path spec = specs.spec("prit-remount.yaml", """
                namespaces:
                  user: {}
                  mount:
                    root: {type: tmpfs}
                    mounts:
                %s      - {type: bind, source: %s, target: /ro, readonly: true}
                    masks: [/ro/secret]
                  pid: {}
                process:
                  command:
                    - /bin/sh
                    - -c
                    - |
                      mount -o remount,rw,bind /ro 2>/dev/null && echo remount=yes || echo remount=no
                      umount /ro/secret 2>/dev/null && echo umount=yes || echo umount=no
                      echo pwned > /ro/file 2>/dev/null && echo write=yes || echo write=no
                      [ -s /ro/secret ] && echo secret=visible || echo secret=hidden
                """.formatted(Specs.SYSTEM_MOUNTS, dir));
        Map<String, String> p = ItHost.probe(upOk(spec).out());
        assertEquals("no", p.get("remount"));
        assertEquals("no", p.get("umount"));
        assertEquals("no", p.get("write"));
        assertEquals("hidden", p.get("secret"));
        assertEquals("host\n", java.nio.file.Files.readString(dir.resolve("file")), "the host file is unchanged");
    }

    @Test
    void anEmptyCapabilitiesListDropsEverySet() {
        Path spec = spec("prit-nocaps", Specs.isolated("", "[/bin/grep, -E, '^Cap(Inh|Prm|Eff|Bnd|Amb):', /proc/self/status]")
                .replace("process:\n", "process:\n  capabilities: []\n"));
        Map<String, Long> status = status(upOk(spec).out());
        assertEquals(Set.of("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"), status.keySet());
        status.forEach((k, v) -> assertEquals(0L, v, k + " " + hex(v)));
    }

    @Test
    void noNewPrivilegesFalseLeavesTheFlagClear() {
        Path spec = spec("prit-nonnp", Specs.isolated("", "[/bin/grep, '^NoNewPrivs:', /proc/self/status]")
                .replace("process:\n", "process:\n  noNewPrivileges: false\n"));
        assertEquals(0L, status(upOk(spec).out()).get("NoNewPrivs"));
    }

    @Test
    void seccompUnconfinedLoadsNoFilter() {
        Path spec = spec("prit-noseccomp", Specs.isolated("", "[/bin/grep, '^Seccomp:', /proc/self/status]")
                .replace("process:\n", "process:\n  seccomp: unconfined\n"));
        assertEquals(0L, status(upOk(spec).out()).get("Seccomp"));
    }

    @Test
    void noNewPrivilegesSetsTheFlag() {
        Path spec = spec("prit-nnp", Specs.isolated("", "[/bin/grep, '^NoNewPrivs:', /proc/self/status]")
                .replace("process:\n", "process:\n  noNewPrivileges: true\n"));
        assertEquals(1L, status(upOk(spec).out()).get("NoNewPrivs"));
    }

    /** {@code Name:\tvalue} lines of /proc/PID/status; Cap* values are hex. */
    private static Map<String, Long> status(String out) {
        Map<String, Long> m = new java.util.LinkedHashMap<>();
        Matcher line = Pattern.compile("(?m)^(\\w+):\\s*([0-9a-f]+)$").matcher(out);
        while (line.find()) m.put(line.group(1), Long.parseUnsignedLong(line.group(2), line.group(1).startsWith("Cap") ? 16 : 10));
        return m;
    }

    private static String hex(Long v) {
        return v == null ? "missing" : String.format("%016x", v);
    }

    // ------------------------------------------------------------------------------ descriptors, -v

    @Test
    void noDescriptorOfTheCallerReachesTheTarget() {
        Path spec = isolated("prit-fds", "[/bin/ls, /proc/self/fd]");
        // the launcher gets fds 7 and 8 from bash; the JVM it runs, and the runtime it execs, inherit them
        // (exit 99: bash could not open them; exec keeps them open: they are not close-on-exec)
        List<String> prefix = List.of("/bin/bash", "-c", "exec 7</dev/null 8>>/dev/null; [ -e /proc/self/fd/8 ] || exit 99; exec \"$0\" \"$@\"");
        AtomicBoolean launcherHadFd7 = new AtomicBoolean();
        Cli.Result r = Cli.exec(prefix, Map.of(), Cli.DIST, p -> launcherHadFd7.set(sawFdInJvm(p, 7)), "up", spec.toString());
        assertEquals(0, r.exit(), r::toString);
        // warm mode (Warm): no JVM; the native front got them (and the monitor it becomes closes them first, too fast to watch)
        if (!Warm.ON) assertTrue(launcherHadFd7.get(), "the launcher's JVM did not have fd 7 open: the scenario was not set up");
        // 3 is the directory ls itself opens to list /proc/self/fd
        assertEquals(List.of("0", "1", "2", "3"), r.out().lines().toList(), r::toString);
    }

    /**
     * Polls until the JVM runs (bash execs the launcher, which runs java in a command substitution and then execs the
     * runtime in its own place), then looks at the JVM's fd table.
     */
    private static boolean sawFdInJvm(Process p, int fd) {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (p.isAlive() && System.nanoTime() < deadline) {
            for (ProcessHandle h : java.util.stream.Stream.concat(java.util.stream.Stream.of(p.toHandle()), p.descendants()).toList()) {
                if (ItHost.cmdline(h.pid()).contains("dev.sandbox.cli.")) {
                    return Files.exists(Path.of("/proc", Long.toString(h.pid()), "fd", Integer.toString(fd)));
                }
            }
            ItHost.sleepMs(2);
        }
        return false;
    }

    @Test
    void verbosePrintsControllerAndHelperStepsWithDurationsOnStderr() {
        Path spec = isolated("prit-verbose", "[/bin/echo, target-output]");
        Cli.Result r = upOk(spec, "-v");
        assertEquals("target-output\n", r.out(), "stdout is the target's alone:\n" + r);
        Pattern step = Pattern.compile("^sandbox: (\\w+)\\s+([a-z-]+)\\s+(\\d+\\.\\d\\d ms|started)\\s+\\S.*$");
        Map<String, Set<String>> opsByStage = new java.util.TreeMap<>();
        for (String line : r.err().lines().toList()) {
            Matcher m = step.matcher(line);
            if (m.matches()) opsByStage.computeIfAbsent(m.group(1), k -> new java.util.TreeSet<>()).add(m.group(2));
        }
        // controller steps (prepare, identity) and helper steps (clone, mounts, finish), each with its duration
        assertTrue(opsByStage.getOrDefault("prepare", Set.of()).contains("cgroup-create"), () -> "no prepare step:\n" + r.err());
        assertTrue(opsByStage.getOrDefault("identity", Set.of()).contains("write-id-map"), () -> "no identity step:\n" + r.err());
        assertTrue(opsByStage.getOrDefault("clone", Set.of()).contains("clone"), () -> "no clone step:\n" + r.err());
        assertTrue(opsByStage.getOrDefault("mounts", Set.of()).contains("pivot-root"), () -> "no mounts step:\n" + r.err());
        assertTrue(opsByStage.getOrDefault("finish", Set.of()).contains("exec"), () -> "no finish step:\n" + r.err());
        assertTrue(r.err().lines().anyMatch(l -> l.matches("^sandbox: mounts\\s+pivot-root\\s+\\d+\\.\\d\\d ms\\s+.*")), r.err());
        assertTrue(r.err().lines().anyMatch(l -> l.matches("^sandbox: prepare\\s+cgroup-create\\s+\\d+\\.\\d\\d ms\\s+.*")), r.err());
    }

    @Test
    void withoutVerboseStderrIsEmpty() {
        Cli.Result r = upOk(isolated("prit-quiet", "[/bin/echo, target-output]"));
        assertEquals("", r.err(), r::toString);
    }
}
