package dev.sandbox.api;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;

/** Facts about the host the plan is compiled for, detected once by the engine. */
public interface HostFacts {

    enum CgroupLayout { V1, V2, HYBRID, NONE }

    CgroupLayout cgroupLayout();

    /** The cgroup2 mount (v2: /sys/fs/cgroup; hybrid: /sys/fs/cgroup/unified). */
    Optional<Path> cgroup2Mount();

    /** Mount points of v1 hierarchies, e.g. /sys/fs/cgroup/pids, /sys/fs/cgroup/systemd. */
    List<Path> cgroupV1Mounts();

    /**
     * May the caller create a cgroup under {@code hierarchy} (a cgroup mount)? Root on the host may; root inside a
     * container or a sandbox often may not (the cgroupfs read-only, or owned by a uid its user namespace doesn't
     * map). Unknown: {@code true}, and the kernel has the last word.
     */
    default boolean canCreateCgroupUnder(Path hierarchy) {
        return true;
    }

    /** Subordinate uid ranges granted to the caller in /etc/subuid as {start, count} pairs. */
    List<long[]> subuids();

    /** Subordinate gid ranges granted to the caller in /etc/subgid as {start, count} pairs. */
    List<long[]> subgids();

    /**
     * The caller's current hard resource limit by setrlimit(2)'s name without {@code RLIMIT_}, in lower case
     * ({@code nofile}); -1 for unlimited; empty when unknown. A rootless caller can't raise a hard limit.
     */
    default OptionalLong hardLimit(String name) {
        return OptionalLong.empty();
    }

    /**
     * Does the caller hold CAP_SYS_RESOURCE in the initial user namespace (what raising a hard limit needs)? Root
     * normally does; not where the host took it from the bounding set (some VMs and containers), nor inside a user
     * namespace. Unknown: {@code true}, and the kernel has the last word.
     */
    default boolean capSysResource() {
        return true;
    }

    /** {@code fs.nr_open}: the most file descriptors a process may have (nofile's ceiling); empty when unknown. */
    default OptionalLong nrOpen() {
        return OptionalLong.empty();
    }

    /**
     * The v1 hierarchies by the controller they carry ({@code memory -> /sys/fs/cgroup/memory}); a hierarchy
     * mounted with several controllers ({@code cpu,cpuacct}) appears under each. Empty on a v2-only host.
     */
    default Map<String, Path> cgroupV1Controllers() {
        return Map.of();
    }

    /**
     * The controllers the cgroup2 root offers ({@code <cgroup2 mount>/cgroup.controllers}): those a sandbox's
     * cgroup can enable there. On a hybrid host a controller bound to a v1 hierarchy is not among them.
     */
    default Set<String> cgroup2Controllers() {
        return Set.of();
    }

    /**
     * Can swap be limited: v1 {@code memory.memsw.limit_in_bytes} exists (swap accounting, {@code swapaccount=1});
     * on v2, the memory controller brings {@code memory.swap.max}.
     */
    default boolean swapAccounting() {
        return false;
    }

    /** The CPUs this process may run on (what {@code cpus} can be at most); empty when unknown. */
    default OptionalLong cpuCount() {
        return OptionalLong.empty();
    }
}
