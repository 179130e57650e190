package dev.sandbox.engine.runtime;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Duration;
import java.util.Optional;

/**
 * What the helper did to stop the target, from its {@code TIMEOUT} and {@code KILLED} messages
 * (core/native/PROTOCOL.md), turned into the one line {@code up} prints on stderr:
 * {@code the target did not stop within 10 s of SIGINT; sent SIGKILL}, or at the end, after
 * {@code process.timeout}, {@code timed out after 600 s; the target stopped on SIGTERM}.
 */
final class StopReport {

    private final Duration stopTimeout;
    private long timeoutMs = -1;
    private String killed;

    StopReport(Duration stopTimeout) {
        this.stopTimeout = stopTimeout;
    }

    /**
     * Takes a {@code TIMEOUT <ms>} or {@code KILLED <signal> <ms> <why>} message; returns the line to
     * print at once (a SIGKILL outside a timeout), if any.
     */
    Optional<String> accept(String message) {
        String[] f = message.split(" ");
        try {
            if (f[0].equals("TIMEOUT") && f.length == 2) {
                timeoutMs = Long.parseLong(f[1]);
            } else if (f[0].equals("KILLED") && f.length == 4) {
                int signal = Integer.parseInt(f[1]);
                long afterMs = Long.parseLong(f[2]);
                killed = f[3].equals("interrupt") ? "sent SIGKILL on a second SIGINT, " + seconds(afterMs) + " s after " + name(signal)
                        : "sent SIGKILL after " + seconds(stopTimeout.toMillis()) + " s";
                if (timeoutMs < 0) {
                    return Optional.of(f[3].equals("interrupt") ? killed
                            : "the target did not stop within " + seconds(stopTimeout.toMillis()) + " s of " + name(signal) + "; sent SIGKILL");
                }
            }
        } catch (NumberFormatException e) {
            // a malformed message: nothing to report
        }
        return Optional.empty();
    }

    /** After EXIT: the line saying the timeout fired and how the target ended, if it fired. */
    Optional<String> atExit() {
        if (timeoutMs < 0) return Optional.empty();
        return Optional.of("timed out after " + seconds(timeoutMs) + " s; " + (killed != null ? killed : "the target stopped on SIGTERM"));
    }

    /** 600000 → 600, 1500 → 1.5, 803 → 0.8: tenths at most, for people. */
    static String seconds(long ms) {
        BigDecimal s = BigDecimal.valueOf(ms, 3);
        if (ms % 1000 != 0 && ms >= 100) s = s.setScale(1, RoundingMode.HALF_UP);
        return s.stripTrailingZeros().toPlainString();
    }

    static String name(int signal) {
        return switch (signal) {
            case 1 -> "SIGHUP";
            case 2 -> "SIGINT";
            case 3 -> "SIGQUIT";
            case 15 -> "SIGTERM";
            default -> "signal " + signal;
        };
    }
}
