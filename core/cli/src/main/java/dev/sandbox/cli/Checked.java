package dev.sandbox.cli;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.engine.Sandbox;
import dev.sandbox.engine.source.SpecSource;
import dev.sandbox.engine.spec.LoadedSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A spec loaded (includes merged, variables substituted) and validated together with the installed
 * plugins' own problems. {@code revisionSource}: the git source when SPEC was {@code REV:path} (issue 11).
 */
record Checked(LoadedSpec spec, List<Diagnostic> diagnostics, Optional<SpecSource> revisionSource) {

    static Checked of(Sandbox sandbox, Path file) {
        return of(sandbox, file, List.of());
    }

    static Checked of(Sandbox sandbox, Path file, List<Path> envFiles) {
        // SPEC may be REV:path (a git revision); a plain file never loads JGit. Read before the plugins are asked for (they
        // may still be loading on another thread: Sandbox.prepareInBackground); their problems come first all the same.
        List<Diagnostic> loading = new ArrayList<>();
        SpecArgument.Loaded loaded = SpecArgument.load(sandbox, file, sandbox.variables(envFiles), loading);
        LoadedSpec spec = loaded.spec();
        dev.sandbox.engine.Timing.mark("spec loaded");
        sandbox.warmUpWhilePreparing();
        List<Diagnostic> all = new ArrayList<>(sandbox.pluginProblems());
        all.addAll(loading);
        all.addAll(sandbox.pipeline().validate(spec));
        dev.sandbox.engine.Timing.mark("validated");
        return new Checked(spec, all, loaded.revisionSource());
    }

    /**
     * What the plan's runtime-dir step records about the spec: path, SHA-256 and its git origin (docs/git.md,
     * "Provenance"). A file's origin takes no git library; a spec read from a revision adds that revision's commit.
     */
    dev.sandbox.engine.runtime.PlanFile.Source source() {
        dev.sandbox.engine.runtime.PlanFile.Source source = dev.sandbox.engine.runtime.PlanFile.Source.of(spec);
        // JGit is loaded already for a revision; a file never gets here
        return revisionSource.isPresent() ? ProvenanceJson.recorded(source, revisionSource.get(), spec) : source;
    }

    boolean hasErrors() {
        return diagnostics.stream().anyMatch(Diagnostic::isError);
    }
}
