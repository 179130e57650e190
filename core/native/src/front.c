/*
 * front.c: `sandbox-init up ARGS...`, the warm path without a JVM (issue 10, docs/performance.md "The native
 * front"). The launcher execs it for every `sandbox up`. It computes the key material of this call (the
 * arguments as bytes, the cwd, the distribution's home, the caller's ids and groups, the kernel release,
 * the hard rlimits, the cgroup mounts, the environment variables the JVM path reads), looks its FNV-1a 64
 * hash up in the caller's plan cache directory as `<hash>.native`, compares the stored key material with
 * its own byte for byte (a hash collision can never select a wrong entry), and verifies the entry's
 * dependency manifest: the stat identity (dev, ino, size, mtime, ctime) of every file the compile read,
 * the type of every host path the plan assumed, the value of every variable the spec referenced.
 * Anything else — no entry, one item that differs, a directory others can write, an unreadable file —
 * is a miss: the front execs the launcher again with SANDBOX_FRONT=miss and the JVM does what it always
 * did (and writes the entry for next time). On a hit main() continues as `run --plan <hash>.plan-native`
 * with the arguments the JVM would have handed over (no --consume: the file stays in the cache).
 *
 * The front never interprets up's options: the entry records the runtime's arguments the JVM derived
 * from them (Launch.UpArgs is the one table of up's options), and an argument vector it never saw has no
 * entry. The entry format is written by NativeIndex.java; docs/architecture.md "The native cache index".
 */
#include "runtime.h"
#include "front.h"
#include <dirent.h>
#include <dlfcn.h>
#include <time.h>

#define FRONT_MAX_ENTRY (1 << 20)

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "sandbox: up: out of memory\n");
            exit(125);
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void front_buf_add(struct buf *b, const char *s, size_t n)
{
    buf_add(b, s, n);
}

static void buf_str(struct buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

/* One token: bytes outside 0x21..0x7e and '%' as %XX, so a line splits at spaces (NativeIndex.escape). */
void front_escape(struct buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '%') {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_add(b, e, 3);
        } else {
            buf_add(b, (const char *)&c, 1);
        }
    }
}

static void item(struct buf *b, const char *tag, const char *v, size_t n)
{
    buf_str(b, tag);
    buf_add(b, " ", 1);
    front_escape(b, v, n);
    buf_add(b, "\n", 1);
}

uint64_t front_fnv1a64(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A whole small file (a /proc file: st_size is 0, so read until EOF); NULL when it can't be read. */
static char *slurp_fd(int fd, size_t max, size_t *len)
{
    struct buf b = {0};
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            free(b.p);
            return NULL;
        }
        if (n == 0)
            break;
        if (b.len + (size_t)n > max) {
            free(b.p);
            return NULL;
        }
        buf_add(&b, chunk, (size_t)n);
    }
    if (!b.p)
        buf_add(&b, "", 0);
    *len = b.len;
    return b.p;
}

static char *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *t = slurp_fd(fd, FRONT_MAX_ENTRY, len);
    close(fd);
    return t;
}

/*
 * SHA-256, for the content digest of a racily clean input (docs/performance.md "The warm path"): a file
 * changed in the last second before its compile has no trustworthy stat identity, so its entry line carries
 * the digest of the bytes the compile read, and the front hashes the file (a spec, an include: small).
 * The hash is OpenSSL's (EVP_Digest(3ssl) with EVP_sha256), from libcrypto loaded by dlopen(3) only when an
 * entry has such a line: linked, its relocations would cost every start. Without libcrypto the digest
 * can't be checked: false, and the caller treats it as a miss (the JVM path).
 */
