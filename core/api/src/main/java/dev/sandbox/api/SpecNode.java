package dev.sandbox.api;

import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A read-only view of one node of the spec with its location, so plugins can validate and compile
 * their section without depending on the YAML library. Scalars keep their YAML kind.
 */
public interface SpecNode {

    enum Kind { MAP, LIST, STRING, NUMBER, BOOLEAN, NULL, MISSING }

    Kind kind();

    /** Dotted spec path, e.g. {@code namespaces.mount.mounts[2].target}. */
    String path();

    Location location();

    /** The child at {@code key}; a node of kind MISSING (located at this node) when absent. */
    SpecNode get(String key);

    /** The elements of a list; empty for any other kind. */
    List<SpecNode> elements();

    /** The fields of a map in document order; empty for any other kind. */
    Map<String, SpecNode> fields();

    /** The scalar as text (numbers and booleans as written); empty for maps, lists and missing nodes. */
    String text();

    /** Where the key {@code key} of this map is written (the value's location when unknown). */
    default Location keyLocation(String key) {
        return get(key).location();
    }

    default boolean isMissing() {
        return kind() == Kind.MISSING;
    }

    default boolean isPresent() {
        return kind() != Kind.MISSING;
    }

    default boolean has(String key) {
        return get(key).isPresent();
    }

    default Optional<String> optText() {
        return isPresent() && kind() != Kind.NULL ? Optional.of(text()) : Optional.empty();
    }

    default String text(String fallback) {
        return optText().orElse(fallback);
    }

    default boolean bool(boolean fallback) {
        return kind() == Kind.BOOLEAN ? Boolean.parseBoolean(text()) : fallback;
    }

    /** The number as a long, or {@code fallback} when this is not an integral number. */
    default long longValue(long fallback) {
        if (kind() != Kind.NUMBER) return fallback;
        try {
            return Long.parseLong(text());
        } catch (NumberFormatException e) {
            return fallback;
        }
    }
}
