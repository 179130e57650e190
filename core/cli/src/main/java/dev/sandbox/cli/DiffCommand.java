package dev.sandbox.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.Sandbox;
import dev.sandbox.engine.review.EffectiveSpec;
import dev.sandbox.engine.review.SpecReview;
import dev.sandbox.engine.schema.ComposedSchema;
import dev.sandbox.engine.schema.SchemaCheck;
import dev.sandbox.engine.source.CopySpecSource;
import dev.sandbox.engine.source.FileSpecSource;
import dev.sandbox.engine.source.GitSpecSource;
import dev.sandbox.engine.source.SpecSource;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.Variables;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "diff", mixinStandardHelpOptions = true,
        description = {"Show what a change to a spec does to the sandbox, and whether it weakens isolation.",
                "Lists every setting that differs, with defaults applied, then flags each change that weakens isolation (docs/git.md).",
                "  sandbox diff SPEC              HEAD against the working tree",
                "  sandbox diff REV SPEC          REV against the working tree",
                "  sandbox diff REV1 REV2 SPEC    REV1 against REV2",
                "Both sides are parsed and checked against the schema only: no host checks, no joins (either side may not run on this host).",
                "Exit 0; 1 when a side has errors; 3 with --fail-on weaken when a change weakens isolation."},
        footer = {"", "As a git diff driver: git config diff.sandbox.command 'sandbox diff --git-driver' and '*.sandbox.yaml diff=sandbox'"
                + " in .gitattributes (docs/git.md)."})
final class DiffCommand implements Callable<Integer> {

    static final int WEAKENS = 3;

    @ParentCommand Main main;

    @Parameters(arity = "1..7", paramLabel = "ARG", description = "[REV1 [REV2]] SPEC; with --git-driver the seven arguments git passes.")
    List<String> args = new ArrayList<>();

    @Option(names = "--fail-on", paramLabel = "WHAT", description = "weaken: exit 3 when any change weakens isolation (for CI).")
    FailOn failOn;

    @Option(names = "--format", paramLabel = "FORMAT", description = "text (default) or json.")
    Output.Format format = Output.Format.text;

    @Option(names = "--git-driver", description = "Run as git's external diff driver: PATH OLD-FILE OLD-HEX OLD-MODE NEW-FILE NEW-HEX NEW-MODE.")
    boolean gitDriver;

    @Mixin EnvFiles envFiles;

    enum FailOn { weaken }

    /** One side of the comparison; {@code source} empty when the spec doesn't exist on that side (added or deleted). */
    record Side(String label, Optional<SpecSource> source) {}

    @Override
    public Integer call() {
        Path cwd = Path.of("").toAbsolutePath();
        Side before;
        Side after;
        List<String> notes = new ArrayList<>();
        try {
            if (gitDriver) {
                if (args.size() != 7) return usage("--git-driver takes the 7 arguments git passes to a diff driver, got " + args.size());
                before = driverSide(cwd, args.get(0), args.get(1), args.get(2), notes);
                after = driverSide(cwd, args.get(0), args.get(4), args.get(5), notes);
            } else {
                if (args.size() > 3) return usage("diff takes [REV1 [REV2]] SPEC");
                Path spec = Path.of(args.get(args.size() - 1));
                String rev1 = args.size() >= 2 ? args.get(0) : "HEAD";
                before = revisionSide(rev1, spec, cwd);
                after = args.size() == 3 ? revisionSide(args.get(1), spec, cwd) : new Side(spec.toString(), Optional.of(new FileSpecSource(spec)));
            }
        } catch (SpecSource.SourceException e) {
            main.err.println(new Diagnostic(dev.sandbox.api.Severity.ERROR, e.code(), e.getMessage(), "", new Location(args.get(args.size() - 1), 0, 0),
                    e.hint()).format());
            return failed("a side can't be read");
        }
        Sandbox sandbox = main.sandbox();
        List<Diagnostic> problems = new ArrayList<>(sandbox.registry().problems());
        SchemaCheck schema = new SchemaCheck(ComposedSchema.compose(sandbox.registry().extensions(), new LinkedHashMap<>()));
        // both sides through the one loading path: includes (an old side's from its own revision) and variables
        Variables variables = sandbox.variables(envFiles.files);
        Optional<EffectiveSpec> old = model(sandbox, schema, before, variables, problems);
        Optional<EffectiveSpec> now = model(sandbox, schema, after, variables, problems);
        boolean errors = problems.stream().anyMatch(Diagnostic::isError);
        Output.diagnostics(main.err, problems);
        if (errors) {
            main.err.println("sandbox diff: " + Output.summary(problems) + "; nothing compared");
            return failed("a side has errors");
        }
        SpecReview.Result review = old.isPresent() && now.isPresent() ? SpecReview.compare(old.get(), now.get())
                : new SpecReview.Result(oneSided(old, now), List.of());
        if (format == Output.Format.json) json(before, after, review, notes);
        else text(before, after, review, notes);
        if (gitDriver) return 0; // git treats a failing driver as a fatal error
        return failOn == FailOn.weaken && review.weakens() ? WEAKENS : 0;
    }

