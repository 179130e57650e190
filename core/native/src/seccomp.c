/*
 * seccomp.c: the seccomp step: a filter built with libseccomp (as runc and crun do) from the plan's
 * default action, architectures and rules, then loaded; the last step before exec. Also the cache of
 * compiled filters (the BPF program of a step, keyed by the step's exact text and the versions that
 * shape it), which H reads or fills before stage enter and C loads without libseccomp: see
 * "The filter cache" below and docs/security.md.
 */
#include "runtime.h"
#include <dirent.h>
#include <elf.h>
#include <link.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

/* A refusal of the step's values: a setup error naming the step (C), or, while H prepares a filter
 * (soft), just "not prepared": C then compiles it as before and reports the error at its place. */
#define REFUSE(soft, ...) do { if (soft) goto refused; bad_value(__VA_ARGS__); } while (0)

/* A seccomp action: allow | errno:<n> | kill-thread | kill-process | trap | log | trace:<n>. */
static bool seccomp_action(const char *v, size_t len, uint32_t *out)
{
    static const struct { const char *name; uint32_t act; } plain[] = {
        { "allow", SCMP_ACT_ALLOW }, { "kill-thread", SCMP_ACT_KILL_THREAD }, { "kill-process", SCMP_ACT_KILL_PROCESS },
        { "trap", SCMP_ACT_TRAP }, { "log", SCMP_ACT_LOG } };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (strlen(plain[i].name) == len && strncmp(v, plain[i].name, len) == 0) {
            *out = plain[i].act;
            return true;
        }
    bool is_errno = len > 6 && strncmp(v, "errno:", 6) == 0, is_trace = len > 6 && strncmp(v, "trace:", 6) == 0;
    if (!is_errno && !is_trace)
        return false;
    unsigned long n = 0;
    for (size_t i = 6; i < len; i++) {
        if (!isdigit((unsigned char)v[i]) || (n = n * 10 + (unsigned long)(v[i] - '0')) > 65535)
            return false;
    }
    if (is_errno && n > 4095) /* the kernel caps a returned errno at MAX_ERRNO */
        return false;
    *out = is_errno ? SCMP_ACT_ERRNO((uint32_t)n) : SCMP_ACT_TRACE((uint32_t)n);
    return true;
}

/* A decimal unsigned 64-bit number, digits only. */
static bool u64(const char *v, uint64_t *out)
{
    char *end;
    if (!isdigit((unsigned char)*v))
        return false;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || errno)
        return false;
    *out = n;
    return true;
}

/* `<index>:<op>:<value>[:<value2>]` */
static bool seccomp_arg(char *spec, struct scmp_arg_cmp *out)
{
    static const struct { const char *name; enum scmp_compare op; } cmp_ops[] = {
        { "ne", SCMP_CMP_NE }, { "lt", SCMP_CMP_LT }, { "le", SCMP_CMP_LE }, { "eq", SCMP_CMP_EQ },
        { "ge", SCMP_CMP_GE }, { "gt", SCMP_CMP_GT }, { "masked_eq", SCMP_CMP_MASKED_EQ } };
    char *idx = strsep(&spec, ":"), *op = strsep(&spec, ":"), *v1 = strsep(&spec, ":"), *v2 = strsep(&spec, ":");
    uint64_t index, a = 0, b = 0;
    if (!idx || !op || !v1 || spec || !u64(idx, &index) || index > 5 || !u64(v1, &a) || (v2 && !u64(v2, &b)))
        return false;
    *out = (struct scmp_arg_cmp){ .arg = (unsigned)index, .op = 0, .datum_a = a, .datum_b = b };
    for (size_t i = 0; i < sizeof cmp_ops / sizeof cmp_ops[0]; i++)
        if (strcmp(op, cmp_ops[i].name) == 0)
            out->op = cmp_ops[i].op;
    /* masked_eq: value = mask, value2 = datum (OCI, docker and SCMP_CMP_MASKED_EQ alike) */
    return out->op != 0 && (out->op != SCMP_CMP_MASKED_EQ || v2);
}

