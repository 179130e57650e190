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
            ObjectNode o = Output.JSON.createObjectNode();
            o.put("error", "cannot resolve the spec's git provenance: " + e.getMessage());
            return o;
        }
    }

    static ObjectNode json(Provenance p) {
        ObjectNode o = Output.JSON.createObjectNode();
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
        return o;
    }
}
