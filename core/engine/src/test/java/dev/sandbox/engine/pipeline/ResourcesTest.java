package dev.sandbox.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Caller;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.HostFacts;
import dev.sandbox.api.Plan;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.engine.plugin.PluginRegistry;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.SpecLoader;
import java.math.BigDecimal;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The {@code resources:} section: units, conversions, the cgroup steps on v1/hybrid/v2 hosts, and the validate diagnostics. */
class ResourcesTest {

    static final Caller ROOT = new Caller(0, 0, "root");
    static final Caller ALICE = new Caller(1000, 1000, "alice");

    record Host(CgroupLayout cgroupLayout, Optional<Path> cgroup2Mount, List<Path> cgroupV1Mounts, Map<String, Path> cgroupV1Controllers,
                Set<String> cgroup2Controllers, boolean swapAccounting) implements HostFacts {
        @Override public List<long[]> subuids() { return List.of(); }
        @Override public List<long[]> subgids() { return List.of(); }
        @Override public OptionalLong cpuCount() { return OptionalLong.of(2); }
    }

    /** This machine: v1 controllers, a cgroup2 mount at /sys/fs/cgroup/unified with none. */
    static final Host HYBRID = new Host(HostFacts.CgroupLayout.HYBRID, Optional.of(Path.of("/sys/fs/cgroup/unified")),
            List.of(Path.of("/sys/fs/cgroup/memory"), Path.of("/sys/fs/cgroup/pids"), Path.of("/sys/fs/cgroup/cpu")),
            Map.of("memory", Path.of("/sys/fs/cgroup/memory"), "pids", Path.of("/sys/fs/cgroup/pids"), "cpu", Path.of("/sys/fs/cgroup/cpu")),
            Set.of(), true);
    static final Host V2 = new Host(HostFacts.CgroupLayout.V2, Optional.of(Path.of("/sys/fs/cgroup")), List.of(), Map.of(),
            Set.of("cpuset", "cpu", "io", "memory", "pids"), true);
    /** Hybrid with only pids on v1 and memory offered by the unified hierarchy; no cpu anywhere, no swap accounting. */
    static final Host MIXED = new Host(HostFacts.CgroupLayout.HYBRID, Optional.of(Path.of("/sys/fs/cgroup/unified")),
            List.of(Path.of("/sys/fs/cgroup/pids")), Map.of("pids", Path.of("/sys/fs/cgroup/pids")), Set.of("memory"), false);

    @TempDir Path dir;

    record AnySection(String id) implements dev.sandbox.api.NamespacePlugin {
        @Override public String schemaFragment() { return "{\"type\": \"object\"}"; }
        @Override public void validate(dev.sandbox.api.SectionContext context) {}
        @Override public void contribute(dev.sandbox.api.PlanContext context) {}
    }

    private LoadedSpec spec(String body) throws Exception {
        Path file = dir.resolve("spec.yaml");
        Files.writeString(file, "apiVersion: sandbox/v1\nkind: Sandbox\nname: t\nprocess:\n  command: [/bin/true]\n" + body);
        return new SpecLoader().load(file);
    }

    private static Pipeline pipeline(Caller caller, Host host) {
        return new Pipeline(PluginRegistry.of(List.of(new AnySection("user"), new AnySection("mount"))), host, caller, Map.of());
    }

    private List<String> codes(Caller caller, Host host, String body) throws Exception {
        return pipeline(caller, host).validate(spec(body)).stream()
                .map(d -> (d.isError() ? "error " : "warning ") + d.location().line() + ":" + d.location().column() + " " + d.code()).toList();
    }

    private Plan plan(Host host, String body) throws Exception {
        LoadedSpec spec = spec(body);
        Pipeline p = pipeline(ROOT, host);
        assertEquals(List.of(), p.validate(spec).stream().filter(Diagnostic::isError).map(Diagnostic::format).toList());
        List<Diagnostic> problems = new ArrayList<>();
        Plan plan = p.compile(spec, dir.resolve("run"), Pipeline.RunOptions.none(), problems);
        assertEquals(List.of(), problems);
        return plan;
    }

