package dev.sandbox.engine.pipeline;

import java.util.List;
import java.util.Locale;
import java.util.Optional;

/** capabilities(7) names and numbers, up to CAP_CHECKPOINT_RESTORE (Linux 5.9). */
public final class Capabilities {

    static final List<String> NAMES = List.of(
            "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
            "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
            "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
            "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
            "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE");

    /**
     * What uid 0 keeps when the spec names no capabilities: Docker's default set without CAP_MKNOD (we
     * set no device-cgroup policy that would make device nodes safe) and with CAP_NET_RAW only in a new
     * network namespace (added by {@link #defaults}). Never CAP_SYS_ADMIN: with it root inside can
     * remount read-only binds, unmount masks and mount the host's disks.
     */
    static final List<String> DEFAULT = List.of("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_SETFCAP");

    private Capabilities() {}

    /** The default set for a uid: {@link #DEFAULT} (+ CAP_NET_RAW in a new network namespace) for 0, none for any other. */
    public static List<String> defaults(long uid, boolean newNet) {
        if (uid != 0) return List.of();
        List<String> out = new java.util.ArrayList<>(DEFAULT);
        if (newNet) out.add("CAP_NET_RAW");
        return sorted(out);
    }

    /** Names with the CAP_ prefix, upper case, without duplicates, in capability-number order; unknown names dropped. */
    static List<String> sorted(List<String> names) {
        return names.stream().map(n -> number(n)).flatMap(Optional::stream).distinct().sorted().map(NAMES::get).toList();
    }

    /** The highest capability this kernel knows (/proc/sys/kernel/cap_last_cap), or the last one in {@link #NAMES}. */
    static int lastCap() {
        try {
            // Why a stream: JDK 17's Files.readString trusts st_size, which is 0 for /proc files, and returned "4" for "40\n"
            String text;
            try (java.io.InputStream in = java.nio.file.Files.newInputStream(java.nio.file.Path.of("/proc/sys/kernel/cap_last_cap"))) {
                text = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII);
            }
            int last = Integer.parseInt(text.strip());
            return Math.min(last, NAMES.size() - 1);
        } catch (java.io.IOException | RuntimeException e) {
            return NAMES.size() - 1;
        }
    }

    /** The number of a capability; the {@code CAP_} prefix and case are optional. */
    public static Optional<Integer> number(String name) {
        String n = name.toUpperCase(Locale.ROOT);
        if (!n.startsWith("CAP_")) n = "CAP_" + n;
        int i = NAMES.indexOf(n);
        return i < 0 ? Optional.empty() : Optional.of(i);
    }

    public static List<String> names() {
        return NAMES;
    }
}
