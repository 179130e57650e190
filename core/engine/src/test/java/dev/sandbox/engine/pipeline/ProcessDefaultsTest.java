package dev.sandbox.engine.pipeline;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The defaults of {@code process:} that make a sandbox hold without being asked (issue 7): the capability
 * set, no_new_privs, seccomp and the new session, compiled by the engine alone (no plugins needed: the
 * namespace sections only have to be present).
 */
class ProcessDefaultsTest {

    static final Caller ROOT = new Caller(0, 0, "root");
    static final Caller ALICE = new Caller(1000, 1000, "alice");

    record Host(CgroupLayout cgroupLayout, Optional<Path> cgroup2Mount, List<Path> cgroupV1Mounts, List<long[]> subuids,
                List<long[]> subgids) implements HostFacts {}

    static final Host HOST = new Host(HostFacts.CgroupLayout.V2, Optional.of(Path.of("/sys/fs/cgroup")), List.of(), List.of(), List.of());

    @TempDir Path dir;

    private LoadedSpec spec(String body) throws Exception {
        Path file = dir.resolve("spec.yaml");
        Files.writeString(file, "apiVersion: sandbox/v1\nkind: Sandbox\nname: t\n" + body);
        return new SpecLoader().load(file);
    }

    /** A section that accepts any keys and contributes nothing: the engine's own steps are under test. */
    record AnySection(String id) implements dev.sandbox.api.NamespacePlugin {
        @Override public String schemaFragment() { return "{\"type\": \"object\"}"; }
        @Override public void validate(dev.sandbox.api.SectionContext context) {}
        @Override public void contribute(dev.sandbox.api.PlanContext context) {}
    }

    private static Pipeline pipeline(Caller caller) {
        return new Pipeline(PluginRegistry.of(List.of(new AnySection("user"), new AnySection("mount"), new AnySection("net"))), HOST, caller,
                Map.of("TERM", "xterm"));
    }

    private List<Diagnostic> validate(Caller caller, String body) throws Exception {
        return pipeline(caller).validate(spec(body));
    }

    private Plan plan(Caller caller, String body) throws Exception {
        LoadedSpec spec = spec(body);
        Pipeline p = pipeline(caller);
        List<Diagnostic> errors = p.validate(spec).stream().filter(Diagnostic::isError).toList();
        assertEquals(List.of(), errors.stream().map(Diagnostic::format).toList());
        List<Diagnostic> problems = new ArrayList<>();
        Plan plan = p.compile(spec, dir.resolve("run"), Pipeline.RunOptions.none(), problems);
        assertEquals(List.of(), problems);
        return plan;
    }

    private static List<String> finish(Plan plan) {
        return plan.stage(Stage.FINISH).stream().map(Step::op).toList();
    }

    private static String keep(Plan plan) {
        return plan.ops("capabilities").get(0).arg("keep").orElseThrow();
    }

    private static String numbers(String... names) {
        return java.util.Arrays.stream(names).map(n -> Capabilities.number(n).orElseThrow()).sorted().map(String::valueOf)
                .collect(Collectors.joining(","));
    }

    private static List<String> codes(List<Diagnostic> ds, boolean errors) {
        return ds.stream().filter(d -> d.isError() == errors).map(d -> d.location().line() + ":" + d.location().column() + " " + d.code()).toList();
    }

    static final String[] DOCKER = {"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "SETFCAP",
        "NET_BIND_SERVICE", "SYS_CHROOT", "AUDIT_WRITE"};

    // ------------------------------------------------------------------------------ joins

    @Test
    void rootJoinsTheUserNamespaceLastAndARootlessCallerFirst() throws Exception {
        // setns(2): as root, joining the user namespace first would drop the capabilities over the others; rootless,
        // joining a network namespace needs CAP_SYS_ADMIN in the current user namespace, which only the joined one gives
        String body = "namespaces:\n  user: {join: {path: /tmp/lab/userns}}\n  net: {join: {path: /tmp/lab/netns/a}}\n"
                + "process:\n  command: [/bin/true]\n";
        for (Caller caller : List.of(ROOT, ALICE)) {
            List<String> enter = plan(caller, body).stage(Stage.ENTER).stream().filter(s -> s.op().equals("join"))
                    .map(s -> s.arg("type").orElseThrow()).toList();
            assertEquals(caller.isRoot() ? List.of("net", "user") : List.of("user", "net"), enter, caller.userName());
        }
    }

