package dev.sandbox.engine.inspect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.engine.pipeline.ResourcesSection;
import dev.sandbox.engine.runtime.PlanText;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The limits mapped back to the spec's keys, and usage read from files laid out as cgroupfs shows them (temp dirs). */
class CgroupResourcesTest {

    @TempDir Path tmp;

    private static Step create(Path p) {
        return Step.of(Stage.PREPARE, "cgroup-create").arg("path", p).summary("create").build();
    }

    private static Step set(Path p, String file, String value) {
        return Step.of(Stage.PREPARE, "cgroup-set").arg("path", p).arg("file", file).arg("value", value).summary("set").build();
    }

    private static PlanText plan(List<Step> steps) {
        return new PlanText(List.of(new Step.Arg("path", "/run/sandbox/x")), steps);
    }

    @Test
    void v1LimitsAreTheSpecsKeysWithTheirFiles() {
        Path mem = tmp.resolve("memory"), pids = tmp.resolve("pids"), cpu = tmp.resolve("cpu");
        ObjectNode r = CgroupResources.of(plan(List.of(create(tmp.resolve("unified")), create(mem), create(pids), create(cpu),
                set(mem, "memory.limit_in_bytes", "67108864"), set(mem, "memory.memsw.limit_in_bytes", "134217728"),
                set(pids, "pids.max", "32"), set(cpu, "cpu.cfs_period_us", "100000"), set(cpu, "cpu.cfs_quota_us", "150000"),
                set(cpu, "cpu.shares", "2048"))), false).orElseThrow();
        JsonNode l = r.path("limits");
        assertEquals(67108864, l.path("memory").path("value").asLong(), r::toString);
        assertEquals("64M", l.path("memory").path("human").asText(), r::toString);
        assertEquals(mem.toString(), l.path("memory").path("cgroup").asText(), r::toString);
        assertEquals("67108864", l.path("memory").path("files").path("memory.limit_in_bytes").asText(), r::toString);
        assertEquals("128M", l.path("memorySwap").path("human").asText(), r::toString);
        assertEquals(32, l.path("pids").path("value").asLong(), r::toString);
        assertEquals("1.5", l.path("cpus").path("value").decimalValue().toPlainString(), r::toString);
        assertEquals("100000", l.path("cpus").path("files").path("cpu.cfs_period_us").asText(), r::toString);
        assertEquals(200, l.path("cpuWeight").path("value").asLong(), r::toString);
        assertTrue(r.path("usage").isNull(), "no usage for a sandbox that is not running: " + r);
    }

    @Test
    void v2LimitsMapSwapBackToMemoryPlusSwap() {
        Path d = tmp.resolve("sb");
        ObjectNode r = CgroupResources.of(plan(List.of(create(d), set(tmp, "cgroup.subtree_control", "+memory +pids +cpu"),
                set(d, "memory.max", "1073741824"), set(d, "memory.swap.max", "536870912"), set(d, "pids.max", "100"),
                set(d, "cpu.max", "50000 100000"), set(d, "cpu.weight", "300"))), false).orElseThrow();
        JsonNode l = r.path("limits");
        assertEquals("1G", l.path("memory").path("human").asText(), r::toString);
        assertEquals("1536M", l.path("memorySwap").path("human").asText(), r::toString);
        assertEquals("0.5", l.path("cpus").path("value").decimalValue().toPlainString(), r::toString);
        assertEquals(300, l.path("cpuWeight").path("value").asLong(), r::toString);
        assertFalse(l.has("cgroup.subtree_control"), r::toString);
        ObjectNode max = CgroupResources.of(plan(List.of(create(d), set(d, "memory.swap.max", "max"))), false).orElseThrow();
        assertEquals(-1, max.path("limits").path("memorySwap").path("value").asLong(), max::toString);
        assertEquals("unlimited", max.path("limits").path("memorySwap").path("human").asText(), max::toString);
    }

    @Test
    void weightFromSharesInvertsSharesFromWeight() {
        for (long w = 1; w <= 10_000; w++) {
            assertEquals(w, CgroupResources.weightFromShares(ResourcesSection.sharesFromWeight(w)), "weight " + w);
        }
    }

    @Test
    void noCgroupIsNullAndATrackingCgroupAloneHasNoLimits() {
        assertTrue(CgroupResources.of(plan(List.of()), true).isEmpty());
        ObjectNode r = CgroupResources.of(plan(List.of(create(tmp.resolve("none")))), true).orElseThrow();
        assertEquals(0, r.path("limits").size(), r::toString);
        assertEquals(0, r.path("usage").size(), "no file to read: " + r);
    }

    @Test
    void usageOfV1HierarchiesAndTheCgroup2TrackingCgroup() throws IOException {
        Path unified = dir("unified", "cgroup.controllers", "", "cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n");
        Path mem = dir("memory", "memory.usage_in_bytes", "4096\n", "memory.max_usage_in_bytes", "8192\n",
                "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
        Path pids = dir("pids", "pids.current", "3\n");
        Path cpu = dir("cpu", "cpu.stat", "nr_periods 10\nnr_throttled 4\nthrottled_time 7000000\n");
        JsonNode u = CgroupResources.usage(List.of(unified, mem, pids, cpu));
        assertEquals(4096, u.path("memory").path("current").asLong(), u::toString);
        assertEquals(8192, u.path("memory").path("peak").asLong(), u::toString);
        assertEquals(2, u.path("memory").path("oomKills").asLong(), u::toString);
        assertEquals(3, u.path("pids").path("current").asLong(), u::toString);
        assertEquals(2500, u.path("cpu").path("usageUsec").asLong(), u::toString);
        assertEquals(unified.toString(), u.path("cpu").path("cgroup").asText(), u::toString);
        assertEquals(4, u.path("cpu").path("throttling").path("throttledPeriods").asLong(), u::toString);
        assertEquals(7000, u.path("cpu").path("throttling").path("throttledUsec").asLong(), u::toString);
    }

    @Test
    void usageOfV1CpuacctAndOfV2() throws IOException {
        Path acct = dir("cpuacct", "cpuacct.usage", "123456789\n");
        JsonNode u1 = CgroupResources.usage(List.of(acct));
        assertEquals(123456, u1.path("cpu").path("usageUsec").asLong(), u1::toString);
        Path v2 = dir("v2", "cgroup.controllers", "memory pids cpu\n", "memory.current", "1000\n", "memory.peak", "2000\n",
                "memory.events", "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n", "pids.current", "1\n",
                "cpu.stat", "usage_usec 10\nnr_periods 2\nnr_throttled 1\nthrottled_usec 30\n");
        JsonNode u2 = CgroupResources.usage(List.of(v2));
        assertEquals(1000, u2.path("memory").path("current").asLong(), u2::toString);
        assertEquals(2000, u2.path("memory").path("peak").asLong(), u2::toString);
        assertEquals(1, u2.path("memory").path("oomKills").asLong(), u2::toString);
        assertEquals(10, u2.path("cpu").path("usageUsec").asLong(), u2::toString);
        assertEquals(30, u2.path("cpu").path("throttling").path("throttledUsec").asLong(), u2::toString);
    }

    private Path dir(String name, String... fileAndText) throws IOException {
        Path d = Files.createDirectories(tmp.resolve(name));
        List<String> pairs = new ArrayList<>(List.of(fileAndText));
        for (int i = 0; i < pairs.size(); i += 2) Files.writeString(d.resolve(pairs.get(i)), pairs.get(i + 1));
        return d;
    }
}
