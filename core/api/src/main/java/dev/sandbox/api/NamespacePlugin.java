package dev.sandbox.api;

import java.util.Set;
import org.pf4j.ExtensionPoint;

/**
 * A plugin owns one section {@code namespaces.<id>} of the spec: its JSON-schema fragment, its
 * validation and the plan steps it contributes. The eight built-in namespace types are plugins of
 * exactly this interface; a third-party plugin adds a new section the same way.
 *
 * <p>Bad input is reported through the context as diagnostics, never thrown.
 */
public interface NamespacePlugin extends ExtensionPoint {

    /** The section key under {@code namespaces:}, e.g. {@code uts}; also the plugin's id in the pipeline. */
    String id();

    /** Ids of plugins whose steps must come before this plugin's (within each stage). Unknown ids are errors. */
    default Set<String> after() {
        return Set.of();
    }

    /**
     * The JSON schema (draft 2020-12) of this section as JSON text. The engine composes it into
     * {@code namespaces.<id>} and adds the common {@code join} property.
     */
    String schemaFragment();

    /** Semantic checks of the section beyond the schema. Called only when the section is present and not a join. */
    void validate(SectionContext context);

    /** Adds this section's steps. Called only when the whole spec validated without errors. */
    void contribute(PlanContext context);
}
