package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.sandbox.engine.runtime.RawText;
import java.io.ByteArrayOutputStream;
import org.junit.jupiter.api.Test;

/** The command after -- is read back from /proc/self/cmdline as bytes (issue 8). */
class RawArgsTest {

    private static byte[] cmdline(byte[]... entries) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] e : entries) {
            out.writeBytes(e);
            out.write(0);
        }
        return out.toByteArray();
    }

    private static byte[] b(String ascii) {
        return ascii.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    }

    static final byte[] RAW = {(byte) 0xff, (byte) 0xfe, '-', 'r', 'a', 'w'};
    static final byte[] CAFE_UTF8 = {'c', 'a', 'f', (byte) 0xc3, (byte) 0xa9};

    @Test
    void theCommandAfterDashesGetsTheExactBytesOfTheCmdline() {
        // what the JVM made of them under a UTF-8 locale: one U+FFFD per byte that isn't UTF-8
        String[] java = {"up", "s.yaml", "--", "sh", "-c", "x", "sh", "\uFFFD\uFFFD-raw"};
        byte[] cmd = cmdline(b("java"), b("-Xss512k"), b("-cp"), b("lib/*"), b("dev.sandbox.cli.Launch"), b("up"), b("s.yaml"), b("--"),
                b("sh"), b("-c"), b("x"), b("sh"), RAW);
        String[] out = RawArgs.restore(java, cmd, "dev.sandbox.cli.Launch");
        assertEquals("\uFFFD\uFFFD-raw", java[7], "the input is not changed");
        assertArrayEquals(new String[] {"up", "s.yaml", "--", "sh", "-c", "x", "sh", RawText.decode(RAW)}, out);
        assertArrayEquals(RAW, RawText.encode(out[7]));
    }

    @Test
    void underTheCLocaleValidUtf8ComesBackAsText() {
        String[] java = {"up", "s.yaml", "--", "echo", "caf\uFFFD\uFFFD"};
        byte[] cmd = cmdline(b("java"), b("dev.sandbox.cli.Launch"), b("up"), b("s.yaml"), b("--"), b("echo"), CAFE_UTF8);
        assertEquals("caf\u00e9", RawArgs.restore(java, cmd, "dev.sandbox.cli.Launch")[4]);
    }

    @Test
    void onlyTheCommandIsReplacedNotTheSpecPathOrTheOptions() {
        String[] java = {"up", "\uFFFD.yaml", "--", "\uFFFD"};
        byte[] cmd = cmdline(b("java"), b("dev.sandbox.cli.Launch"), b("up"), new byte[] {(byte) 0xff, '.', 'y', 'a', 'm', 'l'}, b("--"),
                new byte[] {(byte) 0xff});
        String[] out = RawArgs.restore(java, cmd, "dev.sandbox.cli.Launch");
        assertEquals("\uFFFD.yaml", out[1]);
        assertEquals(RawText.decode(new byte[] {(byte) 0xff}), out[3]);
    }

    @Test
    void anotherJvmOrAMismatchKeepsWhatJavaDecoded() {
        String[] java = {"up", "s.yaml", "--", "\uFFFD"};
        byte[] ff = {(byte) 0xff};
        // a test runner's JVM: the main class before the arguments is another one
        assertArrayEquals(java, RawArgs.restore(java, cmdline(b("java"), b("org.junit.Runner"), b("up"), b("s.yaml"), b("--"), ff),
                "dev.sandbox.cli.Launch"));
        // too few entries
        assertArrayEquals(java, RawArgs.restore(java, cmdline(b("--"), ff), "dev.sandbox.cli.Launch"));
        // an argument Java decoded cleanly differs from the raw one: don't trust the position
        assertArrayEquals(java, RawArgs.restore(java, cmdline(b("dev.sandbox.cli.Launch"), b("up"), b("other.yaml"), b("--"), ff),
                "dev.sandbox.cli.Launch"));
        // no -- at all: nothing to do
        String[] plain = {"validate", "s.yaml"};
        assertArrayEquals(plain, RawArgs.restore(plain));
    }
}
