package dev.sandbox.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs the packaged {@code bin/sandbox} as a separate process, exactly as a user would. */
final class Cli {

    static final Path DIST = Path.of(System.getProperty("sandbox.dist", "target/sandbox")).toAbsolutePath();
    static final Path ROOT = Path.of(System.getProperty("sandbox.root", "..")).toAbsolutePath().normalize();

    record Result(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    private Cli() {}

    static Result run(String... args) {
        return run(List.of(), Map.of(), args);
    }

    /** {@code prefix}: e.g. runuser -u sbtest -- ; the launcher comes from {@code home} (a copy for rootless runs). */
    static Result run(List<String> prefix, Map<String, String> env, String... args) {
        return exec(prefix, env, DIST, null, args);
    }

    static Result exec(List<String> prefix, Map<String, String> env, Path home, java.util.function.Consumer<Process> during, String... args) {
        // the one place the tests run bin/sandbox and wait for it; in warm mode an up is primed first (Warm)
        List<String> cmd = Warm.command(prefix, env, home, null, List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(env);
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        try {
            Path out = Files.createTempFile("sandbox-it-out", ".txt");
            Path err = Files.createTempFile("sandbox-it-err", ".txt");
            try {
                pb.redirectOutput(out.toFile());
                pb.redirectError(err.toFile());
                Process p = pb.start();
                if (during != null) during.accept(p);
                if (!p.waitFor(120, TimeUnit.SECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                    p.waitFor();
                    throw new AssertionError("sandbox " + String.join(" ", args) + " did not finish in 120 s");
                }
                return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    static boolean isRoot() {
        return "root".equals(System.getProperty("user.name"));
    }
}
