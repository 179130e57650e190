/*
 * verbs.c: the state verbs `sandbox ps`, `wait`, `down` and `logs`, run by the launcher without a JVM
 * (`sandbox-init ps ...`). They only read the runtime dirs (<base>/<name>/: state.json, plan, log,
 * lock; docs/architecture.md) and send signals; the teardown of a record is journal.c's.
 *
 * Whether a sandbox's monitor is alive is told by its pid and start time (state.json "monitor"; field
 * 22 of /proc/PID/stat), never by taking its lock: a verb holding even a shared lock for a moment would
 * make a concurrent `up` of the name fail as "running". Processes are signalled through a pidfd opened
 * first and then checked against the recorded start time (pidfd_open(2)): a reused pid is never hit.
 *
 * Exit codes (docs/cli.md): ps, logs, down: 0 ok, 1 an error such as an unknown name, 2 usage;
 * wait: the target's status, 125 for its own failures (unknown name, dead sandbox).
 */
#include "runtime.h"

#include <dirent.h>
#include <sys/file.h>
#include <sys/inotify.h>

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif

#define MONITOR_WAIT_MS 60000 /* down: how long the monitor may take for its teardown after the target ended */

static const char *verb;
static char base[PATH_MAX];

static const char *const verbs[] = { "ps", "wait", "down", "logs", NULL };

bool is_verb(const char *arg)
{
    for (int i = 0; verbs[i]; i++)
        if (strcmp(arg, verbs[i]) == 0)
            return true;
    return false;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------------------------ */
/* Records                                                                                    */

enum view { V_CREATING, V_RUNNING, V_STOPPING, V_EXITED, V_KILLED, V_DEAD };
static const char *const view_names[] = { "creating", "running", "stopping", "exited", "killed", "dead" };

struct rec {
    char name[NAME_MAX + 1];
    char rtdir[PATH_MAX];
    bool has_state;
    char status[32];
    char spec[PATH_MAX];
    char git_repo[PATH_MAX], git_path[PATH_MAX], git_blob[72], git_commit[72]; /* the spec's git origin; "" = none */
    int exit_status; /* -1: not known */
    long long created_ms, started_ms, finished_ms;
    pid_t mpid, hpid, tpid;
    unsigned long long mstart, hstart, tstart;
    bool detached;
    bool monitor_alive;
    unsigned long long ns_pid, ns_user; /* the target's namespaces as state.json recorded them; 0 = not recorded */
    bool foreign;                       /* the recorded target pid is alive but not in those namespaces */
    enum view view;
    /* namespaces from the plan: per type 0 none, 1 created, 2 joined */
    int ns[8];
    char lab[NAME_MAX + 1]; /* state.json "lab" (else the plan's runtime-dir lab=): a lab node's lab, a lab's own name; "" none */
};

static const char *const ns_order[] = { "user", "mnt", "pid", "net", "uts", "ipc", "cgroup", "time" };

/* A small file below dirfd (NUL-terminated), through journal.c's reader; NULL with errno. */
static char *slurp(int dirfd, const char *name, size_t max)
{
    size_t len;
    return read_file_at(dirfd, name, max, &len);
}

/* state.json is ours (journal.c's state_write): `"key": value` at known places. The value after
 * "key": in text (NULL when absent). */
static const char *json_at(const char *text, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = text ? strstr(text, pat) : NULL;
    return p ? p + strlen(pat) : NULL;
}

static long long json_num(const char *text, const char *key, long long def)
{
    const char *v = json_at(text, key);
    if (!v || !(isdigit((unsigned char)*v) || *v == '-'))
        return def;
    return strtoll(v, NULL, 10);
}

/* A JSON string value, decoded (\uXXXX above 0x7f as '?', the file's own escapes otherwise). */
static void json_str(const char *text, const char *key, char *out, size_t len)
{
    const char *v = json_at(text, key);
    size_t n = 0;
    out[0] = '\0';
    if (!v || *v != '"')
        return;
    for (v++; *v && *v != '"' && n + 1 < len; v++) {
        char c = *v;
        if (c == '\\' && v[1]) {
            v++;
            switch (*v) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
                char hex[5] = { 0 };
                for (int i = 0; i < 4 && v[1]; i++)
                    hex[i] = *++v;
                long cp = strtol(hex, NULL, 16);
                c = cp < 0x80 ? (char)cp : '?';
                break;
            }
            default: c = *v;
            }
        }
        out[n++] = c;
    }
    out[n] = '\0';
}

static void json_process(const char *text, const char *key, pid_t *pid, unsigned long long *start)
{
    const char *v = json_at(text, key);
    *pid = 0;
    *start = 0;
    if (!v || *v != '{')
        return;
    const char *p = strstr(v, "\"pid\": "), *s = strstr(v, "\"startTime\": "), *end = strchr(v, '}');
    if (p && end && p < end)
        *pid = (pid_t)strtol(p + 7, NULL, 10);
    if (s && end && s < end)
        *start = strtoull(s + 13, NULL, 10);
}

/* The plan's steps that create or join namespaces: enter unshare-user / join type=T, clone unshare
 * type=time, clone clone flags=CLONE_NEW...|... (PROTOCOL.md). */
