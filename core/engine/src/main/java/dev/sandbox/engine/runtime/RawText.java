package dev.sandbox.engine.runtime;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Strings that carry bytes. An argument given on the command line is bytes, not text (issue 8: {@code $'\xff'}
 * reached the target as U+FFFD). Such bytes are kept in a Java string the way Python's {@code surrogateescape}
 * (PEP 383) does: valid UTF-8 decodes as usual, and each byte 0x80..0xFF that is not part of valid UTF-8 becomes
 * the unpaired low surrogate U+DC80..U+DCFF, which no valid UTF-8 decodes to. The plan file writes it back as
 * {@code %XX} (core/native/PROTOCOL.md), so the target gets the exact bytes.
 */
public final class RawText {

    private RawText() {}

    /** The bytes as a string: UTF-8, with each byte outside valid UTF-8 kept as U+DC00 + byte. */
    public static String decode(byte[] bytes) {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length + 1);
        while (true) {
            CoderResult r = decoder.decode(in, out, true);
            if (r.isError()) {
                for (int i = 0; i < r.length(); i++) out.put((char) (0xDC00 | (in.get() & 0xFF)));
            } else if (r.isUnderflow()) {
                decoder.flush(out);
                break;
            }
        }
        return out.flip().toString();
    }

    /** Is the char at {@code i} an escaped byte (U+DC80..U+DCFF not completing a surrogate pair)? Then {@code -1}, or the byte. */
    public static int escapedByte(CharSequence s, int i) {
        char c = s.charAt(i);
        if (c < '\uDC80' || c > '\uDCFF') return -1;
        if (i > 0 && Character.isHighSurrogate(s.charAt(i - 1))) return -1;
        return c & 0xFF;
    }

    /** Does the string hold an escaped byte? */
    public static boolean hasBytes(CharSequence s) {
        for (int i = 0; i < s.length(); i++) {
            if (escapedByte(s, i) >= 0) return true;
        }
        return false;
    }

    /** For people: each escaped byte as {@code \xFF} (text output; the string itself is unchanged). */
    public static String display(String s) {
        if (!hasBytes(s)) return s;
        StringBuilder out = new StringBuilder(s.length() + 8);
        for (int i = 0; i < s.length(); i++) {
            int b = escapedByte(s, i);
            if (b >= 0) out.append(String.format("\\x%02x", b));
            else out.append(s.charAt(i));
        }
        return out.toString();
    }

    /** The exact bytes: UTF-8, with each escaped byte as itself. */
    public static byte[] encode(String s) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(s.length() + 8);
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            int b = escapedByte(s, i);
            if (b < 0) continue;
            out.writeBytes(s.substring(start, i).getBytes(StandardCharsets.UTF_8));
            out.write(b);
            start = i + 1;
        }
        out.writeBytes(s.substring(start).getBytes(StandardCharsets.UTF_8));
        return out.toByteArray();
    }
}
