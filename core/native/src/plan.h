/*
 * plan.h: the plan model (stages, steps, the op table) and the parser of the plan file
 * (core/native/PROTOCOL.md, "Plan file"). The parser is pure: it reports a bad plan through its
 * return value and never exits, so the unit tests and the fuzz target call it directly.
 */
#ifndef SANDBOX_PLAN_H
#define SANDBOX_PLAN_H

#include <stdbool.h>
#include <stddef.h>

/* The eight stages in execution order (PROTOCOL.md, "Plan file"); host stages are the monitor's. */
enum stage { ST_PREPARE, ST_ENTER, ST_IDENTITY, ST_CLONE, ST_CONNECT, ST_MOUNTS, ST_FINISH, ST_SUPERVISE, ST_COUNT };
extern const char *const stage_names[ST_COUNT];

/* Who executes an op: the monitor M (host steps), the helper H (enter, clone) or the child C. */
enum executor { EX_MONITOR, EX_HELPER, EX_CHILD };
extern const char *const executor_names[3];

/* The first line of a canonical plan file; `sandbox-init run` requires it. */
#define PLAN_HEADER "# sandbox-plan 1"

struct kv { const char *key; const char *val; };
struct step;
typedef void (*op_fn)(const struct step *);
/* keys: space-separated; no marker = exactly once, '?' = at most once, '*' = any number, '+' = one or more */
/* fn is NULL for the monitor's ops: monitor.c dispatches them by name (their signatures differ). */
struct op { enum stage stage; const char *name; const char *keys; op_fn fn; enum executor executor; };
/* summary: the text of the `# ...` comment line right before the step (decoded), NULL without one */
struct step { int line; enum stage stage; const struct op *op; struct kv *kv; int nkv; const char *summary; };

extern const struct op ops[];
extern const size_t nops;

/* A parsed plan. The steps point into the text given to plan_parse, which must outlive them. */
struct plan {
    struct step *steps;
    int nsteps;
    const char *newroot;   /* the pivot-root step's path, NULL without one */
    bool init;             /* the plan has an init step */
    bool versioned;        /* line 1 is exactly PLAN_HEADER */
};

#define PLAN_MAX_SIZE (16 << 20)

struct plan_error {
    int line;              /* 1-based; 0 for the plan as a whole */
    char msg[512];
};

/* Parses `len` bytes of `text` (text[len] must be '\0'; decoded in place). Returns 0, or -1 with
 * *err filled and nothing allocated. Checks each line (stage, op, keys, escapes) and the structure
 * (stage order, one clone, one exec, at most one init; only supervise steps after exec). */
int plan_parse(char *text, size_t len, struct plan *plan, struct plan_error *err);
void plan_free(struct plan *plan);

/* Values. The pure checks return false for a malformed value; the executors' wrappers (runtime.h)
 * turn that into a setup error naming the key. */
bool parse_number(const char *v, int base, long long min, long long max, long long *out);
/* A comma list of decimal numbers <= max, no empty element (the empty string is the empty list);
 * `out` has room for number_list_capacity(v) entries. */
size_t number_list_capacity(const char *v);
bool parse_number_list(const char *v, unsigned long max, unsigned long *out, size_t *n);

struct name_val { const char *name; unsigned long val; };
const struct name_val *lookup(const struct name_val *t, const char *name, size_t len);
const char *get(const struct step *s, const char *key);

/* The length of the valid UTF-8 sequence starting at s (1..4), or 0 (the byte is not UTF-8). */
size_t utf8_len(const char *s);

#endif
