package dev.sandbox.engine.review;

import dev.sandbox.engine.pipeline.Capabilities;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The capabilities a target keeps when the spec names none, as the review compares them: the
 * pipeline's own rule ({@link Capabilities#defaults}, docs/spec.md), and names put in one order.
 */
public final class DefaultCapabilities {

    private DefaultCapabilities() {}

    /** The default set of a uid, in capability-number order. */
    public static List<String> forUid(long uid, boolean newNet) {
        return Capabilities.defaults(uid, newNet);
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
