/*
 * journal_test.c: unit tests of journal.c against the real kernel: the journal's format and escapes,
 * reverse replay, idempotence, the teardown of a runtime dir (symbolic links not followed, a mount
 * not crossed), kill-tree, state.json, start times, crash points, the runtime base dir and gc. As
 * root also cgroup_remove on a real cgroup2 cgroup and a v1 `pids` cgroup, each with child cgroups
 * and processes in them; mounts happen in a private mount namespace of a child process only.
 * Built with ASan and UBSan and run by Maven (core/native/pom.xml, phase test); exits 1 when a check
 * fails, naming it.
 *
 * veth_delete (netlink.c), host_fail and host_error_line (host.c) are stand-ins below: veth_delete
 * records the names it is asked to delete, so a test sees the order of the replay.
 */
#include "../runtime.h"
#include "../host.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/file.h>

static int checks, failures;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        checks++;                                                                     \
        if (!(cond)) {                                                                \
            failures++;                                                               \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
        }                                                                             \
    } while (0)

/* ---- stand-ins ---- */

int host_fail(struct host_error *e, const char *step, const char *sys, const char *path, int err, const char *hint_fmt, ...)
{
    if (!e)
        return -1;
    memset(e, 0, sizeof *e);
    snprintf(e->step, sizeof e->step, "%s", step ? step : "");
    snprintf(e->sys, sizeof e->sys, "%s", sys ? sys : "");
    snprintf(e->path, sizeof e->path, "%s", path ? path : "");
    snprintf(e->err, sizeof e->err, "%s", err ? errno_name(err) : "");
    if (hint_fmt) {
        va_list ap;
        va_start(ap, hint_fmt);
        vsnprintf(e->hint, sizeof e->hint, hint_fmt, ap);
        va_end(ap);
    }
    return -1;
}

void host_error_line(const struct host_error *e, char *out, size_t len)
{
    char call[sizeof e->sys + sizeof e->path + 2];
    snprintf(call, sizeof call, "%s%s%s", e->sys, e->sys[0] && e->path[0] ? " " : "", e->path);
    size_t n = (size_t)snprintf(out, len, "%s: ", e->step);
    if (n >= len)
        return;
    if (!call[0] && !e->err[0]) {
        snprintf(out + n, len - n, "%s", e->hint[0] ? e->hint : "failed");
        return;
    }
    n += (size_t)snprintf(out + n, len - n, "%s%s%s", call, call[0] && e->err[0] ? ": " : "", e->err);
    if (n < len && e->hint[0])
        snprintf(out + n, len - n, " (%s)", e->hint);
}

#define MAX_CALLS 64
static char *veth_calls[MAX_CALLS];
static int nveth_calls;
static bool failed_once;

static void reset_calls(void)
{
    for (int i = 0; i < nveth_calls; i++)
        free(veth_calls[i]);
    nveth_calls = 0;
}

int veth_delete(const char *host_name, struct host_error *e)
{
    if (nveth_calls < MAX_CALLS)
        veth_calls[nveth_calls++] = strdup(host_name);
    if (strcmp(host_name, "fail-always") == 0 || (strcmp(host_name, "fail-once") == 0 && !failed_once)) {
        failed_once = true;
        return host_fail(e, "connect veth", "RTM_DELLINK", host_name, EPERM, "a test's failure");
    }
    return 0;
}

/* ---- helpers ---- */

static char *temp_dir(void)
{
    char tmpl[] = "/tmp/journal-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        exit(2);
    }
    return strdup(d);
}

static char *path_of(const char *dir, const char *name)
{
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0)
        exit(2);
    return p;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&buf, &cap, '\0', f);
    fclose(f);
    if (n < 0) {
        free(buf);
        return strdup("");
    }
    return buf;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* A runtime dir with a journal holding `text` (written as it is). */
static char *runtime_dir_with(const char *base, const char *name, const char *text)
{
    char *rt = path_of(base, name);
    if (mkdir(rt, 0700) < 0) {
        perror(rt);
        exit(2);
    }
    char *j = path_of(rt, "journal");
    write_text(j, text);
    free(j);
    return rt;
}

static bool calls_are(const char *const *expected, int n)
{
    if (nveth_calls != n)
        return false;
    for (int i = 0; i < n; i++)
        if (strcmp(veth_calls[i], expected[i]) != 0)
            return false;
    return true;
}

static void print_calls(void)
{
    fprintf(stderr, "  veth_delete calls:");
    for (int i = 0; i < nveth_calls; i++)
        fprintf(stderr, " [%s]", veth_calls[i]);
    fputc('\n', stderr);
}

/* A child that exited; its pid and start time name no live process any more. */
static void dead_process(pid_t *pid, unsigned long long *start)
{
    int p[2];
    if (pipe(p) < 0)
        exit(2);
    pid_t c = fork();
    if (c == 0) {
        char b;
        close(p[1]);
        (void)!read(p[0], &b, 1);
        _exit(0);
    }
    *pid = c;
    *start = proc_start_time(c);
    close(p[0]);
    close(p[1]);
    waitpid(c, NULL, 0);
}

