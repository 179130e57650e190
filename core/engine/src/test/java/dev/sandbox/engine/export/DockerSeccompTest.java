package dev.sandbox.engine.export;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** docker (moby) seccomp JSON → OCI linux.seccomp, as moby's seccomp.Setup filters it, and the folded TIOCSTI rule. */
class DockerSeccompTest {

    static final ObjectMapper JSON = new ObjectMapper();

    /** A small profile in docker's format with every filtering feature (written for this test). */
    static final String PROFILE = """
            {
              "comment": "test profile",
              "defaultAction": "SCMP_ACT_ERRNO",
              "defaultErrnoRet": 1,
              "archMap": [
                {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
              ],
              "syscalls": [
                {"names": ["read", "write", "ioctl"], "action": "SCMP_ACT_ALLOW", "comment": "always"},
                {"name": "ptrace", "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}
              ]
            }
            """;

    static JsonNode profile() throws Exception {
        return JSON.readTree(PROFILE);
    }

    static List<String> names(ObjectNode oci) {
        List<String> out = new ArrayList<>();
        oci.get("syscalls").forEach(r -> r.get("names").forEach(n -> out.add(n.asText())));
        return out;
    }

    @Test
    void archMapPicksTheNativeArchitectureAndItsSubArchitectures() throws Exception {
        ObjectNode amd64 = DockerSeccomp.toOci(profile(), new DockerSeccomp.Target("amd64", new int[] {6, 1}, Set.of()));
        assertEquals(List.of("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"), JSON.convertValue(amd64.get("architectures"), List.class));
        ObjectNode arm64 = DockerSeccomp.toOci(profile(), new DockerSeccomp.Target("arm64", new int[] {6, 1}, Set.of()));
        assertEquals(List.of("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"), JSON.convertValue(arm64.get("architectures"), List.class));
        assertFalse(names(arm64).contains("arch_prctl"), "an x86-only rule is left out on arm64");
        assertTrue(names(amd64).contains("arch_prctl"));
    }

    @Test
    void includesAndExcludesFollowTheBoundingSetAndTheKernel() throws Exception {
        ObjectNode plain = DockerSeccomp.toOci(profile(), new DockerSeccomp.Target("amd64", new int[] {6, 1}, Set.of("CAP_CHOWN")));
        assertFalse(names(plain).contains("mount"), "mount needs CAP_SYS_ADMIN in the bounding set");
        assertTrue(names(plain).contains("clone3"), "the clone3 ENOSYS rule applies without CAP_SYS_ADMIN");
        assertTrue(names(plain).contains("ptrace"), "6.1 >= 4.8");
        ObjectNode admin = DockerSeccomp.toOci(profile(), new DockerSeccomp.Target("amd64", new int[] {6, 1}, Set.of("CAP_SYS_ADMIN")));
        assertTrue(names(admin).contains("mount"));
        assertFalse(names(admin).contains("clone3"), "excluded when CAP_SYS_ADMIN is kept");
        ObjectNode old = DockerSeccomp.toOci(profile(), new DockerSeccomp.Target("amd64", new int[] {4, 4}, Set.of()));
        assertFalse(names(old).contains("ptrace"), "4.4 < minKernel 4.8");
    }

    @Test
    void dockerOnlyKeysAreDroppedAndOciKeysKept() throws Exception {
        ObjectNode oci = DockerSeccomp.toOci(profile(), new DockerSeccomp.Target("amd64", new int[] {6, 1}, Set.of()));
        assertEquals(Set.of("defaultAction", "defaultErrnoRet", "architectures", "syscalls"), fieldNames(oci));
        for (JsonNode rule : oci.get("syscalls")) {
            assertTrue(Set.of("names", "action", "errnoRet", "args").containsAll(fieldNames(rule)), rule.toString());
        }
        JsonNode clone3 = find(oci, "clone3");
        assertEquals(38, clone3.get("errnoRet").asInt());
        assertEquals("SCMP_CMP_EQ", find(oci, "personality").get("args").get(0).get("op").asText());
        assertTrue(names(oci).contains("ptrace"), "'name' becomes 'names'");
    }

    @Test
    void bothArchitecturesAndArchMapIsAnError() throws Exception {
        ObjectNode p = (ObjectNode) profile();
        p.putArray("architectures").add("SCMP_ARCH_X86_64");
        DockerSeccomp.ProfileException e = assertThrows(DockerSeccomp.ProfileException.class,
                () -> DockerSeccomp.toOci(p, new DockerSeccomp.Target("amd64", new int[] {6, 1}, Set.of())));
        assertEquals("/archMap", e.pointer());
    }

    @Test
    void theFoldedRuleAllowsEveryIoctlButTiocstiAndTioclinuxWhateverTheHighBits() throws Exception {
        ObjectNode oci = DockerSeccomp.toOci(profile(), new DockerSeccomp.Target("amd64", new int[] {6, 1}, Set.of()));
        assertTrue(DockerSeccomp.denyTerminalInjection(oci));
        for (JsonNode rule : oci.get("syscalls")) {
            if (!rule.has("args") && rule.get("action").asText().equals("SCMP_ACT_ALLOW")) {
                rule.get("names").forEach(n -> assertFalse(n.asText().equals("ioctl"), "ioctl left the unconditional allow rule"));
            }
        }
        List<long[]> rules = new ArrayList<>();
        for (JsonNode rule : oci.get("syscalls")) {
            if (rule.get("names").get(0).asText().equals("ioctl")) {
                JsonNode a = rule.get("args").get(0);
                assertEquals(1, a.get("index").asInt());
                assertEquals("SCMP_CMP_MASKED_EQ", a.get("op").asText());
                assertTrue(a.get("value").asLong() <= 0xffffffffL, "the mask covers the low 32 bits only");
                rules.add(new long[] {a.get("value").asLong(), a.get("valueTwo").asLong()});
            }
        }
        Random random = new Random(13);
        List<Long> samples = new ArrayList<>(List.of(0L, 0x5401L, 0x5411L, 0x5413L, 0x541BL, 0x541DL, 0xffffffffL, 0x12L, 0x1cL));
        for (int i = 0; i < 20000; i++) samples.add(random.nextLong() & 0xffffffffL);
        for (long low = 0x5400; low < 0x5500; low++) samples.add(low);
        for (long request : samples) {
            for (long high : new long[] {0, 1L << 32, 0xffffffff00000000L}) {
                long arg = request | high;
                boolean denied = request == 0x5412 || request == 0x541C;
                boolean allowed = rules.stream().anyMatch(r -> (arg & r[0]) == r[1]);
                assertEquals(!denied, allowed, String.format("ioctl request 0x%x", arg));
            }
        }
    }

    @Test
    void aProfileThatAllowsByDefaultIsLeftAlone() throws Exception {
        ObjectNode p = (ObjectNode) profile();
        p.put("defaultAction", "SCMP_ACT_ALLOW");
        ObjectNode oci = DockerSeccomp.toOci(p, new DockerSeccomp.Target("amd64", new int[] {6, 1}, Set.of()));
        String before = oci.toString();
        assertFalse(DockerSeccomp.denyTerminalInjection(oci));
        assertEquals(before, oci.toString());
    }

    static Set<String> fieldNames(JsonNode n) {
        Set<String> out = new java.util.TreeSet<>();
        n.fieldNames().forEachRemaining(out::add);
        return out;
    }

    static JsonNode find(ObjectNode oci, String name) {
        for (JsonNode r : oci.get("syscalls")) for (JsonNode n : r.get("names")) if (n.asText().equals(name)) return r;
        throw new AssertionError(name + " not in " + oci);
    }
}
