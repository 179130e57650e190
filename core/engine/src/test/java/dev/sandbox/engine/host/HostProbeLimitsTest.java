package dev.sandbox.engine.host;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The caller's hard limits and CAP_SYS_RESOURCE, as /proc shows them (process.rlimits is checked against them). */
class HostProbeLimitsTest {

    @Test
    void hardLimitsAreTheThirdColumnOfProcSelfLimitsByTheSetrlimitNames(@TempDir Path dir) throws Exception {
        Path limits = dir.resolve("limits");
        Files.writeString(limits, """
                Limit                     Soft Limit           Hard Limit           Units    \s
                Max cpu time              unlimited            unlimited            seconds  \s
                Max core file size        0                    unlimited            bytes    \s
                Max processes             62793                62793                processes\s
                Max open files            1048576              1048576              files    \s
                Max realtime timeout      unlimited            unlimited            us       \s
                """);
        assertEquals(Map.of("cpu", -1L, "core", -1L, "nproc", 62793L, "nofile", 1048576L, "rttime", -1L), HostProbe.hardLimits(limits));
        assertEquals(Map.of(), HostProbe.hardLimits(dir.resolve("missing")));
    }

    @Test
    void theRealOnesOfThisProcessAreRead() {
        Map<String, Long> mine = HostProbe.hardLimits(Path.of("/proc/self/limits"));
        assertEquals(16, mine.size(), mine.toString());
        assertTrue(mine.get("nofile") > 0, mine.toString());
    }

    @Test
    void capSysResourceIsBit24OfCapEffInTheInitialUserNamespaceOnly(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("uid_map"), "         0          0 4294967295\n");
        Files.writeString(dir.resolve("status"), "Name:\tjava\nCapEff:\t000001ffffffffff\n");
        assertTrue(HostProbe.capSysResource(dir));
        Files.writeString(dir.resolve("status"), "Name:\tjava\nCapEff:\t000001fffeffffff\n"); // this CI VM's root
        assertFalse(HostProbe.capSysResource(dir));
        Files.writeString(dir.resolve("status"), "Name:\tjava\nCapEff:\t000001ffffffffff\n");
        Files.writeString(dir.resolve("uid_map"), "         0     100000      65536\n"); // in a container's user namespace
        assertFalse(HostProbe.capSysResource(dir));
    }
}
