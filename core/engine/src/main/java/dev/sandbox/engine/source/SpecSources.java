package dev.sandbox.engine.source;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;

/**
 * Turns the SPEC argument of {@code up}, {@code validate}, {@code plan} and {@code diff} into a
 * {@link SpecSource}. {@code REV:path} (git's object syntax) reads the spec from a revision of the
 * repository the current directory is in; anything else is a file. An existing file wins over the
 * revision form, with a warning. Git classes (JGit) are loaded only for the revision form, so a plain
 * {@code up spec.yaml} never pays for them (docs/performance.md).
 */
public final class SpecSources {

    /** The largest spec read, from a file or a blob (hostile input is bounded before it is parsed). */
    public static final int MAX_BYTES = 1 << 20;

    private SpecSources() {}

    /**
     * The source an argument names. {@code warnings} receives a message when a file's name looks like
     * {@code REV:path} and the file is read.
     *
     * @param cwd the directory {@code REV:./path} is relative to and whose repository is used
     */
    public static SpecSource forArgument(String argument, Path cwd, List<String> warnings) throws SpecSource.SourceException {
        Path asFile = cwd.resolve(argument);
        boolean revisionForm = looksLikeRevision(argument);
        if (!revisionForm) return new FileSpecSource(Path.of(argument));
        if (Files.exists(asFile, LinkOption.NOFOLLOW_LINKS)) {
            warnings.add("reading the file '" + argument + "'; its name looks like REV:path (a spec from a git revision), "
                    + "but a file of that name exists. Rename it or name it as ./" + argument + " to silence this warning");
            return new FileSpecSource(Path.of(argument));
        }
        // the only place that reaches JGit
        return GitSpecSource.open(argument, cwd);
    }

    /**
     * {@code REV:path}: a colon after a non-empty revision that is not itself a path. A revision can hold
     * '/' ({@code origin/main}), but never starts with '/' or '.' (git check-ref-format), so
     * {@code /tmp/a:b.yaml} and {@code ./a:b.yaml} are files.
     */
    public static boolean looksLikeRevision(String argument) {
        int colon = argument.indexOf(':');
        if (colon <= 0 || colon == argument.length() - 1) return false;
        char first = argument.charAt(0);
        return first != '/' && first != '.';
    }
}
