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

    /** The longest single argument or environment string execve(2) takes: MAX_ARG_STRLEN, 32 pages, with the NUL. */
    static final long MAX_ARG_STRLEN = 131072;
    /**
     * All of argv and envp (strings with their NULs, plus one pointer each) under the default 8 MiB stack
     * rlimit: the kernel allows a quarter of the stack (fs/exec.c), 2 MiB.
     */
    static final long EXEC_LIMIT = 2L << 20;
    /** (uid_t)-1 means "leave unchanged" to setresuid(2): the largest usable id is one less. */
    static final long MAX_ID = 4294967294L;

    static List<Diagnostic> check(SpecNode root, Caller caller, HostFacts host, java.util.Map<String, String> callerEnv) {
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
        checkPrivileges(root, caller, out);
        checkIds(root, out);
        checkExecSize(root, callerEnv, out);
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

    /** The opt-outs of the defaults that hold the sandbox, and what the kernel would refuse at exec time. */
    private static void checkPrivileges(SpecNode root, Caller caller, List<Diagnostic> out) {
        SpecNode process = root.get("process");
        SpecNode caps = process.get("capabilities");
        if (caps.kind() == SpecNode.Kind.STRING && caps.text().equals("all")) {
            out.add(Diagnostic.warning("process.all-capabilities", "capabilities: all keeps every capability, CAP_SYS_ADMIN included: "
                            + "readonly mounts, masks and readonlyPaths no longer hold (root inside can remount, unmount and mount over them)",
                    caps.path(), caps.location(), "list only the capabilities the command needs, e.g. capabilities: [NET_ADMIN]; omit the key"
                            + " for the default set"));
        } else if (caps.kind() == SpecNode.Kind.LIST) {
            // docs/security.md: an explicit list that names CAP_SYS_ADMIN is warned like 'all' (it undoes the same)
            for (SpecNode cap : caps.elements()) {
                if (cap.kind() == SpecNode.Kind.STRING
                        && cap.text().toUpperCase(java.util.Locale.ROOT).replaceFirst("^CAP_", "").equals("SYS_ADMIN")) {
                    out.add(Diagnostic.warning("process.sys-admin-capability", "CAP_SYS_ADMIN lets root inside remount, unmount and mount"
                                    + " over what the spec set up: readonly mounts, masks and readonlyPaths no longer hold",
                            cap.path(), cap.location(), "keep it only for a command that must mount (a nested sandbox, a build"
                                    + " that mounts); everything else works without it"));
                }
            }
        }
        SpecNode nnp = process.get("noNewPrivileges");
        if (nnp.kind() == SpecNode.Kind.BOOLEAN && !nnp.bool(true)) {
            out.add(Diagnostic.warning("process.new-privileges", "noNewPrivileges: false lets the target gain privileges through exec"
                            + " (setuid binaries, file capabilities) beyond what capabilities keeps", nnp.path(), nnp.location(),
                    "remove it (the default is true) unless the command must run a setuid program such as sudo or ping"));
            SpecNode seccomp = process.get("seccomp");
            boolean filtered = !seccomp.text(SeccompSection.DEFAULT).equals(SeccompSection.UNCONFINED);
            if (filtered && !ProcessSection.identity(root, caller).privileged()) {
                out.add(Diagnostic.error("process.seccomp-needs-privilege", "without no_new_privs, loading a seccomp filter needs CAP_SYS_ADMIN,"
                                + " which " + caller.userName() + " (uid " + caller.uid() + ") has not without a user namespace: seccomp(2) would"
                                + " fail with EACCES", nnp.path(), nnp.location(),
                        "remove 'noNewPrivileges: false', add 'user: {}' under namespaces, or set seccomp: unconfined"));
            }
        }
    }

    /**
     * Ids setresuid/setresgid/setgroups would take: 32-bit, and (uid_t)-1 means "unchanged" to the
     * kernel, so any number past 4294967294 is an error — with or without a user namespace (whose
     * plugin then checks the ids against its maps). Numbers are read exactly ({@code 1e400} is a
     * number too: before, it fell back to 0 and the target ran as root).
     */
    private static void checkIds(SpecNode root, List<Diagnostic> out) {
        SpecNode user = root.get("process").get("user");
        List<SpecNode> ids = new ArrayList<>(List.of(user.get("uid"), user.get("gid")));
        ids.addAll(user.get("groups").elements());
        for (SpecNode id : ids) {
            if (id.kind() != SpecNode.Kind.NUMBER) continue;
            java.math.BigInteger value;
            try {
                value = new java.math.BigDecimal(id.text()).toBigIntegerExact();
            } catch (NumberFormatException | ArithmeticException e) {
                continue; // not an integer (1.5, .inf): the schema says so
            }
            if (value.compareTo(java.math.BigInteger.valueOf(MAX_ID)) > 0) {
                out.add(Diagnostic.error("process.id-out-of-range", "id " + id.text() + " is not a usable user or group id: ids are 32-bit"
                                + " and 4294967295 is (uid_t)-1, which setresuid(2) and setresgid(2) read as 'leave unchanged'", id.path(),
                        id.location(), "use an id from 0 to " + MAX_ID));
            }
        }
    }

    /** execve(2) refuses (E2BIG) one string over MAX_ARG_STRLEN, or all of them over a quarter of the stack rlimit. */
    private static void checkExecSize(SpecNode root, java.util.Map<String, String> callerEnv, List<Diagnostic> out) {
        SpecNode process = root.get("process");
        long total = 0;
        int count = 0;
        for (SpecNode arg : process.get("command").elements()) {
            long len = utf8(arg.text()) + 1;
            total += len + 8;
            count++;
            if (len > MAX_ARG_STRLEN) {
                out.add(Diagnostic.error("process.argument-too-long", "this argument is " + len + " bytes with its NUL; execve(2) takes at"
                                + " most " + MAX_ARG_STRLEN + " (MAX_ARG_STRLEN) per argument and fails with E2BIG", arg.path(), arg.location(),
                        "pass large data through a file or standard input instead"));
            }
        }
        java.util.Map<String, String> env = ProcessSection.environment(process, callerEnv, 0);
        for (var e : env.entrySet()) {
            long len = utf8(e.getKey()) + 1 + utf8(e.getValue()) + 1;
            total += len + 8;
            count++;
            SpecNode at = process.get("env").get(e.getKey());
            if (len > MAX_ARG_STRLEN && at.isPresent()) {
                out.add(Diagnostic.error("process.env-too-long", "variable " + e.getKey() + " is " + len + " bytes as NAME=VALUE with its NUL;"
                                + " execve(2) takes at most " + MAX_ARG_STRLEN + " (MAX_ARG_STRLEN) per string and fails with E2BIG", at.path(),
                        at.location(), "pass large data through a file instead"));
            }
        }
        if (total > EXEC_LIMIT && count > 0) {
            out.add(Diagnostic.error("process.exec-too-large", "the command and the environment take " + total + " bytes (strings with their"
                            + " NULs and one 8-byte pointer each); execve(2) allows a quarter of the stack limit, " + EXEC_LIMIT + " bytes with"
                            + " the default 8 MiB stack (ulimit -s), and fails with E2BIG", process.path(), root.keyLocation("process"),
                    "pass large data through files instead of arguments and variables"));
        }
    }

    /** The same limits for a command given after {@code --} to {@code up}, found only when the plan is compiled. */
    static List<Diagnostic> checkOverride(SpecNode root, List<String> argv, java.util.Map<String, String> callerEnv) {
        List<Diagnostic> out = new ArrayList<>();
        SpecNode process = root.get("process");
        long total = 0;
        for (String arg : argv) {
            long len = utf8(arg) + 1;
            total += len + 8;
            if (len > MAX_ARG_STRLEN) {
                out.add(Diagnostic.error("process.argument-too-long", "an argument of the command after -- is " + len + " bytes with its NUL;"
                                + " execve(2) takes at most " + MAX_ARG_STRLEN + " (MAX_ARG_STRLEN) and fails with E2BIG", process.path(),
                        root.keyLocation("process"), "pass large data through a file or standard input instead"));
            }
        }
        for (var e : ProcessSection.environment(process, callerEnv, 0).entrySet()) total += utf8(e.getKey()) + utf8(e.getValue()) + 2 + 8;
        if (total > EXEC_LIMIT) {
            out.add(Diagnostic.error("process.exec-too-large", "the command after -- and the environment take " + total + " bytes; execve(2)"
                            + " allows a quarter of the stack limit, " + EXEC_LIMIT + " bytes with the default 8 MiB stack, and fails with E2BIG",
                    process.path(), root.keyLocation("process"), "pass large data through files instead of arguments"));
        }
        return out;
    }

    private static long utf8(String s) {
        return s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
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
