package dev.sandbox.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A command on a real pty: util-linux {@code script -qec "exec CMD" /dev/null}, its stdin a pipe
 * whose bytes reach the pty's line discipline as if typed, so {@code \u0003} (Ctrl-C) makes the
 * kernel send SIGINT (si_code SI_KERNEL) to the pty's foreground process group, which the command
 * is in (exec keeps it the session's first group). The output (stdout and stderr, both the pty)
 * is collected as it comes. {@link #close()} kills what is left, by pid, only what it started.
 */
final class PtyRun implements AutoCloseable {

    static final String SCRIPT = "/usr/bin/script";

    private final Process process;
    private final StringBuilder out = new StringBuilder();
    private final OutputStream in;
    private final String description;

    private PtyRun(Process process, String description) {
        this.process = process;
        this.description = description;
        this.in = process.getOutputStream();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                char[] buf = new char[4096];
                for (int n; (n = r.read(buf)) > 0; ) {
                    synchronized (out) {
                        out.append(buf, 0, n);
                        out.notifyAll();
                    }
                }
            } catch (IOException ignored) {
                // the process ended
            }
        });
        reader.setDaemon(true);
        reader.start();
    }

    /** Runs {@code commandLine} (a shell command line) on a new pty. */
    static PtyRun start(String commandLine) {
        try {
            Process p = new ProcessBuilder(SCRIPT, "-qec", "exec " + Warm.commandLine(commandLine), "/dev/null").redirectErrorStream(true).start();
            return new PtyRun(p, commandLine);
        } catch (IOException e) {
            throw new AssertionError("could not start script(1)", e);
        }
    }

    String out() {
        synchronized (out) {
            return out.toString();
        }
    }

    /** Waits until the output contains {@code text} {@code times} times; fails with the output when it ends first or the timeout passes. */
    void awaitOut(String text, int times, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (out) {
            while (count(out.toString(), text) < times) {
                long left = deadline - System.nanoTime();
                if (left <= 0) throw new AssertionError("'" + text + "' x" + times + " did not appear within " + timeout + "\n" + this);
                if (!process.isAlive() && count(out.toString(), text) < times) {
                    try {
                        out.wait(200); // the reader may still have the last bytes
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new AssertionError(e);
                    }
                    if (count(out.toString(), text) >= times) return;
                    throw new AssertionError("'" + text + "' never appeared; it ended with " + process.exitValue() + "\n" + this);
                }
                try {
                    out.wait(Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), 100)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError(e);
                }
            }
        }
    }

    void awaitOut(String text, Duration timeout) {
        awaitOut(text, 1, timeout);
    }

    /**
     * Waits until a process below the pty runs a program named {@code program} (e.g. after the target's {@code exec
     * sleep}: until then a {@code sh -c} catches SIGINT itself, dash does with -c).
     */
    void awaitProgram(String program, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (process.descendants().noneMatch(h -> h.info().command().orElse("").endsWith("/" + program))) {
            if (System.nanoTime() > deadline || !process.isAlive()) throw new AssertionError(program + " never ran\n" + this);
            ItHost.sleepMs(10);
        }
    }

    static int count(String haystack, String needle) {
        int n = 0;
        for (int i = haystack.indexOf(needle); i >= 0; i = haystack.indexOf(needle, i + needle.length())) n++;
        return n;
    }

    /** Types {@code text} into the pty (e.g. "\u0003" for Ctrl-C). */
    void type(String text) {
        try {
            in.write(text.getBytes(StandardCharsets.UTF_8));
            in.flush();
        } catch (IOException e) {
            throw new AssertionError("typing into the pty failed\n" + this, e);
        }
    }

    /** Waits for the end (an upper bound against hangs) and returns script's status, which is the command's. */
    int awaitExit(Duration timeout) {
        try {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) throw new AssertionError("did not end within " + timeout + "\n" + this);
            return process.exitValue();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    @Override
    public void close() {
        if (!process.isAlive()) return;
        // the JVM below script first (SIGTERM: it undoes its host steps), then whatever is left
        process.descendants().filter(h -> h.info().command().orElse("").endsWith("java")).forEach(ProcessHandle::destroy);
        try {
            if (!process.waitFor(15, TimeUnit.SECONDS)) {
                process.descendants().forEach(ProcessHandle::destroyForcibly);
                process.destroyForcibly();
                process.waitFor(15, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "--- " + description + " (pty output)\n" + out();
    }
}