    // ------------------------------------------------------------------------------ capabilities

    @Test
    void rootInsideAUserNamespaceGetsDockersDefaultSetWhichIsAlwaysApplied() throws Exception {
        Plan plan = plan(ROOT, "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n");
        assertEquals(numbers(DOCKER), keep(plan));
        assertFalse(keep(plan).contains(String.valueOf(Capabilities.number("SYS_ADMIN").orElseThrow())));
        assertFalse(keep(plan).contains(String.valueOf(Capabilities.number("MKNOD").orElseThrow())));
        assertTrue(plan.ops("capabilities").get(0).summary().contains("the default for uid 0"));
    }

    @Test
    void theHostsRootWithoutAnyNamespaceNoLongerKeepsEveryCapability() throws Exception {
        // the escape of issue 7 item 1: uid 0 without capabilities: kept everything (no step at all)
        Plan plan = plan(ROOT, "namespaces:\n  mount: {}\nprocess:\n  command: [/bin/true]\n");
        assertEquals(numbers(DOCKER), keep(plan));
    }

    @Test
    void netRawOnlyInANewNetworkNamespace() throws Exception {
        String netRaw = String.valueOf(Capabilities.number("NET_RAW").orElseThrow());
        Plan withNet = plan(ROOT, "namespaces:\n  user: {}\n  net: {}\nprocess:\n  command: [/bin/true]\n");
        assertTrue(List.of(keep(withNet).split(",")).contains(netRaw), keep(withNet));
        Plan joined = plan(ROOT, "namespaces:\n  net: {join: {path: /proc/1/ns/net}}\nprocess:\n  command: [/bin/true]\n");
        assertFalse(List.of(keep(joined).split(",")).contains(netRaw), keep(joined));
    }

    @Test
    void anyOtherUidKeepsNoCapabilityByDefault() throws Exception {
        Plan plan = plan(ROOT, "namespaces:\n  user: {uidMap: [{inside: 0, outside: 0, count: 2000}], gidMap: [{inside: 0, outside: 0, count: 2000}]}\n"
                + "process:\n  command: [/bin/true]\n  user: {uid: 1000, gid: 1000}\n");
        assertEquals("", keep(plan));
    }

    @Test
    void namedCapabilitiesAreKeptAsGivenEvenSysAdmin() throws Exception {
        Plan plan = plan(ROOT, "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n  capabilities: [sys_admin, CAP_NET_ADMIN]\n");
        assertEquals(numbers("SYS_ADMIN", "NET_ADMIN"), keep(plan));
        // docs/security.md promised a warning for a list naming CAP_SYS_ADMIN; there was none
        List<Diagnostic> ds = validate(ROOT, "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n  capabilities: [NET_ADMIN, sys_admin]\n");
        assertEquals(List.of("8:29 process.sys-admin-capability"), codes(ds, false));
        assertEquals(List.of(), codes(validate(ROOT, "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n  capabilities: [NET_ADMIN]\n"), false));
        assertEquals("", keep(plan(ROOT, "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n  capabilities: []\n")));
    }

    @Test
    void capabilitiesAllKeepsEveryCapabilityWithALocatedWarning() throws Exception {
        String body = "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n  capabilities: all\n";
        List<Diagnostic> ds = validate(ROOT, body);
        assertEquals(List.of("8:17 process.all-capabilities"), codes(ds, false));
        assertTrue(ds.get(0).message().contains("readonly mounts, masks and readonlyPaths no longer hold"), ds.get(0).message());
        Plan plan = plan(ROOT, body);
        List<String> all = List.of(keep(plan).split(","));
        // regression: Files.readString of /proc/sys/kernel/cap_last_cap read "4" for "40" (st_size is 0), so 'all' kept 5
        assertTrue(Capabilities.lastCap() >= 37, "every kernel since 3.16 knows CAP_AUDIT_READ (37): " + Capabilities.lastCap());
        assertEquals(String.valueOf(Capabilities.lastCap()), all.get(all.size() - 1));
        assertEquals(Capabilities.lastCap() + 1, all.size());
    }

