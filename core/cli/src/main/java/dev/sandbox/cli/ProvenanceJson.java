package dev.sandbox.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sandbox.engine.provenance.Provenance;
import dev.sandbox.engine.provenance.ProvenanceResolver;
import dev.sandbox.engine.provenance.SpecOrigin;
import dev.sandbox.engine.source.GitSpecSource;
import dev.sandbox.engine.source.SpecSource;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The {@code provenance} object of {@code plan --format json} (issue 11; recorded in a sandbox's
 * state once that exists): the spec's repository, path, blob id, the commit it matches and whether
 * it has uncommitted changes. {@code null} when the spec is not in a git repository.
 */
final class ProvenanceJson {

    private ProvenanceJson() {}

    static JsonNode of(Path specArgument, Optional<SpecSource> revisionSource) {
        try {
            Provenance p;
            if (revisionSource.isPresent() && revisionSource.get() instanceof GitSpecSource git) {
                p = ProvenanceResolver.resolve(git);
            } else {
                Optional<SpecOrigin> origin = SpecOrigin.of(specArgument);
                if (origin.isEmpty()) return NullNode.getInstance();
                p = ProvenanceResolver.resolve(origin.get());
            }
            return json(p);
        } catch (IOException | RuntimeException e) {
            ObjectNode o = Output.json().createObjectNode();
            o.put("error", "cannot resolve the spec's git provenance: " + e.getMessage());
            return o;
        }
    }

    /** A spec read from a revision: its repository, path, blob id (of the bytes read) and the revision's commit. */
    static dev.sandbox.engine.runtime.PlanFile.Source recorded(dev.sandbox.engine.runtime.PlanFile.Source source, SpecSource revisionSource,
                                                            dev.sandbox.engine.spec.LoadedSpec spec) {
        if (!(revisionSource instanceof GitSpecSource git) || spec.inputs().files().isEmpty()) return source;
        GitSpecSource.Revision rev = git.gitRevision();
        return source.withGit(rev.workTree().toString(), git.path(), SpecOrigin.blobId(spec.inputs().files().get(0).bytes()),
                rev.commit().map(org.eclipse.jgit.lib.ObjectId::name).orElse(null));
    }

    static ObjectNode json(Provenance p) {
        ObjectNode o = Output.json().createObjectNode();
        ProvenanceResolver.json(p, o);
        return o;
    }
}
