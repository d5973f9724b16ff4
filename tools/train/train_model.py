#!/usr/bin/python3
"""Train the default model (LLaMA architecture, see model.py) on CPU.

Wall-clock budgeted: the learning rate follows a linear warm-up and then a
cosine decay to 10 % over --minutes of training time; at the deadline the
run evaluates, saves and stops.  Checkpoints (model + optimizer + RNG state)
are written every --ckpt-minutes to OUT/ckpt.pt; --resume continues from it
(the schedule continues where it stopped).  The training curve goes to
OUT/train_log.csv.

Training windows: a random 256-token slice w of the training token stream
(SentencePiece encoding of train.txt as one text, paragraphs separated by
"\n"), input [BOS] + w[:-1], targets w — the same layout as the held-out
protocol in model.eval_windows.

Use Debian's /usr/bin/python3 (python3-torch, python3-sentencepiece and
libopenblas0-pthread).  Use one thread on a shared machine (OpenMP threads
spin on a busy core and a 2-thread run can become 10x slower).
"""
import argparse
import csv
import json
import math
import os
import sys
import time
import zlib

import numpy as np
import sentencepiece as spm
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import BOS_ID, Config, Llama, count_params, heldout_nll  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.abspath(os.path.join(HERE, "..", "work"))


def encode_file(sp, path, cache):
    """Token ids of the whole file as one text (cached as uint16 .npy)."""
    tok_model = sp.serialized_model_proto()
    key = "%d-%d-%d" % (os.path.getsize(path), int(os.path.getmtime(path)), zlib.crc32(tok_model))
    if os.path.exists(cache) and os.path.exists(cache + ".key") and open(cache + ".key").read() == key:
        return np.load(cache)
    text = open(path, encoding="utf-8").read()
    ids = np.array(sp.encode(text), dtype=np.uint16)
    np.save(cache, ids)
    open(cache + ".key", "w").write(key)
    return ids