static bool killed_by_sigkill(pid_t pid)
{
    int status;
    return waitpid(pid, &status, 0) == pid && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

static bool gone_soon(pid_t pid)
{
    for (int i = 0; i < 200 && proc_start_time(pid) != 0; i++)
        usleep(10000);
    return proc_start_time(pid) == 0;
}

/* ---- tests ---- */

static void test_crash_points(void)
{
    /* must run before anything else calls crash_point in this process: the name is read once */
    pid_t c = fork();
    if (c == 0) {
        setenv("SANDBOX_CRASH_AT", "here", 1);
        crash_point("elsewhere");
        crash_point("here");
        _exit(0);
    }
    CHECK(killed_by_sigkill(c), "SANDBOX_CRASH_AT=here: the process reaching crash_point(\"here\") dies of SIGKILL");

    c = fork();
    if (c == 0) {
        unsetenv("SANDBOX_CRASH_AT");
        crash_point("here");
        _exit(7);
    }
    int status;
    CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 7, "no SANDBOX_CRASH_AT: nothing happens");

    c = fork();
    if (c == 0) {
        setenv("SANDBOX_CRASH_AT", "here", 1);
        crash_point("elsewhere");  /* the name is read here */
        setenv("SANDBOX_CRASH_AT", "later", 1);
        crash_point("later");
        _exit(8);
    }
    CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 8, "the name is read once");

    if (geteuid() != 0)
        return;
    /* a pid namespace's init can't SIGKILL itself: it exits 137 instead */
    c = fork();
    if (c == 0) {
        if (unshare(CLONE_NEWPID) < 0)
            _exit(99);
        pid_t init = fork();
        if (init == 0) {
            setenv("SANDBOX_CRASH_AT", "here", 1);
            crash_point("here");
            _exit(0);
        }
        int st;
        waitpid(init, &st, 0);
        _exit(WIFEXITED(st) && WEXITSTATUS(st) == 137 ? 0 : WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? 0 : 1);
    }
    CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 99),
          "PID 1 of a new pid namespace ends at its crash point (status %d)", status);
}

