package dev.sandbox.engine.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.SpecNode;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class SpecLoaderTest {

    private static LoadedSpec parse(String yaml) {
        return new SpecLoader().parse(Path.of("/w/s.yaml"), "s.yaml", yaml);
    }

    @Test
    void everyNodeKeepsItsOneBasedLineAndColumn() {
        LoadedSpec spec = parse("""
                name: web
                namespaces:
                  uts: {hostname: box}
                  mount:
                    mounts:
                      - {type: tmpfs, target: /tmp}
                """);
        SpecNode root = spec.root();
        assertEquals("1:7", at(root.get("name")));
        assertEquals("3:19", at(root.get("namespaces").get("uts").get("hostname")));
        SpecNode target = root.get("namespaces").get("mount").get("mounts").elements().get(0).get("target");
        assertEquals("6:31", at(target));
        assertEquals("namespaces.mount.mounts[0].target", target.path());
        assertEquals("3:3", at(root.get("namespaces"), "uts"));
    }

    @Test
    void scalarsKeepTheirKind() {
        SpecNode root = parse("a: 1\nb: 1.5\nc: true\nd: x\ne: null\nf: \"1777\"\n").root();
        assertEquals(SpecNode.Kind.NUMBER, root.get("a").kind());
        assertEquals(SpecNode.Kind.NUMBER, root.get("b").kind());
        assertEquals(SpecNode.Kind.BOOLEAN, root.get("c").kind());
        assertEquals(SpecNode.Kind.STRING, root.get("d").kind());
        assertEquals(SpecNode.Kind.NULL, root.get("e").kind());
        assertEquals("1777", root.get("f").text());
        assertTrue(root.get("zzz").isMissing());
        assertEquals("zzz", root.get("zzz").path());
    }

    @Test
    void everyDuplicateKeyIsReportedWhereItIsWritten() {
        LoadedSpec spec = parse("""
                name: a
                name: b
                process:
                  cwd: /
                  cwd: /x
                """);
        List<Diagnostic> d = spec.diagnostics();
        assertEquals(List.of("2:1 spec.duplicate-key", "5:3 spec.duplicate-key"),
                d.stream().map(x -> x.location().line() + ":" + x.location().column() + " " + x.code()).toList());
        assertEquals("a", spec.root().get("name").text(), "the first definition is kept");
        assertTrue(d.get(0).hint().contains("line 1"));
    }

    @Test
    void aSyntaxErrorIsOneLocatedDiagnosticAndNoTree() {
        LoadedSpec spec = parse("name: [a, b\nkind: x\n");
        assertFalse(spec.parsed());
        assertEquals(1, spec.diagnostics().size());
        Diagnostic d = spec.diagnostics().get(0);
        assertEquals("spec.syntax", d.code());
        assertTrue(d.location().line() >= 1);
    }

    @Test
    void anEmptyFileIsAnError() {
        assertEquals("spec.empty", parse("  \n").diagnostics().get(0).code());
    }

    @Test
    void aMissingFileIsAnError() {
        LoadedSpec spec = new SpecLoader().load(Path.of("/nonexistent/spec.yaml"));
        assertEquals("spec.not-found", spec.diagnostics().get(0).code());
    }

    private static String at(SpecNode node) {
        return node.location().line() + ":" + node.location().column();
    }

    private static String at(SpecNode map, String key) {
        return map.keyLocation(key).line() + ":" + map.keyLocation(key).column();
    }
}
