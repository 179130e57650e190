/*
 * plan.c: the plan. The op table (op, stage, keys, executor), the parser of the plan file and its
 * checks, the value helpers the executors use, load_plan() and run_stage(). Also the process state g.
 * The parser never exits: it returns an error (a line and a message), which load_plan() reports as
 * ERROR 125 naming the plan line; the unit tests (src/test/plan_test.c) and the fuzz target
 * (src/test/plan_fuzz.c) call it directly.
 */
#include "runtime.h"

struct runtime g = { .ctl = -1, .sync_rd = -1, .sync_wr = -1, .grace_ms = 10000, .tfd = -1, .timeout_fd = -1, .procfd = -1 };

const char *const stage_names[ST_COUNT] = { "prepare", "enter", "identity", "clone", "connect", "mounts", "finish", "supervise" };
const char *const executor_names[3] = { "monitor", "helper", "child" };

/* ------------------------------------------------------------------------------------------ */
/* The table of ops                                                                           */

const struct op ops[] = {
    /* the monitor's host steps (monitor.c, host.c, netlink.c, journal.c) */
    { ST_PREPARE, "runtime-dir", "path name ?spec ?spec-sha256 ?git-repo ?git-path ?git-blob ?git-commit ?lab", NULL, EX_MONITOR },
    { ST_PREPARE, "check-path", "path ?kind", NULL, EX_MONITOR },
    { ST_PREPARE, "check-shared-mount", "path", NULL, EX_MONITOR },
    { ST_PREPARE, "cgroup-create", "path", NULL, EX_MONITOR },
    { ST_PREPARE, "cgroup-set", "path file value", NULL, EX_MONITOR },
    { ST_IDENTITY, "write-setgroups", "?value", NULL, EX_MONITOR },
    { ST_IDENTITY, "write-id-map", "kind map ?via", NULL, EX_MONITOR },
    { ST_IDENTITY, "cgroup-place", "path", NULL, EX_MONITOR },
    { ST_CONNECT, "veth", "name hostName *address *hostAddress ?gateway ?mtu ?mac", NULL, EX_MONITOR },
    { ST_CONNECT, "user-net", "tool ifname address gateway host-loopback *port", NULL, EX_MONITOR },
    { ST_CONNECT, "sysctl", "name value", NULL, EX_MONITOR },
    { ST_SUPERVISE, "cgroup-remove", "path", NULL, EX_MONITOR },
    /* the helper's and the child's */
    { ST_ENTER, "join", "type path", op_join, EX_HELPER },
    { ST_ENTER, "unshare-user", "", op_unshare_user, EX_HELPER },
    { ST_CLONE, "unshare", "type", op_unshare, EX_HELPER },
    { ST_CLONE, "timens-offset", "clock seconds ?nanoseconds", op_timens_offset, EX_HELPER },
    { ST_CLONE, "timeout", "ms", op_timeout, EX_HELPER },
    { ST_CLONE, "clone", "flags", op_clone, EX_HELPER },
    { ST_MOUNTS, "propagation", "target mode", op_propagation, EX_CHILD },
    { ST_MOUNTS, "clone-tree", "id source ?recursive", op_clone_tree, EX_CHILD },
    { ST_MOUNTS, "attach-tree", "id target ?create", op_attach_tree, EX_CHILD },
    { ST_MOUNTS, "mkdir", "path ?mode", op_mkdir, EX_CHILD },
    { ST_MOUNTS, "mount", "target ?source ?fstype ?flags ?data ?create", op_mount, EX_CHILD },
    { ST_MOUNTS, "setattr", "target attr ?recursive", op_setattr, EX_CHILD },
    { ST_MOUNTS, "symlink", "target path", op_symlink, EX_CHILD },
    { ST_MOUNTS, "write-file", "path ?mode ?content", op_write_file, EX_CHILD },
    { ST_MOUNTS, "pivot-root", "path", op_pivot_root, EX_CHILD },
    { ST_MOUNTS, "mask", "path", op_mask, EX_CHILD },
    { ST_MOUNTS, "readonly-path", "path", op_readonly_path, EX_CHILD },
    { ST_FINISH, "sethostname", "name", op_sethostname, EX_CHILD },
    { ST_FINISH, "setdomainname", "name", op_sethostname, EX_CHILD },
    { ST_FINISH, "link-up", "name", op_link_up, EX_CHILD },
    { ST_FINISH, "chdir", "path", op_chdir, EX_CHILD },
    { ST_FINISH, "setrlimit", "resource soft hard", op_setrlimit, EX_CHILD },
    { ST_FINISH, "setgroups", "groups", op_setgroups, EX_CHILD },
    { ST_FINISH, "setresgid", "gid", op_setresgid, EX_CHILD },
    { ST_FINISH, "setresuid", "uid", op_setresuid, EX_CHILD },
    { ST_FINISH, "capabilities", "keep", op_capabilities, EX_CHILD },
    { ST_FINISH, "no-new-privs", "", op_no_new_privs, EX_CHILD },
    { ST_FINISH, "close-fds", "", op_close_fds, EX_CHILD },
    { ST_FINISH, "seccomp", "default *arch *rule", op_seccomp, EX_CHILD },
    { ST_FINISH, "new-session", "", op_new_session, EX_CHILD },
    { ST_FINISH, "pty", "", op_pty, EX_CHILD },
    { ST_FINISH, "init", "", op_init, EX_CHILD },
    { ST_FINISH, "exec", "+arg *env", op_exec, EX_CHILD },
};
const size_t nops = sizeof ops / sizeof ops[0];

