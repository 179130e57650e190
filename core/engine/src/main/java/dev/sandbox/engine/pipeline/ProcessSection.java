package dev.sandbox.engine.pipeline;

import dev.sandbox.api.Caller;
import dev.sandbox.api.SpecNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The {@code process:} section: working directory, identity, capabilities, no_new_privs, seccomp
 * and exec, the last steps of the plan. The environment starts clean (see docs/spec.md):
 * PATH, HOME and the caller's TERM, then the spec's {@code env}.
 */
final class ProcessSection {

    static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private ProcessSection() {}

    /**
     * Who the target runs as and which capabilities it keeps.
     *
     * @param switchIdentity whether the child switches uid/gid (a new user namespace, or process.user)
     * @param uid            the target's uid inside
     * @param privileged     whether the child holds capabilities during setup (root, or a new or joined user
     *                       namespace); a rootless child without one has none to drop
     * @param keep           the capabilities the target keeps (CAP_ names, number order)
     * @param all            {@code capabilities: all}
     */
    record Identity(boolean switchIdentity, long uid, long gid, boolean privileged, List<String> keep, boolean all) {}

    static Identity identity(SpecNode root, Caller caller) {
        SpecNode namespaces = root.get("namespaces");
        SpecNode process = root.get("process");
        SpecNode user = process.get("user");
        boolean userNs = Pipeline.creates(namespaces, NamespaceTable.USER);
        boolean joinsUser = namespaces.get(NamespaceTable.USER).isPresent() && !userNs;
        boolean switchIdentity = user.isPresent() || userNs;
        long uid = switchIdentity ? user.get("uid").longValue(0) : caller.uid();
        long gid = switchIdentity ? user.get("gid").longValue(0) : caller.gid();
        boolean privileged = caller.isRoot() || userNs || joinsUser;
        SpecNode caps = process.get("capabilities");
        boolean all = caps.kind() == SpecNode.Kind.STRING && caps.text().equals("all");
        List<String> keep;
        if (all) {
            keep = Capabilities.NAMES.subList(0, Capabilities.lastCap() + 1);
        } else if (caps.kind() == SpecNode.Kind.LIST) {
            keep = Capabilities.sorted(caps.elements().stream().map(SpecNode::text).toList());
        } else {
            keep = Capabilities.defaults(uid, Pipeline.creates(namespaces, "net"));
        }
        return new Identity(switchIdentity, uid, gid, privileged, privileged ? keep : List.of(), all);
    }

    static boolean noNewPrivileges(SpecNode process) {
        return process.get("noNewPrivileges").bool(true);
    }

