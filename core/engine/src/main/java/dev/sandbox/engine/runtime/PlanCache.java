package dev.sandbox.engine.runtime;

import dev.sandbox.api.Caller;
import dev.sandbox.api.Plan;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.SpecLoader;
import dev.sandbox.engine.spec.Variables;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Compiled plans, cached by a 128-bit hash of everything that went into them: the spec's bytes and path, the command
 * override, the caller, the environment variables the plan reads, the {@code --env-file} files' paths and
 * contents, the installed sandbox and plugin jars, /etc/subuid and /etc/subgid, the host's cgroup mounts,
 * architecture and kernel release. What only compiling the spec finds out is recorded in the entry and
 * re-checked on use: the digest of every file the spec included, the value of every variable it referenced
 * (or that it was unset), the content digest of every other file compiled into the plan (a seccomp
 * profile), and the type of each host path that shaped the plan (a bind source that is a file or a directory).
 *
 * <p>An entry is the canonical plan file ({@link PlanFile#canonical}) after a header of these checks (docs/cli.md,
 * "The plan cache"); it is read back with {@link PlanFile#parse}.
 *
 * <p>A hit lets {@code sandbox up} skip YAML parsing, schema validation and plugin loading, which are
 * most of its start-up time (docs/performance.md). Plans that name a running sandbox
 * ({@code join: {sandbox: ...}}) are never cached: that pid changes.
 */
public final class PlanCache {

    /**
     * Version 4: a header of validation lines, then {@code plan TAB <bytes>} and the canonical plan file
     * ({@link PlanFile#canonical}) byte for byte; an entry cut short is a miss. Version 3 had its own step lines.
     */
    static final String MAGIC = "sandbox-plan-cache 4";
    private static final int KEEP = 64;
    static final List<String> ENV_KEYS = List.of("TERM", "XDG_RUNTIME_DIR", "SANDBOX_RUNTIME_DIR", "HOME");

    /**
     * A cached plan with the runtime dir and the spec it names (its canonical file, {@link #text()}), the warnings its
     * validation printed, what the spec was made of (includes, variables) and the host files besides the spec
     * compiled into it (a seccomp profile) with the content digest it was compiled from.
     */
    public record Entry(Plan plan, Path runtimeDir, PlanFile.Source source, List<String> warnings, LoadedSpec.Inputs spec,
                        Map<Path, String> files) {
        public Entry {
            source = source == null ? PlanFile.Source.NONE : source;
            warnings = List.copyOf(warnings);
            files = Map.copyOf(files);
        }

        public Entry(Plan plan, Path runtimeDir, List<String> warnings, LoadedSpec.Inputs spec, Map<Path, String> files) {
            this(plan, runtimeDir, PlanFile.Source.NONE, warnings, spec, files);
        }

        public Entry(Plan plan, Path runtimeDir, List<String> warnings) {
            this(plan, runtimeDir, PlanFile.Source.NONE, warnings, LoadedSpec.Inputs.NONE, Map.of());
        }

        public Entry(Plan plan, Path runtimeDir, List<String> warnings, Map<Path, String> files) {
            this(plan, runtimeDir, PlanFile.Source.NONE, warnings, LoadedSpec.Inputs.NONE, files);
        }

        /** The canonical plan file: what the entry stores and what the runtime executes. */
        public String text() {
            return PlanFile.canonical(plan, runtimeDir, source).text();
        }
    }

    /** The content digest the cache compares an input file with (the same 128-bit hash as the key). */
    public static String digest(byte[] content) {
        Hash128 h = new Hash128();
        h.update(content);
        return h.hex();
    }

    private final Path dir;

    public PlanCache(Path dir) {
        this.dir = dir;
    }

    /** {@code /var/cache/sandbox/plans} for root, {@code $XDG_CACHE_HOME/sandbox/plans} or {@code ~/.cache/sandbox/plans} otherwise. */
    public static PlanCache forCaller(Caller caller, Map<String, String> env) {
        String override = env.get("SANDBOX_CACHE_DIR");
        if (override != null && !override.isEmpty()) return new PlanCache(Path.of(override));
        if (caller.isRoot()) return new PlanCache(Path.of("/var/cache/sandbox/plans"));
        String xdg = env.get("XDG_CACHE_HOME");
        String home = env.getOrDefault("HOME", System.getProperty("user.home"));
        return new PlanCache(xdg != null && !xdg.isEmpty() ? Path.of(xdg, "sandbox", "plans") : Path.of(home, ".cache", "sandbox", "plans"));
    }

    /** The cache key of one {@code up} invocation; empty when an input can't be read (then nothing is cached). */
    public static Optional<String> key(Path spec, Optional<List<String>> command, Caller caller, Map<String, String> env,
                                       Path home, List<Path> pluginDirs) {
        return key(spec, command, caller, env, home, pluginDirs, List.of());
    }

    /** The cache key of one {@code up} invocation with {@code --env-file} files (their paths and contents are part of it). */
    public static Optional<String> key(Path spec, Optional<List<String>> command, Caller caller, Map<String, String> env,
                                       Path home, List<Path> pluginDirs, List<Path> envFiles) {
        try {
            Hash128 sha = new Hash128();
            // not normalize(): with x a symbolic link, the kernel's x/../s.yaml (what the loader opens) is the link target's
            // sibling, normalize()'s another file (path_resolution(7)); the key must hash the bytes the loader reads
            Path abs = spec.toAbsolutePath();
            add(sha, "spec " + abs);
            // only what the loader would read: a FIFO, a device or a huge file is the loader's to report,
            // and must neither block nor fill the heap here
            var attributes = Files.readAttributes(abs, java.nio.file.attribute.BasicFileAttributes.class);
            if (!attributes.isRegularFile() || attributes.size() > dev.sandbox.engine.spec.SpecLoader.MAX_BYTES) return Optional.empty();
            byte[] bytes;
            try (var in = Files.newInputStream(abs)) {
                bytes = in.readNBytes(dev.sandbox.engine.spec.SpecLoader.MAX_BYTES + 1);
            }
            if (bytes.length > dev.sandbox.engine.spec.SpecLoader.MAX_BYTES) return Optional.empty();
            sha.update(bytes);
            // the runtime-dir step records the spec's git repository (docs/git.md, "Provenance"): a repository made or
            // removed around the spec is a different plan
            Path real = abs.toRealPath();
            add(sha, "git " + dev.sandbox.engine.provenance.SpecOrigin.repositoryTop(real).map(Path::toString).orElse("-") + " " + real);
            for (Path f : envFiles) {
                Optional<byte[]> content = boundedRead(f.toAbsolutePath());
                if (content.isEmpty()) return Optional.empty(); // the loader reports it
                add(sha, "env-file " + f.toAbsolutePath());
                sha.update(content.get());
                add(sha, "");
            }
            // escaped: UTF-8 would turn every byte that is not UTF-8 (RawText) into the same '?'
            add(sha, "command " + command.map(c -> c.stream().map(PlanFile::escape).collect(java.util.stream.Collectors.joining("\u0000")))
                    .orElse("-"));
            add(sha, "caller " + caller.uid() + " " + caller.gid() + " " + caller.userName());
            // the seccomp filters depend on the architecture and the kernel (a profile's minKernel), the
            // capabilities step on the kernel's cap_last_cap
            add(sha, "host " + System.getProperty("os.arch") + " " + System.getProperty("os.version"));
            for (String k : ENV_KEYS) add(sha, "env " + k + "=" + env.getOrDefault(k, ""));
            // process.rlimits is validated against the caller's hard limits (raising one needs privilege)
            add(sha, "rlimits " + new java.util.TreeMap<>(dev.sandbox.engine.host.HostProbe.hardLimits(Path.of("/proc/self/limits"))));
            if (home != null) listing(sha, home.resolve("lib"));
            for (Path d : pluginDirs) listing(sha, d);
            for (String f : List.of("/etc/subuid", "/etc/subgid")) {
                Path p = Path.of(f);
                if (Files.isReadable(p)) sha.update(Files.readAllBytes(p));
            }
            // the cgroup layout: the cgroup mounts of this mount namespace
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
                if (line.contains(" - cgroup")) add(sha, line);
            }
            return Optional.of(sha.hex());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** A regular file's bytes, read with the loader's bound; empty for anything else. */
    private static Optional<byte[]> boundedRead(Path file) {
        try {
            var attributes = Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class);
            if (!attributes.isRegularFile() || attributes.size() > SpecLoader.MAX_BYTES) return Optional.empty();
            byte[] bytes;
            try (var in = Files.newInputStream(file)) {
                bytes = in.readNBytes(SpecLoader.MAX_BYTES + 1);
            }
            return bytes.length > SpecLoader.MAX_BYTES ? Optional.empty() : Optional.of(bytes);
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static void add(Hash128 sha, String s) {
        sha.update(s.getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
    }

    private static void listing(Hash128 sha, Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            add(sha, "absent " + dir);
            return;
        }
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                add(sha, f + " " + Files.size(f) + " " + Files.getLastModifiedTime(f).toMillis());
            }
        }
    }

    public Optional<Entry> load(String key) {
        return load(key, Variables.of(System.getenv()));
    }

    /**
     * The entry for {@code key} when it is complete, trusted and still true: every included file has the
     * content it was compiled from, every referenced variable the value (or unset state) it had; and its plan is
     * a canonical plan file ({@link PlanFile#parse}, and rendering it again gives the same bytes).
     */
    public Optional<Entry> load(String key, Variables variables) {
        Path file = dir.resolve(key + ".plan");
        try {
            if (!Files.isRegularFile(file) || !trusted(dir) || !trusted(file)) return Optional.empty();
            byte[] bytes = Files.readAllBytes(file);
            List<String> warnings = new ArrayList<>();
            Map<Path, String> inputs = new java.util.LinkedHashMap<>();
            List<Path> files = new ArrayList<>();
            List<String> variableNames = new ArrayList<>();
            int at = 0;
            String planText = null;
            for (int n = 0; planText == null; n++) {
                int end = indexOf(bytes, (byte) '\n', at);
                if (end < 0) return Optional.empty(); // cut inside the header
                String line = new String(bytes, at, end - at, StandardCharsets.UTF_8);
                at = end + 1;
                if (n == 0) {
                    if (!line.equals(MAGIC)) return Optional.empty();
                    continue;
                }
                String[] f = line.split("\t", -1);
                switch (f[0]) {
                    case "assume" -> {
                        if (!typeOf(Path.of(unescape(f[2]))).equals(f[1])) return Optional.empty();
                    }
                    case "input" -> {
                        // a file compiled into the plan (a seccomp profile): an edit makes the entry stale
                        Path input = Path.of(unescape(f[2]));
                        if (!Files.isRegularFile(input) || !digest(Files.readAllBytes(input)).equals(f[1])) return Optional.empty();
                        inputs.put(input, f[1]);
                    }
                    case "include" -> {
                        Optional<byte[]> now = boundedRead(Path.of(unescape(f[1])));
                        if (now.isEmpty() || !digest(now.get()).equals(f[2])) return Optional.empty();
                        files.add(Path.of(unescape(f[1])));
                    }
                    case "var" -> {
                        Optional<String> now = variables.value(unescape(f[1]));
                        if (now.isEmpty() || !digest(now.get().getBytes(StandardCharsets.UTF_8)).equals(f[2])) return Optional.empty();
                        variableNames.add(unescape(f[1]));
                    }
                    case "unset" -> {
                        if (variables.value(unescape(f[1])).isPresent()) return Optional.empty();
                        variableNames.add(unescape(f[1]));
                    }
                    case "warning" -> warnings.add(unescape(f[1]));
                    case "plan" -> {
                        // Why a length: without it, an entry cut short (a crash before the data reached the disk) would
                        // load as a plan with fewer steps, e.g. without the finish steps that drop privileges.
                        if (Integer.parseInt(f[1]) != bytes.length - at) return Optional.empty();
                        planText = java.nio.charset.StandardCharsets.UTF_8.newDecoder()
                                .decode(java.nio.ByteBuffer.wrap(bytes, at, bytes.length - at)).toString();
                    }
                    default -> {
                        return Optional.empty();
                    }
                }
            }
            PlanFile.Parsed parsed = PlanFile.parse(planText);
            if (parsed.plan().steps().isEmpty()) return Optional.empty();
            Entry entry = new Entry(parsed.plan(), parsed.runtimeDir(), parsed.source(), warnings, LoadedSpec.Inputs.NONE, inputs);
            // only the canonical text itself: what runs is exactly what was stored
            if (!entry.text().equals(planText)) return Optional.empty();
            Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis()));
            files.addAll(inputs.keySet());
            loadedFiles = List.copyOf(files);
            loadedVariables = List.copyOf(variableNames);
            return Optional.of(entry);
        } catch (IOException | RuntimeException e) {
            return Optional.empty(); // a torn or foreign entry is a miss, never an error
        }
    }

    private static int indexOf(byte[] bytes, byte b, int from) {
        for (int i = from; i < bytes.length; i++) {
            if (bytes[i] == b) return i;
        }
        return -1;
    }

    /** Stores a plan; failures are ignored (the cache is an optimisation). */
    public void store(String key, Entry entry) {
        StringBuilder out = new StringBuilder(MAGIC).append('\n');
        assumed(entry).forEach((p, type) -> out.append("assume\t").append(type).append('\t').append(escape(p.toString())).append('\n'));
        entry.files().forEach((path, digest) -> out.append("input\t").append(digest).append('\t').append(escape(path.toString())).append('\n'));
        for (LoadedSpec.Input include : entry.spec().includes()) {
            // a blob of a git revision is never cached (the key needs a file), so every include here is a file
            if (include.file() == null) return;
            out.append("include\t").append(escape(include.file().toString())).append('\t').append(digest(include.bytes())).append('\n');
        }
        entry.spec().variables().forEach((name, value) -> out.append(value.isPresent()
                // a digest, not the value: a variable may hold a secret
                ? "var\t" + escape(name) + "\t" + digest(value.get().getBytes(StandardCharsets.UTF_8)) : "unset\t" + escape(name)).append('\n'));
        for (String w : entry.warnings()) out.append("warning\t").append(escape(w)).append('\n');
        String planText = entry.text();
        // text that is not Unicode (a lone surrogate in the spec's own text) is not cached: it would not read back
        if (!wellFormed(planText)) return;
        Path tmp = null;
        try {
            byte[] text = planText.getBytes(StandardCharsets.UTF_8);
            out.append("plan\t").append(text.length).append('\n');
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            if (!trusted(dir)) return;
            tmp = NativeIndex.createNew(dir, "entry-");
            try (var w = Files.newOutputStream(tmp)) {
                w.write(out.toString().getBytes(StandardCharsets.UTF_8));
                w.write(text);
            }
            Files.move(tmp, dir.resolve(key + ".plan"), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            tmp = null;
            prune();
        } catch (IOException | RuntimeException e) {
            // the cache is only an optimisation; just leave no temporary file behind
            try {
                if (tmp != null) Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // nothing more to do
            }
        }
    }

    /**
     * Whether UTF-8 can encode {@code s}: no unpaired surrogate (what {@code CharsetEncoder.canEncode} decides, without
     * its encoder machinery: ~2 ms of a cold up, docs/performance.md).
     */
    static boolean wellFormed(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1))) return false;
                i++;
            } else if (Character.isLowSurrogate(c)) {
                return false;
            }
        }
        return true;
    }

    /** The host paths that shaped the plan (a bind source that is a file or a directory) with their type now. */
    public static Map<Path, String> assumed(Entry entry) {
        Map<Path, String> out = new java.util.LinkedHashMap<>();
        for (Step step : entry.plan().steps()) {
            // the sandbox's cgroup is the runtime's to create (and a leftover one its to finish), like the runtime dir
            if (step.op().startsWith("cgroup-")) continue;
            for (String key2 : List.of("source", "path")) {
                step.arg(key2).filter(p -> p.startsWith("/") && step.stage().ordinal() <= Stage.MOUNTS.ordinal()
                                && !p.startsWith(entry.runtimeDir().toString()))
                        .ifPresent(p -> out.put(Path.of(p), typeOf(Path.of(p))));
            }
        }
        return out;
    }

    /** The cache's directory. */
    public Path dir() {
        return dir;
    }

    /**
     * What the last successful {@link #load} found the entry depends on: the included and compiled-in files, the
     * variables the spec referenced (for the native index, {@link NativeIndex}).
     */
    private List<Path> loadedFiles = List.of();
    private List<String> loadedVariables = List.of();

    public List<Path> loadedFiles() {
        return loadedFiles;
    }

    public List<String> loadedVariables() {
        return loadedVariables;
    }

    private void prune() throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            List<Path> plans = files.filter(p -> p.toString().endsWith(".plan"))
                    .sorted(Comparator.comparing((Path p) -> p.toFile().lastModified()).reversed()).toList();
            for (Path old : plans.subList(Math.min(KEEP, plans.size()), plans.size())) Files.deleteIfExists(old);
        }
        NativeIndex.prune(dir, KEEP);
    }

    /** Only our own, not writable by others: a cached plan is executed as is. */
    private static boolean trusted(Path p) throws IOException {
        PosixFileAttributes a = Files.readAttributes(p, PosixFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        String me = System.getProperty("user.name");
        return a.owner().getName().equals(me)
                && !a.permissions().contains(java.nio.file.attribute.PosixFilePermission.GROUP_WRITE)
                && !a.permissions().contains(java.nio.file.attribute.PosixFilePermission.OTHERS_WRITE);
    }

    /**
     * Two independent 64-bit hashes (FNV-1a and a multiply-rotate mix) over the same bytes: 128 bits
     * against accidental collisions. Not a cryptographic hash, and it needn't be: entries live in the
     * caller's private directory and only the caller's own inputs reach them. Chosen over SHA-256
     * because initialising the JCA providers costs ~15 ms of start-up (docs/performance.md).
     */
    static final class Hash128 {
        private long a = 0xcbf29ce484222325L;
        private long b = 0x9e3779b97f4a7c15L;
        private long n;

        void update(byte x) {
            a = (a ^ (x & 0xff)) * 0x100000001b3L;
            b = Long.rotateLeft(b ^ ((x & 0xff) * 0xbf58476d1ce4e5b9L), 27) * 0x94d049bb133111ebL + 0x632be59bd9b4e019L;
            n++;
        }

        void update(byte[] bytes) {
            for (byte x : bytes) update(x);
        }

        String hex() {
            long fb = b ^ n;
            fb = (fb ^ (fb >>> 31)) * 0xbf58476d1ce4e5b9L;
            fb ^= fb >>> 29;
            return hex16(a) + hex16(fb);
        }

        private static String hex16(long v) {
            String h = Long.toHexString(v);
            return "0000000000000000".substring(h.length()) + h;
        }
    }

    static String typeOf(Path p) {
        if (Files.isDirectory(p)) return "dir";
        if (Files.exists(p)) return "file";
        return "missing";
    }

    static String escape(String s) {
        return PlanFile.escape(s).replace("=", "%3D");
    }

    private static int hex(char hi, char lo) {
        int h = Character.digit(hi, 16), l = Character.digit(lo, 16);
        return h < 0 || l < 0 ? -1 : h << 4 | l;
    }

    /** %XX back to the char (a byte 0x80..0xFF back to RawText's U+DC80..U+DCFF); a malformed % stays as it is. */
    static String unescape(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            int b = c == '%' && i + 2 < s.length() ? hex(s.charAt(i + 1), s.charAt(i + 2)) : -1;
            if (b >= 0) {
                out.append((char) (b >= 0x80 ? 0xDC00 | b : b)); // a byte that is not UTF-8 (RawText)
                i += 2;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
