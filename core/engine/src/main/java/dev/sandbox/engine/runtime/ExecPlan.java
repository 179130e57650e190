package dev.sandbox.engine.runtime;

import dev.sandbox.api.Plan;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * The plan of {@code sandbox exec}: a process inside every namespace of a running sandbox (the tool's
 * {@code nsenter -a}), placed in its cgroup, with its process identity (uid, gid, groups, rlimits,
 * capabilities, no_new_privs, seccomp: the finish steps of the sandbox's own plan file {@code <rt>/plan})
 * unless the options say otherwise. It is an ordinary plan with a runtime dir of its own,
 * {@code <name>@exec-<id>} ({@link #recordName}), so the monitor's lock, journal and teardown apply as for
 * any sandbox; it creates nothing on the host but that dir.
 */
public final class ExecPlan {

    /** What {@code exec} was asked for; empty values keep the sandbox's own. */
    public record Options(Optional<String> user, List<String> env, Optional<String> cwd, Optional<List<String>> command, boolean tty) {

        public Options(Optional<String> user, List<String> env, Optional<String> cwd, Optional<List<String>> command) {
            this(user, env, cwd, command, false);
        }
    }

    /** A refusal, printed as one line {@code sandbox: exec NAME: <message>}. */
    public static final class ExecException extends Exception {
        public ExecException(String message) {
            super(message);
        }
    }

    /** The namespace types in the order nsenter -a lists them; the user namespace is placed by {@link #joins}. */
    static final List<String> TYPES = List.of("user", "cgroup", "ipc", "uts", "net", "pid", "mnt", "time");

    /** The finish steps that make up the sandbox's process identity, and the ones that set up its process. */
    private static final Set<String> KEPT = Set.of("close-fds", "new-session", "setrlimit", "setgroups", "setresgid", "setresuid",
            "capabilities", "no-new-privs", "chdir", "seccomp");
    private static final Set<String> IDENTITY = Set.of("setgroups", "setresgid", "setresuid");

    private ExecPlan() {}

    /**
     * The runtime dir name of an exec session of sandbox {@code name}: '@' can't be part of a sandbox's
     * name (schema: {@code ^[a-z0-9][a-z0-9_.-]{0,62}$}), so {@code ps} tells them apart (docs/cli.md).
     */
    public static String recordName(String name, long id) {
        return name + "@exec-" + id;
    }

    /** True for a runtime dir name that belongs to an exec session, not to a sandbox. */
    public static boolean isExecRecord(String dirName) {
        return dirName.contains("@exec-");
    }

    /**
     * Compiles the exec. {@code sandboxPlan} is the text of {@code <rt>/plan}; {@code root}: whether the
     * caller is root (a root caller joins the user namespace last, everyone else first: setns(2) needs
     * CAP_SYS_ADMIN over the other namespaces, which root has before and a rootless caller only after).
     */
    public static Plan compile(SandboxState state, String sandboxPlan, String recordName, boolean root, Options options)
            throws ExecException {
        PlanText parsed = PlanText.parse(sandboxPlan)
                .orElseThrow(() -> new ExecException("its plan " + state.dir().resolve("plan") + " is not a sandbox plan of version 1"));
        long pid = state.target().pid();
        List<Step> steps = new ArrayList<>(joins(pid, root));
        // its cgroup: the identity steps that placed the sandbox's helper place ours (C, cloned by it, inherits it)
        for (Step s : parsed.steps()) {
            if (s.stage() == Stage.IDENTITY && s.op().equals("cgroup-place")) {
                steps.add(Step.of(Stage.IDENTITY, "cgroup-place").arg("path", s.arg("path").orElse(""))
                        .summary("move the helper into the sandbox's cgroup " + s.arg("path").orElse("") + " before it clones").build());
            }
        }
        steps.add(Step.of(Stage.CLONE, "clone").arg("flags", "")
                .summary("start the child in the joined namespaces (pid: the sandbox's; a pid namespace joined by setns applies to children)")
                .build());
        steps.addAll(finish(parsed, state, pid, options));
        return new Plan(recordName, steps);
    }

    /** One join step per namespace the target does not share with us. */
    static List<Step> joins(long pid, boolean root) throws ExecException {
        List<Step> others = new ArrayList<>();
        Step user = null;
        for (String type : TYPES) {
            String proc = type;
            Path file = Path.of("/proc", Long.toString(pid), "ns", proc);
            if (!Files.exists(Path.of("/proc/self/ns", proc), LinkOption.NOFOLLOW_LINKS)) continue; // this kernel lacks the type
            Optional<Long> theirs = SandboxState.inode(file);
            if (theirs.isEmpty()) {
                throw new ExecException("can't read " + file + " (readlink: " + why(file) + ")");
            }
            Optional<Long> ours = SandboxState.inode(Path.of("/proc/self/ns", proc));
            if (ours.equals(theirs)) continue; // shared with us: nothing to enter (setns(2) refuses one's own user namespace)
            Step s = Step.of(Stage.ENTER, "join").arg("type", proc).arg("path", file.toString())
                    .summary("enter the sandbox's " + type + " namespace " + type + ":[" + theirs.get() + "]")
                    .syscall("setns(open(\"" + file + "\"), 0)").build();
            if (type.equals("user")) user = s;
            else others.add(s);
        }
        List<Step> out = new ArrayList<>();
        if (user != null && !root) out.add(user);
        out.addAll(others);
        if (user != null && root) out.add(user);
        return out;
    }

    private static String why(Path file) {
        try {
            Files.readSymbolicLink(file);
            return "?";
        } catch (IOException e) {
            return Errno.name(e);
        }
    }

    /** The sandbox's finish steps that make its process, with the options applied, and our exec. */
    static List<Step> finish(PlanText parsed, SandboxState state, long pid, Options options) throws ExecException {
        List<Step> theirs = parsed.steps().stream().filter(s -> s.stage() == Stage.FINISH).toList();
        Step exec = theirs.stream().filter(s -> s.op().equals("exec")).findFirst()
                .orElseThrow(() -> new ExecException("its plan has no exec step"));
        long sandboxUid = theirs.stream().filter(s -> s.op().equals("setresuid")).findFirst()
                .map(s -> Long.parseLong(s.arg("uid").orElse("0"))).orElse(0L);
        boolean hadGroups = theirs.stream().anyMatch(s -> s.op().equals("setgroups"));
        Optional<long[]> user = options.user().isPresent() ? Optional.of(user(options.user().get(), pid)) : Optional.empty();

        List<Step> out = new ArrayList<>();
        boolean identityDone = false;
        boolean cwdDone = false;
        for (Step s : theirs) {
            if (!KEPT.contains(s.op())) continue; // hostname, links, init: the sandbox's, done once; exec: ours below
            if (options.tty() && s.op().equals("new-session")) continue; // the pty step makes its own session
            if (user.isPresent() && IDENTITY.contains(s.op())) {
                if (!identityDone) out.addAll(identity(user.get(), hadGroups));
                identityDone = true;
                continue;
            }
            if (user.isPresent() && !identityDone && (s.op().equals("capabilities") || s.op().equals("no-new-privs") || s.op().equals("chdir"))) {
                out.addAll(identity(user.get(), hadGroups));
                identityDone = true;
            }
            if (s.op().equals("capabilities") && user.isPresent() && user.get()[0] != sandboxUid) {
                // another uid than the sandbox's: uid 0 keeps the sandbox's set only when it ran as 0, any other uid none
                String keep = user.get()[0] == 0 && sandboxUid == 0 ? s.arg("keep").orElse("") : "";
                out.add(Step.of(Stage.FINISH, "capabilities").arg("keep", keep)
                        .summary(keep.isEmpty() ? "drop every capability" : "keep the sandbox's capabilities").build());
                continue;
            }
            if (s.op().equals("chdir") && options.cwd().isPresent()) {
                out.add(chdir(options.cwd().get()));
                cwdDone = true;
                continue;
            }
            out.add(s);
            if (options.tty() && s.op().equals("close-fds")) out.add(pty());
        }
        if (options.tty() && out.stream().noneMatch(s -> s.op().equals("pty"))) out.add(0, pty());
        if (user.isPresent() && !identityDone) out.addAll(identity(user.get(), hadGroups));
        if (options.cwd().isPresent() && !cwdDone) out.add(chdir(options.cwd().get()));

        Map<String, String> env = new LinkedHashMap<>();
        for (String kv : exec.all("env")) {
            int eq = kv.indexOf('=');
            if (eq > 0) env.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        for (String kv : options.env()) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new ExecException("--env " + kv + ": expected KEY=VALUE");
            env.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        List<String> argv = options.command().orElse(List.of("/bin/sh"));
        out.add(Step.of(Stage.FINISH, "exec").args("arg", argv).args("env", env.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList())
                .summary("run " + String.join(" ", argv)).build());
        return out;
    }

    /** Whether the sandbox's root has {@code /bin/sh} (true when we can't look: the exec then says so). */
    public static boolean hasShell(long pid) {
        Path root = Path.of("/proc", Long.toString(pid), "root");
        if (!Files.isReadable(root)) return true;
        return Files.exists(root.resolve("bin/sh"), LinkOption.NOFOLLOW_LINKS);
    }

    /** -t: a pty of the sandbox's devpts as the command's terminal, its master proxied by the monitor (PROTOCOL.md, "pty"). */
    private static Step pty() {
        return Step.of(Stage.FINISH, "pty")
                .summary("a pty of the sandbox's own devpts as controlling terminal and stdin/stdout/stderr; its master goes to the monitor")
                .syscall("open(\"/dev/ptmx\"); ioctl(TIOCGPTPEER); setsid(); ioctl(TIOCSCTTY); sendmsg(SCM_RIGHTS)").build();
    }

    private static Step chdir(String dir) {
        return Step.of(Stage.FINISH, "chdir").arg("path", dir).summary("working directory " + dir).build();
    }

    private static List<Step> identity(long[] ug, boolean hadGroups) {
        List<Step> out = new ArrayList<>();
        // Why only when the sandbox had one: in a user namespace of a rootless caller setgroups(2) is denied
        // (/proc/PID/setgroups is "deny"), and the sandbox's own plan knew whether it may be called
        if (hadGroups) out.add(Step.of(Stage.FINISH, "setgroups").arg("groups", "").summary("drop every supplementary group").build());
        out.add(Step.of(Stage.FINISH, "setresgid").arg("gid", ug[1]).summary("become gid " + ug[1]).build());
        out.add(Step.of(Stage.FINISH, "setresuid").arg("uid", ug[0]).summary("become uid " + ug[0]).build());
        return out;
    }

    /**
     * {@code --user}: {@code UID[:GID]} in numbers, or a name (and {@code :GROUP}) from the sandbox's own
     * {@code /etc/passwd} and {@code /etc/group}. A uid without a gid gets the user's group from passwd, else 0
     * (as docker exec).
     */
    static long[] user(String spec, long pid) throws ExecException {
        String u = spec;
        String gpart = null;
        int colon = spec.indexOf(':');
        if (colon >= 0) {
            u = spec.substring(0, colon);
            gpart = spec.substring(colon + 1);
        }
        if (u.isEmpty()) throw new ExecException("--user " + spec + ": expected UID[:GID] or NAME[:GROUP]");
        Path root = Path.of("/proc", Long.toString(pid), "root");
        long uid;
        Long gid = null;
        if (u.chars().allMatch(Character::isDigit)) {
            uid = parseId(u, spec);
            Optional<String[]> entry = lookup(root.resolve("etc/passwd"), 2, u);
            if (entry.isPresent() && entry.get().length > 3) gid = parseId(entry.get()[3], spec);
        } else {
            String[] entry = lookup(root.resolve("etc/passwd"), 0, u)
                    .orElseThrow(() -> new ExecException("--user " + spec + ": no user '" + spec.substring(0, spec.indexOf(':') < 0 ? spec.length() : spec.indexOf(':'))
                            + "' in the sandbox's /etc/passwd; give a number"));
            if (entry.length < 4) throw new ExecException("--user " + spec + ": malformed /etc/passwd entry");
            uid = parseId(entry[2], spec);
            gid = parseId(entry[3], spec);
        }
        if (gpart != null) {
            if (gpart.isEmpty()) throw new ExecException("--user " + spec + ": expected UID[:GID] or NAME[:GROUP]");
            if (gpart.chars().allMatch(Character::isDigit)) {
                gid = parseId(gpart, spec);
            } else {
                final String g = gpart;
                String[] entry = lookup(root.resolve("etc/group"), 0, g)
                        .orElseThrow(() -> new ExecException("--user " + spec + ": no group '" + g + "' in the sandbox's /etc/group; give a number"));
                if (entry.length < 3) throw new ExecException("--user " + spec + ": malformed /etc/group entry");
                gid = parseId(entry[2], spec);
            }
        }
        return new long[] {uid, gid == null ? 0 : gid};
    }

    private static long parseId(String s, String spec) throws ExecException {
        try {
            long v = Long.parseLong(s);
            if (v < 0 || v > 4294967294L) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException e) {
            throw new ExecException("--user " + spec + ": '" + s + "' is not an id (0 .. 4294967294)");
        }
    }

    private static Optional<String[]> lookup(Path file, int column, String value) {
        // Why no symbolic links: through /proc/PID/root an absolute link would resolve on the host
        // (the JDK has no openat2 RESOLVE_IN_ROOT), naming ids from a file that is not the sandbox's
        if (Files.isSymbolicLink(file) || Files.isSymbolicLink(file.getParent())) return Optional.empty();
        try {
            for (String line : Files.readAllLines(file)) {
                String[] f = line.split(":", -1);
                if (f.length > column && f[column].equals(value)) return Optional.of(f);
            }
        } catch (IOException | RuntimeException e) {
            // no such file, or not readable: not found
        }
        return Optional.empty();
    }
}
