package dev.sandbox.engine.spec;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.api.SpecNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** A parsed spec file: its tree (absent when the YAML itself is broken) and the problems found while reading it. */
public record LoadedSpec(Path file, String displayName, SpecNode root, List<Diagnostic> diagnostics) {

    public boolean parsed() {
        return root != null;
    }

    /**
     * The diagnostics with "(anchored at L:C)" added to each one located at an alias: the alias is where
     * the value is used, the anchor where it is written, and a reader needs both.
     */
    public List<Diagnostic> locate(List<Diagnostic> found) {
        if (root == null) return found;
        Map<Location, Location> anchors = new HashMap<>();
        collectAnchors(root, anchors);
        if (anchors.isEmpty()) return found;
        List<Diagnostic> out = new ArrayList<>(found.size());
        for (Diagnostic d : found) {
            Location anchor = anchors.get(d.location());
            String note = anchor == null ? null : " (anchored at " + anchor.line() + ":" + anchor.column() + ")";
            if (note == null || d.message().endsWith(note) || d.message().contains("(anchored at ")) {
                out.add(d);
            } else {
                out.add(new Diagnostic(d.severity(), d.code(), d.message() + note, d.path(), d.location(), d.hint()));
            }
        }
        return out;
    }

    private static void collectAnchors(SpecNode node, Map<Location, Location> anchors) {
        if (node instanceof YamlSpecNode yaml && yaml.anchoredAt() != null) anchors.putIfAbsent(yaml.location(), yaml.anchoredAt());
        node.fields().values().forEach(child -> collectAnchors(child, anchors));
        node.elements().forEach(child -> collectAnchors(child, anchors));
    }
}
