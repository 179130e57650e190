package dev.sandbox.engine.plugin;

import dev.sandbox.api.Caller;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.api.NamespacePlugin;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.pf4j.ExtensionFinder;
import org.pf4j.JarPluginManager;
import org.pf4j.LegacyExtensionFinder;
import org.pf4j.PluginManager;
import org.pf4j.PluginState;
import org.pf4j.PluginWrapper;

/**
 * Finds the namespace plugins with PF4J in the plugin directories (distribution, user, --plugins-dir),
 * refuses unsafe directories when running as root, reports broken plugins by id, and orders them.
 */
public final class PluginRegistry {

    /** A loaded plugin: the extension, the PF4J plugin it came from and where that lives. */
    public record Loaded(NamespacePlugin plugin, String pluginId, String version, Path source) {
        public String id() {
            return plugin.id();
        }
    }

    private final List<Loaded> ordered;
    private final List<Diagnostic> problems;

    private PluginRegistry(List<Loaded> ordered, List<Diagnostic> problems) {
        this.ordered = ordered;
        this.problems = problems;
    }

    /** Loads every plugin found in {@code dirs} (missing dirs are skipped). Never throws for a bad plugin. */
    public static PluginRegistry load(List<Path> dirs, Caller caller) {
        return load(dirs, List.of(), caller);
    }

    /**
     * As {@link #load(List, Caller)}; {@code explicit} dirs (from {@code --plugins-dir}) must exist.
     * The sandbox version is PF4J's system version, so a plugin's {@code Plugin-Requires} is honoured.
     */
    public static PluginRegistry load(List<Path> dirs, List<Path> explicit, Caller caller) {
        List<Diagnostic> problems = new ArrayList<>();
        List<Path> usable = new ArrayList<>();
        for (Path dir : dirs) {
            Path abs = dir.toAbsolutePath().normalize();
            if (!Files.isDirectory(abs)) {
                if (explicit.contains(dir)) {
                    problems.add(problem("plugin.dir-missing", "plugin directory " + abs + " does not exist", abs.toString(),
                            "check the path given to --plugins-dir"));
                }
                continue;
            }
            if (caller.isRoot() && !safeForRoot(abs, problems)) continue;
            usable.add(abs);
        }
        List<Loaded> found = new ArrayList<>();
        if (!usable.isEmpty()) {
            PluginManager manager = new Manager(usable.toArray(Path[]::new));
            String version = PluginRegistry.class.getPackage().getImplementationVersion();
            if (version != null) manager.setSystemVersion(version.replace("-SNAPSHOT", ""));
            try {
                manager.loadPlugins();
                manager.startPlugins();
            } catch (RuntimeException e) {
                problems.add(problem("plugin.load-failed", "loading plugins failed: " + e.getMessage(), "", null));
            }
            for (PluginWrapper wrapper : manager.getPlugins()) {
                String pid = wrapper.getPluginId();
                Path source = wrapper.getPluginPath();
                if (wrapper.getPluginState() != PluginState.STARTED) {
                    Throwable why = wrapper.getFailedException();
                    problems.add(problem("plugin.broken", "plugin '" + pid + "' could not be started"
                            + (why != null ? ": " + why : ""), source.toString(), "check the plugin's MANIFEST and dependencies"));
                    continue;
                }
                List<NamespacePlugin> extensions;
                try {
                    extensions = manager.getExtensions(NamespacePlugin.class, pid);
                } catch (RuntimeException | LinkageError e) {
                    problems.add(problem("plugin.broken", "plugin '" + pid + "' failed to create its extension: " + e,
                            source.toString(), "build it against the sandbox-api version of this release"));
                    continue;
                }
                if (extensions.isEmpty()) {
                    problems.add(problem("plugin.no-extension", "plugin '" + pid + "' has no NamespacePlugin extension", source.toString(),
                            "annotate the class with @Extension and keep sandbox-api and pf4j 'provided' so META-INF/extensions.idx is generated"));
                }
                for (NamespacePlugin extension : extensions) {
                    found.add(new Loaded(extension, pid, wrapper.getDescriptor().getVersion(), source));
                }
            }
        }
        List<Loaded> ordered = order(found, problems);
        return new PluginRegistry(ordered, problems);
    }

    /**
     * PF4J's jar plugin manager, finding extensions only through each plugin's own {@code META-INF/extensions.idx}
     * (docs/plugins.md, "Packaging"). PF4J's default finder also asks the application class path for that index (a
     * lookup in each of the ~30 jars of lib/, which hold no plugin) and reads every jar's {@code META-INF/services}: a
     * third of PF4J's share of a cold {@code up} (docs/performance.md), for extensions sandbox never has.
     */
    private static final class Manager extends JarPluginManager {
        Manager(Path... dirs) {
            super(dirs);
        }

        @Override
        protected ExtensionFinder createExtensionFinder() {
            LegacyExtensionFinder finder = new LegacyExtensionFinder(this) {
                @Override
                public Map<String, Set<String>> readClasspathStorages() {
                    return new LinkedHashMap<>();
                }
            };
            addPluginStateListener(finder);
            return finder;
        }
    }

    /** A registry of plugin instances given directly (tests, the testkit), ordered like loaded ones. */
    public static PluginRegistry of(List<NamespacePlugin> instances) {
        List<Diagnostic> problems = new ArrayList<>();
        List<Loaded> found = instances.stream()
                .map(p -> new Loaded(p, p.id(), "test", Path.of("classpath:" + p.getClass().getName()))).toList();
        return new PluginRegistry(order(found, problems), problems);
    }

