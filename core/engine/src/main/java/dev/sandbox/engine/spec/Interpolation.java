package dev.sandbox.engine.spec;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * {@code ${VAR}} in a string value, with compose's meanings: {@code ${VAR:-default}} (unset or empty),
 * {@code ${VAR-default}} (unset), {@code ${VAR:?message}} (an error when unset or empty),
 * {@code ${VAR?message}} (an error when unset). A default may itself hold {@code ${...}}.
 *
 * <p>Only the braced form is special, because specs hold shell commands: a bare {@code $} stays as
 * written ({@code $$}, {@code $1}, {@code $(hostname)}, {@code $HOME}), and {@code $${} writes a literal
 * {@code ${}. An unset variable without a default is an error located at the value.
 */
final class Interpolation {

    /** How deep defaults may nest ({@code ${A:-${B:-...}}}): any input is bounded. */
    static final int MAX_NESTING = 8;

    /** The text after substitution, and whether the whole value was exactly one {@code ${...}} (then YAML types it). */
    record Result(String text, boolean whole) {}

    private final Function<String, Optional<String>> lookup;
    private final List<Diagnostic> diagnostics;

    Interpolation(Function<String, Optional<String>> lookup, List<Diagnostic> diagnostics) {
        this.lookup = lookup;
        this.diagnostics = diagnostics;
    }

    /** Substitutes {@code value}; problems become diagnostics at {@code at} (the value is then returned as written). */
    Result apply(String value, String path, Location at) {
        if (value.indexOf('$') < 0) return new Result(value, false);
        try {
            StringBuilder out = new StringBuilder(value.length());
            int end = expand(value, 0, value.length(), out, 0);
            boolean whole = value.startsWith("${") && end == value.length() && closingOfFirst(value) == value.length() - 1;
            return new Result(out.toString(), whole);
        } catch (Problem p) {
            diagnostics.add(Diagnostic.error(p.code, p.getMessage(), path, at, p.hint));
            return new Result(value, false);
        }
    }

    private static final class Problem extends RuntimeException {
        final String code;
        final String hint;

        Problem(String code, String message, String hint) {
            super(message, null, false, false);
            this.code = code;
            this.hint = hint;
        }
    }

    private static int closingOfFirst(String value) {
        try {
            return closing(value, 2, value.length());
        } catch (Problem p) {
            return -1;
        }
    }

    /** Expands {@code text[from, to)} into {@code out}; returns {@code to}. */
    private int expand(String text, int from, int to, StringBuilder out, int depth) {
        int i = from;
        while (i < to) {
            char c = text.charAt(i);
            if (c != '$') {
                out.append(c);
                i++;
            } else if (text.startsWith("$${", i) && i + 3 <= to) {
                out.append("${");
                i += 3;
            } else if (text.startsWith("${", i) && i + 2 <= to) {
                int close = closing(text, i + 2, to);
                out.append(expression(text, i + 2, close, depth));
                i = close + 1;
            } else {
                out.append(c);
                i++;
            }
        }
        return to;
    }

    /** The index of the '}' that closes an expression whose body starts at {@code from} (nested ${...} counted). */
    private static int closing(String text, int from, int to) {
        int nested = 0;
        for (int i = from; i < to; i++) {
            char c = text.charAt(i);
            if (c == '$' && i + 1 < to && text.charAt(i + 1) == '{') {
                nested++;
                i++;
            } else if (c == '}') {
                if (nested == 0) return i;
                nested--;
            }
        }
        throw new Problem("spec.bad-variable", "'${' is not closed by '}' in '" + SpecText.shorten(text) + "'",
                "write ${NAME}, or $${ for a literal '${'");
    }

    private String expression(String text, int from, int close, int depth) {
        if (depth >= MAX_NESTING) {
            throw new Problem("spec.bad-variable", "variables nested more than " + MAX_NESTING + " levels deep", "use fewer nested defaults");
        }
        int i = from;
        if (i < close && (Character.isLetter(text.charAt(i)) || text.charAt(i) == '_')) {
            i++;
            while (i < close && (Character.isLetterOrDigit(text.charAt(i)) || text.charAt(i) == '_')) i++;
        }
        String name = text.substring(from, i);
        boolean nameOk = !name.isEmpty() && name.chars().allMatch(ch -> ch < 128);
        String rest = text.substring(i, close);
        if (!nameOk || !(rest.isEmpty() || rest.startsWith(":-") || rest.startsWith("-") || rest.startsWith(":?") || rest.startsWith("?"))) {
            throw new Problem("spec.bad-variable", "'${" + SpecText.shorten(text.substring(from, close)) + "}' is not a variable"
                    + " (${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message} or ${NAME?message})",
                    "a name is letters, digits and '_'; for a literal '${' (e.g. a shell's ${...}) write $${");
        }
        Optional<String> value = lookup.apply(name);
        if (rest.isEmpty()) {
            if (value.isEmpty()) {
                throw new Problem("spec.unset-variable", "the variable " + name + " is not set",
                        "set it in the environment or an --env-file, or give a default: ${" + name + ":-value}");
            }
            return value.get();
        }
        boolean colon = rest.charAt(0) == ':';
        char op = rest.charAt(colon ? 1 : 0);
        int argFrom = from + name.length() + (colon ? 2 : 1);
        boolean missing = value.isEmpty() || (colon && value.get().isEmpty());
        if (op == '-') {
            if (!missing) return value.get();
            StringBuilder def = new StringBuilder();
            expand(text, argFrom, close, def, depth + 1);
            return def.toString();
        }
        if (!missing) return value.get();
        StringBuilder message = new StringBuilder();
        expand(text, argFrom, close, message, depth + 1);
        String said = message.toString().isEmpty() ? "" : ": " + message;
        throw new Problem("spec.required-variable", "the variable " + name + " is " + (value.isEmpty() ? "not set" : "empty") + said,
                "set " + name + " in the environment or an --env-file");
    }
}
