/*
 * seccomp.c: the seccomp step: a filter built with libseccomp (as runc and crun do) from the plan's
 * default action, architectures and rules, then loaded; the last step before exec.
 */
#include "runtime.h"

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

/* `rule=<action> <name>[,<name>...] [<arg>]...` */
static void seccomp_rule(scmp_filter_ctx ctx, uint32_t def, const char *text)
{
    char *copy = strdup(text), *rest = copy;
    if (!copy)
        die(125, "strdup", NULL, NULL, ENOMEM, NULL);
    char *action = strsep(&rest, " "), *names = strsep(&rest, " ");
    uint32_t act;
    if (!names || !*names || !seccomp_action(action, strlen(action), &act))
        bad_value("rule=%s: expected '<action> <syscall>[,<syscall>...] [<index>:<op>:<value>[:<value2>]]...'", text);
    struct scmp_arg_cmp args[6];
    unsigned nargs = 0;
    for (char *arg; (arg = strsep(&rest, " ")) != NULL;) {
        if (nargs == 6 || !seccomp_arg(arg, &args[nargs++]))
            bad_value("rule=%s: bad argument condition (at most 6 of <index 0..5>:<ne|lt|le|eq|ge|gt|masked_eq>:"
                      "<value>[:<value2>], masked_eq with both)", text);
    }
    /* A rule with the filter's default action changes nothing; libseccomp refuses it (EACCES). */
    if (act == def) {
        free(copy);
        return;
    }
    for (char *name; (name = strsep(&names, ",")) != NULL;) {
        if (!*name)
            bad_value("rule=%s: empty syscall name", text);
        int nr = seccomp_syscall_resolve_name(name);
        if (nr == __NR_SCMP_ERROR)
            continue; /* unknown on this architecture: skipped, as runc does */
        int rc = seccomp_rule_add_array(ctx, act, nr, nargs, args);
        if (rc == -EEXIST)
            continue; /* the same rule is already there */
        if (rc < 0)
            die(125, "seccomp_rule_add", NULL, name, -rc, "libseccomp refused the rule for this syscall");
    }
    free(copy);
}

void op_seccomp(const struct step *s)
{
    const char *dv = get(s, "default");
    uint32_t def;
    if (!seccomp_action(dv, strlen(dv), &def))
        bad_value("default=%s is not a seccomp action (allow, errno:<n>, kill-thread, kill-process, trap, log, "
                  "trace:<n>)", dv);
    scmp_filter_ctx ctx = seccomp_init(def);
    if (!ctx)
        die(125, "seccomp_init", NULL, NULL, EINVAL, "libseccomp could not create a filter");
    /* Why: libseccomp sets no_new_privs by default when loading; only the no-new-privs step may. */
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    if (rc < 0)
        die(125, "seccomp_attr_set(SCMP_FLTATR_CTL_NNP)", NULL, NULL, -rc, NULL);
    /* the kernel's errno from seccomp_load, not libseccomp's ECANCELED (libseccomp >= 2.5) */
    (void)seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
    for (int i = 0; i < s->nkv; i++) {
        if (strcmp(s->kv[i].key, "arch") != 0)
            continue;
        uint32_t arch = seccomp_arch_resolve_name(s->kv[i].val);
        if (!arch)
            bad_value("arch=%s is not an architecture libseccomp knows (x86_64, x86, x32, aarch64, arm, ...)",
                      s->kv[i].val);
        rc = seccomp_arch_add(ctx, arch);
        if (rc < 0 && rc != -EEXIST) /* the native one is always there */
            die(125, "seccomp_arch_add", NULL, s->kv[i].val, -rc, NULL);
    }
    for (int i = 0; i < s->nkv; i++)
        if (strcmp(s->kv[i].key, "rule") == 0)
            seccomp_rule(ctx, def, s->kv[i].val);
    rc = seccomp_load(ctx);
    if (rc < 0) {
        int err = -rc;
        bool nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
        const char *hint = (err == EACCES || err == EPERM) && !nnp
            ? "loading a seccomp filter needs no_new_privs or CAP_SYS_ADMIN: place the seccomp step after "
              "no-new-privs, or before setresuid/capabilities drop CAP_SYS_ADMIN; when sandbox runs inside another "
              "sandbox, the outer one needs `process.seccomp: unconfined` and capabilities"
            : err == EINVAL ? "the kernel refused the filter (too many filters or instructions, or an action it lacks)"
            : g.filtered ? "a filter loaded by an earlier seccomp step may deny seccomp(2) or prctl(2), which loading "
                           "this one needs"
            : NULL;
        seccomp_release(ctx);
        die(125, "seccomp_load", NULL, NULL, err, hint);
    }
    seccomp_release(ctx);
}
