/*
 * runtime.h: what the helper's files share: the includes, the syscalls glibc may lack, the state of
 * the process (g) and each file's entry points. Which file owns what is written at the top of each
 * .c file and in docs/architecture.md.
 */
#ifndef SANDBOX_RUNTIME_H
#define SANDBOX_RUNTIME_H

#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <net/if.h>
#include <seccomp.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#ifndef MOUNT_ATTR_RDONLY /* glibc < 2.36: take the new mount API from the kernel headers */
#include <linux/mount.h>
#endif

#include "plan.h"
#include "host.h"

#define VERSION "0.1.0"
#define PROTOCOL_VERSION 1

/* Syscalls glibc may lack; the numbers are the same on every architecture but alpha. */
#ifndef __NR_open_tree
#define __NR_open_tree 428
#define __NR_move_mount 429
#endif
#ifndef __NR_fsopen
#define __NR_fsopen 430
#define __NR_fsconfig 431
#define __NR_fsmount 432
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

static inline int sys_open_tree(int dfd, const char *path, unsigned flags) { return (int)syscall(__NR_open_tree, dfd, path, flags); }
static inline int sys_move_mount(int fdfd, const char *fpath, int tdfd, const char *tpath, unsigned flags)
{ return (int)syscall(__NR_move_mount, fdfd, fpath, tdfd, tpath, flags); }
static inline int sys_mount_setattr(int dfd, const char *path, unsigned flags, struct mount_attr *a)
{ return (int)syscall(__NR_mount_setattr, dfd, path, flags, a, sizeof *a); }
static inline int sys_fsopen(const char *fstype, unsigned flags) { return (int)syscall(__NR_fsopen, fstype, flags); }
static inline int sys_fsconfig(int fd, unsigned cmd, const char *key, const void *val, int aux)
{ return (int)syscall(__NR_fsconfig, fd, cmd, key, val, aux); }
static inline int sys_fsmount(int fd, unsigned flags, unsigned attrs) { return (int)syscall(__NR_fsmount, fd, flags, attrs); }
static inline int sys_openat2(int dfd, const char *path, struct open_how *how) { return (int)syscall(__NR_openat2, dfd, path, how, sizeof *how); }
static inline int sys_pivot_root(const char *new_root, const char *put_old) { return (int)syscall(SYS_pivot_root, new_root, put_old); }
static inline int sys_close_range(unsigned lo, unsigned hi) { return (int)syscall(__NR_close_range, lo, hi, 0); }
/* Raw clone with a NULL stack returns twice like fork(), but takes namespace flags (as bubblewrap's
 * raw_clone; glibc's clone() wants a separate stack and a function). Only s390 swaps the first two
 * arguments; the others are 0. */
static inline pid_t sys_clone(unsigned long flags)
{
#if defined(__s390__) || defined(__CRIS__)
    return (pid_t)syscall(SYS_clone, 0, flags, 0, 0, 0);
#else
    return (pid_t)syscall(SYS_clone, flags, 0, 0, 0, 0);
#endif
}

/* fork(2) straight into a cgroup v2 directory (clone3(2) CLONE_INTO_CGROUP, Linux 5.7+): the child
 * starts in that cgroup, so nobody has to move it there with a write to cgroup.procs, which takes the
 * kernel's cgroup_threadgroup_rwsem for writing (a synchronize_rcu: 0-12 ms measured on this VM; clone3
 * takes it for reading only). Like fork() without glibc's bookkeeping: single-threaded callers only, and
 * stdio flushed first. -1 with errno (ENOSYS, E2BIG: an older kernel; EBADF, EOPNOTSUPP: not cgroup v2). */
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif
struct sandbox_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
static inline pid_t fork_into_cgroup(int cgroup_fd)
{
    struct sandbox_clone_args a = { .flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgroup_fd };
    return (pid_t)syscall(__NR_clone3, &a, sizeof a);
}

#define MAX_TREES 64
struct runtime {
    int ctl;                   /* control socket, O_CLOEXEC */
    int sync_rd, sync_wr;      /* H releases C through this pipe; C keeps the read end to notice H's death */
    pid_t helper;              /* H's pid, to check C's parent */
    pid_t parent;              /* in the init's target: the init's pid; 0 in C (use the pipe) */
    pid_t child;               /* C, in H */
    long grace_ms;
    bool trace;                /* --trace: report each step's duration (sandbox up -v) */
    bool connect_window;       /* C is dumpable from its birth until released: pasta (the caller's uid) opens /proc/<C>/ns/net and ns/user */
    const char *newroot;       /* the pivot-root step's path: paths below it are checked until the pivot */
    bool pivoted;
    const char *plan_path;
    char *plan_text;
    struct step *steps;
    int nsteps;
    const struct step *cur;    /* the step being executed, named in ERROR */
    int cap_last;
    mode_t umask_saved;
    sigset_t sigs;             /* blocked in H from the start, read through signalfd */
    sigset_t queued;           /* SIGNAL messages received before C was released */
    int tfd;                   /* grace timer: SIGKILL when C did not stop within grace_ms of a stop signal */
    bool grace_armed;          /* a stop is in progress (a forwarded TERM/HUP/INT, or the timeout) */
    int stop_sig;              /* the signal that started it */
    long long stop_at_ms;      /* when (CLOCK_MONOTONIC) */
    long long timeout_ms;      /* the `timeout` step: SIGTERM to C this long after its release; 0 = none */
    int timeout_fd;            /* its timer */
    bool timed_out;            /* it expired: H exits 124 */
    int procfd;                /* the host's /proc, opened before any join (a joined mount namespace has another) */
    bool has_init;             /* the plan has an init step: C is the PID 1 loop, never the target itself */
    const struct step *userns; /* the step that created or joined a user namespace (H becomes its root) */
    bool filtered;             /* a seccomp filter is loaded: no more prctl calls of our own */
    const char *trace_note;    /* appended to the step's TRACE line once (" cached": a seccomp filter from the cache) */
    bool report_started;       /* run mode: H sends STARTED once no read end of the sync pipe is left (C exec'd) */
    struct { const char *id; int fd; } trees[MAX_TREES];
    int ntrees;
};
extern struct runtime g;

