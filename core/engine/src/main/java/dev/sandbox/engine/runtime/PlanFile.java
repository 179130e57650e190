package dev.sandbox.engine.runtime;

import dev.sandbox.api.Ops;
import dev.sandbox.api.Plan;
import dev.sandbox.api.Step;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Plans as text in the line format of core/native/PROTOCOL.md: {@code <stage> TAB <op> [TAB key=value]...}, with %,
 * TAB, newline and bytes that are not UTF-8 percent-escaped. {@link #canonical} is the one plan file (every stage;
 * what the runtime executes, the cache stores and {@code sandbox plan --format file} prints) and {@link #parse} its
 * inverse; {@link #render} is the helper-only file of the old {@code sandbox-init --plan FILE --control SOCKET} mode.
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

    /** The op of the plan file's first step, which names the runtime dir, the sandbox and its spec. */
    public static final String RUNTIME_DIR = "runtime-dir";

    /**
     * The spec a plan was compiled from, as the {@code runtime-dir} step records it: its absolute path (or
     * {@code REV:path} for a spec read from a git revision) and the SHA-256 of its bytes; either may be null. When the
     * spec is in a git repository also what is cheap to know at start (docs/git.md, "Provenance"): the repository's top
     * ({@code gitRepo}), the spec's path in it ({@code gitPath}, '/'-separated) and its git blob id ({@code gitBlob});
     * for a spec read from a revision, the revision's commit ({@code gitCommit}). The git fields are all null or
     * (but {@code gitCommit}) all set.
     */
    public record Source(String path, String sha256, String gitRepo, String gitPath, String gitBlob, String gitCommit) {
        public static final Source NONE = new Source(null, null);

        public Source(String path, String sha256) {
            this(path, sha256, null, null, null, null);
        }

        /** The spec's absolute path and the SHA-256 (hex) of the bytes it was loaded from, with its git origin when it has one. */
        public static Source of(dev.sandbox.engine.spec.LoadedSpec spec) {
            List<dev.sandbox.engine.spec.LoadedSpec.Input> files = spec.inputs().files();
            if (files.isEmpty()) return new Source(spec.file() != null ? spec.file().toAbsolutePath().normalize().toString() : null, null);
            // a blob of a git revision has no host file: REV:path, as the user wrote it
            dev.sandbox.engine.spec.LoadedSpec.Input first = files.get(0);
            Source source = new Source(first.file() != null ? first.file().toAbsolutePath().normalize().toString() : spec.displayName(),
                    PlanFile.sha256(first.bytes()));
            if (first.file() == null) return source;
            // pure file checks and one SHA-1: no git library on up's path (docs/performance.md)
            return dev.sandbox.engine.provenance.SpecOrigin.of(first.file(), first.bytes())
                    .map(o -> source.withGit(o.repositoryTop().toString(), o.pathInRepository(), o.blobId(), null)).orElse(source);
        }

        public Source withGit(String repo, String gitPath, String blob, String commit) {
            return new Source(path, sha256, repo, gitPath, blob, commit);
        }
    }

    /** A canonical plan file read back: the plan (each step with its summary), the runtime dir and the spec it came from. */
    public record Parsed(Plan plan, java.nio.file.Path runtimeDir, Source source) {}

    /** A text that is not a canonical plan file of version 1; {@link #line()} is 1-based. */
    public static final class FormatException extends IllegalArgumentException {
        private final int line;

        FormatException(int line, String message) {
            super("line " + line + ": " + message);
            this.line = line;
        }

        public int line() {
            return line;
        }
    }

    public static Rendered canonical(Plan plan, java.nio.file.Path runtimeDir, String specPath, String specSha256) {
        return canonical(plan, runtimeDir, new Source(specPath, specSha256));
    }

    /**
     * The canonical plan file (docs/architecture.md, "The plan file"): {@link #HEADER}, then a
     * {@code prepare runtime-dir} step naming the sandbox's runtime dir and the spec it came from, then
     * every step of every stage in execution order, in the line format of core/native/PROTOCOL.md, each
     * preceded by a {@code # <summary>} comment line when it has a summary (escaped like a value).
     * This text is what the runtime executes, what the plan cache stores and what
     * {@code sandbox plan --format file} prints; {@link #parse(String)} reads it back. {@code lines.get(i)} is the
     * step of line {@code i} (1-based; null for the header, the runtime-dir line and comment lines).
     */
    public static Rendered canonical(Plan plan, java.nio.file.Path runtimeDir, Source source) {
        // One rendering per plan: a cold up asks three times (the cache entry, the native index entry, the plan file), and
        // a Plan is immutable (its steps are copied). Keyed by the plan's identity: a record's equals would compare it all.
        Object[] last = lastCanonical;
        if (last != null && last[0] == plan && last[1].equals(runtimeDir) && same((Source) last[2], source)) return (Rendered) last[3];
        Rendered rendered = renderCanonical(plan, runtimeDir, source);
        lastCanonical = new Object[] {plan, runtimeDir, source, rendered};
        return rendered;
    }

    private static volatile Object[] lastCanonical;

    /** A record's equals is an invokedynamic call site whose first call costs more than the rendering it would save. */
    private static boolean same(Source a, Source b) {
        return a == b || a != null && b != null && java.util.Objects.equals(a.path(), b.path()) && java.util.Objects.equals(a.sha256(), b.sha256())
                && java.util.Objects.equals(a.gitRepo(), b.gitRepo()) && java.util.Objects.equals(a.gitPath(), b.gitPath())
                && java.util.Objects.equals(a.gitBlob(), b.gitBlob()) && java.util.Objects.equals(a.gitCommit(), b.gitCommit());
    }

    private static Rendered renderCanonical(Plan plan, java.nio.file.Path runtimeDir, Source source) {
        StringBuilder out = new StringBuilder(HEADER).append('\n');
        List<Step> lines = new ArrayList<>();
        lines.add(null);
        lines.add(null);
        out.append("prepare\t" + RUNTIME_DIR + "\tpath=").append(escape(runtimeDir.toString())).append("\tname=").append(escape(plan.name()));
        for (String[] kv : sourceArgs(source)) out.append('\t').append(kv[0]).append('=').append(escape(kv[1]));
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
        return new Rendered(out.toString(), java.util.Collections.unmodifiableList(lines));
    }

    /**
     * The {@code runtime-dir} step of a canonical file as a step (for {@code sandbox plan}, which shows every step
     * of the file): it is never part of a {@link Plan}, {@link #canonical} writes it from its arguments.
     */
    public static Step runtimeDirStep(String name, java.nio.file.Path runtimeDir, Source source) {
        Step.Builder b = Step.of(dev.sandbox.api.Stage.PREPARE, RUNTIME_DIR).arg("path", runtimeDir).arg("name", name);
        for (String[] kv : sourceArgs(source)) b.arg(kv[0], kv[1]);
        return b.summary("create the sandbox's runtime dir (lock, journal, state.json, plan) and lock it; a dead sandbox of the same"
                        + " name is finished first, a running one is an error")
                .syscall("mkdir(\"" + runtimeDir + "\", 0700); open(\"" + runtimeDir.resolve("lock") + "\"); flock(LOCK_EX|LOCK_NB)")
                .build().withPlugin("engine");
    }

    /** The keys of the runtime-dir step after path= and name=, in this order (those whose value is null left out). */
    private static final List<String> SOURCE_KEYS = List.of("spec", "spec-sha256", "git-repo", "git-path", "git-blob", "git-commit");

    private static List<String[]> sourceArgs(Source source) {
        String[] values = {source.path(), source.sha256(), source.gitRepo(), source.gitPath(), source.gitBlob(), source.gitCommit()};
        List<String[]> out = new ArrayList<>();
        for (int i = 0; i < values.length; i++) if (values[i] != null) out.add(new String[] {SOURCE_KEYS.get(i), values[i]});
        return out;
    }

    /**
     * Reads a canonical plan file back, the inverse of {@link #canonical}: {@code canonical(parse(t)) == t} for every
     * text {@code canonical} wrote. Each {@code # } comment line becomes the summary of the step after it; values are
     * unescaped ({@code %XX}: a byte 0x80..0xFF back to {@link RawText}'s U+DC80..U+DCFF). The steps come back without
     * their plugin and syscall (the file does not carry them). Anything else than what {@code canonical} writes, or an
     * op a stage doesn't allow ({@link Ops}), is a {@link FormatException}.
     */
    public static Parsed parse(String text) {
        if (!text.endsWith("\n")) throw new FormatException(Math.max(1, (int) text.lines().count()), "the last line has no newline (a cut file?)");
        String[] lines = text.substring(0, text.length() - 1).split("\n", -1);
        if (!lines[0].equals(HEADER)) throw new FormatException(1, "not a sandbox plan of version 1 (the first line is not '" + HEADER + "')");
        if (lines.length < 2) throw new FormatException(2, "no " + RUNTIME_DIR + " step");
        String[] head = lines[1].split("\t", -1);
        if (head.length < 2 || !head[0].equals("prepare") || !head[1].equals(RUNTIME_DIR)) {
            throw new FormatException(2, "the first step must be 'prepare " + RUNTIME_DIR + "'");
        }
        Map<String, String> dir = new java.util.LinkedHashMap<>();
        for (Step.Arg a : args(head, 2)) {
            if (dir.put(a.key(), a.value()) != null) throw new FormatException(2, "key " + a.key() + " twice");
        }
        List<String> all = java.util.stream.Stream.concat(java.util.stream.Stream.of("path", "name"), SOURCE_KEYS.stream()).toList();
        if (!all.containsAll(dir.keySet())) {
            throw new FormatException(2, "unknown key in " + RUNTIME_DIR + ": " + dir.keySet());
        }
        List<String> order = dir.keySet().stream().toList();
        List<String> expected = all.stream().filter(dir::containsKey).toList();
        if (!order.equals(expected) || !dir.containsKey("path") || !dir.containsKey("name")) {
            throw new FormatException(2, RUNTIME_DIR + " needs path=, name= (then spec=, spec-sha256=, git-repo=, git-path=, git-blob=,"
                    + " git-commit=) in this order");
        }
        long git = java.util.stream.Stream.of("git-repo", "git-path", "git-blob").filter(dir::containsKey).count();
        if (git != 0 && git != 3 || dir.containsKey("git-commit") && git == 0) {
            throw new FormatException(2, RUNTIME_DIR + ": git-repo=, git-path= and git-blob= come together (git-commit= only with them)");
        }
        List<Step> steps = new ArrayList<>();
        String summary = null;
        for (int i = 2; i < lines.length; i++) {
            String line = lines[i];
            int number = i + 1;
            if (line.startsWith("# ")) {
                if (summary != null) throw new FormatException(number, "two comment lines in a row");
                summary = unescape(line.substring(2), number);
                if (summary.isBlank()) throw new FormatException(number, "an empty summary");
                continue;
            }
            String[] f = line.split("\t", -1);
            if (f.length < 2) throw new FormatException(number, "not 'stage TAB op [TAB key=value]...'");
            dev.sandbox.api.Stage stage = dev.sandbox.api.Stage.byWireName(f[0])
                    .orElseThrow(() -> new FormatException(number, "unknown stage '" + f[0] + "'"));
            Step step = new Step(stage, f[1], args(f, 2, number), "", summary, "");
            if (f[1].equals(RUNTIME_DIR) || !Ops.allowed(step)) {
                throw new FormatException(number, "op '" + f[1] + "' is not allowed in stage " + f[0]);
            }
            if (!steps.isEmpty() && steps.get(steps.size() - 1).stage().compareTo(stage) > 0) {
                throw new FormatException(number, "stage " + f[0] + " after stage " + steps.get(steps.size() - 1).stage().wireName());
            }
            steps.add(step);
            summary = null;
        }
        if (summary != null) throw new FormatException(lines.length, "a comment line without a step after it");
        java.nio.file.Path runtimeDir;
        try {
            runtimeDir = java.nio.file.Path.of(dir.get("path"));
        } catch (java.nio.file.InvalidPathException e) {
            throw new FormatException(2, "the runtime dir is no path here: " + e.getMessage());
        }
        return new Parsed(new Plan(dir.get("name"), steps), runtimeDir, new Source(dir.get("spec"), dir.get("spec-sha256"),
                dir.get("git-repo"), dir.get("git-path"), dir.get("git-blob"), dir.get("git-commit")));
    }

    private static List<Step.Arg> args(String[] fields, int from) {
        return args(fields, from, 2);
    }

    private static List<Step.Arg> args(String[] fields, int from, int line) {
        List<Step.Arg> out = new ArrayList<>();
        for (int i = from; i < fields.length; i++) {
            int eq = fields[i].indexOf('=');
            if (eq <= 0) throw new FormatException(line, "'" + fields[i] + "' is not key=value");
            String key = fields[i].substring(0, eq);
            if (key.indexOf('%') >= 0) throw new FormatException(line, "a key with a % escape: " + key);
            out.add(new Step.Arg(key, unescape(fields[i].substring(eq + 1), line)));
        }
        return out;
    }

    /** The inverse of {@link #escape}: {@code %XX} to the char, or for 0x80..0xFF to RawText's U+DC80..U+DCFF; a bad {@code %} is an error. */
    static String unescape(String s, int line) {
        if (s.indexOf('%') < 0) return s;
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '%') {
                out.append(c);
                continue;
            }
            int b = i + 2 < s.length() ? hex(s.charAt(i + 1), s.charAt(i + 2)) : -1;
            if (b < 0) throw new FormatException(line, "'%' not followed by two hex digits in '" + s + "'");
            out.append((char) (b >= 0x80 ? 0xDC00 | b : b));
            i += 2;
        }
        return out.toString();
    }

    /** ASCII hex only (Character.digit would take other scripts' digits too). */
    private static int hex(char hi, char lo) {
        int h = digit(hi), l = digit(lo);
        return h < 0 || l < 0 ? -1 : h << 4 | l;
    }

    private static int digit(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    }

    /** The SHA-256 of {@code bytes} in lower-case hex (the runtime-dir step's {@code spec-sha256}). */
    public static String sha256(byte[] bytes) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
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
