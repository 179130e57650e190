package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The fast path's {@code up} arguments: {@code -d}/{@code --detach} reach the monitor's argv as {@code --detach}. */
class LaunchUpArgsTest {

    @Test
    void detachShortAndLong() {
        for (String flag : List.of("-d", "--detach")) {
            Launch.UpArgs a = Launch.UpArgs.parse(new String[] {"up", flag, "-v", "web.yaml", "--", "sleep", "9"}).orElseThrow();
            assertTrue(a.detach(), flag);
            assertTrue(a.verbose());
            assertEquals(Path.of("web.yaml"), a.spec());
            assertEquals(Optional.of(List.of("sleep", "9")), a.command());
        }
    }

    @Test
    void foregroundByDefault() {
        assertFalse(Launch.UpArgs.parse(new String[] {"up", "web.yaml"}).orElseThrow().detach());
    }

    @Test
    void aDetachAfterTheSpecIsNotAnOption() {
        // after SPEC only `-- CMD` may follow: anything else goes to the full CLI, which reports it
        assertTrue(Launch.UpArgs.parse(new String[] {"up", "web.yaml", "-d"}).isEmpty());
    }
}
