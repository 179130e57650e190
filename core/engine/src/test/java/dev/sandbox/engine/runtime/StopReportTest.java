package dev.sandbox.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The one stderr line of {@code up} for the helper's TIMEOUT and KILLED messages (PROTOCOL.md). */
class StopReportTest {

    @Test
    void aSigkillAfterTheStopTimeoutIsSaidAtOnceWithTheSignalThatStartedTheStop() {
        StopReport r = new StopReport(Duration.ofSeconds(10));
        assertEquals(Optional.of("the target did not stop within 10 s of SIGINT; sent SIGKILL"), r.accept("KILLED 2 10004 stop-timeout"));
        assertEquals(Optional.empty(), r.atExit());
    }

    @Test
    void aSecondSigintSaysHowLongAfterTheFirstStopSignal() {
        StopReport r = new StopReport(Duration.ofMillis(1500));
        assertEquals(Optional.of("sent SIGKILL on a second SIGINT, 0.8 s after SIGTERM"), r.accept("KILLED 15 803 interrupt"));
    }

    @Test
    void aTimeoutIsOneLineAtTheEndSayingWhetherSigkillWasNeeded() {
        StopReport stopped = new StopReport(Duration.ofSeconds(10));
        assertEquals(Optional.empty(), stopped.accept("TIMEOUT 600000"));
        assertEquals(Optional.of("timed out after 600 s; the target stopped on SIGTERM"), stopped.atExit());

        StopReport killed = new StopReport(Duration.ofMillis(1500));
        killed.accept("TIMEOUT 2500");
        assertEquals(Optional.empty(), killed.accept("KILLED 15 1502 stop-timeout"), "said once, at the end");
        assertEquals(Optional.of("timed out after 2.5 s; sent SIGKILL after 1.5 s"), killed.atExit());
    }

    @Test
    void malformedMessagesSayNothing() {
        StopReport r = new StopReport(Duration.ofSeconds(10));
        assertEquals(Optional.empty(), r.accept("KILLED x 1 stop-timeout"));
        assertEquals(Optional.empty(), r.accept("TIMEOUT"));
        assertEquals(Optional.empty(), r.atExit());
    }

    @Test
    void secondsAreShownAsPeopleWriteThem() {
        assertEquals("600", StopReport.seconds(600_000));
        assertEquals("1.5", StopReport.seconds(1500));
        assertEquals("0.8", StopReport.seconds(803));
        assertEquals("0.05", StopReport.seconds(50));
        assertEquals("0", StopReport.seconds(0));
    }
}
