// End-to-end test of the chat page in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core). Starts `tokamak serve` on 127.0.0.1 with stories260K, types a prompt, checks
// the streamed answer is exactly what the API gives for the same request, stops a long reply and
// checks the server cancelled it (/metrics and the request log), reloads and finds the
// conversation, and checks the error messages for 400 (context too long), 401 and 503.
// Usage: node webui_e2e.mjs TOKAMAK_BINARY MODEL.gguf OUT_DIR   (OUT_DIR gets the screenshot)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const [tokamak, model, outDir] = process.argv.slice(2);
if (!tokamak || !model || !outDir) {
    console.error('usage: node webui_e2e.mjs TOKAMAK MODEL OUT_DIR');
    process.exit(2);
}
fs.mkdirSync(outDir, { recursive: true });
const servers = [];
let browser = null;

// The whole run is bounded: a hang fails the test instead of stalling CI.
const watchdog = setTimeout(() => fail('timed out after 90 s'), 90000);

function cleanup() {
    for (const s of servers) if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
}
process.on('exit', cleanup);

function fail(msg) {
    console.error('FAIL: ' + msg);
    cleanup();
    process.exit(1);
}
function check(cond, msg) {
    if (!cond) fail(msg);
    console.log('ok - ' + msg);
}

async function startServer(name, extra) {
    const log = fs.openSync(path.join(outDir, name + '.log'), 'w');
    const proc = spawn(tokamak, ['serve', '-m', model, '--host', '127.0.0.1', '--port', '0',
        '-t', '1', '--metrics', ...extra], { stdio: ['ignore', 'pipe', log] });
    const server = { proc, url: '' };
    servers.push(server);
    const lines = readline.createInterface({ input: proc.stdout });
    for await (const line of lines) {
        const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (m) { server.url = m[1]; break; }
    }
    if (!server.url) fail(name + ': tokamak serve exited before listening (see ' + name + '.log)');
    for (let i = 0; i < 400; ++i) {
        const r = await fetch(server.url + '/health').catch(() => null);
        if (r && r.status === 200) return server;
        await new Promise((res) => setTimeout(res, 25));
    }
    fail(name + ': /health never became ready');
}

async function metric(server, name) {
    const text = await (await fetch(server.url + '/metrics', { headers: server.headers })).text();
    const m = new RegExp('^' + name + ' (\\S+)$', 'm').exec(text);
    return m ? Number(m[1]) : NaN;
}

// The raw text of the conversations as the page stored them.
async function storedConversations(page) {
    return page.evaluate(() => JSON.parse(localStorage.getItem('tokamak.conversations') || '[]'));
}

async function waitIdle(page) {
    await page.waitForSelector('#send:not([hidden])', { timeout: 30000 });
}

async function setSetting(page, id, value) {
    if (await page.isHidden('#settings')) await page.click('#toggle-settings');
    await page.fill('#' + id, String(value));
    await page.dispatchEvent('#' + id, 'change');
}

