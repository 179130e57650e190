package dev.sandbox.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** Up.jvmStart reads /proc itself; it must say what ProcessHandle says (the native index's racy-clean rule uses it). */
class UpJvmStartTest {

    @Test
    void theStartFromProcIsProcessHandles() {
        long expected = ProcessHandle.current().info().startInstant().orElseThrow().toEpochMilli();
        assertEquals(expected, Up.jvmStart().orElseThrow());
    }
}
