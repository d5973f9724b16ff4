#!/usr/bin/env bash
# The command-line tools on the shipped checkpoint, as a person runs them (lavapipe, validation on).
# usage: run_cli_test.sh MOBIQUANT SOURCE_DIR routed_logits|kl|bad_input|bench_cpu WORKDIR
set -uo pipefail
mq=$1 src=$2 mode=$3 work=$4
source "$(dirname "$0")/../support/program_test_env.sh"
ckpt=$src/assets/default-mobiquant.gguf fp=$src/assets/default-model.gguf text=$src/assets/heldout.txt
json_number() { sed -n "s/.*\"$1\":\([-0-9.eE+]*\).*/\1/p"; }  # json_number KEY < one JSON line
# expect_error MESSAGE COMMAND...: fails with an exit code (not a signal: no crash) and says
# MESSAGE on stderr
expect_error() {
    local want=$1 rc
    shift
    "$@" > "$work/out.txt" 2> "$work/err.txt"
    rc=$?
    [ $rc -ge 1 ] && [ $rc -lt 128 ] || die "\"$*\" exited $rc, expected an error: $(cat "$work/err.txt")"
    grep -q "$want" "$work/err.txt" || die "\"$*\" did not say \"$want\": $(cat "$work/err.txt")"
}

case "$mode" in
routed_logits)
    # `logits --budget` and `perplexity --budget` route the same way: the perplexity computed from
    # the written logits equals the one `perplexity` prints over the same 16 tokens.
    head -c 2000 "$text" > "$work/text.txt"
    ids=$("$mq" tokenize -m "$ckpt" --no-bos < "$work/text.txt" | tr -s ' \n' ' ' | cut -d' ' -f1-16)
    [ "$(echo $ids | wc -w)" -eq 16 ] || die "tokenize gave no 16 ids: $ids"
    input="1 $(echo $ids | cut -d' ' -f1-15)"  # [BOS] + ids[:-1], as the perplexity protocol
    for budget in 3 6.5; do
        "$mq" logits -m "$ckpt" --budget $budget --ids "$input" -o "$work/logits.bin" 2> /dev/null ||
            die "logits --budget $budget failed"
        from_logits=$(od -An -v -f -w16384 "$work/logits.bin" | awk -v ids="$ids" '
            BEGIN { n = split(ids, y, " ") }
            { m = -1e30; for (i = 1; i <= NF; i++) if ($i > m) m = $i
              s = 0; for (i = 1; i <= NF; i++) s += exp($i - m)
              nll += -($(y[NR] + 1) - m - log(s)) }
            END { if (NR != n) exit 1; printf "%.6f\n", exp(nll / NR) }') ||
            die "the logits file does not hold 16 rows of the vocabulary"
        printed=$("$mq" perplexity -m "$ckpt" -t "$work/text.txt" --max-tokens 16 --budget $budget \
            --json 2> /dev/null | json_number ppl)
        echo "budget $budget: perplexity from logits $from_logits, printed $printed"
        awk -v a="$from_logits" -v b="$printed" 'BEGIN { d = a - b; exit !(b > 1 && d * d < (1e-4 * b) ^ 2) }' ||
            die "logits --budget $budget does not give the perplexity that perplexity --budget does"
    done
    ;;
kl)
    # --kl-from: positive at 3 bits, larger than at 6.5 bits, and none from the model itself.
    kl() { "$mq" perplexity -t "$text" --max-tokens 128 --json "$@" 2> /dev/null | json_number kl; }
    k3=$(kl -m "$ckpt" --budget 3 --kl-from "$fp") k65=$(kl -m "$ckpt" --budget 6.5 --kl-from "$fp")
    k0=$(kl -m "$fp" --kl-from "$fp")
    echo "KL from full precision: 3 bits $k3, 6.5 bits $k65, itself $k0"
    awk -v a="$k3" -v b="$k65" -v c="$k0" 'BEGIN { exit !(a > b && b > 0 && c < 1e-7 && c != "") }' ||
        die "KL from full precision is not ordered as the bits are"
    ;;
bad_input)
    expect_error "not a GGUF file" "$mq" perplexity -t "$text" --max-tokens 16 --kl-from "$text"
    expect_error "is not a token id" "$mq" logits --ids "1 two 3" -o "$work/l.bin"
    [ -e "$work/l.bin" ] && die "a failed logits run left its output file"
    expect_error "not in range" "$mq" eval --budgets 9 --routed-only
    ;;
bench_cpu)
    # bench-kernels --backend cpu: a row per depth and dense format at one token and a batch,
    # figures that are numbers, and a clear error for a SIMD level the CPU lacks.
    "$mq" bench-kernels --backend cpu --shapes 40x300 --tokens 3 --reps 2 --rotate-mib 1 --threads 2 \
        --json > "$work/bench.json" 2> "$work/err.txt" || die "bench-kernels --backend cpu failed: $(cat "$work/err.txt")"
    rows=$(tr -d ' \n' < "$work/bench.json" | grep -o '"kind":"[a-z_0-9]*"' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
    echo "rows: $rows"
    [ "$rows" = ' 2 "kind":"dense_f16"; 2 "kind":"dense_f32"; 8 "kind":"mobislice";' ] ||
        die "bench-kernels --backend cpu did not time every kernel: $rows"
    gbs=$(tr -d ' \n' < "$work/bench.json" | json_number read_gbs)
    awk -v g="$gbs" 'BEGIN { exit !(g > 0) }' || die "no read bandwidth in the JSON: $gbs"
    expect_error "is not available" "$mq" bench-kernels --backend cpu --simd NO_SUCH_LEVEL
    ;;
*) die "unknown mode $mode" ;;
esac
echo PASS