/* `rule=<action> <name>[,<name>...] [<arg>]...`; false only when soft and refused */
static bool seccomp_rule(scmp_filter_ctx ctx, uint32_t def, const char *text, bool soft)
{
    char *copy = strdup(text), *rest = copy;
    if (!copy) {
        if (soft)
            return false;
        die(125, "strdup", NULL, NULL, ENOMEM, NULL);
    }
    char *action = strsep(&rest, " "), *names = strsep(&rest, " ");
    uint32_t act;
    if (!names || !*names || !seccomp_action(action, strlen(action), &act))
        REFUSE(soft, "rule=%s: expected '<action> <syscall>[,<syscall>...] [<index>:<op>:<value>[:<value2>]]...'", text);
    struct scmp_arg_cmp args[6];
    unsigned nargs = 0;
    for (char *arg; (arg = strsep(&rest, " ")) != NULL;) {
        if (nargs == 6 || !seccomp_arg(arg, &args[nargs++]))
            REFUSE(soft, "rule=%s: bad argument condition (at most 6 of <index 0..5>:<ne|lt|le|eq|ge|gt|masked_eq>:"
                      "<value>[:<value2>], masked_eq with both)", text);
    }
    /* A rule with the filter's default action changes nothing; libseccomp refuses it (EACCES). */
    if (act == def) {
        free(copy);
        return true;
    }
    for (char *name; (name = strsep(&names, ",")) != NULL;) {
        if (!*name)
            REFUSE(soft, "rule=%s: empty syscall name", text);
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR)
            continue; /* unknown on this architecture: skipped, as runc does */
        int rc = seccomp_rule_add_array(ctx, act, nr, nargs, args);
        if (rc == -EEXIST)
            continue; /* the same rule is already there */
        if (rc < 0) {
            if (soft)
                goto refused;
            die(125, "seccomp_rule_add", NULL, name, -rc, "libseccomp refused the rule for this syscall");
        }
    }
    free(copy);
    return true;
refused:
    free(copy);
    return false;
}

/* The filter of a step, built but not loaded. NULL only when soft and the step was refused. */
static scmp_filter_ctx seccomp_build(const struct step *s, bool soft)
{
    scmp_filter_ctx ctx = NULL;
    const char *dv = get(s, "default");
    uint32_t def;
    int rc;
    if (!seccomp_action(dv, strlen(dv), &def))
        REFUSE(soft, "default=%s is not a seccomp action (allow, errno:<n>, kill-thread, kill-process, trap, log, "
               "trace:<n>)", dv);
    ctx = seccomp_init(def);
    if (!ctx) {
        if (soft)
            goto refused;
        die(125, "seccomp_init", NULL, NULL, EINVAL, "libseccomp could not create a filter");
    }
    /* Why: libseccomp sets no_new_privs by default when loading; only the no-new-privs step may. */
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (rc < 0) {
        if (soft)
            goto refused;
        die(125, "seccomp_attr_set(SCMP_FLTATR_CTL_NNP)", NULL, NULL, -rc, NULL);
    }
    /* the kernel's errno from seccomp_load, not libseccomp's ECANCELED (libseccomp >= 2.5) */
    (void)seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
    for (int i = 0; i < s->nkv; i++) {
        if (strcmp(s->kv[i].key, "arch") != 0)
            continue;
        uint32_t arch = seccomp_arch_resolve_name(s->kv[i].val);
        if (!arch)
            REFUSE(soft, "arch=%s is not an architecture libseccomp knows (x86_64, x86, x32, aarch64, arm, ...)",
                   s->kv[i].val);
        rc = seccomp_arch_add(ctx, arch);
        if (rc < 0 && rc != -EEXIST) { /* the native one is always there */
            if (soft)
                goto refused;
            die(125, "seccomp_arch_add", NULL, s->kv[i].val, -rc, NULL);
        }
    }
    for (int i = 0; i < s->nkv; i++)
        if (strcmp(s->kv[i].key, "rule") == 0 && !seccomp_rule(ctx, def, s->kv[i].val, soft))
            goto refused;
    return ctx;
refused:
    if (ctx)
        seccomp_release(ctx);
    return NULL;
}