static void test_journal_format(void)
{
    char *base = temp_dir();
    char *rt = path_of(base, "fmt");
    mkdir(rt, 0700);
    int dirfd = open(rt, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int fd = -1, again = -1;
    struct host_error e;
    CHECK(journal_open(dirfd, &fd, &e) == 0 && fd >= 0, "journal_open: %s %s", e.sys, e.err);
    CHECK(journal_open(dirfd, &again, &e) == -1 && strcmp(e.err, "EEXIST") == 0 && again == -1,
          "a second journal_open fails with EEXIST (got %s)", e.err);
    CHECK(strstr(e.path, "/fmt/journal") != NULL, "the error names the journal's path: %s", e.path);
    struct stat st;
    char *j = path_of(rt, "journal");
    CHECK(stat(j, &st) == 0 && (st.st_mode & 07777) == 0600, "the journal is 0600");

    pid_t dead;
    unsigned long long start;
    dead_process(&dead, &start);
    CHECK(journal_add(fd, "veth-delete", "name", "a%b\tc\nd\xc3\xa9 \xff", &e) == 0, "journal_add");
    CHECK(journal_add_kill_tree(fd, dead, start, &e) == 0, "journal_add_kill_tree");
    CHECK(journal_add(fd, "cgroup-remove", "path", "/sys/fs/cgroup/unified/sandbox/journal-test-none x", &e) == 0, "journal_add");
    CHECK(journal_add(fd, "bad\top", "k", "v", &e) == -1 && strcmp(e.err, "EINVAL") == 0, "an op with a TAB is refused");
    CHECK(journal_add(fd, "op", "k=", "v", &e) == -1, "a key with '=' is refused");
    CHECK(journal_add(fd, "op", "k", NULL, &e) == -1, "a NULL value is refused");
    char *text = read_text(j), expected[512], boot[64] = "";
    FILE *bf = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (bf) {
        if (!fgets(boot, sizeof boot, bf))
            boot[0] = '\0';
        fclose(bf);
    }
    boot[strcspn(boot, "\n")] = '\0';
    snprintf(expected, sizeof expected,
             "# boot %s\n"
             "veth-delete\tname=a%%25b%%09c%%0Ad\xc3\xa9 \xff\n"
             "kill-tree\tpid=%d\tstart=%llu\n"
             "cgroup-remove\tpath=/sys/fs/cgroup/unified/sandbox/journal-test-none x\n", boot, (int)dead, start);
    CHECK(text && strcmp(text, expected) == 0, "the journal's text:\n%s\nexpected:\n%s", text, expected);
    free(text);
    close(fd);
    close(dirfd);

    /* the round trip: the replay hands the veth name back unescaped */
    reset_calls();
    char report[4096] = "";
    FILE *r = fmemopen(report, sizeof report, "w");
    CHECK(journal_teardown(rt, r, &e) == 0, "teardown: %s", e.hint);
    fclose(r);
    const char *names[] = { "a%b\tc\nd\xc3\xa9 \xff" };
    CHECK(calls_are(names, 1), "the escaped name comes back as it was");
    CHECK(report[0] == '\0', "nothing reported: %s", report);
    CHECK(!exists(rt), "the runtime dir is gone");
    free(j);
    free(rt);
    rmdir(base);
    free(base);
}

/* journal_forget: a create that failed before creating anything takes its record back, so the replay
 * never undoes another sandbox's cgroup or link of the same name */
static void test_forget(void)
{
    char *base = temp_dir();
    char *rt = path_of(base, "forget");
    mkdir(rt, 0700);
    int dirfd = open(rt, O_PATH | O_DIRECTORY | O_CLOEXEC);
    int fd = -1;
    struct host_error e;
    CHECK(journal_open(dirfd, &fd, &e) == 0, "journal_open: %s %s", e.sys, e.err);
    CHECK(journal_add(fd, "veth-delete", "name", "mine0", &e) == 0, "journal_add");
    off_t at = lseek(fd, 0, SEEK_END);
    CHECK(journal_add(fd, "veth-delete", "name", "theirs0", &e) == 0, "journal_add");
    CHECK(journal_forget(fd, at, &e) == 0, "journal_forget: %s %s", e.sys, e.err);
    CHECK(journal_add(fd, "veth-delete", "name", "mine1", &e) == 0, "journal_add after journal_forget");
    char *j = path_of(rt, "journal"), *text = read_text(j);
    const char *records = text ? strchr(text, '\n') : NULL; /* after the "# boot ID" line */
    CHECK(text && strncmp(text, "# boot ", 7) == 0 && records && strcmp(records + 1, "veth-delete\tname=mine0\nveth-delete\tname=mine1\n") == 0,
          "the forgotten record is gone, a later one follows the kept one:\n%s", text);
    free(text);
    CHECK(journal_forget(-1, 0, &e) == -1 && strcmp(e.err, "EBADF") == 0, "a bad fd is an error: %s", e.err);
    close(fd);
    close(dirfd);
    reset_calls();
    CHECK(journal_teardown(rt, NULL, &e) == 0, "teardown: %s", e.hint);
    const char *names[] = { "mine1", "mine0" };
    CHECK(calls_are(names, 2), "the replay undoes only the kept records, in reverse");
    free(j);
    free(rt);
    rmdir(base);
    free(base);
}

static void test_reverse_replay(void)
{
    char *base = temp_dir();
    pid_t dead;
    unsigned long long start;
    dead_process(&dead, &start);
    char text[1024];
    snprintf(text, sizeof text,
             "# a comment\n"
             "veth-delete\tname=first\n"
             "\n"
             "cgroup-remove\tpath=/sys/fs/cgroup/unified/sandbox/journal-test-missing-%d\n"
             "kill-tree\tpid=%d\tstart=%llu\n"
             "veth-delete\tname=sec%%25ond%%09x%%0ay\n"
             "veth-delete\tname=torn", (int)getpid(), (int)dead, start);
    char *rt = runtime_dir_with(base, "rev", text);
    char *lock = path_of(rt, "lock");
    write_text(lock, "");
    reset_calls();
    struct host_error e;
    char report[4096] = "";
    FILE *r = fmemopen(report, sizeof report, "w");
    CHECK(journal_teardown(rt, r, &e) == 0, "teardown: %s %s", e.err, e.hint);
    fclose(r);
    const char *expected[] = { "sec%ond\tx\ny", "first" };
    CHECK(calls_are(expected, 2), "last record first, the torn last line ignored");
    if (!calls_are(expected, 2))
        print_calls();
    CHECK(report[0] == '\0', "a record of something that never existed is done: %s", report);
    CHECK(!exists(rt), "the runtime dir is gone");
    DIR *d = opendir(base);
    int left = 0;
    for (struct dirent *ent; d && (ent = readdir(d)) != NULL;)
        left += strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0;
    if (d)
        closedir(d);
    CHECK(left == 0, "nothing is left next to it (no .rev.stale-*): %d entries", left);
    free(lock);
    free(rt);
    rmdir(base);
    free(base);
}

static void test_idempotent(void)
{
    char *base = temp_dir();
    char *rt = runtime_dir_with(base, "idem", "veth-delete\tname=a\nveth-delete\tname=fail-once\nveth-delete\tname=c\n");
    reset_calls();
    failed_once = false;
    struct host_error e;
    char report[4096] = "";
    FILE *r = fmemopen(report, sizeof report, "w");
    CHECK(journal_teardown(rt, r, &e) == -1, "a failed undo fails the teardown");
    fclose(r);
    CHECK(strcmp(e.step, "connect veth") == 0 && strcmp(e.path, "fail-once") == 0, "*e is the failure: %s %s", e.step, e.path);
    CHECK(strcmp(report, "sandbox: cleanup: connect veth: RTM_DELLINK fail-once: EPERM (a test's failure)\n") == 0,
          "one line per failure: '%s'", report);
    const char *all[] = { "c", "fail-once", "a" };
    CHECK(calls_are(all, 3), "the other records are still undone");
    char *j = path_of(rt, "journal");
    CHECK(exists(j), "the runtime dir and its journal are kept for the next try");

    reset_calls();
    CHECK(journal_teardown(rt, NULL, &e) == 0, "the second replay succeeds: %s", e.hint);
    CHECK(calls_are(all, 3), "every record is replayed again, in reverse");
    CHECK(!exists(rt), "now the dir is gone");
    reset_calls();
    CHECK(journal_teardown(rt, NULL, &e) == 0 && nveth_calls == 0, "a third teardown of a gone dir: nothing to do");
    free(j);
    free(rt);
    rmdir(base);
    free(base);
}

static void test_bad_journals(void)
{
    static const struct { const char *text, *part; } bad[] = {
        { "veth-delete\tname=%41\n", "line 1 is not" },
        { "veth-delete\tname=x\nveth-delete\tnoequals\n", "line 2 is not" },
        { "teleport\tx=1\n", "unknown undo op 'teleport'" },
        { "veth-delete\n", "veth-delete without its keys" },
        { "kill-tree\tpid=-1\tstart=5\n", "kill-tree without its keys" },
        { "cgroup-remove\tpath=relative\n", "cgroup-remove without its keys" },
    };
    char *base = temp_dir();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *rt = runtime_dir_with(base, "bad", bad[i].text);
        struct host_error e;
        reset_calls();
        CHECK(journal_teardown(rt, NULL, &e) == -1 && strstr(e.hint, bad[i].part), "'%s': %s", bad[i].text, e.hint);
        CHECK(exists(rt), "a journal it can't read keeps the dir");
        rm_rf(rt);
        free(rt);
    }
    rmdir(base);
    free(base);
}