    @Test
    void anyOtherStringThanAllIsASchemaError() throws Exception {
        List<Diagnostic> ds = validate(ROOT, "process:\n  command: [/bin/true]\n  capabilities: none\n");
        assertEquals(List.of("6:17 schema.pattern"), codes(ds, true));
        assertTrue(ds.get(0).hint().contains("'all'"), ds.get(0).hint());
    }

    @Test
    void aRootlessCallerWithoutAUserNamespaceHasNoCapabilitiesToDrop() throws Exception {
        // dropping from the bounding set would need CAP_SETPCAP, which it doesn't have
        Plan plan = plan(ALICE, "process:\n  command: [/bin/true]\n");
        assertEquals(List.of(), plan.ops("capabilities"));
        assertEquals(List.of("close-fds", "new-session", "no-new-privs", "chdir", "seccomp", "seccomp", "exec"), finish(plan));
    }

    // ------------------------------------------------------------------------------ no_new_privs and seccomp placement

    @Test
    void byDefaultNoNewPrivsIsSetAndSeccompIsLoadedLastBeforeExec() throws Exception {
        Plan plan = plan(ROOT, "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n");
        assertEquals(List.of("close-fds", "new-session", "setresgid", "setresuid", "capabilities", "no-new-privs", "chdir", "seccomp", "seccomp",
                "exec"), finish(plan));
        List<Step> filters = plan.ops("seccomp");
        // the tty filter first: it allows everything else, so loading the second one never depends on the first
        assertEquals("allow", filters.get(0).arg("default").orElseThrow());
        assertEquals(List.of("errno:1 ioctl 1:masked_eq:4294967295:21522", "errno:1 ioctl 1:masked_eq:4294967295:21532"), filters.get(0).all("rule"));
        // both list the same architectures: a filter kills a call of an architecture it lacks (32-bit programs on x86-64)
        assertEquals(filters.get(1).all("arch"), filters.get(0).all("arch"));
        assertEquals("errno:1", filters.get(1).arg("default").orElseThrow());
        assertTrue(filters.get(1).summary().startsWith("seccomp: docker default ("), filters.get(1).summary());
        assertTrue(filters.get(1).summary().endsWith("syscalls allowed, " + filters.get(1).all("rule").size() + " rules), errno EPERM otherwise"));
        assertTrue(plan.steps().stream().allMatch(dev.sandbox.api.Ops::allowed), "every step is in the op vocabulary");
    }

    @Test
    void withoutNoNewPrivsSeccompIsLoadedBeforeTheIdentitySwitchWithAWarning() throws Exception {
        String body = "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n  noNewPrivileges: false\n";
        assertEquals(List.of("8:20 process.new-privileges"), codes(validate(ROOT, body), false));
        Plan plan = plan(ROOT, body);
        assertEquals(List.of("close-fds", "new-session", "seccomp", "seccomp", "setresgid", "setresuid", "capabilities", "chdir", "exec"),
                finish(plan));
    }

    @Test
    void withoutNoNewPrivsARootlessCallerWithoutAUserNamespaceCantLoadAFilter() throws Exception {
        List<Diagnostic> ds = validate(ALICE, "process:\n  command: [/bin/true]\n  noNewPrivileges: false\n");
        assertEquals(List.of("6:20 process.seccomp-needs-privilege"), codes(ds, true));
        assertEquals(List.of(), codes(validate(ALICE, "process:\n  command: [/bin/true]\n  noNewPrivileges: false\n  seccomp: unconfined\n"), true));
    }

    @Test
    void unconfinedLoadsNoFilterAndWarnsAboutTiocsti() throws Exception {
        String body = "process:\n  command: [/bin/true]\n  seccomp: unconfined\n";
        List<Diagnostic> ds = validate(ROOT, body);
        assertEquals(List.of("6:12 process.tiocsti-not-filtered"), codes(ds, false));
        assertTrue(ds.get(0).message().contains("TIOCSTI") && ds.get(0).message().contains("new session"), ds.get(0).message());
        Plan plan = plan(ROOT, body);
        assertEquals(List.of(), plan.ops("seccomp"));
        assertEquals(1, plan.ops("new-session").size(), "the new session stays");
    }

