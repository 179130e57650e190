package dev.sandbox.engine.spec;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * An {@code --env-file}: docker compose's .env format. {@code KEY=VALUE} lines (an optional
 * {@code export } before the key), blank lines and lines starting with {@code #} ignored; a value may be
 * unquoted (trimmed; a {@code #} after a space starts a comment), double-quoted ({@code \n}, {@code \t},
 * {@code \r}, {@code \\}, {@code \"} escapes) or single-quoted (literal; {@code \'} for a quote).
 * Unquoted and double-quoted values may use {@code ${VAR}} like a spec (the environment, then what was
 * set above); single-quoted ones are taken literally.
 */
final class EnvFile {

    private EnvFile() {}

    static Map<String, String> parse(byte[] bytes, String display, Function<String, Optional<String>> earlier, List<Diagnostic> problems) {
        Map<String, String> out = new LinkedHashMap<>();
        List<Diagnostic> textProblem = new ArrayList<>();
        Optional<String> decoded = SpecText.decode(bytes, display, textProblem);
        if (decoded.isEmpty()) {
            textProblem.forEach(d -> problems.add(new Diagnostic(d.severity(), d.code().replace("spec.", "env-file."), d.message(), "",
                    d.location(), d.hint())));
            return out;
        }
        Function<String, Optional<String>> lookup = name -> {
            Optional<String> v = earlier.apply(name);
            return v.isPresent() ? v : Optional.ofNullable(out.get(name));
        };
        String[] lines = decoded.get().split("\r?\n", -1);
        for (int n = 0; n < lines.length; n++) {
            String line = lines[n].strip();
            Location at = new Location(display, n + 1, 1);
            if (line.isEmpty() || line.startsWith("#")) continue;
            if (line.startsWith("export ")) line = line.substring("export ".length()).stripLeading();
            int eq = line.indexOf('=');
            String key = eq < 0 ? line : line.substring(0, eq).strip();
            if (eq < 0 || !key.matches("[A-Za-z_][A-Za-z0-9_]*")) {
                problems.add(Diagnostic.error("env-file.syntax", eq < 0 ? "expected KEY=VALUE, found '" + SpecText.shorten(line) + "'"
                                : "'" + SpecText.shorten(key) + "' is not a variable name", "", at,
                        "each line is KEY=VALUE (letters, digits and '_' in KEY), a comment starting with '#', or blank"));
                continue;
            }
            String raw = line.substring(eq + 1).strip();
            String value;
            try {
                if (raw.startsWith("\"")) {
                    value = interpolate(quoted(raw, '"'), lookup, at, problems);
                } else if (raw.startsWith("'")) {
                    value = quoted(raw, '\'');
                } else {
                    int comment = raw.indexOf(" #");
                    if (comment < 0) comment = raw.indexOf("\t#");
                    value = interpolate((comment < 0 ? raw : raw.substring(0, comment)).strip(), lookup, at, problems);
                }
            } catch (IllegalArgumentException e) {
                problems.add(Diagnostic.error("env-file.syntax", e.getMessage(), "", at, "close the quote on the same line"));
                continue;
            }
            out.put(key, value);
        }
        return out;
    }

    private static String interpolate(String value, Function<String, Optional<String>> lookup, Location at, List<Diagnostic> problems) {
        return new Interpolation(lookup, problems).apply(value, "", at).text();
    }

    /** The value between the opening quote and its closing one; after it only blanks or a comment. */
    private static String quoted(String raw, char quote) {
        StringBuilder out = new StringBuilder();
        for (int i = 1; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c == '\\' && i + 1 < raw.length()) {
                char e = raw.charAt(i + 1);
                if (quote == '\'') {
                    if (e == '\'') {
                        out.append('\'');
                        i++;
                        continue;
                    }
                    out.append(c);
                    continue;
                }
                switch (e) {
                    case 'n' -> out.append('\n');
                    case 't' -> out.append('\t');
                    case 'r' -> out.append('\r');
                    case '\\' -> out.append('\\');
                    case '"' -> out.append('"');
                    default -> out.append(c).append(e);
                }
                i++;
            } else if (c == quote) {
                String after = raw.substring(i + 1).strip();
                if (!after.isEmpty() && !after.startsWith("#")) {
                    throw new IllegalArgumentException("unexpected '" + SpecText.shorten(after) + "' after the closing quote");
                }
                return out.toString();
            } else {
                out.append(c);
            }
        }
        throw new IllegalArgumentException("the quote " + quote + " is not closed");
    }
}
