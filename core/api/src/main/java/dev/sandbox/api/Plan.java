package dev.sandbox.api;

import java.util.List;

/** The compiled, immutable plan: every step in execution order. {@code sandbox up} executes exactly this. */
public record Plan(String name, List<Step> steps) {

    public Plan {
        steps = List.copyOf(steps);
    }

    public List<Step> stage(Stage stage) {
        return steps.stream().filter(s -> s.stage() == stage).toList();
    }

    public List<Step> ops(String op) {
        return steps.stream().filter(s -> s.op().equals(op)).toList();
    }
}
