package dev.sandbox.plugins.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class UnitsTest {

    @Test
    void sizesArePowersOf1024InEitherCase() {
        assertEquals(1048576, Units.size("1048576").getAsLong());
        assertEquals(512L << 10, Units.size("512k").getAsLong());
        assertEquals(512L << 10, Units.size("512K").getAsLong());
        assertEquals(64L << 20, Units.size("64M").getAsLong());
        assertEquals(2L << 30, Units.size("2g").getAsLong());
    }

    @Test
    void zeroNegativePercentagesFractionsAndOverflowAreRejected() {
        for (String bad : List.of("0", "0M", "-1", "10%", "1.5G", "64MB", "M", "", "99999999999G", "99999999999999999999")) {
            assertTrue(Units.size(bad).isEmpty(), bad);
        }
    }

    @Test
    void modesBecomeFourOctalDigits() {
        assertEquals(Optional.of("0755"), Units.mode("755"));
        assertEquals(Optional.of("0755"), Units.mode("0755"));
        assertEquals(Optional.of("1777"), Units.mode("1777"));
        assertEquals(Optional.of("7777"), Units.mode("07777"));
        for (String bad : List.of("rwx", "0999", "17777", "0x1ff", "", "-755")) {
            assertTrue(Units.mode(bad).isEmpty(), bad);
        }
    }
}
