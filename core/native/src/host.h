/*
 * host.h: the contract between the files of the monitor M (the host side of the runtime, which
 * replaced the Java controller): monitor.c (M's flow, M<->H conversation, printing), host.c (the host
 * steps of stages prepare/identity: runtime dir, lock, checks, cgroup create/place, id maps),
 * netlink.c (stage connect: veth links over rtnetlink), journal.c (the undo journal, state.json,
 * teardown and gc). docs/architecture.md describes the formats.
 *
 * Errors: every function that can fail returns 0 on success or -1 with *e filled; nothing is printed
 * by them. M prints one line: "sandbox: " + host_error_line(e).
 */
#ifndef SANDBOX_HOST_H
#define SANDBOX_HOST_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include "plan.h"

/* A failed host step, in the shape every sandbox error has: <step>: <syscall> <path>: <ERRNO> (<hint>).
 * When sys and err are empty, the line is "<step>: <hint>" (a message that is already complete, e.g.
 * rtnetlink's "create veth h0: EEXIST (...)"). */
struct host_error {
    char step[128];   /* "<stage> <op>[ [plugin]]" e.g. "prepare cgroup-create", "connect veth" */
    char sys[64];     /* e.g. "mkdir", "write", "RTM_NEWLINK" */
    char path[4096];
    char err[32];     /* errno name ("EACCES"), or e.g. "exit 1" for newuidmap */
    char hint[1024];
};

/* Fills *e (any field may be NULL = empty); always returns -1 so callers can `return host_fail(...)`. */
int host_fail(struct host_error *e, const char *step, const char *sys, const char *path, int err,
              const char *hint_fmt, ...) __attribute__((format(printf, 6, 7)));
/* "<step>: <sys> <path>: <ERR> (<hint>)" exactly as HostStepException.format did in Java. */
void host_error_line(const struct host_error *e, char *out, size_t len);
/* The step label: "<stage> <op>" */
void host_step_label(const struct step *s, char *out, size_t len);

/* ---- host.c: runtime dir and the host steps of stages prepare and identity (M) ---- */

/* Creates <base>/<name> (base: created 0711 if missing, must be the caller's and not group/other
 * writable: RuntimePaths.ensureTrusted's rules) born locked: a fresh dir with a `lock` file that M
 * holds with flock(LOCK_EX) for its whole life, renamed into place. A name whose dir exists and whose
 * lock can be taken is dead: it is finished first (journal_teardown) and replaced. A held lock:
 * -1 with err "EAGAIN" ("a sandbox named 'N' is running or starting; stop it or choose another name").
 * On success *dirfd is an O_PATH|O_DIRECTORY fd of the new dir, *lockfd the held lock. */
int runtime_dir_create(const char *base, const char *name, int *dirfd, int *lockfd, struct host_error *e);

int host_check_path(const struct step *s, struct host_error *e);          /* prepare check-path */
int host_check_shared_mount(const struct step *s, struct host_error *e);  /* prepare check-shared-mount */
int host_cgroup_create(const struct step *s, struct host_error *e);       /* prepare cgroup-create */
int host_cgroup_place(const struct step *s, pid_t pid, struct host_error *e);   /* identity cgroup-place */
int host_write_setgroups(const struct step *s, pid_t pid, struct host_error *e);/* identity write-setgroups */
int host_write_id_map(const struct step *s, pid_t pid, struct host_error *e);   /* identity write-id-map (direct, or newuidmap/newgidmap) */

/* ---- resources.c: the resources section's cgroup files (M) ---- */

/* prepare cgroup-set path=P file=F value=V: one write(2) of V to P/F. F must be one name and P on a cgroup
 * filesystem (fstatfs: CGROUP_SUPER_MAGIC or CGROUP2_SUPER_MAGIC), so the step can't write anything else.
 * Errors name the file, the errno and a hint (EINVAL: the value refused; ENOENT: controller not enabled). */
int host_cgroup_set(const struct step *s, struct host_error *e);
/* After the target exited, before teardown: the OOM kills counted in cgroup `path` (v2 memory.events, v1
 * memory.oom_control: "oom_kill N"). Returns N (0: none, line ""), -1 when neither file is readable. N > 0:
 * line = "killed by the memory limit (64M)" (the limit read back from memory.max / memory.limit_in_bytes),
 * with ": N processes" appended when N > 1. M prints "sandbox: " + line and keeps the target's status. */
int cgroup_oom_report(const char *path, char *line, size_t len);

