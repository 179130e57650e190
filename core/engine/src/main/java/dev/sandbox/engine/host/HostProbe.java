package dev.sandbox.engine.host;

import dev.sandbox.api.Caller;
import dev.sandbox.api.HostFacts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/** Reads the host facts the plan depends on: the cgroup layout and the caller's subordinate ids. */
public record HostProbe(CgroupLayout cgroupLayout, Optional<Path> cgroup2Mount, List<Path> cgroupV1Mounts,
                        List<long[]> subuids, List<long[]> subgids, Map<String, Long> hardLimits, OptionalLong nrOpen,
                        boolean capSysResource, Map<String, Path> cgroupV1Controllers, Set<String> cgroup2Controllers,
                        boolean swapAccounting)
        implements HostFacts {

    public static HostProbe detect(Caller caller) {
        Optional<Path> cgroup2 = Optional.empty();
        List<Path> v1 = new ArrayList<>();
        for (MountInfo.Entry m : MountInfo.read()) {
            if (m.fsType().equals("cgroup2") && cgroup2.isEmpty()) cgroup2 = Optional.of(m.mountPoint());
            if (m.fsType().equals("cgroup")) v1.add(m.mountPoint());
        }
        CgroupLayout layout = cgroup2.isPresent() ? (v1.isEmpty() ? CgroupLayout.V2 : CgroupLayout.HYBRID)
                : (v1.isEmpty() ? CgroupLayout.NONE : CgroupLayout.V1);
        return new HostProbe(layout, cgroup2, List.copyOf(v1),
                subordinate(Path.of("/etc/subuid"), caller.userName(), caller.uid()),
                subordinate(Path.of("/etc/subgid"), caller.userName(), caller.uid()),
                hardLimits(Path.of("/proc/self/limits")), number(Path.of("/proc/sys/fs/nr_open")), capSysResource(Path.of("/proc/self")),
                v1Controllers(), cgroup2.map(HostProbe::cgroup2Controllers).orElse(Set.of()), swapAccounting(v1, cgroup2));
    }

    @Override
    public OptionalLong cpuCount() {
        return OptionalLong.of(Runtime.getRuntime().availableProcessors());
    }

    /** The controllers the resources section uses, as v1 mount options name them. */
    static final Set<String> V1_CONTROLLERS = Set.of("memory", "pids", "cpu", "cpuacct");

    /** The v1 hierarchies by controller, from the super options of each cgroup mount in /proc/self/mountinfo ("rw,cpu,cpuacct"). */
    static Map<String, Path> v1Controllers() {
        try {
            return v1Controllers(Files.readAllLines(Path.of("/proc/self/mountinfo")));
        } catch (IOException e) {
            return Map.of();
        }
    }

    static Map<String, Path> v1Controllers(List<String> mountinfo) {
        Map<String, Path> out = new java.util.TreeMap<>();
        for (String line : mountinfo) {
            int dash = line.indexOf(" - ");
            if (dash < 0) continue;
            String[] before = line.substring(0, dash).split(" ");
            String[] after = line.substring(dash + 3).split(" ");
            if (before.length < 5 || after.length < 3 || !after[0].equals("cgroup")) continue;
            for (String option : after[2].split(",")) {
                if (V1_CONTROLLERS.contains(option)) out.putIfAbsent(option, Path.of(MountInfo.unescape(before[4])));
            }
        }
        return Map.copyOf(out);
    }

    /** {@code cgroup.controllers} of the cgroup2 root: space-separated names; empty when unreadable. */
    static Set<String> cgroup2Controllers(Path mount) {
        try {
            List<String> lines = Files.readAllLines(mount.resolve("cgroup.controllers"));
            if (lines.isEmpty() || lines.get(0).isBlank()) return Set.of();
            return Set.of(lines.get(0).trim().split("\\s+"));
        } catch (IOException | RuntimeException e) {
            return Set.of();
        }
    }

    /**
     * v1: the memory hierarchy has memory.memsw.* (CONFIG_MEMCG_SWAP and swapaccount=1). v2: memory.swap.max exists in
     * a non-root cgroup (the root has none): this process's own, or any child of the root.
     */
    static boolean swapAccounting(List<Path> v1, Optional<Path> cgroup2) {
        Path memory = v1Controllers().get("memory");
        if (memory != null) return Files.exists(memory.resolve("memory.memsw.limit_in_bytes"));
        if (cgroup2.isEmpty() || !cgroup2Controllers(cgroup2.get()).contains("memory")) return false;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
                if (line.startsWith("0::/") && line.length() > 4
                        && Files.exists(cgroup2.get().resolve(line.substring(4)).resolve("memory.swap.max"))) return true;
            }
        } catch (IOException | RuntimeException e) {
            // look at the root's children below
        }
        try (var children = Files.list(cgroup2.get())) {
            return children.anyMatch(c -> Files.exists(c.resolve("memory.swap.max")));
        } catch (IOException e) {
            return false;
        }
    }

    /** access(2) W_OK: false on a read-only cgroupfs, and for root of a user namespace that doesn't map the owner. */
    @Override
    public boolean canCreateCgroupUnder(Path hierarchy) {
        return Files.isDirectory(hierarchy) && Files.isWritable(hierarchy);
    }

    @Override
    public OptionalLong hardLimit(String name) {
        Long v = hardLimits.get(name);
        return v == null ? OptionalLong.empty() : OptionalLong.of(v);
    }

    /** Row names of /proc/self/limits (fs/proc/base.c lnames) by setrlimit(2)'s lower-case names. */
    private static final Map<String, String> LIMIT_ROWS = Map.ofEntries(Map.entry("Max cpu time", "cpu"),
            Map.entry("Max file size", "fsize"), Map.entry("Max data size", "data"), Map.entry("Max stack size", "stack"),
            Map.entry("Max core file size", "core"), Map.entry("Max resident set", "rss"), Map.entry("Max processes", "nproc"),
            Map.entry("Max open files", "nofile"), Map.entry("Max locked memory", "memlock"), Map.entry("Max address space", "as"),
            Map.entry("Max file locks", "locks"), Map.entry("Max pending signals", "sigpending"),
            Map.entry("Max msgqueue size", "msgqueue"), Map.entry("Max nice priority", "nice"),
            Map.entry("Max realtime priority", "rtprio"), Map.entry("Max realtime timeout", "rttime"));

    /**
     * The hard limits of this process (the JVM's are the caller's: it inherited them; the JVM raises its own nofile
     * <em>soft</em> limit, never the hard one). Columns: name (padded to 26), soft (21), hard (21), units.
     */
    public static Map<String, Long> hardLimits(Path file) {
        Map<String, Long> out = new java.util.HashMap<>();
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.length() < 47) continue;
                String name = LIMIT_ROWS.get(line.substring(0, 25).trim());
                String[] rest = line.substring(25).trim().split("\\s+");
                if (name == null || rest.length < 2) continue;
                try {
                    out.put(name, rest[1].equals("unlimited") ? -1L : Long.parseLong(rest[1]));
                } catch (NumberFormatException ignored) {
                    // an unexpected format: that limit stays unknown
                }
            }
        } catch (IOException e) {
            return Map.of();
        }
        return Map.copyOf(out);
    }

    /**
     * CAP_SYS_RESOURCE (24) in this process's effective set, and this process in the initial user namespace (its
     * uid_map is the identity over all ids). The helper the JVM starts has the same (root keeps its capabilities
     * across execve). Unreadable: assumed, the kernel decides.
     */
    static boolean capSysResource(Path proc) {
        try {
            boolean cap = true;
            for (String line : Files.readAllLines(proc.resolve("status"))) {
                if (line.startsWith("CapEff:")) cap = (Long.parseUnsignedLong(line.substring(7).trim(), 16) >> 24 & 1) == 1;
            }
            List<String> map = Files.readAllLines(proc.resolve("uid_map"));
            boolean initial = map.size() == 1 && map.get(0).trim().split("\\s+").length == 3
                    && String.join(" ", map.get(0).trim().split("\\s+")).equals("0 0 4294967295");
            return cap && initial;
        } catch (IOException | NumberFormatException e) {
            return true;
        }
    }

    private static OptionalLong number(Path file) {
        try {
            // not Files.readString: it reads a file of size 0 with a 1-byte first read, and a sysctl file then gives
            // only its first byte ("1" for 1048576)
            return OptionalLong.of(Long.parseLong(Files.readAllLines(file).get(0).trim()));
        } catch (IOException | NumberFormatException | IndexOutOfBoundsException e) {
            return OptionalLong.empty();
        }
    }

    /** Ranges from /etc/subuid or /etc/subgid whose owner is the caller's name or uid. */
    public static List<long[]> subordinate(Path file, String user, long uid) {
        List<long[]> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(file)) {
                String[] f = line.trim().split(":");
                if (f.length != 3 || !(f[0].equals(user) || f[0].equals(Long.toString(uid)))) continue;
                try {
                    out.add(new long[] {Long.parseLong(f[1]), Long.parseLong(f[2])});
                } catch (NumberFormatException ignored) {
                    // a malformed line is newuidmap's business; it is not a range we can use
                }
            }
        } catch (IOException e) {
            return out;
        }
        return out;
    }
}
