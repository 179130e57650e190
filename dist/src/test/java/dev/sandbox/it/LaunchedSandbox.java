package dev.sandbox.it;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A {@code sandbox up} running in the background, for the tests that act on it while it runs
 * (signals, joins, host-side views of its processes). Its stdout and stderr go to files that
 * {@link #awaitOut} polls: readiness is a line the target prints, never a fixed sleep.
 *
 * <p>{@code bin/sandbox} runs {@code java}, then execs the monitor ({@code sandbox-init run}) the JVM handed the plan to,
 * so once the sandbox runs {@link #pid()} is the monitor itself.
 * {@link #close()} kills only that process, by its pid, if it is still running, and deletes the files.
 */
final class LaunchedSandbox implements AutoCloseable {

    private final Process process;
    private final Path out;
    private final Path err;
    private final String description;

    private LaunchedSandbox(Process process, Path out, Path err, String description) {
        this.process = process;
        this.out = out;
        this.err = err;
        this.description = description;
    }

    /** Starts {@code bin/sandbox ARGS} with stdin from /dev/null. */
    static LaunchedSandbox start(String... args) {
        return start(List.of(), Cli.DIST, java.util.Map.of(), args);
    }

    /** {@code prefix} (e.g. runuser -u sbtest --) {@code home/bin/sandbox ARGS} with {@code env} added, stdin from /dev/null. */
    static LaunchedSandbox start(List<String> prefix, Path home, java.util.Map<String, String> env, String... args) {
        List<String> cmd = Warm.command(prefix, env, home, null, List.of(args)); // primed first in warm mode
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().putAll(env);
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        try {
            Path out = Files.createTempFile("sandbox-it-bg", ".out");
            Path err = Files.createTempFile("sandbox-it-bg", ".err");
            pb.redirectOutput(out.toFile());
            pb.redirectError(err.toFile());
            return new LaunchedSandbox(pb.start(), out, err, "sandbox " + String.join(" ", args));
        } catch (IOException e) {
            throw new AssertionError("could not start " + cmd, e);
        }
    }

    /** The pid of the process started: the monitor, once the launcher exec'd it (the JVM before). */
    long pid() {
        return process.pid();
    }

    /** The processes below the monitor (the helper, the sandbox's processes), as they are now. */
    List<ProcessHandle> descendants() {
        return process.descendants().toList();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    String out() {
        return read(out);
    }

    String err() {
        return read(err);
    }

    /** Polls stdout until a line equals {@code line}; fails with both outputs when the run ends first or the timeout passes. */
    void awaitOut(String line, Duration timeout) {
        awaitOut(line, timeout, 20);
    }

    /** {@link #awaitOut(String, Duration)}, looking every {@code pollMs} milliseconds. */
    void awaitOut(String line, Duration timeout, long pollMs) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            if (out().lines().anyMatch(line::equals)) return;
            if (!process.isAlive()) {
                // the line may have been written just before the exit
                if (out().lines().anyMatch(line::equals)) return;
                throw new AssertionError("'" + line + "' never appeared; " + description + " ended with " + process.exitValue() + "\n" + this);
            }
            if (System.nanoTime() > deadline) throw new AssertionError("'" + line + "' did not appear within " + timeout + "\n" + this);
            ItHost.sleepMs(pollMs);
        }
    }

    /** Sends a signal by name (TERM, HUP, KILL, ...) to the started process only. */
    void signal(String name) {
        // TERM and KILL straight from this JVM (no kill(1) to start first: the moment matters for races)
        switch (name) {
            case "TERM" -> process.destroy();
            case "KILL" -> process.destroyForcibly();
            default -> ItHost.must("kill", "-s", name, Long.toString(pid()));
        }
    }

    /** Waits for the end (an upper bound against hangs, not a speed assertion) and returns the exit status. */
    int awaitExit(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                throw new AssertionError(description + " did not end within " + timeout + "\n" + this);
            }
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    @Override
    public void close() {
        try {
            if (process.isAlive()) {
                // SIGTERM first, so the controller can still undo its host steps; then SIGKILL
                process.destroy();
                if (!process.waitFor(15, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(15, TimeUnit.SECONDS);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            try {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            } catch (IOException ignored) {
                // temp files
            }
        }
    }

    @Override
    public String toString() {
        return "--- stdout\n" + out() + "--- stderr\n" + err();
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }
}
