package dev.sandbox.engine.pipeline;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.SpecNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Compiles {@code {join: ...}} sections into setns steps: every other type first, the user namespace last. */
final class Joins {

    private Joins() {}

    static List<Step> steps(SpecNode namespaces, Path runtimeBase, List<Diagnostic> problems) {
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
                    problems.add(Diagnostic.error("join.sandbox-not-running", "no running sandbox named '" + other + "' to join",
                            join.path(), join.location(), "start it first with 'sandbox up', or join by path"));
                    continue;
                }
            }
            Step check = Step.of(Stage.PREPARE, "check-path").arg("path", path).arg("kind", "namespace:" + entry.get().procName())
                    .summary("the namespace to join exists and is a " + entry.get().procName() + " namespace")
                    .syscall("stat(\"" + path + "\")").build().withPlugin(e.getKey());
            // Joining a user namespace drops our capabilities in the namespaces we still have to
            // enter, so as root every other namespace is joined first (setns(2)).
            Step setns = Step.of(Stage.ENTER, "join").arg("type", entry.get().procName()).arg("path", path)
                    .summary("enter the existing " + e.getKey() + " namespace")
                    .syscall("setns(open(\"" + path + "\"), " + entry.get().cloneFlag() + ")").build().withPlugin(e.getKey());
            others.add(check);
            (e.getKey().equals(NamespaceTable.USER) ? user : others).add(setns);
        }
        others.addAll(user);
        return others;
    }

    /** The pid of a running sandbox from its runtime state, if it is still alive. */
    static java.util.Optional<Long> sandboxPid(Path runtimeBase, String name) {
        try {
            long pid = Long.parseLong(Files.readString(runtimeBase.resolve(name).resolve("pid")).trim());
            return Files.exists(Path.of("/proc/" + pid)) ? java.util.Optional.of(pid) : java.util.Optional.empty();
        } catch (IOException | NumberFormatException e) {
            return java.util.Optional.empty();
        }
    }
}
