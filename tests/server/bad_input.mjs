// Bad requests one by one, each answered with an OpenAI-style error object and a 4xx status
// (never a crash): the server must still be healthy afterwards. Run against a server started
// with --parallel 1 --queue 1 --ctx-size 256 --max-body 65536.
import assert from 'node:assert/strict';

const url = process.env.MQ_URL, key = process.env.MQ_KEY;
const auth = { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' };

async function expectError(label, path, init, status, param, code) {
  const res = await fetch(url + path, init);
  const text = await res.text();
  assert.equal(res.status, status, `${label}: status ${res.status}: ${text}`);
  let body;
  try { body = JSON.parse(text); } catch { assert.fail(`${label}: not JSON: ${text}`); }
  assert.equal(typeof body.error?.message, 'string', `${label}: ${text}`);
  assert.ok(body.error.message.length > 0 && 'type' in body.error && 'param' in body.error && 'code' in body.error, `${label}: ${text}`);
  if (param !== undefined) assert.equal(body.error.param, param, `${label}: param in ${text}`);
  if (code !== undefined) assert.equal(body.error.code, code, `${label}: code in ${text}`);
  console.log(`${label}: ${status} ${body.error.message}`);
}
const post = (path, body, headers = auth) => [path, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) }];
const chat = (extra) => post('/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, ...extra });

// The key on every endpoint.
for (const path of ['/health', '/v1/models'])
  await expectError(`no key on ${path}`, path, {}, 401, null, 'invalid_api_key');
await expectError('wrong key', ...post('/v1/chat/completions', '{}', { Authorization: 'Bearer nope' }), 401, null, 'invalid_api_key');
await expectError('key without Bearer', ...post('/v1/completions', '{}', { Authorization: key }), 401);

await expectError('malformed JSON', ...post('/v1/chat/completions', '{"messages": ['), 400, null, 'invalid_json');
await expectError('body not an object', ...post('/v1/chat/completions', '[1, 2]'), 400);
await expectError('no messages', ...post('/v1/chat/completions', { model: 'm' }), 400, 'messages');
await expectError('messages not an array', ...chat({ messages: 'hi' }), 400, 'messages');
await expectError('message not an object', ...chat({ messages: [42] }), 400, 'messages[0]');
await expectError('unknown role', ...chat({ messages: [{ role: 'robot', content: 'x' }] }), 400, 'messages[0].role');
await expectError('content a number', ...chat({ messages: [{ role: 'user', content: 7 }] }), 400, 'messages[0].content');
await expectError('max_tokens a string', ...chat({ max_tokens: 'ten' }), 400, 'max_tokens');
await expectError('max_tokens zero', ...chat({ max_tokens: 0 }), 400, 'max_tokens');
await expectError('max_tokens fractional', ...chat({ max_tokens: 2.5 }), 400, 'max_tokens');
await expectError('max_tokens beyond the context', ...chat({ max_tokens: 100000 }), 400, 'max_tokens', 'context_length_exceeded');
await expectError('temperature a string', ...chat({ temperature: 'hot' }), 400, 'temperature');
await expectError('temperature negative', ...chat({ temperature: -1 }), 400, 'temperature');
await expectError('top_p zero', ...chat({ top_p: 0 }), 400, 'top_p');
await expectError('seed a string', ...chat({ seed: 'x' }), 400, 'seed');
await expectError('stream a string', ...chat({ stream: 'yes' }), 400, 'stream');
await expectError('stop a number', ...chat({ stop: 3 }), 400, 'stop');
await expectError('five stop strings', ...chat({ stop: ['a', 'b', 'c', 'd', 'e'] }), 400, 'stop');
await expectError('n = 2', ...chat({ n: 2 }), 400, 'n');
await expectError('top_logprobs 10', ...chat({ logprobs: true, top_logprobs: 10 }), 400, 'top_logprobs');
await expectError('logprobs a number in chat', ...chat({ logprobs: 3 }), 400, 'logprobs');
await expectError('mobiquant not an object', ...chat({ mobiquant: 4.5 }), 400, 'mobiquant');
await expectError('budget a string', ...chat({ mobiquant: { budget: 'big' } }), 400, 'mobiquant.budget');
await expectError('budget 9.5', ...chat({ mobiquant: { budget: 9.5 } }), 400, 'mobiquant.budget');
await expectError('depth 7', ...chat({ mobiquant: { depth: 7 } }), 400, 'mobiquant.depth');
await expectError('budget and depth', ...chat({ mobiquant: { budget: 4, depth: 2 } }), 400, 'mobiquant');
await expectError('target_tps 0', ...chat({ mobiquant: { target_tps: 0 } }), 400, 'mobiquant.target_tps');
await expectError('target_tps a string', ...chat({ mobiquant: { target_tps: 'fast' } }), 400, 'mobiquant.target_tps');
await expectError('target_tps and budget', ...chat({ mobiquant: { target_tps: 50, budget: 4 } }), 400, 'mobiquant');
await expectError('no prompt', ...post('/v1/completions', { model: 'm' }), 400, 'prompt');
await expectError('two prompts', ...post('/v1/completions', { prompt: ['a', 'b'] }), 400, 'prompt');
await expectError('prompt longer than the context', ...post('/v1/completions', { prompt: 'word '.repeat(2000), max_tokens: 1 }), 400, 'prompt', 'context_length_exceeded');
await expectError('body over the limit', ...post('/v1/completions', { prompt: 'x'.repeat(100000) }), 413);
await expectError('unknown endpoint', '/v1/engines', { headers: auth }, 404);

// A full queue: one slot and one queued request; the rest of a burst gets 503.
const burst = await Promise.all([...Array(4).keys()].map(() =>
  fetch(url + '/v1/completions', { method: 'POST', headers: auth, body: JSON.stringify({ prompt: 'Once', max_tokens: 200, temperature: 0 }) })
    .then(async (r) => ({ status: r.status, body: await r.json() }))));
const statuses = burst.map((r) => r.status).sort();
assert.deepEqual(statuses, [200, 200, 503, 503], `burst statuses ${statuses}`);
for (const r of burst) if (r.status === 503) assert.equal(r.body.error.code, 'server_busy');
console.log('burst of 4 with 1 slot and a queue of 1:', statuses.join(' '));

// Still healthy.
const health = await fetch(url + '/health', { headers: auth });
assert.equal(health.status, 200);
assert.equal((await health.json()).status, 'ok');
console.log('bad input test passed');
