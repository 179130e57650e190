package dev.sandbox.it;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Drives {@code libexec/sandbox-init} directly with a hand-written plan, playing the controller's
 * part of core/native/PROTOCOL.md (ENTERED → GO, CLONED → GO, then ERROR/EXIT until EOF). For ops
 * whose Java emission is not there yet, and for what only the helper's own process can show
 * (dumpable flag, /proc/PID/exe). Also compiles the probes of src/test/resources/probes with cc.
 */
final class HelperRun implements AutoCloseable {

    static final Path HELPER = Cli.DIST.resolve("libexec/sandbox-init");

    /** What the controller saw: every message, the helper's exit status and its stdout (the target's). */
    record Result(int exit, List<String> messages, String out, long enteredPid, long clonedPid) {
        String error() {
            return messages.stream().filter(m -> m.startsWith("ERROR ")).findFirst().orElse("");
        }

        @Override
        public String toString() {
            return "exit " + exit + "\n--- messages\n" + String.join("\n", messages) + "\n--- stdout\n" + out;
        }
    }

    /** Callbacks at the two points where the controller acts; each gets the pid the message named. */
    interface Hook {
        void at(long pid) throws Exception;
    }

    final Path dir;
    private Hook entered = pid -> {};
    private Hook cloned = pid -> {};
    private Consumer<Process> running = p -> {};
    private List<String> wrapper = List.of();
    private ProcessBuilder.Redirect stdin = ProcessBuilder.Redirect.from(new java.io.File("/dev/null"));

