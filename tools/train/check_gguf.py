#!/usr/bin/python3
"""Independent check of an exported GGUF (shares no code with export_gguf.py).

1. Parses the GGUF file with its own small reader (header, metadata, tensor
   infos, aligned data section) and checks the llama.cpp metadata keys.
2. Rebuilds the model from the GGUF tensors alone in numpy (fp32 math),
   implementing llama.cpp's "llama" graph: RMSNorm, RoPE on adjacent pairs
   (LLAMA_ROPE_TYPE_NORM), GQA with q head h -> kv head h // (n_head/n_head_kv),
   SwiGLU, tied output (token_embd when output.weight is absent).
3. Computes held-out perplexity with the protocol of model.eval_windows and
   compares it with the PyTorch checkpoint's fp32 perplexity: must agree to
   within 1 %.
4. Re-implements llama.cpp's SPM tokenizer from tokenizer.ggml.tokens /
   scores / token_type only (dummy-prefix space, " " -> "▁", greedy
   best-score bigram merges, byte fallback) and checks that it produces the
   same ids as SentencePiece on the held-out and calibration texts and that
   decoding gives the text back.

Prints a JSON summary; exit status 1 when a check fails.
"""
import argparse
import heapq
import json
import os
import struct
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.abspath(os.path.join(HERE, "..", "work"))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))


# ------------------------------------------------------------------ reader
class GGUF:
    SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}

    def __init__(self, path):
        self.buf = open(path, "rb").read()
        self.pos = 0
        if self.buf[:4] != b"GGUF":
            raise ValueError("bad magic")
        self.pos = 4
        version, n_t, n_kv = self._u("<I"), self._u("<Q"), self._u("<Q")
        if version != 3:
            raise ValueError("version %d" % version)
        self.meta = {}
        for _ in range(n_kv):
            key = self._s()
            self.meta[key] = self._value(self._u("<I"))
        infos = []
        for _ in range(n_t):
            name = self._s()
            nd = self._u("<I")
            ne = [self._u("<Q") for _ in range(nd)]
            infos.append((name, ne, self._u("<I"), self._u("<Q")))
        align = self.meta.get("general.alignment", 32)
        data_start = (self.pos + align - 1) // align * align
        self.tensors, self.types = {}, {}
        for name, ne, gtype, off in infos:
            if off % align:
                raise ValueError("%s misaligned" % name)
            dt = {0: "<f4", 1: "<f2"}[gtype]
            count = int(np.prod(ne))
            a = np.frombuffer(self.buf, dtype=dt, count=count, offset=data_start + off)
            self.tensors[name] = a.reshape(tuple(reversed(ne))).astype(np.float32)
            self.types[name] = gtype

    def _u(self, fmt):
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def _s(self):
        n = self._u("<Q")
        s = self.buf[self.pos:self.pos + n].decode("utf-8")
        self.pos += n
        return s

    def _value(self, t):
        if t == 8:
            return self._s()
        if t == 9:
            et, n = self._u("<I"), self._u("<Q")
            return [self._value(et) for _ in range(n)]
        return self._u(self.SCALAR[t])


# ------------------------------------------------------------------ forward
def rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


class NumpyLlama:
    def __init__(self, g):
        m = g.meta
        self.L = m["llama.block_count"]
        self.nh = m["llama.attention.head_count"]
        self.nkv = m["llama.attention.head_count_kv"]
        self.dim = m["llama.embedding_length"]
        self.eps = m["llama.attention.layer_norm_rms_epsilon"]
        self.hd = self.dim // self.nh
        nrot = m["llama.rope.dimension_count"]
        base = m["llama.rope.freq_base"]
        ctx = m["llama.context_length"]
        theta = base ** (-np.arange(0, nrot, 2, dtype=np.float64) / nrot)
        ang = np.arange(ctx)[:, None] * theta[None, :]
        self.cos, self.sin = np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)
        self.t = g.tensors
        self.out = self.t.get("output.weight", self.t["token_embd.weight"])

    def rope(self, x):  # x: (T, H, hd), adjacent pairs
        T = x.shape[0]
        x0, x1 = x[..., 0::2], x[..., 1::2]
        c, s = self.cos[:T, None, :], self.sin[:T, None, :]
        y = np.empty_like(x)
        y[..., 0::2] = x0 * c - x1 * s
        y[..., 1::2] = x0 * s + x1 * c
        return y

    def logits(self, ids):
        t, T = self.t, len(ids)
        h = t["token_embd.weight"][ids]
        mask = np.triu(np.full((T, T), -np.inf, dtype=np.float32), 1)
        group = self.nh // self.nkv
        for i in range(self.L):
            b = "blk.%d." % i
            x = rms(h, t[b + "attn_norm.weight"], self.eps)
            q = self.rope((x @ t[b + "attn_q.weight"].T).reshape(T, self.nh, self.hd))
            k = self.rope((x @ t[b + "attn_k.weight"].T).reshape(T, self.nkv, self.hd))
            v = (x @ t[b + "attn_v.weight"].T).reshape(T, self.nkv, self.hd)
            o = np.empty((T, self.nh, self.hd), dtype=np.float32)
            for hh in range(self.nh):
                kv = hh // group
                s = q[:, hh] @ k[:, kv].T / np.sqrt(self.hd) + mask
                s = np.exp(s - s.max(-1, keepdims=True))
                o[:, hh] = (s / s.sum(-1, keepdims=True)) @ v[:, kv]
            h = h + o.reshape(T, -1) @ t[b + "attn_output.weight"].T
            x = rms(h, t[b + "ffn_norm.weight"], self.eps)
            gte = x @ t[b + "ffn_gate.weight"].T
            up = x @ t[b + "ffn_up.weight"].T
            h = h + (gte / (1 + np.exp(-gte)) * up) @ t[b + "ffn_down.weight"].T
        return rms(h, t["output_norm.weight"], self.eps) @ self.out.T


