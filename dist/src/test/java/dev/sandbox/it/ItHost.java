package dev.sandbox.it;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The host side of the file-system, propagation, rootless and failure tests: host commands
 * (mount, umount, useradd...), the host's mount table, the processes a run may leave behind, and
 * {@code /work/shared/tools/leakcheck}.
 */
final class ItHost {

    private ItHost() {}

    /**
     * The leakcheck tool: {@code -Dsandbox.leakcheck=PATH}, else next to the repository
     * (../shared/tools/leakcheck), else /work/shared/tools/leakcheck (where it lives on the team's
     * machines, also for a copy of the repository elsewhere, e.g. a build mirror in /tmp).
     */
    static final Path LEAKCHECK = Stream.of(System.getProperty("sandbox.leakcheck", ""),
                    Cli.ROOT.resolveSibling("shared").resolve("tools/leakcheck").toString(), "/work/shared/tools/leakcheck")
            .filter(s -> !s.isEmpty()).map(Path::of).filter(Files::isExecutable).findFirst()
            .orElse(Cli.ROOT.resolveSibling("shared").resolve("tools/leakcheck"));

    record Run(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    /** Runs a host command to its end (60 s at most), with stdin from /dev/null. */
    static Run run(String... cmd) {
        return capture(new ProcessBuilder(cmd), 60, null, String.join(" ", cmd));
    }

    /**
     * The one way the tests run a process to its end: stdin from /dev/null, stdout and stderr captured (through files,
     * so a full pipe never blocks it), {@code during} called once it started (may be null), the process and its
     * descendants killed after {@code seconds}. {@code what} names it in the failure.
     */
    static Run capture(ProcessBuilder pb, int seconds, java.util.function.Consumer<Process> during, String what) {
        pb.redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
        try {
            Path out = Files.createTempFile("sandbox-it", ".out");
            Path err = Files.createTempFile("sandbox-it", ".err");
            try {
                pb.redirectOutput(out.toFile());
                pb.redirectError(err.toFile());
                Process p = pb.start();
                if (during != null) during.accept(p);
                if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                    p.waitFor();
                    throw new AssertionError(what + " did not finish in " + seconds + " s");
                }
                return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new AssertionError("could not run " + what, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Creates the unprivileged test {@code user} (useradd -m) when it is missing; it is kept for later runs. */
    static void ensureUser(String user) {
        if (run("id", "-u", user).exit() != 0) must("useradd", "-m", user);
    }

    /**
     * Copies the built distribution into {@code into}, readable and runnable by every user: the test user may not reach
     * the build's own directory.
     */
    static void copyDistribution(SpecDir into) {
        must("cp", "-r", Cli.DIST + "/.", into.dir.toString());
        must("chmod", "-R", "a+rX", into.dir.toString());
    }

    /** Runs a host command that must succeed. */
    static Run must(String... cmd) {
        Run r = run(cmd);
        if (r.exit() != 0) fail(String.join(" ", cmd) + " failed: " + r);
        return r;
    }

    // ---------------------------------------------------------------------------------------------
    // The host's mount table

    /** One line of /proc/self/mountinfo: mount point (unescaped), fs type, optional fields (shared:N master:N). */
    record MountLine(String line, String mountPoint, String fsType, String optional) {
        static MountLine parse(String line) {
            String[] halves = line.split(" - ", 2);
            String[] f = halves[0].split(" ");
            String fsType = halves.length > 1 ? halves[1].split(" ")[0] : "";
            String optional = f.length > 6 ? String.join(" ", Arrays.copyOfRange(f, 6, f.length)) : "";
            return new MountLine(line, unescape(f[4]), fsType, optional);
        }
    }

    /** The mount table of a mountinfo file's text. */
    static List<MountLine> mounts(String mountinfo) {
        return mountinfo.lines().filter(l -> !l.isBlank()).map(MountLine::parse).toList();
    }

    /** The host's mount table, as this (root, host mount namespace) test process sees it. */
    static List<MountLine> hostMounts() {
        try {
            return mounts(Files.readString(Path.of("/proc/self/mountinfo")));
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    static boolean isMountPoint(Path p) {
        String s = p.toAbsolutePath().normalize().toString();
        return hostMounts().stream().anyMatch(m -> m.mountPoint().equals(s));
    }

    /** Unmounts everything at or below {@code dir} (deepest first), lazily if a plain umount fails. Never throws. */
    static List<String> unmountAllUnder(Path dir) {
        List<String> problems = new ArrayList<>();
        String base = dir.toAbsolutePath().normalize().toString();
        for (int round = 0; round < 20; round++) {
            List<String> points = hostMounts().stream().map(MountLine::mountPoint)
                    .filter(m -> m.equals(base) || m.startsWith(base + "/"))
                    .sorted((a, b) -> b.length() - a.length()).toList();
            if (points.isEmpty()) return problems;
            String deepest = points.get(0);
            Run r = run("umount", deepest);
            if (r.exit() != 0) {
                Run lazy = run("umount", "-l", deepest);
                if (lazy.exit() != 0) problems.add("umount -l " + deepest + ": " + lazy.err().strip());
            }
        }
        problems.add("mounts left under " + base + " after 20 rounds");
        return problems;
    }

    /** mountinfo escapes space, tab, newline and backslash as octal. */
    static String unescape(String s) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length() && s.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                out.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    // ---------------------------------------------------------------------------------------------
    // What a run may leave behind

    /** Processes (other than this JVM) whose command line mentions {@code text}, e.g. a sandbox's runtime directory. */
    static List<ProcessHandle> processesMentioning(String text) {
        long self = ProcessHandle.current().pid();
        return ProcessHandle.allProcesses()
                .filter(p -> p.pid() != self)
                .filter(p -> cmdline(p.pid()).contains(text))
                .toList();
    }

    static String cmdline(long pid) {
        try {
            return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), StandardCharsets.UTF_8).replace('\0', ' ');
        } catch (IOException e) {
            return "";
        }
    }

    /** The cgroup directory the plan of {@code spec} creates (its cgroup-create step), if any. */
    static Optional<Path> plannedCgroup(Path spec) {
        Cli.Result plan = Cli.run("plan", "--format=json", spec.toString());
        if (plan.exit() != 0) fail("sandbox plan failed: " + plan);
        try {
            var steps = new com.fasterxml.jackson.databind.ObjectMapper().readTree(plan.out()).get("steps");
            for (var step : steps) {
                if (step.get("op").asText().equals("cgroup-create")) return Optional.of(Path.of(step.get("args").get("path").asText()));
            }
            return Optional.empty();
        } catch (IOException e) {
            throw new AssertionError("sandbox plan --format=json printed no JSON: " + plan, e);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // leakcheck

    /** Records the current state; the returned file is deleted by {@link #leaksSince}. */
    static Path leakBaseline() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isExecutable(LEAKCHECK), "leakcheck not found at " + LEAKCHECK);
        try {
            Path file = Files.createTempFile("sandbox-it-leak", ".txt");
            must(LEAKCHECK.toString(), "--save", file.toString());
            return file;
        } catch (IOException e) {
            throw new AssertionError(e);
        }
    }

    /**
     * What leakcheck reports as new since {@code baseline} that belongs to the sandbox {@code name}.
     * Other engineers' test runs share this machine, so a new line counts only when it can be tied
     * to this sandbox: it names it (state dir, cgroup, mount, process command line), or it is a
     * namespace with a process whose command line names it, or it is the shared cgroup parent
     * {@code sandbox} left empty (its sandboxes remove it when they leave it empty).
     */
    static List<String> leaksSince(Path baseline, String name) {
        try {
            Run r = run(LEAKCHECK.toString(), "--against", baseline.toString());
            if (r.exit() == 0) return List.of();
            if (r.exit() != 1) fail("leakcheck --against failed: " + r);
            List<String> mine = new ArrayList<>();
            for (String line : r.out().lines().toList()) {
                if (line.startsWith("leakcheck:") || line.isBlank()) continue;
                if (belongsTo(line, name)) mine.add(line);
            }
            return mine;
        } finally {
            try {
                Files.deleteIfExists(baseline);
            } catch (IOException ignored) {
                // a temp file
            }
        }
    }

    private static boolean belongsTo(String line, String name) {
        String[] f = line.split(" ");
        if (f[0].equals("ns") && f.length >= 3) {
            // "ns TYPE INODE COMMAND": is any process in that namespace ours?
            for (long pid : processesIn(f[1], f[2])) {
                if (cmdline(pid).contains(name) || ancestorsMention(pid, name)) return true;
            }
            return false;
        }
        if (f[0].equals("cgroup") && line.endsWith("/sandbox")) {
            Path parent = Path.of(line.substring("cgroup ".length()));
            sleepMs(2000); // another run may be creating or removing it right now
            try (var children = Files.list(parent)) {
                return children.noneMatch(Files::isDirectory);
            } catch (IOException e) {
                return false; // gone: it was someone else's, in passing
            }
        }
        return line.contains(name);
    }

    private static List<Long> processesIn(String type, String inode) {
        String link = nsLinkName(type) + ":[" + inode + "]";
        List<Long> out = new ArrayList<>();
        ProcessHandle.allProcesses().forEach(p -> {
            try {
                if (Files.readSymbolicLink(Path.of("/proc", Long.toString(p.pid()), "ns", nsLinkName(type))).toString().equals(link)) out.add(p.pid());
            } catch (IOException | UnsupportedOperationException ignored) {
                // gone, or a kernel thread
            }
        });
        return out;
    }

    private static String nsLinkName(String lsnsType) {
        return Map.of("mnt", "mnt", "net", "net", "pid", "pid", "uts", "uts", "ipc", "ipc", "user", "user", "cgroup", "cgroup", "time", "time")
                .getOrDefault(lsnsType, lsnsType);
    }

    private static boolean ancestorsMention(long pid, String text) {
        Optional<ProcessHandle> p = ProcessHandle.of(pid);
        for (int depth = 0; depth < 10 && p.isPresent(); depth++) {
            if (cmdline(p.get().pid()).contains(text)) return true;
            p = p.get().parent();
        }
        return false;
    }

    static void sleepMs(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** {@code key=value} lines a probe script printed; later keys win. */
    static Map<String, String> probe(String out) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String line : out.lines().toList()) {
            int eq = line.indexOf('=');
            if (eq > 0 && line.substring(0, eq).matches("[a-z][a-z0-9_.]*")) m.put(line.substring(0, eq), line.substring(eq + 1));
        }
        return m;
    }

    /** Neither the runtime dir of sandbox {@code name} nor any process of it is left (root's runtime base). */
    static void assertNothingLeftOf(String name) {
        org.junit.jupiter.api.Assertions.assertFalse(java.nio.file.Files.exists(java.nio.file.Path.of("/run/sandbox", name)),
                "runtime dir /run/sandbox/" + name + " is left");
        org.junit.jupiter.api.Assertions.assertEquals(java.util.List.of(), processesMentioning("/run/sandbox/" + name + "/").stream()
                .map(p -> p.pid() + " " + cmdline(p.pid())).toList(), "processes of sandbox " + name + " are left");
    }
}
