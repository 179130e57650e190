package dev.sandbox.plugins.cgroup;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.HostFacts.CgroupLayout;
import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;
import dev.sandbox.api.Severity;
import dev.sandbox.api.Step;
import dev.sandbox.testkit.FakeHost;
import dev.sandbox.testkit.PluginHarness;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class CgroupNamespacePluginTest {

    /** Stands in for the user plugin: a rootless caller needs a user section to create other namespaces. */
    private static final class StubUser implements NamespacePlugin {
        @Override public String id() { return "user"; }
        @Override public String schemaFragment() { return "{\"type\": \"object\"}"; }
        @Override public void validate(SectionContext context) { }
        @Override public void contribute(PlanContext context) { }
    }

    private static final String SPEC = """
            name: web
            namespaces:
              cgroup: {}
            """;

    /** stage op path of every cgroup step, in plan order. */
    private static List<String> cgroupSteps(PluginHarness h) {
        return h.steps().stream().filter(s -> s.op().startsWith("cgroup-"))
                .map(s -> s.stage().wireName() + " " + s.op() + " " + s.arg("path").orElseThrow()).toList();
    }

    @Test
    void hybridHostUsesTheUnifiedHierarchy() {
        var h = PluginHarness.with(new CgroupNamespacePlugin()).host(FakeHost.hybrid()).spec(SPEC);
        assertEquals(List.of(), h.errors());
        assertEquals(List.of(
                "prepare cgroup-create /sys/fs/cgroup/unified/sandbox/web",
                "identity cgroup-place /sys/fs/cgroup/unified/sandbox/web",
                "supervise cgroup-remove /sys/fs/cgroup/unified/sandbox/web"), cgroupSteps(h));
        Step place = h.first("cgroup-place").orElseThrow();
        assertEquals("write /sys/fs/cgroup/unified/sandbox/web/cgroup.procs \"<helper>\"", place.syscall());
        assertTrue(place.summary().contains("cgroup_namespaces(7)"), place.summary());
        assertEquals("CLONE_NEWCGROUP", h.first("clone").orElseThrow().arg("flags").orElseThrow());
    }

    @Test
    void v2HostUsesTheCgroup2Mount() {
        var h = PluginHarness.with(new CgroupNamespacePlugin()).host(FakeHost.v2()).spec(SPEC);
        assertEquals(List.of(
                "prepare cgroup-create /sys/fs/cgroup/sandbox/web",
                "identity cgroup-place /sys/fs/cgroup/sandbox/web",
                "supervise cgroup-remove /sys/fs/cgroup/sandbox/web"), cgroupSteps(h));
        assertEquals("mkdir(\"/sys/fs/cgroup/sandbox\", 0755); mkdir(\"/sys/fs/cgroup/sandbox/web\", 0755)",
                h.first("cgroup-create").orElseThrow().syscall());
    }

    @Test
    void v1HostGetsOneCgroupPerHierarchyRemovedInReverse() {
        var h = PluginHarness.with(new CgroupNamespacePlugin()).host(FakeHost.v1()).spec(SPEC);
        assertEquals(List.of(
                "prepare cgroup-create /sys/fs/cgroup/pids/sandbox/web",
                "prepare cgroup-create /sys/fs/cgroup/systemd/sandbox/web",
                "identity cgroup-place /sys/fs/cgroup/pids/sandbox/web",
                "identity cgroup-place /sys/fs/cgroup/systemd/sandbox/web",
                "supervise cgroup-remove /sys/fs/cgroup/systemd/sandbox/web",
                "supervise cgroup-remove /sys/fs/cgroup/pids/sandbox/web"), cgroupSteps(h));
    }

    @Test
    void noCgroupfsIsALocatedError() {
        var none = new FakeHost(CgroupLayout.NONE, Optional.empty(), List.of(), List.of(), List.of());
        var h = PluginHarness.with(new CgroupNamespacePlugin()).host(none).spec(SPEC);
        assertEquals(List.of("5:11 cgroup.no-cgroupfs"), h.errorCodes());
        assertTrue(h.errors().get(0).hint().contains("mount -t cgroup2"), h.errors().get(0).hint());
    }

    @Test
    void rootlessCallerIsWarnedAndGetsOnlyTheNamespace() {
        var h = PluginHarness.with(new CgroupNamespacePlugin(), new StubUser()).caller(PluginHarness.ALICE).spec("""
                name: web
                namespaces:
                  user: {}
                  cgroup: {}
                """);
        List<Diagnostic> all = h.diagnostics();
        assertEquals(1, all.size(), all.toString());
        Diagnostic warning = all.get(0);
        assertEquals(Severity.WARNING, warning.severity());
        assertEquals("cgroup.not-delegated", warning.code());
        assertEquals("6:11", warning.location().line() + ":" + warning.location().column());
        assertEquals(List.of(), cgroupSteps(h));
        assertEquals("CLONE_NEWCGROUP", h.first("clone").orElseThrow().arg("flags").orElseThrow());
    }

    @Test
    void unknownKeyIsASchemaError() {
        var h = PluginHarness.with(new CgroupNamespacePlugin()).spec("""
                namespaces:
                  cgroup: {memory: 1G}
                """);
        assertEquals(List.of("5:12 schema.unknown-key"), h.errorCodes());
    }

    // --------------------------------------------------- every sandbox of root gets a cgroup (issue 8), without the section too

    private static final String NO_SECTION = """
            name: web
            namespaces:
              uts: {}
            """;

    /** Stands in for the uts plugin: a section whose plugin gives no cgroup steps. */
    private static final class StubUts implements NamespacePlugin {
        @Override public String id() { return "uts"; }
        @Override public String schemaFragment() { return "{\"type\": \"object\"}"; }
        @Override public void validate(SectionContext context) { }
        @Override public void contribute(PlanContext context) { }
    }

    private static PluginHarness withoutSection(dev.sandbox.api.HostFacts host) {
        return PluginHarness.with(new CgroupNamespacePlugin(), new StubUts()).host(host).spec(NO_SECTION);
    }

    @Test
    void rootWithoutACgroupSectionGetsTheEnginesCgroupInTheCgroup2Hierarchy() {
        var h = withoutSection(FakeHost.hybrid());
        assertEquals(List.of(), h.errors());
        assertEquals(List.of(
                "prepare cgroup-create /sys/fs/cgroup/unified/sandbox/web",
                "identity cgroup-place /sys/fs/cgroup/unified/sandbox/web",
                "supervise cgroup-remove /sys/fs/cgroup/unified/sandbox/web"), cgroupSteps(h));
        assertTrue(h.steps().stream().filter(s -> s.op().startsWith("cgroup-")).allMatch(s -> s.plugin().equals("engine")), h.steps().toString());
        assertEquals("", h.first("clone").orElseThrow().arg("flags").orElseThrow().replace("CLONE_NEWUTS", ""), "no cgroup namespace");
        assertEquals(List.of("prepare cgroup-create /sys/fs/cgroup/sandbox/web", "identity cgroup-place /sys/fs/cgroup/sandbox/web",
                "supervise cgroup-remove /sys/fs/cgroup/sandbox/web"), cgroupSteps(withoutSection(FakeHost.v2())));
    }

    @Test
    void onPureV1TheEnginesCgroupIsInThePidsHierarchyElseNameSystemd() {
        assertEquals(List.of("prepare cgroup-create /sys/fs/cgroup/pids/sandbox/web", "identity cgroup-place /sys/fs/cgroup/pids/sandbox/web",
                "supervise cgroup-remove /sys/fs/cgroup/pids/sandbox/web"), cgroupSteps(withoutSection(FakeHost.v1())));
        var systemdOnly = new FakeHost(CgroupLayout.V1, Optional.empty(),
                List.of(java.nio.file.Path.of("/sys/fs/cgroup/memory"), java.nio.file.Path.of("/sys/fs/cgroup/systemd")), List.of(), List.of());
        assertEquals(List.of("prepare cgroup-create /sys/fs/cgroup/systemd/sandbox/web",
                "identity cgroup-place /sys/fs/cgroup/systemd/sandbox/web",
                "supervise cgroup-remove /sys/fs/cgroup/systemd/sandbox/web"), cgroupSteps(withoutSection(systemdOnly)));
    }

    @Test
    void withTheSectionThePluginsStepsAreTheOnlyOnes() {
        var h = PluginHarness.with(new CgroupNamespacePlugin()).host(FakeHost.v1()).spec(SPEC);
        assertEquals(2, h.steps("cgroup-create").size(), "one per v1 hierarchy, none added by the engine");
        assertTrue(h.steps().stream().filter(s -> s.op().startsWith("cgroup-")).allMatch(s -> s.plugin().equals("cgroup")));
    }

    @Test
    void rootlessNoCgroupfsOrAHierarchyRootCantWriteGetNoCgroupSteps() {
        var rootless = PluginHarness.with(new CgroupNamespacePlugin(), new StubUts(), new StubUser()).caller(PluginHarness.ALICE)
                .spec("name: web\nnamespaces:\n  user: {}\n  uts: {}\n");
        assertEquals(List.of(), rootless.errors());
        assertEquals(List.of(), cgroupSteps(rootless), "rootless: the monitor is a subreaper instead");
        var none = new FakeHost(CgroupLayout.NONE, Optional.empty(), List.of(), List.of(), List.of());
        assertEquals(List.of(), cgroupSteps(withoutSection(none)));
        dev.sandbox.api.HostFacts readOnly = new dev.sandbox.api.HostFacts() {
            @Override public CgroupLayout cgroupLayout() { return CgroupLayout.HYBRID; }
            @Override public Optional<java.nio.file.Path> cgroup2Mount() { return FakeHost.hybrid().cgroup2Mount(); }
            @Override public List<java.nio.file.Path> cgroupV1Mounts() { return FakeHost.hybrid().cgroupV1Mounts(); }
            @Override public List<long[]> subuids() { return List.of(); }
            @Override public List<long[]> subgids() { return List.of(); }
            @Override public boolean canCreateCgroupUnder(java.nio.file.Path hierarchy) { return false; }
        };
        assertEquals(List.of(), cgroupSteps(withoutSection(readOnly)), "root of a user namespace, a read-only cgroupfs");
    }
}