def numpy_ppl(model, tokens, seq_len, bos):
    total, n = 0.0, 0
    for i in range(0, len(tokens), seq_len):
        w = tokens[i:i + seq_len]
        lg = model.logits(np.array([bos] + w[:-1])).astype(np.float64)
        lg -= lg.max(-1, keepdims=True)
        lp = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
        total -= lp[np.arange(len(w)), w].sum()
        n += len(w)
    return float(np.exp(total / n)), n


# ------------------------------------------------------------------ tokenizer
class SpmFromGGUF:
    """llama.cpp's llm_tokenizer_spm, from the GGUF vocabulary only."""

    def __init__(self, meta):
        self.pieces = meta["tokenizer.ggml.tokens"]
        self.scores = meta["tokenizer.ggml.scores"]
        self.types = meta["tokenizer.ggml.token_type"]
        self.ids = {p: i for i, p in enumerate(self.pieces) if self.types[i] in (1, 4)}
        self.byte_ids = {}
        for i, p in enumerate(self.pieces):
            if self.types[i] == 6:
                self.byte_ids[int(p[3:5], 16)] = i
        self.space_prefix = meta.get("tokenizer.ggml.add_space_prefix", True)

    def encode(self, text):
        if not text:
            return []
        if self.space_prefix:
            text = " " + text
        sym = list(text.replace(" ", "\u2581"))
        n = len(sym)
        prev, nxt = list(range(-1, n - 1)), list(range(1, n + 1))
        alive = [True] * n
        heap = []

        def push(l):
            r = nxt[l]
            if r >= n:
                return
            i = self.ids.get(sym[l] + sym[r])
            if i is not None:
                heapq.heappush(heap, (-self.scores[i], l, sym[l], sym[r]))

        for l in range(n - 1):
            push(l)
        while heap:
            _, l, a, b = heapq.heappop(heap)
            r = nxt[l] if alive[l] else n
            if not alive[l] or r >= n or sym[l] != a or sym[r] != b:
                continue  # stale entry
            sym[l] = a + b
            alive[r] = False
            nxt[l] = nxt[r]
            if nxt[r] < n:
                prev[nxt[r]] = l
            if prev[l] >= 0:
                push(prev[l])
            push(l)
        out = []
        for i in range(n):
            if not alive[i]:
                continue
            tid = self.ids.get(sym[i])
            if tid is not None:
                out.append(tid)
            else:
                out.extend(self.byte_ids[b] for b in sym[i].encode("utf-8"))
        return out

    def decode(self, ids):
        buf = bytearray()
        for i in ids:
            if self.types[i] == 6:
                buf.append(int(self.pieces[i][3:5], 16))
            elif self.types[i] in (1, 4):
                buf += self.pieces[i].replace("\u2581", " ").encode("utf-8")
        s = buf.decode("utf-8", errors="replace")
        return s[1:] if self.space_prefix and s.startswith(" ") else s


