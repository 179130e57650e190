package dev.sandbox.it;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

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
        ItHost.Run r = ItHost.capture(pb, 120, during, "sandbox " + String.join(" ", args));
        return new Result(r.exit(), r.out(), r.err());
    }

    static boolean isRoot() {
        return "root".equals(System.getProperty("user.name"));
    }
}
