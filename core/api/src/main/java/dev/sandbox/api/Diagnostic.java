package dev.sandbox.api;

import java.util.Comparator;

/**
 * One problem found in a spec: severity, a stable code such as {@code uts.hostname-too-long},
 * a message, the spec path ({@code namespaces.uts.hostname}), where it is, and how to fix it.
 * Bad input is always reported as a diagnostic, never as an exception.
 */
public record Diagnostic(Severity severity, String code, String message, String path, Location location, String hint) {

    public static final Comparator<Diagnostic> BY_LOCATION = Comparator
            .comparing(Diagnostic::location)
            .thenComparing(Diagnostic::code)
            .thenComparing(Diagnostic::message);

    public static Diagnostic error(String code, String message, String path, Location location, String hint) {
        return new Diagnostic(Severity.ERROR, code, message, path, location, hint);
    }

    public static Diagnostic warning(String code, String message, String path, Location location, String hint) {
        return new Diagnostic(Severity.WARNING, code, message, path, location, hint);
    }

    public boolean isError() {
        return severity == Severity.ERROR;
    }

    /** {@code web.yaml:12:5: error[mount.relative-target]: target must be absolute} and the hint on its own line. */
    public String format() {
        StringBuilder out = new StringBuilder();
        out.append(location).append(": ").append(severity.label()).append('[').append(code).append("]: ").append(message);
        if (path != null && !path.isEmpty()) out.append(" (at ").append(path).append(')');
        if (hint != null && !hint.isEmpty()) out.append("\n  hint: ").append(hint);
        return out.toString();
    }
}
