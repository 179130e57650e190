package dev.sandbox.api;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Optional;

/**
 * Where a sandbox's cgroup lives on this host, and the three steps that give the sandbox one: shared by the engine
 * (every sandbox of root gets a cgroup, so that teardown finds every process) and the cgroup plugin
 * ({@code namespaces.cgroup} roots its namespace there). See docs/architecture.md, "The sandbox's cgroup".
 */
public final class SandboxCgroup {

    private SandboxCgroup() {}

    /** The directory under each hierarchy that holds every sandbox's cgroup. */
    public static final String PARENT = "sandbox";

    /**
     * The sandbox's cgroup directories for every hierarchy of this host's layout ({@link HostFacts#cgroupLayout()}):
     * v2 and hybrid, {@code <cgroup2 mount>/sandbox/<name>}; v1, {@code <each v1 mount>/sandbox/<name>}; none, empty.
     */
    public static List<Path> paths(HostFacts host, String name) {
        List<Path> roots = switch (host.cgroupLayout()) {
            case V2, HYBRID -> host.cgroup2Mount().map(List::of).orElse(List.of());
            case V1 -> host.cgroupV1Mounts();
            case NONE -> List.of();
        };
        return roots.stream().map(root -> root.resolve(PARENT).resolve(name)).toList();
    }

    /**
     * The one cgroup that holds a sandbox's processes when its spec asks for no cgroup namespace: in the cgroup2
     * hierarchy where there is one (v2: {@code /sys/fs/cgroup/sandbox/<name>}; hybrid:
     * {@code /sys/fs/cgroup/unified/sandbox/<name>}); on pure v1 in the {@code pids} hierarchy, else the
     * {@code systemd} (name=systemd) one, else the first; none without a cgroupfs.
     */
    public static Optional<Path> tracking(HostFacts host, String name) {
        Optional<Path> root = switch (host.cgroupLayout()) {
            case V2, HYBRID -> host.cgroup2Mount();
            case V1 -> host.cgroupV1Mounts().stream().filter(m -> m.getFileName() != null && m.getFileName().toString().equals("pids"))
                    .findFirst()
                    .or(() -> host.cgroupV1Mounts().stream().filter(m -> m.getFileName() != null
                            && m.getFileName().toString().equals("systemd")).findFirst())
                    .or(() -> host.cgroupV1Mounts().stream().findFirst());
            case NONE -> Optional.empty();
        };
        return root.map(r -> r.resolve(PARENT).resolve(name));
    }

    /**
     * The steps that give a sandbox the cgroups {@code paths}: {@code prepare cgroup-create} for each (before
     * anything starts), {@code identity cgroup-place} for each (the helper moves in before it clones: a new cgroup
     * namespace's root is its creator's cgroup, cgroup_namespaces(7)), {@code supervise cgroup-remove} for each in
     * reverse order (kill what is left, remove it, then the shared parent if it is empty).
     */
    public static List<Step> steps(List<Path> paths) {
        List<Step> out = new ArrayList<>();
        for (Path path : paths) {
            out.add(Step.of(Stage.PREPARE, "cgroup-create").arg("path", path)
                    .summary("create the sandbox's cgroup " + path + " (and the shared " + PARENT + " parent) before anything starts")
                    .syscall("mkdir(\"" + path.getParent() + "\", 0755); mkdir(\"" + path + "\", 0755)").build());
        }
        for (Path path : paths) {
            out.add(Step.of(Stage.IDENTITY, "cgroup-place").arg("path", path)
                    .summary("move the helper into " + path + " before it clones: a new cgroup namespace's root is its creator's cgroup"
                            + " (cgroup_namespaces(7)), so placement must come first")
                    .syscall("write " + path.resolve("cgroup.procs") + " \"<helper>\"").build());
        }
        List<Path> reversed = new ArrayList<>(paths);
        Collections.reverse(reversed);
        for (Path path : reversed) {
            out.add(Step.of(Stage.SUPERVISE, "cgroup-remove").arg("path", path)
                    .summary("remove the sandbox's cgroup: kill what is left in it, remove it, then the " + PARENT + " parent if empty")
                    .syscall("kill(pid, SIGKILL) for each pid in " + path.resolve("cgroup.procs") + "; rmdir(\"" + path + "\"); rmdir(\""
                            + path.getParent() + "\") unless busy")
                    .build());
        }
        return out;
    }
}