static void test_remove_tree(void)
{
    char *base = temp_dir();
    char *rt = runtime_dir_with(base, "tree", "");
    char *outside = temp_dir();
    char *keep = path_of(outside, "keep");
    write_text(keep, "keep me");
    char *p;
    p = path_of(rt, "lock"); write_text(p, ""); free(p);
    p = path_of(rt, "state.json"); write_text(p, "{}"); free(p);
    p = path_of(rt, "root"); mkdir(p, 0700); free(p);
    p = path_of(rt, "sub"); mkdir(p, 0700); free(p);
    p = path_of(rt, "sub/deeper"); mkdir(p, 0700); free(p);
    p = path_of(rt, "sub/deeper/file"); write_text(p, "x"); free(p);
    p = path_of(rt, "dirlink"); CHECK(symlink(outside, p) == 0, "symlink"); free(p);
    p = path_of(rt, "filelink"); CHECK(symlink(keep, p) == 0, "symlink"); free(p);
    p = path_of(rt, "sub/deeper/dirlink"); CHECK(symlink(outside, p) == 0, "symlink"); free(p);
    p = path_of(rt, "fifo"); CHECK(mkfifo(p, 0600) == 0, "mkfifo"); free(p);
    struct host_error e;
    CHECK(journal_teardown(rt, NULL, &e) == 0, "teardown: %s %s %s", e.sys, e.path, e.err);
    CHECK(!exists(rt), "the runtime dir is gone");
    char *text = read_text(keep);
    CHECK(text && strcmp(text, "keep me") == 0, "what a symbolic link pointed to is untouched");
    free(text);
    rm_rf(outside);
    free(keep);
    free(outside);
    free(rt);
    rmdir(base);
    free(base);
}

/* root: something mounted on <rt>/root is reported, nothing below it is removed; after umount gc
 * finishes the job. In a child with its own mount namespace: the host's mounts are never touched. */
static void test_mounted_root(void)
{
    if (geteuid() != 0)
        return;
    char *base = temp_dir();
    char *rt = runtime_dir_with(base, "mnt", "");
    pid_t c = fork();
    if (c == 0) {
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            _exit(99);
        char *root = path_of(rt, "root"), *inside = path_of(rt, "root/inside");
        mkdir(root, 0700);
        if (mount("tmpfs", root, "tmpfs", 0, "size=64k") < 0)
            _exit(98);
        write_text(inside, "in the mount");
        struct host_error e;
        char report[4096] = "";
        FILE *r = fmemopen(report, sizeof report, "w");
        int rc = journal_teardown(rt, r, &e);
        fclose(r);
        CHECK(rc == -1, "a mount in the runtime dir fails the teardown");
        CHECK(strstr(report, "sandbox: cleanup: runtime-dir: rmdir ") && strstr(report, "/root: EBUSY (something is still mounted there"),
              "the report names the mount point: %s", report);
        CHECK(strcmp(e.sys, "rmdir") == 0 && strstr(e.path, "/root"), "*e: %s %s", e.sys, e.path);
        /* the dir was renamed away before the removal: find it */
        DIR *d = opendir(base);
        char stale[PATH_MAX] = "";
        for (struct dirent *ent; d && (ent = readdir(d)) != NULL;)
            if (strncmp(ent->d_name, ".mnt.stale-", 11) == 0)
                snprintf(stale, sizeof stale, "%s/%s/root/inside", base, ent->d_name);
        if (d)
            closedir(d);
        CHECK(stale[0] && exists(stale), "nothing below the mount point was removed (%s)", stale);
        *strrchr(stale, '/') = '\0';
        CHECK(umount(stale) == 0, "umount %s", stale);
        CHECK(gc_main(base) == 0, "gc removes the .mnt.stale-* leftover");
        CHECK(!exists(stale), "gone after umount and gc");
        _exit(failures ? 1 : 0);
    }
    int status;
    CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 99),
          "the mount test's child (status %d)", status);
    rm_rf(base);
    free(rt);
    free(base);
}

/* kill-tree pid=<self>: the monitor undoing its own journal kills its descendants, not itself */
static void test_kill_tree_of_self(void)
{
    char *base = temp_dir();
    pid_t m = fork();
    if (m == 0) {
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        int p[2];
        if (pipe(p) < 0)
            _exit(2);
        pid_t y = fork();
        if (y == 0) {
            pid_t z = fork();
            if (z == 0) {
                for (;;)
                    pause();
            }
            (void)!write(p[1], &z, sizeof z);
            for (;;)
                pause();
        }
        pid_t z = 0;
        (void)!read(p[0], &z, sizeof z);
        char text[256];
        snprintf(text, sizeof text, "kill-tree\tpid=%d\tstart=%llu\n", (int)getpid(), proc_start_time(getpid()));
        char *rt = runtime_dir_with(base, "self", text);
        struct host_error e;
        CHECK(journal_teardown(rt, NULL, &e) == 0, "teardown: %s %s", e.err, e.hint);
        CHECK(killed_by_sigkill(y), "the child is killed");
        CHECK(killed_by_sigkill(z), "the grandchild is killed (reparented to us, the subreaper)");
        _exit(failures ? 1 : 0);
    }
    int status;
    CHECK(waitpid(m, &status, 0) == m && WIFEXITED(status) && WEXITSTATUS(status) == 0, "the monitor-like child (status %d)", status);
    rm_rf(base);
    free(base);
}

/* kill-tree pid=P of another process (a dead sandbox's monitor that still runs?): P and its tree;
 * a start time that doesn't match: nothing */
static void test_kill_tree_of_other(void)
{
    char *base = temp_dir();
    int p[2];
    if (pipe(p) < 0)
        exit(2);
    pid_t w = fork();
    if (w == 0) {
        pid_t v = fork();
        if (v == 0) {
            for (;;)
                pause();
        }
        (void)!write(p[1], &v, sizeof v);
        for (;;)
            pause();
    }
    pid_t v = 0;
    (void)!read(p[0], &v, sizeof v);
    close(p[0]);
    close(p[1]);
    unsigned long long wstart = proc_start_time(w);
    char text[256];
    snprintf(text, sizeof text, "kill-tree\tpid=%d\tstart=%llu\n", (int)w, wstart + 1);
    char *rt = runtime_dir_with(base, "other", text);
    struct host_error e;
    CHECK(journal_teardown(rt, NULL, &e) == 0, "a start time that doesn't match: done");
    usleep(50000);
    CHECK(proc_start_time(w) == wstart && proc_start_time(v) != 0, "and nothing was killed");
    free(rt);

    snprintf(text, sizeof text, "kill-tree\tpid=%d\tstart=%llu\n", (int)w, wstart);
    rt = runtime_dir_with(base, "other", text);
    CHECK(journal_teardown(rt, NULL, &e) == 0, "teardown: %s %s", e.err, e.hint);
    CHECK(killed_by_sigkill(w), "P itself is killed");
    CHECK(gone_soon(v), "its child too");
    kill(v, SIGKILL);
    free(rt);
    rm_rf(base);
    free(base);
}

