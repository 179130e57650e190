package dev.sandbox.engine.runtime;

import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Reads a canonical plan file ({@link PlanFile#canonical}) back: the {@code prepare runtime-dir} line and
 * every step, each with the summary of the {@code # ...} comment line before it. {@code sandbox exec}
 * takes a running sandbox's process identity from its {@code <rt>/plan}; {@code inspect} its links.
 */
public record PlanText(List<Step.Arg> runtimeDir, List<Step> steps) {

    /** The value of a key of the {@code prepare runtime-dir} line. */
    public Optional<String> runtimeDirArg(String key) {
        return runtimeDir.stream().filter(a -> a.key().equals(key)).map(Step.Arg::value).findFirst();
    }

    /** Empty when the text is not a canonical plan of version 1 or a line can't be read. */
    public static Optional<PlanText> parse(String text) {
        String[] lines = text.split("\n", -1);
        if (lines.length == 0 || !lines[0].equals(PlanFile.HEADER)) return Optional.empty();
        List<Step.Arg> rt = null;
        List<Step> steps = new ArrayList<>();
        String summary = null;
        for (int i = 1; i < lines.length; i++) {
            String line = lines[i];
            if (line.isEmpty()) continue;
            if (line.startsWith("#")) {
                summary = PlanCache.unescape(line.substring(1).strip());
                continue;
            }
            String[] f = line.split("\t", -1);
            if (f.length < 2) return Optional.empty();
            Optional<Stage> stage = Arrays.stream(Stage.values()).filter(s -> s.wireName().equals(f[0])).findFirst();
            if (stage.isEmpty()) return Optional.empty();
            List<Step.Arg> args = new ArrayList<>();
            for (int k = 2; k < f.length; k++) {
                int eq = f[k].indexOf('=');
                if (eq <= 0) return Optional.empty();
                args.add(new Step.Arg(f[k].substring(0, eq), PlanCache.unescape(f[k].substring(eq + 1))));
            }
            if (rt == null && stage.get() == Stage.PREPARE && f[1].equals("runtime-dir")) {
                rt = List.copyOf(args);
            } else {
                steps.add(new Step(stage.get(), f[1], args, null, summary, null));
            }
            summary = null;
        }
        return rt == null ? Optional.empty() : Optional.of(new PlanText(rt, List.copyOf(steps)));
    }
}
