package dev.sandbox.engine.source;

import dev.sandbox.api.Diagnostic;
import dev.sandbox.api.Location;
import dev.sandbox.engine.spec.LoadedSpec;
import dev.sandbox.engine.spec.SpecLoader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The one call from a {@link SpecSource} into the YAML loader: bytes, the display name diagnostics
 * print, and the working-tree file relative paths resolve against.
 *
 * <p>MERGE NOTE (issue 11 / H3's loader rewrite): this wants the loader to offer
 * {@code load(displayName, bytes, baseFile)}; until then it decodes here and calls
 * {@link SpecLoader#parse}. When the new loader reads bytes itself (size bound, located "not UTF-8"),
 * this class shrinks to that one call.
 */
public final class SourceLoader {

    private SourceLoader() {}

    public static LoadedSpec load(SpecSource source) {
        String display = source.displayName();
        byte[] bytes;
        try {
            bytes = source.read();
        } catch (SpecSource.SourceException e) {
            return new LoadedSpec(source.workingFile(), display, null,
                    List.of(Diagnostic.error(e.code(), e.getMessage(), "", new Location(display, 0, 0), e.hint())));
        }
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return new LoadedSpec(source.workingFile(), display, null,
                    List.of(Diagnostic.error("spec.not-utf8", display + " is not UTF-8", "", new Location(display, 1, 1),
                            "save the spec as UTF-8")));
        }
        return new SpecLoader().parse(source.workingFile(), display, text);
    }
}
