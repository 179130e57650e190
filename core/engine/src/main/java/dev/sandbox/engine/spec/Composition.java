package dev.sandbox.engine.spec;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.source.FileSpecSource;
import dev.sandbox.engine.source.SpecSource;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A spec and what it includes, read and merged: {@code include: [base.yaml, ...]} at the top of a file
 * names files relative to it (read through {@link SpecSource#resolveSibling}, so a spec from a git
 * revision includes from that revision). Each included file is composed first (its own includes merged
 * under it), then the included files are merged in order and the including file over them
 * ({@link SpecMerge}). A file is merged once: when two included files include the same third one, its
 * values come in with the first and the second include of it adds nothing (else its list entries
 * would be appended twice and it would undo what the first includer changed). Top-level {@code x-*} keys (compose's place for anchors) and {@code include}
 * itself are dropped before merging; an included file may be partial — the schema sees the result.
 *
 * <p>Bounded like any hostile input: each file with a spec's bounds, at most {@link #MAX_DEPTH} includes
 * deep, at most {@link #MAX_FILES} files, and the node budget for all files together. A cycle, a missing
 * file or a bound is an error located at the include entry; diagnostics in an included file name the
 * chain of includes that brought it in ({@link LoadedSpec#includedFrom()}).
 */
final class Composition {

    static final int MAX_DEPTH = 8;
    static final int MAX_FILES = 64;

    private final Variables variables;
    private final List<Diagnostic> diagnostics = new ArrayList<>();
    private final List<LoadedSpec.Input> inputs = new ArrayList<>();
    private final Map<String, List<Location>> includedFrom = new LinkedHashMap<>();
    private final YamlSpecNode.NodeBudget budget;
    private final Interpolation interpolation;
    private final Map<String, String> displays = new HashMap<>();
    /** Files already merged into this spec: a second include of one (a diamond: two bases share a third) adds nothing. */
    private final java.util.Set<String> composed = new java.util.HashSet<>();
    private boolean includeFailed;

    Composition(Variables variables, YamlComposer.Limits limits) {
        this.variables = variables;
        this.budget = new YamlSpecNode.NodeBudget(limits.nodes());
        this.interpolation = new Interpolation(variables::reference, diagnostics);
    }

    LoadedSpec load(SpecSource root) {
        diagnostics.addAll(variables.problems());
        YamlSpecNode tree = compose(root, null, List.of(), new ArrayList<>());
        SpecNode result = tree == null || includeFailed ? null : tree;
        LoadedSpec.Inputs used = new LoadedSpec.Inputs(List.copyOf(inputs), new LinkedHashMap<>(variables.referenced()), variables.envFiles());
        LoadedSpec spec = new LoadedSpec(root.workingFile(), root.displayName(), result, diagnostics, used, Map.copyOf(includedFrom));
        return new LoadedSpec(spec.file(), spec.displayName(), result, List.copyOf(spec.locate(diagnostics)), used, spec.includedFrom());
    }

    /**
     * One file with its includes merged under it; null when it can't be read or parsed.
     *
     * @param entry the include entry that names it (null for the spec itself)
     * @param chain include entries that brought it here, innermost first
     * @param stack identities of the files being composed (for cycles)
     */
    private YamlSpecNode compose(SpecSource source, SpecNode entry, List<Location> chain, List<String> stack) {
        String display = source.displayName();
        Location at = entry == null ? new Location(display, 1, 1) : entry.location();
        String id = identity(source);
        displays.putIfAbsent(id, display);
        if (entry != null) {
            List<Location> parentChain = chain.subList(1, chain.size());
            if (stack.contains(id)) {
                return includeError(entry, parentChain, "spec.include-cycle", "including " + display + " here makes a cycle: "
                        + cycle(stack, id) + " -> " + display, "a file can't include itself, directly or through another one");
            }
            if (composed.contains(id)) return null; // already merged, through another include
            if (stack.size() > MAX_DEPTH) {
                return includeError(entry, parentChain, "spec.include-too-deep", "includes are nested more than " + MAX_DEPTH + " deep",
                        "include the shared files from the top file instead of through each other");
            }
            if (inputs.size() >= MAX_FILES) {
                return includeError(entry, parentChain, "spec.too-many-includes", "a spec may read at most " + MAX_FILES
                        + " files with everything it includes", "merge some of the included files");
            }
        }
        byte[] bytes;
        try {
            bytes = source.read();
        } catch (SpecSource.SourceException e) {
            if (entry == null) {
                diagnostics.add(Diagnostic.error(e.code(), e.getMessage(), "", at, e.hint()));
                return null;
            }
            return includeError(entry, chain.subList(1, chain.size()), e.code(), "cannot include " + entry.text() + ": " + e.getMessage(), e.hint());
        }
        inputs.add(new LoadedSpec.Input(display, source instanceof FileSpecSource f ? f.file().toAbsolutePath().normalize() : null, bytes));
        if (entry != null) includedFrom.putIfAbsent(display, chain);
        YamlSpecNode tree = SpecLoader.parseOne(bytes, display, diagnostics, interpolation, budget);
        if (tree == null) {
            if (entry != null) includeFailed = true;
            return null;
        }
        if (tree.kind() != SpecNode.Kind.MAP) {
            if (entry == null) return tree; // the schema says what a spec is
            return includeError(entry, chain.subList(1, chain.size()), "spec.include-not-a-map", display + " is not a map of keys, so it"
                    + " can't be merged into a spec", "an included file is (part of) a spec: apiVersion, namespaces, process, ...");
        }
        YamlSpecNode base = null;
        SpecNode includes = tree.fields().get("include");
        if (includes != null) {
            List<String> inner = new ArrayList<>(stack);
            inner.add(id);
            List<SpecNode> entries = includes.kind() == SpecNode.Kind.LIST ? includes.elements() : List.of(includes);
            if (includes.kind() != SpecNode.Kind.LIST && includes.kind() != SpecNode.Kind.STRING) {
                diagnostics.add(Diagnostic.error("spec.bad-include", "include takes a list of file names", "include", includes.location(),
                        "include: [base.yaml, ...] (paths relative to this file)"));
                includeFailed = true;
            }
            for (SpecNode e : includes.kind() == SpecNode.Kind.MAP ? List.<SpecNode>of() : entries) {
                if (e.kind() != SpecNode.Kind.STRING || e.text().isBlank()) {
                    diagnostics.add(Diagnostic.error("spec.bad-include", "an include entry is a file name, not "
                                    + e.kind().name().toLowerCase(java.util.Locale.ROOT), e.path(), e.location(),
                            "include: [base.yaml, ...] (paths relative to this file)"));
                    includeFailed = true;
                    continue;
                }
                if (source.revision().isPresent() && e.text().startsWith("/")) {
                    diagnostics.add(Diagnostic.error("spec.bad-include", "a spec read from revision " + source.revision().get()
                            + " includes files of that revision: '" + e.text() + "' must be relative", e.path(), e.location(),
                            "name the file relative to the including one"));
                    includeFailed = true;
                    continue;
                }
                List<Location> childChain = new ArrayList<>();
                childChain.add(e.location());
                childChain.addAll(chain);
                SpecSource child;
                try {
                    child = source.resolveSibling(e.text());
                } catch (RuntimeException ex) {
                    includeError(e, chain, "spec.bad-include", "'" + e.text() + "' is not a file name: " + ex.getMessage(), null);
                    continue;
                }
                YamlSpecNode included = compose(child, e, childChain, inner);
                if (included != null) base = SpecMerge.merge(base, included, "");
            }
        }
        LinkedHashMap<String, SpecNode> own = new LinkedHashMap<>();
        Map<String, Location> keys = new HashMap<>();
        tree.fields().forEach((k, v) -> {
            if (k.equals("include") || k.startsWith("x-")) return;
            own.put(k, v);
            keys.put(k, tree.keyLocation(k));
        });
        composed.add(id);
        YamlSpecNode merged = SpecMerge.merge(base, tree.rebuilt(tree.path(), own, keys, List.of(), tree.tag()), "");
        return SpecMerge.finish(merged, "");
    }

    private YamlSpecNode includeError(SpecNode entry, List<Location> chainOfEntry, String code, String message, String hint) {
        Diagnostic d = Diagnostic.error(code, message, "include", entry.location(), hint);
        diagnostics.add(chainOfEntry.isEmpty() ? d : d.withIncludedFrom(chainOfEntry));
        includeFailed = true;
        return null;
    }

    private String cycle(List<String> stack, String id) {
        List<String> names = new ArrayList<>();
        for (String s : stack.subList(stack.indexOf(id), stack.size())) names.add(displays.getOrDefault(s, s));
        return String.join(" -> ", names);
    }

    /** What makes two includes the same file: the revision and the real path (symbolic links resolved). */
    private String identity(SpecSource source) {
        Path file = source.workingFile().toAbsolutePath().normalize();
        if (source.revision().isEmpty()) {
            try {
                file = file.toRealPath();
            } catch (IOException e) {
                // a missing file: reported when it is read
            }
        }
        return source.revision().orElse("") + ":" + file;
    }
}
