/*
 * resources.c: the `resources:` section's host side (M): `prepare cgroup-set path=P file=F value=V` writes one
 * control file of the sandbox's cgroup before the helper starts, and after the target exited
 * cgroup_oom_report() says whether the OOM killer killed in it (docs/spec.md, "resources").
 *
 * Both work on cgroup v1 and v2 alike: the plan names the files (memory.max or memory.limit_in_bytes, ...);
 * nothing here depends on the host's layout.
 */
#define _GNU_SOURCE
#include "host.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#define STEP "prepare cgroup-set"

/* The value of key `key` of step s, NULL when absent (the parser checked the keys against the op table). */
static const char *arg(const struct step *s, const char *key)
{
    for (int i = 0; i < s->nkv; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return s->kv[i].val;
    return NULL;
}

/* What the kernel's refusal of a control file write means, for the hint. */
static void write_hint(int err, const char *file, const char *value, char *out, size_t len)
{
    switch (err) {
    case EINVAL:
        snprintf(out, len, "the kernel refused '%s' for %s%s", value, file,
                 strncmp(file, "memory.memsw.", 13) == 0 ? " (memory plus swap must be at least the memory limit)" : "");
        break;
    case EBUSY:
        /* why: memory.limit_in_bytes / memory.max below the current usage fails when reclaim can't get there
         * (v1: EBUSY, Documentation/admin-guide/cgroup-v1/memory.rst 2.5) */
        snprintf(out, len, "the cgroup already uses more than '%s' and the kernel could not reclaim it", value);
        break;
    case EACCES:
    case EPERM:
        snprintf(out, len, "writing cgroup files needs root or a delegated cgroup");
        break;
    case EOPNOTSUPP:
        snprintf(out, len, "this kernel does not support %s", file);
        break;
    case ENOENT:
        snprintf(out, len, "the controller is not enabled for this cgroup (v2: cgroup.subtree_control of its parents;"
                           " v1: the hierarchy lacks it)");
        break;
    default:
        out[0] = '\0';
    }
}

int host_cgroup_set(const struct step *s, struct host_error *e)
{
    const char *path = arg(s, "path"), *file = arg(s, "file"), *value = arg(s, "value");
    char full[4096];
    if (!path || !file || !value)
        return host_fail(e, STEP, NULL, NULL, 0, "the step needs path, file and value");
    snprintf(full, sizeof full, "%s/%s", path, file);
    /* One name, no '/': together with the filesystem check below, the step can only write a cgroup's own file. */
    if (!*file || strchr(file, '/') || strcmp(file, ".") == 0 || strcmp(file, "..") == 0)
        return host_fail(e, STEP, "open", full, EINVAL, "file must be one control file name");

    /* O_PATH: no access to the dir itself is needed; symlinks in the path are followed (a distribution may link
     * /sys/fs/cgroup/cpu to cpu,cpuacct). */
    int dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return host_fail(e, STEP, "open", path, errno, "the cgroup must exist (cgroup-create comes first)");
    struct statfs fs;
    if (fstatfs(dir, &fs) < 0) {
        int err = errno;
        close(dir);
        return host_fail(e, STEP, "fstatfs", path, err, NULL);
    }
    /* statfs(2): f_type is CGROUP_SUPER_MAGIC for v1 hierarchies, CGROUP2_SUPER_MAGIC for cgroup2 */
    if (fs.f_type != CGROUP_SUPER_MAGIC && fs.f_type != CGROUP2_SUPER_MAGIC) {
        close(dir);
        return host_fail(e, STEP, "fstatfs", path, EINVAL, "not on a cgroup filesystem");
    }
    /* O_NOFOLLOW: a control file is never a symlink. No O_CREAT: cgroupfs has no other files. */
    int fd = openat(dir, file, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    int err = errno;
    close(dir);
    char hint[512];
    if (fd < 0) {
        write_hint(err, file, value, hint, sizeof hint);
        return host_fail(e, STEP, "open", full, err, "%s", hint);
    }
    /* One write(2) of the whole value: a control file parses each write on its own (kernfs), so the value must
     * not be split; a short write does not happen on cgroupfs, but is an error if it did. */
    size_t n = strlen(value);
    ssize_t w = write(fd, value, n);
    err = errno;
    close(fd);
    if (w < 0) {
        write_hint(err, file, value, hint, sizeof hint);
        return host_fail(e, STEP, "write", full, err, "%s", hint);
    }
    if ((size_t)w != n)
        return host_fail(e, STEP, "write", full, EIO, "short write: %zd of %zu bytes", w, n);
    return 0;
}

/* Reads a small control file into buf (NUL-terminated); -1 when it can't be read. */
static int read_small(const char *path, const char *file, char *buf, size_t len)
{
    char full[4096];
    snprintf(full, sizeof full, "%s/%s", path, file);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, buf + got, len - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == len - 1)
            break;
    }
    close(fd);
    buf[got] = '\0';
    return 0;
}

/* The number after "<key> " at the start of a line of text; -1 when there is no such line. */
static long long keyed(const char *text, const char *key)
{
    size_t k = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, k) == 0 && l[k] == ' ')
            return strtoll(l + k + 1, NULL, 10);
    }
    return -1;
}

/* Bytes as the spec writes them: the largest binary unit that divides them (2G, 64M, 1536M), else bytes. */
static void human(unsigned long long bytes, char *out, size_t len)
{
    static const char units[] = "PTGMK";
    for (int i = 0; i < 5; i++) {
        unsigned long long unit = 1ULL << (50 - 10 * i);
        if (bytes >= unit && bytes % unit == 0) {
            snprintf(out, len, "%llu%c", bytes / unit, units[i]);
            return;
        }
    }
    snprintf(out, len, "%llu", bytes);
}

int cgroup_oom_report(const char *path, char *line, size_t len)
{
    char buf[4096], limit[64];
    long long kills = -1;
    if (len)
        line[0] = '\0';
    /* v2: memory.events counts this cgroup and its descendants ("oom_kill N", cgroup-v2.rst); v1: memory.oom_control
     * has "oom_kill N" since Linux 4.13 */
    if (read_small(path, "memory.events", buf, sizeof buf) == 0)
        kills = keyed(buf, "oom_kill");
    if (kills < 0 && read_small(path, "memory.oom_control", buf, sizeof buf) == 0)
        kills = keyed(buf, "oom_kill");
    if (kills <= 0)
        return kills < 0 ? -1 : 0;
    strcpy(limit, "?");
    if (read_small(path, "memory.max", buf, sizeof buf) == 0 || read_small(path, "memory.limit_in_bytes", buf, sizeof buf) == 0) {
        buf[strcspn(buf, "\n")] = '\0';
        char *end;
        errno = 0;
        unsigned long long v = strtoull(buf, &end, 10);
        if (errno == 0 && end != buf && *end == '\0')
            human(v, limit, sizeof limit);
        else
            snprintf(limit, sizeof limit, "%.32s", buf); /* "max" */
    }
    if (kills == 1)
        snprintf(line, len, "killed by the memory limit (%s)", limit);
    else
        snprintf(line, len, "killed by the memory limit (%s): %lld processes", limit, kills);
    return kills > INT32_MAX ? INT32_MAX : (int)kills;
}
