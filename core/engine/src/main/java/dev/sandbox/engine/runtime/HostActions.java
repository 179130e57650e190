package dev.sandbox.engine.runtime;

import dev.sandbox.api.Step;
import dev.sandbox.engine.host.MountInfo;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.apache.commons.exec.CommandLine;
import org.apache.commons.exec.DefaultExecutor;
import org.apache.commons.exec.ExecuteException;
import org.apache.commons.exec.ExecuteWatchdog;
import org.apache.commons.exec.PumpStreamHandler;

/**
 * The controller's side of the plan vocabulary: the host steps Java performs itself. Each throws a
 * {@link HostStepException} naming the step, the call, the path and the errno.
 */
final class HostActions {

    private HostActions() {}

    static String label(Step step) {
        return step.stage().wireName() + " " + step.op() + (step.plugin().isEmpty() ? "" : " [" + step.plugin() + "]");
    }

    static void checkPath(Step step) throws HostStepException {
        Path path = Path.of(step.arg("path").orElseThrow());
        String kind = step.arg("kind").orElse("exists");
        if (!Files.exists(path)) {
            String hint = kind.startsWith("namespace:") ? "the process or namespace file to join does not exist (is it still running?)"
                    : "the source does not exist on the host; create it or fix the path in the spec";
            throw new HostStepException(label(step), "stat", path.toString(), "ENOENT", hint);
        }
        if (kind.startsWith("namespace:") && path.startsWith("/proc")) {
            String type = kind.substring("namespace:".length());
            try {
                String link = Files.readSymbolicLink(path).toString();
                if (!link.startsWith(type + ":")) {
                    throw new HostStepException(label(step), "readlink", path.toString(), "EINVAL",
                            "it is " + link + ", not a " + type + " namespace");
                }
            } catch (IOException e) {
                throw new HostStepException(label(step), "readlink", path.toString(), Errno.name(e), null);
            }
        }
    }

    static void checkSharedMount(Step step) throws HostStepException {
        Path path = Path.of(step.arg("path").orElseThrow());
        Path real;
        try {
            real = path.toRealPath();
        } catch (IOException e) {
            throw new HostStepException(label(step), "realpath", path.toString(), Errno.name(e), "the bind source must exist");
        }
        MountInfo.Entry mount = MountInfo.containing(MountInfo.read(), real);
        if (mount == null || !mount.isShared()) {
            String where = mount == null ? "?" : mount.mountPoint().toString();
            throw new HostStepException(label(step), "check propagation of", real.toString(), "EINVAL",
                    "shared propagation needs a source on a shared mount, but " + where + " is not shared; make it shared on the host with"
                            + " 'mount --make-shared " + where + "' (or bind it onto itself first), or use rslave");
        }
    }

    static void cgroupCreate(Step step) throws HostStepException {
        Path dir = Path.of(step.arg("path").orElseThrow());
        try {
            for (int attempt = 0; ; attempt++) {
                Files.createDirectories(dir.getParent());
                try {
                    Files.createDirectory(dir);
                    break;
                } catch (java.nio.file.NoSuchFileException e) {
                    // another sandbox's teardown removed the shared parent between the two mkdirs (it removes it
                    // when empty): make it again
                    if (attempt >= 10) throw e;
                }
            }
        } catch (java.nio.file.FileAlreadyExistsException e) {
            if (!procs(dir).isEmpty()) {
                throw new HostStepException(label(step), "mkdir", dir.toString(), "EEXIST",
                        "a sandbox of this name is running in that cgroup; stop it or choose another name");
            }
        } catch (IOException e) {
            throw new HostStepException(label(step), "mkdir", dir.toString(), Errno.name(e),
                    "creating a cgroup needs root or a delegated cgroup");
        }
    }

    static void cgroupPlace(Step step, long pid) throws HostStepException {
        Path procs = Path.of(step.arg("path").orElseThrow(), "cgroup.procs");
        write(step, procs, pid + "\n", "write", "the helper must still be alive and the cgroup writable");
    }

