package dev.sandbox.cli;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.engine.Sandbox;
import dev.sandbox.engine.source.FileSpecSource;
import dev.sandbox.engine.source.SpecSource;
import dev.sandbox.engine.source.SpecSources;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.Variables;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The SPEC argument of {@code up}, {@code validate}, {@code plan} and {@code config}: a file, or
 * {@code REV:path} read from a git revision (docs/git.md). Both go through the one loading path (bounds,
 * includes, variables); a plain file name never loads JGit's classes.
 */
final class SpecArgument {

    /** The spec as loaded, and the git source when it came from a revision. */
    record Loaded(LoadedSpec spec, Optional<SpecSource> revisionSource) {}

    private SpecArgument() {}

    static Loaded load(Sandbox sandbox, Path argument, Variables variables, List<Diagnostic> diagnostics) {
        String text = argument.toString();
        if (!SpecSources.looksLikeRevision(text)) return new Loaded(sandbox.load(new FileSpecSource(argument), variables), Optional.empty());
        List<String> warnings = new ArrayList<>();
        SpecSource source;
        try {
            source = SpecSources.forArgument(text, Path.of("").toAbsolutePath(), warnings);
        } catch (SpecSource.SourceException e) {
            return new Loaded(new LoadedSpec(argument, text, null,
                    List.of(Diagnostic.error(e.code(), e.getMessage(), "", new Location(text, 0, 0), e.hint()))), Optional.empty());
        }
        for (String w : warnings) {
            diagnostics.add(Diagnostic.warning("spec.file-looks-like-revision", w, "", new Location(text, 0, 0), null));
        }
        LoadedSpec spec = sandbox.load(source, variables);
        return new Loaded(spec, source instanceof FileSpecSource ? Optional.empty() : Optional.of(source));
    }

    /** The note {@code plan} prints for a spec read from a revision. */
    static String workingTreeNote(SpecSource source) {
        return "note: the spec comes from revision " + source.revision().orElse("?") + " (and so do the files it includes); bind sources,"
                + " overlay layers and other host paths still come from the working tree (" + source.baseDir() + ")";
    }
}
