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

    @Test
    void theFastPathAndPicocliKnowTheSameOptionsOfUp() {
        java.util.Set<String> picocli = new java.util.TreeSet<>();
        new picocli.CommandLine(new UpCommand()).getCommandSpec().options().forEach(o -> picocli.addAll(List.of(o.names())));
        picocli.removeAll(List.of("-h", "--help", "-V", "--version"));
        assertEquals(new java.util.TreeSet<>(Launch.UpArgs.OPTIONS), picocli, "UpArgs.OPTIONS is up's one table of options");
        for (String o : Launch.UpArgs.OPTIONS) {
            boolean value = o.equals("--stop-timeout") || o.equals("--env-file");
            String[] args = value ? new String[] {"up", o, "1", "web.yaml"} : new String[] {"up", o, "web.yaml"};
            assertTrue(Launch.UpArgs.parse(args).isPresent(), o + " is taken by the fast path");
        }
    }
}
