package dev.sandbox.engine.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.api.SpecNode;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** YAML read as YAML (anchors, aliases, merges, tags) and hostile input bounded, each problem located. */
class YamlRulesTest {

    @TempDir Path dir;

    private static LoadedSpec parse(String yaml) {
        return new SpecLoader().parse(Path.of("/w/s.yaml"), "s.yaml", yaml);
    }

    private static List<String> errors(LoadedSpec spec) {
        return spec.diagnostics().stream().map(d -> d.location().line() + ":" + d.location().column() + " " + d.code()).toList();
    }

    private LoadedSpec load(byte[] bytes) throws Exception {
        Path f = dir.resolve("s.yaml");
        Files.write(f, bytes);
        return new SpecLoader().load(f);
    }

    private static String at(Location l) {
        return l.line() + ":" + l.column();
    }

    @Test
    void anAliasIsItsAnchoredValueNotTheAnchorsName() {
        SpecNode env = parse("env: {A: &x hello, B: *x}\n").root().get("env");
        assertEquals("hello", env.get("B").text());
        assertEquals(SpecNode.Kind.STRING, env.get("B").kind());
        YamlSpecNode b = (YamlSpecNode) env.get("B");
        assertEquals("1:23", at(b.location()), "located at the alias");
        assertEquals("1:10", at(b.anchoredAt()), "remembers its anchor");
        assertEquals("env.B", b.path());
    }

    @Test
    void anAliasedMapIsACopyUnderTheAliasesPath() {
        SpecNode root = parse("""
                a: &m
                  x: 1
                  y: [p, q]
                b: *m
                """).root();
        SpecNode y = root.get("b").get("y");
        assertEquals("b.y", y.path());
        assertEquals("b.y[1]", y.elements().get(1).path());
        assertEquals("3:3", at(root.get("b").keyLocation("y")), "children stay where they are written");
        assertEquals("4:4", at(root.get("b").location()));
        assertEquals("4:4", at(((YamlSpecNode) y).aliasedAt()), "and know the alias that brought them");
    }

    @Test
    void aDiagnosticAtAnAliasSaysWhereTheAnchorIs() {
        LoadedSpec spec = parse("a: &h my_box\nb: *h\n");
        Diagnostic d = Diagnostic.error("x.bad", "bad value", "b", spec.root().get("b").location(), null);
        assertEquals("bad value (anchored at 1:4)", spec.locate(List.of(d)).get(0).message());
        Diagnostic elsewhere = Diagnostic.error("x.bad", "bad value", "a", spec.root().get("a").location(), null);
        assertEquals("bad value", spec.locate(List.of(elsewhere)).get(0).message());
    }

    @Test
    void aRecursiveAliasIsALocatedError() {
        LoadedSpec spec = parse("process: &p {command: [/bin/true], env: {X: *p}}\n");
        assertEquals(List.of("1:45 spec.recursive-alias"), errors(spec));
        assertTrue(spec.diagnostics().get(0).message().contains("anchored at 1:10"), spec.diagnostics().get(0).message());
        assertEquals(List.of("1:8 spec.recursive-alias"), errors(parse("a: &a [*a]\n")));
    }

    @Test
    void anUndefinedAliasIsALocatedError() {
        assertEquals(List.of("2:4 spec.undefined-alias"), errors(parse("a: 1\nb: *nope\n")));
    }

    @Test
    void mergeKeysMergeAMapOrAListOfMapsAndWrittenKeysWin() {
        SpecNode root = parse("""
                base: &b {A: "1", B: "2"}
                more: &m {B: "3", C: "4"}
                one:
                  <<: *b
                  A: own
                two:
                  A: own
                  <<: [*m, *b]
                """).root();
        assertEquals(List.of("B", "A"), List.copyOf(root.get("one").fields().keySet()), "merged keys first, then the map's own");
        assertEquals("own", root.get("one").get("A").text());
        assertEquals("2", root.get("one").get("B").text());
        SpecNode two = root.get("two");
        assertEquals("own", two.get("A").text(), "a written key wins wherever the merge key is");
        assertEquals("3", two.get("B").text(), "the earlier map of the list wins");
        assertEquals("4", two.get("C").text());
        assertEquals("two.C", two.get("C").path());
        assertEquals("2:19", at(two.keyLocation("C")), "a merged key is located where it is written");
        assertFalse(two.has("<<"));
    }

    @Test
    void aMergeOfSomethingElseThanMapsIsAnError() {
        assertEquals(List.of("1:9 spec.bad-merge"), errors(parse("a: {<<: 5, b: 1}\n")));
        assertEquals(List.of("1:18 spec.bad-merge"), errors(parse("a: {<<: [{x: 1}, 7]}\n")));
        assertEquals(List.of("1:17 spec.duplicate-key"), errors(parse("a: {<<: {x: 1}, <<: {y: 2}}\n")));
    }

