package dev.sandbox.engine.pipeline;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.SpecNode;
import dev.sandbox.engine.seccomp.BuiltInProfile;
import dev.sandbox.engine.seccomp.Filter;
import dev.sandbox.engine.seccomp.SeccompCompiler;
import dev.sandbox.engine.seccomp.SeccompProfile;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@code process.seccomp}: {@code default} (the built-in profile, modelled on Docker's, plus the tty
 * filter), {@code unconfined} (no filter), or the path of a profile in Docker's JSON format, relative
 * to the spec file. Compiled here, into the plan: nothing is read when the sandbox starts.
 */
final class SeccompSection {

    static final String DEFAULT = "default";
    static final String UNCONFINED = "unconfined";
    private static final String BUILT_IN = BuiltInProfile.NAME;

    /** The filters to load, in order; the problems found; the profile file read (for the plan cache). */
    record Result(List<Filter> filters, List<Diagnostic> diagnostics, Optional<Input> input) {}

    /** A host file the plan was compiled from: the plan is stale once its content changes. */
    record Input(Path path, byte[] content) {}

    private SeccompSection() {}

    /**
     * What sandbox-init itself calls after loading the filter: with no_new_privs only the exec step
     * (signal dispositions, mask, umask, execve, exit on failure); without it also the identity and
     * capabilities steps, which come after the filter then.
     */
    static final List<String> AFTER_NNP = List.of("rt_sigaction", "rt_sigprocmask", "umask", "execve", "exit_group");
    static final List<String> AFTER_NO_NNP = List.of("setgroups", "setresgid", "setresuid", "capget", "capset", "prctl", "chdir");

    static Result resolve(SpecNode process, Path specDir, SeccompCompiler.Target target) {
        SpecNode value = process.get("seccomp");
        String setting = value.kind() == SpecNode.Kind.STRING ? value.text() : DEFAULT;
        List<Diagnostic> out = new ArrayList<>();
        if (setting.isEmpty()) return new Result(List.of(), out, Optional.empty()); // the schema's minLength says so
        if (setting.equals(UNCONFINED)) {
            out.add(Diagnostic.warning("process.tiocsti-not-filtered", "seccomp: unconfined loads no seccomp filter: every syscall is"
                            + " allowed, and a target on your terminal can push input into your shell with the TIOCSTI ioctl (only the new"
                            + " session closes that, and only when standard input is not a terminal)", value.path(), value.location(),
                    "remove 'seccomp' for the default profile; 'unconfined' is for a nested sandbox (unshare, mount, sandbox up inside)"));
            return new Result(List.of(), out, Optional.empty());
        }
        if (setting.equals(DEFAULT)) {
            // one compilation per target in this JVM: a lab's 20 nodes validate and compile the same profile 40 times
            // otherwise (about 10 ms of CPU each, most of a lab node's share of `up`; docs/performance.md "Labs")
            String key = target.arch() + " " + java.util.Arrays.toString(target.kernel()) + " " + new java.util.TreeSet<>(target.caps());
            return new Result(DEFAULT_FILTERS.computeIfAbsent(key, k -> defaultFilters(target)), out, Optional.empty());
        }
        Path file = specDir.resolve(setting).normalize();
        byte[] bytes;
        try {
            if (Files.isDirectory(file)) throw new IOException("is a directory");
            if (Files.exists(file) && !Files.isRegularFile(file)) throw new IOException("not a regular file");
            if (Files.exists(file) && Files.size(file) > SeccompProfile.MAX_BYTES) throw new IOException("larger than 4 MiB");
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            out.add(profileError(value, "seccomp profile " + file + " does not exist (ENOENT)",
                    "give 'default', 'unconfined' or the path of a profile in Docker's JSON format (relative to the spec file)"));
            return new Result(List.of(), out, Optional.empty());
        } catch (AccessDeniedException e) {
            out.add(profileError(value, "cannot read seccomp profile " + file + ": EACCES", "make it readable for you"));
            return new Result(List.of(), out, Optional.empty());
        } catch (IOException e) {
            out.add(profileError(value, "cannot read seccomp profile " + file + ": " + e.getMessage(), "give a regular file"));
            return new Result(List.of(), out, Optional.empty());
        }
        Filter filter;
        try {
            filter = SeccompCompiler.compile(SeccompProfile.parse(bytes), "profile " + setting, target);
        } catch (SeccompProfile.ProfileException e) {
            out.add(profileError(value, "seccomp profile " + e.describe(file.toString()),
                    "the format is Docker's (moby's profiles/seccomp/default.json): defaultAction, architectures or archMap, syscalls"));
            return new Result(List.of(), out, Optional.of(new Input(file, bytes)));
        }
        List<String> needed = new java.util.ArrayList<>(AFTER_NNP);
        if (!ProcessSection.noNewPrivileges(process)) needed.addAll(AFTER_NO_NNP);
        List<String> blocked = needed.stream().filter(filter::denies).toList();
        if (!blocked.isEmpty()) {
            out.add(Diagnostic.warning("process.seccomp-blocks-runtime", "seccomp profile " + setting + " denies " + String.join(", ", blocked)
                            + ", which sandbox-init itself calls after loading the filter: 'sandbox up' would fail before the command starts",
                    value.path(), value.location(), "allow " + String.join(", ", blocked) + " in the profile"));
        }
        if (!filter.deniesTiocsti()) {
            out.add(Diagnostic.warning("process.tiocsti-not-filtered", "seccomp profile " + setting + " does not deny the TIOCSTI ioctl"
                            + " (compared on the request's low 32 bits): a target on your terminal can push input into your shell (only the"
                            + " new session closes that, and only when standard input is not a terminal)", value.path(), value.location(),
                    "add {\"names\": [\"ioctl\"], \"action\": \"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 1, \"value\": 4294967295,"
                            + " \"valueTwo\": 21522, \"op\": \"SCMP_CMP_MASKED_EQ\"}]} to its syscalls and take 'ioctl' out of every rule that"
                            + " allows it without conditions (libseccomp drops the conditional rule next to an unconditional one), or use 'default'"));
        }
        return new Result(List.of(filter), out, Optional.of(new Input(file, bytes)));
    }

    private static final java.util.Map<String, List<Filter>> DEFAULT_FILTERS = new java.util.concurrent.ConcurrentHashMap<>();

    private static List<Filter> defaultFilters(SeccompCompiler.Target target) {
        try {
            Filter docker = SeccompCompiler.compile(SeccompProfile.parse(builtIn()), "docker default", target);
            // Why the tty filter first: it allows everything else, so the second seccomp_load() never
            // depends on the first filter allowing seccomp(2) and what libseccomp calls around it.
            // Same architectures as the profile: a filter kills calls of an architecture it lacks.
            return List.of(Filter.tty(docker.arches()), docker);
        } catch (SeccompProfile.ProfileException e) {
            throw new IllegalStateException("the built-in seccomp profile is broken: " + e.describe(BUILT_IN), e);
        }
    }

    private static Diagnostic profileError(SpecNode value, String message, String hint) {
        return Diagnostic.error("process.seccomp-profile", message, value.path(), value.location(), hint);
    }

    static byte[] builtIn() {
        return BuiltInProfile.bytes();
    }
}
