package dev.sandbox.plugins.ipc;

import dev.sandbox.api.NamespacePlugin;
import dev.sandbox.api.PlanContext;
import dev.sandbox.api.SectionContext;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.pf4j.Extension;

/**
 * {@code namespaces.ipc}: a new IPC namespace.
 *
 * <pre>{@code
 * namespaces:
 *   ipc: {}
 * }</pre>
 *
 * <h2>Keys</h2>
 * None: {@code ipc: {}} creates the namespace; {@code ipc: {join: ...}} enters an existing one (handled
 * by the engine, like every section's {@code join}).
 *
 * <h2>What happens</h2>
 * The engine creates the namespace with {@code CLONE_NEWIPC} in the helper's clone (stage {@code clone}).
 * The sandbox then has its own System V shared memory segments, semaphore sets and message queues
 * ({@code ipcs} shows none of the host's) and its own POSIX message queues; the host can't see the
 * sandbox's either (ipc_namespaces(7)). Everything in it is destroyed when the last process leaves.
 * To look at the POSIX queues inside, the mount section can mount {@code mqueue} on {@code /dev/mqueue}:
 * a mqueue filesystem shows the queues of the IPC namespace of the process that mounted it.
 *
 * <p>This plugin adds no steps and has no checks beyond its schema.
 */
@Extension
public class IpcNamespacePlugin implements NamespacePlugin {

    @Override
    public String id() {
        return "ipc";
    }

    @Override
    public String schemaFragment() {
        return resource("/ipc.schema.json");
    }

    @Override
    public void validate(SectionContext ctx) {
        // Nothing to check: the section has no keys of its own.
    }

    @Override
    public void contribute(PlanContext ctx) {
        // The clone flag CLONE_NEWIPC is all it takes; the engine adds it to the clone step.
    }

    static String resource(String name) {
        try (InputStream in = IpcNamespacePlugin.class.getResourceAsStream(name)) {
            if (in == null) throw new IllegalStateException(name + " is missing from the plugin jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
