package dev.sandbox.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLGenerator;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.sandbox.engine.spec.SpecJson;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

@Command(name = "config", mixinStandardHelpOptions = true,
        description = {"Print the fully resolved spec: included files merged, variables substituted, x-* keys dropped (like docker compose config).",
                "The output is itself a spec that loads to the same result (a literal '${' is written '$${').",
                "Exit 0 when the spec is valid, 1 when it has errors (printed like validate's, on stderr), 2 for usage errors."})
final class ConfigCommand implements Callable<Integer> {

    @ParentCommand Main main;

    @Parameters(index = "0", paramLabel = "SPEC", description = "The spec file (YAML), or REV:path to read it from a git revision (docs/git.md).")
    Path spec;

    @Option(names = "--format", paramLabel = "FORMAT", description = "yaml (default) or json.")
    Format format = Format.yaml;

    @Mixin EnvFiles envFiles;

    enum Format { yaml, json }

    @Override
    public Integer call() {
        Checked checked = Checked.of(main.sandbox(), spec, envFiles.files);
        Output.diagnostics(main.err, checked.diagnostics());
        if (checked.hasErrors()) {
            main.err.println(spec + ": " + Output.summary(checked.diagnostics()));
            return 1;
        }
        JsonNode resolved = escaped(SpecJson.toJson(checked.spec().root()));
        if (format == Format.json) {
            Output.json(main.out, resolved);
        } else {
            try {
                YAMLMapper yaml = new YAMLMapper(YAMLFactory.builder().disable(YAMLGenerator.Feature.WRITE_DOC_START_MARKER).build());
                main.out.print(yaml.writeValueAsString(resolved));
            } catch (JsonProcessingException e) {
                throw new UncheckedIOException(e);
            }
        }
        main.out.flush();
        return 0;
    }

    /** Every '${' in a string written '$${', so that loading the output again substitutes nothing. */
    static JsonNode escaped(JsonNode node) {
        if (node.isTextual()) return node.asText().contains("${") ? TextNode.valueOf(node.asText().replace("${", "$${")) : node;
        if (node instanceof ObjectNode object) {
            for (Iterator<Map.Entry<String, JsonNode>> it = object.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                e.setValue(escaped(e.getValue()));
            }
        } else if (node instanceof ArrayNode array) {
            for (int i = 0; i < array.size(); i++) array.set(i, escaped(array.get(i)));
        }
        return node;
    }
}
