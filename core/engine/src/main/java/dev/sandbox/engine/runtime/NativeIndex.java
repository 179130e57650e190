package dev.sandbox.engine.runtime;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The native cache index: for a plan in the {@link PlanCache}, an entry the native front ({@code sandbox-init up},
 * core/native/src/front.c) can check without a JVM (issue 10; docs/architecture.md "The native cache index").
 *
 * <p>{@code <dir>/<fnv1a64(key)>.native} holds the key material verbatim (the front builds the same bytes from its own
 * argv, cwd, /proc and environment and compares byte for byte, so a hash collision can never select another call's
 * entry), then the dependency manifest: the stat identity of every file the compile read ({@code file dev ino size
 * mtime-ns ctime-ns path}, or {@code absent path}), the type of every host path the plan assumed, the value of every
 * variable the spec referenced, the stat identity of the plan text ({@code <hash>.plan-native}), the lines to print and
 * the runtime's arguments. Every token is {@link #escape escaped}.
 *
 * <p>Why stat identity and not digests: the front then reads no file but the entry. A write changes ctime, which no
 * one can set back; so an unchanged identity means unchanged content, except for a write in the same clock tick as the
 * compile read it. Against that ("racily clean", as git calls it) a file that changed less than {@link #RACY_MS} before
 * the JVM started is listed by content instead ({@code digest size sha256 path}, the SHA-256 of the bytes the compile
 * read; the front hashes the file): a spec, include, env file or seccomp profile written just before its {@code up}
 * still gets an entry. A racy file whose compiled bytes are unknown here (the installation, a plugin dir, /etc/passwd)
 * still means no entry: the next call writes it.
 */
public final class NativeIndex {

    static final String MAGIC = "sandbox-native-key 1";
    /** A file changed this close to the JVM's start may have changed in the same tick as it was read. */
    static final long RACY_MS = 1000;
    private static final List<String> PLAIN = List.of("TERM", "HOME", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME");
    private static final List<String> OWN = List.of("SANDBOX_FRONT", "SANDBOX_FRONT_REQUIRE", "SANDBOX_TRACE_CACHE", "SANDBOX_NO_JVM",
            "SANDBOX_HANDOFF");
    /** The largest racy file listed by its digest (the front reads it whole; front.c's FRONT_MAX_ENTRY). */
    static final int MAX_DIGESTED = 1 << 20;

    private NativeIndex() {}

    /**
     * What one {@code up} depended on: the files it read, the host paths it assumed, the variables it referenced; and the
     * bytes the compile read of the files it knows them of (absolute, normalized paths), for a racily clean one's digest.
     */
    public record Deps(List<Path> files, Map<Path, String> assumed, List<String> variables, Map<Path, byte[]> read) {
        public Deps(List<Path> files, Map<Path, String> assumed, List<String> variables) {
            this(files, assumed, variables, Map.of());
        }
    }

    /** Whether an environment variable is part of the key (front.c's front_env_keyed). */
    static boolean keyed(String name) {
        if (PLAIN.contains(name)) return true;
        return !OWN.contains(name) && name.startsWith("SANDBOX_");
    }

    /** Bytes outside 0x21..0x7e and '%' as %XX: a token never holds a space or a line break. */
    static String escape(byte[] bytes) {
        StringBuilder out = new StringBuilder(bytes.length);
        for (byte x : bytes) {
            int c = x & 0xff;
            if (c <= 0x20 || c >= 0x7f || c == '%') {
                out.append('%').append(Character.forDigit(c >> 4, 16)).append(Character.forDigit(c & 15, 16));
            } else {
                out.append((char) c);
            }
        }
        return out.toString();
    }

    /** FNV-1a 64: the entry's file name (front.c's front_fnv1a64). */
    static long fnv1a64(byte[] bytes) {
        long h = 0xcbf29ce484222325L;
        for (byte x : bytes) {
            h ^= x & 0xff;
            h *= 0x100000001b3L;
        }
        return h;
    }

    static String name(byte[] key) {
        String h = Long.toHexString(fnv1a64(key));
        return "0000000000000000".substring(h.length()) + h;
    }

    private static boolean ascii(String s) {
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) > 0x7e) return false;
        }
        return true;
    }

    private static String esc(String ascii) {
        return escape(ascii.getBytes(StandardCharsets.ISO_8859_1));
    }

    /**
     * The key material of this JVM's {@code up}: {@code argCount} is the number of main's arguments (the last entries
     * of /proc/self/cmdline, "up" first). Empty when a fact can't be had exactly as the front sees it.
     */
    public static Optional<byte[]> keyMaterial(Path home, int argCount) {
        try {
            List<byte[]> cmdline = split(Files.readAllBytes(Path.of("/proc/self/cmdline")));
            if (argCount < 1 || cmdline.size() < argCount) return Optional.empty();
            List<byte[]> args = cmdline.subList(cmdline.size() - argCount, cmdline.size());
            if (!Arrays.equals(args.get(0), "up".getBytes(StandardCharsets.US_ASCII))) return Optional.empty();
            String cwd = Files.readSymbolicLink(Path.of("/proc/self/cwd")).toString();
            String h = home.toString();
            if (!ascii(cwd) || !ascii(h)) return Optional.empty();
            return Optional.of(keyMaterial(h, cwd, args.subList(1, args.size()), Files.readAllLines(Path.of("/proc/self/status")),
                    readOsRelease(), Files.readAllLines(Path.of("/proc/self/limits")), Files.readAllLines(Path.of("/proc/self/mountinfo")),
                    Files.readAllBytes(Path.of("/proc/self/environ"))));
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private static String readOsRelease() throws IOException {
        List<String> lines = Files.readAllLines(Path.of("/proc/sys/kernel/osrelease"));
        return lines.isEmpty() ? "" : lines.get(0).strip();
    }

    /** The key material from its parts (front.c's key_material builds the same bytes). */
    static byte[] keyMaterial(String home, String cwd, List<byte[]> args, List<String> status, String osrelease,
                              List<String> limits, List<String> mountinfo, byte[] environ) {
        StringBuilder k = new StringBuilder(MAGIC).append('\n');
        k.append("home ").append(esc(home)).append('\n');
        k.append("cwd ").append(esc(cwd)).append('\n');
        for (byte[] a : args) k.append("arg ").append(escape(a)).append('\n');
        for (String line : status) {
            if (line.startsWith("Uid:") || line.startsWith("Gid:") || line.startsWith("Groups:")) {
                k.append("status ").append(esc(line)).append('\n');
            }
        }
        k.append("osrelease ").append(esc(osrelease)).append('\n');
        // proc(5): "%-25s %-20s %-20s %-10s"; the JVM raises soft limits, never the hard ones
        for (String line : limits.subList(Math.min(1, limits.size()), limits.size())) {
            int n = line.length();
            String name = line.substring(0, Math.min(26, n)).stripTrailing();
            String hard = line.substring(Math.min(47, n), Math.min(67, n)).stripTrailing();
            k.append("limit ").append(esc(name)).append(' ').append(esc(hard)).append('\n');
        }
        for (String line : mountinfo) {
            if (line.contains(" - cgroup")) k.append("mount ").append(esc(line)).append('\n');
        }
        List<byte[]> vars = new ArrayList<>();
        for (byte[] e : split(environ)) {
            int eq = indexOf(e, (byte) '=');
            if (eq > 0 && keyed(new String(e, 0, eq, StandardCharsets.ISO_8859_1))) vars.add(e);
        }
        vars.sort(Arrays::compareUnsigned); // strcmp's order
        for (byte[] e : vars) {
            int eq = indexOf(e, (byte) '=');
            k.append("env ").append(escape(Arrays.copyOf(e, eq))).append(' ').append(escape(Arrays.copyOfRange(e, eq + 1, e.length))).append('\n');
        }
        k.append("end-key\n");
        return k.toString().getBytes(StandardCharsets.ISO_8859_1);
    }

    private static int indexOf(byte[] bytes, byte b) {
        for (int i = 0; i < bytes.length; i++) {
            if (bytes[i] == b) return i;
        }
        return -1;
    }

    private static List<byte[]> split(byte[] nulTerminated) {
        List<byte[]> out = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < nulTerminated.length; i++) {
            if (nulTerminated[i] == 0) {
                out.add(Arrays.copyOfRange(nulTerminated, start, i));
                start = i + 1;
            }
        }
        if (start < nulTerminated.length) out.add(Arrays.copyOfRange(nulTerminated, start, nulTerminated.length));
        return out;
    }

    /** The raw value of each variable in this process's environment (what the front's getenv sees). */
    private static Map<String, byte[]> environ() throws IOException {
        Map<String, byte[]> out = new java.util.HashMap<>();
        for (byte[] e : split(Files.readAllBytes(Path.of("/proc/self/environ")))) {
            int eq = indexOf(e, (byte) '=');
            if (eq > 0) out.putIfAbsent(new String(e, 0, eq, StandardCharsets.ISO_8859_1), Arrays.copyOfRange(e, eq + 1, e.length));
        }
        return out;
    }

    /** The files of the distribution and the plugin dirs the compile depended on (the key of PlanCache lists them too). */
    public static List<Path> installed(Path home, List<Path> pluginDirs) {
        List<Path> out = new ArrayList<>();
        out.add(home.resolve("lib"));
        out.add(home.resolve("libexec").resolve("sandbox-init"));
        out.addAll(pluginDirs);
        for (String f : List.of("/etc/subuid", "/etc/subgid", "/etc/passwd", "/etc/group")) out.add(Path.of(f));
        return out;
    }

    /** The file name of the entry for {@code key}, without ".native" (what the front looks up). */
    public static String entryName(byte[] key) {
        return name(key);
    }

    /**
     * Writes the entry for this call; writes nothing when anything is in doubt (a racy file of unknown content, a name that
     * is not ASCII, a directory that is not ours) and says why. {@code jvmStart} in ms since the epoch.
     *
     * @return empty when the entry was written, else why not
     */
    public static Optional<String> write(Path dir, byte[] key, Deps deps, String planText, List<String> say, List<String> runArgs,
                                         long jvmStart) {
        Path tmp = null;
        try {
            StringBuilder m = new StringBuilder();
            long racy = jvmStart - RACY_MS;
            Map<Path, byte[]> read = new java.util.HashMap<>();
            deps.read().forEach((path, bytes) -> read.put(path.toAbsolutePath().normalize(), bytes));
            for (Path f : deps.files()) {
                // Why not normalize(): it drops "x/.." without asking the kernel, and when x is a symbolic link the kernel's
                // x/.. is the link target's parent (path_resolution(7)); the front stats the line's path as the kernel
                // resolves it, so the line must be the path the compile opened, "x/../spec.yaml" as given
                String p = f.toAbsolutePath().toString();
                if (!ascii(p)) return Optional.of("a path that is not ASCII");
                Path abs = Path.of(p);
                if (!Files.exists(abs)) {
                    m.append("absent ").append(esc(p)).append('\n');
                    continue;
                }
                if (!stat(m, abs, racy)) {
                    // racily clean: the bytes the compile read, by content (front.c's front_digest_matches)
                    byte[] bytes = read.get(abs);
                    // the bytes were read through this very path (the spec, an env file); the compile names them normalized
                    if (bytes == null) bytes = read.get(abs.normalize());
                    if (bytes == null || Files.isDirectory(abs) || bytes.length > MAX_DIGESTED) {
                        return Optional.of(p + " changed less than " + RACY_MS + " ms before the JVM started");
                    }
                    m.append("digest ").append(bytes.length).append(' ').append(sha256(bytes)).append(' ').append(esc(p)).append('\n');
                    continue;
                }
                if (Files.isDirectory(abs)) {
                    // a directory's ctime and mtime change when an entry is added, removed or renamed; each file's own identity covers edits
                    try (Stream<Path> list = Files.list(abs)) {
                        for (Path e : list.sorted().toList()) {
                            if (!ascii(e.toString())) return Optional.of("a path that is not ASCII");
                            if (!stat(m, e, racy)) return Optional.of(e + " changed less than " + RACY_MS + " ms before the JVM started");
                        }
                    }
                }
            }
            for (var a : deps.assumed().entrySet()) {
                if (!ascii(a.getKey().toString())) return Optional.of("a path that is not ASCII");
                m.append("assume ").append(a.getValue()).append(' ').append(esc(a.getKey().toString())).append('\n');
            }
            Map<String, byte[]> env = environ();
            for (String v : new java.util.TreeSet<>(deps.variables())) {
                if (!ascii(v)) return Optional.of("a variable name that is not ASCII");
                byte[] value = env.get(v);
                m.append(value == null ? "unset " + esc(v) : "var " + esc(v) + " " + escape(value)).append('\n');
            }
            byte[] plan = planText.getBytes(StandardCharsets.UTF_8);
            String name = name(key);
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            // the front uses a directory only when it is the caller's alone and not a symbolic link (front.c: O_NOFOLLOW,
            // trusted()): an entry written anywhere else would never be used, and prime would call the call cacheable
            if (Files.isSymbolicLink(dir) || !callersAlone(dir)) {
                return Optional.of("the cache directory " + dir + " is not the caller's alone (another owner, group- or other-writable,"
                        + " or a symbolic link): the native front would not use it");
            }
            // Why: two identical calls at once (a build's parallel test sandboxes) would each rewrite the pair, and a front
            // reading between one's plan and the other's entry sees a torn pair (a miss); an entry that is already exactly
            // this one, with the same plan text, is left as it is
            if (unchanged(dir, name, key, m.toString(), plan, say, runArgs)) return Optional.empty();
            tmp = create(dir);
            Files.write(tmp, plan);
            Path planFile = dir.resolve(name + ".plan-native");
            Files.move(tmp, planFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            tmp = null;
            StringBuilder identity = new StringBuilder();
            stat(identity, planFile, Long.MAX_VALUE);
            m.append("plan").append(identity.substring("file".length(), identity.lastIndexOf(" "))).append('\n');
            m.append(trailer(say, runArgs));
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.write(key);
            out.write(m.toString().getBytes(StandardCharsets.ISO_8859_1));
            tmp = create(dir);
            Files.write(tmp, out.toByteArray());
            Files.move(tmp, dir.resolve(name + ".native"), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            tmp = null;
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            // an optimisation only: the JVM path stays
            return Optional.of("the entry could not be written: " + e);
        } finally {
            try {
                if (tmp != null) Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // nothing more to do
            }
        }
    }

    private static Path create(Path dir) throws IOException {
        return createNew(dir, "native-");
    }

    /**
     * A new empty 0600 file {@code PREFIX<pid>-<random>.tmp} in {@code dir}. Not Files.createTempFile: its SecureRandom
     * costs ~10 ms (docs/performance.md); O_EXCL (CREATE_NEW) makes a guessable name safe.
     */
    static Path createNew(Path dir, String prefix) throws IOException {
        for (int attempt = 0; ; attempt++) {
            Path f = dir.resolve(prefix + ProcessHandle.current().pid() + "-"
                    + Long.toHexString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE) + ".tmp");
            try {
                return Files.createFile(f, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } catch (FileAlreadyExistsException e) {
                if (attempt >= 10) throw e;
            }
        }
    }

    /** Appends {@code file dev ino size mtime-ns ctime-ns path}; false when the file changed after {@code racy} (ms). */
    static boolean stat(StringBuilder m, Path p, long racy) throws IOException {
        Map<String, Object> a = Files.readAttributes(p, "unix:dev,ino,size,lastModifiedTime,ctime");
        long mtime = ((FileTime) a.get("lastModifiedTime")).to(TimeUnit.NANOSECONDS);
        long ctime = ((FileTime) a.get("ctime")).to(TimeUnit.NANOSECONDS);
        if (Math.max(mtime, ctime) / 1_000_000 >= racy) return false;
        m.append("file ").append(Long.toUnsignedString((Long) a.get("dev"))).append(' ').append(Long.toUnsignedString((Long) a.get("ino")))
                .append(' ').append(a.get("size")).append(' ').append(mtime).append(' ').append(ctime).append(' ').append(esc(p.toString())).append('\n');
        return true;
    }

    /**
     * What the spec's git provenance depends on (PlanCache's key holds the repository around the spec:
     * {@code SpecOrigin.repositoryTop}): for each directory from the spec's real parent up to the working tree's top (or /),
     * its {@code .git}: {@code missing} or {@code dir} into {@code assumed}; a {@code .git} file (a linked worktree, a
     * submodule) into {@code files}, whose identity covers its {@code gitdir:} line. So a {@code git init} around a cached
     * spec, or a repository removed, is a miss. Returns why not when a {@code .git} is something else (a symlink, a FIFO).
     */
    public static Optional<String> gitChain(Path spec, Map<Path, String> assumed, List<Path> files) {
        Path real;
        try {
            real = spec.toRealPath();
        } catch (IOException e) {
            return Optional.of("the spec's real path: " + e.getMessage());
        }
        for (Path dir = real.getParent(); dir != null; dir = dir.getParent()) {
            Path git = dir.resolve(".git");
            java.nio.file.attribute.BasicFileAttributes a;
            try {
                a = Files.readAttributes(git, java.nio.file.attribute.BasicFileAttributes.class, java.nio.file.LinkOption.NOFOLLOW_LINKS);
            } catch (java.nio.file.NoSuchFileException e) {
                assumed.put(git, "missing");
                continue;
            } catch (IOException e) {
                return Optional.of(git + ": " + e.getMessage());
            }
            if (a.isDirectory()) {
                assumed.put(git, "dir");
                return Optional.empty();
            }
            if (!a.isRegularFile()) return Optional.of(git + " is neither a directory nor a file");
            files.add(git);
            if (dev.sandbox.engine.provenance.SpecOrigin.repositoryTop(git).map(dir::equals).orElse(false)) return Optional.empty();
        }
        return Optional.empty();
    }

    /** The trailer of an entry after its plan line. */
    private static String trailer(List<String> say, List<String> runArgs) {
        StringBuilder m = new StringBuilder();
        for (String s : say) m.append("say ").append(escape(s.getBytes(StandardCharsets.UTF_8))).append('\n');
        for (String r : runArgs) m.append("run ").append(escape(r.getBytes(StandardCharsets.UTF_8))).append('\n');
        return m.append("end\n").toString();
    }

    /** Whether {@code <name>.native} and {@code <name>.plan-native} already are what this call would write. */
    private static boolean unchanged(Path dir, String name, byte[] key, String manifest, byte[] plan, List<String> say, List<String> runArgs) {
        try {
            Path planFile = dir.resolve(name + ".plan-native");
            Path entryFile = dir.resolve(name + ".native");
            if (!Files.isRegularFile(planFile, java.nio.file.LinkOption.NOFOLLOW_LINKS)
                    || !Files.isRegularFile(entryFile, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return false;
            // Why: the front uses only an entry that is the caller's alone (front.c's trusted()); an identical one that it would
            // refuse (chmod g+w, another owner) is rewritten, else every later call would miss and come here again
            if (!callersAlone(planFile) || !callersAlone(entryFile)) return false;
            StringBuilder identity = new StringBuilder();
            stat(identity, planFile, Long.MAX_VALUE);
            if (!Arrays.equals(Files.readAllBytes(planFile), plan)) return false;
            String want = manifest + "plan" + identity.substring("file".length(), identity.lastIndexOf(" ")) + "\n" + trailer(say, runArgs);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            out.write(key);
            out.write(want.getBytes(StandardCharsets.ISO_8859_1));
            // the plan file again: it must still be the one the entry names
            StringBuilder again = new StringBuilder();
            stat(again, planFile, Long.MAX_VALUE);
            return again.toString().equals(identity.toString()) && Arrays.equals(Files.readAllBytes(entryFile), out.toByteArray());
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Owned by this process's uid and writable by neither group nor others (front.c's trusted()). */
    private static boolean callersAlone(Path p) throws IOException {
        int uid = (Integer) Files.getAttribute(p, "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS);
        int mode = (Integer) Files.getAttribute(p, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
        return uid == RuntimePaths.effectiveUid() && (mode & 0022) == 0;
    }

    /** SHA-256 as lowercase hex (front.c's front_sha256). */
    static String sha256(byte[] bytes) {
        try {
            return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    /** Keeps the newest {@code keep} entries (and their plan texts). */
    static void prune(Path dir, int keep) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> entries = files.filter(p -> p.toString().endsWith(".native"))
                    .sorted(java.util.Comparator.comparing((Path p) -> p.toFile().lastModified()).reversed()).toList();
            for (Path old : entries.subList(Math.min(keep, entries.size()), entries.size())) {
                Files.deleteIfExists(old);
                String n = old.getFileName().toString();
                Files.deleteIfExists(old.resolveSibling(n.substring(0, n.length() - ".native".length()) + ".plan-native"));
            }
        }
    }

}
