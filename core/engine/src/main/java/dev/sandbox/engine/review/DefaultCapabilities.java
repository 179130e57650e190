package dev.sandbox.engine.review;

import dev.sandbox.engine.pipeline.Capabilities;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The capabilities a target keeps when the spec names none (issue 7): docker's default set for uid 0
 * inside, without CAP_MKNOD, plus CAP_NET_RAW only in a new network namespace; none for any other uid.
 *
 * <p>TODO(merge with issue 7): the pipeline's {@code dev.sandbox.engine.pipeline.Capabilities.DEFAULT}
 * / {@code Capabilities.defaults(uid, newNet)} (H2's branch) is the one source of this set; make it
 * public and call it from {@link #forUid} instead of this copy.
 */
public final class DefaultCapabilities {

    static final List<String> UID0 = List.of("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
            "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_AUDIT_WRITE", "CAP_SETFCAP");

    private DefaultCapabilities() {}

    /** The default set of a uid, in capability-number order. */
    public static List<String> forUid(long uid, boolean newNet) {
        if (uid != 0) return List.of();
        List<String> out = new ArrayList<>(UID0);
        if (newNet) out.add("CAP_NET_RAW");
        return sorted(out);
    }

    /** CAP_ names, upper case, de-duplicated, in number order; an unknown name is kept as written (upper case) at the end. */
    public static List<String> sorted(Collection<String> names) {
        List<String> known = new ArrayList<>();
        List<String> unknown = new ArrayList<>();
        for (String n : names) {
            String up = n.toUpperCase(Locale.ROOT);
            if (!up.startsWith("CAP_")) up = "CAP_" + up;
            Optional<Integer> number = Capabilities.number(up);
            if (number.isPresent()) {
                if (!known.contains(up)) known.add(up);
            } else if (!unknown.contains(up)) {
                unknown.add(up);
            }
        }
        known.sort((a, b) -> Integer.compare(Capabilities.number(a).orElseThrow(), Capabilities.number(b).orElseThrow()));
        unknown.sort(null);
        known.addAll(unknown);
        return known;
    }
}
