// Aggregate decode throughput of a running `mobiquant serve` with N clients at once, each
// sending greedy requests of a fixed length (plain fetch, no packages).
// usage: node tools/serve_bench.mjs URL CLIENTS [REQUESTS_PER_CLIENT] [TOKENS] [API_KEY]
const [url, clients = '1', requests = '4', tokens = '64', key = ''] = process.argv.slice(2);
if (!url) {
  console.error('usage: node tools/serve_bench.mjs URL CLIENTS [REQUESTS] [TOKENS] [API_KEY]');
  process.exit(2);
}
const headers = { 'Content-Type': 'application/json', ...(key ? { Authorization: `Bearer ${key}` } : {}) };
async function one(c, r) {
  const res = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers,
    body: JSON.stringify({ prompt: `Story ${c}.${r}: once upon a time`, max_tokens: Number(tokens), temperature: 0, stop: [] }),
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(JSON.stringify(body));
  return body.usage.completion_tokens;
}
const t0 = performance.now();
const counts = await Promise.all([...Array(Number(clients)).keys()].map(async (c) => {
  let n = 0;
  for (let r = 0; r < Number(requests); r++) n += await one(c, r);
  return n;
}));
const seconds = (performance.now() - t0) / 1000;
const total = counts.reduce((a, b) => a + b, 0);
console.log(`${clients} clients x ${requests} requests: ${total} tokens in ${seconds.toFixed(2)} s = ` +
  `${(total / seconds).toFixed(1)} tokens/s, ${(Number(clients) * Number(requests) / seconds).toFixed(2)} requests/s`);
