package dev.sandbox.engine.plugin;

import dev.sandbox.api.Diagnostic;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.TreeSet;

/** Kahn's algorithm with ties broken by id, so the order is the same on every machine. */
public final class TopologicalOrder {

    private TopologicalOrder() {}

    /** {@code after.get(x)} = ids that must come before x. Cycles are reported, and their members appended by id. */
    public static List<String> sort(Map<String, Set<String>> after, List<Diagnostic> problems) {
        Map<String, Integer> pending = new HashMap<>();
        Map<String, List<String>> dependents = new HashMap<>();
        for (Map.Entry<String, Set<String>> e : after.entrySet()) {
            pending.put(e.getKey(), e.getValue().size());
            for (String dep : e.getValue()) dependents.computeIfAbsent(dep, k -> new ArrayList<>()).add(e.getKey());
        }
        PriorityQueue<String> ready = new PriorityQueue<>();
        pending.forEach((id, n) -> {
            if (n == 0) ready.add(id);
        });
        List<String> out = new ArrayList<>();
        while (!ready.isEmpty()) {
            String id = ready.poll();
            out.add(id);
            for (String d : dependents.getOrDefault(id, List.of())) {
                if (pending.merge(d, -1, Integer::sum) == 0) ready.add(d);
            }
        }
        if (out.size() < after.size()) {
            Set<String> stuck = new TreeSet<>(after.keySet());
            stuck.removeAll(out);
            problems.add(PluginRegistry.problem("plugin.cycle", "plugins order each other in a cycle: " + String.join(", ", stuck),
                    "", "remove one of the after() constraints between " + String.join(", ", stuck)));
            out.addAll(stuck);
        }
        return out;
    }
}
