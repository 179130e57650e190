package dev.sandbox.engine.spec;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.SpecNode;
import java.nio.file.Path;
import java.util.List;

/** A parsed spec file: its tree (absent when the YAML itself is broken) and the problems found while reading it. */
public record LoadedSpec(Path file, String displayName, SpecNode root, List<Diagnostic> diagnostics) {

    public boolean parsed() {
        return root != null;
    }
}
