package dev.sandbox.plugins.pid;

import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import org.pf4j.Extension;

/**
 * {@code namespaces.pid}: a new PID namespace.
 *
 * <pre>{@code
 * namespaces:
 *   pid: {init: true}
 * }</pre>
 *
 * <h2>Keys</h2>
 * <ul>
 *   <li>{@code init} — boolean, default {@code false}. {@code true} puts a tiny PID 1 (part of
 *       {@code sandbox-init}) in front of the target: it reaps every orphan that is re-parented to it and
 *       forwards signals to the target, which runs as PID 2. Without it the target itself is PID 1: it must
 *       reap its own orphans, and the kernel delivers it no signal it has no handler for — not even SIGTERM
 *       from the parent namespace (pid_namespaces(7)); sandbox escalates to SIGKILL after a grace period.</li>
 * </ul>
 *
 * <h2>What happens</h2>
 * The engine creates the namespace: {@code CLONE_NEWPID} is one of the flags of the helper's clone
 * (stage {@code clone}), so the child is the namespace's first process. When PID 1 exits, the kernel kills
 * every other process in the namespace. With {@code init: true} this plugin adds the {@code init} step in
 * stage {@code finish}: the child forks; the parent stays PID 1 and the child goes on with the remaining
 * steps (credentials, capabilities, exec) as PID 2. It comes after the hostname and loopback steps
 * ({@link #after()}): they set up namespaces both processes share, so they run once, before the fork.
 *
 * <p>This section has no checks beyond its schema.
 */
@Extension
public class PidNamespacePlugin implements NamespacePlugin {

    @Override
    public String id() {
        return "pid";
    }

    /** init's fork comes after sethostname and link-up, so those run once, in the process that becomes PID 1. */
    @Override
    public Set<String> after() {
        return Set.of("uts", "net");
    }

    @Override
    public String schemaFragment() {
        return resource("/pid.schema.json");
    }

    @Override
    public void validate(SectionContext ctx) {
        // The schema says everything: init is a boolean.
    }

    @Override
    public void contribute(PlanContext ctx) {
        if (!ctx.section().get("init").bool(false)) return;
        ctx.add(Step.of(Stage.FINISH, "init")
                .summary("a tiny PID 1 that reaps orphaned processes and forwards signals to the target; the target runs as PID 2")
                .syscall("fork(); parent as PID 1: sigprocmask + waitpid(-1, ...) loop, kill(2, sig) for forwarded signals")
                .build());
    }

    static String resource(String name) {
        try (InputStream in = PidNamespacePlugin.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is missing from the plugin jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