/* ---- netlink.c: stage connect (M) ---- */

/* Creates the veth of a `connect veth` step with its peer moved into /proc/<child>/ns/net, renames
 * and configures both ends (MTU, MAC, addresses, up, default route via gateway). Refuses a host
 * address another host interface has (EADDRINUSE) before creating anything. On failure nothing of
 * it is left, unless the rollback of a created link failed: then *left_behind (may be NULL) is set
 * true. Callers keep their journal record only then: a failure before the create (EEXIST,
 * EADDRINUSE) means the name is someone else's, and the record's undo would delete their link.
 * The messages are VethConfigurator's. */
int veth_setup(const struct step *s, pid_t child, bool *left_behind, struct host_error *e);
/* Deletes a host link by name; a link that is gone already (ENODEV) is success. Refuses a link that
 * is not a veth (EINVAL) and leaves alone (success) a veth whose peer is on the host: never a
 * sandbox's host end, but e.g. the interface whose name made veth_setup fail with EEXIST. */
int veth_delete(const char *host_name, struct host_error *e);

/* ---- labs (lab.c, docs/labs.md); the netlink parts in netlink.c ---- */
/* connect sysctl (name value): writes /proc/sys/net/... from a fork that entered the child's network
 * namespace (first its user namespace when not root); refuses a child in the monitor's own. */
int netns_sysctl(const struct step *s, pid_t child, struct host_error *e);
int lab_veth(int ns_a, const char *if_a, int ns_b, const char *if_b, long long mtu, char *why, size_t len);
int lab_here_link(const char *ifname, const char *cidr, char *why, size_t len);   /* cidr NULL: bring it up */
int lab_here_route(const char *to, const char *via, char *why, size_t len);
int lab_here_bridge(const char *name, char *why, size_t len);
int lab_here_enslave(const char *port, const char *bridge, char *why, size_t len);
/* `sandbox-init lab-up FILE`: the lab file Java wrote (docs/labs.md, "How it runs") */
int lab_main(int argc, char **argv);
/* journal undo op netns-unmount: umount2(path, MNT_DETACH) + unlink; idempotent */
int lab_netns_unmount(const char *path, struct host_error *e);
/* In the caller's netns: RTM_DELLINK of `ifname` (gone already: 0); a veth's peer goes with it */
int lab_here_delete(const char *ifname, char *why, size_t len);
/* `sandbox down NODE` of a lab node (verbs.c calls it after the node's record went): the node's links
 * deleted inside its netns (so their peers vanish from the other nodes and the bridges), its netns
 * unmounted; reads <base>/<lab>/lab. A rootless lab's namespaces are its holder's descriptors: holder
 * and holder_start are the lab record's monitor (state.json), checked after the open. Failures are
 * reported to `report`; returns their count. */
int lab_node_unlink(const char *base, const char *lab, const char *node, pid_t holder, unsigned long long holder_start, FILE *report);
/* journal undo op sandbox-down (lab.c writes one before each node starts; verbs.c): the record at
 * `path` when it is a node of `lab` (or a dead record that says nothing): its target SIGKILLed, its
 * monitor's teardown awaited, the record removed. Gone already: 0. */
int lab_node_down(const char *path, const char *lab, struct host_error *e);

/* ---- usernet.c: stage connect, op user-net (M) ---- */

/* Starts pasta (a user-mode network stack) for the network namespace of `child` as the step says, in the
 * foreground as M's child: forked, held until journal_add_kill_tree(journal_fd, pid, start) recorded it
 * (journal_fd < 0: no record, for tests), then execve'd; returns once pasta has configured the namespace
 * (it writes its pid to a pipe), within 5 s, with *helper_pid = pasta's pid. On failure nothing of it is
 * left; the message carries pasta's own error line. Root: pasta stays root (--runas 0:0) in the host's
 * user namespace; rootless: it joins /proc/<child>/ns/user (C must be dumpable: H's connect window). */
int usernet_start(const struct step *s, pid_t child, int journal_fd, pid_t *helper_pid, struct host_error *e);
/* SIGKILL and reap a pasta usernet_start started (pid <= 0: nothing); the kill-tree record does it at teardown. */
void usernet_stop(pid_t pid);

/* ---- journal.c: the undo journal, state.json, teardown, gc ---- */

/* The undo journal <rt>/journal: one record per line, "<undo-op> TAB key=value..." (values escaped as
 * plan values). Each record is appended and fsync()ed BEFORE the resource it undoes is created.
 * Undo ops: "cgroup-remove path=P", "veth-delete name=N", "kill-tree pid=P start=T" (the monitor's
 * process tree, for sandboxes without a cgroup). */