/* a journal written in another boot (no fsync: it survives a power loss only by chance): nothing it
 * names is undone - its processes, links and cgroups died with that boot, and a pid of then (with its
 * start time, clock ticks after that boot) may be a process of this boot - and the dir is removed */
static void test_other_boot(void)
{
    char *base = temp_dir();
    pid_t w = fork();
    if (w == 0) {
        for (;;)
            pause();
    }
    unsigned long long wstart = 0;
    for (int i = 0; i < 100 && !wstart; i++)
        wstart = proc_start_time(w);
    char text[512];
    snprintf(text, sizeof text,
             "# boot 00000000-0000-4000-8000-000000000000\n"
             "kill-tree\tpid=%d\tstart=%llu\n"
             "veth-delete\tname=from-another-boot\n", (int)w, wstart);
    char *rt = runtime_dir_with(base, "boot", text);
    reset_calls();
    struct host_error e;
    CHECK(journal_teardown(rt, NULL, &e) == 0, "teardown: %s %s", e.err, e.hint);
    usleep(50000);
    CHECK(proc_start_time(w) == wstart, "a process named by another boot's journal is not killed");
    CHECK(nveth_calls == 0, "nor a link of that name deleted");
    CHECK(!exists(rt), "the runtime dir is gone");
    kill(w, SIGKILL);
    waitpid(w, NULL, 0);
    free(rt);

    /* this boot's line: replayed as always */
    char boot[64] = "";
    FILE *bf = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (bf) {
        if (!fgets(boot, sizeof boot, bf))
            boot[0] = '\0';
        fclose(bf);
    }
    boot[strcspn(boot, "\n")] = '\0';
    snprintf(text, sizeof text, "# boot %s\nveth-delete\tname=this-boot\n", boot);
    rt = runtime_dir_with(base, "boot", text);
    reset_calls();
    CHECK(journal_teardown(rt, NULL, &e) == 0, "teardown: %s %s", e.err, e.hint);
    const char *names[] = { "this-boot" };
    CHECK(calls_are(names, 1), "this boot's journal is replayed");
    free(rt);
    rm_rf(base);
    free(base);
}

static void test_start_time(void)
{
    CHECK(proc_start_time(getpid()) > 0, "our own start time");
    CHECK(proc_start_time(0) == 0 && proc_start_time(-1) == 0, "no pid, no start time");
    int to[2], back[2];
    if (pipe(to) < 0 || pipe(back) < 0)
        exit(2);
    pid_t c = fork();
    if (c == 0) {
        char b;
        (void)!read(to[0], &b, 1);
        prctl(PR_SET_NAME, "x) 1 2 3 (y) ");
        (void)!write(back[1], "k", 1);
        for (;;)
            pause();
    }
    unsigned long long before = proc_start_time(c);
    (void)!write(to[1], "g", 1);
    char b;
    (void)!read(back[0], &b, 1);
    char comm[64];
    snprintf(comm, sizeof comm, "/proc/%d/comm", (int)c);
    char *name = read_text(comm);
    CHECK(name && strstr(name, ") 1 2"), "the child's name has ') ' in it: %s", name);
    free(name);
    CHECK(before > 0 && proc_start_time(c) == before, "the start time is found after the last ')' (%llu, %llu)", before,
          proc_start_time(c));
    kill(c, SIGKILL);
    waitpid(c, NULL, 0);
    CHECK(proc_start_time(c) == 0, "a reaped process has none");
    close(to[0]), close(to[1]), close(back[0]), close(back[1]);
}

