package dev.sandbox.plugins.mount;

import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Sizes ({@code 64M}) and octal modes ({@code "1777"}) as the spec writes them. */
final class Units {

    private static final Pattern SIZE = Pattern.compile("([0-9]+)([kKmMgG]?)");
    private static final Pattern MODE = Pattern.compile("0?[0-7]{1,4}");

    private Units() {}

    /** Bytes of {@code 1048576}, {@code 512k}, {@code 64M}, {@code 2G}; empty when unparsable, zero or too large. */
    static OptionalLong size(String text) {
        Matcher m = SIZE.matcher(text.strip());
        if (!m.matches()) return OptionalLong.empty();
        int shift = switch (m.group(2).toUpperCase(Locale.ROOT)) {
            case "K" -> 10;
            case "M" -> 20;
            case "G" -> 30;
            default -> 0;
        };
        try {
            long n = Long.parseLong(m.group(1));
            if (n <= 0 || n > (Long.MAX_VALUE >> shift)) return OptionalLong.empty();
            return OptionalLong.of(n << shift);
        } catch (NumberFormatException e) {
            return OptionalLong.empty();
        }
    }

    /** A mode such as {@code 755}, {@code 0755}, {@code 1777} as four octal digits; empty when not octal or above 07777. */
    static Optional<String> mode(String text) {
        String t = text.strip();
        if (!MODE.matcher(t).matches()) return Optional.empty();
        int value = Integer.parseInt(t, 8);
        return value > 07777 ? Optional.empty() : Optional.of(String.format("%04o", value));
    }
}