bool front_sha256(const void *data, size_t n, char hex[65])
{
    static bool tried;
    static int (*digest)(const void *, size_t, unsigned char *, unsigned int *, const void *, void *);
    static const void *(*sha256)(void);
    if (!tried) {
        tried = true;
        void *lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
        if (!lib)
            lib = dlopen("libcrypto.so.1.1", RTLD_NOW | RTLD_LOCAL);
        if (lib) {
            /* dlsym(3)'s idiom for a function pointer */
            *(void **)&digest = dlsym(lib, "EVP_Digest");
            *(void **)&sha256 = dlsym(lib, "EVP_sha256");
        }
    }
    unsigned char md[32];
    unsigned int len = 0;
    if (!digest || !sha256 || digest(data, n, md, &len, sha256(), NULL) != 1 || len != sizeof md)
        return false;
    for (size_t i = 0; i < sizeof md; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return true;
}

/* Whether PATH is a regular file of SIZE bytes whose SHA-256 is HEX (a `digest` line of an entry). */
bool front_digest_matches(const char *path, const char *size, const char *hex)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return false;
    struct stat st;
    char have[24], sum[65];
    size_t len = 0;
    char *t = NULL;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size <= FRONT_MAX_ENTRY;
    if (ok) {
        snprintf(have, sizeof have, "%lld", (long long)st.st_size);
        ok = strcmp(have, size) == 0;
    }
    /* read to the end, not st_size bytes: a file that grew since the fstat is not the one hashed */
    if (ok)
        ok = (t = slurp_fd(fd, FRONT_MAX_ENTRY, &len)) != NULL;
    close(fd);
    if (ok) {
        snprintf(have, sizeof have, "%zu", len);
        ok = front_sha256(t, len, sum) && strcmp(have, size) == 0 && strcmp(sum, hex) == 0;
    }
    free(t);
    return ok;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The variables the JVM path reads besides the spec's own (PlanCache.ENV_KEYS, the cache dir, SANDBOX_*);
 * the front's own switches are not part of the key. */
bool front_env_keyed(const char *name, size_t n)
{
    static const char *const plain[] = {"TERM", "HOME", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME"};
    static const char *const own[] = {"SANDBOX_FRONT", "SANDBOX_FRONT_REQUIRE", "SANDBOX_TRACE_CACHE", "SANDBOX_NO_JVM",
                                      "SANDBOX_HANDOFF"};
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        if (strlen(plain[i]) == n && memcmp(plain[i], name, n) == 0)
            return true;
    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        if (strlen(own[i]) == n && memcmp(own[i], name, n) == 0)
            return false;
    return n >= 8 && memcmp(name, "SANDBOX_", 8) == 0;
}

/* The key material of this call (NativeIndex.keyMaterial builds the same bytes); -1 when a host fact
 * can't be read (then there is no entry to find). */
static int key_material(struct buf *k, const char *home, int nargs, char **args)
{
    extern char **environ;
    char cwd[PATH_MAX];
    size_t len;
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    buf_str(k, "sandbox-native-key 1\n");
    item(k, "home", home, strlen(home));
    item(k, "cwd", cwd, strlen(cwd));
    for (int i = 0; i < nargs; i++)
        item(k, "arg", args[i], strlen(args[i]));
    /* the caller: real, effective, saved, fs ids and the supplementary groups, as the kernel shows them */
    char *t = slurp("/proc/self/status", &len);
    if (!t)
        return -1;
    for (char *line = t, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (!end)
            break;
        if (strncmp(line, "Uid:", 4) == 0 || strncmp(line, "Gid:", 4) == 0 || strncmp(line, "Groups:", 7) == 0)
            item(k, "status", line, (size_t)(end - line));
    }
    free(t);
    /* the seccomp filters and capability steps depend on the kernel */
    if (!(t = slurp("/proc/sys/kernel/osrelease", &len)))
        return -1;
    while (len > 0 && (t[len - 1] == '\n' || t[len - 1] == ' '))
        len--;
    item(k, "osrelease", t, len);
    free(t);
    /* process.rlimits is validated against the hard limits: proc(5) prints them as "%-25s %-20s %-20s %-10s" */
    if (!(t = slurp("/proc/self/limits", &len)))
        return -1;
    char *line = strchr(t, '\n');
    for (line = line ? line + 1 : t + len; *line;) {
        char *end = strchr(line, '\n');
        if (!end)
            break;
        size_t ll = (size_t)(end - line);
        size_t nl = ll < 26 ? ll : 26, hs = ll < 47 ? ll : 47, hl = ll < 47 ? 0 : (ll - 47 < 20 ? ll - 47 : 20);
        char *name = line, *hard = line + hs;
        while (nl > 0 && name[nl - 1] == ' ')
            nl--;
        while (hl > 0 && hard[hl - 1] == ' ')
            hl--;
        buf_str(k, "limit ");
        front_escape(k, name, nl);
        buf_add(k, " ", 1);
        front_escape(k, hard, hl);
        buf_add(k, "\n", 1);
        line = end + 1;
    }
    free(t);
    /* the cgroup layout the plan assumed (proc(5), mountinfo: fields after " - " start with the fs type) */
    if (!(t = slurp("/proc/self/mountinfo", &len)))
        return -1;
    for (char *l = t, *end; *l; l = end + 1) {
        end = strchr(l, '\n');
        if (!end)
            break;
        *end = '\0';
        if (strstr(l, " - cgroup"))
            item(k, "mount", l, (size_t)(end - l));
    }
    free(t);
    size_t n = 0;
    for (char **e = environ; *e; e++)
        n++;
    char **vars = calloc(n + 1, sizeof *vars);
    if (!vars)
        return -1;
    size_t m = 0;
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (eq && front_env_keyed(*e, (size_t)(eq - *e)))
            vars[m++] = *e;
    }
    qsort(vars, m, sizeof *vars, cmp_str); /* "NAME=": '=' sorts below every name byte but the control ones */
    for (size_t i = 0; i < m; i++) {
        const char *eq = strchr(vars[i], '=');
        buf_str(k, "env ");
        front_escape(k, vars[i], (size_t)(eq - vars[i]));
        buf_add(k, " ", 1);
        front_escape(k, eq + 1, strlen(eq + 1));
        buf_add(k, "\n", 1);
    }
    free(vars);
    buf_str(k, "end-key\n");
    return 0;
}

/* %XX back to bytes, in place; -1 on a malformed escape. */
static int unescape(char *s)
{
    char *o = s;
    for (char *i = s; *i; i++) {
        if (*i != '%') {
            *o++ = *i;
            continue;
        }
        int v = 0;
        for (int j = 1; j <= 2; j++) {
            char c = i[j];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (d < 0)
                return -1;
            v = v * 16 + d;
        }
        if (v == 0)
            return -1; /* a NUL can't be in a path, a name or a value */
        *o++ = (char)v;
        i += 2;
    }
    *o = '\0';
    return 0;
}

static bool same_stat(const struct stat *st, char **f)
{
    char want[160], have[160];
    snprintf(want, sizeof want, "%s %s %s %s %s", f[0], f[1], f[2], f[3], f[4]);
    snprintf(have, sizeof have, "%llu %llu %lld %lld %lld", (unsigned long long)st->st_dev, (unsigned long long)st->st_ino,
             (long long)st->st_size, (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec,
             (long long)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec);
    return strcmp(want, have) == 0;
}

static const char *type_of(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT || errno == ENOTDIR ? "missing" : NULL;
    return S_ISDIR(st.st_mode) ? "dir" : "file";
}

/* Only our own, not writable by others (PlanCache.trusted): a cached plan is executed as it is. */
static bool trusted(const struct stat *st)
{
    return st->st_uid == getuid() && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

static bool g_trace_cache;
static char g_why[PATH_MAX + 64];

static bool miss(const char *fmt, const char *arg)
{
    snprintf(g_why, sizeof g_why, fmt, arg);
    return false;
}

/*
 * Verifies the manifest (the entry after the key material); fills the runtime's argv and the lines to
 * print. Every line is TAG SP FIELD...; an unknown tag is a miss (an entry of a newer format).
 */
static bool verify(char *m, int dirfd, const char *name, char **run, int *nrun, int maxrun, char **say, int *nsay)
{
    bool ended = false, planned = false;
    for (char *line = m, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (!end)
            return miss("the entry is cut short", NULL);
        *end = '\0';
        char *f[8];
        int nf = 0;
        for (char *p = line, *sp; nf < 8; p = sp + 1) {
            f[nf++] = p;
            sp = strchr(p, ' ');
            if (!sp)
                break;
            *sp = '\0';
        }
        for (int i = 1; i < nf; i++)
            if (unescape(f[i]) != 0)
                return miss("a malformed entry", NULL);
        struct stat st;
        if (strcmp(f[0], "end") == 0 && nf == 1) {
            ended = true;
            if (end[1] != '\0')
                return miss("bytes after the end of the entry", NULL);
            break;
        } else if (strcmp(f[0], "file") == 0 && nf == 7) {
            if (stat(f[6], &st) != 0 || !same_stat(&st, f + 1))
                return miss("%s changed", f[6]);
        } else if (strcmp(f[0], "digest") == 0 && nf == 4) {
            /* a racily clean input: its content, not its stat identity (NativeIndex.write) */
            if (!front_digest_matches(f[3], f[1], f[2]))
                return miss("%s changed", f[3]);
        } else if (strcmp(f[0], "absent") == 0 && nf == 2) {
            if (stat(f[1], &st) == 0 || errno != ENOENT)
                return miss("%s appeared", f[1]);
        } else if (strcmp(f[0], "assume") == 0 && nf == 3) {
            const char *t = type_of(f[2]);
            if (!t || strcmp(t, f[1]) != 0)
                return miss("the type of %s changed", f[2]);
        } else if (strcmp(f[0], "var") == 0 && nf == 3) {
            const char *v = getenv(f[1]);
            if (!v || strcmp(v, f[2]) != 0)
                return miss("variable %s changed", f[1]);
        } else if (strcmp(f[0], "unset") == 0 && nf == 2) {
            if (getenv(f[1]))
                return miss("variable %s is set", f[1]);
        } else if (strcmp(f[0], "plan") == 0 && nf == 6) {
            /* the plan text next to the entry: the one this entry was written with, ours, not writable by others */
            char pn[64];
            snprintf(pn, sizeof pn, "%s.plan-native", name);
            if (fstatat(dirfd, pn, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) || !trusted(&st) ||
                !same_stat(&st, f + 1))
                return miss("the plan file %s is not the one the entry was written with", pn);
            planned = true;
        } else if (strcmp(f[0], "say") == 0 && nf == 2) {
            if (*nsay < 64)
                say[(*nsay)++] = f[1];
        } else if (strcmp(f[0], "run") == 0 && nf == 2) {
            if (*nrun >= maxrun)
                return miss("too many runtime arguments", NULL);
            run[(*nrun)++] = f[1];
        } else {
            return miss("unknown entry line '%s'", f[0]);
        }
    }
    if (!ended || !planned)
        return miss("the entry is incomplete", NULL);
    return true;
}

/* The caller's plan cache dir, as PlanCache.forCaller chooses it; false when there is none. */
static bool cache_dir(char *out, size_t n)
{
    const char *o = getenv("SANDBOX_CACHE_DIR"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    int r;
    if (o && *o)
        r = snprintf(out, n, "%s", o);
    else if (getuid() == 0)
        r = snprintf(out, n, "/var/cache/sandbox/plans");
    else if (x && *x)
        r = snprintf(out, n, "%s/sandbox/plans", x);
    else if (h)
        r = snprintf(out, n, "%s/.cache/sandbox/plans", h);
    else
        return false;
    return r > 0 && (size_t)r < n;
}

/* The distribution's home from /proc/self/exe: <home>/libexec/sandbox-init, or <home>/bin/sandbox when
 * that is a copy of the binary rather than the symbolic link the build makes. false when neither. */
bool front_home(char *home, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0 || (size_t)len >= sizeof exe - 1)
        return false;
    exe[len] = '\0';
    static const char *const suffixes[] = { "/libexec/sandbox-init", "/bin/sandbox" };
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t sl = strlen(suffixes[i]);
        if ((size_t)len > sl && strcmp(exe + len - sl, suffixes[i]) == 0 && (size_t)len - sl < n) {
            memcpy(home, exe, (size_t)len - sl);
            home[len - sl] = '\0';
            return true;
        }
    }
    return false;
}

/* The launcher script: libexec/sandbox-launcher next to us when bin/sandbox is this binary (the
 * distribution), else bin/sandbox itself (a distribution built before, or by hand). */
void front_launcher(const char *home, char *out, size_t n)
{
    snprintf(out, n, "%s/libexec/sandbox-launcher", home);
    if (access(out, X_OK) != 0)
        snprintf(out, n, "%s/bin/sandbox", home);
}

_Noreturn static void to_the_jvm(const char *home, char **argv, const char *key)
{
    if (g_trace_cache)
        fprintf(stderr, "sandbox: native cache: miss %s: %s\n", key, g_why);
    /* the tests' warm mode (docs/performance.md): a call primed to hit must not quietly go to the JVM */
    const char *require = getenv("SANDBOX_FRONT_REQUIRE");
    if (require && strcmp(require, "hit") == 0) {
        fprintf(stderr, "sandbox: up: SANDBOX_FRONT_REQUIRE=hit, but the native cache missed (entry %s): %s\n", key, g_why);
        exit(125);
    }
    char launcher[PATH_MAX + 32];
    front_launcher(home, launcher, sizeof launcher);
    setenv("SANDBOX_FRONT", "miss", 1);
    argv[0] = launcher;
    execv(launcher, argv);
    fprintf(stderr, "sandbox: up: execve %s: %s\n", launcher, errno_name(errno));
    exit(125);
}

/*
 * argv = sandbox-init up ARGS... On a hit *argv becomes `sandbox-init run --plan FILE ...` for main() to go
 * on with; on a miss this execs the launcher (never returns).
 */
void front_main(int *argc, char ***argv)
{
    char **av = *argv, home[PATH_MAX], dir[PATH_MAX], name[20];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    g_trace_cache = getenv("SANDBOX_TRACE_CACHE") != NULL;
    /* the distribution: <home>/libexec/sandbox-init, <home>/bin/sandbox its link */
    if (!front_home(home, sizeof home)) {
        char exe[PATH_MAX] = "";
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 && (size_t)n < sizeof exe ? (size_t)n : 0] = '\0';
        fprintf(stderr, "sandbox: up: readlink /proc/self/exe: %s is not in a distribution's libexec/ (run bin/sandbox)\n", exe);
        exit(125);
    }

    struct buf k = {0};
    snprintf(name, sizeof name, "-");
    if (getenv("SANDBOX_NO_CACHE"))
        miss("SANDBOX_NO_CACHE is set", NULL), to_the_jvm(home, av, name);
    if (key_material(&k, home, *argc - 2, av + 2) != 0)
        miss("a host fact could not be read", NULL), to_the_jvm(home, av, name);
    snprintf(name, sizeof name, "%016llx", (unsigned long long)front_fnv1a64(k.p, k.len));
    if (!cache_dir(dir, sizeof dir))
        miss("no cache directory (HOME is not set)", NULL), to_the_jvm(home, av, name);

    struct stat st;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        miss("no cache directory %s", dir), to_the_jvm(home, av, name);
    if (fstat(dfd, &st) != 0 || !trusted(&st))
        miss("the cache directory %s is not the caller's alone", dir), to_the_jvm(home, av, name);
    char en[40];
    snprintf(en, sizeof en, "%s.native", name);
    int fd = openat(dfd, en, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        miss("no entry", NULL), to_the_jvm(home, av, name);
    size_t len = 0;
    char *entry = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !trusted(&st) || !(entry = slurp_fd(fd, FRONT_MAX_ENTRY, &len)))
        miss("the entry is not the caller's alone", NULL), to_the_jvm(home, av, name);
    close(fd);
    if (len < k.len || memcmp(entry, k.p, k.len) != 0 || strlen(entry) != len)
        miss("another call's entry (the key material differs)", NULL), to_the_jvm(home, av, name);

    enum { MAXRUN = 16 };
    static char *run[MAXRUN + 8];
    char *say[64];
    int nrun = 0, nsay = 0;
    run[nrun++] = "sandbox-init"; /* not bin/sandbox's name: main.c's launcher mode is for the caller's call only */
    run[nrun++] = "run";
    run[nrun++] = "--plan";
    static char plan[PATH_MAX + 64];
    snprintf(plan, sizeof plan, "%s/%s.plan-native", dir, name);
    run[nrun++] = plan;
    if (!verify(entry + k.len, dfd, name, run, &nrun, MAXRUN, say, &nsay))
        to_the_jvm(home, av, name);
    close(dfd);
    free(k.p);
    run[nrun] = NULL;
    if (g_trace_cache)
        fprintf(stderr, "sandbox: native cache: hit %s\n", name);
    for (int i = 0; i < nsay; i++)
        fprintf(stderr, "%s\n", say[i]);
    /* -v (the entry's run arguments carry --trace): the front's own step, in the monitor's step-line shape */
    bool traced = false;
    for (int i = 0; i < nrun; i++)
        traced |= strcmp(run[i], "--trace") == 0;
    if (traced) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        fprintf(stderr, "sandbox: %-9s %-16s %6.2f ms  the native cache's entry %s and every input it lists checked (no JVM)\n",
                "front", "cache-check", ms, name);
    }
    fflush(stderr);
    *argc = nrun;
    *argv = run;
}