    /**
     * The cgroup-set steps ("prepare cgroup-set path file=value") in plan order, after checking that each cgroup dir the
     * resources need is created before its first write, placed, and removed. (Other cgroup dirs may be in the plan too:
     * the cgroup plugin's, or the one every root sandbox gets.)
     */
    private static List<String> sets(Plan plan, String... dirs) {
        List<String> all = cgroupSteps(plan);
        for (String dir : dirs) {
            int create = all.indexOf("prepare cgroup-create " + dir);
            assertTrue(create >= 0, "no cgroup-create of " + dir + ": " + all);
            for (int i = 0; i < all.size(); i++) {
                if (all.get(i).startsWith("prepare cgroup-set " + dir + " ")) assertTrue(i > create, "written before created: " + all);
            }
            assertTrue(all.contains("identity cgroup-place " + dir), "not placed: " + dir + " " + all);
            assertTrue(all.contains("supervise cgroup-remove " + dir), "not removed: " + dir + " " + all);
            assertEquals(1, all.stream().filter(l -> l.equals("prepare cgroup-create " + dir)).count(), "created twice: " + all);
        }
        return all.stream().filter(l -> l.startsWith("prepare cgroup-set ")).toList();
    }

    /** "stage op path [file=value]" per cgroup step. */
    private static List<String> cgroupSteps(Plan plan) {
        return plan.steps().stream().filter(s -> s.op().startsWith("cgroup-")).map(s -> s.stage().wireName() + " " + s.op() + " "
                + s.arg("path").orElseThrow() + s.arg("file").map(f -> " " + f + "=" + s.arg("value").orElseThrow()).orElse("")).toList();
    }

    @Test
    void memoryUnitsAreDockersBinarySuffixes() {
        assertEquals(OptionalLong.of(64L << 20), ResourcesSection.parseBytes("64M"));
        assertEquals(OptionalLong.of(64L << 20), ResourcesSection.parseBytes("64m"));
        assertEquals(OptionalLong.of(2L << 30), ResourcesSection.parseBytes("2G"));
        assertEquals(OptionalLong.of(2L << 30), ResourcesSection.parseBytes("2GiB"));
        assertEquals(OptionalLong.of(2L << 30), ResourcesSection.parseBytes("2gb"));
        assertEquals(OptionalLong.of(512L << 10), ResourcesSection.parseBytes("512k"));
        assertEquals(OptionalLong.of(3L << 29), ResourcesSection.parseBytes("1.5G"));
        assertEquals(OptionalLong.of(1L << 40), ResourcesSection.parseBytes("1T"));
        assertEquals(OptionalLong.of(1000), ResourcesSection.parseBytes("1000"));
        assertEquals(OptionalLong.of(1000), ResourcesSection.parseBytes("1000b"));
        assertEquals(OptionalLong.of(1), ResourcesSection.parseBytes("1.9")); // whole bytes, rounded down
        assertEquals(OptionalLong.empty(), ResourcesSection.parseBytes("2X"));
        assertEquals(OptionalLong.empty(), ResourcesSection.parseBytes("-1G"));
        assertEquals(OptionalLong.empty(), ResourcesSection.parseBytes("9000P")); // beyond a long
        assertEquals("2G", ResourcesSection.human(2L << 30));
        assertEquals("64M", ResourcesSection.human(64L << 20));
        assertEquals("1536M", ResourcesSection.human(3L << 29));
        assertEquals("1000", ResourcesSection.human(1000));
    }

    @Test
    void cpuWeightBecomesSharesAsSystemdAndCrunConvertAndCpusAQuota() {
        // shares = weight * 1024 / 100 clamped to [2, 262144] (systemd cgroup_cpu_weight_to_shares; crun#1721)
        assertEquals(1024, ResourcesSection.sharesFromWeight(100));
        assertEquals(10, ResourcesSection.sharesFromWeight(1));
        assertEquals(2048, ResourcesSection.sharesFromWeight(200));
        assertEquals(102400, ResourcesSection.sharesFromWeight(10000));
        assertEquals(50000, ResourcesSection.quotaUs(new BigDecimal("0.5")));
        assertEquals(150000, ResourcesSection.quotaUs(new BigDecimal("1.5")));
        assertEquals(1000, ResourcesSection.quotaUs(new BigDecimal("0.01")));
    }

