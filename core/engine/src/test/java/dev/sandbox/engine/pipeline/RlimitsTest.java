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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code process.rlimits}: the setrlimit steps, where they go, and the kernel's rules checked at validate time. */
class RlimitsTest {

    static final Caller ROOT = new Caller(0, 0, "root");
    static final Caller ALICE = new Caller(1000, 1000, "alice");

    /** A host whose caller has nofile hard 4096, core hard unlimited, nproc hard 1000; fs.nr_open 1048576. */
    record Host(CgroupLayout cgroupLayout, Optional<Path> cgroup2Mount, List<Path> cgroupV1Mounts, List<long[]> subuids,
                List<long[]> subgids, boolean capSysResource) implements HostFacts {
        @Override public OptionalLong hardLimit(String name) {
            Long v = Map.of("nofile", 4096L, "core", -1L, "nproc", 1000L).get(name);
            return v == null ? OptionalLong.empty() : OptionalLong.of(v);
        }

        @Override public OptionalLong nrOpen() {
            return OptionalLong.of(1048576);
        }
    }

    static final Host HOST = new Host(HostFacts.CgroupLayout.V2, Optional.of(Path.of("/sys/fs/cgroup")), List.of(), List.of(), List.of(), true);
    /** A host that withholds CAP_SYS_RESOURCE from root (this project's CI VM does: its bounding set lacks it). */
    static final Host NO_CAP = new Host(HostFacts.CgroupLayout.V2, Optional.of(Path.of("/sys/fs/cgroup")), List.of(), List.of(), List.of(), false);

    @TempDir Path dir;

    record AnySection(String id) implements dev.sandbox.api.NamespacePlugin {
        @Override public String schemaFragment() { return "{\"type\": \"object\"}"; }
        @Override public void validate(dev.sandbox.api.SectionContext context) {}
        @Override public void contribute(dev.sandbox.api.PlanContext context) {}
    }

    private LoadedSpec spec(String body) throws Exception {
        Path file = dir.resolve("spec.yaml");
        Files.writeString(file, "apiVersion: sandbox/v1\nkind: Sandbox\nname: t\n" + body);
        return new SpecLoader().load(file);
    }

    private static Pipeline pipeline(Caller caller) {
        return pipeline(caller, HOST);
    }

    private static Pipeline pipeline(Caller caller, Host host) {
        return new Pipeline(PluginRegistry.of(List.of(new AnySection("user"), new AnySection("mount"))), host, caller, Map.of());
    }

    private List<String> codes(Caller caller, String body) throws Exception {
        return codes(caller, HOST, body);
    }

    private List<String> codes(Caller caller, Host host, String body) throws Exception {
        return pipeline(caller, host).validate(spec(body)).stream()
                .map(d -> (d.isError() ? "error " : "warning ") + d.location().line() + ":" + d.location().column() + " " + d.code()).toList();
    }

    private Plan plan(Caller caller, String body) throws Exception {
        LoadedSpec spec = spec(body);
        Pipeline p = pipeline(caller);
        assertEquals(List.of(), p.validate(spec).stream().filter(Diagnostic::isError).map(Diagnostic::format).toList());
        List<Diagnostic> problems = new ArrayList<>();
        Plan plan = p.compile(spec, dir.resolve("run"), Pipeline.RunOptions.none(), problems);
        assertEquals(List.of(), problems);
        return plan;
    }

    private static List<String> limits(Plan plan) {
        return plan.ops("setrlimit").stream()
                .map(s -> s.arg("resource").orElseThrow() + " " + s.arg("soft").orElseThrow() + " " + s.arg("hard").orElseThrow()).toList();
    }

    @Test
    void aNumberSetsSoftAndHardAMapEachAndUnlimitedIsInfinityInSpecOrder() throws Exception {
        Plan plan = plan(ROOT, "process:\n  command: [/bin/true]\n  rlimits: {nofile: 1024, nproc: {soft: 100, hard: 200}, core: 0,"
                + " stack: {soft: 8388608, hard: unlimited}}\n");
        assertEquals(List.of("NOFILE 1024 1024", "NPROC 100 200", "CORE 0 0", "STACK 8388608 unlimited"), limits(plan));
        Step nofile = plan.ops("setrlimit").get(0);
        assertEquals(Stage.FINISH, nofile.stage());
        assertEquals("process", nofile.plugin());
        assertEquals("setrlimit(RLIMIT_NOFILE, {1024, 1024})", nofile.syscall());
        assertEquals("setrlimit(RLIMIT_STACK, {8388608, RLIM_INFINITY})", plan.ops("setrlimit").get(3).syscall());
    }

    @Test
    void theLimitsComeBeforeTheIdentitySwitchTheCapabilitiesAndAnEarlySeccompFilter() throws Exception {
        Plan plan = plan(ROOT, "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n  user: {uid: 1000, gid: 1000}\n"
                + "  noNewPrivileges: false\n  rlimits: {nproc: 10}\n");
        List<String> ops = plan.stage(Stage.FINISH).stream().map(Step::op).toList();
        int rl = ops.indexOf("setrlimit");
        assertTrue(rl >= 0, ops.toString());
        for (String later : List.of("seccomp", "setresgid", "setresuid", "capabilities", "exec")) {
            assertTrue(ops.indexOf(later) > rl, later + " must come after setrlimit: " + ops);
        }
    }

