package dev.sandbox.api;

import java.nio.file.Path;

/** Given to {@link NamespacePlugin#contribute}: add steps here. */
public interface PlanContext extends SpecContext {

    /** The sandbox's private runtime directory (0700), e.g. {@code /run/sandbox/<name>}. */
    Path runtimeDir();

    /** Where the new root is assembled before pivot_root: {@code <runtimeDir>/root}. */
    default Path newRoot() {
        return runtimeDir().resolve("root");
    }

    void add(Step step);
}
