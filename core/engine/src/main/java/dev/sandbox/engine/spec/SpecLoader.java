package dev.sandbox.engine.spec;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.engine.runtime.Errno;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
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
 * Reads a spec into a {@link YamlSpecNode} tree that keeps every node's 1-based line and column.
 *
 * <p>The file is checked before it is read (a regular file of at most {@link #MAX_BYTES}: a FIFO, a
 * device or a directory fails at once), decoded as strict UTF-8 ({@link SpecText}), scanned and parsed
 * by SnakeYAML and assembled by {@link YamlComposer} (anchors, aliases, {@code <<} merges, every
 * duplicate key, bounded depth and size). Every problem is a located diagnostic; nothing here throws
 * for bad input.
 */
public final class SpecLoader {

    /** The largest spec file read: far above any real spec, far below what hurts. */
    public static final int MAX_BYTES = 1024 * 1024;

    /** The bounds of the YAML read (docs/spec.md, "Limits"). */
    static final YamlComposer.Limits LIMITS = new YamlComposer.Limits(64, 100, 50_000);

    public LoadedSpec load(Path file) {
        String display = file.toString();
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            if (Files.isSymbolicLink(file)) {
                return failed(file, display, "spec.not-found", display + " is a symbolic link to a file that does not exist (ENOENT)",
                        "fix the link: ls -l " + display);
            }
            return failed(file, display, "spec.not-found", "no such file: " + display, "check the path");
        } catch (IOException e) {
            return unreadable(file, display, e);
        }
        if (!attributes.isRegularFile()) {
            String type = fileType(file, attributes);
            return failed(file, display, "spec.not-regular", display + " is " + type + ", not a regular file",
                    "give the path of a spec file (YAML); it is read whole, so it must be a regular file");
        }
        if (attributes.size() > MAX_BYTES) return tooLarge(file, display, attributes.size());
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            // bounded even if the file grew since the check
            bytes = in.readNBytes(MAX_BYTES + 1);
        } catch (IOException e) {
            return unreadable(file, display, e);
        }
        if (bytes.length > MAX_BYTES) return tooLarge(file, display, bytes.length);
        List<Diagnostic> problem = new ArrayList<>();
        Optional<String> text = SpecText.decode(bytes, display, problem);
        if (text.isEmpty()) return new LoadedSpec(file, display, null, problem);
        return parse(file, display, text.get());
    }

    private static String fileType(Path file, BasicFileAttributes attributes) {
        if (attributes.isDirectory()) return "a directory (EISDIR)";
        try {
            int mode = (Integer) Files.getAttribute(file, "unix:mode");
            return switch (mode & 0170000) {
                case 0010000 -> "a FIFO (named pipe)";
                case 0020000 -> "a character device";
                case 0060000 -> "a block device";
                case 0140000 -> "a socket";
                default -> "not a regular file";
            };
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
            return "a special file";
        }
    }

    private static LoadedSpec tooLarge(Path file, String display, long size) {
        return failed(file, display, "spec.too-large", display + " is " + size + " bytes; a spec may be at most " + MAX_BYTES + " bytes (1 MiB)",
                "a spec is a few kilobytes; check that this is the right file");
    }

    private static LoadedSpec unreadable(Path file, String display, IOException e) {
        String errno = Errno.name(e);
        String hint = switch (errno) {
            case "EACCES" -> "the file or a directory on its path is not readable by you (ls -l " + display + ")";
            case "ELOOP" -> "a symbolic link on the path points back to itself (ls -l " + display + ")";
            case "EISDIR" -> "give the path of a spec file, not of a directory";
            default -> null;
        };
        return failed(file, display, "spec.unreadable", "cannot read " + display + ": " + errno, hint);
    }

    public LoadedSpec parse(Path file, String display, String text) {
        List<Diagnostic> diagnostics = new ArrayList<>();
        if (text.isBlank()) {
            diagnostics.add(Diagnostic.error("spec.empty", "the spec is empty", "", new Location(display, 1, 1),
                    "start from examples/hello.yaml"));
            return new LoadedSpec(file, display, null, diagnostics);
        }
        LoaderOptions options = new LoaderOptions();
        options.setCodePointLimit(MAX_BYTES);
        options.setProcessComments(false);
        options.setAllowRecursiveKeys(false);
        options.setNestingDepthLimit(LIMITS.nestingDepth());
        options.setMaxAliasesForCollections(LIMITS.aliases());
        try {
            YamlComposer composer = new YamlComposer(new ParserImpl(new StreamReader(text), options), display, LIMITS, diagnostics);
            YamlSpecNode root = composer.document();
            if (root == null) {
                // only comments or a bare '---': no document at all, which is not a valid (empty) spec
                diagnostics.add(Diagnostic.error("spec.empty", "the spec is empty (it holds no YAML document, only comments)", "",
                        new Location(display, 1, 1), "start from examples/hello.yaml"));
                return new LoadedSpec(file, display, null, diagnostics);
            }
            return new LoadedSpec(file, display, root, diagnostics);
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
        return new LoadedSpec(file, display, null, diagnostics);
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

    private static LoadedSpec failed(Path file, String display, String code, String message, String hint) {
        return new LoadedSpec(file, display, null, List.of(Diagnostic.error(code, message, "", new Location(display, 1, 1), hint)));
    }
}
