package dev.sandbox.plugins.mount;

import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;

/** A section with no keys and no steps, so tests can say {@code pid: {}} without the pid plugin. */
record StubNamespace(String id) implements NamespacePlugin {

    @Override
    public String schemaFragment() {
        return "{\"type\": \"object\", \"additionalProperties\": false, \"properties\": {}}";
    }

    @Override
    public void validate(SectionContext context) {}

    @Override
    public void contribute(PlanContext context) {}
}