int journal_open(int dirfd, int *fd, struct host_error *e);   /* creates "journal" (O_EXCL, 0600) */
int journal_add(int fd, const char *op, const char *key, const char *value, struct host_error *e);
/* "kill-tree pid=P start=T": the one record with two keys */
int journal_add_kill_tree(int fd, pid_t pid, unsigned long long start, struct host_error *e);
/* A record of n keys (lab.c: sandbox-down path= lab=) */
int journal_add_kv(int fd, const char *op, int n, const char *const keys[], const char *const vals[], struct host_error *e);
/* Takes back the records appended since the journal's size was `at` (ftruncate, fsync): for a create
 * that failed before it created anything (cgroup-create's mkdir EEXIST, veth EEXIST/EADDRINUSE), whose
 * record names another sandbox's cgroup or link; replaying it would kill or delete theirs. */
int journal_forget(int fd, off_t at, struct host_error *e);

/* Replays <rt>/journal in reverse, each record idempotent (ENOENT/ENODEV/ESRCH are success), then
 * removes the runtime dir itself. Prints one "sandbox: cleanup: ..." line per failure to `report`
 * (may be NULL). Returns 0 when nothing is left, -1 otherwise (*e: the first failure). Callers hold
 * the dir's lock. */
int journal_teardown(const char *rtdir, FILE *report, struct host_error *e);

/* The same replay without removing the dir: the journal is emptied once every record is undone (a
 * detached sandbox's record outlives its run: state.json, log). Callers hold the dir's lock. */
int journal_undo(const char *rtdir, FILE *report, struct host_error *e);

/* Undo implementations (journal.c), also used by M directly. */
int cgroup_remove(const char *path, struct host_error *e);     /* kill all (cgroup.kill on v2), rmdir depth-first, then the `sandbox` parent if empty */

/* state.json in the runtime dir, rewritten atomically (temp file + rename). */
struct sandbox_state {
    const char *name;
    const char *status;        /* "creating", "running", "exited", "killed", "stopping" */
    const char *spec;          /* the spec's path, "" when unknown */
    const char *spec_sha256;
    const char *git_repo, *git_path, *git_blob, *git_commit;   /* the spec's git origin (docs/git.md); NULL or "" = none */
    const char *plan_sha256;
    pid_t monitor_pid; unsigned long long monitor_start;   /* start time: field 22 of /proc/PID/stat */
    pid_t helper_pid;  unsigned long long helper_start;
    pid_t target_pid;  unsigned long long target_start;    /* host pid of C (the init when there is one) */
    const char *cgroup;        /* first cgroup path, "" when none */
    long long created_ms, started_ms, finished_ms;  /* CLOCK_REALTIME ms since epoch; 0 = not yet */
    int exit_status;           /* -1 until known */
    bool detached;
    const char *lab;           /* the lab this record belongs to (a node: its lab; the lab's own record: its name); NULL = none */
};
/* ns_pid > 0: also records the inodes of /proc/<ns_pid>/ns/TYPE; ns_pid 0: keeps those of the last call */
int state_write(int dirfd, const struct sandbox_state *st, pid_t ns_pid, struct host_error *e);
/* A whole small file below dirfd (O_NOFOLLOW), NUL-terminated, *len without the NUL; NULL with errno (EFBIG beyond max). */
char *read_file_at(int dirfd, const char *name, size_t max, size_t *len);
/* field 22 of /proc/<pid>/stat, 0 when the process is gone */
unsigned long long proc_start_time(pid_t pid);

/* `sandbox-init gc BASE`: finishes every dead sandbox in BASE (lock takeable): journal_teardown; prints
 * "removed NAME" per sandbox to stdout. Returns the exit status (0, or 1 when something was left). */
int gc_main(const char *base);   /* base NULL: runtime_base() */
/* The base dir of runtime dirs, as RuntimePaths.base (Java): $SANDBOX_RUNTIME_DIR, else /run/sandbox
 * for root, else $XDG_RUNTIME_DIR/sandbox (a dir we may write), else /tmp/sandbox-<uid>. -1: too long. */
int runtime_base(char *out, size_t len);

/* ---- crash points (tests only): SANDBOX_CRASH_AT=<name> makes the process that reaches the point
 * named <name> kill itself with SIGKILL there. Names are listed in docs/architecture.md. ---- */
void crash_point(const char *name);

#endif