    @Test
    void aQuotedLessLessIsAnOrdinaryKey() {
        SpecNode root = parse("a: {\"<<\": {x: 1}}\n").root();
        assertTrue(root.get("a").has("<<"));
    }

    @Test
    void duplicateKeysInsideAMergedMapAreStillErrors() {
        assertEquals(List.of("1:17 spec.duplicate-key"), errors(parse("base: &b {A: 1, A: 2}\nx: {<<: *b}\n")));
    }

    @Test
    void billionLaughsStopsAtTheNodeBound() {
        StringBuilder y = new StringBuilder("l0: &l0 [a, a, a, a, a, a, a, a, a, a]\n");
        for (int i = 1; i < 10; i++) {
            y.append("l").append(i).append(": &l").append(i).append(" [");
            for (int j = 0; j < 10; j++) y.append(j == 0 ? "" : ", ").append("*l").append(i - 1);
            y.append("]\n");
        }
        LoadedSpec spec = assertTimeoutPreemptively(Duration.ofSeconds(20), () -> parse(y.toString()));
        assertFalse(spec.parsed());
        assertEquals(1, spec.diagnostics().size());
        assertTrue(List.of("spec.too-many-nodes", "spec.too-many-aliases").contains(spec.diagnostics().get(0).code()), errors(spec).toString());
        assertTrue(spec.diagnostics().get(0).location().line() > 1);
    }

    @Test
    void deepFlowNestingIsALocatedErrorNotAStackOverflow() {
        String deep = "a: " + "[".repeat(2000) + "]".repeat(2000) + "\n";
        LoadedSpec spec = parse(deep);
        assertEquals(List.of("1:67 spec.too-deep"), errors(spec));
        String block = new StringBuilder().append(String.join("", java.util.stream.IntStream.range(0, 100)
                .mapToObj(i -> " ".repeat(i) + "k:\n").toList())).toString();
        assertEquals("spec.too-deep", parse(block).diagnostics().get(0).code());
    }

    @Test
    void scalarsAreTypedAsBefore() {
        SpecNode r = parse("a: yes\nb: 0x1F\nc: 1:20\nd: 2001-12-14\ne: .inf\nf: ~\ng: '1'\nh: !!str 1\ni: !!int \"5\"\nj: 1_000\n").root();
        assertEquals(SpecNode.Kind.BOOLEAN, r.get("a").kind());
        assertEquals(SpecNode.Kind.NUMBER, r.get("b").kind());
        assertEquals("0x1F", r.get("b").text());
        assertEquals(SpecNode.Kind.STRING, r.get("c").kind());
        assertEquals(SpecNode.Kind.STRING, r.get("d").kind());
        assertEquals(SpecNode.Kind.NUMBER, r.get("e").kind());
        assertEquals(SpecNode.Kind.NULL, r.get("f").kind());
        assertEquals(SpecNode.Kind.STRING, r.get("g").kind());
        assertEquals(SpecNode.Kind.STRING, r.get("h").kind());
        assertEquals("!!str", ((YamlSpecNode) r.get("h")).tag());
        assertEquals(SpecNode.Kind.NUMBER, r.get("i").kind());
        assertEquals(SpecNode.Kind.NUMBER, r.get("j").kind());
    }

    @Test
    void aKeyIsItsTextAsWritten() {
        SpecNode r = parse("~: a\nnull: b\n1: c\nyes: d\n").root();
        assertEquals(List.of("~", "null", "1", "yes"), List.copyOf(r.fields().keySet()));
    }

    @Test
    void onlyTheCoreTagsAreAccepted() {
        assertEquals(List.of("1:4 spec.unsupported-tag"), errors(parse("a: !!binary aGVsbG8=\n")));
        assertEquals(List.of("1:4 spec.unsupported-tag"), errors(parse("a: !!python/object:os.system x\n")));
        assertEquals(List.of("1:4 spec.unsupported-tag"), errors(parse("a: !custom {x: 1}\n")));
        assertEquals(List.of("1:4 spec.bad-tagged-value"), errors(parse("a: !!int abc\n")));
    }

    @Test
    void aKeyMustBeAPlainValue() {
        assertEquals(List.of("1:3 spec.complex-key"), errors(parse("? {a: 1}\n: x\n")));
        assertEquals(List.of("1:2 spec.complex-key"), errors(parse("{[a]: x}\n")));
    }

    @Test
    void aSecondDocumentIsAnError() {
        assertEquals(List.of("3:1 spec.multiple-documents"), errors(parse("a: 1\n---\nb: 2\n")));
    }

