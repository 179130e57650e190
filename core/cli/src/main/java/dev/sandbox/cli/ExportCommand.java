package dev.sandbox.cli;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.engine.export.OciExport;
import dev.sandbox.engine.export.PodExport;
import dev.sandbox.engine.export.SeccompProfiles;
import dev.sandbox.engine.review.EffectiveSpec;
import dev.sandbox.engine.source.SpecSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code sandbox export}: a spec as an OCI bundle or a Kubernetes Pod (docs/export.md). Nothing here is on {@code up}'s path. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"Write a spec for another engine: an OCI runtime bundle (runc, crun, podman, containerd) or a Kubernetes Pod.",
                "  sandbox export --format oci SPEC DIR                 config.json (+ rootfs/ for a tmpfs root) in DIR",
                "  sandbox export --format kubernetes SPEC [--image I]  a Pod manifest (YAML) on standard output",
                "The spec is validated first; what the target format can't express is a warning that says what to use instead.",
                "Exit 0 (warnings allowed), 1 when the spec has errors or the bundle can't be written, 2 for usage errors."})
final class ExportCommand implements Callable<Integer> {

    enum Format { oci, kubernetes }

    @ParentCommand Main main;

    @Option(names = "--format", required = true, paramLabel = "FORMAT", description = "oci or kubernetes.")
    Format format;

    @Parameters(index = "0", paramLabel = "SPEC", description = "The spec file (YAML), or REV:path to read it from a git revision (docs/git.md).")
    Path spec;

    @Parameters(index = "1", arity = "0..1", paramLabel = "DIR", description = "oci: the bundle directory (created; must be empty if it exists).")
    Path dir;

    @Option(names = "--image", paramLabel = "IMAGE", description = "kubernetes: the container image (a spec has none; default: a placeholder, with a warning).")
    String image;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", description = "kubernetes: write the manifest to FILE instead of standard output.")
    Path output;

    @Mixin EnvFiles envFiles;

    @Override
    public Integer call() {
        if (format == Format.oci && dir == null) return usage("--format oci needs a bundle directory: sandbox export --format oci SPEC DIR");
        if (format == Format.kubernetes && dir != null) return usage("--format kubernetes writes one manifest: use -o FILE, not " + dir);
        if (format == Format.oci && (image != null || output != null)) return usage("--image and -o are for --format kubernetes");
        Checked checked = Checked.of(main.sandbox(), spec, envFiles.files);
        List<Diagnostic> diagnostics = new ArrayList<>(checked.diagnostics());
        if (checked.hasErrors()) return fail(diagnostics, "nothing exported");
        var caller = main.sandbox().caller();
        EffectiveSpec effective = EffectiveSpec.of(checked.spec().root(), caller.uid(), caller.gid());
        Path baseDir = checked.revisionSource().map(SpecSource::baseDir)
                .orElseGet(() -> checked.spec().file().toAbsolutePath().normalize().getParent());
        return format == Format.oci ? oci(effective, baseDir, diagnostics) : kubernetes(effective, baseDir, diagnostics);
    }

    private int oci(EffectiveSpec effective, Path baseDir, List<Diagnostic> diagnostics) {
        try (Stream<Path> entries = Files.isDirectory(dir) ? Files.list(dir) : Stream.empty()) {
            if (Files.exists(dir) && (!Files.isDirectory(dir) || entries.findAny().isPresent())) {
                main.err.println("sandbox export: " + dir + " exists and is not an empty directory; nothing exported");
                main.err.println("  hint: name a new directory, or remove the old bundle first");
                return 1;
            }
        } catch (IOException e) {
            main.err.println("sandbox export: cannot read " + dir + ": " + e.getMessage());
            return 1;
        }
        OciExport.Result result = OciExport.export(effective, baseDir, SeccompProfiles.fromClassPath());
        diagnostics.addAll(result.diagnostics());
        if (result.hasErrors()) return fail(diagnostics, "nothing exported");
        try {
            OciExport.writeBundle(result, dir);
        } catch (IOException e) {
            main.err.println("sandbox export: cannot write the bundle in " + dir + ": " + e);
            return 1;
        }
        Output.diagnostics(main.err, sorted(diagnostics));
        main.err.println("sandbox export: wrote " + dir.resolve("config.json") + (result.bundleRootfs() ? " and " + dir.resolve("rootfs") + "/" : "")
                + (diagnostics.isEmpty() ? "" : " (" + Output.summary(diagnostics) + ")"));
        return 0;
    }

    private int kubernetes(EffectiveSpec effective, Path baseDir, List<Diagnostic> diagnostics) {
        PodExport.Result result = PodExport.export(effective, baseDir, image);
        diagnostics.addAll(result.diagnostics());
        String yaml = PodExport.yaml(result.pod());
        Output.diagnostics(main.err, sorted(diagnostics));
        if (output == null) {
            main.out.print(yaml);
            main.out.flush();
        } else {
            try {
                Files.writeString(output, yaml);
            } catch (IOException e) {
                main.err.println("sandbox export: cannot write " + output + ": " + e);
                return 1;
            }
            main.err.println("sandbox export: wrote " + output + (diagnostics.isEmpty() ? "" : " (" + Output.summary(diagnostics) + ")"));
        }
        return 0;
    }

    private static List<Diagnostic> sorted(List<Diagnostic> diagnostics) {
        return diagnostics.stream().sorted(Diagnostic.BY_LOCATION).toList();
    }

    private int fail(List<Diagnostic> diagnostics, String what) {
        Output.diagnostics(main.err, sorted(diagnostics));
        main.err.println(spec + ": " + Output.summary(diagnostics) + "; " + what);
        return 1;
    }

    private int usage(String message) {
        main.err.println("sandbox export: " + message);
        main.err.println("  usage: sandbox export --format oci SPEC DIR | sandbox export --format kubernetes SPEC [--image IMAGE] [-o FILE]");
        return 2;
    }
}
