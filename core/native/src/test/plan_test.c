/*
 * plan_test.c: unit tests of the plan parser (plan.c) and its value checks. No kernel, no root:
 * plan_parse() is pure. Built and run by Maven (core/native/pom.xml, phase test); exits 1 when a
 * check fails, naming it. Usage: plan-test [SEED_DIR] (every file there must parse: the fuzz seeds
 * are real plans written by the controller, so they also catch a drift between the two sides).
 */
#include "../runtime.h"

#include <dirent.h>

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

/* A parsed plan and the text its steps point into. */
struct parsed {
    char *text;
    struct plan plan;
    struct plan_error err;
    int rc;
};

static struct parsed parse_n(const char *text, size_t len)
{
    struct parsed p = { .text = malloc(len + 1) };
    if (!p.text)
        abort();
    memcpy(p.text, text, len);
    p.text[len] = '\0';
    p.rc = plan_parse(p.text, len, &p.plan, &p.err);
    return p;
}

static struct parsed parse(const char *text) { return parse_n(text, strlen(text)); }

static void done(struct parsed *p)
{
    if (p->rc == 0)
        plan_free(&p->plan);
    free(p->text);
}

#define MIN_CLONE "clone\tclone\tflags=\n"
#define MIN_EXEC "finish\texec\targ=/bin/true\n"
#define MINIMAL MIN_CLONE MIN_EXEC

/* The plan must parse. */
#define OK(text)                                                                                    \
    do {                                                                                            \
        struct parsed p_ = parse(text);                                                             \
        CHECK(p_.rc == 0, "expected the plan to parse, got line %d: %s", p_.err.line, p_.err.msg); \
        done(&p_);                                                                                  \
    } while (0)

/* The plan must be refused at `line` with a message containing `part`. */
static void bad_at(int src_line, const char *text, size_t len, int line, const char *part)
{
    struct parsed p = parse_n(text, len);
    checks++;
    if (p.rc != -1 || p.err.line != line || !strstr(p.err.msg, part)) {
        failures++;
        fprintf(stderr, "%s:%d: expected an error at line %d containing '%s', got rc=%d line %d: '%s'\n", __FILE__,
                src_line, line, part, p.rc, p.err.line, p.err.msg);
    }
    CHECK(p.rc == 0 || (p.plan.steps == NULL && p.plan.nsteps == 0), "nothing stays allocated after an error");
    done(&p);
}
#define BAD(text, line, part) bad_at(__LINE__, text, strlen(text), line, part)

static void test_minimal_plan(void)
{
    struct parsed p = parse("# sandbox plan for x\n" MINIMAL);
    CHECK(p.rc == 0, "%s", p.err.msg);
    if (p.rc == 0) {
        CHECK(p.plan.nsteps == 2, "%d steps", p.plan.nsteps);
        CHECK(p.plan.steps[0].stage == ST_CLONE && strcmp(p.plan.steps[0].op->name, "clone") == 0, "first step");
        CHECK(p.plan.steps[0].line == 2, "the comment counts as line 1: %d", p.plan.steps[0].line);
        CHECK(p.plan.steps[1].line == 3 && p.plan.steps[1].op->fn == op_exec, "exec on line 3");
        CHECK(strcmp(get(&p.plan.steps[0], "flags"), "") == 0, "an empty value is a value");
        CHECK(strcmp(get(&p.plan.steps[1], "arg"), "/bin/true") == 0, "arg");
        CHECK(get(&p.plan.steps[1], "env") == NULL, "absent key");
        CHECK(p.plan.newroot == NULL && !p.plan.init, "no pivot-root, no init");
    }
    done(&p);
    OK(MINIMAL);                          /* no trailing newline needed either */
    OK(MIN_CLONE "finish\texec\targ=/bin/true");
    OK("\n\n# comment\n" MINIMAL "\n\n"); /* empty lines and comments anywhere */
}

