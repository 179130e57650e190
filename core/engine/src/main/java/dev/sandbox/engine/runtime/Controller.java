package dev.sandbox.engine.runtime;

import dev.sandbox.api.Plan;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Hands a compiled plan to the native runtime. The JVM never runs a sandbox: it writes the canonical
 * plan file ({@link PlanFile#canonical}) to a 0600 file {@code <runtime base>/.plan-<name>.<random>}, and
 * the monitor {@code sandbox-init run --plan FILE --consume} executes every stage of it, host steps
 * included (core/native/PROTOCOL.md). When the launcher opened fd 3 for it ({@code SANDBOX_HANDOFF=3}),
 * the monitor's argv goes there, one argument per line, and the launcher {@code exec}s it in place of
 * this JVM; otherwise the monitor runs as a child with the same stdio and its status is returned.
 */
public final class Controller {

    /** Exit status when sandbox itself failed before the target ran. */
    public static final int SETUP_FAILED = 125;

    /** How {@code up} runs: the runtime binary, the grace period before SIGKILL, verbosity, where to print, the environment. */
    public record Options(Path helper, Duration stopTimeout, boolean verbose, PrintWriter err, Map<String, String> env, boolean detach) {
        public Options(Path helper, Duration stopTimeout, boolean verbose, PrintWriter err, Map<String, String> env) {
            this(helper, stopTimeout, verbose, err, env, false);
        }
    }

    private final Options options;

    public Controller(Options options) {
        this.options = options;
    }

    /**
     * Runs the plan through the monitor; returns the exit status for {@code sandbox up} (0 once the
     * monitor's argv is handed to the launcher, which then runs it).
     */
    public int run(Plan plan, Path runtimeDir, String specPath, String specSha256) {
        return run(plan, runtimeDir, new PlanFile.Source(specPath, specSha256));
    }

    /** The same, with the spec's whole record (its git origin included) for the runtime-dir step. */
    public int run(Plan plan, Path runtimeDir, PlanFile.Source source) {
        Path helper = options.helper();
        if (!Files.isExecutable(helper)) {
            return fail(new HostStepException("start helper", "execve", helper.toString(), "ENOENT",
                    "the helper is built by 'mvn package' into the distribution's libexec/; set SANDBOX_HELPER to override"));
        }
        Path base = runtimeDir.getParent();
        Path planFile;
        try {
            RuntimePaths.ensureTrusted(base);
            planFile = writePlan(base, plan.name(), PlanFile.canonical(plan, runtimeDir, source).text());
        } catch (HostStepException e) {
            return fail(e);
        } catch (IOException e) {
            return fail(new HostStepException("prepare plan-file", "write", base.toString(), Errno.name(e), null));
        }
        List<String> argv = new ArrayList<>(List.of(helper.toString(), "run", "--plan", planFile.toString(), "--consume",
                "--grace-ms", Long.toString(options.stopTimeout().toMillis())));
        if (options.verbose()) argv.add("--trace");
        if (options.detach()) argv.add("--detach"); // up -d: the monitor returns once the target runs (PROTOCOL.md, STARTED)
        options.err().flush();
        if ("3".equals(options.env().get("SANDBOX_HANDOFF")) && handOff(argv)) return 0;
        try {
            Process monitor = new ProcessBuilder(argv).inheritIO().start();
            return monitor.waitFor();
        } catch (IOException e) {
            deleteQuietly(planFile);
            return fail(new HostStepException("start helper", "execve", helper.toString(), Errno.name(e), null));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return SETUP_FAILED;
        }
    }

    /** The monitor's argv, one argument per line, to the launcher's fd 3; false when fd 3 is not there. */
    private static boolean handOff(List<String> argv) {
        for (String arg : argv) {
            if (arg.indexOf('\n') >= 0) return false; // can't be one line: run it as a child instead
        }
        Path fd3 = Path.of("/proc/self/fd/3");
        if (!Files.exists(fd3)) return false;
        try {
            Files.write(fd3, (String.join("\n", argv) + "\n").getBytes(StandardCharsets.UTF_8));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * The plan in a file only we can read, created new (never an existing file or link someone planted).
     * Why not {@code Files.createTempFile}: its SecureRandom costs ~10 ms on the first call (docs/performance.md);
     * O_EXCL makes the name's unpredictability unnecessary for safety.
     */
    private static Path writePlan(Path base, String name, String text) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path file = base.resolve(".plan-" + name + "." + ProcessHandle.current().pid() + "-"
                    + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE));
            try {
                Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (FileAlreadyExistsException e) {
                if (attempt < 10) continue;
                throw e;
            }
            try {
                Files.writeString(file, text, StandardCharsets.UTF_8);
            } catch (IOException e) {
                deleteQuietly(file);
                throw e;
            }
            return file;
        }
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException ignored) {
            // a stale .plan-* file: sandbox gc removes it
        }
    }

    private int fail(HostStepException e) {
        options.err().println("sandbox: " + e.getMessage());
        options.err().flush();
        return SETUP_FAILED;
    }
}