    @Test
    void hybridUsesTheV1HierarchiesOneCgroupEachDockersSwapMeaning() throws Exception {
        Plan plan = plan(HYBRID, "resources: {memory: 64M, memorySwap: 96M, pids: 32, cpus: 0.5, cpuWeight: 200}\n");
        assertEquals(List.of(
                "prepare cgroup-set /sys/fs/cgroup/memory/sandbox/t memory.limit_in_bytes=67108864",
                "prepare cgroup-set /sys/fs/cgroup/memory/sandbox/t memory.memsw.limit_in_bytes=100663296",
                "prepare cgroup-set /sys/fs/cgroup/pids/sandbox/t pids.max=32",
                "prepare cgroup-set /sys/fs/cgroup/cpu/sandbox/t cpu.cfs_period_us=100000",
                "prepare cgroup-set /sys/fs/cgroup/cpu/sandbox/t cpu.cfs_quota_us=50000",
                "prepare cgroup-set /sys/fs/cgroup/cpu/sandbox/t cpu.shares=2048"),
                sets(plan, "/sys/fs/cgroup/memory/sandbox/t", "/sys/fs/cgroup/pids/sandbox/t", "/sys/fs/cgroup/cpu/sandbox/t"));
        Step set = plan.ops("cgroup-set").get(0);
        assertEquals("engine", set.plugin());
        assertEquals("write /sys/fs/cgroup/memory/sandbox/t/memory.limit_in_bytes \"67108864\"", set.syscall());
    }

    @Test
    void withoutMemorySwapThereIsAsMuchSwapAsMemoryAsDockerDoesAndMinus1IsUnlimited() throws Exception {
        assertTrue(sets(plan(HYBRID, "resources: {memory: 1G}\n"), "/sys/fs/cgroup/memory/sandbox/t")
                .contains("prepare cgroup-set /sys/fs/cgroup/memory/sandbox/t memory.memsw.limit_in_bytes=2147483648"));
        assertTrue(cgroupSteps(plan(HYBRID, "resources: {memory: 1G, memorySwap: -1}\n"))
                .contains("prepare cgroup-set /sys/fs/cgroup/memory/sandbox/t memory.memsw.limit_in_bytes=-1"));
        assertTrue(cgroupSteps(plan(V2, "resources: {memory: 1G, memorySwap: unlimited}\n"))
                .contains("prepare cgroup-set /sys/fs/cgroup/sandbox/t memory.swap.max=max"));
    }

    @Test
    void v2EnablesTheControllersInBothParentsThenWritesV2Names() throws Exception {
        Plan plan = plan(V2, "resources: {memory: 2G, memorySwap: 3G, pids: 512, cpus: 1.5, cpuWeight: 50}\n");
        assertEquals(List.of(
                "prepare cgroup-set /sys/fs/cgroup cgroup.subtree_control=+memory +pids +cpu",
                "prepare cgroup-set /sys/fs/cgroup/sandbox cgroup.subtree_control=+memory +pids +cpu",
                "prepare cgroup-set /sys/fs/cgroup/sandbox/t memory.max=2147483648",
                "prepare cgroup-set /sys/fs/cgroup/sandbox/t memory.swap.max=1073741824",
                "prepare cgroup-set /sys/fs/cgroup/sandbox/t pids.max=512",
                "prepare cgroup-set /sys/fs/cgroup/sandbox/t cpu.max=150000 100000",
                "prepare cgroup-set /sys/fs/cgroup/sandbox/t cpu.weight=50"), sets(plan, "/sys/fs/cgroup/sandbox/t"));
    }

    @Test
    void aCgroupDirTheCgroupPluginAlsoWantsAppearsOnce() {
        Step a = Step.of(Stage.PREPARE, "cgroup-create").arg("path", "/sys/fs/cgroup/sandbox/t").build().withPlugin("cgroup");
        Step b = Step.of(Stage.PREPARE, "cgroup-create").arg("path", "/sys/fs/cgroup/sandbox/t").build().withPlugin("engine");
        Step c = Step.of(Stage.PREPARE, "cgroup-create").arg("path", "/sys/fs/cgroup/memory/sandbox/t").build().withPlugin("engine");
        Step set = Step.of(Stage.PREPARE, "cgroup-set").arg("path", "/sys/fs/cgroup/sandbox/t").arg("file", "pids.max").arg("value", "1").build();
        assertEquals(List.of(a, c, set, set), Pipeline.withoutDuplicateCgroups(List.of(a, b, c, set, set)));
    }

