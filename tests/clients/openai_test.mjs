// The official `openai` npm package against `tokamak serve` (stories260K with a real Jinja chat
// template): chat and completions, streaming, include_usage, stop, n > 1, seeds, error objects
// (400, 401, 413) and the client's own retry of a 503 (queue full, Retry-After).
import test from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { once } from 'node:events';
import OpenAI from 'openai';
import nodeFetch from 'node-fetch';
import { startServer, shared, parseMetrics } from './serve.mjs';

const template = path.join(shared, 'models/chat_templates/llama.cpp/Qwen-Qwen2.5-7B-Instruct.jinja');
const KEY = 'sk-tokamak-test';
let srv;
let client;

test.before(async () => {
  srv = await startServer(['--api-key', KEY, '--chat-template-file', template, '--metrics',
    '--max-body', '1', '--max-seqs', '4', '--max-queue', '8', '-c', '256']);
  client = new OpenAI({ apiKey: KEY, baseURL: `${srv.base}/v1`, maxRetries: 0, timeout: 30000 });
});

test.after(async () => {
  assert.equal(await srv.stop(), 0, 'SIGTERM exits 0');
});

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

function chatText(chunks) {
  let text = '';
  for (const c of chunks) for (const ch of c.choices) text += ch.delta?.content ?? '';
  return text;
}

const story = [{ role: 'user', content: 'Tell me a story' }];

test('models lists the alias', async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['stories']);
});

test('chat: the model\'s Jinja template, stream == non-stream, include_usage', async () => {
  const req = { model: 'stories', messages: story, max_tokens: 24, temperature: 0 };
  const r = await client.chat.completions.create(req);
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.model, 'stories');
  assert.equal(typeof r.created, 'number');
  assert.equal(typeof r.system_fingerprint, 'string');
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  const finish = r.choices[0].finish_reason;
  assert.ok(['length', 'stop'].includes(finish));
  assert.ok(r.usage.completion_tokens <= 24 && r.usage.completion_tokens > 0);
  if (finish === 'length') assert.equal(r.usage.completion_tokens, 24);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  const text = r.choices[0].message.content;
  assert.ok(text.length > 0);

  // The prompt is Qwen's template rendered (its default system line included), not a fallback.
  const rendered = '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful ' +
    'assistant.<|im_end|>\n<|im_start|>user\nTell me a story<|im_end|>\n<|im_start|>assistant\n';
  const tok = await (await fetch(`${srv.base}/tokenize`, {
    method: 'POST', headers: { Authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ content: rendered }),
  })).json();
  assert.equal(r.usage.prompt_tokens, tok.tokens.length);

  const chunks = await collect(await client.chat.completions.create(
    { ...req, stream: true, stream_options: { include_usage: true } }));
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  assert.equal(chatText(chunks), text);
  const finishes = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter(Boolean);
  assert.deepEqual(finishes, [finish]);
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  // The same counts; cached_tokens differs as the stream found the prompt in the prefix cache.
  for (const k of ['prompt_tokens', 'completion_tokens', 'total_tokens']) {
    assert.equal(last.usage[k], r.usage[k], k);
  }
  for (const c of chunks.slice(0, -1)) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.id, chunks[0].id);
  }
});

test('completions: stream == non-stream, stop never leaks', async () => {
  const req = { model: 'stories', prompt: 'Once upon a time', max_tokens: 30, temperature: 0 };
  const r = await client.completions.create(req);
  const text = r.choices[0].text;
  assert.ok(text.startsWith(', there was a little girl named Lily.'), text);
  assert.equal(r.usage.prompt_tokens, 5);
  const s = await collect(await client.completions.create({ ...req, stream: true }));
  assert.equal(s.map((c) => c.choices[0]?.text ?? '').join(''), text);

  for (const stop of ['Lily', ['zzz', ' girl']]) {
    const first = [].concat(stop).map((x) => text.indexOf(x)).filter((i) => i >= 0);
    const want = text.slice(0, Math.min(...first));
    const a = await client.completions.create({ ...req, stop });
    assert.equal(a.choices[0].text, want);
    assert.equal(a.choices[0].finish_reason, 'stop');
    const b = await collect(await client.completions.create({ ...req, stop, stream: true }));
    assert.equal(b.map((c) => c.choices[0]?.text ?? '').join(''), want);
    assert.equal(b.at(-1).choices[0].finish_reason, 'stop');
  }
});

