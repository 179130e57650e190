package dev.sandbox.engine.runtime;

import dev.sandbox.api.Plan;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Comparator;
import java.util.Deque;
import java.util.List;
import java.util.stream.Stream;

/**
 * Executes a plan: the controller's host steps in Java, the rest through the {@code sandbox-init}
 * helper, following the message pairs of core/native/PROTOCOL.md. Every host resource is registered
 * with an undo action as it is created; the undo actions run in reverse on every exit path.
 */
public final class Controller {

    /** Exit status when sandbox itself failed before the target ran. */
    public static final int SETUP_FAILED = 125;

    /** How {@code up} runs: the helper binary, the grace period before SIGKILL, verbosity, and where to print. */
    public record Options(Path helper, Duration stopTimeout, boolean verbose, PrintWriter err) {}

    private final Options options;
    private final Deque<Undo> undo = new ArrayDeque<>();
    private List<Step> planLines = List.of();

    private interface Undo {
        void run() throws Exception;
    }

    public Controller(Options options) {
        this.options = options;
    }

    /** Runs the plan to the end; returns the exit status for {@code sandbox up}. */
    public int run(Plan plan, Path runtimeDir) {
        Process helper = null;
        try {
            prepareRuntimeDir(runtimeDir);
            for (Step step : plan.stage(Stage.PREPARE)) timed(step, () -> prepare(step));
            for (Step step : plan.stage(Stage.SUPERVISE)) registerSupervise(step);

            PlanFile.Rendered rendered = PlanFile.render(plan);
            Path planFile = runtimeDir.resolve("plan");
            Files.writeString(planFile, rendered.text());
            planLines = rendered.lines();
            Files.setPosixFilePermissions(planFile, PosixFilePermissions.fromString("rw-------"));

            try (ControlChannel channel = new ControlChannel(runtimeDir.resolve("control.sock"))) {
                helper = startHelper(planFile, channel.path());
                Process started = helper;
                if (!channel.accept(Duration.ofSeconds(10), started::isAlive)) {
                    int status = helper.waitFor();
                    options.err().println("sandbox: start helper: " + options.helper() + " exited with " + status
                            + " before connecting to " + channel.path());
                    return SETUP_FAILED;
                }
                // Why now and not once the target runs: a signal that arrives before the handler is
                // installed kills the JVM (the target then dies of SIGKILL, not of the signal), and one
                // that arrives while Signal.handle swaps handlers is lost. Installed here, a signal during
                // setup is queued by the helper and delivered right after release (PROTOCOL.md).
                try (SignalForwarding signals = SignalForwarding.install(channel, options.err())) {
                    return converse(plan, runtimeDir, channel, helper);
                }
            }
        } catch (HostStepException e) {
            options.err().println("sandbox: " + e.getMessage());
            abandon(helper);
            return SETUP_FAILED;
        } catch (IOException e) {
            options.err().println("sandbox: " + e.getMessage());
            abandon(helper);
            return SETUP_FAILED;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            abandon(helper);
            return SETUP_FAILED;
        } finally {
            undoAll();
        }
    }

    private int converse(Plan plan, Path runtimeDir, ControlChannel channel, Process helper)
            throws IOException, InterruptedException, HostStepException {
        String reply = next(channel);
        if (!isMessage(reply, "ENTERED")) return finish(channel, helper, reply);
        long helperPid = Long.parseLong(reply.split(" ")[1]);
        try {
            for (Step step : plan.stage(Stage.IDENTITY)) timed(step, () -> identity(step, helperPid));
            letNamespaceRootIn(runtimeDir, helperPid);
        } catch (HostStepException e) {
            channel.send("ABORT");
            helper.waitFor();
            throw e;
        }
        channel.send("GO");

        reply = next(channel);
        if (!isMessage(reply, "CLONED")) return finish(channel, helper, reply);
        long childPid = Long.parseLong(reply.split(" ")[1]);
        // the state 'join: {sandbox: NAME}' reads
        Files.writeString(runtimeDir.resolve("pid"), childPid + "\n");
        try {
            for (Step step : plan.stage(Stage.CONNECT)) timed(step, () -> connect(step, childPid));
        } catch (HostStepException e) {
            channel.send("ABORT");
            helper.waitFor();
            throw e;
        }
        channel.send("GO");
        return finish(channel, helper, next(channel));
    }

    /** The next message that is not a TRACE line; TRACE lines (helper steps done, with -v) are printed. */
    private String next(ControlChannel channel) throws IOException {
        while (true) {
            String line = channel.readLine();
            if (!isMessage(line, "TRACE")) return line;
            if (options.verbose()) trace(line);
        }
    }

    /** {@code TRACE <stage>:<line> <op> <N> us}, printed like the controller's own steps. */
    private void trace(String line) {
        String[] f = line.split(" ");
        String text = line.substring("TRACE ".length());
        try {
            int planLine = Integer.parseInt(f[1].substring(f[1].indexOf(':') + 1));
            Step step = planLines.get(planLine - 1);
            String took = f.length > 4 && f[4].equals("us") ? String.format("%6.2f ms", Long.parseLong(f[3]) / 1000.0) : "  started";
            text = String.format("%-9s %-16s %s  %s", step.stage().wireName(), step.op(), took, step.summary());
        } catch (RuntimeException e) {
            // an unexpected shape: print it as it came
        }
        options.err().println("sandbox: " + text);
        options.err().flush();
    }

    /** Reads the remaining messages (ERROR, EXIT) until EOF and returns the helper's status. */
    private int finish(ControlChannel channel, Process helper, String first) throws IOException, InterruptedException {
        String line = first;
        String error = null;
        while (line != null) {
            if (isMessage(line, "ERROR")) error = line;
            line = next(channel);
        }
        int status = helper.waitFor();
        if (error != null) options.err().println("sandbox: " + HelperError.describe(error));
        return status;
    }