    static List<Step> steps(SpecNode root, Caller caller, Map<String, String> callerEnv, Pipeline.RunOptions options, SpecNode namespaces,
                            List<Step> seccomp) {
        SpecNode process = root.get("process");
        List<Step> out = new ArrayList<>();
        String cwd = process.get("cwd").text("/");
        SpecNode user = process.get("user");
        boolean userNs = Pipeline.creates(namespaces, NamespaceTable.USER);
        Identity id = identity(root, caller);
        long uid = id.switchIdentity() ? id.uid() : 0; // without a switch, HOME and the summaries keep today's meaning
        boolean nnp = noNewPrivileges(process);

        // Why first: see Rlimits.steps (CAP_SYS_RESOURCE and RLIMIT_NPROC before setresuid).
        out.addAll(Rlimits.steps(process));
        // Why here without no_new_privs: seccomp(2) then needs CAP_SYS_ADMIN, which the identity and
        // capabilities steps below drop (runc loads it at the same point, seccomp(2) EACCES otherwise).
        if (!nnp) out.addAll(seccomp);
        if (id.switchIdentity()) {
            long gid = id.gid();
            List<String> groups = user.get("groups").elements().stream().map(SpecNode::text).toList();
            if (!groups.isEmpty() || (!userNs && caller.isRoot())) {
                out.add(finish("setgroups").arg("groups", String.join(",", groups))
                        .summary(groups.isEmpty() ? "drop every supplementary group" : "set the supplementary groups")
                        .syscall("setgroups(" + groups.size() + ", [" + String.join(", ", groups) + "])").build());
            }
            out.add(finish("setresgid").arg("gid", gid).summary("become gid " + gid).syscall("setresgid(" + gid + ", " + gid + ", " + gid + ")").build());
            out.add(finish("setresuid").arg("uid", uid).summary("become uid " + uid + " (keeping the capabilities to apply next)")
                    .syscall("prctl(PR_SET_KEEPCAPS, 1); setresuid(" + uid + ", " + uid + ", " + uid + ")").build());
        }
        // Why always (when the child has capabilities at all): uid 0 keeping every capability could
        // remount read-only binds, unmount masks and mount the host's disks (docs/spec.md, process).
        if (id.privileged()) {
            List<String> names = id.keep();
            String keep = names.stream().map(n -> Capabilities.number(n).orElseThrow()).sorted().map(String::valueOf)
                    .collect(Collectors.joining(","));
            String what = id.all() ? "keep every capability (capabilities: all)"
                    : names.isEmpty() ? "drop every capability (bounding, permitted, effective, inheritable, ambient)"
                    : "keep only " + names.stream().map(n -> n.substring(4)).collect(Collectors.joining(", "))
                            + (process.get("capabilities").isMissing() ? " (the default for uid 0)" : "");
            out.add(finish("capabilities").arg("keep", keep).summary(what)
                    .syscall("prctl(PR_CAPBSET_DROP, ...); capset(...); prctl(PR_CAP_AMBIENT, ...)").build());
        }
        if (nnp) {
            out.add(finish("no-new-privs").summary("exec can never grant privileges again (setuid bits, file capabilities)")
                    .syscall("prctl(PR_SET_NO_NEW_PRIVS, 1)").build());
        }
        out.add(finish("chdir").arg("path", cwd).summary("working directory " + cwd).syscall("chdir(\"" + cwd + "\")").build());
        // Why last with no_new_privs: then the filter needn't allow the runtime's own setup above
        // (identity, capabilities, chdir), only what the exec step calls (runc loads it there too).
        if (nnp) out.addAll(seccomp);
        List<String> argv = argv(process, options);
        Map<String, String> env = environment(process, callerEnv, uid);
        List<String> envList = env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList();
        out.add(finish("exec").args("arg", argv).args("env", envList)
                .summary("run " + String.join(" ", argv))
                .syscall("execve(\"" + (argv.isEmpty() ? "" : argv.get(0)) + "\", argv[" + argv.size() + "], envp[" + envList.size() + "])").build());
        return out.stream().map(s -> s.withPlugin("process")).toList();
    }

    static List<String> argv(SpecNode process, Pipeline.RunOptions options) {
        return options.commandOverride().orElseGet(() -> process.get("command").elements().stream().map(SpecNode::text).toList());
    }

    /**
     * {@code process.timeout} (seconds, fractions allowed): the helper arms a timer as it releases the
     * child; when it expires, SIGTERM, then SIGKILL after {@code --stop-timeout}; {@code up} exits 124.
     */
    static Optional<Step> timeout(SpecNode process) {
        SpecNode timeout = process.get("timeout");
        if (timeout.kind() != SpecNode.Kind.NUMBER) return Optional.empty();
        BigDecimal seconds = new BigDecimal(timeout.text());
        long ms = seconds.movePointRight(3).setScale(0, RoundingMode.CEILING).longValueExact();
        String shown = seconds.stripTrailingZeros().toPlainString();
        return Optional.of(Step.of(Stage.CLONE, "timeout").arg("ms", ms)
                .summary("after " + shown + " s SIGTERM to the target, SIGKILL --stop-timeout later; up then exits 124")
                .syscall("timerfd_settime(CLOCK_MONOTONIC, " + ms + " ms)").build().withPlugin("process"));
    }

    /** The new session (like bwrap --new-session): without a controlling terminal TIOCSTI has no terminal to push into. */
    static Step newSession() {
        return finish("new-session")
                .summary("a new session when standard input is not a terminal: no controlling terminal, so TIOCSTI can't reach yours")
                .syscall("if (!isatty(0)) setsid()").build().withPlugin("engine");
    }

    static Map<String, String> environment(SpecNode process, Map<String, String> callerEnv, long uid) {
        Map<String, String> env = new LinkedHashMap<>();
        env.put("PATH", DEFAULT_PATH);
        env.put("HOME", uid == 0 ? "/root" : "/");
        String term = callerEnv.get("TERM");
        if (term != null && !term.isEmpty()) env.put("TERM", term);
        process.get("env").fields().forEach((k, v) -> env.put(k, v.text()));
        return env;
    }

    private static Step.Builder finish(String op) {
        return Step.of(Stage.FINISH, op);
    }
}
