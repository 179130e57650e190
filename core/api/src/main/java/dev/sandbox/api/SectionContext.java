package dev.sandbox.api;

/** Given to {@link NamespacePlugin#validate}: report problems here. */
public interface SectionContext extends SpecContext {

    void report(Diagnostic diagnostic);

    default void error(SpecNode at, String code, String message, String hint) {
        report(Diagnostic.error(code, message, at.path(), at.location(), hint));
    }

    default void warning(SpecNode at, String code, String message, String hint) {
        report(Diagnostic.warning(code, message, at.path(), at.location(), hint));
    }
}
