package dev.sandbox.engine.plugin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Diagnostic;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TopologicalOrderTest {

    @Test
    void constraintsFirstThenIdsBreakTies() {
        Map<String, Set<String>> after = new LinkedHashMap<>();
        after.put("pid", Set.of("uts", "net"));
        after.put("uts", Set.of());
        after.put("net", Set.of());
        after.put("cgroup", Set.of("user"));
        after.put("user", Set.of());
        List<Diagnostic> problems = new ArrayList<>();
        assertEquals(List.of("net", "user", "cgroup", "uts", "pid"), TopologicalOrder.sort(after, problems));
        assertEquals(List.of(), problems);
    }

    @Test
    void aCycleIsReportedWithItsMembersAndStillOrdered() {
        Map<String, Set<String>> after = new LinkedHashMap<>();
        after.put("a", Set.of("b"));
        after.put("b", Set.of("a"));
        after.put("c", Set.of());
        List<Diagnostic> problems = new ArrayList<>();
        assertEquals(List.of("c", "a", "b"), TopologicalOrder.sort(after, problems));
        assertEquals(1, problems.size());
        assertEquals("plugin.cycle", problems.get(0).code());
        assertTrue(problems.get(0).message().contains("a, b"));
    }
}
