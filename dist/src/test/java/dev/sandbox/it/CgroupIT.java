package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The sandbox's cgroup is removed after exit, with whatever the target left running in it. */
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
}
