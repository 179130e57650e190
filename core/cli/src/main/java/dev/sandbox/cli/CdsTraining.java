package dev.sandbox.cli;

import dev.sandbox.api.Plan;
import dev.sandbox.engine.runtime.PlanCache;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The build's training run for the AppCDS archive (dist/pom.xml): exercises the classes of every
 * command and of the cached {@code up} path without creating anything on the host, so their
 * class data is archived and a later start maps it instead of parsing jars.
 */
final class CdsTraining {

    private CdsTraining() {}

    /**
     * The training with the spec built into the cli jar (cds-training.yaml, examples/hello.yaml's sandbox), as the launcher
     * runs it where a copied or moved distribution has no archive of its own yet (bin/sandbox, docs/performance.md).
     */
    static void run() {
        Path dir = null;
        try {
            dir = Files.createTempDirectory("sandbox-cds");
            Path spec = dir.resolve("training.yaml");
            try (var in = CdsTraining.class.getResourceAsStream("cds-training.yaml")) {
                if (in == null) throw new IOException("cds-training.yaml is missing from the cli jar");
                Files.write(spec, in.readAllBytes());
            }
            run(spec);
        } catch (IOException e) {
            System.err.println("sandbox: CDS training: " + e);
        } finally {
            deleteTree(dir);
        }
    }

    static void run(Path spec) {
        PrintWriter sink = new PrintWriter(OutputStream.nullOutputStream());
        Map<String, String> env = Map.of("HOME", System.getProperty("java.io.tmpdir"));
        // A copy outside any git repository: 'plan --format json' would otherwise resolve the spec's git
        // provenance with JGit, a signed jar whose lambda classes crash JDK 17's dynamic archive dump
        // (SIGSEGV in SystemDictionaryShared::adjust_lambda_proxy_class_dictionary); JGit stays out of
        // the archive either way (signed jars are never archived) and is off the plain 'up' path.
        Path copy = null;
        try {
            copy = Files.createTempFile("sandbox-cds", ".yaml");
            Files.copy(spec, copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            Main.run(new String[] {"validate", copy.toString()}, sink, sink, env);
            Main.run(new String[] {"plan", "--format", "json", copy.toString()}, sink, sink, env);
            Main.run(new String[] {"plan", copy.toString()}, sink, sink, env);
        } catch (IOException e) {
            System.err.println("sandbox: CDS training: " + e);
        } finally {
            try {
                if (copy != null) Files.deleteIfExists(copy);
            } catch (IOException ignored) {
                // a temporary file left in java.io.tmpdir is harmless
            }
        }
        Main.run(new String[] {"up", "--help"}, sink, sink, env);
        trainUp(spec, sink);
        try {
            Path dir = Files.createTempDirectory("sandbox-cds");
            try {
                PlanCache cache = new PlanCache(dir.resolve("plans"));
                Plan plan = new Plan("training", List.of());
                Optional<String> key = PlanCache.key(spec, Optional.empty(), UpDefaults.caller(), env, null, List.of());
                cache.store(key.orElse("k"), new PlanCache.Entry(plan, dir, List.of()));
                cache.load(key.orElse("k"));
                Launch.UpArgs.parse(new String[] {"up", "-v", spec.toString(), "--", "/bin/true"});
                // the JDK classes of the handoff: the spec's digest, the 0600 plan file
                dev.sandbox.engine.runtime.PlanFile.sha256(Files.readAllBytes(spec));
                Files.createFile(dir.resolve("training.plan"), java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                        java.nio.file.attribute.PosixFilePermissions.fromString("rw-------")));
                java.util.concurrent.ThreadLocalRandom.current().nextLong();
                try {
                    new ProcessBuilder("/bin/true").inheritIO().start().waitFor();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                for (String name : List.of("Controller", "PlanFile", "HostStepException", "Errno", "RuntimePaths")) {
                    Class.forName("dev.sandbox.engine.runtime." + name);
                }
            } finally {
                deleteTree(dir);
            }
        } catch (IOException | ClassNotFoundException e) {
            System.err.println("sandbox: CDS training: " + e);
        }
        stamp();
    }

    /**
     * A plain {@code up} as Launch runs it (the pipeline built on another thread, the plan cache and its entry written), up
     * to the start of the runtime: the helper named here doesn't exist, so nothing is started and nothing is created
     * outside a temporary directory (the cache's; the runtime dir is only named).
     */
    private static void trainUp(Path spec, PrintWriter sink) {
        String home = System.getProperty("sandbox.home");
        if (home == null) return;
        Path dir = null;
        try {
            dir = Files.createTempDirectory("sandbox-cds-up");
            Map<String, String> env = Map.of("HOME", dir.toString(), "SANDBOX_CACHE_DIR", dir.resolve("plans").toString(),
                    "SANDBOX_RUNTIME_DIR", dir.resolve("run").toString(), "SANDBOX_HELPER", dir.resolve("no-helper").toString());
            String[] args = {"up", spec.toString()};
            dev.sandbox.engine.Sandbox sandbox = Launch.prepare(args, env);
            Launch.cachedUp(args, env);
            Up.run(sandbox, env, sink, new Up.Request(spec, Optional.empty(), false, 10, false, List.of()));
        } catch (IOException | RuntimeException e) {
            System.err.println("sandbox: CDS training: up: " + e);
        } finally {
            deleteTree(dir);
        }
    }

    /**
     * With {@code -Dsandbox.cds.stamp=FILE} (the build): FILE names the distribution the archive is made for, as the
     * launcher spells its home (all symbolic links resolved, readlink -f); the launcher maps the archive only there.
     */
    private static void stamp() {
        String stamp = System.getProperty("sandbox.cds.stamp");
        String home = System.getProperty("sandbox.home");
        if (stamp == null || home == null) return;
        try {
            Files.writeString(Path.of(stamp), Path.of(home).toRealPath() + "\n");
        } catch (IOException e) {
            System.err.println("sandbox: CDS training: " + e);
        }
    }

    private static void deleteTree(Path dir) {
        if (dir == null) return;
        try (var files = Files.walk(dir)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            // a temporary directory left in java.io.tmpdir is harmless
        }
    }
}
