package dev.sandbox.engine.net;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.In;
import jnr.ffi.annotations.Out;
import jnr.ffi.types.size_t;
import jnr.ffi.types.ssize_t;

/**
 * The real {@link RouteKernel}: libc's socket calls, open/close and setns through JNR-FFI. The only class of
 * this package that names JNR types; it is loaded only by {@link LinkConfigurator#open()}, because binding
 * libc costs 100–150 ms of ASM code generation.
 */
final class JnrRtnetlink implements RouteKernel {

    /** The libc functions we bind; errno is saved after each call (JNR's default) and read per thread. */
    public interface LibC {
        int socket(int domain, int type, int protocol);

        int bind(int fd, @In byte[] address, int addressLength);

        int setsockopt(int fd, int level, int option, @In byte[] value, int valueLength);

        @ssize_t long sendto(int fd, @In byte[] buffer, @size_t long length, int flags,
                             @In byte[] address, int addressLength);

        @ssize_t long recvfrom(int fd, @Out byte[] buffer, @size_t long length, int flags,
                               Pointer address, Pointer addressLength);

        int open(String path, int flags);

        int close(int fd);

        int setns(int fd, int nstype);
    }

    private static final int AF_NETLINK = 16;
    private static final int SOCK_RAW = 3;
    private static final int SOCK_CLOEXEC = 0x80000;
    private static final int NETLINK_ROUTE = 0;
    private static final int SOL_NETLINK = 270;
    private static final int NETLINK_EXT_ACK = 11;
    private static final int MSG_TRUNC = 0x20;
    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 0x80000;
    private static final int CLONE_NEWNET = 0x40000000;
    /** struct sockaddr_nl {family u16, pad u16, pid u32, groups u32}: pid 0 is the kernel. */
    private static final int SOCKADDR_NL_LENGTH = 12;

    private final LibC libc;
    private final Runtime runtime;

    private JnrRtnetlink(LibC libc) {
        this.libc = libc;
        this.runtime = Runtime.getRuntime(libc);
    }

    /** Binds libc and opens the host's route socket: the body of {@link LinkConfigurator#open()}. */
    static LinkConfigurator openConfigurator() throws NetworkException {
        LibC libc;
        try {
            libc = LibraryLoader.create(LibC.class).load("c");
        } catch (RuntimeException | LinkageError e) {
            throw new NetworkException("bind libc through", "JNR-FFI", "ENOSYS",
                    "native access is unavailable: " + e.getMessage());
        }
        return VethConfigurator.open(new JnrRtnetlink(libc));
    }

    @Override
    public RouteSocket openSocket() throws ErrnoException {
        int fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0) {
            throw new ErrnoException("socket", runtime.getLastError(), null);
        }
        try {
            // Extended acks carry the kernel's own reason ("Nexthop has invalid gateway"); optional.
            libc.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, nativeInt(1), 4);
            if (libc.bind(fd, sockaddrNl(), SOCKADDR_NL_LENGTH) != 0) {
                throw new ErrnoException("bind", runtime.getLastError(), null);
            }
            return new Socket(fd);
        } catch (ErrnoException | RuntimeException e) {
            libc.close(fd);
            throw e;
        }
    }

    @Override
    public int openNetns(long pid) throws ErrnoException {
        int fd = libc.open("/proc/" + pid + "/ns/net", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            throw new ErrnoException("open /proc/" + pid + "/ns/net", runtime.getLastError(), null);
        }
        return fd;
    }

    @Override
    public boolean isCallersNetns(int netnsFd) {
        try {
            // Both read as "net:[inode]"; thread-self, because a namespace belongs to a thread.
            Path ours = Files.readSymbolicLink(Path.of("/proc/thread-self/ns/net"));
            Path theirs = Files.readSymbolicLink(Path.of("/proc/self/fd/" + netnsFd));
            return ours.equals(theirs);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * setns(2) changes only the calling thread's namespace, so the work runs on a fresh thread that exits
     * afterwards: a pooled thread would carry the sandbox's namespace into unrelated work. The thread starts
     * no threads of its own (a thread created there would inherit the namespace).
     */
    @Override
    public void runInNetns(int netnsFd, InsideWork work) throws ErrnoException, NetworkException {
        Throwable[] failure = new Throwable[1];
        Thread thread = new Thread(() -> {
            try {
                if (libc.setns(netnsFd, CLONE_NEWNET) != 0) {
                    throw new ErrnoException("setns", runtime.getLastError(), null);
                }
                try (RouteSocket inside = openSocket()) {
                    work.run(inside);
                }
            } catch (Throwable e) {
                failure[0] = e;
            }
        }, "sandbox-netns-setup");
        thread.setDaemon(true);
        thread.start();
        joinUninterruptibly(thread);
        Throwable thrown = failure[0];
        if (thrown instanceof ErrnoException e) {
            throw e;
        }
        if (thrown instanceof NetworkException e) {
            throw e;
        }
        if (thrown instanceof RuntimeException e) {
            throw e;
        }
        if (thrown instanceof Error e) {
            throw e;
        }
        if (thrown != null) {
            throw new IllegalStateException("configuring the sandbox's network namespace failed", thrown);
        }
    }

    @Override
    public void closeFd(int fd) {
        libc.close(fd);
    }

    /** The work is a handful of synchronous netlink requests: wait it out, then restore the interrupt. */
    private static void joinUninterruptibly(Thread thread) {
        boolean interrupted = false;
        while (true) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private static byte[] sockaddrNl() {
        byte[] address = new byte[SOCKADDR_NL_LENGTH];
        byte[] family = nativeShort(AF_NETLINK);
        address[0] = family[0];
        address[1] = family[1];
        return address;
    }

    private static byte[] nativeInt(int value) {
        return ByteBuffer.allocate(4).order(ByteOrder.nativeOrder()).putInt(value).array();
    }

    private static byte[] nativeShort(int value) {
        return ByteBuffer.allocate(2).order(ByteOrder.nativeOrder()).putShort((short) value).array();
    }

    /** One NETLINK_ROUTE socket fd; sends to the kernel (port 0), retries EINTR. */
    private final class Socket extends DatagramRouteSocket {

        private static final int EINTR = ErrnoNames.EINTR;

        private final byte[] kernelAddress = sockaddrNl();
        private int fd;

        Socket(int fd) {
            this.fd = fd;
        }

        @Override
        protected void send(byte[] datagram) throws ErrnoException {
            while (true) {
                long sent = libc.sendto(open(), datagram, datagram.length, 0, kernelAddress, SOCKADDR_NL_LENGTH);
                if (sent == datagram.length) {
                    return;
                }
                int errno = sent < 0 ? runtime.getLastError() : ErrnoNames.EMSGSIZE;
                if (errno != EINTR) {
                    throw new ErrnoException("sendto", errno, null);
                }
            }
        }

        @Override
        protected int receive(byte[] buffer) throws ErrnoException {
            while (true) {
                long received = libc.recvfrom(open(), buffer, buffer.length, MSG_TRUNC, null, null);
                if (received >= 0) {
                    return (int) Math.min(received, Integer.MAX_VALUE);
                }
                int errno = runtime.getLastError();
                if (errno != EINTR) {
                    throw new ErrnoException("recvfrom", errno, null);
                }
            }
        }

        @Override
        public void close() {
            if (fd >= 0) {
                libc.close(fd);
                fd = -1;
            }
        }

        private int open() {
            if (fd < 0) {
                throw new IllegalStateException("the netlink socket is closed");
            }
            return fd;
        }
    }
}
