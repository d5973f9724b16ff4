#!/usr/bin/env python3
"""Writes corpus.json: the strings every tokenizer oracle encodes. Hand-picked tricky strings
(accents, decomposed and lone combining marks, emoji and ZWJ sequences, CJK, digits and long
numbers, whitespace runs, tabs, CR/LF, code, special-token text, the empty string) followed by
random mixes of the same ingredients (seeded, so the file is reproducible).
After changing it, regenerate expected/ (see ../../../README.md, "Tokenizers and chat templates").
"""
import json
import os
import random

HAND = [
  "", " ", "  ", "Hello world", "Hello, world!", " leading space", "trailing space ",
  "   three leading spaces and two between  words",
  "multiple     spaces\t\ttabs\tand\nnewlines\n\n\nend",
  "\n", "\n\n\n", "line one\r\nline two\r\n", "\t\tindented with tabs",
  "I'm sure you'll see they've done it, we'd know, don't WE'LL SHE'S",
  "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade \u00fcber stra\u00dfe se\u00f1or",
  "Cafe\u0301 decomposed e\u0301 and a\u0300 o\u0308",
  "\u0301 lone combining mark", "\u0301", "x\u0327\u0301\u0308 stacked marks",
  "\u0391\u03b8\u03ae\u03bd\u03b1 \u041c\u043e\u0441\u043a\u0432\u0430 \u0645\u0631\u062d\u0628\u0627 \u05e9\u05dc\u05d5\u05dd \u0928\u092e\u0938\u094d\u0924\u0947 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
  "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u8fd9\u662f\u4e2d\u6587\u6d4b\u8bd5\u3002",
  "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002\u30ab\u30bf\u30ab\u30ca",
  "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
  "\u9f98\u9f49\u9f7e\u9ea4 rare CJK \ud840\udc00\ud84c\udfb4",
  "Emoji: \ud83d\ude00\ud83d\ude02\ud83e\udd14 \ud83d\udc4d\ud83c\udffd family \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66 flag \ud83c\uddfa\ud83c\uddf8 \u2764\ufe0f",
  "\ud83e\udd99\ud83e\udd99\ud83e\udd99",
  "0 1 12 123 1234 12345 123456 1234567 12345678901234567890",
  "3.14159265358979 -42 1e-10 0x1F 1,000,000 $19.99 50%",
  "\u0663\u0664\u0665 \u0969\u096a \uff11\uff12\uff13 \u00bd \u2160 \u2468",
  "2024-01-15T10:30:00Z",
  "def add(a, b):\n    return a + b\n\nprint(add(1, 2))\n",
  "int main() {\n\tstd::vector<int> v{1, 2, 3};\n\tfor (auto& x : v) x *= 2;\n\treturn 0;\n}",
  "const f = (x) => x ?? {a: [1, 2]}; // comment",
  "<html><body class=\"main\">&amp; &lt;tag&gt;</body></html>",
  "SELECT * FROM users WHERE id = 42 AND name LIKE '%bob%';",
  "!!!???...,,,;;;:::---___***",
  "email@example.com https://example.org/path?q=1&r=two#frag",
  "camelCaseWord snake_case_word kebab-case-word UPPERCASE",
  "a\u00a0non-breaking\u3000ideographic\u2003em space",
  "zero\u200bwidth\u200djoiner",
  "\u2581 literal lower one eighth block \u2581\u2581",
  "\u0120 literal G with dot \u010a",
  "supercalifragilisticexpialidocious antidisestablishmentarianism",
  "a" * 65,
  "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!",
  "<s>", "</s>", "<unk>", "<s>[INST] Hello [/INST]",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
  "<|eot_id|>", "text<|eot_id|>more text",
  "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
  "<|endoftext|>", "<|im_end|> <|endoftext|>x",
  "<think>\nreasoning\n</think>\n\nanswer",
  "<|not_a_token|> <|eot_id",
  "Mixed: caf\u00e9 \u2615 \u4e2d\u6587 123 \ud83d\ude80 end.",
  " \n \n ", "a\n\n\n\nb", "   \n\t  x",
  "\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9",
  "\u02bc\u02bc modifier apostrophe \u2019s curly",
  "'s 'S 'll 'LL \u017fs long s",
  "use <tool> here", "<tool>x", "a@@b @@ <tool><tool> @", "Numbers 1234 and 99.5 in the model reads",
]

POOL = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") * 3 + list("0123456789") * 2
        + [" "] * 15 + ["\t", "\n", "\r\n", "\n\n", "  ", "   "]
        + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
        + ["'s", "'S", "'ll", "'re", "'d", "'M", "\u017f"] + list("\u00e9\u00e8\u00fc\u00f1\u00e7\u00f8\u00df\u00c6\u0153")
        + ["e\u0301", "\u0301", "\u0308", "a\u0300"]
        + list("\u4e2d\u6587\u5b57\u65e5\u672c\u8a9e\ud55c\uad6d\uc5b4\u9f98")
        + ["\U0001F600", "\U0001F999", "\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
           "\U0001F1FA\U0001F1F8", "\u2764\ufe0f"]
        + ["<|eot_id|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>", "<|endoftext|>", "<think>",
           "<tool>", "@@"]
        + ["\u2581", "\u00a0", "\u3000", "\u200b", "\u0661\u0662\u0663", "\u2163", "\u00bd", "\u0120", "\u010a"]
        + ["hello", " world", "the", " The", "ing", "1234567", "http://x.y/z", "    ", "\t\t"])


def main():
    rng = random.Random(7)
    fix = lambda s: s.encode("utf-16", "surrogatepass").decode("utf-16")
    corpus = [fix(s) for s in HAND]
    for _ in range(300):
        corpus.append("".join(rng.choice(POOL) for _ in range(rng.randint(1, 30))))
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(corpus, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"corpus.json: {len(corpus)} strings")


if __name__ == "__main__":
    main()
