package dev.sandbox.engine.spec;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.engine.source.FileSpecSource;
import dev.sandbox.engine.source.SpecSource;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The values {@code ${VAR}} in a spec reads: the caller's environment, then {@code --env-file} files
 * (compose's .env format, {@link EnvFile}; a later file wins over an earlier one, and the real
 * environment wins over every file, as in docker compose).
 *
 * <p>Every variable a spec references is recorded with the value it had (or that it was unset), so
 * that a cached plan can be checked against the values it was compiled with (PlanCache).
 */
public final class Variables {

    /** One env file as read: its path, its bytes (part of the plan cache key). */
    public record EnvFileInput(Path file, byte[] bytes) {}

    private final Map<String, String> environment;
    private final Map<String, String> fromFiles;
    private final List<EnvFileInput> envFiles;
    private final List<Diagnostic> problems;
    private final Map<String, Optional<String>> referenced = new LinkedHashMap<>();

    private Variables(Map<String, String> environment, Map<String, String> fromFiles, List<EnvFileInput> envFiles, List<Diagnostic> problems) {
        this.environment = environment;
        this.fromFiles = fromFiles;
        this.envFiles = envFiles;
        this.problems = problems;
    }

    /** The environment only. */
    public static Variables of(Map<String, String> environment) {
        return new Variables(environment, Map.of(), List.of(), List.of());
    }

    /** No variable is set (every reference needs a default). */
    public static Variables none() {
        return of(Map.of());
    }

    /** FileSpecSource's words are a spec's; an env file's problem names an env file (its hint said "give the path of a spec file"). */
    private static String envFileWords(String text) {
        return text.replace("a spec file (YAML)", "an env file (KEY=VALUE lines)").replace("a spec file", "an env file")
                .replace("a spec may be", "an env file may be").replace("a spec is a few kilobytes", "an env file is a few kilobytes");
    }

    /**
     * The environment and the env files, read in order (each with the same bounds as a spec file). A
     * file that can't be read or has a bad line is a located problem ({@link #problems()}).
     */
    public static Variables load(Map<String, String> environment, List<Path> envFiles) {
        if (envFiles.isEmpty()) return of(environment);
        Map<String, String> fromFiles = new LinkedHashMap<>();
        List<EnvFileInput> inputs = new ArrayList<>();
        List<Diagnostic> problems = new ArrayList<>();
        for (Path file : envFiles) {
            SpecSource source = new FileSpecSource(file);
            byte[] bytes;
            try {
                bytes = source.read();
            } catch (SpecSource.SourceException e) {
                problems.add(Diagnostic.error(e.code().replace("spec.", "env-file."), envFileWords(e.getMessage()), "",
                        new Location(file.toString(), 1, 1), e.hint() == null ? null : envFileWords(e.hint())));
                continue;
            }
            inputs.add(new EnvFileInput(file.toAbsolutePath().normalize(), bytes));
            // a value may use the variables set before it: the environment, earlier lines and files
            Map<String, String> parsed = EnvFile.parse(bytes, file.toString(), name -> {
                String v = environment.get(name);
                return Optional.ofNullable(v != null ? v : fromFiles.get(name));
            }, problems);
            fromFiles.putAll(parsed);
        }
        return new Variables(environment, fromFiles, List.copyOf(inputs), List.copyOf(problems));
    }

    /** The value of {@code name} now (the environment wins over the env files); not recorded. */
    public Optional<String> value(String name) {
        String v = environment.get(name);
        if (v == null) v = fromFiles.get(name);
        return Optional.ofNullable(v);
    }

    /** The value of {@code name}, recorded as referenced by the spec. */
    Optional<String> reference(String name) {
        Optional<String> v = value(name);
        referenced.putIfAbsent(name, v);
        return v;
    }

    /** Every variable referenced so far, with the value it had (empty: unset), in the order first referenced. */
    public Map<String, Optional<String>> referenced() {
        return Collections.unmodifiableMap(referenced);
    }

    /** Problems reading the env files. */
    public List<Diagnostic> problems() {
        return problems;
    }

    /** The env files read (paths and bytes). */
    public List<EnvFileInput> envFiles() {
        return envFiles;
    }
}
