package dev.sandbox.plugins.cgroup;

import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SandboxCgroup;
import dev.sandbox.api.SectionContext;
import dev.sandbox.api.SpecContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.pf4j.Extension;

/**
 * {@code namespaces.cgroup}: a new cgroup namespace, rooted at a cgroup of the sandbox's own.
 *
 * <pre>{@code
 * namespaces:
 *   cgroup: {}
 * }</pre>
 *
 * <h2>Keys</h2>
 * None yet: {@code cgroup: {}} creates the namespace (resource limits may come later);
 * {@code cgroup: {join: ...}} enters an existing one (handled by the engine).
 *
 * <h2>Where the sandbox's cgroup lives</h2>
 * It depends on the host's layout ({@link dev.sandbox.api.HostFacts#cgroupLayout()}):
 * <ul>
 *   <li>v2 — {@code <cgroup2 mount>/sandbox/<name>}, e.g. {@code /sys/fs/cgroup/sandbox/web};</li>
 *   <li>hybrid (v1 controllers plus a cgroup2 "unified" mount) — the same in the unified hierarchy,
 *       e.g. {@code /sys/fs/cgroup/unified/sandbox/web}, so {@code /proc/self/cgroup} reads {@code 0::/} inside;</li>
 *   <li>v1 — {@code <each v1 mount>/sandbox/<name>}, one directory per hierarchy;</li>
 *   <li>none — error {@code cgroup.no-cgroupfs}: there is no cgroup to root the namespace at.</li>
 * </ul>
 *
 * <h2>What happens (root)</h2>
 * <ol>
 *   <li>stage {@code prepare}: {@code cgroup-create path=P} for each path — {@code mkdir -p} before anything starts;</li>
 *   <li>stage {@code identity}: {@code cgroup-place path=P} — the monitor writes the helper's pid to
 *       {@code P/cgroup.procs} before the clone. Order matters: a new cgroup namespace's root is the cgroup of
 *       the process that creates it (cgroup_namespaces(7)); placing the process afterwards would leave the
 *       namespace rooted at the caller's cgroup (nsjail has exactly this bug);</li>
 *   <li>stage {@code clone}: the engine's clone carries {@code CLONE_NEWCGROUP}, so the child's namespace is
 *       rooted at {@code P};</li>
 *   <li>stage {@code supervise}: {@code cgroup-remove path=P} — after the target exited, kill whatever is
 *       left in the cgroup, {@code rmdir} it, then {@code rmdir} the shared {@code sandbox} parent if it is
 *       empty. Removal runs in the reverse order of creation.</li>
 * </ol>
 * This plugin comes after {@code user} ({@link #after()}): the helper's id maps are written before it is
 * moved into its cgroup. The steps are {@link SandboxCgroup#steps}; without this section the engine gives every
 * sandbox of root the same steps for one hierarchy ({@link SandboxCgroup#tracking}), and with it adds none.
 *
 * <h2>Rootless</h2>
 * An unprivileged caller can't create cgroups without a delegated subtree: warning
 * {@code cgroup.not-delegated}, and no cgroup steps. The namespace is still created (by the clone), rooted
 * at the cgroup the caller runs in; {@code systemd-run --user --scope} gives a fresh one.
 */
@Extension
public class CgroupNamespacePlugin implements NamespacePlugin {

    /** The directory under each hierarchy that holds every sandbox's cgroup. */
    static final String PARENT = SandboxCgroup.PARENT;

    @Override
    public String id() {
        return "cgroup";
    }

    @Override
    public Set<String> after() {
        return Set.of("user");
    }

    @Override
    public String schemaFragment() {
        return resource("/cgroup.schema.json");
    }

    @Override
    public void validate(SectionContext ctx) {
        if (paths(ctx).isEmpty()) {
            ctx.error(ctx.section(), "cgroup.no-cgroupfs", "no cgroup filesystem is mounted on this host (layout "
                            + ctx.host().cgroupLayout().name().toLowerCase(java.util.Locale.ROOT)
                            + "), so there is no cgroup to root the sandbox's cgroup namespace at",
                    "mount one (e.g. mount -t cgroup2 none /sys/fs/cgroup), or remove namespaces.cgroup");
        } else if (!ctx.caller().isRoot()) {
            ctx.warning(ctx.section(), "cgroup.not-delegated", "running as " + ctx.caller().userName() + ", sandbox can't create a cgroup"
                            + " for the sandbox (that needs root or a delegated subtree); the cgroup namespace is still created, rooted at"
                            + " the cgroup you run in",
                    "run as root for a cgroup of its own, or start sandbox under 'systemd-run --user --scope' so that cgroup is a fresh one");
        }
    }

    /** The sandbox's cgroup directories for this host's layout; empty when there is no cgroupfs. */
    static List<Path> paths(SpecContext ctx) {
        return SandboxCgroup.paths(ctx.host(), ctx.sandboxName());
    }

    @Override
    public void contribute(PlanContext ctx) {
        if (!ctx.caller().isRoot()) return; // not delegated: warned in validate()
        // the same steps the engine gives every sandbox of root, for every hierarchy (the engine then adds none)
        SandboxCgroup.steps(paths(ctx)).forEach(ctx::add);
    }

    static String resource(String name) {
        try (InputStream in = CgroupNamespacePlugin.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is missing from the plugin jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
