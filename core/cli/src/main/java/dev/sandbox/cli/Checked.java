package dev.sandbox.cli;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.engine.Sandbox;
import dev.sandbox.engine.spec.LoadedSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** A spec loaded and validated together with the installed plugins' own problems. */
record Checked(LoadedSpec spec, List<Diagnostic> diagnostics) {

    static Checked of(Sandbox sandbox, Path file) {
        List<Diagnostic> all = new ArrayList<>(sandbox.pluginProblems());
        LoadedSpec spec = sandbox.load(file);
        all.addAll(sandbox.pipeline().validate(spec));
        return new Checked(spec, all);
    }

    boolean hasErrors() {
        return diagnostics.stream().anyMatch(Diagnostic::isError);
    }
}
