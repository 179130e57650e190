package dev.sandbox.api;

import java.util.Comparator;
import java.util.List;

/**
 * One problem found in a spec: severity, a stable code such as {@code uts.hostname-too-long},
 * a message, the spec path ({@code namespaces.uts.hostname}), where it is, and how to fix it.
 * Bad input is always reported as a diagnostic, never as an exception.
 *
 * @param includedFrom when the location is in a file that another one includes: the include entries
 *                     that brought it in, innermost first (empty otherwise)
 */
public record Diagnostic(Severity severity, String code, String message, String path, Location location, String hint,
                         List<Location> includedFrom) {

    public static final Comparator<Diagnostic> BY_LOCATION = Comparator
            .comparing(Diagnostic::location)
            .thenComparing(Diagnostic::code)
            .thenComparing(Diagnostic::message);

    public Diagnostic {
        includedFrom = includedFrom == null ? List.of() : List.copyOf(includedFrom);
    }

    public Diagnostic(Severity severity, String code, String message, String path, Location location, String hint) {
        this(severity, code, message, path, location, hint, List.of());
    }

    public static Diagnostic error(String code, String message, String path, Location location, String hint) {
        return new Diagnostic(Severity.ERROR, code, message, path, location, hint);
    }

    public static Diagnostic warning(String code, String message, String path, Location location, String hint) {
        return new Diagnostic(Severity.WARNING, code, message, path, location, hint);
    }

    /** This diagnostic with the chain of includes that brought its file in. */
    public Diagnostic withIncludedFrom(List<Location> chain) {
        return new Diagnostic(severity, code, message, path, location, hint, chain);
    }

    public boolean isError() {
        return severity == Severity.ERROR;
    }

    /**
     * {@code web.yaml:12:5: error[mount.relative-target]: target must be absolute}, then one
     * {@code   included from web.yaml:3:5} line per include that brought the file in, and the hint on its own line.
     */
    public String format() {
        StringBuilder out = new StringBuilder();
        out.append(location).append(": ").append(severity.label()).append('[').append(code).append("]: ").append(message);
        if (path != null && !path.isEmpty()) out.append(" (at ").append(path).append(')');
        for (Location from : includedFrom) out.append("\n  included from ").append(from);
        if (hint != null && !hint.isEmpty()) out.append("\n  hint: ").append(hint);
        return out.toString();
    }
}
