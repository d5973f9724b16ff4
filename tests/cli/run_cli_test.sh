#!/usr/bin/env bash
# The command-line tools on the shipped checkpoint, as a person runs them (lavapipe, validation on).
# usage: run_cli_test.sh MOBIQUANT SOURCE_DIR
#        routed_logits|kl|cpu|hard_model|bad_input|bench_cpu|bench_vulkan|long_chat|whatif|target_tps
#        WORKDIR
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
cpu)
    # --device cpu (or MOBIQUANT_DEVICE=cpu) runs generate and chat on the CPU backend, `devices`
    # lists it, and its routed perplexity is the Vulkan forward's within the int8 activations'
    # noise (the routers choose the same depths but for a few in a thousand).
    "$mq" devices > "$work/devices.txt" || die "devices failed"
    grep -q "cpu: CPU backend" "$work/devices.txt" || die "devices does not list the CPU backend"
    "$mq" generate --device cpu --threads 2 -m "$ckpt" --budget 4 -n 8 --temp 0 --json \
        > "$work/gen.jsonl" 2> "$work/gen.err" || die "generate --device cpu failed: $(cat "$work/gen.err")"
    [ "$(grep -c '"bits"' "$work/gen.jsonl")" -ge 1 ] || die "generate --device cpu gave no tokens"
    printf 'Hello there\n/budget 6\nWho are you?\n' |
        "$mq" chat --device cpu --threads 2 -m "$ckpt" --budget 3 -n 6 > "$work/chat.txt" 2> "$work/chat.err" ||
        die "chat --device cpu failed: $(cat "$work/chat.err")"
    ! grep -q "error" "$work/chat.err" && [ "$(grep -c . "$work/chat.txt")" -ge 2 ] ||
        die "chat --device cpu did not answer both turns: $(cat "$work/chat.txt" "$work/chat.err")"
    MOBIQUANT_DEVICE=cpu "$mq" generate -m "$ckpt" -n 4 --temp 0 > /dev/null 2> "$work/env.err" ||
        die "MOBIQUANT_DEVICE=cpu generate failed: $(cat "$work/env.err")"
    grep -q "on CPU" "$work/env.err" || die "MOBIQUANT_DEVICE=cpu did not run on the CPU: $(cat "$work/env.err")"
    ppl() { "$mq" perplexity -m "$ckpt" -t "$text" --max-tokens 128 --budget 4 --json "$@" 2> /dev/null | json_number ppl; }
    p_cpu=$(ppl --device cpu --threads 2) p_gpu=$(ppl)
    echo "routed 4-bit perplexity over 128 tokens: CPU backend $p_cpu, Vulkan $p_gpu"
    awk -v a="$p_cpu" -v b="$p_gpu" 'BEGIN { d = (a - b) / b; exit !(b > 1 && d * d < 0.005 ^ 2) }' ||
        die "the CPU backend's perplexity is not the Vulkan forward's"
    expect_error "no Vulkan device matches" "$mq" generate --device no-such-device -n 1
    ;;
hard_model)
    # assets/hard-model.gguf is what `outliers` makes of the bundled model with its defaults, and
    # scores the held-out text as the bundled model does (the transform keeps the function).
    "$mq" outliers -m "$fp" -o "$work/hard.gguf" > /dev/null 2>&1 || die "outliers failed"
    cmp -s "$work/hard.gguf" "$src/assets/hard-model.gguf" ||
        die "outliers with its defaults does not reproduce assets/hard-model.gguf"
    ppl() { "$mq" perplexity -m "$1" -t "$text" --max-tokens 256 --json 2> /dev/null | json_number ppl; }
    p_fp=$(ppl "$fp") p_hard=$(ppl "$work/hard.gguf")
    echo "perplexity on 256 held-out tokens: bundled model $p_fp, with outliers $p_hard"
    awk -v a="$p_fp" -v b="$p_hard" 'BEGIN { d = a - b; exit !(a > 1 && d * d < (1e-5 * a) ^ 2) }' ||
        die "the outlier transform changed the model's perplexity"
    ;;
