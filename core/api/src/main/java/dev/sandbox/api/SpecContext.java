package dev.sandbox.api;

import java.nio.file.Path;

/** What every plugin callback can see: the spec, its own section, who is calling and the host. */
public interface SpecContext {

    /** This plugin's section, {@code namespaces.<id>}. */
    SpecNode section();

    /** The whole spec, for cross-section questions. */
    SpecNode spec();

    /** The directory of the spec file: relative paths in the spec are relative to it. */
    Path specDir();

    String sandboxName();

    Caller caller();

    HostFacts host();

    /** True when {@code namespaces.<type>} is present and not a join: a new namespace is created. */
    boolean creates(String type);

    /** True when {@code namespaces.<type>} is a {@code join}. */
    boolean joins(String type);

    /** Resolves a spec path against {@link #specDir()} ({@code ~} is not expanded). */
    default Path resolve(String path) {
        return specDir().resolve(path).normalize();
    }
}
