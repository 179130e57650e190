package dev.sandbox.engine.runtime;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A sandbox's {@code <runtime base>/<name>/state.json} (written by the monitor, journal.c's state_write;
 * docs/architecture.md, "state.json"), and whether what it names is still there. A pid is only trusted
 * together with its start time (field 22 of {@code /proc/PID/stat}) and, for the target, its namespaces:
 * a pid file left behind by a sandbox that ended (or one written in another pid namespace) names some
 * other process, whose namespaces must never be joined (issue 8, "A stale pid file joins the wrong
 * namespace").
 */
public record SandboxState(Path dir, String name, String status, String spec, String specSha256, Proc monitor, Proc target,
                           String cgroup, Long createdMs, Long startedMs, Long finishedMs, Integer exitStatus, boolean detached,
                           Map<String, Long> namespaces, Git git) {

    public SandboxState(Path dir, String name, String status, String spec, String specSha256, Proc monitor, Proc target, String cgroup,
                        Long createdMs, Long startedMs, Long finishedMs, Integer exitStatus, boolean detached, Map<String, Long> namespaces) {
        this(dir, name, status, spec, specSha256, monitor, target, cgroup, createdMs, startedMs, finishedMs, exitStatus, detached,
                namespaces, null);
    }

    /**
     * The spec's git origin as {@code up} recorded it (state.json's {@code git}; docs/git.md, "Provenance"): the
     * repository's top, the spec's path in it, its blob id, and for a spec read from a revision that revision's commit
     * (else null).
     */
    public record Git(String repository, String path, String blob, String commit) {}

    /** A process as state.json records it: host pid and start time (clock ticks after boot). */
    public record Proc(long pid, long startTime) {

        /** The process is alive and is the one recorded (not a later process that got the same pid). */
        public boolean alive() {
            long now = SandboxState.startTime(pid);
            return now != 0 && now == startTime;
        }
    }

    /** What a record is, seen from here. */
    public enum Liveness {
        /** The monitor and the target run, with the recorded start times and namespaces. */
        RUNNING,
        /** The monitor runs and has not started the target yet. */
        STARTING,
        /** The target ended; the record is kept (a detached sandbox) until {@code down} or {@code gc}. */
        FINISHED,
        /** The record says running or creating but its monitor (or target) is gone: {@code sandbox gc} removes it. */
        DEAD
    }

    /** The namespace types of {@code /proc/PID/ns/}, as state.json names them. */
    public static final List<String> NS_TYPES = List.of("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts");

    private static final ObjectMapper JSON = new ObjectMapper();

    /** The record of sandbox {@code name} under {@code base}; empty when there is none (or it can't be read). */
    public static Optional<SandboxState> read(Path base, String name) {
        if (name.isEmpty() || name.contains("/") || name.equals(".") || name.equals("..")) return Optional.empty();
        Path dir = base.resolve(name);
        JsonNode n;
        try (InputStream in = Files.newInputStream(dir.resolve("state.json"))) {
            n = JSON.readTree(in);
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
        if (n == null || !n.isObject() || n.path("version").asInt(0) != 1) return Optional.empty();
        Map<String, Long> ns = new LinkedHashMap<>();
        n.path("namespaces").fields().forEachRemaining(e -> {
            if (e.getValue().canConvertToLong()) ns.put(e.getKey(), e.getValue().asLong());
        });
        return Optional.of(new SandboxState(dir, n.path("name").asText(name), n.path("status").asText(""), text(n, "spec"),
                text(n, "specSha256"), proc(n.path("monitor")), proc(n.path("target")), text(n, "cgroup"), number(n, "createdMs"),
                number(n, "startedMs"), number(n, "finishedMs"), n.path("exitStatus").isInt() ? n.path("exitStatus").asInt() : null,
                n.path("detached").asBoolean(false), Map.copyOf(ns), git(n.path("git"))));
    }

    /** Where the record stands: the start times (and the target's namespaces) are compared with /proc. */
    public Liveness liveness() {
        switch (status) {
            case "exited", "killed" -> {
                return Liveness.FINISHED;
            }
            case "creating" -> {
                return monitor != null && monitor.alive() ? Liveness.STARTING : Liveness.DEAD;
            }
            default -> {
                if (monitor == null || !monitor.alive() || target == null || !target.alive()) return Liveness.DEAD;
                return namespacesMatch() ? Liveness.RUNNING : Liveness.DEAD;
            }
        }
    }

    /** Every recorded namespace inode is the target's now (those we can't read are not held against it). */
    private boolean namespacesMatch() {
        for (var e : namespaces.entrySet()) {
            Optional<Long> now = inode(target.pid(), e.getKey());
            if (now.isPresent() && !now.get().equals(e.getValue())) return false;
        }
        return true;
    }

    /** {@code /proc/<pid>/ns/<type>} is {@code <type>:[<inode>]} (namespaces(7)); empty when it can't be read. */
    public static Optional<Long> inode(long pid, String type) {
        return inode(Path.of("/proc", Long.toString(pid), "ns", type));
    }

    public static Optional<Long> inode(Path nsFile) {
        try {
            String link = Files.readSymbolicLink(nsFile).toString();
            int open = link.indexOf('[');
            int close = link.lastIndexOf(']');
            return open < 0 || close < open ? Optional.empty() : Optional.of(Long.parseLong(link.substring(open + 1, close)));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** Field 22 of {@code /proc/<pid>/stat} (counted after the last ')': the name may hold any byte), 0 when it is gone. */
    public static long startTime(long pid) {
        if (pid <= 0) return 0;
        try {
            // Why a stream: JDK 17's Files.readString trusts st_size, which is 0 for /proc files
            String stat;
            try (InputStream in = Files.newInputStream(Path.of("/proc", Long.toString(pid), "stat"))) {
                stat = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.ISO_8859_1);
            }
            String[] f = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
            // f[0] is field 3 (state); field 22 is f[19]. A zombie has ended: not alive.
            if (f[0].equals("Z") || f[0].equals("X")) return 0;
            return Long.parseLong(f[19]);
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    private static Git git(JsonNode n) {
        if (!n.isObject() || text(n, "repository") == null || text(n, "path") == null || text(n, "blob") == null) return null;
        return new Git(text(n, "repository"), text(n, "path"), text(n, "blob"), text(n, "commit"));
    }

    private static Proc proc(JsonNode n) {
        return n.isObject() && n.path("pid").canConvertToLong() ? new Proc(n.path("pid").asLong(), n.path("startTime").asLong()) : null;
    }

    private static String text(JsonNode n, String key) {
        JsonNode v = n.path(key);
        return v.isTextual() && !v.asText().isEmpty() ? v.asText() : null;
    }

    private static Long number(JsonNode n, String key) {
        JsonNode v = n.path(key);
        return v.canConvertToLong() && !v.isNull() && !v.isMissingNode() ? v.asLong() : null;
    }
}
