package dev.sandbox.engine.spec;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.engine.source.FileSpecSource;
import dev.sandbox.engine.source.SpecSource;
import dev.sandbox.engine.source.SpecSources;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;
import org.yaml.snakeyaml.parser.ParserImpl;
import org.yaml.snakeyaml.reader.ReaderException;
import org.yaml.snakeyaml.reader.StreamReader;

/**
 * Reads a spec into a {@link YamlSpecNode} tree that keeps every node's 1-based line and column: the
 * one loading path for a file, a blob of a git revision ({@link SpecSource}) or a text.
 *
 * <p>The bytes come from the source with its bounds (a regular file of at most {@link #MAX_BYTES}: a
 * FIFO, a device or a directory fails at once), are decoded as strict UTF-8 ({@link SpecText}), scanned
 * and parsed by SnakeYAML and assembled by {@link YamlComposer} (anchors, aliases, {@code <<} merges,
 * every duplicate key, bounded depth and size, {@code ${VAR}} substituted from {@link Variables}).
 * {@link Composition} then reads what the spec includes the same way and merges it ({@link SpecMerge}).
 * Every problem is a located diagnostic; nothing here throws for bad input.
 */
public final class SpecLoader {

    /** The largest spec file read: far above any real spec, far below what hurts. */
    public static final int MAX_BYTES = SpecSources.MAX_BYTES;

    /** The bounds of the YAML read (docs/spec.md, "Limits"); the node bound holds for a spec and all it includes together. */
    static final YamlComposer.Limits LIMITS = new YamlComposer.Limits(64, 100, 50_000);

    private final Variables variables;

    /** Variables from the process environment. */
    public SpecLoader() {
        this(Variables.of(System.getenv()));
    }

    public SpecLoader(Variables variables) {
        this.variables = variables;
    }

    public Variables variables() {
        return variables;
    }

    public LoadedSpec load(Path file) {
        return load(new FileSpecSource(file));
    }

    /** A spec from a file or a git revision, with everything it includes (from the same revision). */
    public LoadedSpec load(SpecSource source) {
        return new Composition(variables, LIMITS).load(source);
    }

    /** A spec given as text, standing for {@code file} (what it includes is read next to {@code file}). */
    public LoadedSpec parse(Path file, String display, String text) {
        return load(new TextSource(file, display, text));
    }

    /** A text standing for a file (tests, plugin harness). */
    private record TextSource(Path file, String displayName, String text) implements SpecSource {
        @Override public Path workingFile() { return file; }
        @Override public byte[] read() { return text.getBytes(StandardCharsets.UTF_8); }
        @Override public SpecSource resolveSibling(String relativePath) { return new FileSpecSource(file).resolveSibling(relativePath); }
    }

    /** One file's bytes as a tree, or null (with the reason in {@code diagnostics}). */
    static YamlSpecNode parseOne(byte[] bytes, String display, List<Diagnostic> diagnostics, Interpolation interpolation,
                                 YamlSpecNode.NodeBudget budget) {
        Optional<String> decoded = SpecText.decode(bytes, display, diagnostics);
        if (decoded.isEmpty()) return null;
        String text = decoded.get();
        if (text.isBlank()) {
            diagnostics.add(Diagnostic.error("spec.empty", "the spec is empty", "", new Location(display, 1, 1),
                    "start from examples/hello.yaml"));
            return null;
        }
        LoaderOptions options = new LoaderOptions();
        options.setCodePointLimit(MAX_BYTES);
        options.setProcessComments(false);
        options.setAllowRecursiveKeys(false);
        options.setNestingDepthLimit(LIMITS.nestingDepth());
        options.setMaxAliasesForCollections(LIMITS.aliases());
        try {
            YamlComposer composer = new YamlComposer(new ParserImpl(new StreamReader(text), options), display, LIMITS, diagnostics,
                    interpolation, budget);
            YamlSpecNode root = composer.document();
            if (root == null) {
                // only comments or a bare '---': no document at all, which is not a valid (empty) spec
                diagnostics.add(Diagnostic.error("spec.empty", "the spec is empty (it holds no YAML document, only comments)", "",
                        new Location(display, 1, 1), "start from examples/hello.yaml"));
            }
            return root;
        } catch (YamlComposer.Stop stop) {
            diagnostics.add(stop.diagnostic());
        } catch (MarkedYAMLException e) {
            diagnostics.add(syntaxError(e, display));
        } catch (ReaderException e) {
            int[] lc = SpecText.lineColumn(text, Math.min(text.length(), text.offsetByCodePoints(0, Math.min(e.getPosition(),
                    text.codePointCount(0, text.length())))));
            diagnostics.add(Diagnostic.error("spec.control-character", String.format("the character U+%04X is not allowed in YAML",
                    e.getCodePoint()), "", new Location(display, lc[0], lc[1]), "remove it"));
        } catch (YAMLException e) {
            diagnostics.add(Diagnostic.error("spec.syntax", "YAML error: " + e.getMessage(), "", new Location(display, 1, 1), null));
        } catch (StackOverflowError e) {
            // never expected (nesting is bounded), but a user must never see one
            diagnostics.add(Diagnostic.error("spec.too-deep", "the spec is nested too deeply to read", "", new Location(display, 1, 1), null));
        }
        return null;
    }

    /**
     * SnakeYAML's problem mark is where the error is (an unclosed '[' is found at the next key, a tab
     * where it is); the context mark says where the construct that failed starts.
     */
    private static Diagnostic syntaxError(MarkedYAMLException marked, String display) {
        Mark problem = marked.getProblemMark() != null ? marked.getProblemMark() : marked.getContextMark();
        Mark context = marked.getContextMark();
        String message = String.valueOf(marked.getProblem()).strip();
        if (marked.getContext() != null) {
            message += " (" + marked.getContext().strip() + (context != null && problem != null
                    && (context.getLine() != problem.getLine() || context.getColumn() != problem.getColumn())
                    ? " that starts at line " + (context.getLine() + 1) + ", column " + (context.getColumn() + 1) : "") + ")";
        }
        Location at = problem == null ? new Location(display, 1, 1) : new Location(display, problem.getLine() + 1, problem.getColumn() + 1);
        return Diagnostic.error("spec.syntax", "YAML syntax error: " + message, "", at,
                "fix the YAML at this position (indentation, quotes, a missing ':' or closing bracket)");
    }

}
