package dev.sandbox.engine.pipeline;

import dev.sandbox.api.Caller;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.HostFacts;
import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.schema.Suggest;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The engine's checks across sections: joins, the rootless rule, the process. */
final class EngineChecks {

    private static final Pattern PROC_NS = Pattern.compile("^/proc/(\\d+|self|thread-self)/ns/([a-z_]+)$");

    private EngineChecks() {}

    static List<Diagnostic> check(SpecNode root, Caller caller, HostFacts host) {
        List<Diagnostic> out = new ArrayList<>();
        SpecNode namespaces = root.get("namespaces");
        boolean anyNew = false;
        for (var e : namespaces.fields().entrySet()) {
            String type = e.getKey();
            SpecNode section = e.getValue();
            if (Pipeline.isJoin(section)) {
                checkJoin(type, section, out);
            } else if (NamespaceTable.isNamespace(type)) {
                anyNew = true;
            }
        }
        if (!caller.isRoot() && anyNew && !Pipeline.creates(namespaces, NamespaceTable.USER) && !joinsUser(namespaces)) {
            out.add(Diagnostic.error("user.required-rootless",
                    "running as " + caller.userName() + " (uid " + caller.uid() + ") needs a user namespace to create the others",
                    namespaces.path(), root.keyLocation("namespaces"),
                    "add 'user: {}' under namespaces (you become root inside, mapped to your own uid)"));
        }
        checkProcess(root.get("process"), out);
        SpecNode user = root.get("process").get("user");
        if (!caller.isRoot() && user.isPresent() && !Pipeline.creates(namespaces, NamespaceTable.USER) && !joinsUser(namespaces)) {
            boolean foreign = user.get("uid").longValue(caller.uid()) != caller.uid() || user.get("gid").longValue(caller.gid()) != caller.gid()
                    || !user.get("groups").elements().isEmpty();
            if (foreign) {
                out.add(Diagnostic.error("process.user-needs-user-namespace", "running as " + caller.userName() + " (uid " + caller.uid()
                                + "), the process can't switch to other ids without a user namespace", user.path(),
                        root.get("process").keyLocation("user"), "add 'user: {}' under namespaces and map the ids you need, or drop process.user"));
            }
        }
        return out;
    }

    private static boolean joinsUser(SpecNode namespaces) {
        SpecNode user = namespaces.get(NamespaceTable.USER);
        return user.isPresent() && Pipeline.isJoin(user);
    }

    private static void checkJoin(String type, SpecNode section, List<Diagnostic> out) {
        SpecNode join = section.get("join");
        for (var f : section.fields().entrySet()) {
            if (!f.getKey().equals("join")) {
                out.add(Diagnostic.error("join.with-options", "'" + type + "' joins an existing namespace, so '" + f.getKey()
                                + "' cannot be applied (a joined namespace is used as it is)", f.getValue().path(), section.keyLocation(f.getKey()),
                        "remove '" + f.getKey() + "', or remove 'join' to create a new " + type + " namespace"));
            }
        }
        var entry = NamespaceTable.lookup(type);
        if (entry.isEmpty()) {
            out.add(Diagnostic.error("join.not-a-namespace", "'" + type + "' is not a namespace type, it cannot be joined",
                    join.path(), join.location(), "join is for user, mount, pid, uts, ipc, net, cgroup and time"));
            return;
        }
        SpecNode path = join.get("path");
        if (path.kind() == SpecNode.Kind.STRING && !path.text().isEmpty()) { // empty: the schema's minLength reports it
            Matcher m = PROC_NS.matcher(path.text());
            if (!path.text().startsWith("/")) {
                out.add(Diagnostic.error("join.relative-path", "join path must be absolute: " + path.text(), path.path(), path.location(),
                        "use /proc/PID/ns/" + entry.get().procName()));
            } else if (m.matches() && !NamespaceTable.PROC_FILES.contains(m.group(2))) {
                out.add(Diagnostic.error("join.wrong-type", "'" + path.text() + "' is not a namespace file: /proc/PID/ns holds "
                        + String.join(", ", NamespaceTable.PROC_FILES), path.path(), path.location(),
                        "use /proc/" + m.group(1) + "/ns/" + entry.get().procName()));
            } else if (m.matches() && !m.group(2).replaceFirst("_for_children$", "").equals(entry.get().procName())) {
                // pid_for_children and time_for_children are handles of a pid and a time namespace: setns(2) accepts them
                out.add(Diagnostic.error("join.wrong-type", "'" + path.text() + "' is a " + m.group(2) + " namespace, but it is given to '"
                        + type + "'", path.path(), path.location(), "use /proc/" + m.group(1) + "/ns/" + entry.get().procName()));
            }
        }
    }

    private static void checkProcess(SpecNode process, List<Diagnostic> out) {
        SpecNode command = process.get("command");
        if (command.kind() == SpecNode.Kind.LIST && (command.elements().isEmpty() || command.elements().get(0).text().isEmpty())) {
            out.add(Diagnostic.error("process.empty-command", "the command is empty", command.path(), command.location(),
                    "give the program and its arguments, e.g. command: [/bin/sh, -c, 'echo hi']"));
        }
        for (SpecNode cap : process.get("capabilities").elements()) {
            if (cap.kind() == SpecNode.Kind.STRING && Capabilities.number(cap.text()).isEmpty()) {
                // compare with the CAP_ prefix the spec may leave out, or every short name is too far from a suggestion
                String upper = cap.text().toUpperCase(java.util.Locale.ROOT);
                String guess = Suggest.closest(upper.startsWith("CAP_") ? upper : "CAP_" + upper, Capabilities.names());
                out.add(Diagnostic.error("process.unknown-capability", "unknown capability '" + cap.text() + "'", cap.path(), cap.location(),
                        guess != null ? "did you mean '" + guess + "'?" : "see capabilities(7) for the names"));
            }
        }
        SpecNode cwd = process.get("cwd");
        if (cwd.kind() == SpecNode.Kind.STRING && !cwd.text().startsWith("/")) {
            out.add(Diagnostic.error("process.relative-cwd", "cwd must be an absolute path inside the sandbox: " + cwd.text(),
                    cwd.path(), cwd.location(), "e.g. cwd: /work"));
        }
        for (var e : process.get("env").fields().entrySet()) {
            if (e.getKey().isEmpty() || e.getKey().contains("=")) {
                out.add(Diagnostic.error("process.bad-env-name", "invalid environment variable name '" + e.getKey() + "'",
                        e.getValue().path(), e.getValue().location(), "names may not be empty or contain '='"));
            }
        }
    }
}
