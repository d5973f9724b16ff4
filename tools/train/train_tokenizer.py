#!/usr/bin/python3
"""Train the SentencePiece BPE tokenizer of the default model on train.txt.

Options are chosen so that llama.cpp's SPM tokenizer (tokenizer.ggml.model =
"llama") reproduces SentencePiece exactly from the GGUF vocabulary alone:
  * normalization_rule_name=identity  (no NFKC; the corpus is NFC already)
  * remove_extra_whitespaces=False    (spaces are kept as they are)
  * add_dummy_prefix=True             (a leading "▁" is added to the text)
  * byte_fallback=True                (<0x00>..<0xFF> pieces: every byte encodes)
  * ids 0/1/2 = <unk>/<s>/</s>, no <pad>
  * split_digits=True                 (no multi-digit pieces exist)
"""
import argparse
import os
import time

import sentencepiece as spm


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    work = os.path.join(here, "..", "work")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", default=os.path.join(work, "corpus", "train.txt"))
    ap.add_argument("--prefix", default=os.path.join(work, "tokenizer"), help="writes PREFIX.model/.vocab")
    ap.add_argument("--vocab-size", type=int, default=4096)
    args = ap.parse_args()
    t0 = time.time()
    spm.SentencePieceTrainer.train(
        input=args.input, model_prefix=args.prefix, vocab_size=args.vocab_size,
        model_type="bpe", character_coverage=1.0, byte_fallback=True, split_digits=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, max_sentence_length=1 << 16,
        input_sentence_size=0, shuffle_input_sentence=False, num_threads=1, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_file=args.prefix + ".model")
    probe = "Once upon a time, Elizabeth walked to the garden. naïve café 1234 \u65e5\u672c"
    ids = sp.encode(probe)
    assert sp.decode(ids) == probe, "tokenizer does not round-trip"
    print("trained %s.model (%d pieces) in %.1f s" % (args.prefix, sp.get_piece_size(), time.time() - t0))
    print("probe:", [sp.id_to_piece(i) for i in ids])


if __name__ == "__main__":
    main()
