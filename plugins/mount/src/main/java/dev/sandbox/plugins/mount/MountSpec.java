package dev.sandbox.plugins.mount;

import dev.sandbox.api.SpecNode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.Function;

/**
 * The bound section {@code namespaces.mount} of a spec that validated: relative host paths are
 * resolved against the spec's directory, targets are normalised, sizes are bytes and modes four
 * octal digits.
 */
record MountSpec(Optional<Root> root, boolean readonlyRoot, Optional<String> rootPropagation,
                 List<Mount> mounts, List<String> masks, List<String> readonlyPaths, boolean systemPathsUnconfined) {

    enum Type {
        BIND, TMPFS, PROC, SYSFS, DEVPTS, MQUEUE, OVERLAY, DEV;

        /** The name in the spec, e.g. {@code tmpfs}. */
        String key() {
            return name().toLowerCase(Locale.ROOT);
        }

        static Optional<Type> of(String key) {
            for (Type t : values()) if (t.key().equals(key)) return Optional.of(t);
            return Optional.empty();
        }
    }

    /** {@code root:}: a tmpfs (with an optional size) or a bind of a host directory. */
    record Root(boolean tmpfs, Optional<Path> source, OptionalLong size) {}

    /** One entry of {@code mounts:}. Keys that do not apply to the type are absent (validation rejects them). */
    record Mount(Type type, String target, Optional<Path> source, boolean readonly, Optional<String> propagation,
                 List<String> options, OptionalLong size, String mode, List<Path> lower, Optional<Path> upper,
                 Optional<Path> work) {

        /** shared or rshared: the bind keeps the host's peer group (see {@link MountPlanner}). */
        boolean sharedBind() {
            return type == Type.BIND && propagation.map(MountSpec::isShared).orElse(false);
        }
    }

    /** The kernel's default mode of a tmpfs root directory, and docker's. */
    static final String DEFAULT_TMPFS_MODE = "1777";

    static boolean isShared(String propagation) {
        return propagation.equals("shared") || propagation.equals("rshared");
    }

    static MountSpec bind(SpecNode section, Function<String, Path> resolve) {
        SpecNode rootNode = section.get("root");
        Optional<Root> root = rootNode.kind() != SpecNode.Kind.MAP ? Optional.empty() : Optional.of(new Root(
                rootNode.get("type").text().equals("tmpfs"),
                rootNode.get("source").optText().map(resolve),
                rootNode.get("size").optText().map(Units::size).orElse(OptionalLong.empty())));
        List<Mount> mounts = new ArrayList<>();
        for (SpecNode m : section.get("mounts").elements()) {
            mounts.add(new Mount(
                    Type.of(m.get("type").text()).orElseThrow(),
                    normalize(m.get("target").text()),
                    m.get("source").optText().map(resolve),
                    m.get("readonly").bool(false),
                    m.get("propagation").optText(),
                    m.get("options").elements().stream().map(SpecNode::text).toList(),
                    m.get("size").optText().map(Units::size).orElse(OptionalLong.empty()),
                    m.get("mode").optText().flatMap(Units::mode).orElse(DEFAULT_TMPFS_MODE),
                    strings(m.get("lower")).stream().map(resolve).toList(),
                    m.get("upper").optText().map(resolve),
                    m.get("work").optText().map(resolve)));
        }
        return new MountSpec(root, section.get("readonlyRoot").bool(false), section.get("rootPropagation").optText(),
                mounts, strings(section.get("masks")).stream().map(MountSpec::normalize).toList(),
                strings(section.get("readonlyPaths")).stream().map(MountSpec::normalize).toList(),
                section.get("systemPaths").optText().map("unconfined"::equals).orElse(false));
    }

    /** A string, or a list of strings. */
    static List<String> strings(SpecNode node) {
        if (node.kind() == SpecNode.Kind.LIST) return node.elements().stream().map(SpecNode::text).toList();
        return node.optText().map(List::of).orElse(List.of());
    }

    /** {@code /usr/./lib/} → {@code /usr/lib}; {@code ..} can not climb above {@code /}. */
    static String normalize(String absolute) {
        return Path.of(absolute).normalize().toString();
    }
}
