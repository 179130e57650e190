package dev.sandbox.cli;

import dev.sandbox.engine.runtime.RawText;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command after {@code --} exactly as it was given (issue 8, "arguments are bytes"). The JVM decodes
 * {@code main}'s arguments with the locale's charset and replaces what it can't decode: {@code $'\xff'} became
 * U+FFFD, and under {@code LC_ALL=C} even valid UTF-8 such as {@code café} did. The kernel keeps the bytes in
 * {@code /proc/self/cmdline}: the launcher's arguments are its last entries, right after the main class. They are
 * taken from there, kept as {@link RawText} strings, and reach the target unchanged through the plan file.
 *
 * <p>Only the arguments after the first {@code --} are replaced: those go to the target. The others (the spec's
 * path, options) stay what Java decoded, since Java's file API can only open names in its own charset anyway.
 */
final class RawArgs {

    private RawArgs() {}

    /** {@code args} with everything after the first {@code --} read from /proc/self/cmdline when that is possible. */
    static String[] restore(String[] args) {
        if (!List.of(args).contains("--")) return args;
        try {
            return restore(args, Files.readAllBytes(Path.of("/proc/self/cmdline")), Launch.class.getName());
        } catch (IOException | RuntimeException e) {
            return args; // no /proc: what Java decoded
        }
    }

    /**
     * The raw arguments are the last {@code args.length} entries of {@code cmdline}, preceded by {@code mainClass}.
     * When that doesn't hold (a JVM started another way, e.g. a test calling {@code main}), or an argument that Java
     * decoded without a replacement character differs from its raw bytes, {@code args} is returned unchanged.
     */
    static String[] restore(String[] args, byte[] cmdline, String mainClass) {
        List<byte[]> entries = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < cmdline.length; i++) {
            if (cmdline[i] == 0) {
                entries.add(java.util.Arrays.copyOfRange(cmdline, start, i));
                start = i + 1;
            }
        }
        int first = entries.size() - args.length;
        if (first < 1 || !RawText.decode(entries.get(first - 1)).equals(mainClass)) return args;
        String[] raw = new String[args.length];
        for (int i = 0; i < args.length; i++) {
            raw[i] = RawText.decode(entries.get(first + i));
            if (args[i].indexOf('\uFFFD') < 0 && !args[i].equals(raw[i])) return args;
        }
        String[] out = args.clone();
        int dashes = List.of(args).indexOf("--");
        System.arraycopy(raw, dashes + 1, out, dashes + 1, args.length - dashes - 1);
        return out;
    }
}
