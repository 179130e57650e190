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
                         Optional<String> head, boolean uncommittedChanges) {}
