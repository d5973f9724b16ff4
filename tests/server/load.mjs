// A bounded load test on 127.0.0.1: 4 clients x 8 requests at once with different budgets (and
// some with a fixed depth). Every response must be complete with every token's bits, and equal to
// the same request run alone afterwards (batching must not change a greedy answer). Prints
// requests/s and tokens/s of the concurrent phase.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.MQ_URL + '/v1', apiKey: process.env.MQ_KEY, maxRetries: 0 });
const model = (await client.models.list()).data[0].id;
const CLIENTS = 4, REQUESTS = 8, TOKENS = 24;
const subjects = ['The river', 'A small dog', 'In the morning', 'Her letter', 'The old house',
  'Rain fell', 'Nobody knew', 'At the market'];

function request(c, r) {
  const ext = (c + r) % 4 === 3 ? { depth: 1 + (c % 4) } : { budget: 2.5 + ((c * REQUESTS + r) % 12) * 0.5 };
  return {
    model, max_tokens: TOKENS, temperature: 0,
    messages: [{ role: 'user', content: `${subjects[(c + 3 * r) % subjects.length]} (${c}.${r})` }],
    mobiquant: { ...ext, depths: true },
  };
}

function check(res, label) {
  const ch = res.choices[0];
  assert.ok(['stop', 'length'].includes(ch.finish_reason), `${label}: finish ${ch.finish_reason}`);
  assert.equal(ch.mobiquant.bits.length, res.usage.completion_tokens, `${label}: bits of every token`);
  assert.equal(ch.mobiquant.depths.length, res.usage.completion_tokens, `${label}: depths of every token`);
  assert.ok(ch.mobiquant.bits.every((b) => b >= 2 && b <= 8), `${label}: bits in range`);
}

const t0 = performance.now();
const results = await Promise.all([...Array(CLIENTS).keys()].map(async (c) => {
  const out = [];
  for (let r = 0; r < REQUESTS; r++) out.push(await client.chat.completions.create(request(c, r)));
  return out;
}));
const seconds = (performance.now() - t0) / 1000;
let tokens = 0;
for (const list of results) for (const res of list) tokens += res.usage.completion_tokens;
console.log(`concurrent: ${CLIENTS * REQUESTS} requests in ${seconds.toFixed(2)} s: ` +
  `${(CLIENTS * REQUESTS / seconds).toFixed(2)} requests/s, ${(tokens / seconds).toFixed(1)} tokens/s`);

const t1 = performance.now();
let same = 0;
for (let c = 0; c < CLIENTS; c++) {
  for (let r = 0; r < REQUESTS; r++) {
    const label = `client ${c} request ${r}`;
    const batched = results[c][r];
    check(batched, label);
    const alone = await client.chat.completions.create(request(c, r));
    assert.equal(batched.choices[0].message.content, alone.choices[0].message.content, `${label}: text`);
    assert.deepEqual(batched.choices[0].mobiquant.depths, alone.choices[0].mobiquant.depths, `${label}: depths`);
    same++;
  }
}
const aloneSeconds = (performance.now() - t1) / 1000;
console.log(`one at a time: ${same} requests in ${aloneSeconds.toFixed(2)} s: ` +
  `${(tokens / aloneSeconds).toFixed(1)} tokens/s; all ${same} equal to their batched answers`);
