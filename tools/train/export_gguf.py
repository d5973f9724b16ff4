#!/usr/bin/python3
"""Export a train_model.py checkpoint + SentencePiece tokenizer to GGUF v3,
following llama.cpp's conventions for general.architecture = "llama".

Tensors: token_embd.weight, blk.N.{attn_norm, attn_q, attn_k, attn_v,
attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down}.weight, output_norm.weight.
No output.weight: the embeddings are tied (llama.cpp falls back to
token_embd).  Matrices are F16 (or F32 with --f32), norm vectors always F32.
Dimensions are written ggml-style, ne[0] = fastest-varying: a torch
nn.Linear weight of shape (out, in) is written with ne = [in, out], the
embedding (vocab, dim) with ne = [dim, vocab]; the bytes are the row-major
torch data unchanged.

RoPE: the model was TRAINED with the GGUF/llama.cpp pairwise convention
(rotating adjacent pairs x[2i], x[2i+1]; see model.py), so Wq and Wk are
written as they are.  Do NOT apply the HF->GGUF q/k row permutation here:
that permutation converts "rotate-half" checkpoints, which this is not.
"""
import argparse
import os
import struct
import sys

import numpy as np
import sentencepiece as spm
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Config  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.abspath(os.path.join(HERE, "..", "work"))

ALIGN = 32
GGML_F32, GGML_F16 = 0, 1
T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR = 4, 5, 6, 7, 8, 9
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER, TOKEN_UNUSED, TOKEN_BYTE = 1, 2, 3, 4, 5, 6


