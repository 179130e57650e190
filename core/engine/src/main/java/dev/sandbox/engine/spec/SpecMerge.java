package dev.sandbox.engine.spec;

import dev.sandbox.api.Location;
import dev.sandbox.api.SpecNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The one merge rule of spec composition: what {@code include} does with the files it names (each
 * included file is a base, the including file is merged over them), and what a lab's {@code defaults}
 * will do with each sandbox. docs/spec.md ("Composition") shows each case.
 * <ul>
 * <li>maps merge key by key ({@code process.env} too); on a scalar, the overriding file wins;</li>
 * <li>lists append, the base's elements first ({@code mounts}, {@code masks}, {@code readonlyPaths},
 *     {@code links}, {@code capabilities}, ...); a scalar already in the base's list is not added twice;</li>
 * <li>{@code process.command} replaces: an argv is one value, not a set;</li>
 * <li>a namespace section ({@code namespaces.TYPE}) that says {@code join} in either file replaces the
 *     other's section whole (a merged {@code join} plus options would be an error);</li>
 * <li>values of different kinds (a map over a list): the overriding value replaces;</li>
 * <li>compose's tags on the overriding value: {@code !reset} clears it (the key is removed; {@code !reset []}
 *     and {@code !reset {}} leave an empty list or map), {@code !override} replaces instead of merging.</li>
 * </ul>
 * Paths given to the rules are relative to a sandbox spec's top ({@code process.command}), whatever
 * the nodes' own paths are. Every value keeps where it is written, so diagnostics name its file and line.
 */
public final class SpecMerge {

    /** compose's tag that clears a value. */
    public static final String RESET = "!reset";
    /** compose's tag that replaces a value instead of merging it. */
    public static final String OVERRIDE = "!override";

    private static final Pattern NAMESPACE_SECTION = Pattern.compile("namespaces\\.[^.\\[]+");
    private static final List<String> REPLACED = List.of("process.command");

    private SpecMerge() {}

    /** {@code override} merged over {@code base} (either may be null: then the other); tags still on the result until {@link #finish}. */
    public static SpecNode merge(SpecNode base, SpecNode override) {
        return merge((YamlSpecNode) base, (YamlSpecNode) override, "");
    }

    /**
     * The tree as a spec: what {@code !reset} still marks is cleared, compose's tags are dropped, and every node
     * carries its path in the merged tree (list indexes shift when lists append).
     */
    public static SpecNode finish(SpecNode root) {
        return finish((YamlSpecNode) root, "");
    }

    /** A map without one of its keys (a lab node's {@code spec:}, docs/labs.md); anything else as it is. */
    public static SpecNode without(SpecNode map, String key) {
        YamlSpecNode node = (YamlSpecNode) map;
        if (node == null || node.kind() != SpecNode.Kind.MAP || !node.fields().containsKey(key)) return node;
        LinkedHashMap<String, SpecNode> fields = new LinkedHashMap<>(node.fields());
        fields.remove(key);
        Map<String, Location> keys = new HashMap<>(node.keyLocations());
        keys.remove(key);
        return node.rebuilt(node.path(), fields, keys, List.of(), node.tag());
    }

    /** A map with {@code key} set to {@code value} (a spec assembled from parts: a lab node's host links, docs/labs.md). */
    public static SpecNode with(SpecNode map, String key, SpecNode value) {
        YamlSpecNode node = (YamlSpecNode) map;
        LinkedHashMap<String, SpecNode> fields = new LinkedHashMap<>(node.fields());
        fields.put(key, value);
        Map<String, Location> keys = new HashMap<>(node.keyLocations());
        keys.putIfAbsent(key, value.location());
        return node.rebuilt(node.path(), fields, keys, List.of(), node.tag());
    }

    static YamlSpecNode merge(YamlSpecNode base, YamlSpecNode over, String path) {
        if (over == null) return base;
        if (base == null || OVERRIDE.equals(over.tag())) return over;
        if (RESET.equals(over.tag())) return over; // cleared by finish
        if (base.kind() == SpecNode.Kind.MAP && over.kind() == SpecNode.Kind.MAP) {
            if (NAMESPACE_SECTION.matcher(path).matches() && (base.fields().containsKey("join") || over.fields().containsKey("join"))) {
                return over;
            }
            LinkedHashMap<String, SpecNode> fields = new LinkedHashMap<>(base.fields());
            Map<String, Location> keys = new HashMap<>(base.keyLocations());
            for (Map.Entry<String, SpecNode> e : over.fields().entrySet()) {
                String key = e.getKey();
                fields.put(key, merge((YamlSpecNode) base.fields().get(key), (YamlSpecNode) e.getValue(), YamlSpecNode.child(path, key)));
                keys.put(key, over.keyLocation(key));
            }
            return over.rebuilt(over.path(), fields, keys, List.of(), over.tag());
        }
        if (base.kind() == SpecNode.Kind.LIST && over.kind() == SpecNode.Kind.LIST && !REPLACED.contains(path)) {
            List<SpecNode> elements = new ArrayList<>(base.elements());
            for (SpecNode e : over.elements()) {
                boolean scalar = e.kind() != SpecNode.Kind.MAP && e.kind() != SpecNode.Kind.LIST;
                boolean present = scalar && base.elements().stream().anyMatch(b -> b.kind() == e.kind() && b.text().equals(e.text()));
                if (!present) elements.add(e);
            }
            return over.rebuilt(over.path(), new LinkedHashMap<>(), Map.of(), elements, over.tag());
        }
        return over;
    }

    /** null when the node is cleared away ({@code !reset} on a scalar or null). */
    static YamlSpecNode finish(YamlSpecNode node, String path) {
        boolean reset = RESET.equals(node.tag());
        // compose's tags are consumed here; YAML's own (!!str) stay, as written
        String tag = reset || OVERRIDE.equals(node.tag()) ? null : node.tag();
        return switch (node.kind()) {
            case MAP -> {
                LinkedHashMap<String, SpecNode> fields = new LinkedHashMap<>();
                Map<String, Location> keys = new HashMap<>();
                if (!reset) {
                    for (Map.Entry<String, SpecNode> e : node.fields().entrySet()) {
                        YamlSpecNode child = finish((YamlSpecNode) e.getValue(), YamlSpecNode.child(path, e.getKey()));
                        if (child == null) continue;
                        fields.put(e.getKey(), child);
                        keys.put(e.getKey(), node.keyLocation(e.getKey()));
                    }
                }
                yield node.rebuilt(path, fields, keys, List.of(), tag);
            }
            case LIST -> {
                List<SpecNode> elements = new ArrayList<>();
                if (!reset) {
                    for (SpecNode e : node.elements()) {
                        YamlSpecNode child = finish((YamlSpecNode) e, path + "[" + elements.size() + "]");
                        if (child != null) elements.add(child);
                    }
                }
                yield node.rebuilt(path, new LinkedHashMap<>(), Map.of(), elements, tag);
            }
            default -> reset ? null : node.rebuilt(path, null, null, null, tag);
        };
    }
}
