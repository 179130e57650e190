package dev.sandbox.engine.seccomp;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.databind.JsonNode;
import dev.sandbox.engine.json.JsonTree;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * A seccomp profile in Docker's (moby's) JSON format, the superset of the OCI {@code linux.seccomp}
 * object: the parsed tree and, for every value, where it is written, so a problem in the profile is
 * reported with the profile's own {@code line:col}.
 */
public final class SeccompProfile {

    /** A profile is a few dozen KiB (Docker's default is 13 KiB): anything far larger is not one. */
    public static final int MAX_BYTES = 4 << 20;

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(64).maxStringLength(1 << 16).build()).build();

    /** A problem of the profile, at a JSON pointer (empty: the whole file) and its line and column (0 when unknown). */
    public static final class ProfileException extends Exception {
        private final int line;
        private final int column;

        ProfileException(String message, int line, int column) {
            super(message);
            this.line = line;
            this.column = column;
        }

        public int line() {
            return line;
        }

        public int column() {
            return column;
        }

        /** {@code name:line:col: message}, or {@code name: message} without a position. */
        public String describe(String name) {
            return line > 0 ? name + ":" + line + ":" + column + ": " + getMessage() : name + ": " + getMessage();
        }
    }

    private final JsonNode root;
    private final Map<String, int[]> where;

    private SeccompProfile(JsonNode root, Map<String, int[]> where) {
        this.root = root;
        this.where = where;
    }

    public static SeccompProfile parse(byte[] bytes) throws ProfileException {
        if (bytes.length > MAX_BYTES) throw new ProfileException("larger than " + (MAX_BYTES >> 20) + " MiB: not a seccomp profile", 0, 0);
        Map<String, int[]> where = new HashMap<>();
        JsonNode root;
        // One pass: the tree, and where each value starts by JSON pointer (a tree keeps no locations)
        try (JsonParser p = FACTORY.createParser(bytes)) {
            root = JsonTree.read(p, JsonTree.firstInto(where));
        } catch (JsonProcessingException e) {
            JsonLocation at = e.getLocation();
            throw new ProfileException("not valid JSON: " + e.getOriginalMessage(), at == null ? 0 : at.getLineNr(), at == null ? 0 : at.getColumnNr());
        } catch (IOException e) {
            throw new ProfileException("cannot read it: " + e.getMessage(), 0, 0);
        }
        if (root == null || !root.isObject()) throw new ProfileException("a seccomp profile is a JSON object {\"defaultAction\": ...}", 1, 1);
        return new SeccompProfile(root, where);
    }

    /** A profile given as a tree (the built-in one): its problems have no position. */
    static SeccompProfile of(JsonNode root) {
        return new SeccompProfile(root, Map.of());
    }

    JsonNode root() {
        return root;
    }

    /** A problem at the value under {@code pointer} (its parent's position when the value is absent). */
    ProfileException at(String pointer, String message) {
        String p = pointer;
        while (true) {
            int[] lc = where.get(p);
            if (lc != null) return new ProfileException(message, lc[0], lc[1]);
            if (p.isEmpty()) return new ProfileException(message, 0, 0);
            p = p.substring(0, p.lastIndexOf('/'));
        }
    }
}
