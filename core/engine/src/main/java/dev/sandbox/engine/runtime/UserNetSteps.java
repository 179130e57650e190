package dev.sandbox.engine.runtime;

import dev.sandbox.api.Step;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * TEMPORARY (issue 14, user-mode network): the Java controller's stand-in for the monitor's
 * {@code usernet_start} (core/native/src/usernet.c), so {@code connect user-net} steps run end to end until
 * the C monitor replaces the Controller; drop this file with the Controller. Same argv, same readiness rule:
 * pasta runs in the foreground (a child the controller can track and kill), writes its pid file once the
 * sandbox's tap interface is configured; the controller waits for that, bounded, and kills pasta at teardown.
 */
final class UserNetSteps {

    /** How long pasta may take to configure the namespace (it takes ~20 ms here). */
    static final long READY_MS = 5000;

    private UserNetSteps() {}

    /** A started pasta: its process and the files it writes under the runtime dir. */
    record Started(Process process, Path pidFile, Path logFile) {
        void stop() throws IOException {
            process.destroyForcibly();
            try {
                process.waitFor(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            Files.deleteIfExists(pidFile);
            Files.deleteIfExists(logFile);
            Files.deleteIfExists(logFile.resolveSibling("pasta.err"));
        }
    }

    static Started start(Step step, long childPid, Path runtimeDir) throws HostStepException {
        String label = HostActions.label(step);
        String tool = step.arg("tool").orElseThrow();
        Path pidFile = runtimeDir.resolve("pasta.pid");
        Path logFile = runtimeDir.resolve("pasta.log");
        boolean root = isRoot();
        List<String> argv = argv(step, "/proc/self/fd/5", root ? null : "/proc/self/fd/6", pidFile.toString(), logFile.toString());
        // Why a shell that opens the namespace files and execs pasta: pasta drops capabilities before it opens
        // them, and opening another process's ns file is a ptrace access check that root's pasta then fails;
        // its own /proc/self/fd is always allowed (usernet.c passes the fds the same way).
        List<String> command = new ArrayList<>(List.of("/bin/sh", "-c", "exec \"$@\" 5<'/proc/" + childPid + "/ns/net'"
                + (root ? "" : " 6<'/proc/" + childPid + "/ns/user'"), "sh"));
        command.addAll(argv);
        Process p;
        try {
            ProcessBuilder pb = new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(logFile.resolveSibling("pasta.err").toFile());
            p = pb.start();
        } catch (IOException e) {
            throw new HostStepException(label, "execve", tool, Errno.name(e), "install pasta: apt-get install passt");
        }
        Started started = new Started(p, pidFile, logFile);
        long deadline = System.nanoTime() + READY_MS * 1_000_000;
        try {
            while (true) {
                if (Files.exists(pidFile) && Files.size(pidFile) > 0) return started;
                if (!p.isAlive()) {
                    String why = lastError(logFile);
                    started.stop();
                    throw new HostStepException(label, "execve", tool, "exit " + p.exitValue(),
                            "pasta could not connect the sandbox's network namespace" + (why.isEmpty() ? "" : ": " + why));
                }
                if (System.nanoTime() > deadline) {
                    started.stop();
                    throw new HostStepException(label, "wait", pidFile.toString(), "ETIMEDOUT",
                            "pasta did not finish setting up the sandbox's network within " + READY_MS + " ms; killed it");
                }
                Thread.sleep(5);
            }
        } catch (IOException | InterruptedException e) {
            try {
                started.stop();
            } catch (IOException ignored) {
                // the step's own error counts
            }
            if (e instanceof InterruptedException) Thread.currentThread().interrupt();
            throw new HostStepException(label, "wait", pidFile.toString(), e instanceof IOException io ? Errno.name(io) : "EINTR", "");
        }
    }

    private static boolean isRoot() {
        try {
            return (Integer) Files.getAttribute(Path.of("/proc/self"), "unix:uid") == 0;
        } catch (IOException e) {
            return false;
        }
    }

    /** The last "ERROR:" line of pasta's log without its timestamp, else the last line of its stderr (the shell's, or pasta's option errors) that is not about syslog. */
    private static String lastError(Path log) {
        String found = "";
        try {
            for (String line : Files.readAllLines(log)) {
                int i = line.indexOf("ERROR:");
                if (i >= 0) found = line.substring(i + "ERROR:".length()).strip();
            }
        } catch (IOException | RuntimeException e) {
            // no log yet
        }
        if (!found.isEmpty()) return found;
        try {
            for (String line : Files.readAllLines(log.resolveSibling("pasta.err"))) {
                if (!line.isBlank() && !line.startsWith("Failed to send ")) found = line.strip();
            }
        } catch (IOException | RuntimeException e) {
            // nothing
        }
        return found;
    }

    /** pasta's argv; usernet.c builds the same (see its comment for why each option). */
    static List<String> argv(Step step, String netns, String userns, String pidFile, String logFile) {
        String address = step.arg("address").orElseThrow();
        int slash = address.indexOf('/');
        List<String> argv = new ArrayList<>(List.of(step.arg("tool").orElseThrow(), "--foreground", "--quiet", "--config-net",
                "--ns-ifname", step.arg("ifname").orElseThrow(), "--address", address.substring(0, slash),
                "--netmask", address.substring(slash + 1), "--gateway", step.arg("gateway").orElseThrow()));
        List<String> tcp = new ArrayList<>();
        List<String> udp = new ArrayList<>();
        for (String port : step.all("port")) {
            // protocol:host_ip:published:target; host_ip may hold ':' (IPv6)
            int first = port.indexOf(':');
            int last = port.lastIndexOf(':');
            int middle = port.lastIndexOf(':', last - 1);
            String spec = port.substring(first + 1, middle) + "/" + port.substring(middle + 1, last) + ":" + port.substring(last + 1);
            (port.startsWith("udp:") ? udp : tcp).add(spec);
        }
        if (tcp.isEmpty()) tcp.add("none");
        if (udp.isEmpty()) udp.add("none");
        tcp.forEach(t -> argv.addAll(List.of("--tcp-ports", t)));
        udp.forEach(u -> argv.addAll(List.of("--udp-ports", u)));
        argv.addAll(List.of("--tcp-ns", "none", "--udp-ns", "none"));
        if (!step.arg("host-loopback").orElse("0").equals("1")) argv.add("--no-map-gw");
        argv.addAll(List.of("--pid", pidFile, "--log-file", logFile, "--netns", netns));
        if (userns == null) argv.addAll(List.of("--runas", "0:0"));
        else argv.addAll(List.of("--userns", userns));
        return argv;
    }
}
