#!/bin/sh
# Rebuild the default model end to end: corpus -> tokenizer -> training ->
# GGUF export -> independent check -> samples.  Writes scratch files to
# tools/work/ (gitignored) and the results to assets/.
#
#   tools/train/retrain.sh            # 65-minute training budget (the shipped model)
#   MINUTES=5 tools/train/retrain.sh  # quick trial
#   RESUME=1 tools/train/retrain.sh   # continue an interrupted run from tools/work/run/ckpt.pt
#   RUN=../work/trial ASSETS=../work/trial tools/train/retrain.sh   # keep the shipped files
#
# Needs Debian 12 packages (Debian's /usr/bin/python3, not a pyenv/venv python):
#   apt-get install python3-torch python3-numpy python3-sentencepiece libopenblas0-pthread
# Training uses one thread (THREADS=1) because OpenMP threads spin on a busy core: on a shared
# 2-core machine a 2-thread run can be 10x slower than a 1-thread one.
set -eu
cd "$(dirname "$0")"
PY=/usr/bin/python3
MINUTES=${MINUTES:-65}
THREADS=${THREADS:-1}
ASSETS=${ASSETS:-../../assets}
RUN=${RUN:-../work/run}

$PY -c 'import torch, sentencepiece, numpy' 2>/dev/null || {
    echo "error: install python3-torch python3-numpy python3-sentencepiece libopenblas0-pthread" >&2
    exit 1
}
mkdir -p "$RUN" "$ASSETS"

if [ "${RESUME:-0}" = 1 ]; then
    $PY train_model.py --out "$RUN" --resume --threads "$THREADS"
else
    $PY build_corpus.py
    $PY train_tokenizer.py
    $PY train_model.py --out "$RUN" --minutes "$MINUTES" --threads "$THREADS"
fi
cp ../work/corpus/heldout.txt ../work/corpus/calibration.txt "$ASSETS"/
$PY export_gguf.py --ckpt "$RUN/ckpt.pt" --out "$ASSETS/default-model.gguf"
$PY check_gguf.py --gguf "$ASSETS/default-model.gguf" --ckpt "$RUN/ckpt.pt" --json "$RUN/check.json"
$PY sample.py --ckpt "$RUN/ckpt.pt" --markdown > "$RUN/samples.md"
$PY sample.py --ckpt "$RUN/ckpt.pt" --markdown --temperature 0 --tokens 60 \
    --prompt "Elizabeth looked at her sister and said" > "$RUN/samples-greedy.md"
$PY report.py --run "$RUN" > "$RUN/report.md"
echo "done: $ASSETS/default-model.gguf; curve, perplexity and samples in $RUN/report.md"
