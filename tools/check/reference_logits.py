#!/usr/bin/python3
"""Independent oracle for the reference forward pass: LLaMA-family logits in float64 torch.

Shares no code with the C++ engine: a small GGUF reader of its own (header, metadata, tensor
infos, aligned data; F32/F16/BF16 tensors), then the whole sequence at once with a causal mask
(the C++ reference runs token by token over a KV cache, so the two paths differ):

  x = token_embd[ids]
  per layer: h = rmsnorm(x) * attn_norm; q, k, v = h W^T (+ b)
             rope per head (arch llama: GGUF "normal" layout, pairs (2i, 2i+1);
                            arch qwen2: "neox", pairs (i, i + head_dim/2)),
             angle = pos * theta^(-2i/rope_dim) / rope_freqs[i]
             grouped-query causal attention (q head h uses kv head h // (n_head / n_head_kv)),
             x += attn W_o^T; h = rmsnorm(x) * ffn_norm; x += (silu(h Wg^T) * h Wu^T) Wd^T
  logits = rmsnorm(x) * output_norm @ (output or token_embd)^T

Usage (Debian's python3 with python3-torch and python3-numpy):
  /usr/bin/python3 tools/check/reference_logits.py MODEL.gguf --ids "1 17 42"       # top-5 table
  /usr/bin/python3 tools/check/reference_logits.py MODEL.gguf --ids "1 17 42" \\
      --out fixture.json [--extra sidecar.json]      # every logit, for the C++ test fixtures
"""
import argparse
import json
import struct
import sys

import numpy as np
import torch


class GGUF:
    SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
              10: "<Q", 11: "<q", 12: "<d"}
    NUMPY = {0: np.float32, 1: np.float16, 28: np.float64}

    def __init__(self, path):
        with open(path, "rb") as f:
            self.buf = f.read()
        if self.buf[:4] != b"GGUF":
            raise SystemExit("%s: not a GGUF file" % path)
        self.pos = 4
        version, n_tensors, n_kv = self._read("<I"), self._read("<Q"), self._read("<Q")
        if version not in (2, 3):
            raise SystemExit("%s: GGUF version %d" % (path, version))
        self.meta = {}
        for _ in range(n_kv):
            key = self._string()
            self.meta[key] = self._value(self._read("<I"))
        infos = []
        for _ in range(n_tensors):
            name = self._string()
            dims = [self._read("<Q") for _ in range(self._read("<I"))]
            infos.append((name, dims, self._read("<I"), self._read("<Q")))
        align = self.meta.get("general.alignment", 32)
        start = (self.pos + align - 1) // align * align
        self.tensors = {}
        for name, dims, ttype, offset in infos:
            count = int(np.prod(dims))
            at = start + offset
            if ttype in self.NUMPY:
                dtype = self.NUMPY[ttype]
                raw = np.frombuffer(self.buf, dtype=dtype, count=count, offset=at)
            elif ttype == 30:  # bf16: the high half of a float32
                raw = np.frombuffer(self.buf, dtype=np.uint16, count=count, offset=at)
                raw = (raw.astype(np.uint32) << 16).view(np.float32)
            else:
                raise SystemExit("tensor %s has ggml type %d (only F32/F16/BF16/F64 here)"
                                 % (name, ttype))
            # GGUF dims list the fastest-varying first: numpy shape is the reverse.
            self.tensors[name] = torch.from_numpy(
                raw.astype(np.float64).reshape(list(reversed(dims))))

    def _read(self, fmt):
        value = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def _string(self):
        n = self._read("<Q")
        s = self.buf[self.pos:self.pos + n].decode("utf-8", errors="replace")
        self.pos += n
        return s

    def _value(self, vtype):
        if vtype in self.SCALAR:
            return self._read(self.SCALAR[vtype])
        if vtype == 8:
            return self._string()
        if vtype == 9:
            etype, n = self._read("<I"), self._read("<Q")
            return [self._value(etype) for _ in range(n)]
        raise SystemExit("metadata type %d" % vtype)