/* ------------------------------------------------------------------------------------------------ */
/*
 * `sandbox-init source-stamp write|check HOME STAMP`: the source checkout's staleness check (bin/sandbox;
 * docs/performance.md "The source checkout's launcher"). The stamp lists every directory and file under the
 * sources the build reads (target/ and .git/ pruned) with its mtime and ctime, and the build's .built stamp.
 * `check` stats each: an edited file changes its own times, an added, removed or renamed one its directory's
 * (inode(7): a directory's mtime and ctime change when an entry is created, deleted or renamed), so a match
 * means nothing changed. Exit 0 fresh, 1 stale, 2 no usable stamp (the launcher falls back to its find).
 * Why C: the list is ~650 stats; in sh each one would be a process.
 */
static const char *const source_roots[] = {"pom.xml", "bin", "core", "plugins", "schemas", "man/pom.xml", "dist/pom.xml"};

static void stamp_line(struct buf *b, const char *rel, const struct stat *st)
{
    char t[64];
    if (st)
        snprintf(t, sizeof t, "%lld %lld ", (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec,
                 (long long)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec);
    else
        snprintf(t, sizeof t, "-1 -1 ");
    buf_str(b, t);
    front_escape(b, rel, strlen(rel));
    buf_add(b, "\n", 1);
}

static int stamp_walk(struct buf *b, char *path, size_t len, size_t cap)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno != ENOENT)
            return -1;
        stamp_line(b, path, NULL);
        return 0;
    }
    stamp_line(b, path, &st);
    if (!S_ISDIR(st.st_mode))
        return 0;
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *e;
    int r = 0;
    while (r == 0 && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 || strcmp(e->d_name, "target") == 0 ||
            strcmp(e->d_name, ".git") == 0)
            continue;
        size_t n = strlen(e->d_name);
        if (len + 1 + n + 1 > cap) {
            r = -1;
            break;
        }
        path[len] = '/';
        memcpy(path + len + 1, e->d_name, n + 1);
        r = stamp_walk(b, path, len + 1 + n, cap);
        path[len] = '\0';
    }
    closedir(d);
    return r;
}

