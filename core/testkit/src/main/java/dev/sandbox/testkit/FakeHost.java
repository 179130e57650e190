package dev.sandbox.testkit;

import dev.sandbox.api.HostFacts;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/** Host facts for tests: choose the cgroup layout and the caller's subordinate ids. */
public record FakeHost(CgroupLayout cgroupLayout, Optional<Path> cgroup2Mount, List<Path> cgroupV1Mounts,
                       List<long[]> subuids, List<long[]> subgids) implements HostFacts {

    public static FakeHost hybrid() {
        return new FakeHost(CgroupLayout.HYBRID, Optional.of(Path.of("/sys/fs/cgroup/unified")),
                List.of(Path.of("/sys/fs/cgroup/pids"), Path.of("/sys/fs/cgroup/memory")),
                List.of(new long[] {100000, 65536}), List.of(new long[] {100000, 65536}));
    }

    public static FakeHost v2() {
        return new FakeHost(CgroupLayout.V2, Optional.of(Path.of("/sys/fs/cgroup")), List.of(),
                List.of(new long[] {100000, 65536}), List.of(new long[] {100000, 65536}));
    }

    public static FakeHost v1() {
        return new FakeHost(CgroupLayout.V1, Optional.empty(),
                List.of(Path.of("/sys/fs/cgroup/pids"), Path.of("/sys/fs/cgroup/systemd")),
                List.of(), List.of());
    }

    public FakeHost withoutSubordinateIds() {
        return new FakeHost(cgroupLayout, cgroup2Mount, cgroupV1Mounts, List.of(), List.of());
    }
}
