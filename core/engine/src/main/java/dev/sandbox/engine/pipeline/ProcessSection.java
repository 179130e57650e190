package dev.sandbox.engine.pipeline;

import dev.sandbox.api.Caller;
import dev.sandbox.api.SpecNode;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The {@code process:} section: working directory, identity, capabilities, no_new_privs and exec,
 * the last steps of the plan. The environment starts clean (see docs/spec.md):
 * PATH, HOME and the caller's TERM, then the spec's {@code env}.
 */
final class ProcessSection {

    static final String DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    private ProcessSection() {}

    static List<Step> steps(SpecNode root, Caller caller, Map<String, String> callerEnv, Pipeline.RunOptions options, SpecNode namespaces) {
        SpecNode process = root.get("process");
        List<Step> out = new ArrayList<>();
        String cwd = process.get("cwd").text("/");
        SpecNode user = process.get("user");
        boolean userNs = Pipeline.creates(namespaces, NamespaceTable.USER);
        boolean switchIdentity = user.isPresent() || userNs;
        long uid = user.get("uid").longValue(0);
        long gid = user.get("gid").longValue(0);

        if (switchIdentity) {
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
        SpecNode caps = process.get("capabilities");
        if (caps.isPresent() || uid != 0) {
            List<String> names = caps.elements().stream().map(SpecNode::text).toList();
            String keep = names.stream().map(n -> Capabilities.number(n).orElseThrow()).sorted().map(String::valueOf)
                    .collect(Collectors.joining(","));
            out.add(finish("capabilities").arg("keep", keep)
                    .summary(names.isEmpty() ? "drop every capability (bounding, permitted, effective, inheritable, ambient)"
                            : "keep only " + String.join(", ", names))
                    .syscall("prctl(PR_CAPBSET_DROP, ...); capset(...); prctl(PR_CAP_AMBIENT, ...)").build());
        }
        if (process.get("noNewPrivileges").bool(false)) {
            out.add(finish("no-new-privs").summary("exec can never grant privileges again (setuid bits, file capabilities)")
                    .syscall("prctl(PR_SET_NO_NEW_PRIVS, 1)").build());
        }
        out.add(finish("chdir").arg("path", cwd).summary("working directory " + cwd).syscall("chdir(\"" + cwd + "\")").build());
        List<String> argv = options.commandOverride()
                .orElseGet(() -> process.get("command").elements().stream().map(SpecNode::text).toList());
        Map<String, String> env = environment(process, callerEnv, uid);
        List<String> envList = env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList();
        out.add(finish("exec").args("arg", argv).args("env", envList)
                .summary("run " + String.join(" ", argv))
                .syscall("execve(\"" + (argv.isEmpty() ? "" : argv.get(0)) + "\", argv[" + argv.size() + "], envp[" + envList.size() + "])").build());
        return out.stream().map(s -> s.withPlugin("process")).toList();
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
