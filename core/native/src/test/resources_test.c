/*
 * resources_test.c: unit tests of resources.c (host_cgroup_set's refusals, cgroup_oom_report on v1 and v2
 * files). No root needed for most checks: the OOM report reads files of a temp dir shaped like a cgroup, and
 * cgroup-set must refuse anything that is not on cgroupfs. As root on a host with a v1 pids hierarchy or a
 * cgroup2 mount, one real write is checked too (a cgroup of its own, removed at the end).
 * Build: cc -std=gnu11 -Wall -Wextra -Werror -fsanitize=address,undefined -o resources-test
 *        src/test/resources_test.c src/resources.c [src/host.c ...]; exits 1 when a check fails.
 */
#define _GNU_SOURCE
#include "../host.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Until host.c (the monitor's) is linked in: a host_fail with its contract. Weak, so host.c's wins. */
__attribute__((weak)) int host_fail(struct host_error *e, const char *step, const char *sys, const char *path, int err,
                                    const char *hint_fmt, ...)
{
    memset(e, 0, sizeof *e);
    snprintf(e->step, sizeof e->step, "%s", step ? step : "");
    snprintf(e->sys, sizeof e->sys, "%s", sys ? sys : "");
    snprintf(e->path, sizeof e->path, "%s", path ? path : "");
    if (err) {
        const char *name = strerrorname_np(err);
        snprintf(e->err, sizeof e->err, "%s", name ? name : "?");
    }
    if (hint_fmt) {
        va_list ap;
        va_start(ap, hint_fmt);
        vsnprintf(e->hint, sizeof e->hint, hint_fmt, ap);
        va_end(ap);
    }
    return -1;
}

static struct step step3(struct kv *kv, const char *path, const char *file, const char *value)
{
    kv[0] = (struct kv){ "path", path };
    kv[1] = (struct kv){ "file", file };
    kv[2] = (struct kv){ "value", value };
    return (struct step){ .line = 1, .op = NULL, .kv = kv, .nkv = 3 };
}

static void put(const char *dir, const char *file, const char *text)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "w");
    if (!f) {
        perror(p);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

static void rm(const char *dir, const char *file)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    unlink(p);
}

static void test_set_refuses_what_is_not_a_cgroup_file(void)
{
    char tmp[] = "/tmp/resources-test-XXXXXX";
    if (!mkdtemp(tmp))
        abort();
    struct kv kv[3];
    struct host_error e;

    struct step s = step3(kv, tmp, "memory.max", "1");
    CHECK(host_cgroup_set(&s, &e) == -1, "a tmp dir is not cgroupfs");
    CHECK(strcmp(e.err, "EINVAL") == 0 && strcmp(e.sys, "fstatfs") == 0 && strcmp(e.path, tmp) == 0, "%s %s %s", e.sys, e.path, e.err);
    CHECK(strstr(e.hint, "not on a cgroup filesystem") != NULL, "%s", e.hint);
    CHECK(strcmp(e.step, "prepare cgroup-set") == 0, "%s", e.step);

    const char *bad[] = { "../../etc/passwd", "a/b", "..", ".", "" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s = step3(kv, "/sys/fs/cgroup", bad[i], "1");
        CHECK(host_cgroup_set(&s, &e) == -1 && strcmp(e.err, "EINVAL") == 0 && strstr(e.hint, "one control file name"),
              "file '%s': %s %s", bad[i], e.err, e.hint);
    }

    char missing[4200];
    snprintf(missing, sizeof missing, "%s/nope", tmp);
    s = step3(kv, missing, "pids.max", "1");
    CHECK(host_cgroup_set(&s, &e) == -1 && strcmp(e.err, "ENOENT") == 0 && strcmp(e.sys, "open") == 0, "%s %s", e.sys, e.err);
    rmdir(tmp);
}

