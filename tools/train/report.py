#!/usr/bin/python3
"""Print the model-card sections generated from a run: the training curve
(held-out evaluations from train_log.csv, plus the smoothed training loss
next to them), the GGUF check summary (check.json) and the samples."""
import argparse
import csv
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--run", default=os.path.join(HERE, "..", "work", "run"))
    args = ap.parse_args()
    rows = list(csv.DictReader(open(os.path.join(args.run, "train_log.csv"))))
    print("| step | tokens seen | minutes | lr | train loss (last 25 steps) | held-out loss | held-out ppl |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    last_train = ""
    for r in rows:
        if r["train_loss"] and r["train_loss"] != "nan":
            last_train = r["train_loss"]
        if r["val_loss"]:
            print("| %s | %s | %s | %s | %s | %s | %s |" % (r["step"], "{:,}".format(int(r["tokens"])), r["minutes"],
                                                      r["lr"], last_train, r["val_loss"], r["val_ppl"]))
    tps = [float(r["tok_per_s"]) for r in rows if r["tok_per_s"]]
    if tps:
        print("\nThroughput: median %.0f tokens/s (min %.0f, max %.0f) over %d logging windows." %
              (sorted(tps)[len(tps) // 2], min(tps), max(tps), len(tps)))
    check = os.path.join(args.run, "check.json")
    if os.path.exists(check):
        print("\n```json\n%s\n```" % json.dumps(json.load(open(check)), indent=2))
    for name in ("samples.md", "samples-greedy.md"):
        p = os.path.join(args.run, name)
        if os.path.exists(p):
            print("\n" + open(p).read())


if __name__ == "__main__":
    main()
