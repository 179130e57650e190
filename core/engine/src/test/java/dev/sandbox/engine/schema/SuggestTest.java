package dev.sandbox.engine.schema;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.List;
import org.junit.jupiter.api.Test;

class SuggestTest {

    @Test
    void typosTranspositionsAndCaseFindTheKey() {
        List<String> keys = List.of("hostname", "domainname", "init", "readonlyRoot");
        assertEquals("hostname", Suggest.closest("hostnme", keys));
        assertEquals("init", Suggest.closest("inti", keys));
        assertEquals("readonlyRoot", Suggest.closest("readOnlyRoot", keys));
    }

    @Test
    void unrelatedWordsGetNoSuggestion() {
        assertNull(Suggest.closest("banana", List.of("hostname", "init")));
    }

    @Test
    void distanceCountsATranspositionAsOneEdit() {
        assertEquals(1, Suggest.distance("ab", "ba"));
        assertEquals(3, Suggest.distance("kitten", "sitting"));
    }
}
