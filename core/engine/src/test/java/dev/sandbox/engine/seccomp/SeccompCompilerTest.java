package dev.sandbox.engine.seccomp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.engine.seccomp.SeccompProfile.ProfileException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SeccompCompilerTest {

    /** The default capability set of uid 0 (docs/spec.md), as the pipeline passes it. */
    static final Set<String> DEFAULT_CAPS = Set.of("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_SETFCAP");
    static final SeccompCompiler.Target AMD64 = new SeccompCompiler.Target("amd64", new int[] {6, 1}, DEFAULT_CAPS);

    static Filter builtIn(SeccompCompiler.Target target) throws Exception {
        return SeccompCompiler.compile(SeccompProfile.parse(BuiltInProfile.bytes()), "docker default", target);
    }

    static Filter compile(String json, SeccompCompiler.Target target) throws ProfileException {
        return SeccompCompiler.compile(SeccompProfile.parse(json.getBytes(StandardCharsets.UTF_8)), "test", target);
    }

    static List<String> allowed(Filter f) {
        return f.rules().stream().filter(r -> r.startsWith("allow ") && r.split(" ").length == 2)
                .flatMap(r -> Arrays.stream(r.split(" ")[1].split(","))).toList();
    }

    @Test
    void theBuiltInProfileOnAmd64DeniesByDefaultWithEpermAndAddsTheCompatArchitectures() throws Exception {
        Filter f = builtIn(AMD64);
        assertEquals("errno:1", f.defaultAction());
        assertEquals(List.of("x86_64", "x86", "x32"), f.arches());
        List<String> allowed = allowed(f);
        assertTrue(allowed.containsAll(List.of("execve", "read", "write", "exit_group", "rt_sigaction", "setresuid", "capset", "prctl",
                "chdir", "setsid", "arch_prctl", "modify_ldt", "chroot", "ioctl")), allowed.toString());
        for (String denied : List.of("mount", "umount2", "unshare", "setns", "pivot_root", "open_tree", "move_mount", "fsopen", "bpf",
                "init_module", "kexec_load", "reboot", "keyctl", "add_key", "userfaultfd", "io_uring_setup", "open_by_handle_at")) {
            assertFalse(f.rules().stream().anyMatch(r -> r.startsWith("allow ") && Arrays.asList(r.split(" ")[1].split(",")).contains(denied)),
                    denied + " must not be allowed without its capability");
        }
        // no new namespaces through clone; clone3 says ENOSYS so libc falls back to clone
        assertTrue(f.rules().contains("allow clone 0:masked_eq:2114060288:0"), f.rules().toString());
        assertTrue(f.rules().contains("errno:38 clone3"), f.rules().toString());
        // every address family but AF_ALG (38) and AF_VSOCK (40)
        assertTrue(f.rules().containsAll(List.of("allow socket 0:lt:38", "allow socket 0:eq:39", "allow socket 0:gt:40")), f.rules().toString());
        assertTrue(f.rules().contains("allow personality 0:eq:4294967295"));
        // on 4.8+ ptrace can no longer bypass seccomp
        assertTrue(f.rules().contains("allow ptrace"), f.rules().toString());
        assertFalse(f.rules().stream().anyMatch(r -> r.startsWith("allow ") && r.contains("process_vm_readv")), "only with CAP_SYS_PTRACE");
        assertFalse(f.rules().stream().anyMatch(r -> r.contains("s390_") || r.contains("riscv_flush_icache") || r.contains("arm_")), f.rules().toString());
        assertFalse(f.deniesTiocsti(), "docker's default allows every ioctl: the tty filter is added separately");
        assertEquals("seccomp: docker default (" + f.allowed() + " syscalls allowed, " + f.rules().size() + " rules), errno EPERM otherwise",
                f.step().summary());
    }

    @Test
    void capSysAdminIncludesTheAdministrationSyscallsAndExcludesTheCloneRestriction() throws Exception {
        Set<String> caps = new java.util.HashSet<>(DEFAULT_CAPS);
        caps.add("CAP_SYS_ADMIN");
        Filter f = builtIn(new SeccompCompiler.Target("amd64", new int[] {6, 1}, caps));
        String admin = f.rules().stream().filter(r -> r.startsWith("allow bpf,clone,clone3,")).findFirst().orElseThrow();
        assertTrue(List.of(admin.split(" ")[1].split(",")).containsAll(List.of("mount", "umount2", "unshare", "setns", "open_tree", "move_mount",
                "fsopen", "mount_setattr", "sethostname")), admin);
        assertFalse(f.rules().contains("allow clone 0:masked_eq:2114060288:0"));
        assertFalse(f.rules().contains("errno:38 clone3"));
    }

    @Test
    void withoutCapSysChrootChrootIsDenied() throws Exception {
        Filter f = builtIn(new SeccompCompiler.Target("amd64", new int[] {6, 1}, Set.of()));
        assertFalse(f.rules().contains("allow chroot"));
        assertTrue(builtIn(AMD64).rules().contains("allow chroot"));
    }

    @Test
    void anOldKernelDoesNotGetPtraceAndArm64GetsItsOwnArchitectures() throws Exception {
        Filter old = builtIn(new SeccompCompiler.Target("amd64", new int[] {4, 7}, DEFAULT_CAPS));
        assertFalse(old.rules().contains("allow process_vm_readv,process_vm_writev,ptrace"));
        Filter arm = builtIn(new SeccompCompiler.Target("arm64", new int[] {6, 1}, DEFAULT_CAPS));
        assertEquals(List.of("aarch64", "arm"), arm.arches());
        assertTrue(arm.rules().contains("allow arm_fadvise64_64,arm_sync_file_range,sync_file_range2,breakpoint,cacheflush,set_tls"));
        assertFalse(arm.rules().contains("allow arch_prctl"));
    }

    @Test
    void javaArchitectureNamesMapToMobysNativeNames() {
        assertEquals("amd64", SeccompCompiler.goArch("amd64"));
        assertEquals("arm64", SeccompCompiler.goArch("aarch64"));
        assertEquals("x86", SeccompCompiler.goArch("i386"));
        assertEquals(List.of(6, 18), Arrays.stream(SeccompCompiler.kernel("6.18.0-1-amd64")).boxed().toList());
    }

    @Test
    void theTtyFilterDeniesTiocstiAndTiocLinuxOnTheLow32BitsOnly() {
        Filter tty = Filter.tty(List.of("x86_64", "x86", "x32"));
        assertEquals("allow", tty.defaultAction());
        assertEquals(List.of("x86_64", "x86", "x32"), tty.arches(), "a filter kills calls of architectures it doesn't list");
        assertEquals(List.of("errno:1 ioctl 1:masked_eq:4294967295:21522", "errno:1 ioctl 1:masked_eq:4294967295:21532"), tty.rules());
        assertTrue(tty.deniesTiocsti());
    }

    @Test
    void aPlain64BitCompareOfTheRequestDoesNotCountAsDenyingTiocsti() throws Exception {
        Filter plain = compile("""
                {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                  {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 21522, "op": "SCMP_CMP_EQ"}]}]}
                """, AMD64);
        assertEquals(List.of("errno:1 ioctl 1:eq:21522"), plain.rules());
        assertFalse(plain.deniesTiocsti(), "0x100005412 passes an EQ compare and the kernel reads it as TIOCSTI (CVE-2019-10063)");
        Filter masked = compile("""
                {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                  "args": [{"index": 1, "value": 4294967295, "valueTwo": 21522, "op": "SCMP_CMP_MASKED_EQ"}]}]}
                """, AMD64);
        assertEquals(List.of("errno:13 ioctl 1:masked_eq:4294967295:21522"), masked.rules());
        assertTrue(masked.deniesTiocsti());
        Filter allowList = compile("""
                {"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}
                """, AMD64);
        assertTrue(allowList.deniesTiocsti(), "ioctl isn't allowed at all");
        assertEquals("kill-process", allowList.defaultAction());
    }

    /** Regression: libseccomp drops a conditional ERRNO rule next to an unconditional allow of the same syscall (measured with runc). */
    @Test
    void aMaskedDenyNextToAnUnconditionalAllowOfIoctlDoesNotCountAsDenyingTiocsti() throws Exception {
        Filter both = compile("""
                {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                  {"names": ["ioctl", "read"], "action": "SCMP_ACT_ALLOW"},
                  {"names": ["ioctl"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 4294967295, "valueTwo": 21522, "op": "SCMP_CMP_MASKED_EQ"}]}]}
                """, AMD64);
        assertFalse(both.deniesTiocsti(), both.rules().toString());
    }

    @Test
    void conditionsOnTheSameArgumentBecomeOneRuleEachAsRuncDoesAndRulesOfTheDefaultActionAreDropped() throws Exception {
        Filter f = compile("""
                {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": [
                  {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
                    {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                  {"names": ["mmap"], "action": "SCMP_ACT_ALLOW", "args": [
                    {"index": 2, "value": 4, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}, {"index": 3, "value": 1, "op": "SCMP_CMP_GE"}]},
                  {"name": "kill", "action": "SCMP_ACT_ERRNO"},
                  {"names": ["getpid"], "action": "SCMP_ACT_LOG"},
                  {"names": ["tkill"], "action": "SCMP_ACT_TRAP"},
                  {"names": ["tgkill"], "action": "SCMP_ACT_KILL"},
                  {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 5}]}
                """, AMD64);
        assertEquals(List.of("x86_64", "x86"), f.arches());
        assertEquals(List.of("allow personality 0:eq:0", "allow personality 0:eq:8", "allow mmap 2:masked_eq:4:0 3:ge:1", "log getpid",
                "trap tkill", "kill-thread tgkill", "trace:5 ptrace"), f.rules());
    }

    @Test
    void includesAndExcludesFollowMobysRules() throws Exception {
        String json = """
                {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
                  {"names": ["a1"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_KILL", "CAP_CHOWN"]}},
                  {"names": ["a2"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_KILL", "CAP_SYS_ADMIN"]}},
                  {"names": ["a3"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN", "CAP_KILL"]}},
                  {"names": ["a4"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["arm64"]}},
                  {"names": ["a5"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "6.2"}},
                  {"names": ["a6"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.10"}},
                  {"names": ["a7"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"], "minKernel": "6.1"}}]}
                """;
        assertEquals(List.of("allow a1", "allow a4", "allow a7"), compile(json, AMD64).rules());
    }

    @Test
    void mistakesInAProfileAreReportedWithTheProfilesOwnLineAndColumn() {
        assertProblem("{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"syscalls\": [\n  {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALOW\"}]}",
                3, 33, "unknown action 'SCMP_ACT_ALOW'");
        assertProblem("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\",\n"
                + "  \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_EQUAL\"}]}]}", 2, 43, "unknown comparison 'SCMP_CMP_EQUAL'");
        assertProblem("{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"architectures\": [\"SCMP_ARCH_X86_65\"]}", 2, 20,
                "unknown architecture 'SCMP_ARCH_X86_65'");
        assertProblem("{\"defaultAction\": \"SCMP_ACT_ERRNO\",\n \"syscalls\": [\n", 3, 1, "not valid JSON");
        assertProblem("{\"syscalls\": []}", 1, 1, "needs a \"defaultAction\"");
        assertProblem("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"architectures\": [\"SCMP_ARCH_X86\"], \"archMap\": [{\"architecture\": "
                + "\"SCMP_ARCH_X86_64\"}]}", 1, 84, "both 'architectures' and 'archMap'");
        assertProblem("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"name\": \"read\", \"names\": [\"write\"], \"action\": "
                + "\"SCMP_ACT_ALLOW\"}]}", 1, 59, "both 'name' and 'names'");
        assertProblem("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"errnoRet\": 1}]}",
                1, 80, "applies to SCMP_ACT_ERRNO and SCMP_ACT_TRACE only");
        assertProblem("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscals\": []}", 1, 48, "unknown key 'syscals'");
        assertProblem("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read write\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
                1, 61, "is not a syscall name");
        assertProblem("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\", \"args\": [{\"index\": 6, "
                + "\"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}", 1, 117, "from 0 to 5");
        assertProblem("{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}", 1, 19, "seccomp agent");
        assertProblem("[1, 2]", 1, 1, "a JSON object");
    }

    private static void assertProblem(String json, int line, int column, String text) {
        ProfileException e = assertThrows(ProfileException.class, () -> compile(json, AMD64));
        assertTrue(e.getMessage().contains(text), e.getMessage());
        assertEquals(line + ":" + column, e.line() + ":" + e.column(), e.getMessage());
        assertTrue(e.describe("p.json").startsWith("p.json:" + line + ":" + column + ": "), e.describe("p.json"));
    }
}
