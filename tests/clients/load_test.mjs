// A bounded load test: 64 concurrent streaming clients, 320 requests in all (chat and
// completions mixed, include_usage on), against a server with room for 32 in flight. It ends
// with zero unexpected errors, every accepted request answered to [DONE], every 503 a queue-full
// with Retry-After, zero KV blocks in use, and /metrics agreeing with the request log and with
// what the clients saw.
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, parseMetrics } from './serve.mjs';

const CLIENTS = 64;
const PER_CLIENT = 5;
const REQUEST_LIMIT_MS = 60000;

// Deterministic request mix.
function* lcg(seed) {
  let x = seed >>> 0;
  for (;;) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; yield x; }
}

async function streamOnce(base, rnd) {
  const chat = rnd.next().value % 2 === 0;
  const maxTokens = 4 + (rnd.next().value % 21);
  const body = chat
    ? { messages: [{ role: 'user', content: `Story number ${rnd.next().value % 100}` }] }
    : { prompt: `Once upon a time ${rnd.next().value % 100}` };
  Object.assign(body, { max_tokens: maxTokens, temperature: 0.8, seed: rnd.next().value % 1000,
    stream: true, stream_options: { include_usage: true } });
  const res = await fetch(`${base}/v1/${chat ? 'chat/completions' : 'completions'}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_LIMIT_MS),
  });
  if (res.status === 503) {
    const err = await res.json();
    return { status: 503, retryAfter: res.headers.get('retry-after'), code: err.error?.code };
  }
  if (res.status !== 200) return { status: res.status, body: await res.text() };
  const text = await res.text();
  const events = text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
  const out = { status: 200, done: events.at(-1) === '[DONE]', finishes: 0, usage: null };
  for (const e of events.slice(0, -1)) {
    const j = JSON.parse(e);
    if (j.error) out.error = j.error;
    if (j.usage) out.usage = j.usage;
    for (const c of j.choices ?? []) if (c.finish_reason) out.finishes++;
  }
  out.maxTokens = maxTokens;
  return out;
}

test('64 concurrent streaming clients, bounded', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tokamak-load-'));
  const logPath = path.join(dir, 'requests.jsonl');
  const srv = await startServer(['--metrics', '--request-log', logPath, '--max-seqs', '16',
    '--max-queue', '16', '--max-batch-tokens', '256']);
  try {
    const results = [];
    await Promise.all(Array.from({ length: CLIENTS }, async (_, w) => {
      const rnd = lcg(w + 1);
      for (let i = 0; i < PER_CLIENT; i++) results.push(await streamOnce(srv.base, rnd));
    }));
    assert.equal(results.length, CLIENTS * PER_CLIENT);

    const ok = results.filter((r) => r.status === 200);
    const busy = results.filter((r) => r.status === 503);
    const other = results.filter((r) => r.status !== 200 && r.status !== 503);
    assert.deepEqual(other, [], 'no unexpected statuses');
    for (const r of busy) {
      assert.equal(r.retryAfter, '1');
      assert.equal(r.code, 'server_overloaded');
    }
    for (const r of ok) {
      assert.ok(r.done, 'every accepted stream ends with [DONE]');
      assert.equal(r.error, undefined);
      assert.equal(r.finishes, 1);
      assert.ok(r.usage && r.usage.completion_tokens > 0 && r.usage.completion_tokens <= r.maxTokens);
    }
    assert.ok(ok.length > 0);

    // Settled: nothing in flight, every KV block free.
    let m;
    for (let i = 0; ; i++) {
      m = parseMetrics(await (await fetch(`${srv.base}/metrics`)).text());
      if (m.tokamak_requests_in_flight === 0 && m.tokamak_kv_blocks_used === 0) break;
      assert.ok(i < 500, `did not settle: ${JSON.stringify(m)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(m.tokamak_running_sequences, 0);
    assert.equal(m.tokamak_queue_length, 0);

    // Metrics == request log == what the clients saw.
    const log = fs.readFileSync(logPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(log.length, results.length);
    const count = (xs) => xs.reduce((acc, k) => ({ ...acc, [k]: (acc[k] ?? 0) + 1 }), {});
    const fromLog = count(log.map((l) => `${l.endpoint} ${l.status}`));
    const fromMetrics = {};
    for (const [k, v] of Object.entries(m)) {
      const x = /^tokamak_requests_total\{endpoint="(\/v1\/[a-z/]+)",status="(\d+)"\}$/.exec(k);
      if (x) fromMetrics[`${x[1]} ${x[2]}`] = v;
    }
    assert.deepEqual(fromMetrics, fromLog);
    assert.equal(log.filter((l) => l.status === 200).length, ok.length);
    assert.equal(log.filter((l) => l.status === 503).length, busy.length);
    assert.equal(m.tokamak_requests_rejected_overload_total, busy.length);
    const sum = (xs, f) => xs.reduce((a, x) => a + f(x), 0);
    assert.equal(m.tokamak_prompt_tokens_total, sum(log, (l) => l.prompt_tokens));
    assert.equal(m.tokamak_generation_tokens_total, sum(log, (l) => l.completion_tokens));
    assert.equal(m.tokamak_generation_tokens_total, sum(ok, (r) => r.usage.completion_tokens));
    assert.equal(m.tokamak_prompt_tokens_total, sum(ok, (r) => r.usage.prompt_tokens));
    assert.equal(m.tokamak_time_to_first_token_seconds_count, ok.length);
    for (const l of log.filter((x) => x.status === 200)) {
      assert.ok(['stop', 'length'].includes(l.finish_reason), l.finish_reason);
      assert.ok(l.ttft_ms >= 0 && l.total_ms >= l.ttft_ms);
    }
    console.log(`load: ${ok.length} streamed, ${busy.length} refused with 503 + Retry-After`);
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});