    @Test
    void withoutRlimitsThereIsNoStep() throws Exception {
        assertEquals(List.of(), limits(plan(ROOT, "process:\n  command: [/bin/true]\n")));
    }

    @Test
    void softAboveHardIsAnErrorAtTheLimit() throws Exception {
        assertEquals(List.of("error 6:21 process.rlimit-soft-above-hard", "error 6:61 process.rlimit-soft-above-hard"),
                codes(ROOT, "process:\n  command: [/bin/true]\n  rlimits: {nofile: {soft: 200, hard: 100}, core: 0, nproc: {soft: unlimited, hard: 5}}\n"));
    }

    @Test
    void aRootlessCallerRaisingAHardLimitIsAnErrorLoweringIsFine() throws Exception {
        String raise = "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n  rlimits:\n    nofile: 8192\n    nproc: {soft: 10, hard: 1001}\n"
                + "    core: unlimited\n    cpu: unlimited\n";
        // core and cpu: the caller's own hard limit is unlimited (or unknown): nothing is raised
        assertEquals(List.of("error 9:13 process.rlimit-raise-needs-privilege", "error 10:12 process.rlimit-raise-needs-privilege"),
                codes(ALICE, raise));
        assertEquals(List.of(), codes(ALICE, "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n  rlimits: {nofile: 4096, nproc: {soft: 1, hard: 1000}}\n"));
    }

    @Test
    void rootRaisesOnlyWithoutAUserNamespaceCapSysResourceCountsInTheInitialOneOnly() throws Exception {
        assertEquals(List.of(), codes(ROOT, "process:\n  command: [/bin/true]\n  rlimits: {nofile: 65536}\n"));
        assertEquals(List.of("error 8:21 process.rlimit-raise-needs-privilege"),
                codes(ROOT, "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n  rlimits: {nofile: 65536}\n"));
        assertEquals(List.of("error 8:21 process.rlimit-raise-needs-privilege"),
                codes(ROOT, "namespaces:\n  user: {join: {path: /proc/1/ns/user}}\nprocess:\n  command: [/bin/true]\n  rlimits: {nofile: 65536}\n"));
    }

    @Test
    void rootOnAHostWithoutCapSysResourceCanNotRaiseEitherButMayLower() throws Exception {
        List<Diagnostic> ds = pipeline(ROOT, NO_CAP).validate(spec("process:\n  command: [/bin/true]\n  rlimits: {nofile: 65536}\n"));
        assertEquals(List.of("process.rlimit-raise-needs-privilege"), ds.stream().map(Diagnostic::code).toList());
        assertTrue(ds.get(0).message().contains("this host's root has no CAP_SYS_RESOURCE"), ds.get(0).message());
        assertEquals(List.of(), codes(ROOT, NO_CAP, "process:\n  command: [/bin/true]\n  rlimits: {nofile: 4096, core: unlimited}\n"));
    }

    @Test
    void nofileCanNotGoAboveNrOpenNotEvenForRoot() throws Exception {
        assertEquals(List.of("error 6:21 process.rlimit-nofile-above-nr-open"),
                codes(ROOT, "process:\n  command: [/bin/true]\n  rlimits: {nofile: unlimited}\n"));
        assertEquals(List.of("error 6:21 process.rlimit-nofile-above-nr-open"),
                codes(ROOT, "process:\n  command: [/bin/true]\n  rlimits: {nofile: 1048577}\n"));
    }

    @Test
    void numbersBeyond64BitsAreErrorsAndRssWarns() throws Exception {
        assertEquals(List.of("error 6:19 process.rlimit-out-of-range"),
                codes(ROOT, "process:\n  command: [/bin/true]\n  rlimits: {core: 18446744073709551615}\n"));
        assertEquals(List.of("warning 6:18 process.rlimit-no-effect"), codes(ROOT, "process:\n  command: [/bin/true]\n  rlimits: {rss: 1000}\n"));
    }

    @Test
    void anUnknownNameIsASchemaErrorWithASuggestionAndAWrongValueToo() throws Exception {
        List<Diagnostic> ds = pipeline(ROOT).validate(spec("process:\n  command: [/bin/true]\n  rlimits: {nofle: 10, core: lots, nproc: {soft: 1}}\n"));
        String all = ds.stream().map(Diagnostic::format).reduce("", (a, b) -> a + "\n" + b);
        assertTrue(ds.stream().anyMatch(d -> d.isError() && d.message().contains("nofle") && d.hint() != null && d.hint().contains("nofile")), all);
        assertTrue(ds.stream().anyMatch(d -> d.isError() && d.path().equals("process.rlimits.core")), all);
        assertTrue(ds.stream().anyMatch(d -> d.isError() && d.path().startsWith("process.rlimits.nproc")), all);
    }

    @Test
    void theUnitsTableNamesEverySetrlimitResourceOnce() {
        assertEquals(List.of("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss", "rtprio",
                "rttime", "sigpending", "stack"), List.copyOf(Rlimits.UNITS.keySet()));
    }
}
