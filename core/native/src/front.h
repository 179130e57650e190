/* front.h: the native front of `sandbox up` (front.c), for main.c and the C tests. */
#ifndef SANDBOX_FRONT_H
#define SANDBOX_FRONT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf {
    char *p;
    size_t len, cap;
};

void front_buf_add(struct buf *b, const char *s, size_t n);
/* one token of an entry: bytes outside 0x21..0x7e and '%' as %XX (NativeIndex.escape) */
void front_escape(struct buf *b, const char *s, size_t n);
/* FNV-1a 64 over the key material: the entry's file name (NativeIndex.fnv1a64) */
uint64_t front_fnv1a64(const char *s, size_t n);
/* SHA-256 of n bytes as 64 lowercase hex digits and a NUL (the content digest of a racily clean input) */
/* SHA-256 of DATA as 64 hex digits; false when libcrypto is not there (front.c) */
bool front_sha256(const void *data, size_t n, char hex[65]);
/* whether path is a regular file of size bytes (decimal) whose SHA-256 is hex: an entry's `digest` line */
bool front_digest_matches(const char *path, const char *size, const char *hex);
/* whether an environment variable is part of the key (NativeIndex.keyed) */
bool front_env_keyed(const char *name, size_t n);
/* `sandbox-init up ARGS...`: returns with *argv = `run --plan ...` on a hit; execs the launcher on a miss */
void front_main(int *argc, char ***argv);
/* the distribution's home from /proc/self/exe (<home>/libexec/sandbox-init or <home>/bin/sandbox) */
bool front_home(char *home, size_t n);
/* the launcher script to exec for everything the binary doesn't do itself */
void front_launcher(const char *home, char *out, size_t n);
/* `sandbox-init source-stamp write|check HOME STAMP`: the source checkout launcher's staleness check */
int source_stamp_main(int argc, char **argv);
#endif