static void test_oom_report_v1_and_v2(void)
{
    char tmp[] = "/tmp/resources-test-XXXXXX";
    if (!mkdtemp(tmp))
        abort();
    char line[256];

    CHECK(cgroup_oom_report(tmp, line, sizeof line) == -1 && line[0] == '\0', "no memory files: -1");

    /* v1 */
    put(tmp, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n");
    put(tmp, "memory.limit_in_bytes", "67108864\n");
    CHECK(cgroup_oom_report(tmp, line, sizeof line) == 0 && line[0] == '\0', "no kill: 0 and no line: '%s'", line);
    put(tmp, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n");
    CHECK(cgroup_oom_report(tmp, line, sizeof line) == 1, "one kill");
    CHECK(strcmp(line, "killed by the memory limit (64M)") == 0, "'%s'", line);
    put(tmp, "memory.limit_in_bytes", "2147483648\n");
    put(tmp, "memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
    CHECK(cgroup_oom_report(tmp, line, sizeof line) == 3, "three kills");
    CHECK(strcmp(line, "killed by the memory limit (2G): 3 processes") == 0, "'%s'", line);
    rm(tmp, "memory.oom_control");
    rm(tmp, "memory.limit_in_bytes");

    /* v2: memory.events wins; memory.max may be "max" */
    put(tmp, "memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n");
    put(tmp, "memory.max", "1610612736\n");
    CHECK(cgroup_oom_report(tmp, line, sizeof line) == 1 && strcmp(line, "killed by the memory limit (1536M)") == 0, "'%s'", line);
    put(tmp, "memory.max", "max\n");
    CHECK(cgroup_oom_report(tmp, line, sizeof line) == 1 && strcmp(line, "killed by the memory limit (max)") == 0, "'%s'", line);
    put(tmp, "memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n");
    CHECK(cgroup_oom_report(tmp, line, sizeof line) == 0 && line[0] == '\0', "'%s'", line);
    /* a truncated buffer stays a string */
    put(tmp, "memory.events", "oom_kill 1\n");
    put(tmp, "memory.max", "67108864\n");
    char small[10];
    CHECK(cgroup_oom_report(tmp, small, sizeof small) == 1 && strlen(small) == sizeof small - 1, "'%s'", small);
    rm(tmp, "memory.events");
    rm(tmp, "memory.max");
    rmdir(tmp);
}

/* As root, with a pids controller (v1 hierarchy or cgroup2 with pids offered): a real write and a refused value. */
static void test_set_writes_a_real_cgroup(void)
{
    const char *parent = NULL;
    if (access("/sys/fs/cgroup/pids/cgroup.procs", F_OK) == 0)
        parent = "/sys/fs/cgroup/pids";
    else if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0)
        parent = "/sys/fs/cgroup";
    if (geteuid() != 0 || !parent) {
        fprintf(stderr, "resources-test: not root or no pids hierarchy: the real write is skipped\n");
        return;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/resources-test-%d", parent, (int)getpid());
    if (mkdir(dir, 0755) < 0) {
        fprintf(stderr, "resources-test: mkdir %s: %s: the real write is skipped\n", dir, strerror(errno));
        return;
    }
    char file[4200];
    snprintf(file, sizeof file, "%s/pids.max", dir);
    if (access(file, F_OK) == 0) {
        struct kv kv[3];
        struct host_error e;
        struct step s = step3(kv, dir, "pids.max", "32");
        CHECK(host_cgroup_set(&s, &e) == 0, "%s %s %s %s", e.sys, e.path, e.err, e.hint);
        char buf[64] = "";
        FILE *f = fopen(file, "r");
        if (f) {
            if (!fgets(buf, sizeof buf, f))
                buf[0] = '\0';
            fclose(f);
        }
        CHECK(strcmp(buf, "32\n") == 0, "pids.max reads '%s'", buf);
        s = step3(kv, dir, "pids.max", "lots");
        CHECK(host_cgroup_set(&s, &e) == -1 && strcmp(e.err, "EINVAL") == 0 && strcmp(e.sys, "write") == 0
                  && strcmp(e.path, file) == 0 && strstr(e.hint, "refused 'lots' for pids.max"),
              "%s %s %s %s", e.sys, e.path, e.err, e.hint);
    }
    rmdir(dir);
}

int main(void)
{
    test_set_refuses_what_is_not_a_cgroup_file();
    test_oom_report_v1_and_v2();
    test_set_writes_a_real_cgroup();
    fprintf(stderr, "resources-test: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