/* A refused load, with the hints of both paths (libseccomp's seccomp_load, or our own seccomp(2)). */
static _Noreturn void load_failed(const char *sys, int err)
{
    bool nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
    const char *hint = (err == EACCES || err == EPERM) && !nnp
        ? "loading a seccomp filter needs no_new_privs or CAP_SYS_ADMIN: place the seccomp step after "
          "no-new-privs, or before setresuid/capabilities drop CAP_SYS_ADMIN; when sandbox runs inside another "
          "sandbox, the outer one needs `process.seccomp: unconfined` and capabilities"
        : err == EINVAL ? "the kernel refused the filter (too many filters or instructions, or an action it lacks)"
        : g.filtered ? "a filter loaded by an earlier seccomp step may deny seccomp(2) or prctl(2), which loading "
                       "this one needs"
        : NULL;
    die(125, sys, NULL, NULL, err, hint);
}

/* ------------------------------------------------------------------------------------------ */
/* The filter cache                                                                           */
/*
 * Why: libseccomp compiles docker's default profile in 1.5 ms for x86_64 alone and 10.5 ms for
 * x86_64+x86+x32 (18-31 ms under load), the largest part of a sandbox start (docs/performance.md).
 * The program depends only on the step's text and on what shapes libseccomp's output, so it is kept
 * per caller (crun does the same) and loaded directly with seccomp(2) on the next start.
 *
 * Who reads and writes it: H, first thing in helper_main, before stage enter. Why there and not in
 * C, where the step runs: C runs the step last, after the identity switch (another uid, a user
 * namespace) and after pivot_root (another mount namespace): it can't see the caller's cache dir, and
 * must not be able to write it. H at that point is M's fork: the host's mounts, the caller's uid and
 * environment; C is cloned from H without exec, so it keeps the program in memory until its seccomp
 * step. Why not M: the same view, but monitor.c is the host stages' file; H's start covers the helper
 * mode (--plan --control) too.
 *
 * Why it is safe (docs/security.md): the dir must be a directory we own, not writable by group or
 * others, opened with O_NOFOLLOW; every entry is opened with O_NOFOLLOW relative to that fd and must
 * be a regular file we own, not writable by group or others; the entry's key material (the step's
 * every key and value in order, sandbox-init's version and build ID, libseccomp's version, the API level
 * and native arch) is compared byte for byte, and the program's checksum and length are checked. The
 * file name is only a hash of the key: a collision is a miss, never a wrong filter. Anything wrong:
 * not used, the step is compiled as before. Writing is best effort (temp file + rename(2)).
 */

#define CACHE_MAGIC "sandbox-seccomp-bpf 1"
#define CACHE_MAX_KEY (PLAN_MAX_SIZE + 4096)
#define MAX_PREPARED 16

struct prepared { const struct step *step; struct sock_filter *insns; size_t len; bool cached; };
static struct prepared prepared[MAX_PREPARED];
static int nprepared;

static uint64_t fnv64(const void *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001b3ULL;
    return h;
}

static bool write_all(int fd, const void *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p = (const char *)p + w;
        n -= (size_t)w;
    }
    return true;
}

/* The GNU build ID (ld --build-id, Debian's and Fedora's gcc default) of a loaded object: a hash of
 * the linked binary, so it changes with any change of the code and not with a rebuild of the same
 * code. Read from the object's PT_NOTE segments in memory (dl_iterate_phdr(3)), no file read. */
struct build_id { const char *want; char hex[129]; }; /* want: NULL = the executable, else a name part */

static int build_id_of(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    struct build_id *b = arg;
    /* the executable comes first, with an empty name */
    if (b->want ? !info->dlpi_name || !strstr(info->dlpi_name, b->want) : info->dlpi_name && *info->dlpi_name)
        return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type != PT_NOTE)
            continue;
        const char *p = (const char *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr), *end = p + info->dlpi_phdr[i].p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
            const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
            const char *name = p + sizeof *n, *desc = name + ((n->n_namesz + 3) & ~3U);
            if (desc + n->n_descsz > end)
                break;
            if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 && n->n_descsz <= 64) {
                for (unsigned j = 0; j < n->n_descsz; j++)
                    snprintf(b->hex + 2 * j, 3, "%02x", (unsigned char)desc[j]);
                return 1;
            }
            p = desc + ((n->n_descsz + 3) & ~3U);
        }
    }
    return 1;
}

