package dev.sandbox.engine.spec;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * A spec file's bytes as text, checked before YAML sees them: strict UTF-8 (a bad byte is a located
 * error, not "Input length = 1"), no control characters YAML forbids (a NUL byte), and no line longer
 * than {@link #MAX_LINE} characters. The line bound is there because SnakeYAML's reader copies its
 * window for each 1 KiB read, so one long token costs time quadratic in its length (measured: a 1 MiB
 * plain scalar 0.9–1.4 s, a 4 MB one 4–7 s); 64 Ki characters take a few milliseconds.
 */
final class SpecText {

    static final int MAX_LINE = 64 * 1024;

    private SpecText() {}

    /** The text, or the one located problem that stops the read (reported through {@code problem}). */
    static Optional<String> decode(byte[] bytes, String display, java.util.List<Diagnostic> problem) {
        int start = 0;
        if (bytes.length >= 3 && (bytes[0] & 0xff) == 0xEF && (bytes[1] & 0xff) == 0xBB && (bytes[2] & 0xff) == 0xBF) start = 3;
        String bom = otherBom(bytes);
        if (bom != null) {
            problem.add(Diagnostic.error("spec.not-utf8", "the file is not UTF-8: it starts with a " + bom + " byte-order mark", "",
                    new Location(display, 1, 1), "save the spec as UTF-8 (iconv -f " + bom.replace("-LE", "LE").replace("-BE", "BE")
                            + " -t UTF-8)"));
            return Optional.empty();
        }
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes, start, bytes.length - start);
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) result = decoder.flush(out);
        if (result.isError()) {
            out.flip();
            int[] lc = lineColumn(out, out.length());
            int bad = bytes[in.position()] & 0xff;
            problem.add(Diagnostic.error("spec.not-utf8", String.format("the file is not UTF-8: byte 0x%02X at offset %d can't be decoded", bad,
                            in.position()), "", new Location(display, lc[0], lc[1]),
                    "save the spec as UTF-8; a spec is text (check for a binary file or another encoding such as Latin-1)"));
            return Optional.empty();
        }
        out.flip();
        String text = out.toString();
        // control characters and overlong lines, by code point, with YAML's own printable set
        int line = 1;
        int column = 1;
        int lineStart = 0;
        for (int i = 0; i < text.length(); ) {
            int c = text.codePointAt(i);
            int next = i + Character.charCount(c);
            if (c == '\n' || c == 0x85 || c == 0x2028 || c == 0x2029 || (c == '\r' && (next >= text.length() || text.charAt(next) != '\n'))) {
                line++;
                column = 1;
                lineStart = next;
                i = next;
                continue;
            }
            if (!printable(c)) {
                problem.add(Diagnostic.error("spec.control-character", String.format("the control character U+%04X is not allowed in YAML", c), "",
                        new Location(display, line, column), "remove it; write it as an escape (\"\\x%02X\") inside a double-quoted string if it is meant"
                                .formatted(c)));
                return Optional.empty();
            }
            if (column > MAX_LINE) {
                problem.add(Diagnostic.error("spec.line-too-long", "line " + line + " is longer than " + MAX_LINE + " characters", "",
                        new Location(display, line, column), "break the value over several lines (a YAML block scalar, '|' or '>')"));
                return Optional.empty();
            }
            column++;
            i = next;
        }
        return Optional.of(text);
    }

    private static String otherBom(byte[] b) {
        if (b.length >= 4 && b[0] == 0 && b[1] == 0 && (b[2] & 0xff) == 0xFE && (b[3] & 0xff) == 0xFF) return "UTF-32BE";
        if (b.length >= 4 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xFE && b[2] == 0 && b[3] == 0) return "UTF-32LE";
        if (b.length >= 2 && (b[0] & 0xff) == 0xFE && (b[1] & 0xff) == 0xFF) return "UTF-16BE";
        if (b.length >= 2 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xFE) return "UTF-16LE";
        return null;
    }

    /** YAML 1.1's printable set, as SnakeYAML's reader checks it (tab, line breaks and NEL included). */
    static boolean printable(int c) {
        return (c >= 0x20 && c <= 0x7E) || c == 0x9 || c == 0xA || c == 0xD || c == 0x85
                || (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
    }

    /** 1-based line and column (in code points) of char index {@code end} of {@code text}. */
    static int[] lineColumn(CharSequence text, int end) {
        int line = 1;
        int column = 1;
        for (int i = 0; i < end; i++) {
            char c = text.charAt(i);
            if (c == '\n' || c == '\u0085' || c == '\u2028' || c == '\u2029' || (c == '\r' && (i + 1 >= end || text.charAt(i + 1) != '\n'))) {
                line++;
                column = 1;
            } else if (!Character.isLowSurrogate(c)) {
                column++;
            }
        }
        return new int[] {line, column};
    }

    static String shorten(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }
}