    @Test
    void aControllerTheHostLacksIsAWarningAtItsKeyOrAnErrorWhenRequired() throws Exception {
        String body = "resources:\n  memory: 64M\n  pids: 32\n  cpus: 0.5\n  cpuWeight: 10\n";
        assertEquals(List.of("warning 9:3 resources.controller-unavailable", "warning 10:3 resources.controller-unavailable"),
                codes(ROOT, MIXED, body));
        assertEquals(List.of("error 9:3 resources.controller-unavailable", "error 10:3 resources.controller-unavailable"),
                codes(ROOT, MIXED, body + "  required: true\n"));
        // memory from the unified hierarchy, pids from v1, no cpu steps
        Plan plan = plan(MIXED, body);
        assertEquals(List.of(
                "prepare cgroup-set /sys/fs/cgroup/unified cgroup.subtree_control=+memory",
                "prepare cgroup-set /sys/fs/cgroup/unified/sandbox cgroup.subtree_control=+memory",
                "prepare cgroup-set /sys/fs/cgroup/unified/sandbox/t memory.max=67108864",
                "prepare cgroup-set /sys/fs/cgroup/pids/sandbox/t pids.max=32"),
                sets(plan, "/sys/fs/cgroup/unified/sandbox/t", "/sys/fs/cgroup/pids/sandbox/t"));
        assertTrue(cgroupSteps(plan).stream().noneMatch(l -> l.contains("/cpu")), cgroupSteps(plan).toString());
    }

    @Test
    void swapWithoutSwapAccountingIsAWarning() throws Exception {
        assertEquals(List.of("warning 8:3 resources.swap-unavailable"), codes(ROOT, MIXED, "resources:\n  memory: 64M\n  memorySwap: 128M\n"));
    }

    @Test
    void rootlessIsAWarningAtTheSectionAndNoStepsOrAnErrorWhenRequired() throws Exception {
        assertEquals(List.of("warning 6:1 resources.not-delegated"), codes(ALICE, HYBRID, "resources:\n  memory: 64M\n"));
        assertEquals(List.of("error 6:1 resources.not-delegated"), codes(ALICE, HYBRID, "resources:\n  memory: 64M\n  required: true\n"));
        assertEquals(List.of(), ResourcesSection.steps(spec("resources:\n  memory: 64M\n").root(), ALICE, HYBRID));
    }

    @Test
    void dockersRulesMemorySwapNeedsMemoryAndIsNotBelowItMemoryAtLeast6MCpusAtMostTheHost() throws Exception {
        assertEquals(List.of("error 7:3 resources.swap-without-memory"), codes(ROOT, HYBRID, "resources:\n  memorySwap: 1G\n"));
        assertEquals(List.of("error 8:3 resources.swap-below-memory"), codes(ROOT, HYBRID, "resources:\n  memory: 1G\n  memorySwap: 512M\n"));
        assertEquals(List.of("error 7:3 resources.memory-too-low"), codes(ROOT, HYBRID, "resources:\n  memory: 1M\n"));
        assertEquals(List.of("error 7:3 resources.cpus-too-low"), codes(ROOT, HYBRID, "resources:\n  cpus: 0.001\n"));
        assertEquals(List.of("warning 7:3 resources.cpus-above-host"), codes(ROOT, HYBRID, "resources:\n  cpus: 4\n"));
        assertEquals(List.of(), codes(ROOT, HYBRID, "resources:\n  memory: 1G\n  memorySwap: 1G\n  cpus: 2\n"));
    }

    @Test
    void theSchemaRefusesBadUnitsAndOutOfRangeValuesAtTheKey() throws Exception {
        assertEquals(List.of("error 7:11 schema.pattern"), codes(ROOT, HYBRID, "resources:\n  memory: 2X\n"));
        assertEquals(List.of("error 7:14 schema.maximum"), codes(ROOT, HYBRID, "resources:\n  cpuWeight: 10001\n"));
        assertEquals(List.of("error 7:9 schema.minimum"), codes(ROOT, HYBRID, "resources:\n  pids: 0\n"));
        assertEquals(List.of("error 7:3 schema.unknown-key"), codes(ROOT, HYBRID, "resources:\n  memroy: 1G\n"));
    }
}
