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

int main(void)
{
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
