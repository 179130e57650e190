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

static bool sha(const char *in, size_t n, const char *want)
{
    char hex[65] = "";
    CHECK(front_sha256(in, n, hex));
    if (strcmp(hex, want) != 0)
        fprintf(stderr, "front_test: sha256 gave %s, want %s\n", hex, want);
    return strcmp(hex, want) == 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs(text, f);
        CHECK(fclose(f) == 0);
    }
}

/* SHA-256: the FIPS 180-4 examples, every padding boundary against sha256sum, and a racy entry's `digest` check */
static void digest_cases(void)
{
    CHECK(sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    CHECK(sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    CHECK(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    char dir[] = "/tmp/front-digest-XXXXXX", path[PATH_MAX], cmd[PATH_MAX * 2], hex[65];
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/f", dir);
    /* lengths around the 55/56/64 byte padding boundaries and more than one block */
    static const size_t lengths[] = {1, 55, 56, 63, 64, 65, 119, 120, 128, 1000};
    char data[1001];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
        data[lengths[i]] = '\0';
        write_file(path, data);
        data[lengths[i]] = (char)('a' + lengths[i] % 26);
        snprintf(cmd, sizeof cmd, "sha256sum %s | cut -c1-64 > %s/sum", path, dir);
        CHECK(sh(cmd) == 0);
        char sp[PATH_MAX + 8], want[80] = {0};
        snprintf(sp, sizeof sp, "%s/sum", dir);
        FILE *f = fopen(sp, "r");
        CHECK(f && fgets(want, sizeof want, f));
        if (f)
            fclose(f);
        want[64] = '\0';
        CHECK(front_sha256(data, lengths[i], hex));
        if (strcmp(hex, want) != 0)
            fprintf(stderr, "front_test: sha256 of %zu bytes: %s, sha256sum: %s\n", lengths[i], hex, want);
        CHECK(strcmp(hex, want) == 0);
    }

    /* the `digest SIZE HEX PATH` line of a racily clean input */
    write_file(path, "name: a\n");
    CHECK(front_sha256("name: a\n", 8, hex));
    CHECK(front_digest_matches(path, "8", hex));
    CHECK(!front_digest_matches(path, "9", hex));           /* another size recorded */
    write_file(path, "name: b\n");                         /* the same size, in the same tick: the content decides */
    CHECK(!front_digest_matches(path, "8", hex));
    write_file(path, "name: a\n");
    CHECK(front_digest_matches(path, "8", hex));            /* the content it was compiled from again */
    write_file(path, "name: a\nx");                        /* grown */
    CHECK(!front_digest_matches(path, "8", hex));
    CHECK(!front_digest_matches(dir, "8", hex));            /* not a regular file */
    snprintf(cmd, sizeof cmd, "%s/fifo", dir);
    CHECK(mkfifo(cmd, 0600) == 0);
    CHECK(!front_digest_matches(cmd, "8", hex));            /* a FIFO neither blocks nor matches */
    snprintf(cmd, sizeof cmd, "%s/absent", dir);
    CHECK(!front_digest_matches(cmd, "8", hex));
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(sh(cmd) == 0);
}

int main(void)
{
    digest_cases();
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
    CHECK(!front_env_keyed("SANDBOX_FRONT_REQUIRE", 21));
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