    private static boolean isMessage(String line, String kind) {
        return line != null && (line.equals(kind) || line.startsWith(kind + " "));
    }

    private Process startHelper(Path planFile, Path socket) throws IOException, HostStepException {
        if (!Files.isExecutable(options.helper())) {
            throw new HostStepException("start helper", "execve", options.helper().toString(), "ENOENT",
                    "the helper is built by 'mvn package' into the distribution's libexec/; set SANDBOX_HELPER to override");
        }
        ProcessBuilder pb = new ProcessBuilder(options.helper().toString(), "--plan", planFile.toString(), "--control",
                socket.toString(), "--grace-ms", Long.toString(options.stopTimeout().toMillis()));
        if (options.verbose()) pb.command().add("--trace");
        // The target keeps the caller's terminal: stdio is inherited, the control channel is separate.
        pb.inheritIO();
        return pb.start();
    }

    private void prepareRuntimeDir(Path dir) throws IOException, HostStepException {
        Files.createDirectories(dir.getParent());
        if (Files.exists(dir)) {
            Path pidFile = dir.resolve("pid");
            if (Files.exists(pidFile)) {
                try {
                    long pid = Long.parseLong(Files.readString(pidFile).trim());
                    if (ProcessHandle.of(pid).isPresent()) {
                        throw new HostStepException("prepare runtime directory", "mkdir", dir.toString(), "EEXIST",
                                "a sandbox named '" + dir.getFileName() + "' is running (pid " + pid + "); choose another name");
                    }
                } catch (NumberFormatException ignored) {
                    // a torn pid file: the state is stale
                }
            }
            deleteTree(dir); // stale state of a sandbox whose controller was killed
        }
        Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        undo.push(() -> deleteTree(dir));
        Files.createDirectory(dir.resolve("root"));
    }

    private void prepare(Step step) throws HostStepException {
        switch (step.op()) {
            case "check-path" -> HostActions.checkPath(step);
            case "check-shared-mount" -> HostActions.checkSharedMount(step);
            case "cgroup-create" -> {
                HostActions.cgroupCreate(step);
                Path dir = Path.of(step.arg("path").orElseThrow());
                undo.push(() -> HostActions.cgroupRemove(dir));
            }
            default -> throw unknown(step);
        }
    }

    private void identity(Step step, long helperPid) throws HostStepException {
        switch (step.op()) {
            case "write-setgroups" -> HostActions.writeSetgroups(step, helperPid);
            case "write-id-map" -> HostActions.writeIdMap(step, helperPid);
            case "cgroup-place" -> HostActions.cgroupPlace(step, helperPid);
            default -> throw unknown(step);
        }
    }

    /**
     * After GO the helper becomes uid 0 of its user namespace (PROTOCOL.md), and the child mounts the
     * new root under the runtime dir as that uid. When it is not the dir's owner (root mapping inside 0
     * to 100000 outside), the 0700 dir would stop it with EACCES: let everyone search it (0711; nothing
     * in it becomes listable or writable). The helper is connected by now, so no one else can take
     * its place on the control socket.
     */
    private static void letNamespaceRootIn(Path runtimeDir, long helperPid) throws HostStepException {
        Path map = Path.of("/proc", Long.toString(helperPid), "uid_map");
        try {
            int owner = (Integer) Files.getAttribute(runtimeDir, "unix:uid");
            boolean ownerIsRoot = Files.readAllLines(map).stream().map(l -> l.trim().split("\\s+"))
                    .anyMatch(r -> r.length == 3 && r[0].equals("0") && Long.parseLong(r[1]) == owner);
            if (!ownerIsRoot) Files.setPosixFilePermissions(runtimeDir, PosixFilePermissions.fromString("rwx--x--x"));
        } catch (IOException | RuntimeException e) {
            throw new HostStepException("identity runtime-dir", "chmod", runtimeDir.toString(),
                    e instanceof IOException io ? Errno.name(io) : "", "the sandbox's root must be able to reach " + runtimeDir.resolve("root"));
        }
    }

    private void connect(Step step, long childPid) throws HostStepException {
        if (!step.op().equals("veth")) throw unknown(step);
        // Loaded only here: a spec without links never touches JNR (design.md: +100-150 ms).
        String hostName = VethSteps.setUp(step, childPid);
        undo.push(() -> VethSteps.deleteHostEnd(hostName));
    }

    /** SUPERVISE steps are undo actions of PREPARE ones (cgroup-remove); they are already registered. */
    private void registerSupervise(Step step) throws HostStepException {
        if (!step.op().equals("cgroup-remove")) throw unknown(step);
    }

    private static HostStepException unknown(Step step) {
        return new HostStepException(HostActions.label(step), "", "", "", "this controller does not implement op '" + step.op() + "'");
    }

    private interface Action {
        void run() throws HostStepException;
    }

    private void timed(Step step, Action action) throws HostStepException {
        long start = System.nanoTime();
        action.run();
        if (options.verbose()) {
            options.err().printf("sandbox: %-9s %-16s %6.2f ms  %s%n", step.stage().wireName(), step.op(),
                    (System.nanoTime() - start) / 1e6, step.summary());
            options.err().flush();
        }
    }

    private void abandon(Process helper) {
        if (helper != null && helper.isAlive()) {
            helper.destroyForcibly();
            try {
                helper.waitFor();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void undoAll() {
        while (!undo.isEmpty()) {
            try {
                undo.pop().run();
            } catch (Exception e) {
                options.err().println("sandbox: cleanup: " + e.getMessage());
            }
        }
        options.err().flush();
    }

    static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) return;
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }
}