/* ------------------------------------------------------------------------------------------ */
/* Values                                                                                     */

const char *get(const struct step *s, const char *key)
{
    for (int i = 0; i < s->nkv; i++)
        if (strcmp(s->kv[i].key, key) == 0)
            return s->kv[i].val;
    return NULL;
}

const char *nonempty(const char *v) { return v && *v ? v : NULL; }

const struct name_val *lookup(const struct name_val *t, const char *name, size_t len)
{
    for (; t->name; t++)
        if (strlen(t->name) == len && strncmp(t->name, name, len) == 0)
            return t;
    return NULL;
}

/* One name (key=name); a missing optional key gives `def`. */
unsigned long one_name(const struct step *s, const char *key, const struct name_val *t, unsigned long def)
{
    const char *v = get(s, key);
    if (!v)
        return def;
    const struct name_val *nv = lookup(t, v, strlen(v));
    if (!nv)
        bad_value("%s=%s is not a known value", key, v);
    return nv->val;
}

/* `|`-separated names, may be empty. */
unsigned long names(const struct step *s, const char *key, const struct name_val *t)
{
    const char *v = get(s, key);
    unsigned long out = 0;
    while (v && *v) {
        size_t len = strcspn(v, "|");
        const struct name_val *nv = lookup(t, v, len);
        if (!nv)
            bad_value("unknown name '%.*s' in %s=", (int)len, v, key);
        out |= nv->val;
        v += len + (v[len] == '|');
    }
    return out;
}

bool parse_number(const char *v, int base, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, base);
    /* strtoll would also take leading spaces and a '+': the plan has one spelling per number */
    bool digits = isdigit((unsigned char)v[0]) || (v[0] == '-' && isdigit((unsigned char)v[1]));
    if (!digits || *end || errno || n < min || n > max)
        return false;
    *out = n;
    return true;
}

long long number(const struct step *s, const char *key, int base, long long min, long long max, long long def)
{
    const char *v = get(s, key);
    long long n;
    if (!v)
        return def;
    if (!parse_number(v, base, min, max, &n))
        bad_value("%s=%s is not a number in [%lld, %lld]", key, v, min, max);
    return n;
}

size_t number_list_capacity(const char *v) { return strlen(v) / 2 + 1; }

