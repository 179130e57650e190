package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code namespaces.net.sysctls} on a sandbox (docs/spec.md "net.sysctls"), against the real kernel: written in the
 * sandbox's own network namespace (the host's value never changes), as root and rootless (as the unprivileged user
 * {@value #USER}, created when missing as RootlessIT does, from a world-readable copy of the distribution); a sysctl
 * the kernel lacks or refuses is an error naming the sysctl, the path and the errno; bad names and values, and
 * sysctls on a joined namespace, are located diagnostics. Names {@code ln-sys-*}.
 */
class NetSysctlsIT {

    static final String USER = "sbtest";
    private static SpecDir dist;
    private static SpecDir home;
    private SpecDir specs;

    @BeforeAll
    static void aReadableCopyOfTheDistribution() {
        assumeTrue(Cli.isRoot(), "the rootless cases need root to create their user; the root cases need root");
        ItHost.ensureUser(USER); // kept for later runs
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
        specs.close();
    }

    private Path spec(String name, String user, String sysctls, String script) {
        Path p = specs.spec(name + ".yaml", "name: " + name + "\n"
                + "namespaces:\n"
                + (user.isEmpty() ? "" : "  " + user + "\n")
                + "  mount:\n"
                + "    root: {type: tmpfs}\n"
                + "    mounts:\n"
                + Specs.SYSTEM_MOUNTS
                + "  pid: {}\n"
                + "  net:\n"
                + "    sysctls: " + sysctls + "\n"
                + "process: {command: [sh, -c, '" + script + "']}\n");
        try {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rw-r--r--"));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return p;
    }

    private static Cli.Result upAsUser(Path spec) {
        List<String> prefix = new ArrayList<>(List.of("runuser", "-u", USER, "--", "env", "-u", "XDG_RUNTIME_DIR", "HOME=" + home.dir));
        return Cli.exec(prefix, Map.of("SANDBOX_NO_CACHE", "1"), dist.dir, null, "up", spec.toString());
    }

    private static Cli.Result upAsRoot(Path spec) {
        return Cli.run(List.of(), Map.of("SANDBOX_NO_CACHE", "1"), "up", spec.toString());
    }

    private static String host(String file) throws IOException {
        return Files.readAllLines(Path.of(file)).get(0);
    }

    @Test
    void asRootTheSysctlsAreTheSandboxsOwnAndTheHostKeepsItsValues() throws IOException {
        String forward = host("/proc/sys/net/ipv4/ip_forward"), range = host("/proc/sys/net/ipv4/ip_local_port_range");
        Path spec = spec("ln-sys-root", "", "{net.ipv4.ip_forward: 1, net.ipv4.ip_local_port_range: \"40000 50000\", net.core.somaxconn: 100}",
                "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ip_local_port_range /proc/sys/net/core/somaxconn");
        Cli.Result r = upAsRoot(spec);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(List.of("1", "40000\t50000", "100"), r.out().strip().lines().toList(), r.toString());
        assertEquals(forward, host("/proc/sys/net/ipv4/ip_forward"), "the host's ip_forward");
        assertEquals(range, host("/proc/sys/net/ipv4/ip_local_port_range"), "the host's port range");
    }

    @Test
    void rootlessTheSysctlsTheKernelAllowsAUserNamespaceAreWritten() throws IOException {
        String forward = host("/proc/sys/net/ipv4/ip_forward");
        Path spec = spec("ln-sys-rl", "user: {}", "{net.ipv4.ip_forward: 1, net.ipv4.ping_group_range: \"0 0\", net.ipv4.conf.all.rp_filter: 2}",
                "cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/conf/all/rp_filter");
        Cli.Result r = upAsUser(spec);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(List.of("1", "0\t0", "2"), r.out().strip().lines().toList(), r.toString());
        assertEquals(forward, host("/proc/sys/net/ipv4/ip_forward"), "the host's ip_forward");
    }

    @Test
    void rootlessASysctlTheKernelKeepsReadOnlyIsAnErrorNamingItsPathAndErrno() {
        Path spec = spec("ln-sys-ro", "user: {}", "{net.core.wmem_max: 262144}", "echo started");
        Cli.Result r = upAsUser(spec);
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("connect sysctl net.core.wmem_max: open /proc/sys/net/core/wmem_max: EACCES ("), r.toString());
        assertTrue(r.err().contains("owned by a user namespace"), r.toString());
        assertTrue(!r.out().contains("started"), r.toString());
    }

    @Test
    void aSysctlTheKernelLacksIsAnErrorNamingItsPathAndErrno() {
        Path spec = spec("ln-sys-enoent", "", "{net.ipv4.no_such_sysctl: 1}", "echo started");
        Cli.Result r = upAsRoot(spec);
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("sandbox: connect sysctl net.ipv4.no_such_sysctl: open /proc/sys/net/ipv4/no_such_sysctl: ENOENT "
                + "(no such sysctl in a network namespace)"), r.toString());
        assertTrue(!r.out().contains("started"), r.toString());
        Cli.Result ps = Cli.run("ps", "-a");
        assertTrue(!ps.out().contains("ln-sys-enoent"), ps.out());
    }

    @Test
    void badNamesAndValuesAreLocatedAndNothingStarts() {
        Path spec = spec("ln-sys-bad", "", "{net..x: 1, kernel.pid_max: 1, net.ipv4.a: \"x;y\"}", "echo started");
        Cli.Result r = upAsRoot(spec);
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("error[net.bad-sysctl]: 'net..x' is not a net.* sysctl name"), r.err());
        assertTrue(r.err().contains("error[net.bad-sysctl]: 'kernel.pid_max' is not a net.* sysctl name"), r.err());
        assertTrue(r.err().contains("error[net.bad-sysctl-value]: value 'x;y' of net.ipv4.a is not a plain value"), r.err());
        assertTrue(r.err().contains("nothing was started"), r.err());
    }

    @Test
    void aJoinedNamespaceTakesNoSysctls() {
        Path spec = specs.spec("ln-sys-join.yaml", """
                namespaces:
                  net: {join: {path: /proc/1/ns/net}, sysctls: {net.ipv4.ip_forward: 1}}
                process: {command: [/bin/true]}
                """);
        Cli.Result r = upAsRoot(spec);
        assertEquals(125, r.exit(), r.toString());
        assertTrue(r.err().contains("error[join.with-options]: 'net' joins an existing namespace, so 'sysctls' cannot be applied"), r.err());
    }
}