static int source_stamp(int argc, char **argv, struct buf *bp, char **tp)
{
    if (argc != 5 || (strcmp(argv[2], "write") != 0 && strcmp(argv[2], "check") != 0)) {
        fprintf(stderr, "usage: sandbox-init source-stamp write|check HOME STAMP\n");
        return 2;
    }
    const char *home = argv[3], *stamp = argv[4];
    if (chdir(home) != 0)
        return 2;
    struct stat built;
    if (stat("dist/target/sandbox/.built", &built) != 0)
        return 2;
    char head[96];
    snprintf(head, sizeof head, "sandbox-source-stamp 1 %lld\n",
             (long long)built.st_mtim.tv_sec * 1000000000LL + built.st_mtim.tv_nsec);
    buf_str(bp, head);
    if (strcmp(argv[2], "write") == 0) {
        char path[PATH_MAX];
        for (size_t i = 0; i < sizeof source_roots / sizeof *source_roots; i++) {
            snprintf(path, sizeof path, "%s", source_roots[i]);
            if (stamp_walk(bp, path, strlen(path), sizeof path) != 0)
                return 2;
        }
        buf_str(bp, "end\n");
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s.%d", stamp, (int)getpid());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            return 2;
        bool ok = write(fd, bp->p, bp->len) == (ssize_t)bp->len;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(tmp, stamp) != 0) {
            unlink(tmp);
            return 2;
        }
        return 0;
    }
    size_t len;
    char *t = *tp = slurp(stamp, &len);
    if (!t || strlen(t) != len || strncmp(t, head, strlen(head)) != 0)
        return 2; /* no stamp, or one of another build */
    bool ended = false;
    for (char *line = t + strlen(head), *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (!end)
            return 2;
        *end = '\0';
        if (strcmp(line, "end") == 0) {
            ended = true;
            break;
        }
        long long m, c;
        char rel[PATH_MAX];
        if (sscanf(line, "%lld %lld %4095s", &m, &c, rel) != 3 || unescape(rel) != 0)
            return 2;
        struct stat st;
        if (lstat(rel, &st) != 0) {
            if (m != -1)
                return 1;
            continue;
        }
        if (m != (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec ||
            c != (long long)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec)
            return 1;
    }
    return ended ? 0 : 2;
}

int source_stamp_main(int argc, char **argv)
{
    struct buf b = {0};
    char *t = NULL;
    int r = source_stamp(argc, argv, &b, &t);
    free(b.p);
    free(t);
    return r;
}
