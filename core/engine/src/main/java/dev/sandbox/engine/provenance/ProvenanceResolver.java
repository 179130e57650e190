package dev.sandbox.engine.provenance;

import dev.sandbox.engine.source.GitSpecSource;
import java.io.IOException;
import java.util.Optional;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.revwalk.RevCommit;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.storage.file.FileRepositoryBuilder;
import org.eclipse.jgit.treewalk.TreeWalk;

/** Resolves a {@link SpecOrigin} with JGit: the commit it matches and whether the file has uncommitted changes. */
public final class ProvenanceResolver {

    private ProvenanceResolver() {}

    /** A working-tree file: does HEAD's tree hold the same blob at the same path? */
    public static Provenance resolve(SpecOrigin origin) throws IOException {
        try (Repository repo = new FileRepositoryBuilder().findGitDir(origin.repositoryTop().toFile()).setMustExist(true).build()) {
            ObjectId head = repo.resolve("HEAD^{commit}");
            if (head == null) {
                return new Provenance(origin.repositoryTop(), origin.pathInRepository(), origin.blobId(), Optional.empty(),
                        Optional.empty(), Optional.empty(), true);
            }
            try (RevWalk walk = new RevWalk(repo)) {
                RevCommit commit = walk.parseCommit(head);
                ObjectId inHead = null;
                try (TreeWalk tree = TreeWalk.forPath(repo, origin.pathInRepository(), commit.getTree())) {
                    if (tree != null) inHead = tree.getObjectId(0);
                }
                boolean same = inHead != null && inHead.name().equals(origin.blobId());
                return new Provenance(origin.repositoryTop(), origin.pathInRepository(), origin.blobId(), Optional.empty(),
                        same ? Optional.of(head.name()) : Optional.empty(), Optional.of(head.name()), !same);
            }
        }
    }

    /** A spec read from a revision: the revision's commit, never uncommitted. */
    public static Provenance resolve(GitSpecSource source) throws IOException {
        GitSpecSource.Blob blob;
        try {
            blob = source.readBlob();
        } catch (dev.sandbox.engine.source.SpecSource.SourceException e) {
            throw new IOException(e.getMessage(), e);
        }
        GitSpecSource.Revision rev = source.gitRevision();
        Optional<String> head;
        try (Repository repo = new FileRepositoryBuilder().setGitDir(rev.gitDir()).setMustExist(true).build()) {
            head = Optional.ofNullable(repo.resolve("HEAD^{commit}")).map(ObjectId::name);
        }
        return new Provenance(rev.workTree(), source.path(), blob.id().name(), Optional.of(rev.name()),
                rev.commit().map(ObjectId::name), head, false);
    }
}