bool parse_number_list(const char *v, unsigned long max, unsigned long *out, size_t *count)
{
    size_t n = 0;
    while (*v) {
        char *end;
        errno = 0;
        out[n++] = strtoul(v, &end, 10);
        if (end == v || (*end && *end != ',') || errno || out[n - 1] > max || !isdigit((unsigned char)*v))
            return false;
        v = *end ? end + 1 : end;
        if (*end && !*v) /* a trailing comma */
            return false;
    }
    *count = n;
    return true;
}

/* A comma list of numbers <= max (may be empty); returns the count, the numbers in *out (malloc'd). */
size_t number_list(const struct step *s, const char *key, unsigned long max, unsigned long **out)
{
    const char *v = get(s, key);
    size_t n = 0;
    *out = calloc(number_list_capacity(v), sizeof **out);
    if (!*out)
        die(125, "calloc", NULL, NULL, ENOMEM, NULL);
    if (!parse_number_list(v, max, *out, &n))
        bad_value("%s=%s is not a comma list of numbers <= %lu", key, v, max);
    return n;
}

/* ------------------------------------------------------------------------------------------ */
/* Parsing                                                                                    */

static int fail(struct plan_error *err, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct plan_error *err, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    err->line = line;
    return -1;
}

/* ------------------------------------------------------------------------------------------ */
/* Plan parsing                                                                               */

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The length of the valid UTF-8 sequence at s (1..4), or 0 when the byte at s does not start one: no
 * overlong forms, no surrogates, nothing above U+10FFFF (RFC 3629), as Java's decoder judges too. */
size_t utf8_len(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    if (s[0] < 0x80)
        return 1;
    size_t n = s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3 : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] > 0x9F) || (s[0] == 0xF0 && s[1] < 0x90) ||
        (s[0] == 0xF4 && s[1] > 0x8F))
        return 0;
    return n;
}

/* Percent-decoding in place: %25 %09 %0A, and %80..%FF for a byte that is not part of valid UTF-8
 * (an argument from the command line is bytes, not text: issue 8). Nothing else is escaped, so
 * each byte has one spelling; %00 can't exist (argv and envp are NUL-terminated strings). */
static bool decode(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (*r != '%') {
            *w++ = *r++;
            continue;
        }
        int hi = hex_digit(r[1]), lo = hi < 0 ? -1 : hex_digit(r[2]);
        if (lo < 0)
            return false;
        int byte = hi << 4 | lo;
        if (byte != '%' && byte != '\t' && byte != '\n' && byte < 0x80)
            return false;
        *w++ = (char)byte;
        r += 3;
    }
    *w = '\0';
    return true;
}

/* Walks an op's key list; returns the marker of `key` (' ' once, '?' at most once, '*' any number,
 * '+' at least once) or 0 when the op does not declare it. */
static char key_kind(const char *keys, const char *key, size_t len)
{
    for (const char *p = keys; *p; p += strspn(p, " ")) {
        char kind = strchr("?*+", *p) ? *p++ : ' ';
        size_t n = strcspn(p, " ");
        if (n == len && strncmp(p, key, len) == 0)
            return kind;
        p += n;
    }
    return 0;
}

static int check_keys(const struct step *s, struct plan_error *err)
{
    for (int i = 0; i < s->nkv; i++)
        if (!key_kind(s->op->keys, s->kv[i].key, strlen(s->kv[i].key)))
            return fail(err, s->line, "%s: unknown key '%s'", s->op->name, s->kv[i].key);
    for (const char *p = s->op->keys; *p; p += strspn(p, " ")) {
        char kind = strchr("?*+", *p) ? *p++ : ' ';
        size_t len = strcspn(p, " ");
        int n = 0;
        for (int i = 0; i < s->nkv; i++)
            n += strlen(s->kv[i].key) == len && strncmp(s->kv[i].key, p, len) == 0;
        if ((kind == ' ' && n != 1) || (kind == '?' && n > 1) || (kind == '+' && n < 1))
            return fail(err, s->line, "%s: key '%.*s' must appear %s (found %d)", s->op->name, (int)len, p,
                        kind == ' ' ? "once" : kind == '?' ? "at most once" : "at least once", n);
        p += len;
    }
    return 0;
}