    /** Plugins in pipeline order. */
    public List<Loaded> plugins() {
        return ordered;
    }

    public List<NamespacePlugin> extensions() {
        return ordered.stream().map(Loaded::plugin).toList();
    }

    /** Problems with plugins themselves (unsafe dir, broken jar, cycle): errors stop every command but {@code plugins}. */
    public List<Diagnostic> problems() {
        return problems;
    }

    static List<Loaded> order(List<Loaded> found, List<Diagnostic> problems) {
        Map<String, Loaded> byId = new LinkedHashMap<>();
        for (Loaded loaded : found) {
            String id = safeId(loaded, problems);
            if (id == null) continue;
            Loaded previous = byId.putIfAbsent(id, loaded);
            if (previous != null) {
                problems.add(problem("plugin.duplicate-id", "two plugins claim the section '" + id + "': " + previous.source()
                        + " and " + loaded.source(), loaded.source().toString(), "remove one of them"));
            }
        }
        Map<String, Set<String>> after = new LinkedHashMap<>();
        for (Map.Entry<String, Loaded> e : byId.entrySet()) {
            Set<String> deps;
            try {
                deps = e.getValue().plugin().after();
            } catch (RuntimeException ex) {
                problems.add(problem("plugin.broken", "plugin '" + e.getKey() + "' failed in after(): " + ex, e.getValue().source().toString(), null));
                deps = Set.of();
            }
            for (String dep : deps) {
                if (!byId.containsKey(dep)) {
                    // a warning: 'after' orders plugins that are present; a missing one constrains nothing
                    problems.add(Diagnostic.warning("plugin.unknown-after", "plugin '" + e.getKey() + "' wants to run after '" + dep
                            + "', which is not installed", "", new Location(e.getValue().source().toString(), 0, 0),
                            "install '" + dep + "' or drop it from after()"));
                }
            }
            after.put(e.getKey(), deps.stream().filter(byId::containsKey).collect(java.util.stream.Collectors.toSet()));
        }
        List<String> sorted = TopologicalOrder.sort(after, problems);
        return sorted.stream().map(byId::get).toList();
    }

    private static String safeId(Loaded loaded, List<Diagnostic> problems) {
        try {
            String id = loaded.plugin().id();
            if (id == null || !id.matches("[a-z][a-z0-9-]{0,31}")) {
                problems.add(problem("plugin.bad-id", "plugin '" + loaded.pluginId() + "' has an invalid section id '" + id + "'",
                        loaded.source().toString(), "use lower-case letters, digits and '-'"));
                return null;
            }
            return id;
        } catch (RuntimeException e) {
            problems.add(problem("plugin.broken", "plugin '" + loaded.pluginId() + "' failed in id(): " + e, loaded.source().toString(), null));
            return null;
        }
    }

    /**
     * As root, loading code from a directory others can write is a privilege escalation: refuse it.
     * The directory, every ancestor (whoever can rename an ancestor can swap the directory) and each
     * jar must be owned by root and not writable by group or others; sticky /tmp-like ancestors excepted.
     */
    private static boolean safeForRoot(Path dir, List<Diagnostic> problems) {
        List<Path> toCheck = new ArrayList<>();
        for (Path p = dir.getParent(); p != null; p = p.getParent()) {
            if (!stickyRootDir(p)) toCheck.add(p);
        }
        toCheck.add(dir);
        try (Stream<Path> files = Files.list(dir)) {
            files.filter(p -> p.toString().endsWith(".jar") || p.toString().endsWith(".zip")).forEach(toCheck::add);
        } catch (IOException e) {
            problems.add(problem("plugin.dir-unreadable", "cannot list plugin directory " + dir + ": " + e.getMessage(), dir.toString(), null));
            return false;
        }
        for (Path p : toCheck) {
            try {
                PosixFileAttributes attrs = Files.readAttributes(p, PosixFileAttributes.class);
                Set<PosixFilePermission> perms = attrs.permissions();
                boolean othersWrite = perms.contains(PosixFilePermission.GROUP_WRITE) || perms.contains(PosixFilePermission.OTHERS_WRITE);
                boolean foreignOwner = !"root".equals(attrs.owner().getName());
                if (othersWrite || foreignOwner) {
                    problems.add(problem("plugin.unsafe-dir", "refusing plugins from " + dir + " as root: " + p
                                    + (othersWrite ? " is writable by group or others" : " is owned by " + attrs.owner().getName()),
                            p.toString(), "chown root and chmod go-w " + p + ", or run without those plugins"));
                    return false;
                }
            } catch (IOException e) {
                problems.add(problem("plugin.dir-unreadable", "cannot inspect " + p + ": " + e.getMessage(), p.toString(), null));
                return false;
            }
        }
        return true;
    }

    private static boolean stickyRootDir(Path p) {
        try {
            return Files.readAttributes(p, PosixFileAttributes.class).owner().getName().equals("root")
                    && (Integer.parseInt(Files.getAttribute(p, "unix:mode").toString()) & 01000) != 0;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    static Diagnostic problem(String code, String message, String where, String hint) {
        return Diagnostic.error(code, message, "", new Location(where, 0, 0), hint);
    }
}
