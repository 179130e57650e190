package dev.sandbox.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Stage;
import dev.sandbox.api.Step;
import dev.sandbox.engine.runtime.PlanFile;
import dev.sandbox.engine.runtime.RawText;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.List;

/** Human and JSON renderings of diagnostics and plans. */
final class Output {

    /**
     * The JSON writer, created on first use: an ObjectMapper's class initialisation costs ~45 ms (Jackson's date format
     * loads the JDK's locale data), which {@code up} never needs (docs/performance.md).
     */
    static ObjectMapper json() {
        return JsonHolder.MAPPER;
    }

    private static final class JsonHolder {
        static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    }

    enum Format { text, json }

    private Output() {}

    static void diagnostics(PrintWriter w, List<Diagnostic> diagnostics) {
        for (Diagnostic d : diagnostics) w.println(d.format());
    }

    static String summary(List<Diagnostic> diagnostics) {
        long errors = diagnostics.stream().filter(Diagnostic::isError).count();
        long warnings = diagnostics.size() - errors;
        return errors + (errors == 1 ? " error" : " errors") + ", " + warnings + (warnings == 1 ? " warning" : " warnings");
    }

    static ArrayNode diagnosticsJson(List<Diagnostic> diagnostics) {
        ArrayNode array = json().createArrayNode();
        for (Diagnostic d : diagnostics) {
            ObjectNode o = array.addObject();
            o.put("severity", d.severity().label());
            o.put("code", d.code());
            o.put("message", d.message());
            o.put("path", d.path());
            o.put("file", d.location().file());
            o.put("line", d.location().line());
            o.put("column", d.location().column());
            if (d.hint() != null) o.put("hint", d.hint());
            if (!d.includedFrom().isEmpty()) {
                ArrayNode from = o.putArray("includedFrom");
                d.includedFrom().forEach(l -> from.add(l.toString()));
            }
        }
        return array;
    }

    /**
     * The steps of a canonical plan file ({@link PlanFile#canonical}) in file order, each with its line number in the
     * file: the {@code runtime-dir} step (line 2), then every step of the plan.
     */
    record FileStep(int line, Step step) {}

    static List<FileStep> fileSteps(PlanFile.Rendered file, Step runtimeDir) {
        List<FileStep> out = new java.util.ArrayList<>();
        out.add(new FileStep(2, runtimeDir));
        for (int line = 3; line < file.lines().size(); line++) {
            if (file.lines().get(line) != null) out.add(new FileStep(line, file.lines().get(line)));
        }
        return out;
    }

    static void plan(PrintWriter w, String name, List<FileStep> steps, String specName) {
        w.printf("plan for sandbox '%s' (%s): %d steps%n", name, specName, steps.size());
        w.println("monitor = sandbox-init on the host, the sandbox's parent; helper = its forked process until clone;"
                + " child = the sandbox's first process");
        w.printf("%n  %3s  %-18s %-7s %s%n", "#", "OP", "PLUGIN", "WHAT (→ the syscall it becomes)");
        Stage current = null;
        int index = 0;
        for (FileStep fileStep : steps) {
            Step step = fileStep.step();
            index++;
            if (step.stage() != current) {
                current = step.stage();
                w.printf("%n%s  [%s]%n", current.wireName(), current.executor().wireName());
            }
            // an argument's bytes that are not UTF-8 show as \xff (RawText)
            w.printf("  %3d  %-18s %-7s %s%n", index, step.op(), step.plugin(), RawText.display(step.summary()));
            if (!step.syscall().isEmpty()) w.printf("       %-18s %-7s → %s%n", "", "", RawText.display(step.syscall()));
        }
    }

    /**
     * The JSON view of a canonical plan file: its steps in file order with the file's op and key names, each with its
     * 1-based {@code index}, its {@code line} in the file, the {@code stage} and the {@code executor} that runs it,
     * the plugin that contributed it, its {@code args}, {@code summary} and {@code syscall}.
     */
    static ObjectNode planJson(String name, java.nio.file.Path runtimeDir, List<FileStep> fileSteps) {
        ObjectNode root = json().createObjectNode();
        root.put("version", 1);
        root.put("name", name);
        root.put("runtimeDir", runtimeDir.toString());
        ArrayNode steps = root.putArray("steps");
        int index = 0;
        for (FileStep fileStep : fileSteps) {
            Step step = fileStep.step();
            ObjectNode o = steps.addObject();
            o.put("index", ++index);
            o.put("line", fileStep.line());
            o.put("stage", step.stage().wireName());
            o.put("executor", step.stage().executor().wireName());
            o.put("op", step.op());
            o.put("plugin", step.plugin());
            ObjectNode args = o.putObject("args");
            for (Step.Arg arg : step.args()) {
                if (step.all(arg.key()).size() > 1) {
                    if (!args.has(arg.key())) args.putArray(arg.key());
                    ((ArrayNode) args.get(arg.key())).add(arg.value());
                } else {
                    args.put(arg.key(), arg.value());
                }
            }
            o.put("summary", step.summary());
            o.put("syscall", step.syscall());
        }
        return root;
    }

    /**
     * A byte of an argument that is not UTF-8 (RawText: U+DC80..U+DCFF) as the JSON escape {@code \udcff}: the
     * output stays valid UTF-8, and a reader gets back the same unpaired surrogate (Python's surrogateescape).
     */
    static String escapeBytes(String json) {
        if (!RawText.hasBytes(json)) return json;
        StringBuilder out = new StringBuilder(json.length() + 16);
        for (int i = 0; i < json.length(); i++) {
            int b = RawText.escapedByte(json, i);
            if (b >= 0) out.append(String.format("\\udc%02x", b));
            else out.append(json.charAt(i));
        }
        return out.toString();
    }

    static void json(PrintWriter w, Object node) {
        try {
            w.println(escapeBytes(json().writeValueAsString(node)));
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}
