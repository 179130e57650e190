package dev.sandbox.engine.runtime;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The controller's end of the control socket (core/native/PROTOCOL.md): a Unix-domain stream socket
 * in the sandbox's 0700 runtime directory, newline-terminated text messages.
 */
final class ControlChannel implements AutoCloseable {

    private final Path path;
    private final ServerSocketChannel server;
    private SocketChannel peer;
    private final ByteBuffer in = ByteBuffer.allocate(64 * 1024);
    private final StringBuilder pending = new StringBuilder();

    ControlChannel(Path path) throws IOException {
        this.path = path;
        this.server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path), 1);
    }

    Path path() {
        return path;
    }

    /** Waits for the helper to connect; gives up when {@code alive} turns false or the timeout passes. */
    boolean accept(Duration timeout, java.util.function.BooleanSupplier alive) throws IOException {
        server.configureBlocking(false);
        try (Selector selector = Selector.open()) {
            server.register(selector, SelectionKey.OP_ACCEPT);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                if (selector.select(20) > 0) {
                    peer = server.accept();
                    if (peer != null) {
                        peer.configureBlocking(true);
                        return true;
                    }
                }
                if (!alive.getAsBoolean()) return false;
            }
        }
        return false;
    }

    /** The next line, or null at EOF. */
    String readLine() throws IOException {
        while (true) {
            int nl = pending.indexOf("\n");
            if (nl >= 0) {
                String line = pending.substring(0, nl);
                pending.delete(0, nl + 1);
                return line;
            }
            in.clear();
            int n = peer.read(in);
            if (n < 0) {
                if (pending.length() == 0) return null;
                String rest = pending.toString();
                pending.setLength(0);
                return rest;
            }
            in.flip();
            pending.append(StandardCharsets.UTF_8.decode(in));
        }
    }

    synchronized void send(String line) throws IOException {
        ByteBuffer out = StandardCharsets.UTF_8.encode(line + "\n");
        while (out.hasRemaining()) peer.write(out);
    }

    @Override
    public void close() {
        try {
            if (peer != null) peer.close();
        } catch (IOException ignored) {
            // closing: nothing useful to do
        }
        try {
            server.close();
        } catch (IOException ignored) {
            // closing: nothing useful to do
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException ignored) {
            // the runtime directory is removed right after
        }
    }
}
