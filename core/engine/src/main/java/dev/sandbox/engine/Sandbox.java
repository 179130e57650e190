package dev.sandbox.engine;

import com.sun.security.auth.module.UnixSystem;
import dev.sandbox.api.Caller;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.HostFacts;
import dev.sandbox.engine.host.HostProbe;
import dev.sandbox.engine.pipeline.Pipeline;
import dev.sandbox.engine.plugin.PluginRegistry;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.SpecLoader;
import dev.sandbox.engine.spec.Variables;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The engine's front door for the CLI: who is calling, which plugins are installed, the pipeline.
 * Everything is created on first use so that each command pays only for what it needs.
 */
public final class Sandbox {

    private final List<Path> pluginDirs;
    private final List<Path> explicitPluginDirs;
    private final Map<String, String> env;
    private Caller caller;
    private PluginRegistry registry;
    private Pipeline pipeline;

    public Sandbox(List<Path> pluginDirs, Map<String, String> env) {
        this(pluginDirs, List.of(), env);
    }

    /** {@code explicitPluginDirs}: the ones the user named (--plugins-dir); they must exist. */
    public Sandbox(List<Path> pluginDirs, List<Path> explicitPluginDirs, Map<String, String> env) {
        this.pluginDirs = pluginDirs;
        this.explicitPluginDirs = explicitPluginDirs;
        this.env = env;
    }

    /**
     * Plugin directories in search order: the distribution's, the user's, then {@code --plugins-dir}.
     * A section found twice is reported as a duplicate.
     */
    public static List<Path> defaultPluginDirs(Path home, Map<String, String> env, List<Path> extra) {
        List<Path> dirs = new ArrayList<>();
        if (home != null) dirs.add(home.resolve("plugins"));
        String userHome = env.getOrDefault("HOME", System.getProperty("user.home"));
        if (userHome != null) dirs.add(Path.of(userHome, ".local", "share", "sandbox", "plugins"));
        dirs.addAll(extra);
        return dirs;
    }

    /**
     * Builds the pipeline (PF4J loading the plugins, the host probe, the composed schema and its validator) on a daemon
     * thread while the caller goes on (the cache key, reading the spec), for a cold {@code up} on two cores
     * (docs/performance.md). The getters are synchronized: whoever asks first builds, the other waits for the result. A
     * failure here is dropped; the caller's own call then does the same work again and meets it.
     */
    public void prepareInBackground() {
        preparing = true;
        Thread thread = new Thread(() -> {
            try {
                pipeline().prepareValidation();
            } catch (RuntimeException | Error e) {
                // the caller's thread builds it again and reports what goes wrong
            }
        }, "sandbox-prepare");
        thread.setDaemon(true);
        thread.start();
    }

    private volatile boolean preparing;

    /**
     * What validation needs that doesn't depend on the plugins (the schema validator's meta-schema, the built-in seccomp
     * profile, the security providers for the spec's SHA-256), made on the calling thread while {@link #prepareInBackground} loads the plugins: the time it would
     * otherwise wait. Does nothing without a background preparation.
     */
    public void warmUpWhilePreparing() {
        if (!preparing) return;
        try {
            dev.sandbox.engine.schema.SchemaCheck.warmUp();
            dev.sandbox.engine.seccomp.BuiltInProfile.profile();
            java.security.MessageDigest.getInstance("SHA-256"); // the providers' set-up, for the spec's digest in the plan
        } catch (java.security.NoSuchAlgorithmException | RuntimeException | LinkageError e) {
            // made again, and reported, where it is needed
        }
        Timing.mark("warmed up");
    }

    public synchronized Caller caller() {
        if (caller == null) {
            UnixSystem unix = new UnixSystem();
            caller = new Caller(unix.getUid(), unix.getGid(), unix.getUsername());
        }
        return caller;
    }

    public Map<String, String> env() {
        return env;
    }

    public synchronized PluginRegistry registry() {
        if (registry == null) {
            registry = PluginRegistry.load(pluginDirs, explicitPluginDirs, caller());
            Timing.mark("plugins loaded");
        }
        return registry;
    }

    public synchronized Pipeline pipeline() {
        if (pipeline == null) {
            PluginRegistry plugins = registry();
            HostFacts host = HostProbe.detect(caller());
            Timing.mark("host probed");
            pipeline = new Pipeline(plugins, host, caller(), env);
            Timing.mark("schema composed");
        }
        return pipeline;
    }

    /** Problems with the installed plugins (unsafe dir, broken jar, bad schema fragment, cycle). */
    public List<Diagnostic> pluginProblems() {
        List<Diagnostic> out = new ArrayList<>(registry().problems());
        out.addAll(pipeline().pluginProblems());
        return out;
    }

    /** A spec file with what it includes, its variables from this environment. */
    public LoadedSpec load(Path spec) {
        return load(new dev.sandbox.engine.source.FileSpecSource(spec), Variables.of(env));
    }

    /** A spec from a file or a git revision, with what it includes and its variables substituted. */
    public LoadedSpec load(dev.sandbox.engine.source.SpecSource source, Variables variables) {
        return new SpecLoader(variables).load(source);
    }

    /** The variables a spec reads: this environment, then the env files (the environment wins, as in docker compose). */
    public Variables variables(List<Path> envFiles) {
        return Variables.load(env, envFiles);
    }
}
