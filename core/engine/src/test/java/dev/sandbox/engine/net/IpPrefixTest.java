package dev.sandbox.engine.net;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class IpPrefixTest {

    @Test
    void parsesIpv4Cidr() {
        IpPrefix prefix = IpPrefix.parse("198.18.0.1/30");
        assertEquals(IpPrefix.AF_INET, prefix.family());
        assertEquals(30, prefix.length());
        assertEquals("198.18.0.1/30", prefix.toString());
        assertArrayEquals(new byte[] {(byte) 198, 18, 0, 3}, prefix.broadcast());
    }

    @Test
    void parsesIpv6Cidr() {
        IpPrefix prefix = IpPrefix.parse("fd00:198:18::2/64");
        assertEquals(IpPrefix.AF_INET6, prefix.family());
        assertTrue(prefix.isIpv6());
        assertEquals(64, prefix.length());
        assertEquals(16, prefix.address().getAddress().length);
    }

    @Test
    void keepsIpv4MappedIpv6AsSixteenBytes() {
        assertEquals(16, IpPrefix.parse("::ffff:198.18.0.1/128").address().getAddress().length);
    }

    @Test
    void containsComparesTheLeadingBits() {
        IpPrefix prefix = IpPrefix.parse("198.18.0.2/30");
        assertTrue(prefix.contains(IpPrefix.parseAddress("198.18.0.1")));
        assertFalse(prefix.contains(IpPrefix.parseAddress("198.18.0.5")));
        assertFalse(prefix.contains(IpPrefix.parseAddress("fd00::1")));
        assertTrue(IpPrefix.parse("fd00:198:18::2/64").contains(IpPrefix.parseAddress("fd00:198:18::1")));
    }

    @ParameterizedTest
    @ValueSource(strings = {"198.18.0.1", "198.18.0.1/", "198.18.0.1/33", "198.18.0.256/30", "198.18.0/24",
            "198.18.0.1/3x", "fd00::1/129", "fd00::zz/64", "fe80::1%eth0/64", "localhost/8", "example.com/24",
            "1.2.3.4.5/8", "/24", "01234.1.1.1/8"})
    void rejectsWhatIsNotACidrLiteral(String text) {
        assertThrows(IllegalArgumentException.class, () -> IpPrefix.parse(text));
    }

    @Test
    void rejectsHostNamesWithoutResolvingThem() {
        // A DNS lookup would take time or succeed; the literal-only parser refuses at once.
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> IpPrefix.parseAddress("localhost"));
        assertEquals("'localhost' is not an IPv4 or IPv6 address", e.getMessage());
    }
}
