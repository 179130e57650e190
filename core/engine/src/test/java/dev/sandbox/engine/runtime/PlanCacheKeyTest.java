package dev.sandbox.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.sandbox.api.Caller;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PlanCache's key hashes the bytes the loader reads (the end-to-end cases are PlanCacheIT's). */
class PlanCacheKeyTest {

    @Test
    void aDotDotAfterASymbolicLinkIsTheKernelsFileNotNormalizesOne(@TempDir Path tmp) throws Exception {
        // link/../s.yaml opens real/s.yaml (link -> real/deep); Path.normalize() would say tmp/s.yaml
        Path real = Files.createDirectories(tmp.resolve("real/deep")).getParent();
        Path spec = Files.writeString(real.resolve("s.yaml"), "name: one\n");
        Files.writeString(tmp.resolve("s.yaml"), "name: decoy\n");
        Files.createSymbolicLink(tmp.resolve("link"), real.resolve("deep"));
        Path given = tmp.resolve("link/../s.yaml");
        Path env = Files.writeString(real.resolve("e.env"), "A=1\n");
        Files.writeString(tmp.resolve("e.env"), "A=decoy\n");
        Path givenEnv = tmp.resolve("link/../e.env");
        Caller caller = new Caller(0, 0, "root");
        Optional<String> before = PlanCache.key(given, Optional.empty(), caller, Map.of(), null, List.of(), List.of(givenEnv));
        Files.writeString(spec, "name: two\n");
        Optional<String> specEdited = PlanCache.key(given, Optional.empty(), caller, Map.of(), null, List.of(), List.of(givenEnv));
        assertNotEquals(before, specEdited, "the spec the loader reads was edited");
        Files.writeString(env, "A=2\n");
        assertNotEquals(specEdited, PlanCache.key(given, Optional.empty(), caller, Map.of(), null, List.of(), List.of(givenEnv)),
                "the env file the loader reads was edited");
    }
}
