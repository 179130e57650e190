package dev.sandbox.engine.provenance;

import dev.sandbox.engine.source.GitSpecSource;
import java.io.IOException;
import java.nio.file.Path;
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

    /** How many commits back from HEAD the commit holding a blob is looked for (HEAD included). */
    public static final int MAX_COMMITS = 1000;

    /** A working-tree file: see {@link #resolve(Path, String, String, Optional, Optional)}. */
    public static Provenance resolve(SpecOrigin origin) throws IOException {
        return resolve(origin.repositoryTop(), origin.pathInRepository(), origin.blobId(), Optional.empty(), Optional.empty());
    }

    /**
     * Provenance as {@code up} recorded it, resolved now. A working-tree file ({@code commit} empty): the commit is the
     * newest one reachable from HEAD (at most {@link #MAX_COMMITS} back, HEAD first) whose tree holds blob {@code blob}
     * at {@code path}, or empty; it has uncommitted changes when HEAD's tree does not hold that blob there (edited,
     * untracked, or no commit yet). A spec read from a revision ({@code commit} present): that commit, never uncommitted.
     */
    public static Provenance resolve(Path top, String path, String blob, Optional<String> revision, Optional<String> commit) throws IOException {
        try (Repository repo = new FileRepositoryBuilder().findGitDir(top.toFile()).setMustExist(true).build()) {
            ObjectId head = repo.resolve("HEAD^{commit}");
            Optional<String> headName = Optional.ofNullable(head).map(ObjectId::name);
            if (commit.isPresent()) return new Provenance(top, path, blob, revision, commit, headName, false);
            if (head == null) return new Provenance(top, path, blob, revision, Optional.empty(), Optional.empty(), true);
            try (RevWalk walk = new RevWalk(repo)) {
                walk.markStart(walk.parseCommit(head));
                Optional<String> found = Optional.empty();
                boolean inHead = false;
                int n = 0;
                for (RevCommit c : walk) {
                    if (n++ >= MAX_COMMITS) break;
                    try (TreeWalk tree = TreeWalk.forPath(repo, path, c.getTree())) {
                        if (tree != null && tree.getObjectId(0).name().equals(blob)) {
                            found = Optional.of(c.getId().name());
                            inHead = n == 1;
                            break;
                        }
                    }
                }
                return new Provenance(top, path, blob, revision, found, headName, !inHead);
            }
        }
    }

    /** The fields of {@code p} as docs/cli.md lists them (plan's {@code provenance}, inspect's {@code spec.git}). */
    public static void json(Provenance p, com.fasterxml.jackson.databind.node.ObjectNode o) {
        o.put("repository", p.repository().toString());
        o.put("path", p.path());
        o.put("blob", p.blobId());
        if (p.revision().isPresent()) o.put("revision", p.revision().get());
        else o.putNull("revision");
        if (p.commit().isPresent()) o.put("commit", p.commit().get());
        else o.putNull("commit");
        if (p.head().isPresent()) o.put("head", p.head().get());
        else o.putNull("head");
        o.put("uncommittedChanges", p.uncommittedChanges());
        o.put("describe", p.describe());
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