static void test_escapes(void)
{
    struct parsed p = parse(MIN_CLONE "finish\texec\targ=a%25b%09c%0Ad%0ae\targ=%2525\targ=100%25\tenv=K=V=W\n");
    CHECK(p.rc == 0, "%s", p.err.msg);
    if (p.rc == 0) {
        const struct step *s = &p.plan.steps[1];
        CHECK(s->nkv == 4, "%d fields", s->nkv);
        CHECK(strcmp(s->kv[0].val, "a%b\tc\nd\ne") == 0, "decoded: '%s'", s->kv[0].val);
        CHECK(strcmp(s->kv[1].val, "%25") == 0, "decoded once: '%s'", s->kv[1].val);
        CHECK(strcmp(s->kv[2].val, "100%") == 0, "'%s'", s->kv[2].val);
        CHECK(strcmp(s->kv[3].key, "env") == 0 && strcmp(s->kv[3].val, "K=V=W") == 0, "the value is after the first =");
    }
    done(&p);
    /* bytes that are not valid UTF-8 (an argument from the command line): %80..%FF, either case */
    p = parse(MIN_CLONE "finish\texec\targ=%FF%fe-raw\targ=%C3%a9\targ=\xc3\xa9\n");
    CHECK(p.rc == 0, "%s", p.err.msg);
    if (p.rc == 0) {
        const struct step *s = &p.plan.steps[1];
        CHECK(memcmp(s->kv[0].val, "\xff\xfe-raw", 7) == 0 && strlen(s->kv[0].val) == 6, "raw bytes: '%s'", s->kv[0].val);
        CHECK(strcmp(s->kv[1].val, "\xc3\xa9") == 0, "escaped bytes decode even when they form UTF-8");
        CHECK(strcmp(s->kv[2].val, "\xc3\xa9") == 0, "UTF-8 text passes unchanged");
    }
    done(&p);
    BAD(MIN_CLONE "finish\texec\targ=%41\n", 2, "bad % escape in arg=");  /* ASCII has one spelling: itself */
    BAD(MIN_CLONE "finish\texec\targ=%7F\n", 2, "bad % escape");
    BAD(MIN_CLONE "finish\texec\targ=%00\n", 2, "bad % escape");         /* NUL can't be in argv */
    BAD(MIN_CLONE "finish\texec\targ=%G0\n", 2, "bad % escape");
    BAD(MIN_CLONE "finish\texec\targ=%F\n", 2, "bad % escape");
    BAD(MIN_CLONE "finish\texec\targ=%-1\n", 2, "bad % escape");
    BAD(MIN_CLONE "finish\texec\targ=%2\n", 2, "bad % escape");
    BAD(MIN_CLONE "finish\texec\targ=x%\n", 2, "bad % escape");
    BAD(MIN_CLONE "finish\texec\targ=%0\n", 2, "bad % escape");
    BAD(MIN_CLONE "finish\texec\targ=%0B\n", 2, "bad % escape");
    BAD(MIN_CLONE "finish\texec\targ=%%25\n", 2, "bad % escape");
}