/* main.c: start-up shared by the modes; H's flow */
extern const char *reexec_sys;  /* the sealed re-exec failed in this call (NULL: it did not) */
extern int reexec_err;
const char *reexec_hint(void);
_Noreturn void usage(const char *why);
long parse_grace_ms(const char *v);
void block_signals(void);
_Noreturn void helper_main(void);

/* detach.c: `sandbox-init run --detach` (the monitor's detached half and its log) */
void detach_fork(const char *name);
bool detach_enabled(void);
int detach_open_log(int dirfd, struct host_error *e);
void detach_in_helper(void);
void detach_after_helper(void);
int detach_log_fd(void);
void detach_pump(void);
void detach_started(void);
bool detach_running(void);
void detach_drain(void);

/* verbs.c: ps, wait, down, logs (no JVM) */
bool is_verb(const char *arg);
int verbs_main(int argc, char **argv);

/* monitor.c: `sandbox-init run` (M) */
int monitor_main(int argc, char **argv);
void remove_tree(const char *path); /* host.c: rm -rf without following symlinks */
bool fcntl_locked(int fd);          /* host.c: an fcntl lock (an earlier version's controller) is held on fd's file */

/* errors.c: reporting a failed step */
#define NESTED_HINT "sandbox itself runs under a seccomp filter (Seccomp: 2 in /proc/self/status), most likely " \
    "inside another sandbox or container: a nested sandbox (sandbox up or unshare inside) needs the outer " \
    "one's `process.seccomp: unconfined` and capabilities (CAP_SYS_ADMIN or a user namespace)"
const char *errno_name(int err);
const char *find_hint(const char *sys, const char *detail, int err);
bool outer_seccomp(void);
_Noreturn void die(int code, const char *sys, const char *detail, const char *path, int err, const char *hint);
void check(long rc, const char *sys, const char *detail, const char *path);
_Noreturn void bad_value(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* plan.c: loading the plan, the executors' value helpers, running a stage */
void load_plan(void);
const char *nonempty(const char *v);
unsigned long one_name(const struct step *s, const char *key, const struct name_val *t, unsigned long def);
unsigned long names(const struct step *s, const char *key, const struct name_val *t);
long long number(const struct step *s, const char *key, int base, long long min, long long max, long long def);
size_t number_list(const struct step *s, const char *key, unsigned long max, unsigned long **out);
void run_stage(enum stage stage);

/* control.c: the control socket and the supervision of C */
void send_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void send_error(int code, const char *step, const char *sys, const char *path, const char *err, const char *hint);
void wait_go(void);
_Noreturn void supervise(void);
int status_code(int status);
void take_early_signals(void);
void op_timeout(const struct step *s);

/* ns.c: stage enter and stage clone (H) */
void open_joins(void);
void become_userns_root(void);
void op_join(const struct step *s);
void op_unshare_user(const struct step *s);
void op_unshare(const struct step *s);
void op_timens_offset(const struct step *s);
void op_clone(const struct step *s);

/* mount.c: stage mounts (C), paths resolved inside the new root */
void op_propagation(const struct step *s);
void op_clone_tree(const struct step *s);
void op_attach_tree(const struct step *s);
void op_mkdir(const struct step *s);
void op_mount(const struct step *s);
void op_setattr(const struct step *s);
void op_symlink(const struct step *s);
void op_write_file(const struct step *s);
void op_pivot_root(const struct step *s);
void op_mask(const struct step *s);
void op_readonly_path(const struct step *s);

/* process.c: C's life (released by H, mounts, finish) and stage finish */
_Noreturn void child_main(void);
void arm_pdeathsig(void);
void op_sethostname(const struct step *s);
void op_link_up(const struct step *s);
void op_chdir(const struct step *s);
void op_setgroups(const struct step *s);
void op_setresgid(const struct step *s);
void op_setresuid(const struct step *s);
void op_setrlimit(const struct step *s);
void op_capabilities(const struct step *s);
void op_no_new_privs(const struct step *s);
void op_close_fds(const struct step *s);
void op_new_session(const struct step *s);
void op_pty(const struct step *s);
void op_init(const struct step *s);
void op_exec(const struct step *s);

/* seccomp.c; the filter cache (H prepares, C loads; the unit test calls the parts) */
void op_seccomp(const struct step *s);
void seccomp_prepare(void);
int seccomp_cache_open(void);
struct sock_filter;
char *seccomp_key(const struct step *s, size_t *len);
int seccomp_export(const struct step *s, struct sock_filter **insns, size_t *n);
int seccomp_prepare_step(const struct step *s, int dirfd, struct sock_filter **insns, size_t *n);

#endif