static void test_state(void)
{
    char *base = temp_dir();
    int dirfd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
    struct sandbox_state st = {
        .name = "q\"b\\s\n\t\x01 \xc3\xa9 \xff", .status = "running", .spec = "/specs/a.yaml", .spec_sha256 = "ab12",
        .git_repo = "/src/r\"e\\po", .git_path = "specs/a.yaml", .git_blob = "30c3d9aa5e1d0a39e86df8a1964c48cdaeb6732c",
        .plan_sha256 = "", .monitor_pid = 10, .monitor_start = 1000, .helper_pid = 11, .helper_start = 1001,
        .target_pid = 0, .cgroup = NULL, .created_ms = 1700000000123LL, .started_ms = 0, .finished_ms = 0,
        .exit_status = -1, .detached = true,
    };
    struct host_error e;
    CHECK(state_write(dirfd, &st, getpid(), &e) == 0, "state_write: %s %s", e.sys, e.err);
    char ns[512] = "";
    size_t used = 0;
    static const char *const types[] = { "cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts" };
    for (size_t i = 0; i < 8; i++) {
        char link[64], target[128];
        snprintf(link, sizeof link, "/proc/self/ns/%s", types[i]);
        ssize_t n = readlink(link, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        used += (size_t)snprintf(ns + used, sizeof ns - used, "%s\n    \"%s\": %llu", used ? "," : "", types[i],
                                 strtoull(strchr(target, '[') + 1, NULL, 10));
    }
    char expected[2048];
    snprintf(expected, sizeof expected,
             "{\n"
             "  \"version\": 1,\n"
             "  \"name\": \"q\\\"b\\\\s\\n\\t\\u0001 \xc3\xa9 \\ufffd\",\n"
             "  \"status\": \"running\",\n"
             "  \"spec\": \"/specs/a.yaml\",\n"
             "  \"specSha256\": \"ab12\",\n"
             "  \"git\": {\"repository\": \"/src/r\\\"e\\\\po\", \"path\": \"specs/a.yaml\", "
             "\"blob\": \"30c3d9aa5e1d0a39e86df8a1964c48cdaeb6732c\", \"commit\": null},\n"
             "  \"planSha256\": null,\n"
             "  \"monitor\": {\"pid\": 10, \"startTime\": 1000},\n"
             "  \"helper\": {\"pid\": 11, \"startTime\": 1001},\n"
             "  \"target\": null,\n"
             "  \"cgroup\": null,\n"
             "  \"createdMs\": 1700000000123,\n"
             "  \"startedMs\": null,\n"
             "  \"finishedMs\": null,\n"
             "  \"exitStatus\": null,\n"
             "  \"detached\": true,\n"
             "  \"lab\": null,\n"
             "  \"namespaces\": {%s\n  }\n"
             "}\n", ns);
    char *file = path_of(base, "state.json");
    char *text = read_text(file);
    CHECK(text && strcmp(text, expected) == 0, "state.json:\n%s\nexpected:\n%s", text, expected);
    free(text);
    struct stat s;
    CHECK(stat(file, &s) == 0 && (s.st_mode & 07777) == 0600, "state.json is 0600");
    char *tmp = path_of(base, ".state.json.tmp");
    CHECK(!exists(tmp), "no temp file is left");

    st.git_commit = "80e8cc2b8aea9c1ad02b1d6754226f7778034b70";
    CHECK(state_write(dirfd, &st, 0, &e) == 0, "state_write with a commit");
    text = read_text(file);
    CHECK(text && strstr(text, "\"commit\": \"80e8cc2b8aea9c1ad02b1d6754226f7778034b70\"}"), "the revision's commit:\n%s", text);
    free(text);
    st.git_repo = st.git_path = st.git_blob = st.git_commit = NULL;
    CHECK(state_write(dirfd, &st, 0, &e) == 0, "state_write without git");
    text = read_text(file);
    CHECK(text && strstr(text, "\"specSha256\": \"ab12\",\n  \"git\": null,\n"), "no git origin:\n%s", text);
    free(text);

    st.lab = "lab-x"; /* a lab's node (docs/labs.md) */
    CHECK(state_write(dirfd, &st, 0, &e) == 0, "state_write of a lab node");
    text = read_text(file);
    CHECK(text && strstr(text, "\"detached\": true,\n  \"lab\": \"lab-x\",\n  \"namespaces\""), "the lab:\n%s", text);
    free(text);
    st.lab = NULL;

    st.status = "exited";
    st.exit_status = 3;
    st.target_pid = 12;
    st.target_start = 1002;
    st.cgroup = "/sys/fs/cgroup/unified/sandbox/q";
    CHECK(state_write(dirfd, &st, 0, &e) == 0, "state_write again");
    text = read_text(file);
    CHECK(text && strstr(text, "\"status\": \"exited\"") && strstr(text, "\"exitStatus\": 3,") &&
          strstr(text, "\"target\": {\"pid\": 12, \"startTime\": 1002}") && strstr(text, ns) &&
          strstr(text, "\"cgroup\": \"/sys/fs/cgroup/unified/sandbox/q\""),
          "rewritten; the namespaces kept:\n%s", text);
    free(text);
    close(dirfd);
    free(tmp);
    free(file);
    rm_rf(base);
    free(base);
}

static void test_runtime_base(void)
{
    char out[PATH_MAX];
    pid_t c = fork();
    if (c == 0) {
        setenv("SANDBOX_RUNTIME_DIR", "/srv/rt", 1);
        CHECK(runtime_base(out, sizeof out) == 0 && strcmp(out, "/srv/rt") == 0, "the override wins: %s", out);
        CHECK(runtime_base(out, 4) == -1 && errno == ENAMETOOLONG, "too long");
        unsetenv("SANDBOX_RUNTIME_DIR");
        setenv("XDG_RUNTIME_DIR", "/tmp", 1);
        if (getuid() == 0) {
            CHECK(runtime_base(out, sizeof out) == 0 && strcmp(out, "/run/sandbox") == 0, "root: /run/sandbox: %s", out);
            if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
                _exit(failures ? 1 : 0);
        }
        char expect[64];
        snprintf(expect, sizeof expect, "/tmp/sandbox-%u", (unsigned)getuid());
        CHECK(runtime_base(out, sizeof out) == 0 && strcmp(out, "/tmp/sandbox") == 0, "XDG_RUNTIME_DIR/sandbox: %s", out);
        setenv("XDG_RUNTIME_DIR", "/nonexistent-journal-test", 1);
        CHECK(runtime_base(out, sizeof out) == 0 && strcmp(out, expect) == 0, "a missing XDG dir: %s", out);
        setenv("XDG_RUNTIME_DIR", "/proc", 1);
        CHECK(runtime_base(out, sizeof out) == 0 && strcmp(out, expect) == 0, "an XDG dir we can't write: %s", out);
        unsetenv("XDG_RUNTIME_DIR");
        CHECK(runtime_base(out, sizeof out) == 0 && strcmp(out, expect) == 0, "no XDG: %s", out);
        _exit(failures ? 1 : 0);
    }
    int status;
    CHECK(waitpid(c, &status, 0) == c && WIFEXITED(status) && WEXITSTATUS(status) == 0, "runtime_base's child");
}

/* Runs gc_main(base) with stdout and stderr captured. */
static int gc_captured(const char *base, char *out, size_t outlen, char *err, size_t errlen)
{
    fflush(stdout);
    fflush(stderr);
    FILE *o = tmpfile(), *x = tmpfile();
    int saved_out = dup(1), saved_err = dup(2);
    dup2(fileno(o), 1);
    dup2(fileno(x), 2);
    int rc = gc_main(base);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
    rewind(o);
    rewind(x);
    size_t n = fread(out, 1, outlen - 1, o);
    out[n] = '\0';
    n = fread(err, 1, errlen - 1, x);
    err[n] = '\0';
    fclose(o);
    fclose(x);
    return rc;
}

static void make_old(const char *path)
{
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= 120;
    t[1] = t[0];
    utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW);
}

