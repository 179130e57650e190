package dev.sandbox.engine.runtime;

import dev.sandbox.api.Plan;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
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
        SignalForwarding signals = SignalForwarding.install();
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
                helper = startHelper(planFile, channel.path(),
                        plan.stage(Stage.CONNECT).stream().anyMatch(s -> s.op().equals("user-net")));
                Process started = helper;
                if (!channel.accept(Duration.ofSeconds(10), started::isAlive)) {
                    if (helper.isAlive()) {
                        abandon(helper); // alive but never connected: waitFor() alone would hang
                        options.err().println("sandbox: start helper: " + options.helper() + " did not connect to " + channel.path()
                                + " within 10 s; killed it");
                        return SETUP_FAILED;
                    }
                    int status = helper.waitFor();
                    options.err().println("sandbox: start helper: " + options.helper() + " exited with " + status
                            + " before connecting to " + channel.path());
                    return SETUP_FAILED;
                }
                // Why attach now and not once the target runs: a signal during setup is queued by the
                // helper and delivered right after release (PROTOCOL.md); the handlers themselves were
                // installed before the first host step, so no signal ends the JVM before its undo actions.
                try {
                    signals.attach(channel);
                    return converse(plan, runtimeDir, channel, helper);
                } finally {
                    signals.detach();
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
            options.err().println("sandbox: interrupted; stopping the sandbox");
            abandon(helper);
            Thread.currentThread().interrupt();
            return SETUP_FAILED;
        } catch (RuntimeException e) {
            // e.g. a malformed message from the helper: still one line, and the undo actions below
            options.err().println("sandbox: internal error: " + e);
            abandon(helper);
            return SETUP_FAILED;
        } finally {
            undoAll();
            signals.close();
        }
    }

    private int converse(Plan plan, Path runtimeDir, ControlChannel channel, Process helper)
            throws IOException, InterruptedException, HostStepException {
        String reply = next(channel);
        if (!isMessage(reply, "ENTERED")) return setupFailed(channel, helper, reply, "ENTERED");
        long helperPid = Long.parseLong(reply.split(" ")[1]);
        try {
            for (Step step : plan.stage(Stage.IDENTITY)) timed(step, () -> identity(step, helperPid));
            letNamespaceRootIn(runtimeDir, helperPid);
        } catch (HostStepException e) {
            abort(channel, helper);
            throw e;
        }
        channel.send("GO");

        reply = next(channel);
        if (!isMessage(reply, "CLONED")) return setupFailed(channel, helper, reply, "CLONED");
        long childPid = Long.parseLong(reply.split(" ")[1]);
        // the state 'join: {sandbox: NAME}' reads
        Files.writeString(runtimeDir.resolve("pid"), childPid + "\n");
        try {
            for (Step step : plan.stage(Stage.CONNECT)) timed(step, () -> connect(step, childPid, runtimeDir));
        } catch (HostStepException e) {
            abort(channel, helper);
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
            text = String.format("%-9s %-16s %s  %s", step.stage().wireName(), step.op(), took, RawText.display(step.summary()));
        } catch (RuntimeException e) {
            // an unexpected shape: print it as it came
        }
        options.err().println("sandbox: " + text);
        options.err().flush();
    }

    /** ABORT after a failed host step; a helper that died meanwhile must not hide the step's own message. */
    private static void abort(ControlChannel channel, Process helper) throws InterruptedException {
        try {
            channel.send("ABORT");
        } catch (IOException e) {
            helper.destroyForcibly();
        }
        helper.waitFor();
    }

    /**
     * The helper ended (or said something else) before the target could run: 125, whatever its own
     * status (a helper killed by a signal would otherwise pass for a target killed by it), and one line
     * even when the helper could not send an ERROR.
     */
    private int setupFailed(ControlChannel channel, Process helper, String reply, String expected) throws IOException, InterruptedException {
        boolean error = false;
        if (reply != null && !isMessage(reply, "ERROR")) {
            try {
                channel.send("ABORT"); // an unexpected message: the helper would wait for GO forever
            } catch (IOException ignored) {
                // it is gone already
            }
        }
        for (String line = reply; line != null; line = next(channel)) {
            if (isMessage(line, "ERROR")) {
                if (!error) options.err().println("sandbox: " + HelperError.describe(line));
                error = true;
            }
        }
        int status = helper.waitFor();
        if (!error) {
            options.err().println("sandbox: helper: " + options.helper() + " " + (status > 128 ? "was killed by signal " + (status - 128)
                    : "exited with " + status) + " before " + expected + (reply == null ? "" : " (it sent '" + reply + "')"));
        }
        return SETUP_FAILED;
    }

    /**
     * Reads the remaining messages (ERROR, TIMEOUT, KILLED, EXIT) until EOF and returns the helper's
     * status; says on stderr when the helper had to SIGKILL the target or the timeout fired.
     */
    private int finish(ControlChannel channel, Process helper, String first) throws IOException, InterruptedException {
        String line = first;
        String error = null;
        StopReport stop = new StopReport(options.stopTimeout());
        boolean exited = false;
        while (line != null) {
            if (isMessage(line, "ERROR")) error = line;
            if (isMessage(line, "TIMEOUT") || isMessage(line, "KILLED")) {
                stop.accept(line).ifPresent(l -> {
                    options.err().println("sandbox: " + l);
                    options.err().flush();
                });
            }
            exited |= isMessage(line, "EXIT");
            try {
                line = next(channel);
            } catch (IOException e) {
                // Why: a SIGNAL we sent while the helper was exiting stays unread, and a Unix socket closed
                // with unread data gives its peer ECONNRESET instead of EOF, after the EXIT line
                if (!exited) throw e;
                line = null;
            }
        }
        int status = helper.waitFor();
        if (error != null) options.err().println("sandbox: " + HelperError.describe(error));
        stop.atExit().ifPresent(l -> options.err().println("sandbox: " + l));
        return status;
    }

    private static boolean isMessage(String line, String kind) {
        return line != null && (line.equals(kind) || line.startsWith(kind + " "));
    }

    private Process startHelper(Path planFile, Path socket, boolean connectWindow) throws IOException, HostStepException {
        if (!Files.isExecutable(options.helper())) {
            throw new HostStepException("start helper", "execve", options.helper().toString(), "ENOENT",
                    "the helper is built by 'mvn package' into the distribution's libexec/; set SANDBOX_HELPER to override");
        }
        ProcessBuilder pb = new ProcessBuilder(options.helper().toString(), "--plan", planFile.toString(), "--control",
                socket.toString(), "--grace-ms", Long.toString(options.stopTimeout().toMillis()));
        if (options.verbose()) pb.command().add("--trace");
        // TEMPORARY (issue 14): pasta, running as the caller, opens /proc/<child>/ns/*; the monitor decides this from the plan
        if (connectWindow) pb.command().add("--connect-window");
        // The target keeps the caller's terminal: stdio is inherited, the control channel is separate.
        pb.inheritIO();
        return pb.start();
    }

    /**
     * Creates the runtime dir, or fails when a sandbox of that name is running or still starting.
     * Why a lock and not the pid file: the pid file appears only after CLONED, so a second {@code up}
     * of the same name started in between took the first one's dir for stale and deleted it. Every
     * runtime dir is born (renamed into place) with a {@code lock} file its controller holds locked
     * until the dir is gone; the kernel drops the lock when the controller dies, even of SIGKILL, so a
     * dir whose lock can be taken is stale. A stale dir is renamed away while its lock is held, so
     * two starters can never both take one dir for stale.
     */
    private void prepareRuntimeDir(Path dir) throws IOException, HostStepException {
        Path base = dir.getParent();
        RuntimePaths.ensureTrusted(base); // never a dir another user can write to (issue: a planted plan)
        String name = dir.getFileName().toString();
        for (int attempt = 0; ; attempt++) {
            Path fresh = Files.createTempDirectory(base, "." + name + ".new-",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            FileChannel lock = null;
            try {
                lock = FileChannel.open(fresh.resolve("lock"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                lock.lock(); // a file nobody else knows yet: never contended
                Files.move(fresh, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                if (lock != null) lock.close();
                deleteTree(fresh);
                // rename(2) refuses a non-empty target: an existing dir is someone's, or stale
                if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS) || attempt == 3) throw e;
                removeStale(dir);
                continue;
            }
            FileChannel held = lock;
            undo.push(held::close);
            undo.push(() -> deleteTree(dir));
            Files.createDirectory(dir.resolve("root"));
            return;
        }
    }

    /** Removes {@code dir} if no controller holds its lock; fails when one does. Returns quietly when it changed meanwhile. */
    private static void removeStale(Path dir) throws IOException, HostStepException {
        Path lockFile = dir.resolve("lock");
        HostStepException running = new HostStepException("prepare runtime-dir", "lock", lockFile.toString(), "EAGAIN",
                "a sandbox named '" + dir.getFileName() + "' is running or starting; stop it or choose another name");
        Object key;
        try {
            key = Files.readAttributes(lockFile, BasicFileAttributes.class).fileKey();
        } catch (NoSuchFileException | java.nio.file.NotDirectoryException e) {
            // no lock file: left by an older version (its pid file tells), or being removed right now
            if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
            try {
                long pid = Long.parseLong(Files.readString(dir.resolve("pid")).trim());
                if (ProcessHandle.of(pid).isPresent()) throw running;
            } catch (NoSuchFileException | NumberFormatException ignored) {
                // no or a torn pid file: the state is stale
            }
            moveAwayAndDelete(dir);
            return;
        }
        try (FileChannel other = FileChannel.open(lockFile, StandardOpenOption.WRITE)) {
            FileLock taken;
            try {
                taken = other.tryLock();
            } catch (OverlappingFileLockException e) {
                taken = null; // this JVM runs it
            }
            if (taken == null) throw running;
            // Why compare: the dir may have been replaced between the stat and the open; then look again.
            if (!key.equals(Files.readAttributes(lockFile, BasicFileAttributes.class).fileKey())) return;
            moveAwayAndDelete(dir); // while the lock is held: no other starter can take it for stale too
        } catch (NoSuchFileException e) {
            // removed meanwhile: look again
        }
    }

    private static void moveAwayAndDelete(Path dir) throws IOException {
        Path away = dir.resolveSibling("." + dir.getFileName() + ".stale-" + ProcessHandle.current().pid() + "-" + System.nanoTime());
        Files.move(dir, away, StandardCopyOption.ATOMIC_MOVE);
        deleteTree(away);
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

    private void connect(Step step, long childPid, Path runtimeDir) throws HostStepException {
        if (step.op().equals("user-net")) {
            // TEMPORARY (issue 14): the C monitor's usernet_start replaces this with the Controller
            UserNetSteps.Started pasta = UserNetSteps.start(step, childPid, runtimeDir);
            undo.push(pasta::stop);
            return;
        }
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
