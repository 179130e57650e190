package dev.sandbox.cli;

import dev.sandbox.engine.runtime.ExecPlan;
import dev.sandbox.engine.runtime.SandboxState;
import dev.sandbox.engine.schema.Suggest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/** Finding a sandbox's record by name for {@code exec} and {@code inspect}: one line when there is none, with a suggestion. */
final class Records {

    private Records() {}

    /** The names of the records under {@code base} (exec sessions and leftovers not included), sorted. */
    static List<String> names(Path base) {
        try (Stream<Path> dirs = Files.list(base)) {
            return dirs.map(p -> p.getFileName().toString()).filter(n -> !n.startsWith(".") && !ExecPlan.isExecRecord(n))
                    .filter(n -> Files.isRegularFile(base.resolve(n).resolve("state.json"))).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }

    /** The record of {@code name}, or the one-line reason why there is none. */
    static Optional<SandboxState> find(Path base, String name, StringBuilder why) {
        Optional<SandboxState> state = SandboxState.read(base, name);
        if (state.isPresent()) return state;
        List<String> names = names(base);
        String close = Suggest.closest(name, names);
        why.append("no sandbox named '").append(name).append("' in ").append(base)
                .append(close != null ? "; did you mean '" + close + "'?"
                        : names.isEmpty() ? " (no sandbox is running; start one with 'sandbox up SPEC')"
                        : " (running: " + String.join(", ", names) + ")");
        return Optional.empty();
    }
}