static void test_gc(void)
{
    char out[4096], err[4096];
    char *base = temp_dir();
    char *p;
    free(runtime_dir_with(base, "dead-a", "veth-delete\tname=gc-a\n"));
    p = path_of(base, "dead-a/lock"); write_text(p, ""); free(p);
    free(runtime_dir_with(base, "dead-b", "veth-delete\tname=gc-b\n"));
    p = path_of(base, "dead-b/lock"); write_text(p, ""); free(p);
    p = path_of(base, "dead-b/root"); mkdir(p, 0700); free(p);
    free(runtime_dir_with(base, "nolock", "veth-delete\tname=gc-nolock\n"));
    free(runtime_dir_with(base, "live", "veth-delete\tname=gc-live\n"));
    char *live_lock = path_of(base, "live/lock");
    write_text(live_lock, "");
    int held = open(live_lock, O_RDWR | O_CLOEXEC);
    CHECK(flock(held, LOCK_EX) == 0, "flock");
    p = path_of(base, ".plan-old"); write_text(p, "x"); make_old(p); free(p);
    p = path_of(base, ".plan-new"); write_text(p, "x"); free(p);
    p = path_of(base, ".dead-a.new-abc"); mkdir(p, 0700); free(p);
    p = path_of(base, ".dead-a.new-abc/lock"); write_text(p, ""); free(p);
    p = path_of(base, ".dead-a.new-abc"); make_old(p); free(p);
    p = path_of(base, ".live.new-xyz"); mkdir(p, 0700); free(p);
    p = path_of(base, ".live.new-xyz/lock"); write_text(p, ""); free(p);
    char *new_lock = path_of(base, ".live.new-xyz/lock");
    int held_new = open(new_lock, O_RDWR | O_CLOEXEC);
    CHECK(flock(held_new, LOCK_EX) == 0, "flock");
    p = path_of(base, ".live.new-xyz"); make_old(p); free(p);
    p = path_of(base, ".x.new-young"); mkdir(p, 0700); free(p);
    p = path_of(base, ".x.stale-1-2"); mkdir(p, 0700); free(p);
    p = path_of(base, ".x.stale-1-2/journal"); write_text(p, "veth-delete\tname=never-replayed\n"); free(p);
    p = path_of(base, "file"); write_text(p, "not a sandbox"); free(p);

    reset_calls();
    int rc = gc_captured(base, out, sizeof out, err, sizeof err);
    CHECK(rc == 0, "gc: exit 0 (%d): %s", rc, err);
    CHECK(strcmp(out, "removed dead-a\nremoved dead-b\nremoved nolock\n") == 0, "gc prints what it removed: '%s'", out);
    CHECK(err[0] == '\0', "and nothing else: '%s'", err);
    const char *undone[] = { "gc-a", "gc-b", "gc-nolock" };
    CHECK(calls_are(undone, 3), "gc replayed the journals of the dead ones only");
    static const char *const kept[] = { "live", "live/journal", ".plan-new", ".live.new-xyz", ".x.new-young", "file" };
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        p = path_of(base, kept[i]);
        CHECK(exists(p), "%s is kept", kept[i]);
        free(p);
    }
    static const char *const removed[] = { "dead-a", "dead-b", "nolock", ".plan-old", ".dead-a.new-abc", ".x.stale-1-2" };
    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
        p = path_of(base, removed[i]);
        CHECK(!exists(p), "%s is removed", removed[i]);
        free(p);
    }

    /* once its monitor is gone (the lock released), the running one is dead too */
    close(held);
    close(held_new);
    reset_calls();
    rc = gc_captured(base, out, sizeof out, err, sizeof err);
    CHECK(rc == 0 && strcmp(out, "removed live\n") == 0, "then gc removes it: %d '%s' '%s'", rc, out, err);

    /* a teardown that fails: exit 1, one line per failure naming the sandbox, the dir kept */
    free(runtime_dir_with(base, "stuck", "veth-delete\tname=fail-always\n"));
    rc = gc_captured(base, out, sizeof out, err, sizeof err);
    CHECK(rc == 1 && out[0] == '\0', "gc: exit 1 when something is left: %d '%s'", rc, out);
    CHECK(strcmp(err, "sandbox: gc stuck: connect veth: RTM_DELLINK fail-always: EPERM (a test's failure)\n") == 0, "'%s'", err);
    p = path_of(base, "stuck");
    CHECK(exists(p), "the dir is kept");
    rm_rf(p);
    free(p);

    /* a base someone else could write: refused */
    chmod(base, 0777);
    free(runtime_dir_with(base, "dead-c", "veth-delete\tname=gc-c\n"));
    reset_calls();
    rc = gc_captured(base, out, sizeof out, err, sizeof err);
    CHECK(rc == 1 && strstr(err, "refusing") && nveth_calls == 0, "an untrusted base: %d '%s'", rc, err);
    chmod(base, 0700);

    /* no base at all: nothing to do */
    p = path_of(base, "missing");
    rc = gc_captured(p, out, sizeof out, err, sizeof err);
    CHECK(rc == 0 && !out[0] && !err[0], "a missing base: exit 0, silent: %d '%s' '%s'", rc, out, err);
    free(p);

    free(new_lock);
    free(live_lock);
    rm_rf(base);
    free(base);
}