async function main() {
    const a = await startServer('serve-a', ['--request-log', path.join(outDir, 'requests.jsonl')]);
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    const page = await (await browser.newContext({ viewport: { width: 1100, height: 760 } })).newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') console.log('console: ' + m.text()); });

    const res = await page.goto(a.url + '/');
    check(res.status() === 200 && res.headers()['content-type'].startsWith('text/html'),
        'GET / serves the page as text/html');
    await page.waitForFunction(() => document.getElementById('model-name').textContent ===
        'stories260K.gguf', null, { timeout: 10000 });
    check(await page.textContent('#model-ctx') === '2048 tokens', 'model info from /v1/models');

    // The Markdown renderer escapes HTML before adding markup of its own.
    const md = await page.evaluate(() => window.tkMarkdown.render(
        '<img src=x onerror=alert(1)> **bold** `a<b` [x](javascript:alert(1))\n```js\n<b>x</b>\n```'));
    check(!md.includes('<img') && md.includes('&lt;img') && md.includes('<strong>bold</strong>') &&
        md.includes('<code>a&lt;b</code>') && !md.includes('href="javascript') &&
        md.includes('<pre><code class="language-js">&lt;b&gt;x&lt;/b&gt;</code></pre>'),
        'Markdown rendering is HTML-safe, with code blocks');

    // 1. A streamed answer, greedy, equals the API's non-streamed answer to the same request.
    await setSetting(page, 'temperature', 0);
    await setSetting(page, 'max-tokens', 48);
    const streamed = page.waitForResponse((r) => r.url().endsWith('/v1/chat/completions'));
    await page.fill('#prompt', 'Once upon a time');
    await page.press('#prompt', 'Enter');
    const sres = await streamed;
    check(sres.headers()['content-type'] === 'text/event-stream', 'the reply streams as SSE');
    await waitIdle(page);
    let convs = await storedConversations(page);
    const answer = convs[0].messages[1].content;
    const api = await (await fetch(a.url + '/v1/chat/completions', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'Once upon a time' }],
            temperature: 0, top_p: 0.95, max_tokens: 48 }),
    })).json();
    check(answer.length > 0 && answer === api.choices[0].message.content,
        'the page shows the model\'s answer: ' + JSON.stringify(answer.slice(0, 60)));
    check(/tokens\/s/.test(await page.textContent('.msg.assistant .meta')), 'tokens/s shown');
    check(convs[0].title === 'Once upon a time', 'conversation titled by its first prompt');

    // 2. Stop a long reply mid-stream: the page aborts the fetch and the server cancels.
    await setSetting(page, 'max-tokens', 1800);
    await setSetting(page, 'extra-json', '{"ignore_eos": true}');
    let stopped = false, attempt = 0;
    for (; attempt < 3 && !stopped; ++attempt) {
        await page.fill('#prompt', 'Tell me a long story');
        await page.press('#prompt', 'Enter');
        await page.waitForFunction(() => {
            const m = document.querySelectorAll('.msg.assistant .content');
            return m.length && m[m.length - 1].textContent.length >= 20;
        }, null, { timeout: 20000 });
        stopped = await page.evaluate(() => {
            const b = document.getElementById('stop');
            if (b.hidden) return false;  // the reply ended first: try again
            b.click();
            return true;
        });
        await waitIdle(page);
    }
    check(stopped, 'pressed Stop while the reply streamed (attempt ' + attempt + ')');
    check(/stopped/.test(await page.textContent('.msg.assistant:last-child .meta')),
        'the reply is marked stopped');
    let cancelled = 0;
    for (let i = 0; i < 200 && !(cancelled >= 1); ++i) {
        cancelled = await metric(a, 'tokamak_requests_cancelled_by_client_total');
        if (!(cancelled >= 1)) await new Promise((r) => setTimeout(r, 25));
    }
    check(cancelled >= 1, 'server counted the cancel (tokamak_requests_cancelled_by_client_total=' +
        cancelled + ')');
    const logLines = fs.readFileSync(path.join(outDir, 'requests.jsonl'), 'utf8').trim().split('\n')
        .map((l) => JSON.parse(l));
    check(logLines.some((l) => l.status === 499), 'request log shows the cancelled request (499)');
    await page.click('#toggle-settings');  // closed, so the screenshot shows the conversation
    await page.screenshot({ path: path.join(outDir, 'webui.png'), fullPage: true });
    convs = await storedConversations(page);
    const before = convs.find((c) => c.title === 'Once upon a time');
    const stoppedText = before.messages[before.messages.length - 1].content;
    check(stoppedText.length >= 20, 'the partial reply is kept');

    // 3. Context too long: a clear 400 message.
    await page.click('#new-chat');
    await page.fill('#prompt', 'once upon a time there was a cat. '.repeat(400));
    await page.press('#prompt', 'Enter');
    await page.waitForSelector('#error:not([hidden])', { timeout: 10000 });
    const err400 = await page.textContent('#error');
    check(/too long for the model.s context \(400\).*2048 tokens/.test(err400),
        'context-too-long message: ' + err400.slice(0, 90));

    // 4. Reload: the conversations come back from localStorage.
    await page.reload();
    await page.waitForSelector('#conversations .conv');
    const titles = await page.$$eval('#conversations .conv-title', (b) => b.map((x) => x.textContent));
    check(titles.includes('Once upon a time') && titles.length === 2,
        'conversation list after reload: ' + JSON.stringify(titles.map((t) => t.slice(0, 20))));
    await page.click('#conversations .conv-title >> text="Once upon a time"');
    const users = await page.$$eval('.msg.user .content', (d) => d.map((x) => x.textContent));
    check(users.length >= 2 && users[0] === 'Once upon a time' &&
        users.slice(1).every((u) => u === 'Tell me a long story'),
        'reloaded conversation has its prompts');
    const shown = await page.$$eval('.msg.assistant .content', (d) => d.map((x) => x.textContent));
    check(shown.length >= 2 && shown[0].length > 0 && shown[shown.length - 1].length >= 20,
        'reloaded conversation has its answers');
    check(pageErrors.length === 0, 'no script errors on the page ' + pageErrors.join('; '));

    // 5. An API key and a full queue: 401, then the key from Settings, then 503.
    const b = await startServer('serve-b', ['--api-key', 'sesame', '--max-seqs', '1',
        '--max-queue', '0']);
    b.headers = { Authorization: 'Bearer sesame' };
    const pb = await (await browser.newContext()).newPage();
    const rb = await pb.goto(b.url + '/');
    check(rb.status() === 200, 'the page itself needs no API key');
    await pb.waitForSelector('#error:not([hidden])', { timeout: 10000 });
    check(/Unauthorized \(401\)/.test(await pb.textContent('#error')), '401 message without a key');
    await setSetting(pb, 'api-key', 'sesame');
    await pb.waitForFunction(() => document.getElementById('model-name').textContent ===
        'stories260K.gguf', null, { timeout: 10000 });
    check(await pb.isHidden('#error'), 'the key from Settings is used');
    let saw503 = false;
    for (let attempt = 0; attempt < 3 && !saw503; ++attempt) {
        // Hold the one engine slot with a long background stream.
        const ctl = new AbortController();
        const bg = await fetch(b.url + '/v1/completions', {
            method: 'POST', signal: ctl.signal,
            headers: { ...b.headers, 'Content-Type': 'application/json' },
            body: JSON.stringify({ prompt: 'Once', max_tokens: 1900, ignore_eos: true, stream: true }),
        });
        const reader = bg.body.getReader();
        await reader.read();
        await pb.fill('#prompt', 'Hello');
        await pb.press('#prompt', 'Enter');
        await waitIdle(pb);
        const e = await pb.textContent('#error');
        saw503 = /request queue is full \(503\)/.test(e) && !(await pb.isHidden('#error'));
        ctl.abort();
        await reader.read().catch(() => {});
    }
    check(saw503, '503 queue-full message');
    await pb.screenshot({ path: path.join(outDir, 'webui-errors.png') });

    await browser.close();
    clearTimeout(watchdog);
    console.log('webui e2e: all checks passed; screenshots in ' + outDir);
}

main().then(() => { cleanup(); process.exit(0); }, (e) => fail(e.stack || String(e)));