    @Test
    void aProfileFileIsReadRelativeToTheSpecAndCompiledIntoThePlan() throws Exception {
        Files.createDirectories(dir.resolve("profiles"));
        Files.writeString(dir.resolve("profiles/strict.json"), """
                {"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [
                  {"names": ["read", "write", "execve", "exit_group", "rt_sigaction", "rt_sigprocmask", "umask"], "action": "SCMP_ACT_ALLOW"}]}
                """);
        String body = "process:\n  command: [/bin/true]\n  seccomp: profiles/strict.json\n";
        assertEquals(List.of(), validate(ROOT, body), "ioctl is not allowed at all: TIOCSTI is denied");
        LoadedSpec spec = spec(body);
        Map<Path, byte[]> inputs = new LinkedHashMap<>();
        Plan plan = pipeline(ROOT).compile(spec, dir.resolve("run"), Pipeline.RunOptions.none(), new ArrayList<>(), inputs);
        List<Step> filters = plan.ops("seccomp");
        assertEquals(1, filters.size(), "a profile of one's own gets no tty filter added");
        assertEquals("kill-process", filters.get(0).arg("default").orElseThrow());
        assertEquals(List.of("allow read,write,execve,exit_group,rt_sigaction,rt_sigprocmask,umask"), filters.get(0).all("rule"));
        assertEquals("seccomp: profile profiles/strict.json (7 syscalls allowed, 1 rules), the process is killed otherwise", filters.get(0).summary());
        assertEquals(List.of(dir.resolve("profiles/strict.json")), List.copyOf(inputs.keySet()), "the plan cache must know the profile");
    }

    @Test
    void aProfileThatDoesNotDenyTiocstiGetsTheSameWarningAsUnconfined() throws Exception {
        Files.writeString(dir.resolve("allow.json"), "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"reboot\"], "
                + "\"action\": \"SCMP_ACT_ERRNO\"}]}");
        List<Diagnostic> ds = validate(ROOT, "process:\n  command: [/bin/true]\n  seccomp: ./allow.json\n");
        assertEquals(List.of("6:12 process.tiocsti-not-filtered"), codes(ds, false));
        assertTrue(ds.get(0).hint().contains("SCMP_CMP_MASKED_EQ"), ds.get(0).hint());
    }

    @Test
    void aProfileThatDeniesWhatTheRuntimeCallsAfterLoadingItIsAWarning() throws Exception {
        Files.writeString(dir.resolve("tight.json"), """
                {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                  {"names": ["execve", "rt_sigaction", "rt_sigprocmask", "exit_group", "ioctl"], "action": "SCMP_ACT_ALLOW",
                   "comment": "umask is missing; ioctl is allowed, so TIOCSTI too"}]}
                """);
        List<Diagnostic> ds = validate(ROOT, "process:\n  command: [/bin/true]\n  seccomp: tight.json\n");
        assertEquals(List.of("6:12 process.seccomp-blocks-runtime", "6:12 process.tiocsti-not-filtered"), codes(ds, false));
        assertTrue(ds.get(0).message().contains("denies umask,") || ds.get(0).message().contains("denies umask"), ds.get(0).message());
        // without no_new_privs the identity steps come after the filter, and it must allow them too
        ds = validate(ROOT, "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n  noNewPrivileges: false\n  seccomp: tight.json\n");
        Diagnostic blocks = ds.stream().filter(d -> d.code().equals("process.seccomp-blocks-runtime")).findFirst().orElseThrow();
        assertTrue(blocks.message().contains("umask, setgroups, setresgid, setresuid, capget, capset, prctl, chdir"), blocks.message());
    }