/* root: a sandbox's cgroup with child cgroups and processes in them, on cgroup2 (cgroup.kill) and on
 * the v1 pids hierarchy (one kill per pid) */
static void cgroup_case(const char *hierarchy)
{
    char sandbox[256], cg[512], inner[768], deeper[1024];
    snprintf(sandbox, sizeof sandbox, "%s/sandbox", hierarchy);
    snprintf(cg, sizeof cg, "%s/journal-test-%d", sandbox, (int)getpid());
    snprintf(inner, sizeof inner, "%s/inner", cg);
    snprintf(deeper, sizeof deeper, "%s/deeper", inner);
    mkdir(sandbox, 0755);
    if (mkdir(cg, 0755) < 0 || mkdir(inner, 0755) < 0 || mkdir(deeper, 0755) < 0) {
        CHECK(false, "mkdir %s: %s", cg, strerror(errno));
        return;
    }
    int p[2];
    if (pipe(p) < 0)
        exit(2);
    pid_t c = fork();
    if (c == 0) {
        char procs[PATH_MAX + 16];
        snprintf(procs, sizeof procs, "%s/cgroup.procs", inner);
        write_text(procs, "0\n");
        pid_t g2 = fork();
        if (g2 == 0) {
            snprintf(procs, sizeof procs, "%s/cgroup.procs", deeper);
            write_text(procs, "0\n");
            (void)!write(p[1], "g", 1);
            for (;;)
                pause();
        }
        (void)!write(p[1], &g2, sizeof g2);
        for (;;)
            pause();
    }
    pid_t grandchild = 0;
    char b;
    (void)!read(p[0], &grandchild, sizeof grandchild);
    (void)!read(p[0], &b, 1);
    close(p[0]);
    close(p[1]);
    /* also a process right in the sandbox's cgroup, as the helper would be */
    pid_t top = fork();
    if (top == 0) {
        for (;;)
            pause();
    }
    char procs[PATH_MAX + 16];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", cg);
    char pid[16];
    snprintf(pid, sizeof pid, "%d\n", (int)top);
    write_text(procs, pid);

    char text[PATH_MAX + 64];
    snprintf(text, sizeof text, "cgroup-remove\tpath=%s\n", cg);
    char *base = temp_dir();
    char *rt = runtime_dir_with(base, "cg", text);
    struct host_error e;
    char report[4096] = "";
    FILE *r = fmemopen(report, sizeof report, "w");
    CHECK(journal_teardown(rt, r, &e) == 0, "%s: teardown: %s %s %s %s", hierarchy, e.sys, e.path, e.err, e.hint);
    fclose(r);
    CHECK(report[0] == '\0', "%s: nothing reported: %s", hierarchy, report);
    CHECK(!exists(cg), "%s: the cgroup and its children are gone", hierarchy);
    CHECK(killed_by_sigkill(c), "%s: the process in the child cgroup was killed", hierarchy);
    CHECK(killed_by_sigkill(top), "%s: the process in the cgroup itself was killed", hierarchy);
    CHECK(gone_soon(grandchild), "%s: the one in the grandchild cgroup too", hierarchy);
    kill(c, SIGKILL), kill(top, SIGKILL), kill(grandchild, SIGKILL);
    rmdir(deeper), rmdir(inner), rmdir(cg);
    free(rt);
    rm_rf(base);
    free(base);

    CHECK(cgroup_remove(cg, &e) == 0, "%s: a cgroup that is gone: done", hierarchy);
    CHECK(cgroup_remove(hierarchy, &e) == -1 && strcmp(e.err, "EINVAL") == 0 && strstr(e.hint, "root of a cgroup hierarchy"),
          "%s: the hierarchy's root is refused: %s", hierarchy, e.hint);
}

static void test_cgroups(void)
{
    struct host_error e;
    CHECK(cgroup_remove("/tmp", &e) == -1 && strcmp(e.err, "EINVAL") == 0 && strstr(e.hint, "not a cgroup"),
          "a directory that is no cgroup is refused: %s", e.hint);
    CHECK(cgroup_remove("/tmp/journal-test-nonexistent", &e) == 0, "a missing one is done");
    if (geteuid() != 0) {
        fprintf(stderr, "journal-test: not root: the cgroup tests are skipped\n");
        return;
    }
    const char *v2 = exists("/sys/fs/cgroup/unified/cgroup.procs") ? "/sys/fs/cgroup/unified"
                     : exists("/sys/fs/cgroup/cgroup.controllers") ? "/sys/fs/cgroup" : NULL;
    if (v2)
        cgroup_case(v2);
    else
        fprintf(stderr, "journal-test: no cgroup2 hierarchy: its test is skipped\n");
    if (exists("/sys/fs/cgroup/pids/cgroup.procs"))
        cgroup_case("/sys/fs/cgroup/pids");
    else
        fprintf(stderr, "journal-test: no v1 pids hierarchy: its test is skipped\n");
}

int main(void)
{
    unsetenv("SANDBOX_CRASH_AT");
    test_crash_points();
    test_journal_format();
    test_forget();
    test_reverse_replay();
    test_idempotent();
    test_bad_journals();
    test_remove_tree();
    test_mounted_root();
    test_kill_tree_of_self();
    test_kill_tree_of_other();
    test_other_boot();
    test_start_time();
    test_state();
    test_runtime_base();
    test_gc();
    test_cgroups();
    reset_calls();
    printf("journal-test: %d checks, %d failed%s\n", checks, failures, geteuid() ? " (not root: cgroups and mounts skipped)" : "");
    return failures ? 1 : 0;
}
