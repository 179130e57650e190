package dev.sandbox.engine.pipeline;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.SpecNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.engine.runtime.SandboxState;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Compiles {@code {join: ...}} sections into setns steps: as root every other type first and the user namespace
 * last; rootless the user namespace first.
 */
final class Joins {

    private Joins() {}

    static List<Step> steps(SpecNode namespaces, Path runtimeBase, List<Diagnostic> problems, boolean root) {
        List<Step> others = new ArrayList<>();
        List<Step> user = new ArrayList<>();
        for (var e : namespaces.fields().entrySet()) {
            SpecNode section = e.getValue();
            if (!Pipeline.isJoin(section)) continue;
            var entry = NamespaceTable.lookup(e.getKey());
            if (entry.isEmpty()) continue;
            SpecNode join = section.get("join");
            String path = join.get("path").optText().orElse(null);
            if (path == null) {
                String other = join.get("sandbox").text();
                path = sandboxPid(runtimeBase, other)
                        .map(pid -> "/proc/" + pid + "/ns/" + entry.get().procName())
                        .orElse(null);
                if (path == null) {
                    var state = SandboxState.read(runtimeBase, other);
                    boolean dead = state.isPresent() && state.get().liveness() == SandboxState.Liveness.DEAD;
                    problems.add(Diagnostic.error("join.sandbox-not-running", dead
                                    ? "sandbox '" + other + "' is dead (its monitor or target is gone); nothing to join"
                                    : "no running sandbox named '" + other + "' to join",
                            join.path(), join.location(), dead ? "remove its record with 'sandbox gc', then start it again"
                                    : "start it first with 'sandbox up', or join by path"));
                    continue;
                }
            }
            Step check = Step.of(Stage.PREPARE, "check-path").arg("path", path).arg("kind", "namespace:" + entry.get().procName())
                    .summary("the namespace to join exists and is a " + entry.get().procName() + " namespace")
                    .syscall("stat(\"" + path + "\")").build().withPlugin(e.getKey());
            // Joining a user namespace drops our capabilities in the namespaces we still have to
            // enter, so as root every other namespace is joined first (setns(2)). Rootless it is the
            // other way round: setns(2) of a net, pid or mount namespace also needs CAP_SYS_ADMIN in
            // the caller's own user namespace, which only the joined user namespace gives (a rootless
            // lab's nodes: docs/labs.md).
            Step setns = Step.of(Stage.ENTER, "join").arg("type", entry.get().procName()).arg("path", path)
                    .summary("enter the existing " + e.getKey() + " namespace")
                    .syscall("setns(open(\"" + path + "\"), " + entry.get().cloneFlag() + ")").build().withPlugin(e.getKey());
            others.add(check);
            (e.getKey().equals(NamespaceTable.USER) ? user : others).add(setns);
        }
        if (!root) {
            user.addAll(others);
            return user;
        }
        others.addAll(user);
        return others;
    }

    /**
     * The pid of a running sandbox's target, from its state.json: only when its monitor and target still
     * run with the recorded start times and the target still has the recorded namespaces (a pid alone may
     * name another process by now: issue 8, "A stale pid file joins the wrong namespace").
     */
    static java.util.Optional<Long> sandboxPid(Path runtimeBase, String name) {
        return SandboxState.read(runtimeBase, name)
                .filter(s -> s.liveness() == SandboxState.Liveness.RUNNING)
                .map(s -> s.target().pid());
    }
}
