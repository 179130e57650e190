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
            Files.createDirectories(dir.getParent());
            Files.createDirectory(dir);
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

    /**
     * {@code prepare cgroup-set path=P file=F value=V}: writes V to P/F, a control file of a cgroup. F is one name (no
     * '/'), and P must be on a cgroup filesystem, so the step can't write elsewhere. TEMPORARY: the C monitor's
     * host_cgroup_set (core/native/src/resources.c) replaces this when it replaces the Java controller.
     */
    static void cgroupSet(Step step) throws HostStepException {
        Path dir = Path.of(step.arg("path").orElseThrow());
        String file = step.arg("file").orElseThrow();
        String value = step.arg("value").orElseThrow();
        Path target = dir.resolve(file);
        if (file.isEmpty() || file.contains("/") || file.equals("..") || file.equals(".")) {
            throw new HostStepException(label(step), "open", target.toString(), "EINVAL", "file must be one control file name");
        }
        MountInfo.Entry mount = MountInfo.containing(MountInfo.read(), dir);
        if (mount == null || !(mount.fsType().equals("cgroup") || mount.fsType().equals("cgroup2"))) {
            throw new HostStepException(label(step), "statfs", dir.toString(), "EINVAL", "not on a cgroup filesystem");
        }
        try {
            // one write(2) of the whole value: a control file parses each write on its own
            Files.write(target, value.getBytes(StandardCharsets.UTF_8), java.nio.file.StandardOpenOption.WRITE);
        } catch (NoSuchFileException e) {
            throw new HostStepException(label(step), "open", target.toString(), "ENOENT",
                    "the controller is not enabled for this cgroup (v2: cgroup.subtree_control of its parents; v1: the hierarchy lacks it)");
        } catch (IOException e) {
            String errno = Errno.name(e);
            String hint = switch (errno) {
                case "EINVAL" -> "the kernel refused '" + value + "' for " + file
                        + (file.startsWith("memory.memsw") ? " (memory plus swap must be at least the memory limit)" : "");
                case "EBUSY" -> "the cgroup already uses more than '" + value + "' and the kernel could not reclaim it";
                case "EACCES", "EPERM" -> "writing cgroup files needs root or a delegated cgroup";
                case "ENOTSUP", "EOPNOTSUPP" -> "this kernel does not support " + file;
                default -> null;
            };
            throw new HostStepException(label(step), "write", target.toString(), errno, hint);
        }
    }

    /**
     * After the target exited: how many processes the OOM killer killed in the cgroup {@code dir} (v2 memory.events,
     * v1 memory.oom_control: the {@code oom_kill N} line, Linux 4.13+), and the line to print when any. TEMPORARY: the
     * C monitor's cgroup_oom_report (core/native/src/resources.c) replaces it.
     */
    static Optional<String> oomReport(Path dir) {
        long kills = 0;
        for (String f : List.of("memory.events", "memory.oom_control")) {
            try {
                for (String line : Files.readAllLines(dir.resolve(f))) {
                    if (line.startsWith("oom_kill ")) kills = Long.parseLong(line.substring(9).trim());
                }
            } catch (IOException | NumberFormatException e) {
                // not this version's file
            }
        }
        if (kills == 0) return Optional.empty();
        String limit = "";
        for (String f : List.of("memory.max", "memory.limit_in_bytes")) {
            try {
                limit = Files.readAllLines(dir.resolve(f)).get(0).trim();
                break;
            } catch (IOException | IndexOutOfBoundsException e) {
                // the other version
            }
        }
        String shown = limit;
        try {
            shown = humanBytes(Long.parseLong(limit));
        } catch (NumberFormatException e) {
            // "max": keep it
        }
        return Optional.of("killed by the memory limit (" + shown + ")" + (kills > 1 ? ": " + kills + " processes" : ""));
    }

    static String humanBytes(long bytes) {
        String[] units = {"P", "T", "G", "M", "K"};
        for (int i = 0; i < units.length; i++) {
            long unit = 1L << (50 - 10 * i);
            if (bytes >= unit && bytes % unit == 0) return (bytes / unit) + units[i];
        }
        return Long.toString(bytes);
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
