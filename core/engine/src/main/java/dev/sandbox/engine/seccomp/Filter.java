package dev.sandbox.engine.seccomp;

import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.util.List;
import java.util.Map;

/**
 * One compiled seccomp filter: what the plan's {@code finish seccomp} step carries
 * ({@code default=}, {@code arch=}, {@code rule=}; core/native/PROTOCOL.md), plus what the text
 * view of a plan says about it in one line.
 *
 * @param label          how the plan names it, e.g. "docker default" or "profile ./strict.json"
 * @param defaultAction  {@code allow}, {@code errno:N}, {@code kill-thread}, ...
 * @param arches         libseccomp names added besides the native one (empty: the native one only)
 * @param rules          the {@code rule=} values, in the profile's order
 * @param allowed        how many distinct syscalls some rule allows
 * @param deniesTiocsti  whether {@code ioctl(TIOCSTI)} is denied whatever the request's high bits
 */
public record Filter(String label, String defaultAction, List<String> arches, List<String> rules, int allowed, boolean deniesTiocsti) {

    public Filter {
        arches = List.copyOf(arches);
        rules = List.copyOf(rules);
    }

    /**
     * The filter that closes TIOCSTI and TIOCLINUX for every profile we build in: the request compared
     * on its low 32 bits (mask 0xFFFFFFFF), since the kernel ignores the high bits of an ioctl
     * request that a plain 64-bit compare would see (CVE-2019-10063). It covers the same
     * architectures as the profile it goes with: a filter kills a syscall of an architecture it
     * doesn't list (libseccomp's bad-arch action), so a 32-bit program would die on its first call.
     */
    public static Filter tty(List<String> arches) {
        return new Filter("tty", "allow", arches, List.of("errno:1 ioctl 1:masked_eq:4294967295:21522",
                "errno:1 ioctl 1:masked_eq:4294967295:21532"), 0, true);
    }

    /**
     * Whether every call of {@code syscall} is certainly refused: an unconditional non-allowing rule for
     * it, or a non-allowing default and no allowing rule naming it (rules with conditions count as
     * possibly allowing).
     */
    public boolean denies(String syscall) {
        boolean allowing = false;
        for (String rule : rules) {
            String[] f = rule.split(" ");
            if (!List.of(f[1].split(",")).contains(syscall)) continue;
            boolean allows = f[0].equals("allow") || f[0].equals("log");
            if (!allows && f.length == 2) return true;
            if (allows) allowing = true;
        }
        return !allowing && !defaultAction.equals("allow") && !defaultAction.equals("log");
    }

    public Step step() {
        String summary = label.equals("tty")
                ? "seccomp: deny the TIOCSTI and TIOCLINUX ioctls (EPERM; request compared on 32 bits), everything else allowed"
                : "seccomp: " + label + " (" + allowed + " syscalls allowed" + (rules.isEmpty() ? "" : ", " + rules.size() + " rules") + "), "
                        + otherwise(defaultAction);
        return Step.of(Stage.FINISH, "seccomp").arg("default", defaultAction).args("arch", arches).args("rule", rules)
                .summary(summary)
                .syscall("seccomp_init(" + libseccomp(defaultAction) + "); seccomp_arch_add x " + arches.size() + "; seccomp_rule_add_array x "
                        + rules.size() + "; seccomp_load()")
                .build();
    }

    private static final Map<Integer, String> ERRNO = Map.ofEntries(Map.entry(1, "EPERM"), Map.entry(2, "ENOENT"), Map.entry(5, "EIO"),
            Map.entry(13, "EACCES"), Map.entry(22, "EINVAL"), Map.entry(38, "ENOSYS"), Map.entry(95, "EOPNOTSUPP"));

    static String errnoName(int n) {
        return ERRNO.getOrDefault(n, "errno " + n);
    }

    static String otherwise(String action) {
        if (action.equals("allow")) return "everything else allowed";
        if (action.equals("log")) return "everything else allowed and logged";
        if (action.startsWith("errno:")) return "errno " + errnoName(Integer.parseInt(action.substring(6))) + " otherwise";
        if (action.startsWith("trace:")) return "a tracer decides otherwise";
        return switch (action) {
            case "kill-process" -> "the process is killed otherwise";
            case "kill-thread" -> "the thread is killed otherwise";
            case "trap" -> "SIGSYS otherwise";
            default -> action + " otherwise";
        };
    }

    private static String libseccomp(String action) {
        if (action.startsWith("errno:")) return "SCMP_ACT_ERRNO(" + action.substring(6) + ")";
        if (action.startsWith("trace:")) return "SCMP_ACT_TRACE(" + action.substring(6) + ")";
        return "SCMP_ACT_" + action.toUpperCase(java.util.Locale.ROOT).replace('-', '_');
    }
}
