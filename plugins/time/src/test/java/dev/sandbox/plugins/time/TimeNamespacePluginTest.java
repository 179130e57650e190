package dev.sandbox.plugins.time;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.testkit.PluginHarness;
import java.math.BigDecimal;
import java.util.List;
import org.junit.jupiter.api.Test;

class TimeNamespacePluginTest {

    private static PluginHarness spec(String yaml) {
        return PluginHarness.with(new TimeNamespacePlugin()).spec(yaml);
    }

    /** op and args of each clone-stage step, in plan order. */
    private static List<String> cloneStage(PluginHarness h) {
        return h.plan().stage(Stage.CLONE).stream()
                .map(s -> s.op() + s.args().stream().map(a -> " " + a.key() + "=" + a.value()).reduce("", String::concat))
                .toList();
    }

    @Test
    void offsetsAreWrittenAfterUnshareAndBeforeTheCloneMonotonicFirst() {
        var h = spec("""
                namespaces:
                  time: {offsets: {boottime: -1.5, monotonic: 86400}}
                """);
        assertEquals(List.of(), h.errors());
        assertEquals(List.of(
                "unshare type=time",
                "timens-offset clock=monotonic seconds=86400 nanoseconds=0",
                "timens-offset clock=boottime seconds=-2 nanoseconds=500000000",
                "clone flags="), cloneStage(h));
        Step boottime = h.steps("timens-offset").get(1);
        assertEquals("write /proc/self/timens_offsets \"boottime -2 500000000\"", boottime.syscall());
        assertTrue(boottime.summary().startsWith("CLOCK_BOOTTIME in the sandbox reads 1.5 s behind the host's"), boottime.summary());
    }

    @Test
    void noOffsetsMeansOnlyTheNamespace() {
        var h = spec("""
                namespaces:
                  time: {}
                """);
        assertEquals(List.of("unshare type=time", "clone flags="), cloneStage(h));
    }

    @Test
    void normalisationKeepsNanosecondsNonNegativeAndRoundsHalfEven() {
        assertEquals(new TimeNamespacePlugin.Offset(-2, 500_000_000), TimeNamespacePlugin.normalise(new BigDecimal("-1.5")));
        assertEquals(new TimeNamespacePlugin.Offset(-1, 0), TimeNamespacePlugin.normalise(new BigDecimal("-1")));
        assertEquals(new TimeNamespacePlugin.Offset(-1, 999_999_999), TimeNamespacePlugin.normalise(new BigDecimal("-0.000000001")));
        assertEquals(new TimeNamespacePlugin.Offset(0, 2), TimeNamespacePlugin.normalise(new BigDecimal("0.0000000025")));
        assertEquals(new TimeNamespacePlugin.Offset(1, 0), TimeNamespacePlugin.normalise(new BigDecimal("0.9999999999")));
        assertEquals(new TimeNamespacePlugin.Offset(1000, 0), TimeNamespacePlugin.normalise(new BigDecimal("1e3")));
        assertEquals(new TimeNamespacePlugin.Offset(-2147483648L, 0), TimeNamespacePlugin.normalise(new BigDecimal("-2147483648")));
    }

    @Test
    void offsetsBeyondTwoToThe31SecondsAreLocatedErrors() {
        var h = spec("""
                namespaces:
                  time:
                    offsets:
                      monotonic: 2147483648.5
                      boottime: -1e300
                """);
        assertEquals(List.of("7:18 time.offset-out-of-range", "8:17 time.offset-out-of-range"), h.errorCodes());
        assertTrue(h.errors().get(0).message().contains("68 years"), h.errors().get(0).message());
        assertTrue(h.errors().get(0).hint().contains("uptime"), h.errors().get(0).hint());
        assertEquals(List.of(), spec("""
                namespaces:
                  time: {offsets: {monotonic: 2147483648, boottime: -2147483648}}
                """).errors());
    }

    @Test
    void nonFiniteOffsetsAreRejectedAtTheValue() {
        var h = spec("""
                namespaces:
                  time:
                    offsets:
                      monotonic: .inf
                """);
        // YAML's .inf is a number to the schema; the plugin rejects it as out of range.
        assertEquals(List.of("7:18 time.offset-out-of-range"), h.errorCodes());
    }

    @Test
    void realtimeIsNotAClockOfTheTimeNamespace() {
        var h = spec("""
                namespaces:
                  time: {offsets: {realtime: 5}}
                """);
        assertEquals(List.of("5:20 schema.unknown-key"), h.errorCodes());
    }
}