    /** Kills what is left in the cgroup, then removes it and its {@code sandbox} parent when empty. */
    static void cgroupRemove(Path dir) throws HostStepException {
        if (!Files.isDirectory(dir)) return;
        long deadline = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        Path kill = dir.resolve("cgroup.kill");
        while (true) {
            List<Long> left = procs(dir);
            if (left.isEmpty()) break;
            // cgroup v2 (Linux 5.14+): one write kills every process of the cgroup atomically, so a
            // process that keeps forking can't outrun us; v1 has no such file: kill them one by one
            boolean killedAll = false;
            if (Files.exists(kill)) {
                try {
                    Files.writeString(kill, "1");
                    killedAll = true;
                } catch (IOException e) {
                    // fall back to one by one
                }
            }
            if (!killedAll) {
                for (long pid : left) ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            if (System.nanoTime() > deadline) {
                throw new HostStepException("supervise cgroup-remove", "kill", dir + "/cgroup.procs", "EBUSY",
                        "processes " + left + " did not die");
            }
            sleep(10);
        }
        for (int attempt = 0; ; attempt++) {
            try {
                Files.deleteIfExists(dir);
                break;
            } catch (IOException e) {
                // rmdir of a cgroup whose last task is still exiting fails with EBUSY for a moment
                if (attempt > 200) throw new HostStepException("supervise cgroup-remove", "rmdir", dir.toString(), Errno.name(e), null);
                sleep(10);
            }
        }
        Path parent = dir.getParent();
        if (parent != null && parent.getFileName().toString().equals("sandbox")) {
            try {
                Files.deleteIfExists(parent);
            } catch (DirectoryNotEmptyException e) {
                // another sandbox still uses the parent
            } catch (IOException e) {
                // EBUSY or ENOTEMPTY: another sandbox is in there; leave it
            }
        }
    }

    static List<Long> procs(Path dir) {
        List<Long> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(dir.resolve("cgroup.procs"))) {
                if (!line.isBlank()) out.add(Long.parseLong(line.trim()));
            }
        } catch (IOException | NumberFormatException e) {
            return out;
        }
        return out;
    }

    static void writeSetgroups(Step step, long pid) throws HostStepException {
        write(step, Path.of("/proc", Long.toString(pid), "setgroups"), step.arg("value").orElse("deny") + "\n", "write",
                "needs Linux 3.19+; 'deny' must be written before gid_map");
    }

    static void writeIdMap(Step step, long pid) throws HostStepException {
        String kind = step.arg("kind").orElseThrow();
        String via = step.arg("via").orElse("direct");
        List<String> ranges = List.of(step.arg("map").orElseThrow().split(","));
        if (via.equals("direct")) {
            Path file = Path.of("/proc", Long.toString(pid), kind + "_map");
            write(step, file, String.join("\n", ranges) + "\n", "write",
                    "an unprivileged caller may only map its own " + kind + " directly; more needs new" + kind + "map and /etc/sub" + kind);
            return;
        }
        String tool = "new" + kind + "map";
        Optional<Path> binary = which(tool);
        if (binary.isEmpty()) {
            throw new HostStepException(label(step), "exec", tool, "ENOENT",
                    "multi-range maps for an unprivileged caller need " + tool + " from the 'uidmap' package (apt-get install uidmap)");
        }
        CommandLine cmd = new CommandLine(binary.get().toString()).addArgument(Long.toString(pid));
        for (String range : ranges) for (String part : range.trim().split("\\s+")) cmd.addArgument(part);
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        DefaultExecutor exec = DefaultExecutor.builder().get();
        exec.setStreamHandler(new PumpStreamHandler(err, err));
        exec.setWatchdog(ExecuteWatchdog.builder().setTimeout(Duration.ofSeconds(10)).get());
        try {
            exec.execute(cmd);
        } catch (ExecuteException e) {
            throw new HostStepException(label(step), tool, Long.toString(pid), "exit " + e.getExitValue(),
                    err.toString(StandardCharsets.UTF_8).strip() + "; the ranges must be granted to you in /etc/sub" + kind
                            + " (usermod --add-sub" + kind + "s START-END " + System.getProperty("user.name") + ")");
        } catch (IOException e) {
            throw new HostStepException(label(step), tool, binary.get().toString(), Errno.name(e), null);
        }
    }

    static Optional<Path> which(String tool) {
        for (String dir : List.of("/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin")) {
            Path p = Path.of(dir, tool);
            if (Files.isExecutable(p)) return Optional.of(p);
        }
        return Optional.empty();
    }

    private static void write(Step step, Path file, String content, String syscall, String hint) throws HostStepException {
        try {
            Files.writeString(file, content);
        } catch (NoSuchFileException e) {
            throw new HostStepException(label(step), syscall, file.toString(), "ENOENT", hint);
        } catch (IOException e) {
            throw new HostStepException(label(step), syscall, file.toString(), Errno.name(e), hint);
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
