package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.sandbox.it.ItHost.MountLine;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Bind propagation between the host and a sandbox, as root and without a user namespace (in a
 * mount namespace owned by a new user namespace the kernel turns the host's mounts into slaves, so
 * shared can only work one way there: warning {@code mount.shared-bind-in-user-namespace}).
 *
 * <p>The source is a directory of this test made a shared mount of its own (bound onto itself,
 * {@code mount --make-shared}). While the sandbox runs, the host mounts a tmpfs below the source
 * and the sandbox mounts one below its target; each side then looks for the other's. The two sides
 * talk through files in the bound directory (files are the same on both sides whatever the
 * propagation; only mounts differ).
 */
class PropagationIT {

    private SpecDir specs;
    private Path source;

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "making a host mount shared and mounting below it needs root");
        specs = new SpecDir();
        source = specs.dir.resolve("shared-src");
        try {
            Files.createDirectories(source.resolve("hostmnt"));
            Files.createDirectories(source.resolve("inmnt"));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        ItHost.must("mount", "--bind", source.toString(), source.toString());
        ItHost.must("mount", "--make-shared", source.toString());
    }

    @AfterEach
    void tearDown() {
        if (specs == null) return;
        // deepest first: what propagated out of the sandbox, the host's tmpfs, then the source's own bind
        List<String> problems = ItHost.unmountAllUnder(specs.dir);
        specs.close();
        assertTrue(problems.isEmpty(), "cleanup: " + problems);
    }

    private Path spec(String name, Path src, String propagation, String script) {
        return specs.spec(name + ".yaml", "name: " + name + "\n"
                + "namespaces:\n"
                + "  mount:\n"
                + "    root: {type: tmpfs}\n"
                + "    mounts:\n"
                + Specs.SYSTEM_MOUNTS
                + "      - {type: bind, source: " + src + ", target: /data, propagation: " + propagation + "}\n"
                + "  pid: {}\n"
                // the script mounts a tmpfs inside: that needs CAP_SYS_ADMIN, which root inside no longer keeps by
                // default (with it, the default seccomp profile also allows mount)
                + MountsIT.shell(script).replace("process:\n", "process:\n  capabilities: [SYS_ADMIN]\n"));
    }

    /**
     * The sandbox says it started (a line and a file), waits for the host's "go", reports whether it
     * sees the host's tmpfs, mounts its own under /data/inmnt, says so, and waits for "done".
     */
    private static final String SCRIPT = """
            echo started
            touch /data/started
            while [ ! -e /data/go ]; do sleep 0.05; done
            if [ -e /data/hostmnt/hostfile ]; then echo "sees_host=yes"; else echo "sees_host=no"; fi
            mount -t tmpfs -o size=1M fsit-inside /data/inmnt && echo inside > /data/inmnt/infile && echo "inside_mount=ok"
            touch /data/mounted
            while [ ! -e /data/done ]; do sleep 0.05; done
            """;

    @ParameterizedTest(name = "{0}: host to sandbox {1}, sandbox to host {2}")
    @CsvSource({"rshared, true, true", "rslave, true, false", "rprivate, false, false"})
    void bindPropagationCarriesMountsInTheDirectionsTheModePromises(String mode, boolean hostToSandbox, boolean sandboxToHost) {
        Path spec = spec("fsit-prop-" + mode, source, mode, SCRIPT);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicBoolean insideSeenOnHost = new AtomicBoolean();
        AtomicBoolean insideIsHostMountPoint = new AtomicBoolean();

        Cli.Result r = Cli.exec(List.of(), Map.of(), Cli.DIST, p -> {
            try {
                awaitFile(source.resolve("started"), p);
                ItHost.must("mount", "-t", "tmpfs", "-o", "size=1M", "fsit-host", source.resolve("hostmnt").toString());
                Files.writeString(source.resolve("hostmnt/hostfile"), "from the host\n");
                Files.createFile(source.resolve("go"));
                awaitFile(source.resolve("mounted"), p);
                insideSeenOnHost.set(Files.exists(source.resolve("inmnt/infile")));
                insideIsHostMountPoint.set(ItHost.isMountPoint(source.resolve("inmnt")));
            } catch (Throwable t) {
                failure.set(t);
            } finally {
                release(source);
            }
        }, "up", spec.toString());

        if (failure.get() != null) throw new AssertionError("while talking to the sandbox:\n" + r, failure.get());
        assertEquals(0, r.exit(), r::toString);
        Map<String, String> probe = ItHost.probe(r.out());
        assertTrue(r.out().startsWith("started\n"), r::toString);
        assertEquals("ok", probe.get("inside_mount"), "the sandbox could mount below its target: " + r);
        assertEquals(hostToSandbox ? "yes" : "no", probe.get("sees_host"),
                mode + ": a tmpfs the host mounted below the source after the start " + (hostToSandbox ? "must" : "must not") + " appear inside");
        assertEquals(sandboxToHost, insideSeenOnHost.get(),
                mode + ": the sandbox's tmpfs below its target " + (sandboxToHost ? "must" : "must not") + " appear below the source on the host");
        assertEquals(sandboxToHost, insideIsHostMountPoint.get(), mode + ": the host's mount table agrees");
    }

    @Test
    void rsharedWithASourceThatIsNotSharedIsRefusedBeforeStartNamingTheMountAndTheFix() {
        Path privateSrc = specs.dir.resolve("private-src");
        try {
            Files.createDirectories(privateSrc);
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        // A mount of its own that is surely private, whatever the host's / is.
        ItHost.must("mount", "--bind", privateSrc.toString(), privateSrc.toString());
        ItHost.must("mount", "--make-private", privateSrc.toString());
        String name = "fsit-prop-notshared";
        Path spec = spec(name, privateSrc, "rshared", "echo should-not-run\n");
        List<String> mountsBefore = ItHost.hostMounts().stream().map(MountLine::line).filter(l -> l.contains(specs.dir.toString())).toList();
        Path baseline = ItHost.leakBaseline();

        Cli.Result r = Cli.run("up", spec.toString());

        assertEquals(125, r.exit(), r::toString);
        assertFalse(r.out().contains("should-not-run"), r::toString);
        // the spec keeps CAP_SYS_ADMIN (its script mounts): that warning and its hint come first
        assertTrue(r.err().contains("warning[process.sys-admin-capability]"), r::toString);
        List<String> lines = r.err().lines().filter(l -> !l.isBlank())
                .filter(l -> !l.contains("warning[process.sys-admin-capability]") && !l.startsWith("  hint: keep it only for a command that must mount"))
                .toList();
        assertEquals(1, lines.size(), "one line: " + r);
        String line = lines.get(0);
        assertTrue(line.contains("check-shared-mount"), line);
        assertTrue(line.contains(privateSrc + " is not shared"), "names the mount that is not shared: " + line);
        assertTrue(line.contains("mount --make-shared " + privateSrc), "says how to fix it: " + line);
        assertFalse(r.err().contains("Exception"), r::toString);

        assertFalse(Files.exists(Path.of("/run/sandbox", name)), "no runtime dir left");
        assertEquals(List.of(), ItHost.processesMentioning("/run/sandbox/" + name + "/"));
        assertEquals(List.of(), ItHost.leaksSince(baseline, name));
        assertEquals(mountsBefore, ItHost.hostMounts().stream().map(MountLine::line).filter(l -> l.contains(specs.dir.toString())).toList(),
                "the host's mounts of this test are as they were");
    }

    @Test
    void rsharedInAUserNamespaceIsFlaggedAsOneWayOnly() {
        Path spec = specs.spec("fsit-prop-userns.yaml", "name: fsit-prop-userns\n"
                + "namespaces:\n"
                + "  user: {}\n"
                + "  mount:\n"
                + "    root: {type: tmpfs}\n"
                + "    mounts:\n"
                + Specs.SYSTEM_MOUNTS
                + "      - {type: bind, source: " + source + ", target: /data, propagation: rshared}\n"
                + "  pid: {}\n"
                + MountsIT.shell("true\n"));
        Cli.Result r = Cli.run("validate", spec.toString());
        assertEquals(0, r.exit(), "a warning, not an error: " + r);
        assertTrue(r.err().contains("warning[mount.shared-bind-in-user-namespace]") || r.out().contains("warning[mount.shared-bind-in-user-namespace]"), r::toString);
    }

    /** Waits for {@code file} while the sandbox runs; fails if it ends first or takes more than 60 s. */
    private static void awaitFile(Path file, Process p) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!Files.exists(file)) {
            if (!p.isAlive()) throw new AssertionError("the sandbox ended before creating " + file);
            if (System.nanoTime() > deadline) throw new AssertionError("no " + file + " after 60 s");
            Thread.sleep(20);
        }
    }

    /** Lets the sandbox run to its end whatever happened (both flags it may wait for). */
    private static void release(Path dir) {
        for (String flag : List.of("go", "done")) {
            try {
                if (!Files.exists(dir.resolve(flag))) Files.createFile(dir.resolve(flag));
            } catch (IOException e) {
                // the sandbox's own timeout (Cli: 120 s) and destroyForcibly are the last resort
            }
        }
    }
}
