package dev.sandbox.api;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One entry of the plan: an operation from the closed vocabulary (see {@link Ops}) with its
 * arguments, the stage it runs in, the plugin that contributed it, a sentence for humans and the
 * syscall it becomes. Immutable; build it with {@link #of(Stage, String)}.
 */
public record Step(Stage stage, String op, List<Arg> args, String plugin, String summary, String syscall) {

    /** One argument. Keys may repeat ({@code arg}, {@code env}); order is kept. */
    public record Arg(String key, String value) {}

    public Step {
        args = List.copyOf(args);
        plugin = plugin == null ? "" : plugin;
        summary = summary == null ? "" : summary;
        syscall = syscall == null ? "" : syscall;
    }

    public static Builder of(Stage stage, String op) {
        return new Builder(stage, op);
    }

    /** The first value of {@code key}. */
    public Optional<String> arg(String key) {
        return args.stream().filter(a -> a.key().equals(key)).map(Arg::value).findFirst();
    }

    /** Every value of {@code key}, in order. */
    public List<String> all(String key) {
        return args.stream().filter(a -> a.key().equals(key)).map(Arg::value).toList();
    }

    public Step withPlugin(String pluginId) {
        return new Step(stage, op, args, pluginId, summary, syscall);
    }

    public static final class Builder {
        private final Stage stage;
        private final String op;
        private final List<Arg> args = new ArrayList<>();
        private String summary = "";
        private String syscall = "";

        private Builder(Stage stage, String op) {
            this.stage = stage;
            this.op = op;
        }

        public Builder arg(String key, Object value) {
            args.add(new Arg(key, String.valueOf(value)));
            return this;
        }

        public Builder args(String key, List<String> values) {
            values.forEach(v -> args.add(new Arg(key, v)));
            return this;
        }

        public Builder summary(String text) {
            this.summary = text;
            return this;
        }

        public Builder syscall(String text) {
            this.syscall = text;
            return this;
        }

        public Step build() {
            return new Step(stage, op, args, "", summary, syscall);
        }
    }
}
