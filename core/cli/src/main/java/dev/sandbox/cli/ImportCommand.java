package dev.sandbox.cli;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.engine.export.OciImport;
import dev.sandbox.engine.export.SeccompProfiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code sandbox import}: an OCI bundle's config.json as a spec (docs/export.md). */
@Command(name = "import", mixinStandardHelpOptions = true,
        description = {"Turn an OCI runtime config (config.json of a runc, crun or podman bundle) into a spec.",
                "What the spec can't express is a warning located in config.json. A seccomp profile other than this build's default is",
                "written next to the spec (SPEC-stem.seccomp.json) and named by process.seccomp.",
                "Exit 0 (warnings allowed), 1 when config.json can't be read or has errors, 2 for usage errors."})
final class ImportCommand implements Callable<Integer> {

    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "CONFIG", description = "config.json, or the bundle directory holding it.")
    Path config;

    @Option(names = {"-o", "--output"}, paramLabel = "SPEC", description = "Write the spec to SPEC (YAML) instead of standard output.")
    Path output;

    @Override
    public Integer call() {
        Path file = Files.isDirectory(config) ? config.resolve("config.json") : config;
        byte[] bytes;
        try {
            if (Files.size(file) > 16 << 20) {
                main.err.println("sandbox import: " + file + " is larger than 16 MiB: not an OCI config");
                return 1;
            }
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            main.err.println("sandbox import: cannot read " + file + ": " + e);
            return 1;
        }
        Path bundle = file.toAbsolutePath().normalize().getParent();
        String fallback = output != null ? stem(output) : bundle.getFileName() == null ? "imported" : bundle.getFileName().toString();
        var caller = main.sandbox().caller();
        OciImport.Result result = OciImport.read(bytes, file.toString(), bundle, fallback, caller.uid(), caller.gid(), SeccompProfiles.fromClassPath());
        List<Diagnostic> diagnostics = result.diagnostics().stream().sorted(Diagnostic.BY_LOCATION).toList();
        Output.diagnostics(main.err, diagnostics);
        if (result.hasErrors()) {
            main.err.println(file + ": " + Output.summary(diagnostics) + "; nothing imported");
            return 1;
        }
        try {
            if (result.seccompProfile().isPresent()) {
                String name = (output != null ? stem(output) : result.spec().get("name").asText()) + ".seccomp.json";
                Path profile = output != null ? output.toAbsolutePath().normalize().resolveSibling(name) : Path.of(name).toAbsolutePath();
                Files.writeString(profile, Output.json().writeValueAsString(result.seccompProfile().get()) + "\n");
                OciImport.nameSeccompFile(result.spec(), output != null ? "./" + name : profile.toString());
                main.err.println("sandbox import: the seccomp profile is in " + profile);
            }
            String yaml = OciImport.yaml(result.spec());
            if (output == null) {
                main.out.print(yaml);
                main.out.flush();
            } else {
                Files.writeString(output, yaml);
                main.err.println("sandbox import: wrote " + output + (diagnostics.isEmpty() ? "" : " (" + Output.summary(diagnostics) + ")"));
            }
        } catch (IOException e) {
            main.err.println("sandbox import: cannot write: " + e);
            return 1;
        }
        return 0;
    }

    private static String stem(Path p) {
        String n = p.getFileName().toString();
        int dot = n.indexOf('.');
        return dot > 0 ? n.substring(0, dot) : n;
    }
}