    HelperRun() throws IOException {
        dir = Files.createTempDirectory("sandbox-it-helper");
        // the helper may run as another user (sbtest): it must reach the socket and the plan
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    HelperRun onEntered(Hook h) {
        entered = h;
        return this;
    }

    HelperRun onCloned(Hook h) {
        cloned = h;
        return this;
    }

    /** Called once the second GO is sent, with the started process (e.g. to type into script's pty). */
    HelperRun whileRunning(Consumer<Process> c) {
        running = c;
        return this;
    }

    /** Runs the helper through a wrapper: {@code script} (a pty), {@code runuser -u sbtest --} ... */
    HelperRun wrappedIn(String... cmd) {
        wrapper = List.of(cmd);
        return this;
    }

    HelperRun stdinFromPipe() {
        stdin = ProcessBuilder.Redirect.PIPE;
        return this;
    }

    /** One plan line: stage, op and key=value fields, joined with TABs. */
    static String step(String stage, String op, String... kv) {
        return stage + "\t" + op + (kv.length == 0 ? "" : "\t" + String.join("\t", kv)) + "\n";
    }

    private boolean serveOnly;

    /** Don't start the helper: someone else does (e.g. an outer sandbox's exec step), with {@link #command}. */
    HelperRun serveOnly() {
        serveOnly = true;
        return this;
    }

    /** The helper's command line for this run's plan and socket. */
    List<String> command() {
        return List.of(HELPER.toString(), "--plan", dir.resolve("plan").toString(), "--control", dir.resolve("control.sock").toString(),
                "--grace-ms", "500");
    }

    Result run(String plan) throws Exception {
        Path planFile = dir.resolve("plan");
        Files.writeString(planFile, plan);
        Files.setPosixFilePermissions(planFile, PosixFilePermissions.fromString("rw-r--r--"));
        Path sock = dir.resolve("control.sock");
        if (serveOnly) return serve(sock);
        Files.deleteIfExists(sock); // a HelperRun may run several plans
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock), 1);
            Files.setPosixFilePermissions(sock, PosixFilePermissions.fromString("rw-rw-rw-"));
            List<String> cmd = new ArrayList<>();
            String helperCmd = HELPER + " --plan " + planFile + " --control " + sock + " --grace-ms 500";
            if (!wrapper.isEmpty() && wrapper.get(0).endsWith("script")) {
                // script(1) runs its command through a shell; exec keeps the helper in the pty's foreground group
                String redirect = String.join(" ", wrapper.subList(1, wrapper.size()));
                cmd.addAll(List.of(wrapper.get(0), "-qec", "exec " + helperCmd + (redirect.isEmpty() ? "" : " " + redirect), "/dev/null"));
            } else {
                cmd.addAll(wrapper);
                cmd.addAll(List.of(HELPER.toString(), "--plan", planFile.toString(), "--control", sock.toString(), "--grace-ms", "500"));
            }
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectInput(stdin);
            Process p = pb.start();
            StringBuilder out = new StringBuilder();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String l; (l = r.readLine()) != null; ) {
                        synchronized (out) {
                            out.append(l).append('\n');
                            out.notifyAll();
                        }
                    }
                } catch (IOException ignored) {
                    // the process ended
                }
            });
            reader.start();
            this.out = out;
            List<String> messages = new ArrayList<>();
            long enteredPid = 0;
            long clonedPid = 0;
            try (SocketChannel c = server.accept();
                 BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(c), StandardCharsets.UTF_8));
                 OutputStream o = Channels.newOutputStream(c)) {
                for (String line; (line = in.readLine()) != null; ) {
                    messages.add(line);
                    if (line.startsWith("ENTERED ")) {
                        enteredPid = Long.parseLong(line.substring(8));
                        entered.at(enteredPid);
                        o.write("GO\n".getBytes(StandardCharsets.US_ASCII));
                    } else if (line.startsWith("CLONED ")) {
                        clonedPid = Long.parseLong(line.substring(7));
                        cloned.at(clonedPid);
                        o.write("GO\n".getBytes(StandardCharsets.US_ASCII));
                        running.accept(p);
                    }
                }
            } finally {
                if (!p.waitFor(60, TimeUnit.SECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                    p.waitFor();
                }
                reader.join(5000);
            }
            synchronized (out) {
                return new Result(p.exitValue(), messages, out.toString(), enteredPid, clonedPid);
            }
        }
    }

    private StringBuilder out;

    /** Plays the controller for a helper started elsewhere; waits up to 30 s for it to connect. */
    private Result serve(Path sock) throws Exception {
        List<String> messages = new ArrayList<>();
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock), 1);
            Files.setPosixFilePermissions(sock, PosixFilePermissions.fromString("rw-rw-rw-"));
            server.configureBlocking(false);
            SocketChannel c = null;
            for (long end = System.currentTimeMillis() + 30_000; c == null && System.currentTimeMillis() < end; ) {
                c = server.accept();
                if (c == null) Thread.sleep(10);
            }
            if (c == null) return new Result(-1, messages, "", 0, 0);
            c.configureBlocking(true);
            try (SocketChannel peer = c;
                 BufferedReader in = new BufferedReader(new InputStreamReader(Channels.newInputStream(peer), StandardCharsets.UTF_8));
                 OutputStream o = Channels.newOutputStream(peer)) {
                for (String line; (line = in.readLine()) != null; ) {
                    messages.add(line);
                    if (line.startsWith("ENTERED ") || line.startsWith("CLONED ")) o.write("GO\n".getBytes(StandardCharsets.US_ASCII));
                }
            }
        }
        return new Result(0, messages, "", 0, 0);
    }

    /** Waits until the helper's (the target's) output contains {@code text}; false after {@code ms}. */
    boolean awaitOutput(String text, long ms) throws InterruptedException {
        long end = System.currentTimeMillis() + ms;
        synchronized (out) {
            while (out.indexOf(text) < 0) {
                long left = end - System.currentTimeMillis();
                if (left <= 0) return false;
                out.wait(left);
            }
        }
        return true;
    }

    /** A copy of the probe in this run's directory, which another user (sbtest) can reach. */
    Path probeCopy() throws Exception {
        Path copy = dir.resolve("probe");
        Files.copy(probe(), copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rwxr-xr-x"));
        return copy;
    }

    @Override
    public void close() throws IOException {
        try (var walk = Files.walk(dir)) {
            for (Path p : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    private static Path probe;

    /** The probe program (src/test/resources/probes/probe.c), compiled once per test JVM. */
    static synchronized Path probe() throws Exception {
        if (probe != null) return probe;
        Path src = Cli.ROOT.resolve("dist/src/test/resources/probes/probe.c");
        Path bin = Cli.DIST.getParent().resolve("probes/probe");
        Files.createDirectories(bin.getParent());
        ItHost.must("cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", bin.toString(), src.toString());
        probe = bin;
        return bin;
    }
}
