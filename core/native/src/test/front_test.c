/* front.c's encoding: the FNV-1a 64 hash, the token escape and the keyed variables. NativeIndexTest (Java) checks
 * the same vectors, so the two implementations agree byte for byte; NativeCacheIT checks the whole key live. */
#include "../runtime.h"
#include "../front.h"

static int failures;

/* front.c names errnos with errors.c's table; its error paths are not under test here */
const char *errno_name(int e)
{
    (void)e;
    return "E";
}

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "front_test: %s:%d: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                       \
        }                                                                     \
    } while (0)

static bool escaped(const char *in, size_t n, const char *want)
{
    struct buf b = {0};
    front_escape(&b, in, n);
    front_buf_add(&b, "", 0);
    bool ok = strcmp(b.p, want) == 0;
    if (!ok)
        fprintf(stderr, "front_test: escape gave '%s', want '%s'\n", b.p, want);
    free(b.p);
    return ok;
}

static int sh(const char *cmd)
{
    int r = system(cmd);
    return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static int stamp(const char *verb, const char *home)
{
    char *argv[] = {"sandbox-init", "source-stamp", (char *)verb, (char *)home, NULL, NULL};
    char st[PATH_MAX], cwd[PATH_MAX];
    snprintf(st, sizeof st, "%s/dist/target/.sources", home);
    argv[4] = st;
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    int r = source_stamp_main(5, argv);
    if (chdir(cwd) != 0)
        return -1;
    return r;
}

/* the source checkout's staleness stamp: fresh, then each kind of change is stale, no stamp is 2 */
static void source_stamp_cases(void)
{
    char home[] = "/tmp/front-test-XXXXXX", cmd[PATH_MAX * 2];
    if (!mkdtemp(home)) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(cmd, sizeof cmd, "cd %s && mkdir -p core/a core/target dist/target/sandbox bin && echo x > core/a/f.c && "
             "echo p > pom.xml && echo b > core/target/out && touch dist/target/sandbox/.built", home);
    CHECK(sh(cmd) == 0);
    CHECK(stamp("check", home) == 2); /* no stamp yet */
    CHECK(stamp("write", home) == 0);
    CHECK(stamp("check", home) == 0);
    snprintf(cmd, sizeof cmd, "echo y > %s/core/target/out2", home); /* target/ is the build's own */
    CHECK(sh(cmd) == 0);
    CHECK(stamp("check", home) == 0);
    snprintf(cmd, sizeof cmd, "echo y >> %s/core/a/f.c", home); /* an edit */
    CHECK(sh(cmd) == 0);
    CHECK(stamp("check", home) == 1);
    CHECK(stamp("write", home) == 0);
    snprintf(cmd, sizeof cmd, "touch %s/core/a/new.c", home); /* a new file */
    CHECK(sh(cmd) == 0);
    CHECK(stamp("check", home) == 1);
    CHECK(stamp("write", home) == 0);
    snprintf(cmd, sizeof cmd, "rm %s/core/a/new.c", home); /* a removed file */
    CHECK(sh(cmd) == 0);
    CHECK(stamp("check", home) == 1);
    CHECK(stamp("write", home) == 0);
    snprintf(cmd, sizeof cmd, "mkdir %s/plugins", home); /* a root that was absent */
    CHECK(sh(cmd) == 0);
    CHECK(stamp("check", home) == 1);
    CHECK(stamp("write", home) == 0);
    snprintf(cmd, sizeof cmd, "sleep 0.01; touch %s/dist/target/sandbox/.built", home); /* another build */
    CHECK(sh(cmd) == 0);
    CHECK(stamp("check", home) == 2);
    snprintf(cmd, sizeof cmd, "rm -rf %s", home);
    CHECK(sh(cmd) == 0);
}

int main(void)
{
    source_stamp_cases();
    /* the published FNV-1a 64 vectors, and the ones NativeIndexTest checks */
    CHECK(front_fnv1a64("", 0) == 0xcbf29ce484222325ULL);
    CHECK(front_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL);
    CHECK(front_fnv1a64("foobar", 6) == 0x85944171f73967e8ULL);
    CHECK(front_fnv1a64("sandbox-native-key 1\n", 21) == 0x0359be526bfaaae9ULL);

    CHECK(escaped("plain/path.yaml", 15, "plain/path.yaml"));
    CHECK(escaped("a b\tc\nd", 7, "a%20b%09c%0ad"));
    CHECK(escaped("100%", 4, "100%25"));
    CHECK(escaped("caf\xc3\xa9 \xff\x7f", 8, "caf%c3%a9%20%ff%7f"));
    CHECK(escaped("", 0, ""));

    CHECK(front_env_keyed("HOME", 4));
    CHECK(front_env_keyed("TERM", 4));
    CHECK(front_env_keyed("XDG_RUNTIME_DIR", 15));
    CHECK(front_env_keyed("XDG_CACHE_HOME", 14));
    CHECK(front_env_keyed("SANDBOX_CACHE_DIR", 17));
    CHECK(!front_env_keyed("SANDBOX_TRACE_CACHE", 19));
    CHECK(!front_env_keyed("SANDBOX_NO_JVM", 14));
    CHECK(!front_env_keyed("SANDBOX_FRONT", 13));
    CHECK(!front_env_keyed("SANDBOX_HANDOFF", 15));
    CHECK(!front_env_keyed("PATH", 4));
    CHECK(!front_env_keyed("HOMEX", 5));
    if (failures) {
        fprintf(stderr, "front_test: %d failures\n", failures);
        return 1;
    }
    printf("front_test: ok\n");
    return 0;
}
