package dev.sandbox.engine.seccomp;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sandbox.engine.seccomp.SeccompProfile.ProfileException;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Compiles a Docker-format profile into one {@link Filter} for a given target, as moby's
 * {@code seccomp.Setup} does: {@code archMap} picks the native architecture and its sub-architectures;
 * a rule's {@code includes}/{@code excludes} are matched against the capabilities the target keeps
 * (its bounding set), the native architecture (Go's names: amd64, arm64, x86, ...) and the kernel
 * version. What is left becomes the {@code rule=} lines of the plan's {@code seccomp} step
 * (core/native/PROTOCOL.md); runc's rules for several conditions on one argument (one rule per
 * condition, ORed) are kept.
 */
public final class SeccompCompiler {

    /** What a profile is compiled for. {@code caps}: names with {@code CAP_}, upper case. */
    public record Target(String arch, int[] kernel, Set<String> caps) {

        /** This host: {@code os.arch} and {@code os.version} (the running kernel's release). */
        public static Target host(Set<String> caps) {
            return new Target(goArch(System.getProperty("os.arch", "")), SeccompCompiler.kernel(System.getProperty("os.version", "")), caps);
        }
    }

    private static final Pattern VERSION = Pattern.compile("^(\\d+)\\.(\\d+)");
    private static final Pattern SYSCALL = Pattern.compile("[a-z0-9_]{1,64}");
    private static final Set<String> TOP_KEYS = Set.of("defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls",
            "flags", "listenerPath", "listenerMetadata", "comment");
    private static final Set<String> RULE_KEYS = Set.of("name", "names", "action", "errnoRet", "args", "includes", "excludes", "comment");
    private static final Set<String> FILTER_KEYS = Set.of("caps", "arches", "minKernel");
    private static final Set<String> ARG_KEYS = Set.of("index", "value", "valueTwo", "op");
    private static final Map<String, String> OPS = Map.of("SCMP_CMP_NE", "ne", "SCMP_CMP_LT", "lt", "SCMP_CMP_LE", "le", "SCMP_CMP_EQ", "eq",
            "SCMP_CMP_GE", "ge", "SCMP_CMP_GT", "gt", "SCMP_CMP_MASKED_EQ", "masked_eq");
    /** libseccomp's architecture names (seccomp_arch_resolve_name), by the profile's SCMP_ARCH_* token. */
    static final List<String> ARCHES = List.of("x86", "x86_64", "x32", "arm", "aarch64", "mips", "mips64", "mips64n32", "mipsel", "mipsel64",
            "mipsel64n32", "ppc", "ppc64", "ppc64le", "s390", "s390x", "parisc", "parisc64", "riscv64", "loongarch64", "m68k", "sh", "sheb");
    /** moby's goToNative (Go's GOARCH to the names includes/excludes use) and nativeToSeccomp. */
    private static final Map<String, String> NATIVE_TO_SECCOMP = Map.ofEntries(Map.entry("x86", "x86"), Map.entry("amd64", "x86_64"),
            Map.entry("arm", "arm"), Map.entry("arm64", "aarch64"), Map.entry("mips64", "mips64"), Map.entry("mips64n32", "mips64n32"),
            Map.entry("mipsel64", "mipsel64"), Map.entry("mipsel64n32", "mipsel64n32"), Map.entry("mips", "mips"), Map.entry("mipsel", "mipsel"),
            Map.entry("ppc", "ppc"), Map.entry("ppc64", "ppc64"), Map.entry("ppc64le", "ppc64le"), Map.entry("riscv64", "riscv64"),
            Map.entry("s390", "s390"), Map.entry("s390x", "s390x"), Map.entry("loong64", "loongarch64"));
    private static final BigInteger U64 = BigInteger.ONE.shiftLeft(64);

    private SeccompCompiler() {}

    /** Java's {@code os.arch} as Go's GOARCH, mapped the way moby's goToNative does. */
    static String goArch(String javaArch) {
        return switch (javaArch) {
            case "amd64", "x86_64" -> "amd64";
            case "aarch64", "arm64" -> "arm64";
            case "x86", "i386", "i486", "i586", "i686" -> "x86";
            case "mips64el" -> "mipsel64";
            case "loongarch64" -> "loong64";
            default -> javaArch;
        };
    }