def rmsnorm(x, weight, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * weight


def rope(x, positions, freqs, neox):
    """x: [T, heads, head_dim]; rotates pairs by positions * freqs."""
    angle = positions[:, None] * freqs[None, :]  # [T, half]
    cos, sin = torch.cos(angle)[:, None, :], torch.sin(angle)[:, None, :]
    half = x.shape[-1] // 2
    if neox:
        a, b = x[..., :half], x[..., half:]
    else:
        a, b = x[..., 0::2], x[..., 1::2]
    ra, rb = a * cos - b * sin, a * sin + b * cos
    if neox:
        return torch.cat([ra, rb], dim=-1)
    return torch.stack([ra, rb], dim=-1).flatten(-2)


def forward(g, ids):
    m, t = g.meta, g.tensors
    arch = m["general.architecture"]
    p = arch + "."
    dim, n_layers = m[p + "embedding_length"], m[p + "block_count"]
    n_head = m[p + "attention.head_count"]
    n_kv = m.get(p + "attention.head_count_kv", n_head)
    head_dim = dim // n_head
    rope_dim = m.get(p + "rope.dimension_count", head_dim)
    eps = float(m[p + "attention.layer_norm_rms_epsilon"])
    theta = float(m.get(p + "rope.freq_base", 10000.0))
    neox = arch != "llama"  # GGUF llama files are permuted to the interleaved layout
    i = torch.arange(rope_dim // 2, dtype=torch.float64)
    freqs = theta ** (-2.0 * i / rope_dim)
    if "rope_freqs.weight" in t:
        freqs = freqs / t["rope_freqs.weight"]
    T = len(ids)
    positions = torch.arange(T, dtype=torch.float64)
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    x = t["token_embd.weight"][torch.tensor(ids)]
    for layer in range(n_layers):
        b = "blk.%d." % layer

        def lin(name, h):
            y = h @ t[b + name + ".weight"].T
            if b + name + ".bias" in t:
                y = y + t[b + name + ".bias"]
            return y

        h = rmsnorm(x, t[b + "attn_norm.weight"], eps)
        q = rope(lin("attn_q", h).view(T, n_head, head_dim), positions, freqs, neox)
        k = rope(lin("attn_k", h).view(T, n_kv, head_dim), positions, freqs, neox)
        v = lin("attn_v", h).view(T, n_kv, head_dim)
        group = n_head // n_kv
        k = k.repeat_interleave(group, dim=1)  # q head h -> kv head h // group
        v = v.repeat_interleave(group, dim=1)
        scores = torch.einsum("qhd,khd->hqk", q, k) / head_dim ** 0.5 + mask
        att = torch.einsum("hqk,khd->qhd", torch.softmax(scores, dim=-1), v).reshape(T, -1)
        x = x + att @ t[b + "attn_output.weight"].T
        h = rmsnorm(x, t[b + "ffn_norm.weight"], eps)
        gate, up = lin("ffn_gate", h), lin("ffn_up", h)
        x = x + (torch.nn.functional.silu(gate) * up) @ t[b + "ffn_down.weight"].T
    head = t.get("output.weight", t["token_embd.weight"])
    return rmsnorm(x, t["output_norm.weight"], eps) @ head.T


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("gguf")
    ap.add_argument("--ids", help='token ids, e.g. "1 17 42" (default: "ids" of --extra)')
    ap.add_argument("--out", help="write a JSON fixture with every logit")
    ap.add_argument("--extra", help="JSON object merged into the fixture (spec, hash)")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    g = GGUF(args.gguf)
    extra = {}
    if args.extra:
        with open(args.extra) as f:
            extra = json.load(f)
    if args.ids is not None:
        ids = [int(s) for s in args.ids.replace(",", " ").split()]
    elif "ids" in extra:
        ids = [int(i) for i in extra["ids"]]
    else:
        raise SystemExit("give --ids (or an --extra file with \"ids\")")
    logits = forward(g, ids)
    for pos, row in enumerate(logits):
        top = torch.topk(row, 5)
        print("pos %2d id %5d  top5: %s" % (pos, ids[pos], "  ".join(
            "%d:%.5f" % (i, v) for v, i in zip(top.values.tolist(), top.indices.tolist()))))
    if args.out:
        fixture = dict(extra)
        fixture["oracle"] = "tools/check/reference_logits.py (float64 torch %s)" % torch.__version__
        fixture["ids"] = ids
        fixture["logits"] = [[float("%.9g" % v) for v in row.tolist()] for row in logits]
        with open(args.out, "w") as f:
            json.dump(fixture, f, indent=1)
            f.write("\n")
        print("wrote", args.out)


if __name__ == "__main__":
    sys.exit(main())