test('n > 1 and seed determinism', async () => {
  const req = { model: 'stories', messages: story, max_tokens: 16, temperature: 1, n: 3, seed: 42 };
  const a = await client.chat.completions.create(req);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
  const b = await client.chat.completions.create(req);
  assert.deepEqual(b.choices.map((c) => c.message.content), a.choices.map((c) => c.message.content));
  const c = await client.chat.completions.create({ ...req, seed: 7 });
  assert.notDeepEqual(c.choices.map((x) => x.message.content), a.choices.map((x) => x.message.content));
  // Streaming with the same seed gives the same three texts.
  const chunks = await collect(await client.chat.completions.create({ ...req, stream: true }));
  const texts = ['', '', ''];
  for (const ch of chunks) for (const x of ch.choices) texts[x.index] += x.delta?.content ?? '';
  assert.deepEqual(texts, a.choices.map((x) => x.message.content));
  assert.ok(a.usage.completion_tokens <= 48);
});

async function apiError(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected an error');
}

test('error objects: 400 wrong type, 400 context length, 401, 413', async () => {
  let e = await apiError(client.chat.completions.create(
    { model: 'stories', messages: story, temperature: 'hot' }));
  assert.ok(e instanceof OpenAI.BadRequestError);
  assert.equal(e.status, 400);
  assert.equal(e.param, 'temperature');
  assert.equal(e.type, 'invalid_request_error');

  e = await apiError(client.completions.create(
    { model: 'stories', prompt: 'Once upon a time '.repeat(100), max_tokens: 4 }));
  assert.equal(e.status, 400);
  assert.equal(e.code, 'context_length_exceeded');
  assert.match(e.message, /maximum context length is 256 tokens/);

  const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${srv.base}/v1`, maxRetries: 0 });
  e = await apiError(wrong.models.list());
  assert.ok(e instanceof OpenAI.AuthenticationError);
  assert.equal(e.status, 401);
  assert.equal(e.code, 'invalid_api_key');

  e = await apiError(client.completions.create(
    { model: 'stories', prompt: 'a'.repeat(1200 * 1024), max_tokens: 1 }));
  assert.equal(e.status, 413);
  assert.equal(e.code, 'request_too_large');

  // The refusals are counted like everything else.
  const m = parseMetrics(await (await fetch(`${srv.base}/metrics`,
    { headers: { Authorization: `Bearer ${KEY}` } })).text());
  assert.ok(m['tokamak_requests_total{endpoint="/v1/completions",status="413"}'] >= 1);
  assert.ok(m['tokamak_requests_total{endpoint="/v1/models",status="401"}'] >= 1);
});

// A slot holder: a streaming request whose client never reads. With small buffers the server
// pauses it (backpressure), so it stays in flight until this socket goes away.
async function holdSlot(port) {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  const body = JSON.stringify({
    messages: story, max_tokens: 400, ignore_eos: true, stream: true, logprobs: true,
    top_logprobs: 20, temperature: 0,
  });
  sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  sock.pause();
  sock.on('error', () => {});
  return sock;
}

test('the client retries a 503 (queue full) after Retry-After and then succeeds', async () => {
  const busy = await startServer(['--max-seqs', '1', '--max-queue', '0', '--metrics',
    '--write-buffer', '16', '--send-buffer', '4', '--chat-template-file', template]);
  try {
    const holder = await holdSlot(busy.port);
    // Wait (bounded) until the holder is admitted.
    for (let i = 0; ; i++) {
      const m = parseMetrics(await (await fetch(`${busy.base}/metrics`)).text());
      if (m.tokamak_requests_in_flight === 1) break;
      assert.ok(i < 500, 'holder never admitted');
      await new Promise((r) => setTimeout(r, 10));
    }
    const seen = [];
    const retryAfter = [];
    const c = new OpenAI({
      apiKey: 'unused', baseURL: `${busy.base}/v1`, maxRetries: 2,
      fetch: async (url, init) => {
        const res = await nodeFetch(url, init);
        seen.push(res.status);
        if (res.status === 503) {
          retryAfter.push(res.headers.get('retry-after'));
          holder.destroy();  // frees the slot: the server cancels the held request
        }
        return res;
      },
    });
    const r = await c.completions.create({ model: 'stories', prompt: 'Once upon a time',
      max_tokens: 8, temperature: 0 });
    assert.deepEqual(seen, [503, 200]);
    assert.deepEqual(retryAfter, ['1']);
    assert.ok(r.choices[0].text.startsWith(', there was a little girl'), r.choices[0].text);
    const m = parseMetrics(await (await fetch(`${busy.base}/metrics`)).text());
    assert.equal(m.tokamak_requests_rejected_overload_total, 1);
    assert.equal(m.tokamak_requests_cancelled_by_client_total, 1);
    assert.equal(m.tokamak_kv_blocks_used, 0);
  } finally {
    assert.equal(await busy.stop(), 0);
  }
});