/* A `# <summary>` comment line says what the next step does (`sandbox up -v` prints it); the header
 * and an empty line carry no summary. */
static int parse_line(struct plan *plan, char *line, int lineno, const char **summary, struct plan_error *err)
{
    if (lineno == 1 && strcmp(line, PLAN_HEADER) == 0) {
        plan->versioned = true;
        return 0;
    }
    if (!*line || *line == '#') {
        *summary = strncmp(line, "# ", 2) == 0 && decode(line + 2) ? line + 2 : NULL;
        return 0;
    }
    int nfields = 1;
    for (char *p = line; *p; p++)
        nfields += *p == '\t';
    if (nfields < 2)
        return fail(err, lineno, "expected <stage> TAB <op> [TAB key=value]...");
    struct step *st = realloc(plan->steps, sizeof *plan->steps * (size_t)(plan->nsteps + 1));
    if (!st)
        return fail(err, lineno, "out of memory");
    plan->steps = st;
    struct kv *kv = calloc((size_t)nfields, sizeof *kv);
    if (!kv)
        return fail(err, lineno, "out of memory");
    st = &plan->steps[plan->nsteps++];
    *st = (struct step){ .line = lineno, .kv = kv, .summary = *summary };
    *summary = NULL;
    char *stage = strsep(&line, "\t"), *opname = strsep(&line, "\t");
    int si = 0;
    while (si < ST_COUNT && strcmp(stage_names[si], stage) != 0)
        si++;
    if (si == ST_COUNT)
        return fail(err, lineno, "unknown stage '%s' (expected prepare, enter, identity, clone, connect, mounts, finish or supervise)", stage);
    st->stage = (enum stage)si;
    for (size_t i = 0; i < nops; i++)
        if (ops[i].stage == st->stage && strcmp(ops[i].name, opname) == 0)
            st->op = &ops[i];
    if (!st->op)
        return fail(err, lineno, "unknown op '%s' in stage %s", opname, stage);
    for (char *field; (field = strsep(&line, "\t")) != NULL;) {
        char *eq = strchr(field, '=');
        if (!eq || eq == field)
            return fail(err, lineno, "%s: field '%s' is not key=value", opname, field);
        *eq = '\0';
        if (!decode(eq + 1))
            return fail(err, lineno, "%s: bad %% escape in %s= (only %%25 %%09 %%0A and %%80..%%FF exist)", opname, field);
        kv[st->nkv++] = (struct kv){ field, eq + 1 };
    }
    return check_keys(st, err);
}

/* Stages in order; one clone, last of its stage; one exec, last of all; at most one init. */
static int check_structure(struct plan *plan, struct plan_error *err)
{
    const struct step *clone = NULL, *exec = NULL, *init = NULL;
    for (int i = 0; i < plan->nsteps; i++) {
        const struct step *s = &plan->steps[i];
        if (i > 0 && s->stage < plan->steps[i - 1].stage)
            return fail(err, s->line, "stage %s after stage %s: stages go prepare, enter, identity, clone, connect, mounts, "
                        "finish, supervise", stage_names[s->stage], stage_names[plan->steps[i - 1].stage]);
        if (exec && s->stage != ST_SUPERVISE)
            return fail(err, s->line, "%s after exec: exec must be the last step (only supervise steps may follow)", s->op->name);
        if (clone && s->stage == ST_CLONE)
            return fail(err, s->line, "%s after clone: clone must be the last step of stage clone", s->op->name);
        if ((s->op->fn == op_clone && clone) || (s->op->fn == op_init && init))
            return fail(err, s->line, "a second %s step", s->op->name);
        clone = s->op->fn == op_clone ? s : clone;
        init = s->op->fn == op_init ? s : init;
        plan->init |= init != NULL;
        if (s->op->fn == op_pivot_root)
            plan->newroot = get(s, "path");
        exec = s->op->fn == op_exec ? s : exec;
    }
    if (!clone)
        return fail(err, 0, "the plan has no clone step");
    if (!exec)
        return fail(err, 0, "the plan has no exec step");
    return 0;
}