static void plan_namespaces(int dirfd, int ns[8], char *lab, size_t lablen)
{
    static const struct { const char *flag; int type; } flags[] = {
        { "CLONE_NEWNS", 1 }, { "CLONE_NEWPID", 2 }, { "CLONE_NEWNET", 3 }, { "CLONE_NEWUTS", 4 },
        { "CLONE_NEWIPC", 5 }, { "CLONE_NEWCGROUP", 6 } };
    char *text = slurp(dirfd, "plan", 16 << 20);
    for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "prepare\truntime-dir\t", 20) == 0 && !*lab) {
            const char *v = strstr(l, "\tlab=");
            if (v) /* a lab name is a sandbox name: nothing to unescape */
                snprintf(lab, lablen, "%.*s", (int)strcspn(v + 5, "\t"), v + 5);
        } else if (strncmp(l, "enter\tunshare-user", 18) == 0) {
            ns[0] = 1;
        } else if (strncmp(l, "enter\tjoin\t", 11) == 0 || strncmp(l, "clone\tunshare\t", 14) == 0) {
            const char *t = strstr(l, "\ttype=");
            for (int i = 0; t && i < 8; i++) {
                size_t n = strlen(ns_order[i]);
                if (strncmp(t + 6, ns_order[i], n) == 0 && (t[6 + n] == '\t' || t[6 + n] == '\0'))
                    ns[i] = l[0] == 'e' ? 2 : 1;
            }
        } else if (strncmp(l, "clone\tclone\t", 12) == 0) {
            const char *f = strstr(l, "\tflags=");
            for (size_t i = 0; f && i < sizeof flags / sizeof flags[0]; i++) {
                const char *at = strstr(f, flags[i].flag);
                size_t n = strlen(flags[i].flag);
                if (at && (at[n] == '|' || at[n] == '\t' || at[n] == '\0'))
                    ns[flags[i].type] = 1;
            }
        }
    }
    free(text);
}

static bool alive(pid_t pid, unsigned long long start)
{
    return pid > 0 && start > 0 && proc_start_time(pid) == start;
}