    @Test
    void theFileMustBeARegularFileOfAtMostOneMebibyte() throws Exception {
        LoadedSpec d = new SpecLoader().load(dir);
        assertEquals(List.of("1:1 spec.not-regular"), errors(d));
        assertTrue(d.diagnostics().get(0).message().contains("directory"));
        LoadedSpec zero = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> new SpecLoader().load(Path.of("/dev/zero")));
        assertEquals(List.of("1:1 spec.not-regular"), errors(zero));
        assertTrue(zero.diagnostics().get(0).message().contains("character device"));
        Path fifo = dir.resolve("fifo");
        new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor();
        LoadedSpec f = assertTimeoutPreemptively(Duration.ofSeconds(10), () -> new SpecLoader().load(fifo));
        assertEquals(List.of("1:1 spec.not-regular"), errors(f));
        assertTrue(f.diagnostics().get(0).message().contains("FIFO"));
        byte[] big = new byte[SpecLoader.MAX_BYTES + 1];
        java.util.Arrays.fill(big, (byte) '#');
        assertEquals(List.of("1:1 spec.too-large"), errors(load(big)));
    }

    @Test
    void aSymlinkLoopNamesTheErrnoAndThePathOnce() throws Exception {
        Path loop = dir.resolve("loop.yaml");
        Files.createSymbolicLink(loop, loop);
        Diagnostic d = new SpecLoader().load(loop).diagnostics().get(0);
        assertEquals("spec.unreadable", d.code());
        assertEquals("cannot read " + loop + ": ELOOP", d.message());
        Path dangling = dir.resolve("dangling.yaml");
        Files.createSymbolicLink(dangling, dir.resolve("nowhere"));
        assertEquals("spec.not-found", new SpecLoader().load(dangling).diagnostics().get(0).code());
    }

    @Test
    void badUtf8IsLocated() throws Exception {
        LoadedSpec spec = load("a: 1\nb: caf\u00e9\n".getBytes(StandardCharsets.ISO_8859_1));
        assertEquals(List.of("2:7 spec.not-utf8"), errors(spec));
        assertTrue(spec.diagnostics().get(0).message().contains("0xE9"), spec.diagnostics().get(0).message());
        assertEquals(List.of("1:1 spec.not-utf8"), errors(load(new byte[] {(byte) 0xFF, (byte) 0xFE, 'a', 0})));
    }

    @Test
    void aUtf8ByteOrderMarkIsSkipped() throws Exception {
        byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
        byte[] body = "a: 1\nb: 2\n".getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[bom.length + body.length];
        System.arraycopy(bom, 0, all, 0, 3);
        System.arraycopy(body, 0, all, 3, body.length);
        LoadedSpec spec = load(all);
        assertEquals(List.of(), errors(spec));
        assertEquals("1:1", at(spec.root().keyLocation("a")));
    }

    @Test
    void controlCharactersAreLocated() throws Exception {
        assertEquals(List.of("2:5 spec.control-character"), errors(load("a: 1\nb: x\u0000y\n".getBytes(StandardCharsets.UTF_8))));
        assertEquals(List.of("1:4 spec.control-character"), errors(load("a: \u001b[31m\n".getBytes(StandardCharsets.UTF_8))));
    }

    @Test
    void anEscapedNulIsLocatedInValuesAndKeys() {
        // "\0" in a double-quoted scalar reaches no C string whole: execve, mount and setenv would cut it short
        assertEquals(List.of("2:11 spec.control-character"), errors(parse("a: 1\ncommand: [\"/bin/echo\\0evil\"]\n")));
        assertEquals(List.of("1:7 spec.control-character"), errors(parse("env: {\"X\\x00Y\": v}\n")));
        assertEquals(List.of("1:4 spec.control-character"), errors(parse("t: \"/tmp\\u0000/../etc\"\n")));
        assertEquals(List.of(), errors(parse("t: '/tmp\\0'\n")), "a backslash in a single-quoted or plain scalar is no escape");
    }

    @Test
    void aOneMebibyteLineIsRefusedQuickly() throws Exception {
        byte[] line = ("# " + "x".repeat(SpecLoader.MAX_BYTES - 3) + "\n").getBytes(StandardCharsets.UTF_8);
        long t = System.nanoTime();
        LoadedSpec spec = load(line);
        long ms = (System.nanoTime() - t) / 1_000_000;
        assertEquals(List.of("1:" + (SpecText.MAX_LINE + 1) + " spec.line-too-long"), errors(spec));
        assertTrue(ms < 5_000, "took " + ms + " ms");
        // the longest line allowed still parses fast
        byte[] longest = ("a: " + "x".repeat(SpecText.MAX_LINE - 3) + "\n").getBytes(StandardCharsets.UTF_8);
        assertEquals(List.of(), errors(load(longest)));
    }

    @Test
    void manyValuesStopAtTheNodeBound() {
        StringBuilder y = new StringBuilder();
        for (int i = 0; i < 60_000; i++) y.append("- ").append(i).append('\n');
        LoadedSpec spec = parse(y.toString());
        assertEquals("spec.too-many-nodes", spec.diagnostics().get(0).code());
        assertNull(spec.root());
    }
}
