package dev.sandbox.engine.net;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class NetworkExceptionTest {

    @Test
    void messageIsStepInterfaceErrnoAndHint() {
        NetworkException e = new NetworkException("create veth", "sb-web0", "EEXIST",
                "an interface with that name already exists on the host");
        assertEquals("create veth sb-web0: EEXIST (an interface with that name already exists on the host)",
                e.getMessage());
        assertEquals("create veth", e.step());
        assertEquals("sb-web0", e.interfaceName());
        assertEquals("EEXIST", e.errnoName());
    }

    @Test
    void hintIsLeftOutWhenUnknown() {
        NetworkException e = new NetworkException("bring up", "eth0", "EBUSY", null);
        assertEquals("bring up eth0: EBUSY", e.getMessage());
        assertNull(e.hint());
    }

    @Test
    void errnoNamesComeFromTheTableOrTheNumber() {
        assertEquals("EEXIST", ErrnoNames.name(17));
        assertEquals("EPERM", ErrnoNames.name(1));
        assertEquals("ERANGE", ErrnoNames.name(34));
        assertEquals("EADDRINUSE", ErrnoNames.name(98));
        assertEquals("errno 4095", ErrnoNames.name(4095));
    }
}