bad_input)
    expect_error "checkpoint" "$mq" outliers -m "$ckpt" -o "$work/h.gguf"
    [ -e "$work/h.gguf" ] && die "a failed outliers run left its output file"
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
bench_vulkan)
    # bench-kernels takes its device as a model does (--device lavapipe included), times every
    # depth at one token and a batch, and says what the one-token MoBiSlice rows run: the mat-mat
    # on a CPU driver, the mat-vec on a GPU.
    if "$mq" devices | grep -q "(CPU, Vulkan"; then
        device=lavapipe runs="one-token mat-mat"
    else
        device=vulkan runs="mat-vec"
    fi
    "$mq" bench-kernels --device $device --shapes 40x300 --matmat-shapes 40x300 --tokens 3 --reps 2 \
        --json > "$work/bench.json" 2> "$work/err.txt" || die "bench-kernels --device $device failed: $(cat "$work/err.txt")"
    rows=$(tr -d ' \n' < "$work/bench.json" | grep -o '"kind":"[a-z_0-9]*"' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
    echo "device $device, rows: $rows"
    echo "$rows" | grep -q ' 2 "kind":"dense_f32"; 8 "kind":"mobislice";' ||
        die "bench-kernels --device $device did not time every kernel: $rows"
    one_token=$(tr -d '\n' < "$work/bench.json" | sed -n 's/.*"mobislice_one_token": *"\([^"]*\)".*/\1/p')
    echo "one-token MoBiSlice rows: $one_token"
    case $one_token in "$runs"*) ;; *) die "one-token MoBiSlice rows said \"$one_token\", expected \"$runs...\"" ;; esac
    expect_error "runs no Vulkan kernels" "$mq" bench-kernels --device cpu
    ;;
long_chat)
    # Eight questions through a pipe, far past a 256-token context: every one gets a reply (one
    # stats line each, none empty), the oldest turns are dropped on the way, and nothing fails.
    for q in "Tell me about the house." "What did Elizabeth say?" "And then?" \
        "Who came to dinner?" "Why?" "What happened next?" "Where did they go?" "Tell me more."; do
        echo "$q"
    done > "$work/questions.txt"
    "$mq" chat -m "$ckpt" --budget 4 --context 256 --seed 3 < "$work/questions.txt" \
        > "$work/out.txt" 2> "$work/err.txt" || die "chat exited $?: $(cat "$work/err.txt")"
    grep -q "^error" "$work/err.txt" && die "a turn failed: $(grep '^error' "$work/err.txt")"
    replies=$(grep -c "generated: " "$work/err.txt")
    empty=$(grep -c "| 0 generated" "$work/err.txt")
    dropped=$(grep -c "dropped the" "$work/err.txt")
    echo "replies $replies (empty $empty), context trimmed $dropped times"
    [ "$replies" -eq 8 ] || die "$replies replies to 8 questions: $(cat "$work/err.txt")"
    [ "$empty" -eq 0 ] || die "$empty replies were empty"
    [ "$dropped" -ge 1 ] || die "the conversation never outgrew the context: the test tests nothing"
    ;;
whatif)
    # Position 14 re-run at depths 1-4 and routed: five rows, KL 0 at depth 4, > 0 at depth 1.
    "$mq" whatif -m "$ckpt" --at 14 --json > "$work/w.json" 2> "$work/err.txt" ||
        die "whatif failed: $(cat "$work/err.txt")"
    python3 - "$work/w.json" <<'PY' || die "the what-if table is wrong: $(cat "$work/w.json")"
import json, sys
w = json.load(open(sys.argv[1]))
rows = w["rows"]
assert w["at"] == 14 and len(rows) == 5, w
assert [r["bits"] for r in rows[:4]] == [2, 4, 6, 8], rows
assert rows[3]["kl"] == 0 and rows[0]["kl"] > 0, [r["kl"] for r in rows]
assert all(len(r["top"]) == 5 for r in rows)
print("KL from depth 4:", [round(r["kl"], 6) for r in rows])
PY
    expect_error "beyond the context" "$mq" whatif -m "$ckpt" --context 64 --at 64
    expect_error "at is required" "$mq" whatif -m "$ckpt"
    ;;
target_tps)
    # The budget moves to hold a speed; the end line reports the speed and the mean budget.
    "$mq" generate -m "$ckpt" -n 48 --temp 0 --target-tps 30 > /dev/null 2> "$work/err.txt" ||
        die "generate --target-tps failed: $(cat "$work/err.txt")"
    line=$(grep "speed target:" "$work/err.txt") || die "no speed line: $(cat "$work/err.txt")"
    echo "$line"
    budget=$(echo "$line" | sed -n 's/.*mean budget \([0-9.]*\) bits.*/\1/p')
    awk -v b="$budget" 'BEGIN { exit !(b >= 2 && b <= 8) }' || die "mean budget $budget"
    expect_error "not in range\|positive" "$mq" generate -m "$ckpt" --target-tps 0
    expect_error "excludes" "$mq" generate -m "$ckpt" --target-tps 20 --depth 2
    ;;
*) die "unknown mode $mode" ;;
esac
echo PASS
