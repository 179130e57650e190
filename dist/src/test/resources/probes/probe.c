/* Small probes for the helper's ITs: compiled by the tests with cc (HelperRun.probe()). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "tiocsti") == 0 && argc > 2) {
        /* the raw syscall: the request as a full 64-bit value, high bits included (CVE-2019-10063) */
        unsigned long req = TIOCSTI | (strcmp(argv[2], "high") == 0 ? 1UL << 32 : 0);
        char c = ' ';
        long rc = syscall(SYS_ioctl, 0, req, &c);
        printf("tiocsti-%s rc=%ld errno=%d\n", argv[2], rc, rc < 0 ? errno : 0);
    } else if (strcmp(mode, "session") == 0) {
        int fd = open("/dev/tty", O_RDWR | O_NOCTTY);
        printf("leader=%d tty_errno=%d\n", getsid(0) == getpid(), fd < 0 ? errno : 0);
    } else if (strcmp(mode, "sleep") == 0) {
        printf("ready\n");
        fflush(stdout);
        sleep(60);
        printf("slept\n");
    } else if (strcmp(mode, "uname") == 0) {
        struct utsname u;
        int rc = uname(&u);
        printf("uname rc=%d errno=%d\n", rc, rc < 0 ? errno : 0);
    } else if (strcmp(mode, "getppid") == 0) {
        syscall(SYS_getppid);
        printf("alive\n");
    } else if (strcmp(mode, "dumpable") == 0) {
        printf("dumpable=%d nnp=%d\n", prctl(PR_GET_DUMPABLE), prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
    } else if (strcmp(mode, "exchange") == 0 && argc > 4) {
        /* swaps two names as fast as it can for argv[4] ms: a directory and a symlink to a host dir */
        struct timespec t0, t;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        long n = 0, ms = atol(argv[4]);
        do {
            if (syscall(SYS_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 2 /* RENAME_EXCHANGE */) == 0)
                n++;
            clock_gettime(CLOCK_MONOTONIC, &t);
        } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
        printf("exchanges=%ld\n", n);
    } else {
        fprintf(stderr, "probe: unknown mode %s\n", mode);
        return 2;
    }
    fflush(stdout);
    return 0;
}
