package dev.sandbox.plugins.net;

import java.util.ArrayList;
import java.util.List;

/**
 * An IPv4 or IPv6 address, optionally with a prefix length, parsed from text without ever asking DNS
 * (InetAddress.getByName would resolve a host name). Parsing throws {@link IllegalArgumentException}
 * whose message is the reason, worded for the user.
 *
 * @param bytes  4 or 16 bytes, network order
 * @param prefix the prefix length, or -1 for a plain address
 */
record Cidr(byte[] bytes, int prefix) {

    boolean isV6() {
        return bytes.length == 16;
    }

    String family() {
        return isV6() ? "IPv6" : "IPv4";
    }

    /** fe80::/10: on-link by definition, so a gateway there needs no address of the link's subnet. */
    boolean isLinkLocalV6() {
        return isV6() && (bytes[0] & 0xff) == 0xfe && (bytes[1] & 0xc0) == 0x80;
    }

    /** Whether {@code address} (same family) lies in this prefix. */
    boolean contains(Cidr address) {
        if (address.bytes.length != bytes.length) return false;
        int bits = Math.max(prefix, 0);
        for (int i = 0; i < bits; i++) {
            int mask = 0x80 >> (i % 8);
            if ((bytes[i / 8] & mask) != (address.bytes[i / 8] & mask)) return false;
        }
        return true;
    }

    /** The subnet as text, e.g. {@code 198.18.0.0/30} for 198.18.0.2/30. */
    String network() {
        byte[] masked = bytes.clone();
        for (int i = Math.max(prefix, 0); i < masked.length * 8; i++) {
            masked[i / 8] &= (byte) ~(0x80 >> (i % 8));
        }
        return (masked.length == 4 ? (masked[0] & 0xff) + "." + (masked[1] & 0xff) + "." + (masked[2] & 0xff) + "." + (masked[3] & 0xff)
                : v6Text(masked)) + "/" + prefix;
    }

    /** RFC 5952 text: lower-case hex, the longest run of two or more zero groups written "::". */
    private static String v6Text(byte[] b) {
        int[] groups = new int[8];
        for (int i = 0; i < 8; i++) groups[i] = ((b[2 * i] & 0xff) << 8) | (b[2 * i + 1] & 0xff);
        int bestStart = -1;
        int bestLength = 1;
        for (int i = 0; i < 8; ) {
            int j = i;
            while (j < 8 && groups[j] == 0) j++;
            if (j - i > bestLength) {
                bestStart = i;
                bestLength = j - i;
            }
            i = j == i ? i + 1 : j;
        }
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                out.append("::");
                i += bestLength - 1;
                continue;
            }
            if (out.length() > 0 && out.charAt(out.length() - 1) != ':') out.append(':');
            out.append(Integer.toHexString(groups[i]));
        }
        return out.toString();
    }

    /** {@code 198.18.0.2/30} or {@code fd00::2/64}: an address and a prefix length. */
    static Cidr parseCidr(String text) {
        int slash = text.indexOf('/');
        if (slash < 0) throw new IllegalArgumentException("has no prefix length; write it as CIDR, e.g. 198.18.0.2/30 or fd00::2/64");
        Cidr address = parseAddress(text.substring(0, slash));
        String length = text.substring(slash + 1);
        int max = address.bytes.length * 8;
        if (length.isEmpty() || length.length() > 3 || !length.chars().allMatch(c -> c >= '0' && c <= '9')) {
            throw new IllegalArgumentException("has an invalid prefix length '" + length + "'");
        }
        int prefix = Integer.parseInt(length);
        if (prefix > max) throw new IllegalArgumentException("has prefix length " + prefix + "; an " + address.family() + " prefix is 0.." + max);
        return new Cidr(address.bytes, prefix);
    }

    /** An IPv4 dotted quad or an IPv6 literal, without a prefix length. */
    static Cidr parseAddress(String text) {
        if (text.isEmpty()) throw new IllegalArgumentException("is empty");
        if (text.indexOf('/') >= 0) throw new IllegalArgumentException("is a plain address here, without a prefix length");
        if (text.indexOf('%') >= 0) throw new IllegalArgumentException("has a zone id ('%'), which is not supported");
        return new Cidr(text.indexOf(':') >= 0 ? parseV6(text) : parseV4(text), -1);
    }

    private static byte[] parseV4(String text) {
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) throw new IllegalArgumentException("is not an IPv4 address (four numbers 0-255 joined by '.') or an IPv6 address");
        byte[] out = new byte[4];
        for (int i = 0; i < 4; i++) {
            String part = parts[i];
            if (part.isEmpty() || part.length() > 3 || !part.chars().allMatch(c -> c >= '0' && c <= '9')) {
                throw new IllegalArgumentException("is not an IPv4 address (four numbers 0-255 joined by '.') or an IPv6 address");
            }
            if (part.length() > 1 && part.charAt(0) == '0') {
                // inet_aton reads a leading 0 as octal: 010 would be 8. Refuse the ambiguity.
                throw new IllegalArgumentException("has a leading zero in '" + part + "', which some tools read as octal");
            }
            int value = Integer.parseInt(part);
            if (value > 255) throw new IllegalArgumentException("has " + value + ", above 255");
            out[i] = (byte) value;
        }
        return out;
    }

    private static byte[] parseV6(String text) {
        String bad = "is not a valid IPv6 address";
        int gap = text.indexOf("::");
        if (gap >= 0 && text.indexOf("::", gap + 1) >= 0) throw new IllegalArgumentException(bad + " ('::' may appear once)");
        // an embedded IPv4 address (::ffff:198.18.0.1) may only end the whole address
        List<Integer> head = groups(gap >= 0 ? text.substring(0, gap) : text, gap < 0, bad);
        List<Integer> tail = gap >= 0 ? groups(text.substring(gap + 2), true, bad) : List.of();
        int total = head.size() + tail.size();
        if (gap < 0 ? total != 8 : total > 7) throw new IllegalArgumentException(bad + " (it needs 8 groups of 16 bits)");
        byte[] out = new byte[16];
        int i = 0;
        for (int group : head) {
            out[i++] = (byte) (group >> 8);
            out[i++] = (byte) group;
        }
        i = 16 - tail.size() * 2;
        for (int group : tail) {
            out[i++] = (byte) (group >> 8);
            out[i++] = (byte) group;
        }
        return out;
    }

    /** Colon-separated 16-bit groups; the last one may be a dotted IPv4 address (two groups). */
    private static List<Integer> groups(String text, boolean v4Last, String bad) {
        List<Integer> out = new ArrayList<>();
        if (text.isEmpty()) return out;
        String[] parts = text.split(":", -1);
        for (int i = 0; i < parts.length; i++) {
            String part = parts[i];
            if (v4Last && i == parts.length - 1 && part.indexOf('.') >= 0) {
                byte[] v4 = parseV4(part);
                out.add(((v4[0] & 0xff) << 8) | (v4[1] & 0xff));
                out.add(((v4[2] & 0xff) << 8) | (v4[3] & 0xff));
                continue;
            }
            if (part.isEmpty() || part.length() > 4 || !part.chars().allMatch(Cidr::isHex)) {
                throw new IllegalArgumentException(bad);
            }
            out.add(Integer.parseInt(part, 16));
        }
        return out;
    }

    private static boolean isHex(int c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }
}