    /**
     * Exit 1, except as git's diff driver: git ends the whole 'git diff' / 'git log -p' with "external diff
     * died" on any other status, so one broken revision of a spec would hide every other file's diff.
     */
    private int failed(String why) {
        if (!gitDriver) return 1;
        main.out.println("sandbox diff " + args.get(0) + ": " + why + " (see the errors above); nothing compared");
        return 0;
    }

    private int usage(String message) {
        main.err.println("sandbox diff: " + message);
        main.err.println("  usage: sandbox diff [REV1 [REV2]] SPEC");
        return 2;
    }

    private static Side revisionSide(String rev, Path spec, Path cwd) throws SpecSource.SourceException {
        GitSpecSource source = GitSpecSource.atRevision(rev, spec, cwd);
        return new Side(source.displayName(), Optional.of(source));
    }

    /**
     * One side as git hands it to a diff driver: a temporary file (or the working file itself) and its blob
     * id. The revision of a temporary file is found by its blob id (HEAD, then HEAD's history), so that
     * what the spec includes is read from the same revision; the working file is read as itself.
     */
    private static Side driverSide(Path cwd, String path, String file, String hex, List<String> notes) throws SpecSource.SourceException {
        // git passes /dev/null for the missing side of an added or deleted file, and "." as the hex of a
        // working-tree file whose id it did not compute
        if (file.equals("/dev/null")) return new Side("/dev/null", Optional.empty());
        Path given = Path.of(file);
        Optional<Path> top = GitSpecSource.workTree(cwd);
        if (top.isEmpty()) {
            throw new SpecSource.SourceException("spec.not-in-repository", "--git-driver runs in a git repository, but " + cwd
                    + " is in none", "git runs its diff drivers at the top of the working tree");
        }
        Path working = top.get().resolve(path);
        try {
            if (Files.exists(working) && Files.isSameFile(working, cwd.resolve(given))) {
                return new Side(path, Optional.of(new FileSpecSource(working, path)));
            }
        } catch (IOException e) {
            // not the same file: a temporary copy
        }
        Optional<GitSpecSource> found = hex.matches("[0-9a-f]{40}|[0-9a-f]{64}") ? GitSpecSource.findBlob(cwd, path, hex, 1000) : Optional.empty();
        if (found.isPresent()) return new Side(found.get().displayName(), Optional.of(found.get()));
        notes.add("note: blob " + hex + " of " + path + " is in none of the last 1000 commits of HEAD (staged only?): read from git's"
                + " temporary file; files it includes come from the working tree");
        String label = path + "@" + hex.substring(0, Math.min(12, hex.length()));
        return new Side(label, Optional.of(new CopySpecSource(cwd.resolve(given), working, label)));
    }

