#!/usr/bin/python3
"""Generate text from a train_model.py checkpoint with the SentencePiece
tokenizer (greedy with --temperature 0, else temperature / top-k sampling).

The prompt is encoded as [BOS] + sp.encode(prompt), the same layout the model
was trained and evaluated with.  Generation stops at --tokens new tokens or at
the context length (256).
"""
import argparse
import os
import sys

import sentencepiece as spm
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import BOS_ID, Config, Llama  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.abspath(os.path.join(HERE, "..", "work"))


@torch.no_grad()
def generate(model, sp, prompt, n_tokens, temperature, top_k, gen):
    ids = [BOS_ID] + sp.encode(prompt)
    n_prompt = len(ids)
    for _ in range(n_tokens):
        if len(ids) >= model.cfg.ctx:
            break
        logits = model(torch.tensor([ids]))[0, -1].float()
        if temperature <= 0:
            nxt = int(logits.argmax())
        else:
            logits = logits / temperature
            if top_k:
                kth = torch.topk(logits, top_k).values[-1]
                logits[logits < kth] = float("-inf")
            nxt = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=gen))
        if nxt == sp.eos_id():
            break
        ids.append(nxt)
    return sp.decode(ids[1:n_prompt]), sp.decode(ids[1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default=os.path.join(WORK, "run", "ckpt.pt"))
    ap.add_argument("--tokenizer", default=os.path.join(WORK, "tokenizer.model"))
    ap.add_argument("--prompt", action="append", help="prompt (repeatable)")
    ap.add_argument("--tokens", type=int, default=80)
    ap.add_argument("--temperature", type=float, default=0.8, help="0 = greedy")
    ap.add_argument("--top-k", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--markdown", action="store_true", help="print as markdown quotes for the model card")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ck = torch.load(args.ckpt, map_location="cpu")
    model = Llama(Config.from_dict(ck["config"]))
    model.load_state_dict(ck["model"])
    model.eval()
    sp = spm.SentencePieceProcessor(model_file=args.tokenizer)
    gen = torch.Generator().manual_seed(args.seed)
    prompts = args.prompt or ["Elizabeth looked at her sister and said", "In the beginning",
                              "\"My dear Emma,\"", "Then Jesus said to them,"]
    for p in prompts:
        shown_prompt, text = generate(model, sp, p, args.tokens, args.temperature, args.top_k, gen)
        if args.markdown:
            print("> **%s**%s\n" % (shown_prompt, text[len(shown_prompt):].replace("\n", "\n>\n> ")))
        else:
            print("=== %s\n%s\n" % (p, text))


if __name__ == "__main__":
    main()
