package dev.sandbox.engine.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A seccomp profile in docker's (moby's) JSON format turned into the OCI {@code linux.seccomp} object,
 * the way moby's {@code profiles/seccomp.Setup} does for a container: {@code archMap} picks the native
 * architecture and its sub-architectures; a rule whose {@code includes} don't hold (every listed
 * capability in the bounding set, the native architecture listed, the kernel at least
 * {@code minKernel}) or whose {@code excludes} do is left out; {@code name} becomes {@code names};
 * docker-only keys ({@code comment}, {@code archMap}, {@code includes}, {@code excludes}) are dropped.
 */
public final class DockerSeccomp {

    /** What the profile is converted for: Go's architecture name (amd64, arm64, ...), the kernel (major, minor) and the bounding set. */
    public record Target(String goArch, int[] kernel, Set<String> caps) {
        public static Target host(Set<String> caps) {
            String release = System.getProperty("os.version", "");
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("^(\\d+)\\.(\\d+)").matcher(release);
            int[] kernel = m.find() ? new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))} : new int[] {0, 0};
            return new Target(DockerSeccomp.goArch(System.getProperty("os.arch", "")), kernel, caps);
        }
    }

    /** A profile that can't be converted: what is wrong, at a JSON pointer. */
    public static final class ProfileException extends Exception {
        private final String pointer;

        ProfileException(String pointer, String message) {
            super(message);
            this.pointer = pointer;
        }

        public String pointer() {
            return pointer;
        }
    }

    /** The OCI keys of {@code linux.seccomp} a docker profile may carry over as they are. */
    private static final List<String> OCI_TOP = List.of("defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath", "listenerMetadata");
    private static final Set<String> DOCKER_ONLY_TOP = Set.of("comment", "archMap", "syscalls");

    /** moby's nativeToSeccomp, keyed by Go's GOARCH. */
    private static final Map<String, String> NATIVE_TO_SECCOMP = Map.ofEntries(Map.entry("386", "SCMP_ARCH_X86"), Map.entry("x86", "SCMP_ARCH_X86"),
            Map.entry("amd64", "SCMP_ARCH_X86_64"), Map.entry("arm", "SCMP_ARCH_ARM"), Map.entry("arm64", "SCMP_ARCH_AARCH64"),
            Map.entry("mips64", "SCMP_ARCH_MIPS64"), Map.entry("mips64n32", "SCMP_ARCH_MIPS64N32"), Map.entry("mipsel64", "SCMP_ARCH_MIPSEL64"),
            Map.entry("mipsel64n32", "SCMP_ARCH_MIPSEL64N32"), Map.entry("ppc64le", "SCMP_ARCH_PPC64LE"), Map.entry("riscv64", "SCMP_ARCH_RISCV64"),
            Map.entry("s390x", "SCMP_ARCH_S390X"), Map.entry("loong64", "SCMP_ARCH_LOONGARCH64"));

    private DockerSeccomp() {}

    /** Java's {@code os.arch} as Go's GOARCH (what {@code includes.arches} names). */
    static String goArch(String javaArch) {
        return switch (javaArch) {
            case "amd64", "x86_64" -> "amd64";
            case "aarch64", "arm64" -> "arm64";
            case "x86", "i386", "i486", "i586", "i686" -> "x86";
            case "loongarch64" -> "loong64";
            default -> javaArch;
        };
    }

    /** The OCI object for {@code profile} as a container with {@code target}'s bounding set would get it. */
    public static ObjectNode toOci(JsonNode profile, Target target) throws ProfileException {
        if (!profile.isObject()) throw new ProfileException("", "a seccomp profile is a JSON object");
        ObjectNode out = JsonNodeFactory.instance.objectNode();
        JsonNode architectures = profile.path("architectures");
        JsonNode archMap = profile.path("archMap");
        if (architectures.size() > 0 && archMap.size() > 0) {
            throw new ProfileException("/archMap", "both 'architectures' and 'archMap' are given; use one of them (as docker requires)");
        }
        if (!profile.hasNonNull("defaultAction")) throw new ProfileException("/defaultAction", "'defaultAction' is required");
        for (String key : OCI_TOP) {
            if (profile.hasNonNull(key) && !key.equals("architectures")) out.set(key, profile.get(key).deepCopy());
        }
        ArrayNode arches = JsonNodeFactory.instance.arrayNode();
        architectures.forEach(a -> arches.add(a.asText()));
        String native_ = NATIVE_TO_SECCOMP.get(target.goArch());
        for (JsonNode entry : archMap) {
            if (native_ != null && native_.equals(entry.path("architecture").asText())) {
                arches.add(native_);
                entry.path("subArchitectures").forEach(s -> arches.add(s.asText()));
            }
        }
        if (!arches.isEmpty()) out.set("architectures", arches);
        ArrayNode syscalls = out.putArray("syscalls");
        JsonNode rules = profile.path("syscalls");
        for (int i = 0; i < rules.size(); i++) {
            JsonNode rule = rules.get(i);
            String at = "/syscalls/" + i;
            if (rule.has("name") && rule.has("names")) throw new ProfileException(at, "use either 'name' or 'names'");
            if (!applies(rule.path("includes"), rule.path("excludes"), target)) continue;
            ObjectNode r = syscalls.addObject();
            ArrayNode names = r.putArray("names");
            if (rule.has("name")) names.add(rule.get("name").asText());
            rule.path("names").forEach(n -> names.add(n.asText()));
            if (!rule.hasNonNull("action")) throw new ProfileException(at + "/action", "a rule needs an 'action'");
            r.set("action", rule.get("action").deepCopy());
            if (rule.hasNonNull("errnoRet")) r.set("errnoRet", rule.get("errnoRet").deepCopy());
            if (rule.path("args").size() > 0) r.set("args", rule.get("args").deepCopy());
        }
        return out;
    }

    private static boolean applies(JsonNode includes, JsonNode excludes, Target t) throws ProfileException {
        if (contains(excludes.path("arches"), t.goArch())) return false;
        for (JsonNode c : excludes.path("caps")) if (t.caps().contains(cap(c.asText()))) return false;
        if (excludes.hasNonNull("minKernel") && atLeast(t.kernel(), excludes.get("minKernel").asText())) return false;
        if (includes.path("arches").size() > 0 && !contains(includes.path("arches"), t.goArch())) return false;
        for (JsonNode c : includes.path("caps")) if (!t.caps().contains(cap(c.asText()))) return false;
        return !includes.hasNonNull("minKernel") || atLeast(t.kernel(), includes.get("minKernel").asText());
    }

    private static boolean contains(JsonNode list, String value) {
        for (JsonNode n : list) if (n.asText().equals(value)) return true;
        return false;
    }

    private static String cap(String name) {
        String up = name.toUpperCase(Locale.ROOT);
        return up.startsWith("CAP_") ? up : "CAP_" + up;
    }

    private static boolean atLeast(int[] kernel, String min) throws ProfileException {
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^(\\d+)\\.(\\d+)").matcher(min);
        if (!m.find()) throw new ProfileException("", "minKernel '" + min + "' is not a kernel version such as 4.8");
        int major = Integer.parseInt(m.group(1));
        int minor = Integer.parseInt(m.group(2));
        return kernel[0] > major || kernel[0] == major && kernel[1] >= minor;
    }

    // ------------------------------------------------------------------------------ TIOCSTI, TIOCLINUX

    static final long TIOCSTI = 0x5412;
    static final long TIOCLINUX = 0x541C;

    /**
     * Folds the engine's second filter (deny the TIOCSTI and TIOCLINUX ioctls, issue 7) into a converted
     * allow-list profile, because OCI has one filter. libseccomp lets an unconditional rule for a syscall
     * absorb any conditional rule for it (the filter is "at least as permissive"), so "allow ioctl, but
     * EPERM for TIOCSTI" can't be written as two rules. Instead ioctl leaves the unconditional allow rules
     * and is allowed by rules that each test one bit pattern of the request's low 32 bits with
     * {@code SCMP_CMP_MASKED_EQ} (the kernel reads the request as a 32-bit int; a 64-bit compare is
     * bypassed by setting high bits, CVE-2019-10063): a request that differs from both numbers in some bit
     * matches one of the rules; TIOCSTI and TIOCLINUX match none and get the default action.
     * Only for a profile whose default action denies; returns false (nothing changed) otherwise.
     */
    public static boolean denyTerminalInjection(ObjectNode oci) {
        String action = oci.path("defaultAction").asText();
        if (action.equals("SCMP_ACT_ALLOW") || action.equals("SCMP_ACT_LOG")) return false;
        ArrayNode syscalls = (ArrayNode) oci.get("syscalls");
        boolean allowed = false;
        for (JsonNode rule : syscalls) {
            if (!rule.path("action").asText().equals("SCMP_ACT_ALLOW") || rule.path("args").size() > 0) continue;
            ArrayNode names = (ArrayNode) rule.get("names");
            for (int i = names.size() - 1; i >= 0; i--) {
                if (names.get(i).asText().equals("ioctl")) {
                    names.remove(i);
                    allowed = true;
                }
            }
        }
        if (!allowed) return false;
        for (long[] pattern : allowPatterns(List.of(TIOCSTI, TIOCLINUX))) {
            ObjectNode r = syscalls.addObject();
            r.putArray("names").add("ioctl");
            r.put("action", "SCMP_ACT_ALLOW");
            ObjectNode arg = r.putArray("args").addObject();
            arg.put("index", 1);
            arg.put("value", pattern[0]);
            arg.put("valueTwo", pattern[1]);
            arg.put("op", "SCMP_CMP_MASKED_EQ");
        }
        return true;
    }

    /**
     * {mask, value} pairs over the low 32 bits that together match every request except {@code denied}:
     * one single-bit pattern for each bit on which all denied requests agree (the other value of that bit),
     * plus every pattern of the bits on which they differ that is none of theirs.
     */
    static List<long[]> allowPatterns(Collection<Long> denied) {
        long first = denied.iterator().next();
        long differing = 0;
        for (long d : denied) differing |= d ^ first;
        long differ = differing;
        List<long[]> out = new ArrayList<>();
        for (int bit = 0; bit < 32; bit++) {
            long b = 1L << bit;
            if ((differ & b) == 0) out.add(new long[] {b, ~first & b});
        }
        List<Integer> bits = new ArrayList<>();
        for (int bit = 0; bit < 32; bit++) if ((differ & 1L << bit) != 0) bits.add(bit);
        for (int combo = 0; combo < 1 << bits.size(); combo++) {
            long value = 0;
            for (int i = 0; i < bits.size(); i++) if ((combo >> i & 1) != 0) value |= 1L << bits.get(i);
            long v = value;
            if (denied.stream().noneMatch(d -> (d & differ) == v)) out.add(new long[] {differ, v});
        }
        return out;
    }
}