/* Everything the program depends on, verbatim. Values are length-prefixed: they may hold any byte
 * but NUL. Why the build IDs and not only the versions: a changed seccomp.c (how a step maps to
 * libseccomp calls) or a patched libseccomp of the same version (a distribution's fix) must not
 * reuse a program compiled by the older build. Without our own build ID: no key, no cache. */
char *seccomp_key(const struct step *s, size_t *len)
{
    static struct build_id self, lib = { .want = "libseccomp.so" };
    if (!self.hex[0]) {
        dl_iterate_phdr(build_id_of, &self);
        dl_iterate_phdr(build_id_of, &lib); /* none when linked statically: then our own ID covers it */
    }
    if (!self.hex[0])
        return NULL;
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        return NULL;
    const struct scmp_version *v = seccomp_version();
    fprintf(f, CACHE_MAGIC "\nsandbox-init %s build-id %s\nlibseccomp %u.%u.%u build-id %s\napi %u\nnative-arch %u\nop %s\n",
            VERSION, self.hex, v ? v->major : 0, v ? v->minor : 0, v ? v->micro : 0, lib.hex[0] ? lib.hex : "-",
            seccomp_api_get(), seccomp_arch_native(), s->op->name);
    for (int i = 0; i < s->nkv; i++) {
        fprintf(f, "%s %zu ", s->kv[i].key, strlen(s->kv[i].val));
        fputs(s->kv[i].val, f);
        fputc('\n', f);
    }
    if (fclose(f) != 0 || *len > CACHE_MAX_KEY) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* libseccomp's program for a step (what seccomp_load would load): 0, or -1 when refused or failed. */
int seccomp_export(const struct step *s, struct sock_filter **insns, size_t *n)
{
    scmp_filter_ctx ctx = seccomp_build(s, true);
    if (!ctx)
        return -1;
    /* a memfd: seccomp_export_bpf(3) writes to an fd (libseccomp 2.5 has no in-memory export) */
    int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
    int rc = fd < 0 ? -1 : seccomp_export_bpf(ctx, fd);
    seccomp_release(ctx);
    off_t size = rc < 0 ? -1 : lseek(fd, 0, SEEK_END);
    *insns = NULL;
    if (size > 0 && size % (off_t)sizeof **insns == 0 && size / (off_t)sizeof **insns <= BPF_MAXINSNS
        && (*insns = malloc((size_t)size)) != NULL && pread(fd, *insns, (size_t)size, 0) == size) {
        *n = (size_t)size / sizeof **insns;
        close(fd);
        return 0;
    }
    free(*insns);
    *insns = NULL;
    if (fd >= 0)
        close(fd);
    return -1;
}

/* Ours, and nobody else can write it. */
static bool trusted(const struct stat *st)
{
    return st->st_uid == geteuid() && !(st->st_mode & (S_IWGRP | S_IWOTH));
}

/* mkdir -p with 0700 for what it creates (as the plan cache does). */
static void make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            (void)mkdir(path, 0700);
            *p = '/';
        }
    (void)mkdir(path, 0700);
}

/* The caller's cache dir for filters, or -1: $SANDBOX_CACHE_DIR/bpf, /var/cache/sandbox/bpf for
 * root, $XDG_CACHE_HOME/sandbox/bpf or ~/.cache/sandbox/bpf (PlanCache.forCaller's choice, with bpf
 * for plans). None with SANDBOX_NO_CACHE, or when the dir isn't ours alone. */
