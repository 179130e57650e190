package dev.sandbox.engine.source;

import java.io.File;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;
import org.eclipse.jgit.errors.AmbiguousObjectException;
import org.eclipse.jgit.errors.RevisionSyntaxException;
import org.eclipse.jgit.lib.FileMode;
import org.eclipse.jgit.lib.ObjectId;
import org.eclipse.jgit.lib.ObjectLoader;
import org.eclipse.jgit.lib.Repository;
import org.eclipse.jgit.revwalk.RevCommit;
import org.eclipse.jgit.revwalk.RevObject;
import org.eclipse.jgit.revwalk.RevTree;
import org.eclipse.jgit.revwalk.RevWalk;
import org.eclipse.jgit.storage.file.FileRepositoryBuilder;
import org.eclipse.jgit.treewalk.TreeWalk;

/**
 * A spec read from a git revision with JGit (never from git's CLI output): {@code HEAD~3:examples/a.yaml}
 * (path from the repository's top, as {@code git show} takes it) or {@code v1.2:./a.yaml} (relative to
 * the current directory). The revision is resolved once, so the spec and every file it includes come
 * from the same commit even if a branch moves meanwhile.
 */
public final class GitSpecSource implements SpecSource {

    private final Revision revision;
    private final String path;
    private final String displayName;

    /** One resolved revision of one repository. */
    public record Revision(File gitDir, Path workTree, String name, ObjectId tree, Optional<ObjectId> commit) {}

    private GitSpecSource(Revision revision, String path, String displayName) {
        this.revision = revision;
        this.path = path;
        this.displayName = displayName;
    }

    /** {@code REV:path} in the repository {@code cwd} is in. */
    public static GitSpecSource open(String argument, Path cwd) throws SourceException {
        int colon = argument.indexOf(':');
        String rev = argument.substring(0, colon);
        String rawPath = argument.substring(colon + 1);
        Revision revision = resolve(rev, cwd);
        String path = inRepository(rawPath, cwd, revision.workTree(), argument);
        return new GitSpecSource(revision, path, argument);
    }