void plan_free(struct plan *plan)
{
    for (int i = 0; i < plan->nsteps; i++)
        free(plan->steps[i].kv);
    free(plan->steps);
    *plan = (struct plan){ 0 };
}

int plan_parse(char *text, size_t len, struct plan *plan, struct plan_error *err)
{
    *plan = (struct plan){ 0 };
    *err = (struct plan_error){ 0 };
    if (len > PLAN_MAX_SIZE)
        return fail(err, 0, "the plan file is larger than 16 MiB");
    if (strlen(text) != len)
        return fail(err, 0, "the plan file contains a NUL byte");
    int lineno = 0, rc = 0;
    const char *summary = NULL;
    for (char *rest = text, *line; rc == 0 && (line = strsep(&rest, "\n")) != NULL;)
        rc = parse_line(plan, line, ++lineno, &summary, err);
    if (rc == 0)
        rc = check_structure(plan, err);
    if (rc != 0)
        plan_free(plan);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Loading and running                                                                        */

static _Noreturn void plan_error(int line, const char *msg)
{
    char step[32];
    snprintf(step, sizeof step, line ? "plan:%d" : "plan", line);
    send_error(125, step, "", g.plan_path, "", msg);
    _exit(125);
}

void load_plan(void)
{
    struct stat st;
    int fd = open(g.plan_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        send_error(125, "plan", "open", g.plan_path, errno_name(errno), "the plan file can't be read");
        _exit(125);
    }
    if (st.st_size > PLAN_MAX_SIZE)
        plan_error(0, "the plan file is larger than 16 MiB");
    size_t len = 0, size = (size_t)st.st_size;
    char *text = g.plan_text = malloc(size + 1); /* kept: the steps point into it */
    if (!text)
        plan_error(0, "out of memory");
    while (len < size) {
        ssize_t n = read(fd, text + len, size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            plan_error(0, "the plan file could not be read completely");
        len += (size_t)n;
    }
    close(fd);
    text[len] = '\0';
    struct plan plan;
    struct plan_error err;
    if (plan_parse(text, len, &plan, &err) != 0)
        plan_error(err.line, err.msg);
    g.steps = plan.steps;
    g.nsteps = plan.nsteps;
    g.newroot = plan.newroot;
    g.has_init = plan.init;
}

static long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void run_stage(enum stage stage)
{
    for (int i = 0; i < g.nsteps; i++) {
        if (g.steps[i].stage != stage)
            continue;
        g.cur = &g.steps[i];
        bool last = strcmp(g.cur->op->name, "exec") == 0;
        /* exec does not return: with --trace it is reported as it starts */
        if (g.trace && last)
            send_line("TRACE %s:%d %s started", stage_names[stage], g.cur->line, g.cur->op->name);
        long long start = g.trace ? now_us() : 0;
        g.cur->op->fn(g.cur);
        g.filtered |= g.cur->op->fn == op_seccomp;
        /* Why after every step: a change of uid, gid or capabilities (and a join of a user namespace)
         * resets the dumpable flag to fs.suid_dumpable; we stay non-dumpable until execve. (Not once a
         * seccomp filter is loaded: it may deny prctl; nothing after it changes credentials when
         * no_new_privs is set, and otherwise the reset goes to suid_dumpable, never to 1.) */
        if (!g.filtered)
            prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        if (g.trace)
            send_line("TRACE %s:%d %s %lld us%s", stage_names[stage], g.cur->line, g.cur->op->name, now_us() - start,
                      g.trace_note ? g.trace_note : "");
        g.trace_note = NULL;
    }
    g.cur = NULL;
}