    /** Parse + schema + the defaults-applied model; no host checks, no plugin validation, no joins. */
    private static Optional<EffectiveSpec> model(Sandbox sandbox, SchemaCheck schema, Side side, Variables variables,
                                                 List<Diagnostic> problems) {
        if (side.source().isEmpty()) return Optional.empty();
        SpecSource source = side.source().get();
        LoadedSpec spec = sandbox.load(source, variables);
        problems.addAll(spec.diagnostics());
        if (!spec.parsed()) return Optional.empty();
        SpecNode root = spec.root();
        if (root.kind() != SpecNode.Kind.MAP) {
            problems.add(Diagnostic.error("spec.not-a-map", "the spec must be a map of keys (apiVersion, kind, name, ...)", "",
                    root.location(), null));
            return Optional.empty();
        }
        problems.addAll(spec.locate(schema.check(root)));
        var caller = sandbox.caller();
        return Optional.of(EffectiveSpec.of(root, caller.uid(), caller.gid()));
    }

    private static List<SpecReview.Change> oneSided(Optional<EffectiveSpec> old, Optional<EffectiveSpec> now) {
        List<SpecReview.Change> out = new ArrayList<>();
        old.ifPresent(o -> o.settings().forEach((k, v) -> out.add(new SpecReview.Change(SpecReview.ChangeKind.REMOVED, k, v, null))));
        now.ifPresent(n -> n.settings().forEach((k, v) -> out.add(new SpecReview.Change(SpecReview.ChangeKind.ADDED, k, null, v))));
        return out;
    }

    private void text(Side before, Side after, SpecReview.Result review, List<String> notes) {
        var out = main.out;
        out.println("sandbox diff " + before.label() + " -> " + after.label());
        notes.forEach(out::println);
        if (review.changes().isEmpty()) {
            out.println("no change to the sandbox (defaults applied)");
        } else {
            out.println("changes to the sandbox (defaults applied):");
            for (SpecReview.Change c : review.changes()) {
                switch (c.kind()) {
                    case ADDED -> out.println("  + " + c.key() + ": " + c.after());
                    case REMOVED -> out.println("  - " + c.key() + ": " + c.before());
                    case CHANGED -> out.println("  ~ " + c.key() + ": " + c.before() + " -> " + c.after());
                }
            }
        }
        if (before.source().isEmpty() || after.source().isEmpty()) {
            out.println("isolation: nothing to compare (the spec exists on one side only)");
        } else if (!review.weakens()) {
            out.println("isolation: no change weakens the sandbox");
        } else {
            out.println("isolation: " + review.weakenings().size() + (review.weakenings().size() == 1 ? " change weakens" : " changes weaken")
                    + " the sandbox");
            for (SpecReview.Weakening w : review.weakenings()) out.println("  WEAKER [" + w.code() + "] " + w.key() + ": " + w.message());
        }
    }

    private void json(Side before, Side after, SpecReview.Result review, List<String> notes) {
        ObjectNode root = Output.json().createObjectNode();
        root.put("old", before.label());
        root.put("new", after.label());
        ArrayNode changes = root.putArray("changes");
        for (SpecReview.Change c : review.changes()) {
            ObjectNode o = changes.addObject();
            o.put("key", c.key());
            o.put("change", c.kind().name().toLowerCase());
            if (c.before() != null) {
                o.put("before", c.before().value());
                o.put("beforeIsDefault", c.before().defaulted());
            }
            if (c.after() != null) {
                o.put("after", c.after().value());
                o.put("afterIsDefault", c.after().defaulted());
            }
        }
        ArrayNode weak = root.putArray("weakenings");
        for (SpecReview.Weakening w : review.weakenings()) {
            ObjectNode o = weak.addObject();
            o.put("code", w.code());
            o.put("key", w.key());
            o.put("message", w.message());
        }
        root.put("weakens", review.weakens());
        ArrayNode n = root.putArray("notes");
        notes.forEach(n::add);
        Output.json(main.out, root);
    }
}
