package dev.sandbox.plugins.time;

import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;
import dev.sandbox.api.SpecNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.pf4j.Extension;

/**
 * {@code namespaces.time}: a new time namespace with offsets for the monotonic and boot-time clocks.
 *
 * <pre>{@code
 * namespaces:
 *   time:
 *     offsets: {monotonic: 86400, boottime: -1.5}
 * }</pre>
 *
 * <h2>Keys</h2>
 * <ul>
 *   <li>{@code offsets.monotonic}, {@code offsets.boottime} — seconds added to {@code CLOCK_MONOTONIC} and
 *       {@code CLOCK_BOOTTIME} inside (the latter is what {@code uptime} shows). Numbers, may be negative or
 *       fractional, nanosecond precision (finer digits are rounded half-even). Omitted: 0, the host's clock.
 *       At most 2<sup>31</sup> seconds (about 68 years) either way: the kernel refuses offsets that take a
 *       clock below 0 or past {@code KTIME_SEC_MAX / 2} (ERANGE), and beyond 2<sup>31</sup> seconds the
 *       clock no longer fits the 32-bit {@code time_t} of older programs. A negative offset must also be
 *       smaller than the host's current uptime, or the kernel refuses it when the sandbox starts.</li>
 * </ul>
 * The wall clock ({@code CLOCK_REALTIME}, {@code date}) is not part of a time namespace (time_namespaces(7)).
 *
 * <h2>What happens</h2>
 * In stage {@code clone} the helper first runs {@code unshare(CLONE_NEWTIME)} (added by the engine:
 * {@code CLONE_NEWTIME} can not be a clone flag, it collides with {@code CSIGNAL}). The helper itself stays
 * in its old time namespace; only children it creates afterwards enter the new one. Then this plugin's
 * {@code timens-offset} steps — monotonic first — each append {@code "<clock> <seconds> <nanoseconds>"} to
 * {@code /proc/self/timens_offsets}, which is only writable while no process has entered the namespace.
 * Seconds and nanoseconds are normalised as the kernel requires: {@code 0 <= nanoseconds < 10^9}, so
 * -1.5 becomes {@code -2 s + 500000000 ns}. Finally the clone creates the child inside the new namespace.
 * The offsets need {@code CAP_SYS_TIME} in the user namespace that owns the time namespace, which is why
 * this plugin comes after {@code user} ({@link #after()}).
 *
 * <h2>Checks</h2>
 * {@code time.offset-out-of-range}: an offset beyond ±2<sup>31</sup> seconds, or not a finite number.
 */
@Extension
public class TimeNamespacePlugin implements NamespacePlugin {

    /** The kernel's two virtualised clocks, in the order their steps are written. */
    static final List<String> CLOCKS = List.of("monotonic", "boottime");
    static final BigDecimal LIMIT = BigDecimal.valueOf(1L << 31);
    private static final BigDecimal NANOS = BigDecimal.valueOf(1_000_000_000L);

    /** An offset normalised for timens_offsets: {@code 0 <= nanoseconds < 10^9}. */
    record Offset(long seconds, long nanoseconds) {}

    @Override
    public String id() {
        return "time";
    }

    @Override
    public Set<String> after() {
        return Set.of("user");
    }

    @Override
    public String schemaFragment() {
        return resource("/time.schema.json");
    }

    @Override
    public void validate(SectionContext ctx) {
        SpecNode offsets = ctx.section().get("offsets");
        for (String clock : CLOCKS) {
            SpecNode value = offsets.get(clock);
            if (value.isMissing()) continue;
            if (value.kind() != SpecNode.Kind.NUMBER || decimal(value.text()).isEmpty()) {
                ctx.error(value, "time.offset-out-of-range", clock + " offset '" + value.text() + "' is not a finite number of seconds",
                        "give seconds as a number, e.g. " + clock + ": 86400 (one day) or -1.5");
                continue;
            }
            BigDecimal seconds = decimal(value.text()).get();
            if (seconds.abs().compareTo(LIMIT) > 0) {
                ctx.error(value, "time.offset-out-of-range", clock + " offset " + value.text() + " s is beyond ±" + LIMIT
                                + " s (about 68 years): the kernel refuses offsets that move the clock below 0 or past KTIME_SEC_MAX/2"
                                + " (ERANGE), and past 2^31 s the clock overflows a 32-bit time_t",
                        "use an offset between -" + LIMIT + " and " + LIMIT + " seconds; a negative one must also be smaller than the"
                                + " host's uptime");
            }
        }
    }

    @Override
    public void contribute(PlanContext ctx) {
        SpecNode offsets = ctx.section().get("offsets");
        for (String clock : CLOCKS) {
            SpecNode value = offsets.get(clock);
            if (value.isMissing()) continue;
            BigDecimal exact = decimal(value.text()).orElseThrow();
            Offset offset = normalise(exact);
            String clockId = "CLOCK_" + clock.toUpperCase(java.util.Locale.ROOT);
            String shift = switch (exact.signum()) {
                case 0 -> "reads the same as the host's";
                case 1 -> "reads " + exact.stripTrailingZeros().toPlainString() + " s ahead of the host's";
                default -> "reads " + exact.abs().stripTrailingZeros().toPlainString() + " s behind the host's";
            };
            ctx.add(Step.of(Stage.CLONE, "timens-offset").arg("clock", clock).arg("seconds", offset.seconds())
                    .arg("nanoseconds", offset.nanoseconds())
                    .summary(clockId + " in the sandbox " + shift + "; written before any process enters the new time namespace,"
                            + " the only time the kernel accepts it")
                    .syscall("write /proc/self/timens_offsets \"" + clock + " " + offset.seconds() + " " + offset.nanoseconds() + "\"")
                    .build());
        }
    }

    /** The YAML number as an exact decimal; empty for .inf, .nan and anything else that isn't finite. */
    static Optional<BigDecimal> decimal(String text) {
        try {
            return Optional.of(new BigDecimal(text.strip()));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    /** Rounds to whole nanoseconds and splits so that the nanoseconds are never negative (the kernel's timespec rule). */
    static Offset normalise(BigDecimal value) {
        BigDecimal rounded = value.setScale(9, RoundingMode.HALF_EVEN);
        BigDecimal seconds = rounded.setScale(0, RoundingMode.FLOOR);
        long nanos = rounded.subtract(seconds).multiply(NANOS).longValueExact();
        return new Offset(seconds.longValueExact(), nanos);
    }

    static String resource(String name) {
        try (InputStream in = TimeNamespacePlugin.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is missing from the plugin jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
