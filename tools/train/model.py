"""LLaMA-architecture model used for the default model, plus the shared
held-out evaluation protocol.

Layout (identical to llama.cpp's "llama" architecture):
  h = tok_embeddings[ids]
  for each layer:
      h += Wo · attn(rope(Wq·n1(h)), rope(Wk·n1(h)), Wv·n1(h))      (causal, GQA)
      h += W2 · (silu(W1·n2(h)) ⊙ W3·n2(h))                          (SwiGLU)
  logits = norm(h) · tok_embeddings^T                                 (tied)
RMSNorm: x / sqrt(mean(x²) + eps) · w.

RoPE convention: ADJACENT PAIRS.  Dimension pairs (x[2i], x[2i+1]) of every
head are rotated by angle pos · theta^(-2i/head_dim).  This is the GGUF /
llama.cpp LLAMA_ROPE_TYPE_NORM convention (Meta's original LLaMA), so the
trained Wq/Wk are exported to GGUF unchanged — no row permutation (the
permutation llama.cpp's HF converter applies exists only because HF
checkpoints rotate halves instead).

GQA: query head h uses key/value head h // (n_heads / n_kv_heads), as in
llama.cpp.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

BOS_ID = 1


class Config:
    def __init__(self, vocab_size=4096, dim=256, n_layers=4, n_heads=8, n_kv_heads=4, ffn_dim=768,
                 ctx=256, norm_eps=1e-5, rope_theta=10000.0, dropout=0.0):
        self.vocab_size = vocab_size
        self.dim = dim
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.n_kv_heads = n_kv_heads
        self.ffn_dim = ffn_dim
        self.ctx = ctx
        self.norm_eps = norm_eps
        self.rope_theta = rope_theta
        self.dropout = dropout

    def to_dict(self):
        return dict(self.__dict__)

    @staticmethod
    def from_dict(d):
        return Config(**d)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        xf = x.float()
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight).type_as(x)


def rope_tables(head_dim, ctx, theta):
    inv = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)  # (hd/2,)
    ang = torch.arange(ctx, dtype=torch.float64)[:, None] * inv[None, :]           # (ctx, hd/2)
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """x: (B, T, H, hd). Rotate adjacent pairs (x[2i], x[2i+1])."""
    T = x.shape[1]
    xf = x.float().reshape(*x.shape[:-1], -1, 2)
    x0, x1 = xf[..., 0], xf[..., 1]
    c = cos[:T][None, :, None, :]
    s = sin[:T][None, :, None, :]
    out = torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1)
    return out.reshape(x.shape).type_as(x)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_heads, self.n_kv = cfg.n_heads, cfg.n_kv_heads
        self.hd = cfg.dim // cfg.n_heads
        self.wq = nn.Linear(cfg.dim, cfg.n_heads * self.hd, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.n_kv_heads * self.hd, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.n_kv_heads * self.hd, bias=False)
        self.wo = nn.Linear(cfg.n_heads * self.hd, cfg.dim, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = apply_rope(self.wq(x).view(B, T, self.n_heads, self.hd), cos, sin)
        k = apply_rope(self.wk(x).view(B, T, self.n_kv, self.hd), cos, sin)
        v = self.wv(x).view(B, T, self.n_kv, self.hd)
        rep = self.n_heads // self.n_kv
        k = k.repeat_interleave(rep, dim=2)  # q head h -> kv head h // rep
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.hd))
        att = att.float().masked_fill(mask[:T, :T], float("-inf"))
        att = torch.softmax(att, dim=-1).type_as(v)
        y = (att @ v).transpose(1, 2).reshape(B, T, -1)
        return self.wo(y)


class FeedForward(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.ffn_dim, bias=False)  # gate
        self.w3 = nn.Linear(cfg.dim, cfg.ffn_dim, bias=False)  # up
        self.w2 = nn.Linear(cfg.ffn_dim, cfg.dim, bias=False)  # down

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.feed_forward = FeedForward(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, cos, sin, mask):
        x = x + self.drop(self.attention(self.attention_norm(x), cos, sin, mask))
        return x + self.drop(self.feed_forward(self.ffn_norm(x)))


class Llama(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        cos, sin = rope_tables(cfg.dim // cfg.n_heads, cfg.ctx, cfg.rope_theta)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        mask = torch.triu(torch.ones(cfg.ctx, cfg.ctx, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)
        self.reset_parameters()

    def reset_parameters(self):
        std = 0.02
        for name, p in self.named_parameters():
            if p.dim() == 2:
                s = std / math.sqrt(2 * self.cfg.n_layers) if name.endswith(("wo.weight", "w2.weight")) else std
                nn.init.normal_(p, 0.0, s)

    def forward(self, ids, targets=None):
        h = self.tok_embeddings(ids)
        for layer in self.layers:
            h = layer(h, self.cos, self.sin, self.mask)
        h = self.norm(h)
        logits = h @ self.tok_embeddings.weight.t().to(h.dtype)
        if targets is None:
            return logits
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1), reduction="mean")


def count_params(model):
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------ evaluation
def eval_windows(tokens, seq_len):
    """Held-out protocol: the token stream (SentencePiece encoding of the
    whole held-out file, no BOS/EOS added) is cut into consecutive,
    non-overlapping windows of seq_len tokens (stride = seq_len; the last
    window may be shorter).  Each window w is scored as input [BOS] + w[:-1]
    with targets w, so every held-out token is predicted exactly once, with
    0..seq_len-1 tokens of in-window context.  Perplexity = exp(mean NLL)."""
    return [tokens[i:i + seq_len] for i in range(0, len(tokens), seq_len)]


@torch.no_grad()
def heldout_nll(model, tokens, seq_len, batch=16, bf16=False, max_windows=None):
    """Returns (total NLL in nats, number of scored tokens)."""
    model.eval()
    wins = eval_windows(tokens, seq_len)
    if max_windows:
        wins = wins[:max_windows]
    total, count = 0.0, 0
    full = [w for w in wins if len(w) == seq_len]
    tail = [w for w in wins if len(w) != seq_len]
    groups = [full[i:i + batch] for i in range(0, len(full), batch)] + [[w] for w in tail]
    for g in groups:
        y = torch.tensor(g, dtype=torch.long)
        x = torch.cat([torch.full((len(g), 1), BOS_ID, dtype=torch.long), y[:, :-1]], dim=1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
        nll = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum")
        total += nll.item()
        count += y.numel()
    model.train()
    return total, count