    @Test
    void aBrokenOrMissingProfileIsAnErrorAtTheValueNamingTheProfilesLineAndColumn() throws Exception {
        Files.writeString(dir.resolve("bad.json"), "{\n  \"defaultAction\": \"SCMP_ACT_ERRNO\",\n  \"syscalls\": [{\"names\": [\"read\"], \"action\": \"ALLOW\"}]\n}\n");
        List<Diagnostic> ds = validate(ROOT, "process:\n  command: [/bin/true]\n  seccomp: bad.json\n");
        assertEquals(List.of("6:12 process.seccomp-profile"), codes(ds, true));
        assertTrue(ds.get(0).message().contains(dir.resolve("bad.json") + ":3:46: unknown action 'ALLOW'"), ds.get(0).message());

        ds = validate(ROOT, "process:\n  command: [/bin/true]\n  seccomp: missing.json\n");
        assertEquals(List.of("6:12 process.seccomp-profile"), codes(ds, true));
        assertTrue(ds.get(0).message().contains("does not exist (ENOENT)"), ds.get(0).message());

        Files.writeString(dir.resolve("notjson.json"), "defaultAction: SCMP_ACT_ERRNO\n");
        ds = validate(ROOT, "process:\n  command: [/bin/true]\n  seccomp: notjson.json\n");
        assertTrue(ds.get(0).message().contains("notjson.json:1:") && ds.get(0).message().contains("not valid JSON"), ds.get(0).message());

        ds = validate(ROOT, "process:\n  command: [/bin/true]\n  seccomp: .\n");
        assertTrue(ds.get(0).message().contains("is a directory"), ds.get(0).message());
    }

    // ------------------------------------------------------------------------------ the new session

    @Test
    void everySandboxStartsANewSessionRightAfterClosingDescriptorsBeforeAnyPluginStep() throws Exception {
        Plan plan = plan(ROOT, "process:\n  command: [/bin/true]\n");
        List<String> ops = finish(plan);
        assertEquals(1, plan.ops("new-session").size());
        assertEquals(ops.indexOf("close-fds") + 1, ops.indexOf("new-session"));
        assertEquals(List.of(), plan.ops("new-session").get(0).args());
    }

    @Test
    void aPluginCannotContributeASeccompFilterOrANewSession() throws Exception {
        record Sneaky(String id) implements dev.sandbox.api.NamespacePlugin {
            @Override public String schemaFragment() { return "{\"type\": \"object\"}"; }
            @Override public void validate(dev.sandbox.api.SectionContext context) {}
            @Override public void contribute(dev.sandbox.api.PlanContext context) {
                context.add(Step.of(Stage.FINISH, "seccomp").arg("default", "allow").build());
                context.add(Step.of(Stage.FINISH, "new-session").build());
            }
        }
        Pipeline p = new Pipeline(PluginRegistry.of(List.of(new Sneaky("sneaky"))), HOST, ROOT, Map.of());
        List<Diagnostic> problems = new ArrayList<>();
        Plan plan = p.compile(spec("namespaces:\n  sneaky: {}\nprocess:\n  command: [/bin/true]\n"), dir.resolve("run"),
                Pipeline.RunOptions.none(), problems);
        assertEquals(List.of("plugin.bad-step", "plugin.bad-step"), problems.stream().map(Diagnostic::code).toList());
        assertTrue(problems.get(0).message().contains("which only the engine may emit"), problems.get(0).message());
        assertEquals(1, plan.ops("new-session").size(), "only the engine's");
    }

    // ------------------------------------------------------------------------------ what up would certainly refuse

    @Test
    void idsBeyond32BitsOrTheUnchangedMarkerAreErrorsWithoutAUserNamespace() throws Exception {
        List<Diagnostic> ds = validate(ROOT, "process:\n  command: [/bin/true]\n  user: {uid: 4294967295, gid: 4294967294, groups: [5, 99999999999]}\n");
        assertEquals(List.of("6:15 process.id-out-of-range", "6:56 process.id-out-of-range"), codes(ds, true));
    }

    /** Regression: a number in exponent form fell back to 0 and the target ran as root. */
    @Test
    void idsInExponentFormOrPast64BitsAreErrorsWithAndWithoutAUserNamespace() throws Exception {
        assertEquals(List.of("6:15 process.id-out-of-range"),
                codes(validate(ROOT, "process:\n  command: [/bin/true]\n  user: {uid: 1e400}\n"), true));
        List<String> inUserNs = codes(validate(ROOT, "namespaces: {user: {}}\nprocess:\n  command: [/bin/true]\n"
                + "  user: {uid: 999999999999999999999999999999}\n"), true);
        assertTrue(inUserNs.contains("7:15 process.id-out-of-range"), inUserNs.toString());
    }

