// llama.cpp's CPU backend (node-llama-cpp's prebuilt binaries) on a GGUF file: prefill and
// decode tokens/s with the prompt tokens mobiquant's bench uses, printed as one JSON line.
// Each measure runs REPEAT times and the fastest is kept, as `mobiquant bench --repeat`.
// usage: node bench_llama.mjs MODEL.gguf PROMPT_TOKENS DECODE_TOKENS THREADS [REPEAT]
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, promptArg, decodeArg, threadsArg, repeatArg] = process.argv.slice(2);
if (!modelPath) {
    console.error("usage: node bench_llama.mjs MODEL.gguf PROMPT_TOKENS DECODE_TOKENS THREADS");
    process.exit(2);
}
const promptTokens = Number(promptArg ?? 64), decodeTokens = Number(decodeArg ?? 16);
const threads = Number(threadsArg ?? 2), repeats = Math.max(1, Number(repeatArg ?? 1));

const llama = await getLlama({
    gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true,
    maxThreads: threads, logLevel: LlamaLogLevel.error,
});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const vocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length ?? 32000;
// The prompt of runtime/model_bench.cpp: (i * 7919 + 13) mod vocab.
const prompt = Array.from({length: promptTokens}, (_, i) => (i * 7919 + 13) % vocab);
const context = await model.createContext({
    contextSize: promptTokens + decodeTokens + 64, batchSize: promptTokens, threads,
});
const sequence = context.getSequence();
const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

await sequence.evaluateWithoutGeneratingNewTokens(prompt.slice(0, 4));  // warm-up
let prefill = 0, decode = 0, produced = 0;
for (let rep = 0; rep < repeats; ++rep) {
    await sequence.clearHistory();
    let t0 = process.hrtime.bigint();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    prefill = Math.max(prefill, promptTokens / seconds(t0));

    // Decode: each step evaluates the last token and samples the next (greedy).
    produced = 0;
    t0 = process.hrtime.bigint();
    for await (const token of sequence.evaluate([1], {temperature: 0})) {
        void token;
        if (++produced >= decodeTokens) break;
    }
    decode = Math.max(decode, produced / seconds(t0));
}
console.log(JSON.stringify({prefill_tps: prefill, decode_tps: decode, threads, promptTokens,
                            decodeTokens: produced}));
await context.dispose();
await model.dispose();
await llama.dispose();
