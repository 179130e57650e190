package dev.sandbox.engine.runtime;

import dev.sandbox.api.Plan;
import dev.sandbox.api.Step;
import java.util.ArrayList;
import java.util.List;

/**
 * The helper's part of a plan in the line format of core/native/PROTOCOL.md:
 * {@code <stage> TAB <op> [TAB key=value]...}, with %, TAB, newline and bytes that are not UTF-8 percent-escaped.
 */
public final class PlanFile {

    private PlanFile() {}

    /** The file's text, and for each line (1-based) the plan step it came from. */
    public record Rendered(String text, List<Step> lines) {}

    public static Rendered render(Plan plan) {
        StringBuilder out = new StringBuilder("# sandbox plan for ").append(escape(plan.name())).append('\n');
        List<Step> lines = new ArrayList<>();
        lines.add(null);
        for (Step step : plan.steps()) {
            if (!step.stage().runsInHelper()) continue;
            out.append(step.stage().wireName()).append('\t').append(step.op());
            for (Step.Arg arg : step.args()) out.append('\t').append(arg.key()).append('=').append(escape(arg.value()));
            out.append('\n');
            lines.add(step);
        }
        return new Rendered(out.toString(), lines);
    }

    /** The first line of every canonical plan file; the runtime refuses any other version. */
    public static final String HEADER = "# sandbox-plan 1";

    /**
     * The canonical plan file (docs/architecture.md, "The plan file"): {@link #HEADER}, then a
     * {@code prepare runtime-dir} step naming the sandbox's runtime dir and the spec it came from, then
     * every step of every stage in execution order, in the line format of core/native/PROTOCOL.md, each
     * preceded by a {@code # <summary>} comment line when it has a summary (escaped like a value).
     * This text is what the runtime executes, what the plan cache stores and what
     * {@code sandbox plan --format file} prints. {@code lines.get(i)} is the step of line {@code i}
     * (1-based; null for the header and the runtime-dir line).
     */
    public static Rendered canonical(Plan plan, java.nio.file.Path runtimeDir, String specPath, String specSha256) {
        StringBuilder out = new StringBuilder(HEADER).append('\n');
        List<Step> lines = new ArrayList<>();
        lines.add(null);
        lines.add(null);
        out.append("prepare\truntime-dir\tpath=").append(escape(runtimeDir.toString())).append("\tname=").append(escape(plan.name()));
        if (specPath != null) out.append("\tspec=").append(escape(specPath));
        if (specSha256 != null) out.append("\tspec-sha256=").append(specSha256);
        out.append('\n');
        lines.add(null);
        for (Step step : plan.steps()) {
            if (step.summary() != null && !step.summary().isBlank()) {
                // what the step does, for people and for `up -v` (the runtime prints it next to the step)
                out.append("# ").append(escape(step.summary())).append('\n');
                lines.add(null);
            }
            out.append(step.stage().wireName()).append('\t').append(step.op());
            for (Step.Arg arg : step.args()) out.append('\t').append(arg.key()).append('=').append(escape(arg.value()));
            out.append('\n');
            lines.add(step);
        }
        return new Rendered(out.toString(), lines);
    }

    /** {@code %25 %09 %0A}, and {@code %XX} for a byte that is not valid UTF-8 (kept as in {@link RawText}). */
    static String escape(String value) {
        StringBuilder out = new StringBuilder(value.length());
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            int b = RawText.escapedByte(value, i);
            if (b >= 0) {
                out.append('%').append(HEX[b >> 4]).append(HEX[b & 15]);
                continue;
            }
            switch (c) {
                case '%' -> out.append("%25");
                case '\t' -> out.append("%09");
                case '\n' -> out.append("%0A");
                default -> out.append(c);
            }
        }
        return out.toString();
    }

    private static final char[] HEX = "0123456789ABCDEF".toCharArray();
}
