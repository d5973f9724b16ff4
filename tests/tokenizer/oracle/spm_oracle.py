#!/usr/bin/env python3
"""SentencePiece oracle for the tokenizer conformance tests.

  spm_oracle.py encode MODEL OUT.json NAME   ids of every corpus.json string under MODEL
  spm_oracle.py train OUTDIR                 trains two small BPE models with Debian's spm_train
                                             (byte fallback, identity normalization) on a
                                             generated text and writes OUTDIR/<model>.json ids

Needs Debian's `sentencepiece` (spm_train) and `python3-sentencepiece`. The committed
expected/llama2-spm.json comes from `encode` on the real Llama 2 tokenizer.model.
"""
import json
import os
import random
import subprocess
import sys

import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def corpus():
    with open(os.path.join(HERE, "corpus.json"), encoding="utf-8") as f:
        return json.load(f)


def encode(model, out, name):
    sp = spm.SentencePieceProcessor(model_file=model)
    cases = [{"text": t, "ids": sp.encode(t, out_type=int)} for t in corpus()]
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"oracle": "sentencepiece " + spm.__version__, "model": name,
                   "options": "no bos/eos", "cases": cases}, f, ensure_ascii=False)
        f.write("\n")
    print(f"{out}: {len(cases)} strings")


def training_text(path):
    # The README plus generated sentences: words, numbers, code, several scripts and emoji, so
    # that merges, digits, whitespace and byte fallback (for the rarest characters) all occur.
    rng = random.Random(1234)
    words = ("the model reads a file and writes tokens to the stream while quantized weights "
             "load from disk every layer picks how many slices it needs per token budget "
             "café naïve über señor Москва привет 你好 世界 東京 한국 😀 🦙 int main return "
             "printf std::vector const auto 2024 3.14 42 1000000").split()
    lines = []
    readme = os.path.join(ROOT, "README.md")
    if os.path.exists(readme):
        with open(readme, encoding="utf-8") as f:
            lines += f.read().splitlines()
    for _ in range(3000):
        n = rng.randint(3, 14)
        line = " ".join(rng.choice(words) for _ in range(n))
        if rng.random() < 0.3:
            line = line.capitalize() + rng.choice([".", "!", "?", ",", ":"])
        if rng.random() < 0.1:
            line = "    " + line
        lines.append(line)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def train(outdir):
    os.makedirs(outdir, exist_ok=True)
    text = os.path.join(outdir, "train.txt")
    training_text(text)
    common = ["--input=" + text, "--model_type=bpe", "--byte_fallback=true",
              "--normalization_rule_name=identity", "--character_coverage=0.9995",
              "--num_threads=1", "--minloglevel=2"]
    models = {
        # SentencePiece's defaults: extra whitespace removed, dummy prefix added.
        "spm-default": ["--vocab_size=600"],
        # Llama-style: whitespace kept as is, digits split, two user-defined pieces.
        "spm-llama-style": ["--vocab_size=900", "--remove_extra_whitespaces=false",
                            "--split_digits=true", "--user_defined_symbols=<tool>,@@"],
    }
    for name, extra in models.items():
        prefix = os.path.join(outdir, name)
        subprocess.run(["spm_train", "--model_prefix=" + prefix] + common + extra, check=True,
                       stdout=subprocess.DEVNULL)
        encode(prefix + ".model", prefix + ".json", name)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "encode":
        encode(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 3 and sys.argv[1] == "train":
        train(sys.argv[2])
    else:
        sys.exit(__doc__)