    static int[] kernel(String release) {
        Matcher m = VERSION.matcher(release);
        return m.find() ? new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2))} : new int[] {0, 0};
    }

    public static Filter compile(SeccompProfile profile, String label, Target target) throws ProfileException {
        JsonNode root = profile.root();
        unknownKeys(profile, root, "", TOP_KEYS);
        for (String unsupported : List.of("flags", "listenerPath", "listenerMetadata")) {
            JsonNode v = root.path(unsupported);
            if (!v.isMissingNode() && !v.isNull() && !(v.isArray() && v.isEmpty()) && !(v.isTextual() && v.asText().isEmpty())) {
                throw profile.at("/" + unsupported, "'" + unsupported + "' is not supported (no seccomp flags, no user notification)");
            }
        }
        if (!root.path("defaultAction").isTextual()) {
            throw profile.at("/defaultAction", "the profile needs a \"defaultAction\", e.g. \"SCMP_ACT_ERRNO\"");
        }
        long defaultErrno = number(profile, root.path("defaultErrnoRet"), "/defaultErrnoRet", 1, 4095);
        String defaultAction = action(profile, root.path("defaultAction").asText(), "/defaultAction",
                root.has("defaultErrnoRet") ? defaultErrno : null);

        JsonNode architectures = root.path("architectures");
        JsonNode archMap = root.path("archMap");
        if (nonEmptyArray(architectures) && nonEmptyArray(archMap)) {
            throw profile.at("/archMap", "both 'architectures' and 'archMap' are given; use one of them (as Docker requires)");
        }
        Set<String> arches = new LinkedHashSet<>();
        if (!architectures.isMissingNode() && !architectures.isNull()) {
            if (!architectures.isArray()) throw profile.at("/architectures", "'architectures' must be a list of SCMP_ARCH_* names");
            for (int i = 0; i < architectures.size(); i++) arches.add(arch(profile, architectures.get(i), "/architectures/" + i));
        }
        if (!archMap.isMissingNode() && !archMap.isNull()) {
            if (!archMap.isArray()) throw profile.at("/archMap", "'archMap' must be a list of {architecture, subArchitectures}");
            String nativeArch = NATIVE_TO_SECCOMP.get(target.arch());
            for (int i = 0; i < archMap.size(); i++) {
                JsonNode entry = archMap.get(i);
                String at = "/archMap/" + i;
                unknownKeys(profile, entry, at, Set.of("architecture", "subArchitectures"));
                String main = arch(profile, entry.path("architecture"), at + "/architecture");
                List<String> subs = new ArrayList<>();
                JsonNode sub = entry.path("subArchitectures");
                if (!sub.isMissingNode() && !sub.isNull()) {
                    if (!sub.isArray()) throw profile.at(at + "/subArchitectures", "'subArchitectures' must be a list of SCMP_ARCH_* names");
                    for (int j = 0; j < sub.size(); j++) subs.add(arch(profile, sub.get(j), at + "/subArchitectures/" + j));
                }
                if (main.equals(nativeArch) && arches.isEmpty()) {
                    arches.add(main);
                    arches.addAll(subs);
                }
            }
        }

        List<String> rules = new ArrayList<>();
        Set<String> allowed = new LinkedHashSet<>();
        List<Rule> parsed = new ArrayList<>();
        JsonNode syscalls = root.path("syscalls");
        if (!syscalls.isMissingNode() && !syscalls.isNull() && !syscalls.isArray()) {
            throw profile.at("/syscalls", "'syscalls' must be a list of rules {names, action, ...}");
        }
        for (int i = 0; i < syscalls.size(); i++) {
            String at = "/syscalls/" + i;
            JsonNode call = syscalls.get(i);
            if (!call.isObject()) throw profile.at(at, "a rule is an object {\"names\": [...], \"action\": ...}");
            unknownKeys(profile, call, at, RULE_KEYS);
            List<String> names = names(profile, call, at);
            if (!call.path("action").isTextual()) throw profile.at(at + "/action", "the rule needs an \"action\", e.g. \"SCMP_ACT_ALLOW\"");
            Long errnoRet = call.has("errnoRet") && !call.get("errnoRet").isNull()
                    ? number(profile, call.get("errnoRet"), at + "/errnoRet", 1, 4095) : null;
            String action = action(profile, call.get("action").asText(), at + "/action", errnoRet);
            List<Arg> args = args(profile, call.path("args"), at + "/args");
            boolean applies = !matches(profile, call.path("excludes"), at + "/excludes", target, true)
                    && matches(profile, call.path("includes"), at + "/includes", target, false);
            if (!applies || names.isEmpty()) continue;
            // libseccomp refuses a rule whose action is the filter's default (runc skips it too)
            if (action.equals(defaultAction)) continue;
            parsed.add(new Rule(action, names, args));
            if (action.equals("allow")) allowed.addAll(names);
            boolean sameIndexTwice = args.stream().map(Arg::index).distinct().count() < args.size();
            if (sameIndexTwice) {
                for (Arg a : args) rules.add(action + " " + String.join(",", names) + " " + a.wire());
            } else {
                StringBuilder line = new StringBuilder(action).append(' ').append(String.join(",", names));
                for (Arg a : args) line.append(' ').append(a.wire());
                rules.add(line.toString());
            }
        }
        return new Filter(label, defaultAction, List.copyOf(arches), rules, allowed.size(), deniesTiocsti(defaultAction, parsed));
    }

    /** One compiled rule, kept for the TIOCSTI check. */
    private record Rule(String action, List<String> names, List<Arg> args) {}

    /** One argument condition: {@code index:op:value[:value2]}, numbers as unsigned 64-bit. */
    record Arg(int index, String op, BigInteger value, BigInteger value2) {
        String wire() {
            return op.equals("masked_eq") ? index + ":" + op + ":" + value + ":" + value2 : index + ":" + op + ":" + value;
        }

        boolean test(BigInteger x) {
            int c = x.compareTo(value);
            return switch (op) {
                case "ne" -> c != 0;
                case "lt" -> c < 0;
                case "le" -> c <= 0;
                case "eq" -> c == 0;
                case "ge" -> c >= 0;
                case "gt" -> c > 0;
                default -> x.and(value).equals(value2);
            };
        }
    }

    /** TIOCSTI (0x5412) as the kernel sees it, and with high bits set that the kernel ignores (CVE-2019-10063). */
    private static final List<BigInteger> TIOCSTI = List.of(BigInteger.valueOf(0x5412), BigInteger.valueOf(0x1_0000_5412L),
            new BigInteger("ffffffff00005412", 16));

    /**
     * Whether the filter certainly denies {@code ioctl(fd, TIOCSTI, ...)} however the request's high bits
     * are set: a non-allowing rule on ioctl whose only conditions are on the request and match, or a
     * non-allowing default that no allowing ioctl rule might override.
     */
    static boolean deniesTiocsti(String defaultAction, List<Rule> rules) {
        for (BigInteger request : TIOCSTI) {
            boolean denied = false;
            boolean mayBeAllowed = false;
            for (Rule r : rules) {
                if (!r.names().contains("ioctl")) continue;
                boolean allows = r.action().equals("allow") || r.action().equals("log");
                boolean onRequest = r.args().stream().allMatch(a -> a.index() == 1 && a.test(request));
                boolean mayMatch = r.args().stream().allMatch(a -> a.index() != 1 || a.test(request));
                if (!allows && onRequest) denied = true;
                if (allows && mayMatch) mayBeAllowed = true;
            }
            boolean defaultDenies = !defaultAction.equals("allow") && !defaultAction.equals("log");
            // Why any allowing rule spoils it: libseccomp drops a conditional ERRNO rule for a syscall that
            // another rule allows unconditionally (measured with runc and libseccomp 2.5.4: TIOCSTI got
            // through docker's profile plus a masked ERRNO rule), so only a profile with no allowing rule
            // that may match the request certainly denies it
            if (mayBeAllowed || (!denied && !defaultDenies)) return false;
        }
        return true;
    }

    private static boolean nonEmptyArray(JsonNode n) {
        return n.isArray() && !n.isEmpty();
    }

    private static void unknownKeys(SeccompProfile profile, JsonNode node, String at, Set<String> known) throws ProfileException {
        if (!node.isObject()) throw profile.at(at, "expected an object here");
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!known.contains(k)) {
                throw profile.at(at + "/" + k, "unknown key '" + k + "' (known here: " + String.join(", ", known.stream().sorted().toList()) + ")");
            }
        }
    }

    private static List<String> names(SeccompProfile profile, JsonNode call, String at) throws ProfileException {
        List<String> names = new ArrayList<>();
        JsonNode name = call.path("name");
        JsonNode list = call.path("names");
        if (name.isTextual() && !name.asText().isEmpty() && nonEmptyArray(list)) {
            throw profile.at(at + "/name", "both 'name' and 'names' are given; use one of them");
        }
        if (!name.isMissingNode() && !name.isNull()) {
            if (!name.isTextual()) throw profile.at(at + "/name", "'name' must be a syscall name");
            if (!name.asText().isEmpty()) names.add(syscall(profile, name, at + "/name"));
        }
        if (!list.isMissingNode() && !list.isNull()) {
            if (!list.isArray()) throw profile.at(at + "/names", "'names' must be a list of syscall names");
            for (int i = 0; i < list.size(); i++) names.add(syscall(profile, list.get(i), at + "/names/" + i));
        }
        return names.stream().distinct().toList();
    }

    private static String syscall(SeccompProfile profile, JsonNode n, String at) throws ProfileException {
        if (!n.isTextual() || !SYSCALL.matcher(n.asText()).matches()) {
            throw profile.at(at, "'" + n.asText() + "' is not a syscall name (lower-case letters, digits and '_')");
        }
        return n.asText();
    }

    /** The plan's action for a profile's SCMP_ACT_*. */
    private static String action(SeccompProfile profile, String name, String at, Long errnoRet) throws ProfileException {
        String action = switch (name) {
            case "SCMP_ACT_ALLOW" -> "allow";
            case "SCMP_ACT_ERRNO" -> "errno:" + (errnoRet == null ? 1 : errnoRet);
            case "SCMP_ACT_TRACE" -> "trace:" + (errnoRet == null ? 1 : errnoRet);
            case "SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD" -> "kill-thread";
            case "SCMP_ACT_KILL_PROCESS" -> "kill-process";
            case "SCMP_ACT_TRAP" -> "trap";
            case "SCMP_ACT_LOG" -> "log";
            case "SCMP_ACT_NOTIFY" -> throw profile.at(at, "SCMP_ACT_NOTIFY needs a seccomp agent, which sandbox does not run");
            default -> throw profile.at(at, "unknown action '" + name + "' (SCMP_ACT_ALLOW, SCMP_ACT_ERRNO, SCMP_ACT_KILL_PROCESS,"
                    + " SCMP_ACT_KILL_THREAD, SCMP_ACT_KILL, SCMP_ACT_TRAP, SCMP_ACT_TRACE, SCMP_ACT_LOG)");
        };
        if (errnoRet != null && !name.equals("SCMP_ACT_ERRNO") && !name.equals("SCMP_ACT_TRACE")) {
            throw profile.at(at, "an errno return value applies to SCMP_ACT_ERRNO and SCMP_ACT_TRACE only, not to " + name);
        }
        return action;
    }

    private static String arch(SeccompProfile profile, JsonNode n, String at) throws ProfileException {
        String text = n.asText("");
        String name = text.startsWith("SCMP_ARCH_") ? text.substring("SCMP_ARCH_".length()).toLowerCase(Locale.ROOT) : "";
        if (!n.isTextual() || !ARCHES.contains(name)) {
            throw profile.at(at, "unknown architecture '" + text + "' (SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32, SCMP_ARCH_AARCH64,"
                    + " SCMP_ARCH_ARM, ...)");
        }
        return name;
    }

    private static long number(SeccompProfile profile, JsonNode n, String at, long min, long max) throws ProfileException {
        if (n.isMissingNode() || n.isNull()) return min;
        if (!n.isIntegralNumber() || n.asLong() < min || n.asLong() > max) {
            throw profile.at(at, "expected a whole number from " + min + " to " + max + ", not " + n);
        }
        return n.asLong();
    }

    private static BigInteger u64(SeccompProfile profile, JsonNode n, String at) throws ProfileException {
        if (n.isMissingNode() || n.isNull()) return BigInteger.ZERO;
        if (!n.isIntegralNumber() || n.bigIntegerValue().signum() < 0 || n.bigIntegerValue().compareTo(U64) >= 0) {
            throw profile.at(at, "expected an unsigned 64-bit number, not " + n);
        }
        return n.bigIntegerValue();
    }

    private static List<Arg> args(SeccompProfile profile, JsonNode args, String at) throws ProfileException {
        List<Arg> out = new ArrayList<>();
        if (args.isMissingNode() || args.isNull()) return out;
        if (!args.isArray()) throw profile.at(at, "'args' must be a list of {index, value, valueTwo, op}");
        for (int i = 0; i < args.size(); i++) {
            String a = at + "/" + i;
            JsonNode arg = args.get(i);
            unknownKeys(profile, arg, a, ARG_KEYS);
            long index = number(profile, arg.path("index"), a + "/index", 0, 5);
            if (!arg.has("index")) throw profile.at(a, "an argument condition needs an \"index\" (0 to 5)");
            String op = OPS.get(arg.path("op").asText(""));
            if (op == null) {
                throw profile.at(a + "/op", "unknown comparison '" + arg.path("op").asText("") + "' (SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE,"
                        + " SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ)");
            }
            out.add(new Arg((int) index, op, u64(profile, arg.path("value"), a + "/value"), u64(profile, arg.path("valueTwo"), a + "/valueTwo")));
        }
        return out;
    }

    /**
     * Whether an includes/excludes object matches the target. Includes: every stated condition holds
     * (each cap kept, the arch listed, the kernel at least minKernel). Excludes: any one holds.
     */
    private static boolean matches(SeccompProfile profile, JsonNode filter, String at, Target target, boolean any) throws ProfileException {
        if (filter.isMissingNode() || filter.isNull()) return !any;
        unknownKeys(profile, filter, at, FILTER_KEYS);
        List<Boolean> conditions = new ArrayList<>();
        JsonNode caps = filter.path("caps");
        if (nonEmptyArray(caps)) {
            boolean all = true;
            boolean some = false;
            for (JsonNode c : caps) {
                boolean kept = target.caps().contains(c.asText().toUpperCase(Locale.ROOT));
                all &= kept;
                some |= kept;
            }
            conditions.add(any ? some : all);
        }
        JsonNode arches = filter.path("arches");
        if (nonEmptyArray(arches)) {
            boolean listed = false;
            for (JsonNode a : arches) listed |= a.asText().equals(target.arch());
            conditions.add(listed);
        }
        JsonNode minKernel = filter.path("minKernel");
        if (!minKernel.isMissingNode() && !minKernel.isNull()) {
            Matcher m = Pattern.compile("^(\\d+)\\.(\\d+)$").matcher(minKernel.asText(""));
            if (!minKernel.isTextual() || !m.matches()) {
                throw profile.at(at + "/minKernel", "minKernel must be \"MAJOR.MINOR\", e.g. \"4.8\", not " + minKernel);
            }
            int major = Integer.parseInt(m.group(1));
            int minor = Integer.parseInt(m.group(2));
            int[] k = target.kernel();
            conditions.add(k[0] > major || (k[0] == major && k[1] >= minor));
        }
        if (conditions.isEmpty()) return !any;
        return any ? conditions.contains(true) : !conditions.contains(false);
    }
}
