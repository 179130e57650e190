/*
 * plan_fuzz.c: the libFuzzer target of the plan parser. Any input is a plan file; plan_parse()
 * must return (never exit, crash, leak or read out of bounds: built with ASan and UBSan), and what it
 * accepts must hold the structure it promises. The values of an accepted plan also go through the
 * number checks the executors use. Run by core/native/src/test/fuzz.sh (bounded; see
 * docs/architecture.md for a longer run by hand).
 */
#include "../runtime.h"

static const struct name_val some_names[] = { { "rdonly", 1 }, { "nosuid", 2 }, { "time", 4 }, { NULL, 0 } };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    struct plan plan;
    struct plan_error err;
    int rc = plan_parse(text, size, &plan, &err);
    if (rc != 0) {
        if (rc != -1 || !err.msg[0] || err.line < 0 || plan.steps || plan.nsteps)
            abort(); /* an error has a message and leaves nothing behind */
        free(text);
        return 0;
    }
    int clones = 0, execs = 0, inits = 0;
    for (int i = 0; i < plan.nsteps; i++) {
        const struct step *s = &plan.steps[i];
        if (s->line < 1 || !s->op || s->op->stage != s->stage || (i > 0 && s->stage < plan.steps[i - 1].stage))
            abort();
        if (execs && s->stage != ST_SUPERVISE)
            abort(); /* only supervise steps follow exec */
        clones += s->op->fn == op_clone;
        execs += s->op->fn == op_exec;
        inits += s->op->fn == op_init;
        if ((s->op->fn == NULL) != (s->op->executor == EX_MONITOR))
            abort();
        for (int k = 0; k < s->nkv; k++) {
            const char *v = s->kv[k].val;
            long long n;
            if (!s->kv[k].key[0] || strchr(s->kv[k].key, '=') || strchr(s->kv[k].key, '\t'))
                abort();
            parse_number(v, 10, LLONG_MIN, LLONG_MAX, &n);
            parse_number(v, 8, 0, 07777, &n);
            unsigned long *list = malloc(number_list_capacity(v) * sizeof *list);
            size_t count;
            if (list && parse_number_list(v, 4294967294UL, list, &count) && count > number_list_capacity(v))
                abort();
            free(list);
            lookup(some_names, v, strcspn(v, "|"));
        }
    }
    if (clones != 1 || execs != 1 || inits > 1)
        abort();
    plan_free(&plan);
    free(text);
    return 0;
}
