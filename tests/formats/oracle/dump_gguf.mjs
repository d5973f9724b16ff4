// Prints what @huggingface/gguf (an independent GGUF parser) reads from a file, as JSON:
// typed metadata, tensor infos and the data section offset. BigInts are printed as strings.
// Usage: node dump_gguf.mjs FILE
import { gguf } from "@huggingface/gguf";

const file = process.argv[2];
const { typedMetadata, tensorInfos, tensorDataOffset } = await gguf(file, {
  allowLocalFile: true,
  typedMetadata: true,
});
const out = { tensorDataOffset, metadata: typedMetadata, tensors: tensorInfos };
process.stdout.write(
  JSON.stringify(out, (key, value) => (typeof value === "bigint" ? value.toString() : value)),
);