/* The inode of /proc/PID/ns/TYPE, 0 when it can't be read. */
static unsigned long long ns_inode(pid_t pid, const char *type)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, type);
    return stat(path, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* A live pid with the recorded start time whose pid or user namespace is not the recorded one is not
 * the sandbox's target (a state.json of garbage, or a forged one): never signalled, never running. */
static bool target_foreign(const struct rec *r)
{
    if (!alive(r->tpid, r->tstart))
        return false;
    return (r->ns_pid && ns_inode(r->tpid, "pid") != r->ns_pid) || (r->ns_user && ns_inode(r->tpid, "user") != r->ns_user);
}

/* Is the lock of dirfd held (by a monitor that has not written state.json yet)? */
static bool lock_held(int dirfd)
{
    int fd = openat(dirfd, "lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool held = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

/* A journal with records: a teardown that did not finish (a finished one empties it, journal.c). Its
 * comment lines (the "# boot ID" it starts with) are no records. */
static bool journal_left(int dfd)
{
    struct stat st;
    if (fstatat(dfd, "journal", &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        return false;
    char *text = slurp(dfd, "journal", 1 << 20);
    if (!text)
        return true; /* unreadable: as before, a journal that is there counts */
    bool records = false;
    for (const char *line = text; *line && !records;) {
        const char *nl = strchr(line, '\n');
        records = *line != '#' && *line != '\n';
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(text);
    return records;
}

/* 0: loaded; -1: no such record (ENOENT) or not one (errno). */
static int load(const char *name, struct rec *r)
{
    memset(r, 0, sizeof *r);
    r->exit_status = -1;
    /* a name is one entry of the base: '', '.', '..' would be the base or its parent (logs .. read <base>/../log) */
    if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        errno = ENOENT;
        return -1;
    }
    if (snprintf(r->name, sizeof r->name, "%s", name) >= (int)sizeof r->name ||
        snprintf(r->rtdir, sizeof r->rtdir, "%s/%s", base, name) >= (int)sizeof r->rtdir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int dfd = open(r->rtdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    char *text = slurp(dfd, "state.json", 1 << 20);
    if (text && strstr(text, "\"version\": 1")) {
        r->has_state = true;
        json_str(text, "status", r->status, sizeof r->status);
        json_str(text, "spec", r->spec, sizeof r->spec);
        json_str(text, "lab", r->lab, sizeof r->lab);
        const char *git = json_at(text, "git"); /* {"repository": .., "path": .., "blob": .., "commit": ..} or null */
        if (git && *git == '{') {
            json_str(git, "repository", r->git_repo, sizeof r->git_repo);
            json_str(git, "path", r->git_path, sizeof r->git_path);
            json_str(git, "blob", r->git_blob, sizeof r->git_blob);
            json_str(git, "commit", r->git_commit, sizeof r->git_commit);
        }
        r->exit_status = (int)json_num(text, "exitStatus", -1);
        r->created_ms = json_num(text, "createdMs", 0);
        r->started_ms = json_num(text, "startedMs", 0);
        r->finished_ms = json_num(text, "finishedMs", 0);
        const char *d = json_at(text, "detached");
        r->detached = d && strncmp(d, "true", 4) == 0;
        json_process(text, "monitor", &r->mpid, &r->mstart);
        json_process(text, "helper", &r->hpid, &r->hstart);
        json_process(text, "target", &r->tpid, &r->tstart);
        const char *ns = json_at(text, "namespaces"); /* the last object of state.json */
        if (ns && *ns == '{') {
            r->ns_pid = (unsigned long long)json_num(ns, "pid", 0);
            r->ns_user = (unsigned long long)json_num(ns, "user", 0);
        }
    }
    free(text);
    plan_namespaces(dfd, r->ns, r->lab, sizeof r->lab);
    r->monitor_alive = alive(r->mpid, r->mstart);
    r->foreign = target_foreign(r);
    if (r->foreign)
        r->monitor_alive = false; /* nor is the monitor of such a record ours to wait for */
    bool finished = strcmp(r->status, "exited") == 0 || strcmp(r->status, "killed") == 0;
    if (!r->has_state)
        r->view = lock_held(dfd) ? V_CREATING : V_DEAD;
    else if (finished && !r->monitor_alive && journal_left(dfd))
        r->view = V_DEAD; /* the monitor was killed during its teardown: records of its journal are not undone */
    else if (finished)
        r->view = strcmp(r->status, "killed") == 0 ? V_KILLED : V_EXITED;
    else if (!r->monitor_alive)
        r->view = V_DEAD;
    else
        r->view = strcmp(r->status, "creating") == 0 ? V_CREATING : strcmp(r->status, "stopping") == 0 ? V_STOPPING : V_RUNNING;
    /* a foreground monitor writes "exited" just before it removes everything: still its own */
    close(dfd);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of the records in base (sorted); NULL when base does not exist (no sandbox yet). */
static char **list_names(size_t *n)
{
    *n = 0;
    DIR *d = opendir(base);
    if (!d)
        return NULL;
    size_t cap = 16;
    char **names = malloc(cap * sizeof *names);
    for (struct dirent *ent; names && (ent = readdir(d)) != NULL;) {
        if (ent->d_name[0] == '.')
            continue; /* ., .., .plan-*, .NAME.new-*, .NAME.stale-* */
        if (strstr(ent->d_name, "@exec-"))
            continue; /* the record of a `sandbox exec` into NAME (docs/cli.md): not a sandbox of its own */
        if (ent->d_type != DT_DIR && ent->d_type != DT_UNKNOWN)
            continue;
        if (*n == cap) {
            char **bigger = realloc(names, cap * 2 * sizeof *names);
            if (!bigger)
                break;
            names = bigger;
            cap *= 2;
        }
        if ((names[*n] = strdup(ent->d_name)) != NULL)
            (*n)++;
    }
    closedir(d);
    if (names && *n)
        qsort(names, *n, sizeof *names, cmp_str);
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* ------------------------------------------------------------------------------------------ */
/* Messages                                                                                   */

static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 99;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* "no sandbox named 'x'" + the closest existing name, if one is close. */
static void unknown_name(const char *name)
{
    size_t n;
    char **names = list_names(&n);
    const char *best = NULL;
    size_t best_d = 99, limit = strlen(name) / 3 > 2 ? strlen(name) / 3 : 2;
    for (size_t i = 0; i < n; i++) {
        size_t dd = distance(name, names[i]);
        if (dd < best_d) {
            best_d = dd;
            best = names[i];
        }
    }
    if (best && best_d <= limit)
        fprintf(stderr, "sandbox: %s: no sandbox named '%s' (did you mean '%s'?)\n", verb, name, best);
    else
        fprintf(stderr, "sandbox: %s: no sandbox named '%s' in %s (sandbox ps -a lists them)\n", verb, name, base);
    free_names(names, n);
}

static _Noreturn void usage_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static _Noreturn void usage_error(int code, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "sandbox %s: %s (sandbox %s --help shows the usage)\n", verb, what, verb);
    exit(code);
}

static const char *sig_name(int sig, char *buf, size_t len)
{
    const char *abbrev = sig > 0 && sig < NSIG ? sigabbrev_np(sig) : NULL;
    if (abbrev)
        snprintf(buf, len, "SIG%s", abbrev);
    else
        snprintf(buf, len, "signal %d", sig);
    return buf;
}

static void duration(long long ms, char *out, size_t len)
{
    long long s = ms / 1000;
    if (s < 60)
        snprintf(out, len, "%llds", s);
    else if (s < 3600)
        snprintf(out, len, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, len, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/* ------------------------------------------------------------------------------------------ */
/* ps                                                                                         */

static const char *ps_help =
    "Usage: sandbox ps [-a] [--format table|json]\n"
    "List the sandboxes of this user (root: root's): the running ones, and with -a also those whose\n"
    "target ended (a detached sandbox's record stays until `sandbox down NAME` or `sandbox gc`).\n"
    "  -a, --all         also finished sandboxes\n"
    "      --format F    table (default) or json\n"
    "  -h, --help        this text\n"
    "Columns: NAME, STATUS (creating, running, stopping, exited (N), killed (SIG), dead = its monitor\n"
    "is gone: `sandbox down NAME` or `sandbox gc` cleans it up), PID (the target's, on the host; the\n"
    "init's when there is one), UPTIME, LAB (the lab of a lab's node and of the lab itself), NAMESPACES\n"
    "(created, or joined: marked (joined)), SPEC.\n"
    "Exit status: 0, 1 on an error, 2 on a usage error.\n";

static void status_text(const struct rec *r, char *out, size_t len)
{
    char sig[32];
    if (r->view == V_EXITED)
        snprintf(out, len, "exited (%d)", r->exit_status);
    else if (r->view == V_KILLED)
        snprintf(out, len, "killed (%s)", sig_name(r->exit_status - 128, sig, sizeof sig));
    else
        snprintf(out, len, "%s", view_names[r->view]);
}

static void ns_text(const struct rec *r, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < 8; i++) {
        if (!r->ns[i])
            continue;
        used += (size_t)snprintf(out + used, len - used, "%s%s%s", used ? "," : "", ns_order[i], r->ns[i] == 2 ? "(joined)" : "");
        if (used >= len)
            break;
    }
    if (!out[0])
        snprintf(out, len, "-");
}

static int ps_main(int argc, char **argv)
{
    bool all = false, json = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(ps_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "-a") == 0 || strcmp(argv[i], "--all") == 0) {
            all = true;
        } else if (strcmp(argv[i], "--format") == 0 || strncmp(argv[i], "--format=", 9) == 0) {
            const char *f = argv[i][8] == '=' ? argv[i] + 9 : i + 1 < argc ? argv[++i] : NULL;
            if (!f)
                usage_error(2, "--format needs a value: table or json");
            if (strcmp(f, "json") == 0)
                json = true;
            else if (strcmp(f, "table") != 0)
                usage_error(2, "unknown format '%s' (table or json)", f);
        } else {
            usage_error(2, "unknown argument '%s'", argv[i]);
        }
    }
    size_t n;
    char **names = list_names(&n);
    struct rec *rs = calloc(n ? n : 1, sizeof *rs);
    size_t shown = 0;
    for (size_t i = 0; rs && i < n; i++) {
        if (load(names[i], &rs[shown]) < 0)
            continue;
        if (!all && (rs[shown].view == V_EXITED || rs[shown].view == V_KILLED))
            continue;
        shown++;
    }
    long long now = now_ms();
    if (json) {
        fputs("[", stdout);
        for (size_t i = 0; i < shown; i++) {
            const struct rec *r = &rs[i];
            char sig[32];
            printf("%s\n  {\"name\": ", i ? "," : "");
            json_string(stdout, r->name);
            printf(", \"status\": \"%s\", \"exitStatus\": ", view_names[r->view]);
            if ((r->view == V_EXITED || r->view == V_KILLED) && r->exit_status >= 0)
                printf("%d", r->exit_status);
            else
                fputs("null", stdout);
            fputs(", \"signal\": ", stdout);
            if (r->view == V_KILLED)
                printf("\"%s\"", sig_name(r->exit_status - 128, sig, sizeof sig));
            else
                fputs("null", stdout);
            /* a dead record's target may be gone too: its pid is then no one's, or another process's */
            bool up = r->view != V_EXITED && r->view != V_KILLED && (r->view != V_DEAD || (alive(r->tpid, r->tstart) && !r->foreign));
            fputs(", \"pid\": ", stdout);
            if (up && r->tpid > 0)
                printf("%d", (int)r->tpid);
            else
                fputs("null", stdout);
            fputs(", \"monitorPid\": ", stdout);
            if (r->monitor_alive)
                printf("%d", (int)r->mpid);
            else
                fputs("null", stdout);
            fputs(", \"uptimeSeconds\": ", stdout);
            if (up && r->started_ms > 0)
                printf("%lld", (now - r->started_ms) / 1000);
            else
                fputs("null", stdout);
            fputs(", \"namespaces\": {", stdout);
            bool any = false;
            for (int t = 0; t < 8; t++) {
                if (!r->ns[t])
                    continue;
                printf("%s\"%s\": \"%s\"", any ? ", " : "", ns_order[t], r->ns[t] == 2 ? "joined" : "created");
                any = true;
            }
            fputs("}, \"spec\": ", stdout);
            if (r->spec[0])
                json_string(stdout, r->spec);
            else
                fputs("null", stdout);
            /* as recorded at start: `sandbox inspect` resolves the commit and uncommitted changes (JGit) */
            fputs(", \"git\": ", stdout);
            if (r->git_repo[0] && r->git_path[0] && r->git_blob[0]) {
                fputs("{\"repository\": ", stdout);
                json_string(stdout, r->git_repo);
                fputs(", \"path\": ", stdout);
                json_string(stdout, r->git_path);
                fputs(", \"blob\": ", stdout);
                json_string(stdout, r->git_blob);
                fputs(", \"commit\": ", stdout);
                if (r->git_commit[0])
                    json_string(stdout, r->git_commit);
                else
                    fputs("null", stdout);
                fputs("}", stdout);
            } else {
                fputs("null", stdout);
            }
            fputs(", \"lab\": ", stdout);
            if (r->lab[0])
                json_string(stdout, r->lab);
            else
                fputs("null", stdout);
            printf(", \"detached\": %s}", r->detached ? "true" : "false");
        }
        fputs(shown ? "\n]\n" : "]\n", stdout);
    } else {
        /* column widths from the content */
        int w[6] = { 4, 6, 3, 6, 3, 10 };
        char (*cells)[6][256] = calloc(shown ? shown : 1, sizeof *cells);
        for (size_t i = 0; cells && i < shown; i++) {
            const struct rec *r = &rs[i];
            /* a dead record's target may be gone too: its pid is then no one's, or another process's */
            bool up = r->view != V_EXITED && r->view != V_KILLED && (r->view != V_DEAD || (alive(r->tpid, r->tstart) && !r->foreign));
            snprintf(cells[i][0], 256, "%s", r->name);
            status_text(r, cells[i][1], 256);
            if (up && r->tpid > 0)
                snprintf(cells[i][2], 256, "%d", (int)r->tpid);
            else
                snprintf(cells[i][2], 256, "-");
            if (up && r->started_ms > 0)
                duration(now - r->started_ms, cells[i][3], 256);
            else
                snprintf(cells[i][3], 256, "-");
            snprintf(cells[i][4], 256, "%s", r->lab[0] ? r->lab : "-");
            ns_text(r, cells[i][5], 256);
            for (int c = 0; c < 6; c++)
                if ((int)strlen(cells[i][c]) > w[c])
                    w[c] = (int)strlen(cells[i][c]);
        }
        printf("%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w[0], "NAME", w[1], "STATUS", w[2], "PID", w[3], "UPTIME", w[4], "LAB", w[5],
               "NAMESPACES", "SPEC");
        for (size_t i = 0; cells && i < shown; i++)
            printf("%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", w[0], cells[i][0], w[1], cells[i][1], w[2], cells[i][2], w[3], cells[i][3],
                   w[4], cells[i][4], w[5], cells[i][5], rs[i].spec[0] ? rs[i].spec : "-");
        free(cells);
    }
    free(rs);
    free_names(names, n);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------ */
/* Processes                                                                                  */

/* A pidfd of pid, only when it still is the process that started at `start`; -1 otherwise. */
static int pidfd_exact(pid_t pid, unsigned long long start)
{
    if (pid <= 0 || start == 0)
        return -1;
    int fd = (int)syscall(__NR_pidfd_open, pid, 0);
    if (fd < 0)
        return -1;
    /* the pidfd pins the process: if it still has that start time now, the fd is that process */
    if (proc_start_time(pid) != start) {
        close(fd);
        return -1;
    }
    return fd;
}

static int pidfd_signal(int fd, int sig)
{
    return (int)syscall(__NR_pidfd_send_signal, fd, sig, NULL, 0);
}

/* Waits until the process of the pidfd ended (poll(2) on a pidfd: readable when it exits); false on timeout. */
static bool pidfd_wait(int fd, long long ms)
{
    long long deadline = mono_ms() + ms;
    for (;;) {
        struct pollfd p = { fd, POLLIN, 0 };
        long long left = deadline - mono_ms();
        if (left < 0)
            left = 0;
        int n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n > 0)
            return true;
        if (n == 0)
            return false;
        if (errno != EINTR)
            return true;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* down                                                                                       */

static const char *down_help =
    "Usage: sandbox down [--timeout SECONDS] NAME... | --all\n"
    "Stop sandboxes and remove their records: SIGTERM to the target (to the init when there is one),\n"
    "SIGKILL when it is still there after the timeout (a line says so), then the monitor's teardown\n"
    "(a dead monitor's is done here from the journal). A sandbox whose target ended already is just\n"
    "removed; two downs of one name both succeed. A lab (docs/labs.md) goes with all its nodes, under\n"
    "the same timeout; a lab's node goes with its links (the lab keeps running).\n"
    "      --timeout S   seconds between SIGTERM and SIGKILL (default 10; 0 = SIGKILL at once)\n"
    "      --all         every sandbox of this user\n"
    "  -h, --help        this text\n"
    "Exit status: 0, 1 on an error (e.g. no sandbox of that name), 2 on a usage error.\n";

struct victim {
    struct rec r;
    int dfd;             /* the runtime dir as we found it (its inode tells a replaced one) */
    int target_fd;       /* pidfd of the target while it runs */
    int monitor_fd;      /* pidfd of the monitor while it runs */
    bool killed;         /* the target got SIGKILL at once (--timeout 0, a dead monitor): no SIGTERM to time out */
    bool failed;
};

static bool same_dir(int dfd, const char *path)
{
    struct stat a, b;
    return fstat(dfd, &a) == 0 && lstat(path, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* Is a teardown of `name` under way (its dir renamed to .NAME.stale-* by journal.c)? */
static bool being_removed(const char *name)
{
    DIR *d = opendir(base);
    bool found = false;
    char prefix[NAME_MAX + 16];
    snprintf(prefix, sizeof prefix, ".%s.stale-", name);
    for (struct dirent *ent; d && !found && (ent = readdir(d)) != NULL;)
        found = strncmp(ent->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return found;
}

/* After the target and the monitor are gone: the record, under its lock (a racing down or gc
 * holds it for as long as its teardown takes; then the dir is gone or another one). */
static int remove_record(struct victim *v)
{
    int lfd = openat(v->dfd, "lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (lfd < 0 && errno != ENOENT) {
        fprintf(stderr, "sandbox: down %s: open %s/lock: %s\n", v->r.name, v->r.rtdir, errno_name(errno));
        return -1;
    }
    long long deadline = mono_ms() + MONITOR_WAIT_MS;
    while (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK || mono_ms() > deadline) {
            fprintf(stderr, "sandbox: down %s: flock %s/lock: %s (someone still holds it)\n", v->r.name, v->r.rtdir,
                    errno_name(errno == EWOULDBLOCK ? EAGAIN : errno));
            close(lfd);
            return -1;
        }
        usleep(10000);
    }
    int rc = 0;
    if (same_dir(v->dfd, v->r.rtdir)) {
        struct host_error e;
        char *report_text = NULL;
        size_t report_len = 0;
        FILE *report = open_memstream(&report_text, &report_len);
        rc = journal_teardown(v->r.rtdir, report ? report : stderr, &e);
        if (report)
            fclose(report);
        if (rc < 0 && report_text) {
            for (char *save = NULL, *l = strtok_r(report_text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                const char *prefix = "sandbox: cleanup: ";
                fprintf(stderr, "sandbox: down %s: %s\n", v->r.name, strncmp(l, prefix, strlen(prefix)) == 0 ? l + strlen(prefix) : l);
            }
        }
        free(report_text);
    }
    if (lfd >= 0)
        close(lfd);
    return rc;
}

static char **with_lab_nodes(char **args, int nnames, int *nout);
static int down_names(char **args, int nnames, double timeout_s);

/* After the record of a lab node went: its links and its netns (lab.c), when its lab is not being
 * downed in the same call; a lab that is gone already has nothing of it left. */
static int unlink_lab_node(const struct rec *r, char **names, int n)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], r->lab) == 0)
            return 0;
    size_t len = strlen(r->lab);
    if (strncmp(r->name, r->lab, len) != 0 || r->name[len] != '-')
        return 0; /* not <lab>-<node>: nothing of the lab is its */
    struct rec *labrec = malloc(sizeof *labrec); /* its holder: a rootless lab's namespaces are its descriptors */
    pid_t holder = 0;
    unsigned long long holder_start = 0;
    if (labrec && load(r->lab, labrec) == 0) {
        holder = labrec->mpid;
        holder_start = labrec->mstart;
    }
    free(labrec);
    char *text = NULL;
    size_t tlen = 0;
    FILE *report = open_memstream(&text, &tlen);
    int failures = lab_node_unlink(base, r->lab, r->name + len + 1, holder, holder_start, report ? report : stderr);
    if (report)
        fclose(report);
    for (char *save = NULL, *l = text ? strtok_r(text, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        const char *prefix = "sandbox: cleanup: ";
        fprintf(stderr, "sandbox: down %s: %s\n", r->name, strncmp(l, prefix, strlen(prefix)) == 0 ? l + strlen(prefix) : l);
    }
    free(text);
    return failures;
}

static int down_main(int argc, char **argv)
{
    double timeout_s = 10;
    bool all = false;
    int nnames = 0;
    char **args = calloc((size_t)argc, sizeof *args);
    if (!args)
        return 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(down_help, stdout);
            return 0;
        } else if (strcmp(a, "--all") == 0 || strcmp(a, "-a") == 0) {
            all = true;
        } else if (strcmp(a, "--timeout") == 0 || strncmp(a, "--timeout=", 10) == 0 || strcmp(a, "-t") == 0) {
            const char *v = a[9] == '=' ? a + 10 : i + 1 < argc ? argv[++i] : NULL;
            char *end = NULL;
            if (v)
                timeout_s = strtod(v, &end);
            if (!v || !*v || *end || !(timeout_s >= 0) || timeout_s > 86400)
                usage_error(2, "--timeout wants seconds from 0 to 86400, not '%s'", v ? v : "");
        } else if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++)
                args[nnames++] = argv[i];
        } else if (a[0] == '-') {
            usage_error(2, "unknown option '%s'", a);
        } else {
            args[nnames++] = argv[i];
        }
    }
    if (all && nnames)
        usage_error(2, "give names or --all, not both");
    if (!all && !nnames)
        usage_error(2, "which sandbox? give its NAME (sandbox ps lists them) or --all");
    size_t nall = 0;
    char **names_all = NULL;
    if (all) {
        names_all = list_names(&nall);
        free(args);
        args = names_all;
        nnames = (int)nall;
    }
    /* gc's rule (journal.c): a journal in a base someone else could write could name any cgroup or
     * process of ours; nothing is torn down from there */
    struct stat bst;
    if (nnames && lstat(base, &bst) == 0 && (!S_ISDIR(bst.st_mode) || bst.st_uid != geteuid() || (bst.st_mode & 022))) {
        fprintf(stderr, "sandbox: down: %s is owned by uid %u with mode %04o; refusing to act on the records of a directory "
                "that is not yours alone (it must be owned by uid %u and not writable by group or others)\n",
                base, (unsigned)bst.st_uid, (unsigned)(bst.st_mode & 07777), (unsigned)geteuid());
        return 1;
    }
    int nlist = 0;
    char **list = with_lab_nodes(args, nnames, &nlist);
    int rc = list ? down_names(list, nlist, timeout_s) : 1;
    free(list);
    if (names_all)
        free_names(names_all, nall);
    else
        free(args);
    return rc;
}

/* The names to down, in order: a lab's nodes (records whose "lab" is its name) right before the lab,
 * so that they get the same SIGTERM and deadline and go before the lab's teardown would SIGKILL them;
 * a node whose lab is downed too goes with its lab; each name once. The strings are args' or leaked
 * copies (the process ends soon). */
static char **with_lab_nodes(char **args, int nnames, int *nout)
{
    size_t nall = 0;
    char **all = NULL;
    bool listed = false;
    char **out = calloc((size_t)nnames + 1, sizeof *out);
    int n = 0, cap = nnames + 1;
    struct rec *r = malloc(sizeof *r);
    if (!out || !r) {
        free(out);
        free(r);
        return NULL;
    }
    for (int i = 0; i < nnames; i++) {
        bool is_lab = load(args[i], r) == 0 && r->lab[0] && strcmp(r->lab, args[i]) == 0;
        if (!is_lab && load(args[i], r) == 0 && r->lab[0] && strcmp(r->lab, args[i]) != 0) {
            bool lab_too = false;
            for (int k = 0; k < nnames && !lab_too; k++)
                lab_too = strcmp(args[k], r->lab) == 0;
            if (lab_too)
                continue; /* added before its lab */
        }
        if (is_lab) {
            if (!listed) {
                all = list_names(&nall);
                listed = true;
            }
            for (size_t k = 0; k < nall; k++) {
                struct rec node;
                if (strcmp(all[k], args[i]) == 0 || load(all[k], &node) < 0 || strcmp(node.lab, args[i]) != 0)
                    continue;
                if (n + 2 > cap) {
                    char **bigger = realloc(out, (size_t)(cap *= 2) * sizeof *out);
                    if (!bigger)
                        break;
                    out = bigger;
                }
                bool dup = false;
                for (int j = 0; j < n && !dup; j++)
                    dup = strcmp(out[j], all[k]) == 0;
                if (!dup)
                    out[n++] = strdup(all[k]);
            }
        }
        bool dup = false;
        for (int j = 0; j < n && !dup; j++)
            dup = strcmp(out[j], args[i]) == 0;
        if (dup)
            continue;
        if (n + 1 > cap) {
            char **bigger = realloc(out, (size_t)(cap *= 2) * sizeof *out);
            if (!bigger)
                break;
            out = bigger;
        }
        out[n++] = args[i];
    }
    free(r);
    if (listed)
        free(all); /* its strings: some are in out now */
    *nout = n;
    return out;
}

/* down of `names`: SIGTERM (SIGKILL with timeout 0 or a dead monitor), one deadline for all, SIGKILL
 * after it, then the monitors' teardowns and the records. A lab node's links and netns go after its
 * record (lab_node_unlink), unless its lab goes down too (the lab's teardown unmounts them all). */
static int down_names(char **args, int nnames, double timeout_s)
{
    struct victim *vs = calloc((size_t)nnames + 1, sizeof *vs);
    if (!vs)
        return 1;
    int rc = 0, nv = 0;
    /* 1: find each record; SIGTERM to the targets that run under their monitor */
    for (int i = 0; i < nnames; i++) {
        struct victim *v = &vs[nv];
        const char *name = args[i];
        if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
            fprintf(stderr, "sandbox: down: '%s' is not a sandbox name\n", name);
            rc = 1;
            continue;
        }
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", base, name) >= (int)sizeof path) {
            fprintf(stderr, "sandbox: down: '%s' is not a sandbox name (too long)\n", name);
            rc = 1;
            continue;
        }
        v->dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (v->dfd < 0) {
            if (errno == ENOENT && being_removed(name))
                continue; /* a racing down or gc is removing it: done */
            if (errno == ENOENT)
                unknown_name(name);
            else
                fprintf(stderr, "sandbox: down %s: open %s: %s\n", name, path, errno_name(errno));
            rc = 1;
            continue;
        }
        struct stat dst;
        if (fstat(v->dfd, &dst) < 0 || dst.st_uid != geteuid()) {
            fprintf(stderr, "sandbox: down %s: %s belongs to uid %u, not to you; leaving it alone\n", name, path, (unsigned)dst.st_uid);
            close(v->dfd);
            rc = 1;
            continue;
        }
        if (load(name, &v->r) < 0) {
            close(v->dfd);
            continue; /* removed meanwhile */
        }
        v->target_fd = -1;
        v->monitor_fd = v->r.monitor_alive ? pidfd_exact(v->r.mpid, v->r.mstart) : -1;
        if (v->r.view != V_EXITED && v->r.view != V_KILLED && !v->r.foreign)
            v->target_fd = pidfd_exact(v->r.tpid, v->r.tstart);
        /* checked again with the pidfd held: the pid can't be reused now */
        if (v->target_fd >= 0 && target_foreign(&v->r)) {
            close(v->target_fd);
            v->target_fd = -1;
            v->r.foreign = true;
        }
        if (v->r.foreign)
            fprintf(stderr, "sandbox: down %s: pid %d is not the sandbox's target (not in the namespaces its record names); "
                    "not signalled\n", name, (int)v->r.tpid);
        if (v->target_fd >= 0) {
            /* a dead monitor supervises nothing: nobody would ever stop it gently */
            int sig = v->monitor_fd >= 0 && timeout_s > 0 ? SIGTERM : SIGKILL;
            v->killed = sig == SIGKILL;
            if (pidfd_signal(v->target_fd, sig) < 0 && errno != ESRCH) {
                fprintf(stderr, "sandbox: down %s: pidfd_send_signal %d: %s\n", name, (int)v->r.tpid, errno_name(errno));
                v->failed = true;
            }
        } else if (v->monitor_fd >= 0 && v->r.view == V_CREATING) {
            /* still being set up, no target yet: the monitor gets the SIGTERM (it passes it on) */
            pidfd_signal(v->monitor_fd, SIGTERM);
        }
        nv++;
    }
    /* 2: wait for the targets (one deadline for all); SIGKILL to those still there */
    long long deadline = mono_ms() + (long long)(timeout_s * 1000);
    for (int i = 0; i < nv; i++) {
        struct victim *v = &vs[i];
        if (v->target_fd < 0)
            continue;
        long long left = deadline - mono_ms();
        if (v->killed) {
            pidfd_wait(v->target_fd, 5000);
        } else if (!pidfd_wait(v->target_fd, left > 0 ? left : 0)) {
            char t[32];
            snprintf(t, sizeof t, "%g", timeout_s);
            fprintf(stderr, "sandbox: down %s: the target (pid %d) did not stop within %s s of SIGTERM; sent SIGKILL\n", v->r.name,
                    (int)v->r.tpid, t);
            pidfd_signal(v->target_fd, SIGKILL);
            pidfd_wait(v->target_fd, 5000);
        }
    }
    /* 3: the monitors finish their teardown; then the records go (a dead monitor's journal too) */
    for (int i = 0; i < nv; i++) {
        struct victim *v = &vs[i];
        if (v->monitor_fd >= 0 && !pidfd_wait(v->monitor_fd, MONITOR_WAIT_MS)) {
            fprintf(stderr, "sandbox: down %s: its monitor (pid %d) did not end within %d s; the record is kept\n", v->r.name,
                    (int)v->r.mpid, MONITOR_WAIT_MS / 1000);
            v->failed = true;
        } else if (v->monitor_fd < 0) {
            /* no monitor: the helper may still be there (it kills the target when it notices) */
            /* not for a record whose target pid is someone else's: its helper pid is no better */
            int hfd = v->r.foreign ? -1 : pidfd_exact(v->r.hpid, v->r.hstart);
            if (hfd >= 0) {
                pidfd_signal(hfd, SIGKILL);
                pidfd_wait(hfd, 5000);
                close(hfd);
            }
        }
        if (!v->failed && remove_record(v) < 0)
            v->failed = true;
        if (!v->failed && v->r.lab[0] && strcmp(v->r.lab, v->r.name) != 0)
            v->failed = unlink_lab_node(&v->r, args, nnames) != 0;
        rc |= v->failed;
        if (v->target_fd >= 0)
            close(v->target_fd);
        if (v->monitor_fd >= 0)
            close(v->monitor_fd);
        close(v->dfd);
    }
    free(vs);
    return rc;
}

/* The undo op sandbox-down of a lab's journal (host.h): run by whoever tears the lab down (its down,
 * gc, the next up of its name, lab-up's own failure). The lab is dead or going: its nodes are
 * SIGKILLed, not asked (a gc must not wait 10 s per node). A record that names another lab is left
 * alone: the name was reused. */
int lab_node_down(const char *path, const char *lab, struct host_error *e)
{
    const char *slash = strrchr(path, '/');
    char saved[PATH_MAX];
    if (!slash || !slash[1])
        return host_fail(e, "lab sandbox-down", "down", path, EINVAL, "not <base>/<name>");
    snprintf(saved, sizeof saved, "%s", base);
    snprintf(base, sizeof base, "%.*s", (int)(slash - path), path);
    const char *was = verb;
    if (!verb)
        verb = "down";
    char name[NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", slash + 1);
    struct rec *r = malloc(sizeof *r);
    int rc = 0;
    if (r && load(name, r) == 0 && (r->lab[0] ? strcmp(r->lab, lab) == 0 : r->view == V_DEAD)) {
        char *one[] = { name };
        if (down_names(one, 1, 0) != 0)
            rc = host_fail(e, "lab sandbox-down", "down", path, EBUSY, "the lab's node %s is still there", name);
    }
    free(r);
    /* a node killed while its monitor was renaming its dir into place: .NAME.new-* with a free lock */
    DIR *d = rc == 0 ? opendir(base) : NULL;
    char prefix[NAME_MAX + 8];
    snprintf(prefix, sizeof prefix, ".%s.new-", name);
    for (struct dirent *ent; d && (ent = readdir(d)) != NULL;) {
        if (strncmp(ent->d_name, prefix, strlen(prefix)) != 0)
            continue;
        int dfd = openat(dirfd(d), ent->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int lfd = dfd >= 0 ? openat(dfd, "lock", O_RDWR | O_NOFOLLOW | O_CLOEXEC) : -1;
        if (lfd >= 0 && flock(lfd, LOCK_EX | LOCK_NB) == 0) {
            unlinkat(dfd, "lock", 0);
            unlinkat(dirfd(d), ent->d_name, AT_REMOVEDIR); /* born with the lock only; anything more stays for gc */
        }
        if (lfd >= 0)
            close(lfd);
        if (dfd >= 0)
            close(dfd);
    }
    if (d)
        closedir(d);
    snprintf(base, sizeof base, "%s", saved);
    verb = was;
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* wait                                                                                       */

static const char *wait_help =
    "Usage: sandbox wait NAME\n"
    "Block until the sandbox's target ended; exit with its status, as `sandbox up` would have (128+N\n"
    "when it was killed by signal N). A finished record answers at once.\n"
    "  -h, --help        this text\n"
    "Exit status: the target's; 125 when there is no such sandbox, its monitor is gone (dead), or its\n"
    "status is not known (a foreground sandbox's record goes with it).\n";

static int wait_main(int argc, char **argv)
{
    const char *name = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(wait_help, stdout);
            return 0;
        } else if (argv[i][0] == '-' && strcmp(argv[i], "--") != 0) {
            usage_error(125, "unknown option '%s'", argv[i]);
        } else if (strcmp(argv[i], "--") == 0 && i + 1 < argc && !name) {
            name = argv[++i];
        } else if (!name) {
            name = argv[i];
        } else {
            usage_error(125, "one NAME only");
        }
    }
    if (!name)
        usage_error(125, "which sandbox? give its NAME (sandbox ps lists them)");
    struct rec r;
    if (strchr(name, '/') || load(name, &r) < 0) {
        unknown_name(name);
        return 125;
    }
    int known = -1;
    /* a monitor still alive after "exited" is tearing down: wait for it (then nothing of the run is left) */
    if ((r.view == V_EXITED || r.view == V_KILLED) && !r.monitor_alive)
        return r.exit_status >= 0 ? r.exit_status : 125;
    if (r.view == V_DEAD) {
        fprintf(stderr, "sandbox: wait %s: the sandbox is dead: its monitor (pid %d) is gone; sandbox down %s removes it\n", name,
                (int)r.mpid, name);
        return 125;
    }
    int mfd = pidfd_exact(r.mpid, r.mstart);
    /* Why inotify: a foreground monitor writes its final state.json and then removes the whole dir;
     * the new state.json (renamed into place) is read the moment it appears. */
    int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (ifd >= 0)
        inotify_add_watch(ifd, r.rtdir, IN_MOVED_TO | IN_CLOSE_WRITE);
    while (mfd >= 0) {
        struct pollfd p[2] = { { mfd, POLLIN, 0 }, { ifd, POLLIN, 0 } };
        if (poll(p, 2, ifd >= 0 ? -1 : 100) < 0 && errno != EINTR)
            break;
        if (p[1].revents) {
            char buf[4096];
            while (read(ifd, buf, sizeof buf) > 0) {
            }
        }
        struct rec now;
        if (load(name, &now) == 0 && (now.view == V_EXITED || now.view == V_KILLED) && now.exit_status >= 0)
            known = now.exit_status;
        if (p[0].revents)
            break;
    }
    if (ifd >= 0)
        close(ifd);
    if (mfd >= 0)
        close(mfd);
    struct rec last;
    if (load(name, &last) == 0 && (last.view == V_EXITED || last.view == V_KILLED) && last.exit_status >= 0)
        return last.exit_status;
    if (known >= 0)
        return known;
    fprintf(stderr, "sandbox: wait %s: its monitor ended without recording the target's status\n", name);
    return 125;
}

/* ------------------------------------------------------------------------------------------ */
/* logs                                                                                       */

static const char *logs_help =
    "Usage: sandbox logs [-f] NAME\n"
    "Print a detached sandbox's output (its stdout and stderr, in the order written): log.1, the older\n"
    "part after a rotation at 10 MiB, then log.\n"
    "  -f, --follow      keep printing what it writes until it ends\n"
    "  -h, --help        this text\n"
    "Exit status: 0, 1 on an error (no such sandbox, a foreground one), 2 on a usage error.\n";

static bool copy_fd(int from)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(from, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(1, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return false;
            off += w;
        }
    }
}

static int logs_main(int argc, char **argv)
{
    const char *name = NULL;
    bool follow = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(logs_help, stdout);
            return 0;
        } else if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--follow") == 0) {
            follow = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            usage_error(2, "unknown option '%s'", argv[i]);
        } else if (!name) {
            name = argv[i];
        } else {
            usage_error(2, "one NAME only");
        }
    }
    if (!name)
        usage_error(2, "which sandbox? give its NAME (sandbox ps lists them)");
    struct rec r;
    if (strchr(name, '/') || load(name, &r) < 0) {
        unknown_name(name);
        return 1;
    }
    int dfd = open(r.rtdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        unknown_name(name);
        return 1;
    }
    int old = openat(dfd, "log.1", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int cur = openat(dfd, "log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (cur < 0) {
        if (r.has_state && !r.detached)
            fprintf(stderr, "sandbox: logs %s: it runs in the foreground: its output goes to the terminal of its `sandbox up`\n", name);
        else
            fprintf(stderr, "sandbox: logs %s: open %s/log: %s\n", name, r.rtdir, errno_name(errno));
        if (old >= 0)
            close(old);
        close(dfd);
        return 1;
    }
    bool ok = true;
    if (old >= 0) {
        ok = copy_fd(old);
        close(old);
    }
    ok = ok && copy_fd(cur);
    int mfd = follow ? pidfd_exact(r.mpid, r.mstart) : -1;
    while (ok && mfd >= 0) {
        struct pollfd p = { mfd, POLLIN, 0 };
        bool ended = poll(&p, 1, 200) > 0;
        ok = copy_fd(cur);
        /* a rotation: the rest of the old file, then the new one */
        struct stat a, b;
        if (ok && fstat(cur, &a) == 0 && fstatat(dfd, "log", &b, AT_SYMLINK_NOFOLLOW) == 0 && a.st_ino != b.st_ino) {
            int next = openat(dfd, "log", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (next >= 0) {
                ok = copy_fd(cur);
                close(cur);
                cur = next;
                ok = ok && copy_fd(cur);
            }
        }
        if (ended)
            break;
    }
    if (mfd >= 0)
        close(mfd);
    close(cur);
    close(dfd);
    if (!ok)
        fprintf(stderr, "sandbox: logs %s: write: %s\n", name, errno_name(errno));
    return ok ? 0 : 1;
}

/* ------------------------------------------------------------------------------------------ */

int verbs_main(int argc, char **argv)
{
    verb = argv[1];
    signal(SIGPIPE, SIG_DFL); /* `sandbox logs x | head` ends quietly */
    if (runtime_base(base, sizeof base) < 0) {
        fprintf(stderr, "sandbox: %s: the runtime dir's path is too long (SANDBOX_RUNTIME_DIR, XDG_RUNTIME_DIR)\n", verb);
        return strcmp(verb, "wait") == 0 ? 125 : 1;
    }
    if (strcmp(verb, "ps") == 0)
        return ps_main(argc, argv);
    if (strcmp(verb, "down") == 0)
        return down_main(argc, argv);
    if (strcmp(verb, "wait") == 0)
        return wait_main(argc, argv);
    return logs_main(argc, argv);
}
