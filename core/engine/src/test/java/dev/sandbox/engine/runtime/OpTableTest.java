package dev.sandbox.engine.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sandbox.api.Ops;
import dev.sandbox.api.Stage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The two vocabularies can't drift: every op the runtime's table (core/native/src/plan.c, {@code ops[]}) knows, in its
 * stage, is in {@link Ops#ALLOWED}, and the other way round, for all eight stages; the table's executor is the monitor
 * exactly for the host stages. (A new op such as {@code setrlimit} must be added on both sides.)
 */
class OpTableTest {

    private static final Pattern ENTRY = Pattern.compile("\\{ ST_([A-Z]+), \"([a-z-]+)\", \"[^\"]*\", (?:op_[a-z_]+|NULL), EX_([A-Z]+) \\}");

    @Test
    void theHelpersOpTableAndTheJavaVocabularyNameTheSameOpsInTheSameStages() throws Exception {
        Path planC = Path.of("..", "native", "src", "plan.c");
        Set<String> c = new TreeSet<>();
        Matcher m = ENTRY.matcher(Files.readString(planC));
        while (m.find()) c.add(m.group(1).toLowerCase() + " " + m.group(2) + (m.group(3).equals("MONITOR") ? " monitor" : ""));
        Set<String> java = new TreeSet<>();
        Ops.ALLOWED.forEach((op, stages) -> stages.forEach(s -> java.add(s.wireName() + " " + op + (s.runsInHelper() ? "" : " monitor"))));
        java.add("prepare runtime-dir monitor"); // PlanFile.canonical writes it; no plugin emits it
        assertEquals(java, c, "core/native/src/plan.c ops[] and dev.sandbox.api.Ops.ALLOWED differ");
    }
}
