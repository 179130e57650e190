package dev.sandbox.engine.spec;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.api.SpecNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * Reads a spec with Jackson's YAML parser (SnakeYAML underneath) into a {@link SpecNode} tree that
 * keeps every node's 1-based line and column. Duplicate keys are reported (all of them), not
 * silently merged; a YAML syntax error becomes one located diagnostic.
 */
public final class SpecLoader {

    private static final YAMLFactory YAML = YAMLFactory.builder().build();

    public LoadedSpec load(Path file) {
        String display = file.toString();
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            return failed(file, display, "spec.not-found", "no such file: " + display, "check the path");
        } catch (IOException e) {
            return failed(file, display, "spec.unreadable", "cannot read " + display + ": " + e.getMessage(), null);
        }
        return parse(file, display, text);
    }

    public LoadedSpec parse(Path file, String display, String text) {
        List<Diagnostic> diagnostics = new ArrayList<>();
        if (text.isBlank()) {
            diagnostics.add(Diagnostic.error("spec.empty", "the spec is empty", "", new Location(display, 1, 1),
                    "start from examples/hello.yaml"));
            return new LoadedSpec(file, display, null, diagnostics);
        }
        try (JsonParser parser = YAML.createParser(text)) {
            JsonToken first = parser.nextToken();
            if (first == null) {
                // only comments or a bare '---': no document at all, which is not a valid (empty) spec
                diagnostics.add(Diagnostic.error("spec.empty", "the spec is empty (it holds no YAML document, only comments)", "",
                        new Location(display, 1, 1), "start from examples/hello.yaml"));
                return new LoadedSpec(file, display, null, diagnostics);
            }
            SpecNode root = read(parser, "", display, diagnostics);
            if (parser.nextToken() != null) {
                diagnostics.add(Diagnostic.error("spec.multiple-documents", "the file holds more than one YAML document",
                        "", location(parser.currentTokenLocation(), display), "keep one sandbox per file"));
            }
            return new LoadedSpec(file, display, root, diagnostics);
        } catch (JsonProcessingException e) {
            diagnostics.add(syntaxError(e, display));
            return new LoadedSpec(file, display, null, diagnostics);
        } catch (IOException e) {
            diagnostics.add(Diagnostic.error("spec.unreadable", e.getMessage(), "", new Location(display, 1, 1), null));
            return new LoadedSpec(file, display, null, diagnostics);
        }
    }

    /**
     * SnakeYAML's problem mark is where the error is (an unclosed '[' is found at the next key, a tab
     * where it is); Jackson's own location is only the end of the last token it read, often a line earlier.
     */
    private static Diagnostic syntaxError(JsonProcessingException e, String display) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof org.yaml.snakeyaml.error.MarkedYAMLException marked && marked.getProblemMark() != null) {
                org.yaml.snakeyaml.error.Mark problem = marked.getProblemMark();
                org.yaml.snakeyaml.error.Mark context = marked.getContextMark();
                String message = String.valueOf(marked.getProblem()).strip();
                if (marked.getContext() != null) {
                    message += " (" + marked.getContext().strip() + (context != null && (context.getLine() != problem.getLine() || context.getColumn() != problem.getColumn())
                            ? " that starts at line " + (context.getLine() + 1) + ", column " + (context.getColumn() + 1) : "") + ")";
                }
                return Diagnostic.error("spec.syntax", "YAML syntax error: " + message, "",
                        new Location(display, problem.getLine() + 1, problem.getColumn() + 1),
                        "fix the YAML at this position (indentation, quotes, a missing ':' or closing bracket)");
            }
        }
        JsonLocation where = e.getLocation();
        Location at = where == null ? new Location(display, 1, 1) : location(where, display);
        return Diagnostic.error("spec.syntax", "YAML syntax error: " + e.getOriginalMessage().strip(), "", at,
                "fix the YAML at this position (indentation, quotes, a missing ':')");
    }

    private static LoadedSpec failed(Path file, String display, String code, String message, String hint) {
        return new LoadedSpec(file, display, null,
                List.of(Diagnostic.error(code, message, "", new Location(display, 0, 0), hint)));
    }

    /** Reads the value at the parser's current token. */
    private SpecNode read(JsonParser parser, String path, String display, List<Diagnostic> diagnostics) throws IOException {
        Location at = location(parser.currentTokenLocation(), display);
        JsonToken token = parser.currentToken();
        switch (token) {
            case START_OBJECT -> {
                LinkedHashMap<String, SpecNode> fields = new LinkedHashMap<>();
                java.util.Map<String, Location> keyLocations = new java.util.HashMap<>();
                while (parser.nextToken() == JsonToken.FIELD_NAME) {
                    String key = parser.currentName();
                    Location keyAt = location(parser.currentTokenLocation(), display);
                    parser.nextToken();
                    String childPath = YamlSpecNode.child(path, key);
                    SpecNode value = read(parser, childPath, display, diagnostics);
                    if (fields.containsKey(key)) {
                        diagnostics.add(Diagnostic.error("spec.duplicate-key", "duplicate key '" + key + "'", childPath, keyAt,
                                "first defined at line " + fields.get(key).location().line() + "; remove one of them"));
                    } else {
                        fields.put(key, value);
                        keyLocations.put(key, keyAt);
                    }
                }
                return YamlSpecNode.map(path, at, fields, keyLocations);
            }
            case START_ARRAY -> {
                List<SpecNode> elements = new ArrayList<>();
                while (parser.nextToken() != JsonToken.END_ARRAY) {
                    elements.add(read(parser, path + "[" + elements.size() + "]", display, diagnostics));
                }
                return YamlSpecNode.list(path, at, elements);
            }
            case VALUE_STRING -> {
                return YamlSpecNode.scalar(SpecNode.Kind.STRING, path, at, parser.getText());
            }
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> {
                return YamlSpecNode.scalar(SpecNode.Kind.NUMBER, path, at, parser.getText());
            }
            case VALUE_TRUE, VALUE_FALSE -> {
                return YamlSpecNode.scalar(SpecNode.Kind.BOOLEAN, path, at, parser.getText());
            }
            case VALUE_NULL -> {
                return YamlSpecNode.scalar(SpecNode.Kind.NULL, path, at, "");
            }
            default -> {
                return YamlSpecNode.scalar(SpecNode.Kind.STRING, path, at, parser.getText());
            }
        }
    }

    static Location location(JsonLocation where, String display) {
        // Jackson's YAML locations are 1-based for lines and columns already.
        return new Location(display, Math.max(1, where.getLineNr()), Math.max(1, where.getColumnNr()));
    }
}
