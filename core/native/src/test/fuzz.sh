#!/bin/sh
# Builds the plan parser's libFuzzer target (clang, -fsanitize=fuzzer,address,undefined) and runs it
# for a bounded time, starting from the seed plans. Called by Maven (core/native/pom.xml, phase test):
#   fuzz.sh SRC_DIR BUILD_DIR SECONDS
# Without clang or its fuzzer runtime the run is skipped with the reason printed (exit 0). A crash,
# a leak or a failed invariant fails the build; the input is kept in BUILD_DIR/fuzz/ (crash-*).
# A longer run by hand: docs/architecture.md ("The plan parser: unit tests and fuzzing").
set -eu
src=$1
build=$2
seconds=$3
clang=${CLANG:-clang}
out=$build/fuzz
mkdir -p "$out/corpus"

skip() {
    echo "plan-fuzz: SKIPPED: $1 (install clang and libclang-rt-14-dev, or set CLANG=clang-NN; .ci/run installs them)"
    exit 0
}

command -v "$clang" >/dev/null 2>&1 || skip "no '$clang' in PATH"
probe=$out/probe.c
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$probe"
if ! "$clang" -fsanitize=fuzzer,address,undefined -o "$out/probe" "$probe" >"$out/probe.log" 2>&1; then
    skip "$clang can't build a libFuzzer target ($(head -n 1 "$out/probe.log"))"
fi

"$clang" -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Wall -Wextra -Werror \
    -o "$out/plan-fuzz" "$src/test/plan_fuzz.c" "$src/plan.c" "$src/errors.c" "$src/control.c" "$src/ns.c" \
    "$src/mount.c" "$src/process.c" "$src/seccomp.c" "$src/host.c" "$src/resources.c" "$src/usernet.c" "$src/journal.c" "$src/netlink.c" -lseccomp

echo "plan-fuzz: fuzzing the plan parser for ${seconds} s (seeds: $src/test/seeds)"
# The corpus grows in BUILD_DIR (target/), the committed seeds stay as they are. -dict: the words of
# the format, so the fuzzer reaches the structure checks behind the op table sooner.
cd "$out"
if ! ./plan-fuzz -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
        -dict="$src/test/plan.dict" corpus "$src/test/seeds" >plan-fuzz.log 2>&1; then
    tail -n 60 plan-fuzz.log
    echo "plan-fuzz: FAILED; the input is in $out (crash-*, leak-*, timeout-*); reproduce: $out/plan-fuzz <file>"
    exit 1
fi
grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' plan-fuzz.log | tr '\n' ' '
echo
echo "plan-fuzz: no failure in ${seconds} s"