int seccomp_cache_open(void)
{
    const char *off = getenv("SANDBOX_NO_CACHE"), *over = getenv("SANDBOX_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char path[PATH_MAX];
    int n;
    if (off && *off)
        return -1;
    if (over && *over == '/')
        n = snprintf(path, sizeof path, "%s/bpf", over);
    else if (geteuid() == 0)
        n = snprintf(path, sizeof path, "/var/cache/sandbox/bpf");
    else if (xdg && *xdg == '/')
        n = snprintf(path, sizeof path, "%s/sandbox/bpf", xdg);
    else if (home && *home == '/')
        n = snprintf(path, sizeof path, "%s/.cache/sandbox/bpf", home);
    else
        return -1;
    if (n < 0 || (size_t)n >= sizeof path)
        return -1;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        make_dirs(path);
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode) || !trusted(&st))) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* An entry: "<magic>\n<key length> <program length> <fnv64 of the program>\n" + key + program. */
static bool cache_read(int dirfd, const char *name, const char *key, size_t keylen, struct sock_filter **insns,
                       size_t *n)
{
    /* O_NONBLOCK: a FIFO planted under the name must not block us (it is refused below anyway) */
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    char *buf = NULL;
    bool ok = false;
    size_t max = keylen + 128 + BPF_MAXINSNS * sizeof(struct sock_filter);
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !trusted(&st) || st.st_size <= 0 || (size_t)st.st_size > max
        || (buf = malloc((size_t)st.st_size + 1)) == NULL || pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
        goto out;
    size_t size = (size_t)st.st_size, klen, plen;
    unsigned long long sum;
    buf[size] = '\0';
    char *nl = memchr(buf, '\n', size);
    int used = 0;
    /* the header: digits only (sscanf would take signs and spaces) */
    if (!nl || (size_t)(nl - buf) != strlen(CACHE_MAGIC) || memcmp(buf, CACHE_MAGIC, strlen(CACHE_MAGIC)) != 0
        || !isdigit((unsigned char)nl[1]) || sscanf(nl + 1, "%zu %zu %16llx\n%n", &klen, &plen, &sum, &used) != 3 || !used)
        goto out;
    size_t off = (size_t)(nl + 1 - buf) + (size_t)used;
    if (klen != keylen || plen == 0 || plen % sizeof **insns != 0 || plen / sizeof **insns > BPF_MAXINSNS
        || off > size || size - off != klen + plen || memcmp(buf + off, key, keylen) != 0
        || fnv64(buf + off + klen, plen) != sum)
        goto out;
    if ((*insns = malloc(plen)) == NULL)
        goto out;
    memcpy(*insns, buf + off + klen, plen);
    *n = plen / sizeof **insns;
    ok = true;
out:
    free(buf);
    close(fd);
    return ok;
}

/* Best effort: a temp file renamed over the entry (rename(2) is atomic: readers see the old or the new). */
static void cache_write(int dirfd, const char *name, const char *key, size_t keylen, const struct sock_filter *insns,
                        size_t n)
{
    char tmp[96], head[128];
    size_t plen = n * sizeof *insns;
    snprintf(tmp, sizeof tmp, ".%s.%d.tmp", name, (int)getpid());
    int hl = snprintf(head, sizeof head, CACHE_MAGIC "\n%zu %zu %016llx\n", keylen, plen,
                      (unsigned long long)fnv64(insns, plen));
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    bool ok = write_all(fd, head, (size_t)hl) && write_all(fd, key, keylen) && write_all(fd, insns, plen);
    ok = close(fd) == 0 && ok;
    if (!ok || renameat(dirfd, tmp, dirfd, name) < 0)
        unlinkat(dirfd, tmp, 0);
}

/* Bounded: after a write, more than KEEP entries (old profiles, old builds) → the oldest go. */
#define KEEP 64
struct entry { char name[32]; long long mtime; };

static int older_first(const void *a, const void *b)
{
    long long x = ((const struct entry *)a)->mtime, y = ((const struct entry *)b)->mtime;
    return (x > y) - (x < y);
}

