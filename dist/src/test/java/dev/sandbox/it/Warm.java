package dev.sandbox.it;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * The warm mode of the end-to-end tests ({@code -Dsandbox.it.warm=true}; issue 10's "Done means": the suite green through
 * the warm path as well as the cold one; docs/performance.md "The tests' warm mode"). Every {@code sandbox up} the tests
 * run through {@link Cli}, {@link LaunchedSandbox}, {@link PtyRun} or {@link #command} is first primed
 * ({@code SANDBOX_FRONT=prime}: the JVM compiles and writes the plan cache's and the native index's entries, runs nothing,
 * and says whether the native front can serve the call); when it can, the test's own call runs with
 * {@code SANDBOX_FRONT_REQUIRE=hit}, so it is served by the native front without a JVM or fails with exit 125 and the
 * front's reason. The test's assertions are unchanged: whatever they check, they check on the warm path.
 *
 * <p>SANDBOX_NO_CACHE ("compile afresh") is removed from a call (priming always compiles afresh). Calls whose test drives
 * the cache itself are left alone: SANDBOX_TRACE_CACHE, SANDBOX_NO_JVM or a SANDBOX_FRONT* in their environment or prefix,
 * or a test class or method marked {@link Cold}. The counts, and each reason a call was not cacheable with one example, go to
 * {@code target/it-warm-summary.txt} when the JVM ends.
 */
final class Warm {

    /** A test (class or method) whose {@code up} calls stay as written in warm mode: it tests the cold path or the cache itself. */
    @java.lang.annotation.Retention(java.lang.annotation.RetentionPolicy.RUNTIME)
    @java.lang.annotation.Target({java.lang.annotation.ElementType.TYPE, java.lang.annotation.ElementType.METHOD})
    @interface Cold {
        /** Why. */
        String value();
    }

    static final boolean ON = Boolean.getBoolean("sandbox.it.warm");
    private static final List<String> OWN = List.of("SANDBOX_FRONT", "SANDBOX_TRACE_CACHE", "SANDBOX_NO_JVM");
    static final String REQUIRE_MISS = "sandbox: up: SANDBOX_FRONT_REQUIRE=hit, but the native cache missed";
    private static final String CACHEABLE = "sandbox: prime: cacheable ";
    private static final String NOT_CACHEABLE = "sandbox: prime: not cacheable: ";

    private static int ups, leftAlone, primedWarm;
    private static final Map<String, Integer> cold = new TreeMap<>();
    private static final Map<String, String> example = new TreeMap<>();
    /** Per test class: up calls, and how many of them were run through the front. */
    private static final Map<String, int[]> perClass = new TreeMap<>();

    static {
        if (ON) Runtime.getRuntime().addShutdownHook(new Thread(Warm::summary));
    }

    private Warm() {}

    /**
     * The command to start for {@code prefix home/bin/sandbox args} in {@code cwd} (null: this JVM's) with {@code env} added:
     * the same command when warm mode is off or the call is not an {@code up}; else the call is primed first, and the
     * command returned requires a front hit when priming said the front can serve it.
     */
    static List<String> command(List<String> prefix, Map<String, String> env, Path home, Path cwd, List<String> args) {
        List<String> plain = new ArrayList<>(prefix);
        plain.add(home.resolve("bin/sandbox").toString());
        plain.addAll(args);
        if (!ON || args.isEmpty() || !args.get(0).equals("up")) return plain;
        String testClass = caller().replaceAll("\\..*", "");
        synchronized (Warm.class) {
            ups++;
            perClass.computeIfAbsent(testClass, c -> new int[2])[0]++;
        }
        if (drivesTheCache(prefix, env) || markedCold()) {
            synchronized (Warm.class) {
                leftAlone++;
            }
            return plain;
        }
        String verdict = prime(prefix, env, home, cwd, args);
        if (verdict != null) {
            synchronized (Warm.class) {
                cold.merge(verdict, 1, Integer::sum);
                example.putIfAbsent(verdict, caller() + ": up " + String.join(" ", args.subList(1, args.size())));
            }
            return plain;
        }
        synchronized (Warm.class) {
            primedWarm++;
            perClass.get(testClass)[1]++;
        }
        return with(prefix, "SANDBOX_FRONT_REQUIRE=hit", home, args);
    }

    /** {@link #command} for a shell command line ({@code PtyRun}, run under script(1)): {@code launcher up ...} words split at spaces. */
    static String commandLine(String line) {
        if (!ON) return line;
        String launcher = Cli.DIST.resolve("bin/sandbox").toString();
        if (!line.startsWith(launcher + " up ")) return line;
        List<String> words = new ArrayList<>();
        StringBuilder redirections = new StringBuilder();
        for (String w : line.substring(launcher.length() + 1).split(" +")) {
            if (w.startsWith("<") || w.startsWith(">") || redirections.length() > 0) {
                redirections.append(' ').append(w); // the shell's, not the launcher's
                continue;
            }
            if (w.contains("'") || w.contains("\"") || w.contains("$") || w.contains("\\")) return line; // not a plain argument vector
            words.add(w);
        }
        return String.join(" ", command(List.of(), Map.of(), Cli.DIST, null, words)) + redirections;
    }

    private static final StackWalker WALKER = StackWalker.getInstance(StackWalker.Option.RETAIN_CLASS_REFERENCE);

    /** Whether a test class or method on the stack is marked {@link Cold}. */
    private static boolean markedCold() {
        return WALKER.walk(frames -> frames.anyMatch(f -> {
            Class<?> c = f.getDeclaringClass();
            if (c.isAnnotationPresent(Cold.class)) return true;
            for (var m : c.getDeclaredMethods()) {
                if (m.getName().equals(f.getMethodName()) && m.isAnnotationPresent(Cold.class)) return true;
            }
            return false;
        }));
    }

    /** The test class and method that made the call. */
    private static String caller() {
        return WALKER.walk(frames -> frames.filter(f -> f.getClassName().endsWith("IT")).findFirst()
                .map(f -> f.getClassName().substring(f.getClassName().lastIndexOf('.') + 1) + "." + f.getMethodName()).orElse("?"));
    }

    private static boolean drivesTheCache(List<String> prefix, Map<String, String> env) {
        for (String name : OWN) {
            if (env.containsKey(name) || System.getenv(name) != null) return true;
            for (String p : prefix) {
                if (p.startsWith(name)) return true;
            }
        }
        return false;
    }

    private static List<String> with(List<String> prefix, String assignment, Path home, List<String> args) {
        // env(1) after the prefix (runuser, env -u ...): the variable reaches the launcher whatever the prefix does with the
        // environment, and exec keeps the pid (LaunchedSandbox.pid() is still the monitor)
        // SANDBOX_NO_CACHE ("compile afresh") removed: priming compiles afresh
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(List.of("/usr/bin/env", "-u", "SANDBOX_NO_CACHE", assignment, home.resolve("bin/sandbox").toString()));
        cmd.addAll(args);
        return cmd;
    }

    private static final Object PRIMING = new Object();

    /**
     * Primes the call; null when the front can serve it, else why not (for the summary). One at a time: two identical
     * calls a test starts together (FailureIT) are primed one after the other, so the second finds the first's entry
     * already there and leaves it as it is (NativeIndex.write) instead of tearing the pair under the first's run.
     */
    private static String prime(List<String> prefix, Map<String, String> env, Path home, Path cwd, List<String> args) {
        synchronized (PRIMING) {
            return primeNow(prefix, env, home, cwd, args);
        }
    }

    private static String primeNow(List<String> prefix, Map<String, String> env, Path home, Path cwd, List<String> args) {
        ProcessBuilder pb = new ProcessBuilder(with(prefix, "SANDBOX_FRONT=prime", home, args));
        pb.environment().putAll(env);
        if (cwd != null) pb.directory(cwd.toFile());
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
        try {
            Path err = Files.createTempFile("sandbox-it-prime", ".err");
            try {
                pb.redirectError(err.toFile());
                Process p = pb.start();
                if (!p.waitFor(120, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    p.waitFor();
                    throw new AssertionError("priming " + String.join(" ", args) + " did not finish in 120 s");
                }
                String text = Files.readString(err, StandardCharsets.UTF_8);
                for (String line : text.lines().toList()) {
                    if (line.startsWith(CACHEABLE)) return null;
                    // temp names (sandbox-it-1234...) vary: one reason, counted together
                    if (line.startsWith(NOT_CACHEABLE)) return line.substring(NOT_CACHEABLE.length()).replaceAll("[0-9]{5,}", "N");
                }
                // the JVM refused the call (an invalid spec): the test's own call shows that, cold
                return "priming ended with " + p.exitValue() + " (the call is refused before a plan exists)";
            } finally {
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new AssertionError("could not prime " + args, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    private static synchronized void summary() {
        StringBuilder s = new StringBuilder();
        s.append("warm mode: ").append(ups).append(" up calls; ").append(primedWarm).append(" primed and run through the native front (")
                .append("SANDBOX_FRONT_REQUIRE=hit); ").append(leftAlone).append(" left alone (the test drives the cache itself); ")
                .append(ups - primedWarm - leftAlone).append(" not cacheable:\n");
        cold.forEach((why, n) -> s.append("  ").append(n).append(" x ").append(why).append("\n      e.g. ").append(example.get(why)).append('\n'));
        s.append("per test class (warm/up calls):");
        perClass.forEach((c, n) -> s.append(' ').append(c).append(' ').append(n[1]).append('/').append(n[0]));
        s.append('\n');
        System.out.print(s);
        try {
            Path file = Cli.DIST.getParent().resolve("it-warm-summary.txt");
            Files.writeString(file, s.toString(), StandardCharsets.UTF_8);
        } catch (IOException ignored) {
            // the printed summary is enough
        }
    }

    /** For a test's own {@code ProcessBuilder}: {@link #command} with this JVM's cwd and no extra environment. */
    static List<String> up(String... args) {
        return command(List.of(), new HashMap<>(), Cli.DIST, null, List.of(args));
    }
}
