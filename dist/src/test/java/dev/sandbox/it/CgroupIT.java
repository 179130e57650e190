package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The sandbox's cgroup is removed after exit, with whatever the target left running in it; every sandbox of root has one. */
class CgroupIT {

    private SpecDir specs;

    @BeforeEach
    void setUp() {
        assumeTrue(Cli.isRoot(), "creating cgroups needs root");
        assumeTrue(Files.isDirectory(Path.of("/sys/fs/cgroup/unified")) || Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers")),
                "no cgroup2 hierarchy");
        specs = new SpecDir();
    }

    @AfterEach
    void tearDown() {
        if (specs != null) specs.close();
    }

    @Test
    void processesTheTargetLeftBehindAreKilledAndTheCgroupIsRemoved() throws Exception {
        // no pid namespace: nothing else would take the background sleep down with the target
        Path spec = specs.spec("orphans.yaml", """
                namespaces:
                  cgroup: {}
                process:
                  command: [/bin/sh, -c, 'sleep 300 >/dev/null 2>&1 & echo $!']
                """);
        Cli.Result r = Cli.run("up", spec.toString());
        assertEquals(0, r.exit(), r.toString());
        long orphan = Long.parseLong(r.out().strip());
        try {
            Path cgroup = Path.of(Files.isDirectory(Path.of("/sys/fs/cgroup/unified")) ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup",
                    "sandbox", "orphans");
            assertFalse(Files.exists(cgroup), "the cgroup is removed");
            for (int i = 0; i < 100 && ProcessHandle.of(orphan).map(ProcessHandle::isAlive).orElse(false); i++) Thread.sleep(20);
            assertFalse(ProcessHandle.of(orphan).map(ProcessHandle::isAlive).orElse(false), "the orphan " + orphan + " was killed");
        } finally {
            // this process was started by our own sandbox: make sure it is gone even if the test failed
            ProcessHandle.of(orphan).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    @Test
    void withoutACgroupSectionRootsSandboxStillGetsACgroupThatTeardownEmpties() throws Exception {
        // issue 8: only uts, no pid namespace, no cgroup section; before, the sleep outlived `up`
        String name = "plan-cg-" + ProcessHandle.current().pid();
        Path spec = specs.spec("own-cgroup.yaml", """
                name: %s
                namespaces:
                  uts: {}
                process:
                  command: [/bin/sh, -c, 'grep -E "^0::" /proc/self/cgroup; sleep 300 >/dev/null 2>&1 & echo $!']
                """.formatted(name));
        boolean unified = Files.isDirectory(Path.of("/sys/fs/cgroup/unified"));
        Path cgroup = Path.of(unified ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup", "sandbox", name);
        assertEquals(java.util.Optional.of(cgroup), ItHost.plannedCgroup(spec), "the plan creates it");
        Cli.Result r = Cli.run("up", spec.toString());
        long orphan = -1;
        try {
            assertEquals(0, r.exit(), r.toString());
            java.util.List<String> lines = r.out().lines().toList();
            assertEquals("0::/sandbox/" + name, lines.get(0), "the target ran in the sandbox's own cgroup (no cgroup namespace: the host's path)");
            orphan = Long.parseLong(lines.get(1));
            assertFalse(Files.exists(cgroup), "the cgroup is removed");
            for (int i = 0; i < 100 && ProcessHandle.of(orphan).map(ProcessHandle::isAlive).orElse(false); i++) Thread.sleep(20);
            assertFalse(ProcessHandle.of(orphan).map(ProcessHandle::isAlive).orElse(false), "the orphan " + orphan + " was killed");
        } finally {
            if (orphan > 0) ProcessHandle.of(orphan).ifPresent(ProcessHandle::destroyForcibly);
            if (Files.isDirectory(cgroup)) Files.delete(cgroup);
        }
    }
}