# ------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", default=os.path.join(ROOT, "assets", "default-model.gguf"))
    ap.add_argument("--ckpt", default=os.path.join(WORK, "run", "ckpt.pt"))
    ap.add_argument("--tokenizer", default=os.path.join(WORK, "tokenizer.model"))
    ap.add_argument("--heldout", default=os.path.join(ROOT, "assets", "heldout.txt"))
    ap.add_argument("--calibration", default=os.path.join(ROOT, "assets", "calibration.txt"))
    ap.add_argument("--max-windows", type=int, default=0, help="limit evaluation windows (0 = all)")
    ap.add_argument("--json", default="", help="also write the summary here")
    args = ap.parse_args()

    import sentencepiece as spm
    import torch
    sys.path.insert(0, HERE)
    from model import Config, Llama, heldout_nll

    failures = []
    g = GGUF(args.gguf)
    m = g.meta
    for key, want in [("general.architecture", "llama"), ("tokenizer.ggml.model", "llama"),
                      ("general.alignment", 32)]:
        if m.get(key) != want:
            failures.append("%s = %r, want %r" % (key, m.get(key), want))
    for key in ["general.name", "llama.vocab_size", "llama.context_length", "llama.embedding_length",
                "llama.block_count", "llama.feed_forward_length", "llama.rope.dimension_count",
                "llama.attention.head_count", "llama.attention.head_count_kv",
                "llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base", "tokenizer.ggml.tokens",
                "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id",
                "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_bos_token"]:
        if key not in m:
            failures.append("missing " + key)
    for name, t in g.types.items():
        if name.endswith("norm.weight") and t != 0:
            failures.append(name + " is not F32")

    # Tokenizer: vocabulary identical to SentencePiece's, and same encoding.
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
    n = sp.get_piece_size()
    if m["tokenizer.ggml.tokens"] != [sp.id_to_piece(i) for i in range(n)]:
        failures.append("GGUF pieces differ from SentencePiece's")
    if any(abs(a - sp.get_score(i)) > 0 for i, a in enumerate(m["tokenizer.ggml.scores"])):
        failures.append("GGUF scores differ from SentencePiece's")
    tok = SpmFromGGUF(m)
    tok_stats = {}
    for label, path in [("heldout", args.heldout), ("calibration", args.calibration)]:
        text = open(path, encoding="utf-8").read()
        mine, ref = tok.encode(text), sp.encode(text)
        same = mine == ref
        back = tok.decode(mine) == text and sp.decode(ref) == text
        tok_stats[label] = {"bytes": len(text.encode()), "tokens": len(ref), "ids_identical": same,
                            "round_trip": back}
        if not same:
            k = next((i for i, (a, b) in enumerate(zip(mine, ref)) if a != b), min(len(mine), len(ref)))
            failures.append("%s: GGUF tokenizer differs from SentencePiece at token %d: %r vs %r" %
                            (label, k, [tok.pieces[i] for i in mine[k:k + 5]], [sp.id_to_piece(i) for i in ref[k:k + 5]]))
        if not back:
            failures.append("%s: decode(encode(text)) != text" % label)
    for s in ["Hello, world!", "  two  spaces\tand a tab\n", "naïve café 日本語 🙂", "1234567 + 89 = ?", ""]:
        if tok.encode(s) != sp.encode(s) or tok.decode(tok.encode(s)) != s:
            failures.append("tokenizer mismatch on %r" % s)

    # Perplexity: numpy model from GGUF vs PyTorch checkpoint (fp32).
    held = sp.encode(open(args.heldout, encoding="utf-8").read())
    ctx = m["llama.context_length"]
    if args.max_windows:
        held = held[:args.max_windows * ctx]
    ppl_gguf, count = numpy_ppl(NumpyLlama(g), held, ctx, m["tokenizer.ggml.bos_token_id"])
    ck = torch.load(args.ckpt, map_location="cpu")
    model = Llama(Config.from_dict(ck["config"]))
    model.load_state_dict(ck["model"])
    torch.set_num_threads(1)
    nll, cnt = heldout_nll(model, held, ctx, bf16=False)
    ppl_torch = float(np.exp(nll / cnt))
    # Logits of one window, element-wise (catches layout errors even in an untrained model).
    probe = [m["tokenizer.ggml.bos_token_id"]] + held[:ctx - 1]
    with torch.no_grad():
        lt = model(torch.tensor([probe]))[0].numpy()
    lg = NumpyLlama(g).logits(np.array(probe))
    logit_err = float(np.abs(lg - lt).max() / np.abs(lt).max())
    if logit_err > 0.02:
        failures.append("logits differ: max |GGUF - PyTorch| / max |PyTorch| = %.4f" % logit_err)
    rel = abs(ppl_gguf - ppl_torch) / ppl_torch
    if rel > 0.01:
        failures.append("perplexity mismatch: GGUF %.4f vs PyTorch %.4f" % (ppl_gguf, ppl_torch))
    summary = {"gguf": os.path.relpath(args.gguf, ROOT), "bytes": os.path.getsize(args.gguf),
               "tensors": len(g.tensors), "metadata_keys": len(m),
               "heldout_tokens_scored": count, "seq_len": ctx, "stride": ctx,
               "ppl_pytorch_fp32": round(ppl_torch, 4), "ppl_gguf_numpy": round(ppl_gguf, 4),
               "relative_difference": round(rel, 6),
               "max_logit_error_relative": round(logit_err, 6), "tokenizer": tok_stats,
               "ok": not failures, "failures": failures}
    print(json.dumps(summary, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    sys.exit(0 if not failures else 1)


if __name__ == "__main__":
    main()
