package dev.sandbox.engine.spec;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.api.SpecNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A loaded spec: its tree (absent when the YAML itself is broken; with includes merged and variables
 * substituted), the problems found while reading it, and what it was made of ({@link Inputs}: every
 * file read, every variable referenced — what the plan cache must check).
 *
 * @param includedFrom for each included file (by its display name), the include entries that brought
 *                     it in, innermost first: what diagnostics print as "included from web.yaml:3:5"
 */
public record LoadedSpec(Path file, String displayName, SpecNode root, List<Diagnostic> diagnostics, Inputs inputs,
                         Map<String, List<Location>> includedFrom) {

    /** One file read: the spec or an include. {@code file} is the host file, or null for a blob of a git revision. */
    public record Input(String displayName, Path file, byte[] bytes) {}

    /** What the loaded spec depends on besides the command line. */
    public record Inputs(List<Input> files, Map<String, Optional<String>> variables, List<Variables.EnvFileInput> envFiles) {
        public static final Inputs NONE = new Inputs(List.of(), Map.of(), List.of());

        /** The files read besides the spec itself. */
        public List<Input> includes() {
            return files.size() <= 1 ? List.of() : files.subList(1, files.size());
        }
    }

    private static final java.util.Set<String> VARIABLE_CODES = java.util.Set.of("spec.unset-variable", "spec.required-variable",
            "spec.bad-variable");

    public LoadedSpec(Path file, String displayName, SpecNode root, List<Diagnostic> diagnostics) {
        this(file, displayName, root, diagnostics, Inputs.NONE, Map.of());
    }

    public boolean parsed() {
        return root != null;
    }

    /**
     * The diagnostics with what a reader needs besides the location: "(anchored at L:C)" added to each one
     * located at an alias (the alias is where the value is used, the anchor where it is written), and
     * the chain of includes for each one located in an included file.
     */
    public List<Diagnostic> locate(List<Diagnostic> found) {
        Map<Location, Location> anchors = new HashMap<>();
        if (root != null) collectAnchors(root, anchors);
        // a value whose variable could not be substituted is kept as written; what the schema or a plugin
        // then says about the same value ('${CWD}' is not an absolute path) only repeats that error
        java.util.Set<Location> unsubstituted = new java.util.HashSet<>();
        for (Diagnostic d : diagnostics) if (VARIABLE_CODES.contains(d.code())) unsubstituted.add(d.location());
        if (anchors.isEmpty() && includedFrom.isEmpty() && unsubstituted.isEmpty()) return found;
        List<Diagnostic> out = new ArrayList<>(found.size());
        for (Diagnostic d : found) {
            if (unsubstituted.contains(d.location()) && !VARIABLE_CODES.contains(d.code())) continue;
            Location anchor = anchors.get(d.location());
            String note = anchor == null ? null : " (anchored at " + anchor.line() + ":" + anchor.column() + ")";
            if (note != null && !d.message().endsWith(note) && !d.message().contains("(anchored at ")) {
                d = new Diagnostic(d.severity(), d.code(), d.message() + note, d.path(), d.location(), d.hint(), d.includedFrom());
            }
            List<Location> chain = includedFrom.get(d.location().file());
            if (chain != null && d.includedFrom().isEmpty()) d = d.withIncludedFrom(chain);
            out.add(d);
        }
        return out;
    }

    private static void collectAnchors(SpecNode node, Map<Location, Location> anchors) {
        if (node instanceof YamlSpecNode yaml && yaml.anchoredAt() != null) anchors.putIfAbsent(yaml.location(), yaml.anchoredAt());
        node.fields().values().forEach(child -> collectAnchors(child, anchors));
        node.elements().forEach(child -> collectAnchors(child, anchors));
    }
}