    /** The working tree of the repository {@code cwd} is in; empty outside one (or in a bare one). */
    public static Optional<Path> workTree(Path cwd) {
        FileRepositoryBuilder builder = new FileRepositoryBuilder().readEnvironment().findGitDir(cwd.toAbsolutePath().toFile());
        if (builder.getGitDir() == null) return Optional.empty();
        try (Repository repo = builder.setMustExist(true).build()) {
            return repo.isBare() ? Optional.empty() : Optional.of(repo.getWorkTree().toPath());
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** The repository {@code cwd} is in, and {@code rev} resolved to a tree (and its commit, when it names one). */
    public static Revision resolve(String rev, Path cwd) throws SourceException {
        FileRepositoryBuilder builder = new FileRepositoryBuilder().readEnvironment().findGitDir(cwd.toAbsolutePath().toFile());
        if (builder.getGitDir() == null) {
            throw new SourceException("spec.not-in-repository", "'" + rev + ":...' names a git revision, but " + cwd.toAbsolutePath()
                    + " is not inside a git repository", "run sandbox from inside the repository, or name a file");
        }
        try (Repository repo = builder.setMustExist(true).build()) {
            if (repo.isBare()) {
                throw new SourceException("spec.bare-repository", "the repository " + repo.getDirectory() + " has no working tree",
                        "bind sources are read from the working tree; run sandbox in a checkout");
            }
            ObjectId id;
            try {
                id = repo.resolve(rev);
            } catch (AmbiguousObjectException e) {
                throw new SourceException("spec.ambiguous-revision", "revision '" + rev + "' is ambiguous: " + e.getCandidates().size()
                        + " objects start with it", "give more digits of the commit id");
            } catch (RevisionSyntaxException e) {
                throw new SourceException("spec.bad-revision", "'" + rev + "' is not a revision git understands", "e.g. HEAD~1, v1.2, a commit id, origin/main");
            }
            if (id == null) {
                throw new SourceException("spec.unknown-revision", "unknown revision '" + rev + "' in " + repo.getWorkTree(),
                        "check it with: git rev-parse " + rev + " (a new repository has no HEAD until its first commit)");
            }
            try (RevWalk walk = new RevWalk(repo)) {
                RevObject object = walk.peel(walk.parseAny(id));
                if (object instanceof RevCommit commit) {
                    return new Revision(repo.getDirectory(), repo.getWorkTree().toPath(), rev, commit.getTree().getId(), Optional.of(commit.getId()));
                }
                if (object instanceof RevTree tree) {
                    return new Revision(repo.getDirectory(), repo.getWorkTree().toPath(), rev, tree.getId(), Optional.empty());
                }
                throw new SourceException("spec.bad-revision", "'" + rev + "' names a " + org.eclipse.jgit.lib.Constants.typeString(object.getType())
                        + ", not a commit or a tree", "name a commit, a tag or a branch");
            }
        } catch (IOException e) {
            throw new SourceException("spec.unreadable", "cannot read the git repository of " + cwd.toAbsolutePath() + ": " + e.getMessage(), null);
        }
    }

    /**
     * The working-tree file {@code file} (relative to {@code cwd}, or absolute) as it is in revision
     * {@code rev}: what {@code sandbox diff REV SPEC} compares. The file need not exist in the working tree.
     */
    public static GitSpecSource atRevision(String rev, Path file, Path cwd) throws SourceException {
        Revision revision = resolve(rev, cwd);
        Path abs = cwd.toAbsolutePath().resolve(file).normalize();
        Path parent = abs.getParent() == null ? abs : real(abs.getParent());
        Path top = real(revision.workTree());
        Path relative = top.relativize(parent.resolve(abs.getFileName() == null ? "" : abs.getFileName().toString()));
        String path = relative.toString();
        if (path.isEmpty() || path.equals("..") || path.startsWith("../")) {
            throw new SourceException("spec.bad-revision-path", file + " is outside the repository " + revision.workTree(),
                    "name a spec inside the repository the current directory is in");
        }
        return new GitSpecSource(revision, path, rev + ":" + path);
    }

    /**
     * The commit that holds blob {@code blobId} at {@code path}: HEAD first, then HEAD's history (at most
     * {@code maxCommits} commits back). What a {@code git diff} driver uses to find the revision of the
     * temporary file it was handed, so the spec's includes can be read from the same revision.
     */
    public static Optional<GitSpecSource> findBlob(Path cwd, String path, String blobId, int maxCommits) {
        FileRepositoryBuilder builder = new FileRepositoryBuilder().readEnvironment().findGitDir(cwd.toAbsolutePath().toFile());
        if (builder.getGitDir() == null) return Optional.empty();
        try (Repository repo = builder.setMustExist(true).build(); RevWalk walk = new RevWalk(repo)) {
            if (repo.isBare()) return Optional.empty();
            ObjectId head = repo.resolve("HEAD^{commit}");
            if (head == null) return Optional.empty();
            walk.markStart(walk.parseCommit(head));
            int n = 0;
            for (RevCommit c : walk) {
                if (n++ >= maxCommits) break;
                try (TreeWalk tw = TreeWalk.forPath(repo, path, c.getTree())) {
                    if (tw != null && tw.getObjectId(0).name().equals(blobId)) {
                        String rev = c.getId().abbreviate(12).name();
                        Revision revision = new Revision(repo.getDirectory(), repo.getWorkTree().toPath(), rev, c.getTree().getId(), Optional.of(c.getId()));
                        return Optional.of(new GitSpecSource(revision, path, rev + ":" + path));
                    }
                }
            }
            return Optional.empty();
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** git's rule: the path is from the repository's top, unless it starts with ./ or ../ (relative to the current directory). */
    static String inRepository(String rawPath, Path cwd, Path workTree, String argument) throws SourceException {
        if (rawPath.startsWith("/")) {
            throw new SourceException("spec.bad-revision-path", "'" + argument + "': the path after ':' must be relative to the repository's top",
                    "drop the leading '/', or use REV:./path for a path relative to the current directory");
        }
        Path relative;
        if (rawPath.equals(".") || rawPath.startsWith("./") || rawPath.startsWith("../")) {
            Path top = real(workTree);
            Path here = real(cwd.toAbsolutePath());
            relative = top.relativize(here.resolve(rawPath).normalize());
        } else {
            relative = Path.of(rawPath).normalize();
        }
        String path = relative.toString();
        if (path.isEmpty() || path.equals("..") || path.startsWith("../")) {
            throw new SourceException("spec.bad-revision-path", "'" + argument + "' points outside the repository " + workTree,
                    "name a file inside the repository");
        }
        return path;
    }

    private static Path real(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            return p.toAbsolutePath().normalize();
        }
    }

    @Override
    public String displayName() {
        return displayName;
    }

    /** The path inside the repository, '/'-separated. */
    public String path() {
        return path;
    }

    public Revision gitRevision() {
        return revision;
    }

    @Override
    public Optional<String> revision() {
        return Optional.of(revision.name());
    }

    @Override
    public Path workingFile() {
        return revision.workTree().resolve(path);
    }

    @Override
    public byte[] read() throws SourceException {
        return readBlob().bytes();
    }

    /** The blob and its id. */
    public record Blob(ObjectId id, byte[] bytes) {}

    public Blob readBlob() throws SourceException {
        try (Repository repo = new FileRepositoryBuilder().setGitDir(revision.gitDir()).setMustExist(true).build();
             TreeWalk walk = TreeWalk.forPath(repo, path, revision.tree())) {
            if (walk == null) {
                throw new SourceException("spec.not-in-revision", "no file " + path + " in revision " + revision.name(),
                        "list what is there with: git ls-tree -r --name-only " + revision.name());
            }
            FileMode mode = walk.getFileMode(0);
            if (mode == FileMode.TREE) {
                throw new SourceException("spec.not-a-file", displayName + " is a directory in revision " + revision.name(), "name a YAML file");
            }
            if (mode != FileMode.REGULAR_FILE && mode != FileMode.EXECUTABLE_FILE) {
                throw new SourceException("spec.not-a-file", displayName + " is not a regular file in revision " + revision.name()
                        + (mode == FileMode.SYMLINK ? " (a symbolic link)" : ""), "name the file the link points to");
            }
            ObjectId id = walk.getObjectId(0);
            ObjectLoader loader = repo.open(id);
            if (loader.getSize() > SpecSources.MAX_BYTES) {
                throw new SourceException("spec.too-large", displayName + " is " + loader.getSize() + " bytes; a spec may have at most "
                        + SpecSources.MAX_BYTES, null);
            }
            return new Blob(id, loader.getBytes());
        } catch (IOException e) {
            throw new SourceException("spec.unreadable", "cannot read " + displayName + " from git: " + e.getMessage(), null);
        }
    }

    @Override
    public SpecSource resolveSibling(String relativePath) {
        int slash = path.lastIndexOf('/');
        String dir = slash < 0 ? "" : path.substring(0, slash + 1);
        String sibling = Path.of(dir + relativePath).normalize().toString();
        return new GitSpecSource(revision, sibling, revision.name() + ":" + sibling);
    }
}