class Writer:
    def __init__(self):
        self.kv = []        # encoded key/value records
        self.tensors = []   # (name, ne, ggml_type, bytes)

    @staticmethod
    def _str(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def add(self, key, vtype, value):
        self.kv.append(self._str(key) + struct.pack("<I", vtype) + self._val(vtype, value))

    def _val(self, vtype, v):
        if vtype == T_U32:
            return struct.pack("<I", v)
        if vtype == T_I32:
            return struct.pack("<i", v)
        if vtype == T_F32:
            return struct.pack("<f", v)
        if vtype == T_BOOL:
            return struct.pack("<B", 1 if v else 0)
        if vtype == T_STR:
            return self._str(v)
        raise ValueError(vtype)

    def add_array(self, key, etype, values):
        out = [self._str(key), struct.pack("<IIQ", T_ARR, etype, len(values))]
        if etype == T_F32:
            out.append(np.asarray(values, dtype="<f4").tobytes())
        elif etype == T_I32:
            out.append(np.asarray(values, dtype="<i4").tobytes())
        else:
            out.extend(self._val(etype, v) for v in values)
        self.kv.append(b"".join(out))

    def add_tensor(self, name, array, f16):
        a = np.ascontiguousarray(array)
        if f16:
            data, gtype = a.astype("<f2").tobytes(), GGML_F16
        else:
            data, gtype = a.astype("<f4").tobytes(), GGML_F32
        ne = list(reversed(a.shape))  # ne[0] = fastest dim
        self.tensors.append((name, ne, gtype, data))

    def write(self, path):
        head = [b"GGUF", struct.pack("<IQQ", 3, len(self.tensors), len(self.kv))] + self.kv
        offset = 0
        infos = []
        for name, ne, gtype, data in self.tensors:
            infos.append(self._str(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne) +
                         struct.pack("<IQ", gtype, offset))
            offset += len(data)
            offset += (-offset) % ALIGN
        blob = b"".join(head + infos)
        blob += b"\0" * ((-len(blob)) % ALIGN)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(blob)
            for _, _, _, data in self.tensors:
                f.write(data)
                f.write(b"\0" * ((-len(data)) % ALIGN))
        os.replace(tmp, path)


def token_type(sp, i):
    if sp.is_unknown(i):
        return TOKEN_UNKNOWN
    if sp.is_control(i):
        return TOKEN_CONTROL
    if sp.is_byte(i):
        return TOKEN_BYTE
    if sp.is_unused(i):
        return TOKEN_UNUSED
    return TOKEN_NORMAL


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=os.path.join(WORK, "run", "ckpt.pt"))
    ap.add_argument("--tokenizer", default=os.path.join(WORK, "tokenizer.model"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "assets", "default-model.gguf"))
    ap.add_argument("--name", default="mobiquant-default")
    ap.add_argument("--f32", action="store_true", help="write matrices as F32 instead of F16")
    args = ap.parse_args()

    ck = torch.load(args.ckpt, map_location="cpu")
    cfg = Config.from_dict(ck["config"])
    sd = {k: v.float().numpy() for k, v in ck["model"].items()}
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
    assert sp.get_piece_size() == cfg.vocab_size, "tokenizer / checkpoint vocabulary mismatch"
    f16 = not args.f32
    head_dim = cfg.dim // cfg.n_heads

    w = Writer()
    w.add("general.architecture", T_STR, "llama")
    w.add("general.name", T_STR, args.name)
    w.add("general.description", T_STR,
          "MoBiQuant Studio default model: LLaMA-architecture, trained from scratch by the project on "
          "public-domain text (Jane Austen's novels, World English Bible); see assets/README.md")
    w.add("general.alignment", T_U32, ALIGN)
    w.add("general.file_type", T_U32, 1 if f16 else 0)  # 1 = MOSTLY_F16, 0 = ALL_F32
    w.add("llama.vocab_size", T_U32, cfg.vocab_size)
    w.add("llama.context_length", T_U32, cfg.ctx)
    w.add("llama.embedding_length", T_U32, cfg.dim)
    w.add("llama.block_count", T_U32, cfg.n_layers)
    w.add("llama.feed_forward_length", T_U32, cfg.ffn_dim)
    w.add("llama.rope.dimension_count", T_U32, head_dim)
    w.add("llama.attention.head_count", T_U32, cfg.n_heads)
    w.add("llama.attention.head_count_kv", T_U32, cfg.n_kv_heads)
    w.add("llama.attention.layer_norm_rms_epsilon", T_F32, cfg.norm_eps)
    w.add("llama.rope.freq_base", T_F32, cfg.rope_theta)

    n = sp.get_piece_size()
    w.add("tokenizer.ggml.model", T_STR, "llama")
    w.add_array("tokenizer.ggml.tokens", T_STR, [sp.id_to_piece(i) for i in range(n)])
    w.add_array("tokenizer.ggml.scores", T_F32, [sp.get_score(i) for i in range(n)])
    w.add_array("tokenizer.ggml.token_type", T_I32, [token_type(sp, i) for i in range(n)])
    w.add("tokenizer.ggml.bos_token_id", T_U32, sp.bos_id())
    w.add("tokenizer.ggml.eos_token_id", T_U32, sp.eos_id())
    w.add("tokenizer.ggml.unknown_token_id", T_U32, sp.unk_id())
    w.add("tokenizer.ggml.add_bos_token", T_BOOL, True)
    w.add("tokenizer.ggml.add_eos_token", T_BOOL, False)
    w.add("tokenizer.ggml.add_space_prefix", T_BOOL, True)

    w.add_tensor("token_embd.weight", sd["tok_embeddings.weight"], f16)
    for i in range(cfg.n_layers):
        p = "layers.%d." % i
        b = "blk.%d." % i
        w.add_tensor(b + "attn_norm.weight", sd[p + "attention_norm.weight"], False)
        w.add_tensor(b + "attn_q.weight", sd[p + "attention.wq.weight"], f16)   # no RoPE permutation: see top
        w.add_tensor(b + "attn_k.weight", sd[p + "attention.wk.weight"], f16)
        w.add_tensor(b + "attn_v.weight", sd[p + "attention.wv.weight"], f16)
        w.add_tensor(b + "attn_output.weight", sd[p + "attention.wo.weight"], f16)
        w.add_tensor(b + "ffn_norm.weight", sd[p + "ffn_norm.weight"], False)
        w.add_tensor(b + "ffn_gate.weight", sd[p + "feed_forward.w1.weight"], f16)
        w.add_tensor(b + "ffn_up.weight", sd[p + "feed_forward.w3.weight"], f16)
        w.add_tensor(b + "ffn_down.weight", sd[p + "feed_forward.w2.weight"], f16)
    w.add_tensor("output_norm.weight", sd["norm.weight"], False)
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    w.write(out)
    print("wrote %s: %d tensors, %d KV pairs, %d bytes (step %d)" %
          (out, len(w.tensors), len(w.kv), os.path.getsize(out), ck["step"]))


if __name__ == "__main__":
    main()