    @Test
    void oneArgumentOrVariableOverMaxArgStrlenIsAnError() throws Exception {
        // Lines of a spec are at most 64 Ki characters (spec.line-too-long): long values are block
        // scalars, and an alias repeats one without repeating its text.
        String ok = block(128, 1023, "");    // 128 lines of 1023, joined by newlines: 131071 characters
        String big = block(128, 1023, "x");  // one more: 131072, 131073 bytes with the NUL
        List<Diagnostic> ds = validate(ROOT, "process:\n  command:\n    - /bin/echo\n    - |-\n" + ok + "    - &big |-\n" + big
                + "  env: {SMALL: a, BIG: *big}\n");
        assertEquals(List.of("136:7 process.argument-too-long", "265:24 process.env-too-long"), codes(ds, true));
        assertTrue(ds.get(0).message().contains("131073 bytes") && ds.get(0).message().contains("MAX_ARG_STRLEN"), ds.get(0).message());
    }

    /** A literal block scalar's lines, indented for a list item's value: {@code lines} lines of {@code width} 'x', then {@code tail}. */
    private static String block(int lines, int width, String tail) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < lines; i++) b.append("      ").append("x".repeat(width)).append(i == lines - 1 ? tail : "").append('\n');
        return b.toString();
    }

    @Test
    void aCommandAfterDashDashIsCheckedWhenThePlanIsCompiled() throws Exception {
        LoadedSpec spec = spec("process:\n  command: [/bin/true]\n");
        List<Diagnostic> problems = new ArrayList<>();
        pipeline(ROOT).compile(spec, dir.resolve("run"), new Pipeline.RunOptions(Optional.of(List.of("/bin/echo", "z".repeat(200_000)))), problems);
        assertEquals(List.of("4:1 process.argument-too-long"), codes(problems, true));
        problems.clear();
        pipeline(ROOT).compile(spec, dir.resolve("run"), new Pipeline.RunOptions(Optional.of(List.of("/bin/echo", "small"))), problems);
        assertEquals(List.of(), problems);
    }

    @Test
    void allArgumentsAndVariablesOverAQuarterOfTheDefaultStackAreAnError() throws Exception {
        // one 99,999-character value (100 lines of 999, block scalar), then aliases of it
        String chunk = "    - &chunk |-\n" + block(100, 999, "").replace("      ", "      ");
        StringBuilder args = new StringBuilder("process:\n  command:\n    - /bin/echo\n").append(chunk);
        for (int i = 0; i < 20; i++) args.append("    - *chunk\n");
        List<Diagnostic> ds = validate(ROOT, args.toString());
        assertEquals(List.of("4:1 process.exec-too-large"), codes(ds, true));
        assertTrue(ds.get(0).message().contains("2097152") && ds.get(0).message().contains("8 MiB"), ds.get(0).message());
        StringBuilder fits = new StringBuilder("process:\n  command:\n    - /bin/echo\n").append(chunk);
        for (int i = 0; i < 19; i++) fits.append("    - *chunk\n");
        assertEquals(List.of(), codes(validate(ROOT, fits.toString()), true), "20 x 100,000 bytes fit");
    }

    // ------------------------------------------------------------------------------ timeout

    @Test
    void aTimeoutIsAHelperStepJustBeforeCloneInWholeMillisecondsRoundedUp() throws Exception {
        Plan plan = plan(ROOT, "namespaces:\n  user: {}\nprocess:\n  command: [/bin/true]\n  timeout: 2.0005\n");
        List<Step> clone = plan.stage(Stage.CLONE);
        assertEquals(List.of("timeout", "clone"), clone.stream().map(Step::op).toList());
        assertEquals(Optional.of("2001"), clone.get(0).arg("ms"));
        assertTrue(clone.get(0).summary().startsWith("after 2.0005 s SIGTERM"), clone.get(0).summary());
        assertEquals(List.of(), plan(ROOT, "process:\n  command: [/bin/true]\n").ops("timeout"), "no key, no step");
    }

    @Test
    void aTimeoutMustBeAPositiveNumberOfSecondsAtMostAYear() throws Exception {
        assertEquals(List.of("6:12 schema.exclusiveMinimum"), codes(validate(ROOT, "process:\n  command: [/bin/true]\n  timeout: 0\n"), true));
        assertEquals(List.of("6:12 schema.type"), codes(validate(ROOT, "process:\n  command: [/bin/true]\n  timeout: 10s\n"), true));
        assertEquals(List.of("6:12 schema.maximum"), codes(validate(ROOT, "process:\n  command: [/bin/true]\n  timeout: 31536001\n"), true));
    }
}