static void cache_prune(int dirfd)
{
    int fd = dup(dirfd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    rewinddir(d); /* the dup shares dirfd's position: an earlier prune left it at the end */
    struct entry *e = NULL;
    size_t ne = 0, cap = 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        size_t l = strlen(de->d_name);
        struct stat st;
        if (l < 5 || l >= sizeof e->name || strcmp(de->d_name + l - 4, ".bpf") != 0
            || fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (ne == cap) {
            struct entry *more = realloc(e, (cap = cap ? 2 * cap : KEEP * 2) * sizeof *e);
            if (!more)
                break;
            e = more;
        }
        memcpy(e[ne].name, de->d_name, l + 1); /* l < sizeof name: checked above */
        e[ne++].mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    }
    closedir(d);
    if (ne > KEEP) {
        qsort(e, ne, sizeof *e, older_first);
        for (size_t i = 0; i < ne - KEEP; i++)
            unlinkat(dirfd, e[i].name, 0);
    }
    free(e);
}

/* One step: 2 = from the cache, 1 = compiled (and stored when dirfd >= 0), 0 = not prepared. */
int seccomp_prepare_step(const struct step *s, int dirfd, struct sock_filter **insns, size_t *n)
{
    size_t keylen;
    char *key = seccomp_key(s, &keylen), name[32];
    if (!key)
        return 0;
    snprintf(name, sizeof name, "%016llx.bpf", (unsigned long long)fnv64(key, keylen));
    int r = 0;
    if (dirfd >= 0 && cache_read(dirfd, name, key, keylen, insns, n))
        r = 2;
    else if (seccomp_export(s, insns, n) == 0) {
        r = 1;
        if (dirfd >= 0) {
            cache_write(dirfd, name, key, keylen, *insns, *n);
            cache_prune(dirfd);
        }
    }
    free(key);
    return r;
}

static long long mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* H, before stage enter: each seccomp step's program, from the cache or compiled into it. Without a
 * usable cache dir nothing is prepared: C compiles as it always did. */
void seccomp_prepare(void)
{
    int dirfd = -2;
    for (int i = 0; i < g.nsteps && nprepared < MAX_PREPARED; i++) {
        const struct step *s = &g.steps[i];
        if (s->op->fn != op_seccomp)
            continue;
        long long t0 = mono_us();
        if (dirfd == -2)
            dirfd = seccomp_cache_open();
        struct prepared *p = &prepared[nprepared];
        int r = dirfd < 0 ? 0 : seccomp_prepare_step(s, dirfd, &p->insns, &p->len);
        if (r) {
            p->step = s;
            p->cached = r == 2;
            nprepared++;
        }
        /* no ':' in the line: M prints a TRACE line without <stage>:<line> as it is */
        if (g.trace)
            send_line("TRACE %-9s %-16s %6.2f ms  filter of plan line %d %s", "enter", "seccomp-cache",
                      (double)(mono_us() - t0) / 1000.0, s->line,
                      r == 2 ? "from the cache" : r == 1 ? "compiled, stored in the cache"
                      : dirfd < 0 ? "compiled by the step (no cache dir of ours alone)" : "compiled by the step");
    }
    if (dirfd >= 0)
        close(dirfd);
}

void op_seccomp(const struct step *s)
{
    for (int i = 0; i < nprepared; i++) {
        if (prepared[i].step != s)
            continue;
        /* What seccomp_load(3) does for our attributes (libseccomp 2.5, sys_filter_load): no TSYNC, LOG,
         * SPEC_ALLOW or listener flags, no_new_privs left alone (SCMP_FLTATR_CTL_NNP 0): seccomp(2)
         * SECCOMP_SET_MODE_FILTER with flags 0, or prctl(2) PR_SET_SECCOMP on kernels without
         * seccomp(2) (< 3.17). */
        struct sock_fprog prog = { .len = (unsigned short)prepared[i].len, .filter = prepared[i].insns };
        long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
        if (rc < 0 && errno == ENOSYS)
            rc = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
        if (rc < 0)
            load_failed("seccomp(SECCOMP_SET_MODE_FILTER)", errno);
        if (prepared[i].cached)
            g.trace_note = " cached";
        return;
    }
    scmp_filter_ctx ctx = seccomp_build(s, false);
    int rc = seccomp_load(ctx);
    if (rc < 0) {
        seccomp_release(ctx);
        load_failed("seccomp_load", -rc);
    }
    seccomp_release(ctx);
}
