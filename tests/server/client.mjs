// The official OpenAI client against the server: models, a chat completion, a streamed one,
// logprobs, the MoBiQuant extension fields, a legacy completion and a wrong key.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const baseURL = process.env.MQ_URL + '/v1';
const client = new OpenAI({ baseURL, apiKey: process.env.MQ_KEY, maxRetries: 0 });
const messages = [{ role: 'user', content: 'Once upon a time' }];

const models = await client.models.list();
assert.equal(models.data.length, 1);
const model = models.data[0].id;
assert.ok(model.length > 0);
assert.equal(models.data[0].mobiquant.quantized, true);
console.log('model', model);

// A chat completion, greedy, with usage and every token's bits.
const chat = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
assert.equal(chat.object, 'chat.completion');
assert.equal(chat.choices.length, 1);
const choice = chat.choices[0];
assert.equal(choice.message.role, 'assistant');
assert.equal(typeof choice.message.content, 'string');
assert.ok(['stop', 'length'].includes(choice.finish_reason));
assert.ok(chat.usage.prompt_tokens > 4);
assert.ok(chat.usage.completion_tokens >= 1 && chat.usage.completion_tokens <= 12);
assert.equal(chat.usage.total_tokens, chat.usage.prompt_tokens + chat.usage.completion_tokens);
assert.equal(choice.mobiquant.bits.length, chat.usage.completion_tokens);
console.log('chat:', JSON.stringify(choice.message.content), chat.usage);

// The same request streamed: same text (greedy), role first, [DONE] consumed by the client.
const stream = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0, stream: true });
let streamed = '', chunks = 0, finish = null, usage = null, bits = 0;
for await (const chunk of stream) {
  assert.equal(chunk.object, 'chat.completion.chunk');
  if (chunk.usage) usage = chunk.usage;
  const c = chunk.choices[0];
  if (!c) continue;
  chunks++;
  if (c.delta.content) streamed += c.delta.content;
  if (c.finish_reason) finish = c.finish_reason;
  if (c.mobiquant) {
    assert.ok(c.mobiquant.bits >= 2 && c.mobiquant.bits <= 8);
    bits++;
  }
}
assert.equal(streamed, choice.message.content);
assert.equal(finish, choice.finish_reason);
assert.deepEqual(usage.completion_tokens, chat.usage.completion_tokens);
assert.equal(bits, chat.usage.completion_tokens);
console.log('streamed', chunks, 'chunks');

// Logprobs with alternatives, and the extension: a budget, depths per token.
const lp = await client.chat.completions.create({
  model, messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3,
  mobiquant: { budget: 3.0, depths: true },
});
const content = lp.choices[0].logprobs.content;
assert.equal(content.length, lp.usage.completion_tokens);
for (const t of content) {
  assert.ok(t.logprob <= 0);
  assert.equal(t.top_logprobs.length, 3);
  assert.ok(t.top_logprobs[0].logprob >= t.logprob - 1e-6, 'greedy picks the most likely token');
}
const ext = lp.choices[0].mobiquant;
assert.equal(ext.depths.length, lp.usage.completion_tokens);
for (const [i, d] of ext.depths.entries()) {
  assert.ok(Array.isArray(d) && d.length > 0 && d[0].length === 7, 'depths are [layer][linear]');
  const flat = d.flat();
  assert.ok(flat.every((k) => k >= 1 && k <= 4));
  const mean = 2 * flat.reduce((a, b) => a + b, 0) / flat.length;
  assert.ok(Math.abs(mean - ext.bits[i]) < 1e-4, 'bits are the depths\' mean');
}
const lowBits = lp.usage.mobiquant.mean_bits;
const high = await client.chat.completions.create({ model, messages, max_tokens: 6, temperature: 0, mobiquant: { depth: 4 } });
assert.equal(high.usage.mobiquant.mean_bits, 8);
assert.ok(lowBits < 5, `budget 3 gave ${lowBits} bits`);
console.log('mean bits at budget 3:', lowBits, 'at depth 4:', high.usage.mobiquant.mean_bits);

// A tokens/s target: the budget moves within the checkpoint's range, and usage reports it.
const paced = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0, mobiquant: { target_tps: 40 } });
const pu = paced.usage.mobiquant;
assert.ok(pu.mean_budget >= 2 && pu.mean_budget <= 8, `mean budget ${pu.mean_budget}`);
assert.ok(pu.decode_tps > 0 && typeof pu.speed === 'string', JSON.stringify(pu));
console.log('target 40 tok/s:', pu);

// A legacy completion with logprobs, a stop string and a seed.
const cmpl = await client.completions.create({ model, prompt: 'The cat', max_tokens: 8, temperature: 0.7, seed: 5, logprobs: 2 });
assert.equal(cmpl.object, 'text_completion');
assert.equal(cmpl.choices[0].logprobs.tokens.length, cmpl.usage.completion_tokens);
const again = await client.completions.create({ model, prompt: 'The cat', max_tokens: 8, temperature: 0.7, seed: 5 });
assert.equal(again.choices[0].text, cmpl.choices[0].text, 'a seed repeats the sample');
const full = await client.completions.create({ model, prompt: 'The cat', max_tokens: 16, temperature: 0 });
const text = full.choices[0].text;
if (text.length > 4) {
  const stop = text.slice(2, 4);
  const cut = await client.completions.create({ model, prompt: 'The cat', max_tokens: 16, temperature: 0, stop: [stop] });
  assert.equal(cut.choices[0].text, text.slice(0, text.indexOf(stop)));
  assert.equal(cut.choices[0].finish_reason, 'stop');
}

// A message holding a control token's text is plain text: more prompt tokens than one marker.
const plain = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'a' }], max_tokens: 1 });
const marked = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'a<|im_end|>' }], max_tokens: 1 });
assert.ok(marked.usage.prompt_tokens - plain.usage.prompt_tokens > 1,
  `"<|im_end|>" in a message took ${marked.usage.prompt_tokens - plain.usage.prompt_tokens} tokens`);

// A wrong key: 401 as the client's AuthenticationError.
const wrong = new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 });
await assert.rejects(wrong.models.list(), (e) => e.status === 401 && e instanceof OpenAI.AuthenticationError);
await assert.rejects(wrong.chat.completions.create({ model, messages }), (e) => e.status === 401);
console.log('client test passed');
