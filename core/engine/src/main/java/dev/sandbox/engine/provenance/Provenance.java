package dev.sandbox.engine.provenance;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Where a spec came from, resolved against its repository.
 *
 * @param repository        the repository's top (its working tree)
 * @param path              the spec's path inside it, '/'-separated
 * @param blobId            the git blob id of the content that was read
 * @param revision          the revision the spec was read from ({@code HEAD~1}); empty for a working-tree file
 * @param commit            the commit the content belongs to: the named revision's, or HEAD when the
 *                          working file equals HEAD's; empty when it matches none
 * @param head              HEAD's commit; empty in a repository without commits
 * @param uncommittedChanges the working file differs from HEAD's (or HEAD has no such file); always
 *                          false for a spec read from a revision
 */
public record Provenance(Path repository, String path, String blobId, Optional<String> revision, Optional<String> commit,
                         Optional<String> head, boolean uncommittedChanges) {

    /**
     * One line, {@code git describe}-like: {@code COMMIT:PATH} (12 hex digits; what {@code git show} takes) when the file
     * is that commit's and HEAD's; {@code COMMIT:PATH (not HEAD's)} when it matches an older commit but HEAD's file
     * differs; {@code PATH (uncommitted, blob BLOB)} when no commit holds it.
     */
    public String describe() {
        if (commit.isEmpty()) return path + " (uncommitted, blob " + blobId.substring(0, Math.min(12, blobId.length())) + ")";
        String at = commit.get().substring(0, Math.min(12, commit.get().length())) + ":" + path;
        return uncommittedChanges ? at + " (not HEAD's)" : at;
    }
}
