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
                // JNR's own classes archive well (its generated bindings don't): opening a
                // NETLINK_ROUTE socket changes nothing on the host
                try (var links = dev.sandbox.engine.net.LinkConfigurator.open()) {
                    links.getClass();
                } catch (Exception | LinkageError e) {
                    // not Linux, or no netlink: the archive just lacks these classes
                }
            } finally {
                try (var files = Files.walk(dir)) {
                    for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
                }
            }
        } catch (IOException | ClassNotFoundException e) {
            System.err.println("sandbox: CDS training: " + e);
        }
    }
}