static void test_utf8_len(void)
{
    CHECK(utf8_len("a") == 1 && utf8_len("\xc3\xa9") == 2 && utf8_len("\xe2\x82\xac") == 3, "1, 2, 3 bytes");
    CHECK(utf8_len("\xf0\x9f\x98\x80") == 4 && utf8_len("\xf4\x8f\xbf\xbf") == 4, "4 bytes, U+10FFFF");
    static const char *bad[] = { "\xff", "\xfe", "\x80", "\xc3", "\xc3(", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf",
                                 "\xed\xa0\x80" /* a surrogate */, "\xf0\x80\x80\xaf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                                 "\xe2\x82" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(utf8_len(bad[i]) == 0, "bad[%zu] is not UTF-8", i);
}

static void test_lines(void)
{
    BAD("clone\n" MIN_EXEC, 1, "expected <stage> TAB <op>");
    BAD(MIN_CLONE "finish\texec\targ\n", 2, "field 'arg' is not key=value");
    BAD(MIN_CLONE "finish\texec\t=x\n", 2, "is not key=value");
    BAD(MIN_CLONE "finish\texec\targ=x\t\n", 2, "field '' is not key=value"); /* a trailing TAB */
    BAD(MIN_CLONE "finish\texec\t\targ=x\n", 2, "is not key=value");
    BAD(" clone\tclone\tflags=\n" MIN_EXEC, 1, "unknown stage ' clone'");
    BAD("clone\tclone\r\tflags=\n" MIN_EXEC, 1, "unknown op 'clone\r'"); /* no CRLF: a \r is part of a field */
}

static void test_header_and_summaries(void)
{
    struct parsed p = parse(PLAN_HEADER "\n# make the child\nclone\tclone\tflags=\n\n# not for exec\n\n"
                            "# run %25 it\nfinish\texec\targ=/bin/true\n");
    CHECK(p.rc == 0 && p.plan.versioned, "the header is seen: %s", p.err.msg);
    CHECK(p.rc == 0 && p.plan.steps[0].summary && strcmp(p.plan.steps[0].summary, "make the child") == 0, "clone's summary");
    CHECK(p.rc == 0 && p.plan.steps[1].summary && strcmp(p.plan.steps[1].summary, "run % it") == 0, "exec's summary, decoded");
    done(&p);
    p = parse("# sandbox-plan 2\n" MINIMAL);
    CHECK(p.rc == 0 && !p.plan.versioned, "another version is not version 1");
    done(&p);
    p = parse("\n" PLAN_HEADER "\n" MINIMAL);
    CHECK(p.rc == 0 && !p.plan.versioned, "the header only counts on line 1");
    done(&p);
    p = parse("# a comment\n\n" MINIMAL);
    CHECK(p.rc == 0 && !p.plan.steps[0].summary, "an empty line ends a summary");
    done(&p);
}

static void test_unknown_stage_and_op(void)
{
    BAD("setup\tclone\tflags=\n" MIN_EXEC, 1,
        "unknown stage 'setup' (expected prepare, enter, identity, clone, connect, mounts, finish or supervise)");
    /* host stages are the monitor's: they are in the file too (the helper skips them) */
    OK("prepare\tcheck-path\tpath=/\n" MINIMAL);
    BAD("identity\tuid-map\n" MINIMAL, 1, "unknown op 'uid-map' in stage identity");
    BAD("supervise\tcheck-path\tpath=/\n" MINIMAL, 1, "unknown op 'check-path' in stage supervise");
    BAD("Clone\tclone\tflags=\n" MIN_EXEC, 1, "unknown stage 'Clone'");
    BAD("clone\tclone-it\tflags=\n" MIN_EXEC, 1, "unknown op 'clone-it' in stage clone");
    /* an op exists only in its own stage */
    BAD("clone\tjoin\ttype=net\tpath=/x\n" MINIMAL, 1, "unknown op 'join' in stage clone");
    BAD("enter\tmount\ttarget=/\n" MINIMAL, 1, "unknown op 'mount' in stage enter");
    BAD(MIN_CLONE "finish\t\n" MIN_EXEC, 2, "unknown op '' in stage finish");
}

static void test_keys(void)
{
    BAD("clone\tclone\n" MIN_EXEC, 1, "clone: key 'flags' must appear once (found 0)");
    BAD("clone\tclone\tflags=\tflags=CLONE_NEWNS\n" MIN_EXEC, 1, "key 'flags' must appear once (found 2)");
    BAD("clone\tclone\tflags=\tflag=x\n" MIN_EXEC, 1, "clone: unknown key 'flag'");
    BAD("clone\tclone\tflags=\tFLAGS=x\n" MIN_EXEC, 1, "unknown key 'FLAGS'");
    BAD("clone\ttimens-offset\tclock=monotonic\tseconds=1\tnanoseconds=1\tnanoseconds=2\n" MINIMAL, 1,
        "key 'nanoseconds' must appear at most once (found 2)");
    OK("clone\ttimens-offset\tclock=monotonic\tseconds=1\n" MINIMAL); /* '?' may be absent */
    OK("clone\ttimeout\tms=600000\n" MINIMAL);
    BAD("clone\ttimeout\n" MINIMAL, 1, "timeout: key 'ms' must appear once (found 0)");
    BAD("finish\ttimeout\tms=1\n" MINIMAL, 1, "unknown op 'timeout' in stage finish");
    BAD(MIN_CLONE "finish\texec\n", 2, "exec: key 'arg' must appear at least once (found 0)");
    BAD(MIN_CLONE "finish\texec\tenv=A=1\n", 2, "key 'arg' must appear at least once");
    OK(MIN_CLONE "finish\texec\targ=a\targ=b\tenv=A=1\tenv=B=2\n"); /* '+' and '*' repeat */
    OK(MIN_CLONE "finish\tseccomp\tdefault=allow\n" MIN_EXEC);      /* '*' may be absent */
    OK(MIN_CLONE "finish\tseccomp\tdefault=allow\tarch=x86_64\tarch=x86\trule=a\trule=b\n" MIN_EXEC);
    BAD(MIN_CLONE "finish\tno-new-privs\tx=1\n" MIN_EXEC, 2, "no-new-privs: unknown key 'x'"); /* an op without keys */
    /* setrlimit: resource, soft and hard, once each (values are checked when the step runs) */
    OK(MIN_CLONE "finish\tsetrlimit\tresource=NOFILE\tsoft=1024\thard=1024\n" MIN_EXEC);
    OK(MIN_CLONE "finish\tsetrlimit\tresource=CORE\tsoft=0\thard=unlimited\n" MIN_EXEC);
    BAD(MIN_CLONE "finish\tsetrlimit\tresource=NOFILE\tsoft=1\n" MIN_EXEC, 2, "setrlimit: key 'hard' must appear once (found 0)");
    BAD(MIN_CLONE "finish\tsetrlimit\tresource=NOFILE\tsoft=1\thard=1\thard=2\n" MIN_EXEC, 2, "key 'hard' must appear once (found 2)");
    BAD(MIN_CLONE "finish\tsetrlimit\tresource=NOFILE\tlimit=1\tsoft=1\thard=1\n" MIN_EXEC, 2, "setrlimit: unknown key 'limit'");
    BAD("mounts\tsetrlimit\tresource=NOFILE\tsoft=1\thard=1\n" MINIMAL, 1, "unknown op 'setrlimit' in stage mounts");
    /* every op's required keys, from the table itself: a step with none of them is refused */
    for (size_t i = 0; i < nops; i++) {
        char line[256];
        const char *keys = ops[i].keys;
        size_t k = strspn(keys, " ");
        if (!keys[k] || strchr("?*", keys[k]))
            continue;
        snprintf(line, sizeof line, "%s\t%s\n", stage_names[ops[i].stage], ops[i].name);
        struct parsed p = parse(line);
        CHECK(p.rc == -1 && p.err.line == 1 && strstr(p.err.msg, "must appear"), "%s without keys: '%s'", ops[i].name,
              p.err.msg);
        done(&p);
    }
}

static void test_structure(void)
{
    BAD(MIN_EXEC MIN_CLONE, 2, "stage clone after stage finish: stages go prepare, enter, identity, clone, connect, mounts, "
                               "finish, supervise");
    /* supervise steps may follow exec, nothing else */
    OK(MINIMAL "supervise\tcgroup-remove\tpath=/sys/fs/cgroup/x\n");
    BAD(MIN_CLONE "finish\texec\targ=/bin/true\nfinish\tchdir\tpath=/\n", 3, "exec must be the last step");
    BAD(MINIMAL "supervise\tcgroup-remove\tpath=/x\nidentity\tcgroup-place\tpath=/x\n", 4, "stage identity after stage supervise");
    BAD(MIN_CLONE "mounts\tmkdir\tpath=/a\nclone\tunshare\ttype=time\n" MIN_EXEC, 3, "stage clone after stage mounts");
    BAD(MIN_CLONE "enter\tunshare-user\n" MIN_EXEC, 2, "stage enter after stage clone");
    OK("enter\tjoin\ttype=net\tpath=/proc/1/ns/net\nenter\tunshare-user\n" MIN_CLONE
       "mounts\tmkdir\tpath=/a\n" MIN_EXEC);
    /* clone: exactly one, the last step of its stage */
    BAD(MIN_EXEC, 0, "the plan has no clone step");
    BAD("clone\tunshare\ttype=time\n" MIN_EXEC, 0, "the plan has no clone step");
    BAD(MIN_CLONE MIN_CLONE MIN_EXEC, 2, "clone after clone: clone must be the last step of stage clone");
    BAD(MIN_CLONE "clone\tunshare\ttype=time\n" MIN_EXEC, 2, "unshare after clone");
    /* exec: exactly one, the last step of all */
    BAD(MIN_CLONE, 0, "the plan has no exec step");
    BAD(MIN_CLONE "finish\tchdir\tpath=/\n", 0, "the plan has no exec step");
    BAD(MINIMAL MIN_EXEC, 3, "exec after exec: exec must be the last step");
    BAD(MINIMAL "finish\tchdir\tpath=/\n", 3, "chdir after exec");
    BAD("", 0, "no clone step");
    BAD("# only a comment\n", 0, "no clone step");
    /* init: at most one */
    OK(MIN_CLONE "finish\tinit\n" MIN_EXEC);
    BAD(MIN_CLONE "finish\tinit\nfinish\tinit\n" MIN_EXEC, 3, "a second init step");
    /* what the structure pass records */
    struct parsed p = parse(MIN_CLONE "mounts\tpivot-root\tpath=/run/x/root\nfinish\tinit\n" MIN_EXEC);
    CHECK(p.rc == 0 && p.plan.newroot && strcmp(p.plan.newroot, "/run/x/root") == 0, "newroot");
    CHECK(p.rc == 0 && p.plan.init, "init");
    done(&p);
}

static void test_nul_and_size(void)
{
    static const char with_nul[] = MIN_CLONE "finish\texec\targ=a\0b\n";
    bad_at(__LINE__, with_nul, sizeof with_nul - 1, 0, "the plan file contains a NUL byte");
    static const char leading_nul[] = "\0" MINIMAL;
    bad_at(__LINE__, leading_nul, sizeof leading_nul - 1, 0, "NUL byte");
    /* the size limit: a comment up to PLAN_MAX_SIZE passes, one byte more is refused */
    size_t big = PLAN_MAX_SIZE;
    char *text = malloc(big + 2);
    if (!text)
        abort();
    memset(text, 'x', big + 1);
    text[0] = '#';
    size_t head = strlen(MINIMAL);
    memcpy(text, MINIMAL, head);
    text[head] = '#';
    text[big] = '\0';
    struct plan plan;
    struct plan_error err;
    char *copy = strdup(text);
    CHECK(copy && plan_parse(copy, big, &plan, &err) == 0, "exactly 16 MiB parses: %s", err.msg);
    plan_free(&plan);
    free(copy);
    text[big] = 'x';
    text[big + 1] = '\0';
    CHECK(plan_parse(text, big + 1, &plan, &err) == -1 && strstr(err.msg, "larger than 16 MiB") && err.line == 0,
          "16 MiB + 1 is refused: '%s'", err.msg);
    free(text);
}

static void test_numbers(void)
{
    long long n = 7;
    CHECK(parse_number("0", 10, 0, 10, &n) && n == 0, "0");
    CHECK(parse_number("42", 10, 0, 100, &n) && n == 42, "42");
    CHECK(parse_number("-3", 10, -5, 5, &n) && n == -3, "-3");
    CHECK(parse_number("0755", 8, 0, 07777, &n) && n == 0755, "octal");
    CHECK(parse_number("10", 10, 10, 10, &n) && n == 10, "min == max");
    n = 7;
    const char *refused[] = { "", "-", " 1", "1 ", "+1", "1x", "0x10", "--1", "- 1", "1.5", "1e3", "\t1",
                              "99999999999999999999", "-99999999999999999999", NULL };
    for (int i = 0; refused[i]; i++)
        CHECK(!parse_number(refused[i], 10, LLONG_MIN, LLONG_MAX, &n), "'%s' is not a number", refused[i]);
    CHECK(!parse_number("8", 8, 0, 07777, &n), "8 is not octal");
    CHECK(!parse_number("11", 10, 0, 10, &n), "above max");
    CHECK(!parse_number("-1", 10, 0, 10, &n), "below min");
    CHECK(!parse_number("-6", 10, -5, 5, &n), "below a negative min");
    CHECK(n == 7, "a refused number leaves *out alone");
    CHECK(parse_number("9223372036854775807", 10, LLONG_MIN, LLONG_MAX, &n) && n == LLONG_MAX, "LLONG_MAX");
    CHECK(!parse_number("9223372036854775808", 10, LLONG_MIN, LLONG_MAX, &n), "LLONG_MAX + 1 (ERANGE)");
}

static void test_number_lists(void)
{
    unsigned long out[32];
    size_t n = 99;
    CHECK(parse_number_list("", 10, out, &n) && n == 0, "the empty list");
    CHECK(parse_number_list("7", 10, out, &n) && n == 1 && out[0] == 7, "one");
    CHECK(parse_number_list("0,1,10", 10, out, &n) && n == 3 && out[0] == 0 && out[1] == 1 && out[2] == 10, "three");
    CHECK(parse_number_list("4294967294", 4294967294UL, out, &n) && n == 1, "the largest gid");
    const char *refused[] = { ",", "1,", ",1", "1,,2", " 1", "1 ", "1, 2", "+1", "-1", "1;2", "a", "11", "1,11",
                              "99999999999999999999999", NULL };
    for (int i = 0; refused[i]; i++)
        CHECK(!parse_number_list(refused[i], 10, out, &n), "'%s' is not a list of numbers <= 10", refused[i]);
    /* the capacity a caller allocates is enough for the longest list a string can hold */
    CHECK(number_list_capacity("") >= 1 && number_list_capacity("1,2,3") >= 3 && number_list_capacity("1,2,3,4") >= 4,
          "capacity");
}

static void test_names(void)
{
    static const struct name_val t[] = { { "a", 1 }, { "bb", 2 }, { NULL, 0 } };
    CHECK(lookup(t, "bb", 2) && lookup(t, "bb", 2)->val == 2, "bb");
    CHECK(lookup(t, "bbx", 2) && lookup(t, "bbx", 2)->val == 2, "a prefix of the given length");
    CHECK(!lookup(t, "b", 1), "no partial match");
    CHECK(!lookup(t, "", 0), "empty");
    /* the op table itself: names unique per stage, keys well formed */
    for (size_t i = 0; i < nops; i++) {
        for (size_t j = i + 1; j < nops; j++)
            CHECK(ops[i].stage != ops[j].stage || strcmp(ops[i].name, ops[j].name) != 0, "%s twice", ops[i].name);
        /* the monitor's ops have no function in the table (monitor.c dispatches them), every other one has */
        bool host = ops[i].stage == ST_PREPARE || ops[i].stage == ST_IDENTITY || ops[i].stage == ST_CONNECT ||
                    ops[i].stage == ST_SUPERVISE;
        CHECK((ops[i].fn == NULL) == host && (ops[i].executor == EX_MONITOR) == host, "%s: executor and stage", ops[i].name);
        CHECK(ops[i].executor == (host ? EX_MONITOR : ops[i].stage == ST_ENTER || ops[i].stage == ST_CLONE ? EX_HELPER : EX_CHILD),
              "%s: executor %s in stage %s", ops[i].name, executor_names[ops[i].executor], stage_names[ops[i].stage]);
        for (const char *k = ops[i].keys; *k; k++)
            CHECK(isalnum((unsigned char)*k) || strchr(" ?*+-", *k), "%s: key list '%s'", ops[i].name, ops[i].keys);
    }
}

/* Every file in `dir` is a plan the controller wrote: it must parse. */
static void test_seeds(const char *dir)
{
    DIR *d = opendir(dir);
    CHECK(d != NULL, "open %s: %s", dir, strerror(errno));
    if (!d)
        return;
    int files = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        char *buf = NULL;
        size_t cap = 0;
        ssize_t len = getdelim(&buf, &cap, '\0', f);
        fclose(f);
        struct parsed p = parse_n(buf ? buf : "", len > 0 ? (size_t)len : 0);
        CHECK(p.rc == 0, "seed %s: line %d: %s", e->d_name, p.err.line, p.err.msg);
        done(&p);
        free(buf);
        files++;
    }
    closedir(d);
    CHECK(files >= 3, "only %d seed plans in %s", files, dir);
}

int main(int argc, char **argv)
{
    test_minimal_plan();
    test_escapes();
    test_utf8_len();
    test_lines();
    test_unknown_stage_and_op();
    test_header_and_summaries();
    test_keys();
    test_structure();
    test_nul_and_size();
    test_numbers();
    test_number_lists();
    test_names();
    if (argc > 1)
        test_seeds(argv[1]);
    printf("plan-test: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
