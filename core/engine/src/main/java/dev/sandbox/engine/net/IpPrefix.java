package dev.sandbox.engine.net;

import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.UnknownHostException;

/**
 * An interface address with its prefix length, parsed from CIDR text such as {@code 198.18.0.1/30} or
 * {@code fd00::1/64}. Parsing accepts literals only: it never falls back to a DNS lookup.
 */
record IpPrefix(InetAddress address, int length) {

    static final int AF_INET = 2;
    static final int AF_INET6 = 10;

    IpPrefix {
        int max = address.getAddress().length * 8;
        if (length < 0 || length > max) {
            throw new IllegalArgumentException("prefix length " + length + " is outside 0.." + max);
        }
    }

    /** Parses {@code address/length}; throws IllegalArgumentException with a user-facing reason. */
    static IpPrefix parse(String cidr) {
        if (cidr == null) {
            throw new IllegalArgumentException("address is null");
        }
        int slash = cidr.indexOf('/');
        if (slash < 0) {
            throw new IllegalArgumentException("'" + cidr + "' has no prefix length; write it as CIDR, e.g. 198.18.0.1/30");
        }
        InetAddress address = parseAddress(cidr.substring(0, slash));
        String lengthText = cidr.substring(slash + 1);
        if (lengthText.isEmpty() || lengthText.length() > 3 || !lengthText.chars().allMatch(Character::isDigit)) {
            throw new IllegalArgumentException("'" + cidr + "' has an invalid prefix length");
        }
        int length = Integer.parseInt(lengthText);
        int max = address.getAddress().length * 8;
        if (length > max) {
            throw new IllegalArgumentException("'" + cidr + "' has a prefix length above " + max);
        }
        return new IpPrefix(address, length);
    }

    /** Parses an IPv4 dotted quad or an IPv6 literal (no zone id); throws IllegalArgumentException otherwise. */
    static InetAddress parseAddress(String text) {
        if (text == null || text.isEmpty()) {
            throw new IllegalArgumentException("address is empty");
        }
        if (text.indexOf(':') >= 0) {
            return parseIpv6(text);
        }
        return parseIpv4(text);
    }

    private static InetAddress parseIpv4(String text) {
        String[] parts = text.split("\\.", -1);
        if (parts.length != 4) {
            throw new IllegalArgumentException("'" + text + "' is not an IPv4 or IPv6 address");
        }
        byte[] bytes = new byte[4];
        for (int i = 0; i < 4; i++) {
            String part = parts[i];
            if (part.isEmpty() || part.length() > 3 || !part.chars().allMatch(c -> c >= '0' && c <= '9')) {
                throw new IllegalArgumentException("'" + text + "' is not an IPv4 or IPv6 address");
            }
            int value = Integer.parseInt(part);
            if (value > 255) {
                throw new IllegalArgumentException("'" + text + "' has an octet above 255");
            }
            bytes[i] = (byte) value;
        }
        return byAddress(text, bytes);
    }

    private static InetAddress parseIpv6(String text) {
        // Only hex digits, ':' and '.' (for an embedded IPv4 tail): no zone ids, no host names.
        boolean plain = text.chars().allMatch(c -> c == ':' || c == '.' || Character.digit(c, 16) >= 0);
        if (!plain) {
            throw new IllegalArgumentException("'" + text + "' is not an IPv6 address");
        }
        try {
            // The brackets make InetAddress treat the text as an IPv6 literal: it throws instead of resolving.
            InetAddress address = InetAddress.getByName("[" + text + "]");
            if (!(address instanceof Inet6Address)) {
                // "::ffff:1.2.3.4" comes back as IPv4; keep the 16 bytes the user wrote.
                byte[] mapped = new byte[16];
                mapped[10] = (byte) 0xff;
                mapped[11] = (byte) 0xff;
                System.arraycopy(address.getAddress(), 0, mapped, 12, 4);
                return Inet6Address.getByAddress(null, mapped, -1);
            }
            return address;
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("'" + text + "' is not an IPv6 address");
        }
    }

    private static InetAddress byAddress(String text, byte[] bytes) {
        try {
            return InetAddress.getByAddress(bytes);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("'" + text + "' is not an address");
        }
    }

    static int family(InetAddress address) {
        return address instanceof Inet4Address ? AF_INET : AF_INET6;
    }

    int family() {
        return family(address);
    }

    boolean isIpv6() {
        return family() == AF_INET6;
    }

    /** Whether {@code other} lies inside this prefix (same family, same leading {@code length} bits). */
    boolean contains(InetAddress other) {
        byte[] a = address.getAddress();
        byte[] b = other.getAddress();
        if (a.length != b.length) {
            return false;
        }
        for (int bit = 0; bit < length; bit++) {
            int mask = 0x80 >>> (bit % 8);
            if ((a[bit / 8] & mask) != (b[bit / 8] & mask)) {
                return false;
            }
        }
        return true;
    }

    /** The IPv4 broadcast address of this prefix (host bits all ones). */
    byte[] broadcast() {
        byte[] bytes = address.getAddress();
        for (int bit = length; bit < bytes.length * 8; bit++) {
            bytes[bit / 8] |= (byte) (0x80 >>> (bit % 8));
        }
        return bytes;
    }

    @Override
    public String toString() {
        return address.getHostAddress() + "/" + length;
    }
}
