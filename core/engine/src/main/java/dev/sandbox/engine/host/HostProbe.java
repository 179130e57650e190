package dev.sandbox.engine.host;

import dev.sandbox.api.Caller;
import dev.sandbox.api.HostFacts;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Reads the host facts the plan depends on: the cgroup layout and the caller's subordinate ids. */
public record HostProbe(CgroupLayout cgroupLayout, Optional<Path> cgroup2Mount, List<Path> cgroupV1Mounts,
                        List<long[]> subuids, List<long[]> subgids) implements HostFacts {

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
                subordinate(Path.of("/etc/subgid"), caller.userName(), caller.uid()));
    }

    /** Ranges from /etc/subuid or /etc/subgid whose owner is the caller's name or uid. */
    static List<long[]> subordinate(Path file, String user, long uid) {
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
