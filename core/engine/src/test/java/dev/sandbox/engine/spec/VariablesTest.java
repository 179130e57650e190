package dev.sandbox.engine.spec;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.SpecNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ${VAR} in values (compose's forms), typing after substitution, the bare '$' left alone, env files, located errors. */
class VariablesTest {

    @TempDir Path dir;

    private static LoadedSpec parse(Map<String, String> env, String yaml) {
        return new SpecLoader(Variables.of(env)).parse(Path.of("/w/s.yaml"), "s.yaml", yaml);
    }

    private static String value(Map<String, String> env, String yaml) {
        LoadedSpec spec = parse(env, "v: " + yaml + "\n");
        assertEquals(List.of(), spec.diagnostics().stream().map(Diagnostic::format).toList());
        return spec.root().get("v").text();
    }

    private static List<String> errors(LoadedSpec spec) {
        return spec.diagnostics().stream().map(d -> d.location().line() + ":" + d.location().column() + " " + d.code()).toList();
    }

    @Test
    void everyFormHasComposesMeaning() {
        Map<String, String> env = Map.of("SET", "x", "EMPTY", "");
        assertEquals("x", value(env, "${SET}"));
        assertEquals("", value(env, "'${EMPTY}'"));
        assertEquals("x", value(env, "${SET:-d}"));
        assertEquals("d", value(env, "${UNSET:-d}"));
        assertEquals("d", value(env, "${EMPTY:-d}"), ":- also replaces an empty value");
        assertEquals("d", value(env, "${UNSET-d}"));
        assertEquals("", value(env, "'${EMPTY-d}'"), "- keeps an empty value");
        assertEquals("x", value(env, "${SET:?needed}"));
        assertEquals("x", value(env, "${SET?needed}"));
        assertEquals("", value(env, "'${EMPTY?needed}'"), "? accepts an empty value");
        assertEquals("a-x-b", value(env, "a-${SET}-b"));
        assertEquals("x/x", value(env, "${SET}/${SET}"));
        assertEquals("dx", value(env, "${UNSET:-d${SET}}"), "a default may hold a variable");
    }

    @Test
    void aBareDollarStaysAsWrittenAndDollarDollarBraceIsALiteralBrace() {
        Map<String, String> env = Map.of("HOME", "/root");
        assertEquals("echo $$ $1 $(hostname) $HOME $", value(env, "'echo $$ $1 $(hostname) $HOME $'"));
        assertEquals("echo ${HOME}", value(env, "'echo $${HOME}'"));
        assertEquals("$$", value(env, "$$"));
        assertEquals("${#array[@]}", value(env, "'$${#array[@]}'"));
    }

    @Test
    void aValueThatIsExactlyOneVariableIsTypedByYamlsRules() {
        LoadedSpec spec = parse(Map.of("RO", "true"), """
                mtu: ${MTU:-1500}
                readonly: ${RO:-false}
                quoted: "${MTU:-1500}"
                partial: 1${MTU:-500}
                tagged: !!str ${MTU:-1500}
                """);
        SpecNode r = spec.root();
        assertEquals(SpecNode.Kind.NUMBER, r.get("mtu").kind());
        assertEquals("1500", r.get("mtu").text());
        assertEquals(SpecNode.Kind.BOOLEAN, r.get("readonly").kind());
        assertEquals("true", r.get("readonly").text());
        assertEquals(SpecNode.Kind.STRING, r.get("quoted").kind(), "a quoted value stays a string");
        assertEquals(SpecNode.Kind.STRING, r.get("partial").kind(), "only a value that is one ${...} is typed");
        assertEquals(SpecNode.Kind.STRING, r.get("tagged").kind());
    }

    @Test
    void keysAreNotSubstituted() {
        LoadedSpec spec = parse(Map.of(), "env:\n  ${NOT_A_VARIABLE}: x\n");
        assertEquals(List.of(), spec.diagnostics());
        assertTrue(spec.root().get("env").has("${NOT_A_VARIABLE}"));
    }

    @Test
    void anUnsetVariableWithoutADefaultIsAnErrorAtTheValue() {
        LoadedSpec spec = parse(Map.of("EMPTY", ""), """
                a: ok
                b: ${UNSET}
                c:
                  - x
                  - pre ${REQUIRED:?set REQUIRED to the build id}
                d: ${EMPTY:?must not be empty}
                e: ${UNSET?}
                """);
        assertEquals(List.of("2:4 spec.unset-variable", "5:5 spec.required-variable", "6:4 spec.required-variable",
                "7:4 spec.required-variable"), errors(spec));
        assertTrue(spec.diagnostics().get(1).message().contains("set REQUIRED to the build id"), spec.diagnostics().get(1).message());
        assertTrue(spec.diagnostics().get(2).message().contains("is empty"), spec.diagnostics().get(2).message());
        assertEquals("c[1]", spec.diagnostics().get(1).path());
    }

    @Test
    void aMalformedReferenceIsAnErrorWithAHint() {
        LoadedSpec spec = parse(Map.of(), "a: ${UNCLOSED\nb: ${1}\nc: ${A:=x}\nd: ${}\n");
        assertEquals(List.of("1:4 spec.bad-variable", "2:4 spec.bad-variable", "3:4 spec.bad-variable", "4:4 spec.bad-variable"), errors(spec));
        assertTrue(spec.diagnostics().get(1).hint().contains("$${"));
    }

    @Test
    void nestingIsBounded() {
        String deep = "${A:-".repeat(20) + "x" + "}".repeat(20);
        assertEquals(List.of("1:4 spec.bad-variable"), errors(parse(Map.of(), "a: " + deep + "\n")));
    }

    @Test
    void referencedVariablesAreRecordedWithTheirValueOrUnset() {
        LoadedSpec spec = parse(Map.of("A", "1", "OTHER", "2"), "a: ${A}\nb: ${B:-x}\nc: $OTHER\n");
        assertEquals(Map.of("A", Optional.of("1"), "B", Optional.empty()), spec.inputs().variables());
    }

    @Test
    void envFilesInComposesFormatLaterFilesWinAndTheEnvironmentWinsOverAll() throws Exception {
        Path one = dir.resolve("one.env");
        Files.writeString(one, """
                # a comment

                PLAIN=plain value # a comment
                HASH=a#b
                DOUBLE="tab\\there # not a comment" # comment
                SINGLE='${NOT} \\' literal'
                export EXPORTED=yes
                FROM_ENV=file
                REF=${PLAIN}-x
                OVERRIDDEN=one
                """);
        Path two = dir.resolve("two.env");
        Files.writeString(two, "OVERRIDDEN=two\n");
        Variables v = Variables.load(Map.of("FROM_ENV", "environment"), List.of(one, two));
        assertEquals(List.of(), v.problems());
        assertEquals(Optional.of("plain value"), v.value("PLAIN"));
        assertEquals(Optional.of("a#b"), v.value("HASH"));
        assertEquals(Optional.of("tab\there # not a comment"), v.value("DOUBLE"));
        assertEquals(Optional.of("${NOT} ' literal"), v.value("SINGLE"));
        assertEquals(Optional.of("yes"), v.value("EXPORTED"));
        assertEquals(Optional.of("environment"), v.value("FROM_ENV"), "the environment wins over env files");
        assertEquals(Optional.of("plain value-x"), v.value("REF"));
        assertEquals(Optional.of("two"), v.value("OVERRIDDEN"), "a later file wins");
        assertEquals(2, v.envFiles().size());
    }

    @Test
    void aBadEnvFileLineOrAMissingEnvFileIsLocated() throws Exception {
        Path bad = dir.resolve("bad.env");
        Files.writeString(bad, "OK=1\nno equals sign\n1BAD=x\nQ=\"open\n");
        Variables v = Variables.load(Map.of(), List.of(bad, dir.resolve("missing.env")));
        assertEquals(List.of("bad.env:2 env-file.syntax", "bad.env:3 env-file.syntax", "bad.env:4 env-file.syntax", "missing.env:1 env-file.not-found"),
                v.problems().stream().map(d -> Path.of(d.location().file()).getFileName() + ":" + d.location().line() + " " + d.code()).toList());
        LoadedSpec spec = new SpecLoader(v).parse(Path.of("/w/s.yaml"), "s.yaml", "a: ${OK}\n");
        assertEquals(4, spec.diagnostics().size(), "the env files' problems are the spec's");
        assertEquals("1", spec.root().get("a").text());
    }

    @Test
    void aDirectoryGivenAsEnvFileIsCalledAnEnvFileNotASpec() throws Exception {
        Path d = Files.createDirectory(dir.resolve("e.env"));
        Variables v = Variables.load(Map.of(), List.of(d));
        Diagnostic p = v.problems().get(0);
        assertEquals("env-file.not-regular", p.code());
        assertTrue(p.hint().contains("give the path of an env file (KEY=VALUE lines)"), p.hint());
        assertTrue(!p.hint().contains("spec"), p.hint());
    }
}