def cpu_has_bf16():
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default=os.path.join(WORK, "corpus", "train.txt"))
    ap.add_argument("--heldout", default=os.path.join(WORK, "corpus", "heldout.txt"))
    ap.add_argument("--tokenizer", default=os.path.join(WORK, "tokenizer.model"))
    ap.add_argument("--out", default=os.path.join(WORK, "run"), help="checkpoint / log directory")
    ap.add_argument("--minutes", type=float, default=None,
                    help="wall-clock training budget (default 65; on --resume: the checkpoint's)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0 = budget only)")
    ap.add_argument("--dim", type=int, default=192)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=3)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=50, help="warm-up steps")
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto",
                    help="bf16 autocast or plain fp32; auto = bf16 only when the CPU has native bf16 "
                         "(avx512_bf16 / amx_bf16): without it bf16 is ~20x slower than fp32")
    ap.add_argument("--log-every", type=int, default=25)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--eval-windows", type=int, default=0, help="limit periodic eval windows (0 = all)")
    ap.add_argument("--ckpt-minutes", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
    train = encode_file(sp, args.train, os.path.join(WORK, "train_tokens.npy")).astype(np.int64)
    held = encode_file(sp, args.heldout, os.path.join(WORK, "heldout_tokens.npy")).tolist()
    print("train tokens %d, held-out tokens %d" % (len(train), len(held)), flush=True)

    ckpt_path = os.path.join(args.out, "ckpt.pt")
    log_path = os.path.join(args.out, "train_log.csv")
    bf16 = args.precision == "bf16" or (args.precision == "auto" and cpu_has_bf16())
    if args.resume:
        ck = torch.load(ckpt_path)
        cfg = Config.from_dict(ck["config"])
        args.lr = ck["args"]["lr"]
        if args.minutes is None:
            args.minutes = ck["args"]["minutes"]
    else:
        if args.minutes is None:
            args.minutes = 65.0
        cfg = Config(vocab_size=sp.get_piece_size(), dim=args.dim, n_layers=args.layers, n_heads=args.heads,
                     n_kv_heads=args.kv_heads, ffn_dim=args.ffn, ctx=args.ctx, dropout=args.dropout)
    torch.manual_seed(args.seed)
    model = Llama(cfg)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    step, tokens_seen, elapsed0 = 0, 0, 0.0
    rng = np.random.default_rng(args.seed)
    if args.resume:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, tokens_seen, elapsed0 = ck["step"], ck["tokens"], ck["elapsed"]
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        print("resumed at step %d (%.1f min)" % (step, elapsed0 / 60), flush=True)
    print("params %d (%s), bf16=%s, threads=%d, budget %.1f min" %
          (count_params(model), json.dumps(cfg.to_dict()), bf16, args.threads, args.minutes), flush=True)

    budget = args.minutes * 60.0
    new_log = not (args.resume and os.path.exists(log_path))
    logf = open(log_path, "a" if not new_log else "w", newline="")
    log = csv.writer(logf)
    if new_log:
        log.writerow(["step", "tokens", "minutes", "lr", "train_loss", "val_loss", "val_ppl", "tok_per_s"])

    def lr_at(step, elapsed):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        frac = min(1.0, elapsed / budget)
        mn = args.lr * args.min_lr_frac
        return mn + 0.5 * (args.lr - mn) * (1 + math.cos(math.pi * frac))

    def evaluate():
        nll, n = heldout_nll(model, held, cfg.ctx, bf16=bf16, max_windows=args.eval_windows or None)
        return nll / n

    def save(elapsed):
        tmp = ckpt_path + ".tmp"
        torch.save({"config": cfg.to_dict(), "model": model.state_dict(), "optimizer": opt.state_dict(),
                    "step": step, "tokens": tokens_seen, "elapsed": elapsed, "rng": rng.bit_generator.state,
                    "torch_rng": torch.get_rng_state(), "args": vars(args)}, tmp)
        os.replace(tmp, ckpt_path)

    T, B = cfg.ctx, args.batch
    start = time.time()
    last_ckpt = start
    win_loss, win_n, win_t, win_tok = 0.0, 0, time.time(), 0
    model.train()
    while True:
        elapsed = elapsed0 + time.time() - start
        done = elapsed >= budget or (args.max_steps and step >= args.max_steps)
        if done or (step > 0 and step % args.eval_every == 0):
            vl = evaluate()
            tl = win_loss / win_n if win_n else float("nan")
            print("step %6d  tokens %9d  %6.1f min  val %.4f  ppl %.2f" %
                  (step, tokens_seen, elapsed / 60, vl, math.exp(vl)), flush=True)
            log.writerow([step, tokens_seen, "%.2f" % (elapsed / 60), "%.3g" % lr_at(step, elapsed),
                          "%.4f" % tl, "%.4f" % vl, "%.2f" % math.exp(vl), ""])
            logf.flush()
        if done:
            save(elapsed)
            break
        lr = lr_at(step, elapsed)
        for g in opt.param_groups:
            g["lr"] = lr
        starts = rng.integers(0, len(train) - T, size=B)
        y = torch.from_numpy(np.stack([train[s:s + T] for s in starts]))
        x = torch.cat([torch.full((B, 1), BOS_ID, dtype=torch.long), y[:, :-1]], dim=1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens_seen += B * T
        win_loss += loss.item()
        win_n += 1
        win_tok += B * T
        if step % args.log_every == 0:
            now = time.time()
            tps = win_tok / (now - win_t)
            print("step %6d  loss %.4f  lr %.2e  %5.0f tok/s  %6.1f min" %
                  (step, win_loss / win_n, lr, tps, (elapsed0 + now - start) / 60), flush=True)
            log.writerow([step, tokens_seen, "%.2f" % ((elapsed0 + now - start) / 60), "%.3g" % lr,
                          "%.4f" % (win_loss / win_n), "", "", "%.0f" % tps])
            logf.flush()
            win_loss, win_n, win_t, win_tok = 0.0, 0, now, 0
        if time.time() - last_ckpt > args.ckpt_minutes * 60:
            save(elapsed0 + time.time() - start)
            last_ckpt = time.time()
    logf.close()
    print("saved", ckpt_path, flush=True)


if __name__ == "__main__":
    main()
