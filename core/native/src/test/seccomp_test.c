/*
 * seccomp_test.c: the seccomp filter cache (seccomp.c, "The filter cache"). The cached program is
 * byte-identical to what libseccomp exports for the same step; an entry is used only when it is a
 * regular file of ours, not writable by group or others, its key material equal byte for byte and
 * its program's checksum right; a cache dir that isn't ours alone is not used; a prepared filter
 * loaded by op_seccomp in a child denies what the step denies (real kernel). Built with ASan and
 * UBSan and run by Maven (core/native/pom.xml). Usage: seccomp-test PLAN (a plan with seccomp steps,
 * e.g. the seed hello.plan: the TIOCSTI filter and docker's default profile for three arches).
 */
#include "../runtime.h"

#include <dirent.h>
#include <linux/filter.h>

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

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = malloc(PLAN_MAX_SIZE + 1);
    *len = buf ? fread(buf, 1, PLAN_MAX_SIZE, f) : 0;
    fclose(f);
    if (buf)
        buf[*len] = '\0';
    return buf;
}

/* The one *.bpf entry in dir (the test writes one step at a time into a fresh dir). */
static bool entry_name(int dirfd, char *out, size_t len)
{
    DIR *d = fdopendir(dup(dirfd));
    bool found = false;
    if (d)
        rewinddir(d);
    for (struct dirent *de; d && (de = readdir(d)) != NULL;)
        if (strstr(de->d_name, ".bpf") && de->d_name[0] != '.' && strlen(de->d_name) < len) {
            memcpy(out, de->d_name, strlen(de->d_name) + 1);
            found = true;
        }
    if (d)
        closedir(d);
    return found;
}

/* Flips one byte of the entry at offset (from the end when negative). */
static void flip(int dirfd, const char *name, long off)
{
    int fd = openat(dirfd, name, O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        abort();
    off_t at = off < 0 ? st.st_size + off : off;
    unsigned char b;
    if (pread(fd, &b, 1, at) != 1)
        abort();
    b ^= 0x20;
    if (pwrite(fd, &b, 1, at) != 1)
        abort();
    close(fd);
}

static int prep(const struct step *s, int dirfd, struct sock_filter **insns, size_t *n)
{
    free(*insns);
    *insns = NULL;
    return seccomp_prepare_step(s, dirfd, insns, n);
}

static void test_step(const struct step *s, const char *root)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/line%d", root, s->line);
    CHECK(mkdir(dir, 0700) == 0, "mkdir %s: %s", dir, strerror(errno));
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct sock_filter *want = NULL, *got = NULL;
    size_t nwant = 0, ngot = 0;
    CHECK(seccomp_export(s, &want, &nwant) == 0 && nwant > 0, "libseccomp exports line %d", s->line);

    CHECK(prep(s, dirfd, &got, &ngot) == 1, "a cold cache: compiled (line %d)", s->line);
    CHECK(ngot == nwant && memcmp(got, want, nwant * sizeof *want) == 0, "compiled = libseccomp's export");
    CHECK(prep(s, dirfd, &got, &ngot) == 2, "a warm cache: from the cache (line %d)", s->line);
    CHECK(ngot == nwant && memcmp(got, want, nwant * sizeof *want) == 0,
          "the cached program is byte-identical to libseccomp's export (%zu vs %zu instructions)", ngot, nwant);
    char name[64];
    CHECK(entry_name(dirfd, name, sizeof name), "one entry written");
    struct stat st;
    CHECK(fstatat(dirfd, name, &st, 0) == 0 && (st.st_mode & 07777) == 0600 && st.st_uid == geteuid(),
          "the entry is 0600 and ours");
    /* the file ends with the program itself */
    size_t flen;
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *file = read_file(path, &flen);
    CHECK(file && flen > nwant * sizeof *want && memcmp(file + flen - nwant * sizeof *want, want, nwant * sizeof *want) == 0,
          "the file holds libseccomp's program verbatim");
    /* ... and the key material verbatim */
    size_t klen;
    char *key = seccomp_key(s, &klen);
    CHECK(file && key && memmem(file, flen, key, klen) != NULL, "the file holds the key material verbatim");
    CHECK(key && strstr(key, "\nsandbox-init " VERSION " build-id ") && strstr(key, "\nlibseccomp ") && !strstr(key, "build-id -\n") && strstr(key, "\napi "),
          "the key names sandbox-init's version and build ID, libseccomp's version and the API level: %s", key ? key : "");
    free(key);
    free(file);

    /* tampered entries are not used (a miss: compiled again and the entry rewritten, then a hit) */
    size_t keyoff = strlen("sandbox-seccomp-bpf 1\n") + 40; /* inside the key material */
    flip(dirfd, name, (long)keyoff);
    CHECK(prep(s, dirfd, &got, &ngot) == 1, "wrong key material: not used");
    CHECK(prep(s, dirfd, &got, &ngot) == 2, "rewritten after the miss");
    flip(dirfd, name, -3); /* inside the program: the checksum no longer matches */
    CHECK(prep(s, dirfd, &got, &ngot) == 1, "a changed program: not used");
    CHECK(ngot == nwant && memcmp(got, want, nwant * sizeof *want) == 0, "... compiled again instead");
    CHECK(fchmodat(dirfd, name, 0620, 0) == 0, "chmod g+w");
    CHECK(prep(s, dirfd, &got, &ngot) == 1, "a group-writable entry: not used");
    CHECK(fchmodat(dirfd, name, 0602, 0) == 0, "chmod o+w");
    CHECK(prep(s, dirfd, &got, &ngot) == 1, "an others-writable entry: not used");
    CHECK(prep(s, dirfd, &got, &ngot) == 2, "rewritten 0600");
    if (geteuid() == 0) {
        CHECK(fchownat(dirfd, name, 65534, 65534, AT_SYMLINK_NOFOLLOW) == 0, "chown nobody");
        CHECK(prep(s, dirfd, &got, &ngot) == 1, "an entry of another uid: not used");
        CHECK(prep(s, dirfd, &got, &ngot) == 2, "rewritten as ours");
    }
    /* a symbolic link to a good entry: not followed */
    char good[96];
    snprintf(good, sizeof good, "good-%s", name);
    CHECK(renameat(dirfd, name, dirfd, good) == 0 && symlinkat(good, dirfd, name) == 0, "symlink");
    CHECK(prep(s, dirfd, &got, &ngot) == 1, "a symbolic link: not followed");
    /* truncated */
    CHECK(truncate(path, 100) == 0, "truncate");
    CHECK(prep(s, dirfd, &got, &ngot) == 1, "a truncated entry: not used");
    /* bounded: 70 old entries + a miss → 64 left, the new one among them */
    for (int i = 0; i < 70; i++) {
        char old[64];
        snprintf(old, sizeof old, "%016x.bpf", i);
        int fd = openat(dirfd, old, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        struct timespec t[2] = { { .tv_sec = 1000 + i }, { .tv_sec = 1000 + i } };
        CHECK(fd >= 0 && futimens(fd, t) == 0, "an old entry");
        if (fd >= 0)
            close(fd);
    }
    CHECK(unlinkat(dirfd, name, 0) == 0 && prep(s, dirfd, &got, &ngot) == 1, "a miss");
    int left = 0;
    DIR *d = fdopendir(dup(dirfd));
    if (d)
        rewinddir(d);
    for (struct dirent *de; d && (de = readdir(d)) != NULL;)
        left += strstr(de->d_name, ".bpf") && de->d_name[0] != '.';
    if (d)
        closedir(d);
    CHECK(left == 64, "pruned to 64 entries, not %d", left);
    CHECK(prep(s, dirfd, &got, &ngot) == 2, "the newest entry kept");
    CHECK(faccessat(dirfd, "0000000000000000.bpf", F_OK, AT_SYMLINK_NOFOLLOW) < 0, "the oldest went");
    /* no dir: compiled, nothing stored */
    CHECK(prep(s, -1, &got, &ngot) == 1 && ngot == nwant && memcmp(got, want, nwant * sizeof *want) == 0,
          "without a cache dir: compiled");
    free(want);
    free(got);
    close(dirfd);
}

static void test_cache_dir(const char *root)
{
    char dir[PATH_MAX], bpf[PATH_MAX + 8];
    snprintf(dir, sizeof dir, "%s/home", root);
    snprintf(bpf, sizeof bpf, "%s/bpf", dir);
    setenv("SANDBOX_CACHE_DIR", dir, 1);
    unsetenv("SANDBOX_NO_CACHE");
    int fd = seccomp_cache_open();
    struct stat st;
    CHECK(fd >= 0 && fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0700, "created 0700: %s", bpf);
    if (fd >= 0)
        close(fd);
    setenv("SANDBOX_NO_CACHE", "1", 1);
    CHECK(seccomp_cache_open() < 0, "SANDBOX_NO_CACHE: no cache");
    unsetenv("SANDBOX_NO_CACHE");
    CHECK(chmod(bpf, 0770) == 0 && seccomp_cache_open() < 0, "a group-writable dir is not used");
    CHECK(chmod(bpf, 0707) == 0 && seccomp_cache_open() < 0, "an others-writable dir is not used");
    CHECK(chmod(bpf, 0700) == 0, "chmod");
    if (geteuid() == 0) {
        CHECK(chown(bpf, 65534, 65534) == 0 && seccomp_cache_open() < 0, "a dir of another uid is not used");
        CHECK(chown(bpf, 0, 0) == 0, "chown back");
    }
    char target[PATH_MAX + 8];
    snprintf(target, sizeof target, "%s/real", dir);
    CHECK(rename(bpf, target) == 0 && symlink(target, bpf) == 0 && seccomp_cache_open() < 0,
          "a symbolic link as the dir is not followed");
    unsetenv("SANDBOX_CACHE_DIR");
}

/* The whole path on the real kernel: H's seccomp_prepare fills the cache, a second one reads it,
 * op_seccomp in a child loads the prepared program, and it denies what the step denies. */
static void test_load(struct plan *plan, const char *root)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/load", root);
    setenv("SANDBOX_CACHE_DIR", dir, 1);
    g.steps = plan->steps;
    g.nsteps = plan->nsteps;
    const struct step *last = NULL;
    for (int i = 0; i < plan->nsteps; i++)
        if (plan->steps[i].op->fn == op_seccomp)
            last = &plan->steps[i];
    for (int round = 0; round < 2 && last; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            seccomp_prepare(); /* round 0: compiled and stored; round 1: from the cache */
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                _exit(3);
            for (int i = 0; i < plan->nsteps; i++)
                if (plan->steps[i].op->fn == op_seccomp) {
                    g.trace_note = NULL;
                    op_seccomp(&plan->steps[i]);
                    if (&plan->steps[i] == last && (g.trace_note != NULL) != (round == 1))
                        _exit(4); /* cached exactly on the warm round */
                }
            /* docker's profile: unshare and mount are not allowed (EPERM), getpid is */
            if (syscall(SYS_unshare, CLONE_NEWUTS) == 0 || errno != EPERM)
                _exit(5);
            if (mount("none", "/", NULL, MS_REMOUNT, NULL) == 0 || errno != EPERM)
                _exit(6);
            if (getpid() <= 0)
                _exit(7);
            _exit(0);
        }
        int status = -1;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "round %d: the prepared filters load and deny "
              "(exit %d: 3 nnp, 4 cached flag, 5 unshare allowed, 6 mount allowed, 7 getpid denied)", round,
              WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status));
    }
    unsetenv("SANDBOX_CACHE_DIR");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seccomp-test PLAN\n");
        return 2;
    }
    size_t len;
    char *text = read_file(argv[1], &len);
    struct plan plan;
    struct plan_error err;
    if (!text || plan_parse(text, len, &plan, &err) != 0) {
        fprintf(stderr, "seccomp-test: %s does not parse\n", argv[1]);
        return 2;
    }
    char root[] = "/tmp/seccomp-test.XXXXXX";
    if (!mkdtemp(root))
        return 2;
    int nsec = 0;
    for (int i = 0; i < plan.nsteps; i++)
        if (plan.steps[i].op->fn == op_seccomp) {
            test_step(&plan.steps[i], root);
            nsec++;
        }
    CHECK(nsec >= 2, "the plan has the TIOCSTI filter and a profile");
    test_cache_dir(root);
    test_load(&plan, root);
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "seccomp-test: could not remove %s\n", root);
    plan_free(&plan);
    free(text);
    printf("seccomp-test: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
