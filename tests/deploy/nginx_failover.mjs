// Replicas behind a real nginx: `tokamak deploy nginx` writes the config, three `tokamak serve`
// replicas and nginx (Debian's, as the current user, everything in a temp dir) run on
// 127.0.0.1, a bounded concurrent load goes through nginx, one replica is killed mid-run, and
// every request must still get a complete answer, with the load spread over the replicas (their
// request logs) and nginx's access log showing the retry away from the dead one.
// Usage: node nginx_failover.mjs TOKAMAK_BINARY MODEL.gguf REPO_ROOT
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const [tokamak, model, repo] = process.argv.slice(2);
if (!tokamak || !model || !repo) {
    console.error('usage: node nginx_failover.mjs TOKAMAK MODEL REPO_ROOT');
    process.exit(2);
}
const NGINX = fs.existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
const REPLICAS = 3;
const REQUESTS = 48;       // total, bounded
const CONCURRENCY = 6;
const KILL_AFTER = 18;     // replica 1 dies once this many requests have completed
const MAX_TOKENS = 24;

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tokamak-nginx-'));
const procs = [];
const watchdog = setTimeout(() => fail('timed out after 60 s'), 60000);

function cleanup() {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}
process.on('exit', cleanup);
function fail(msg) {
    console.error('FAIL: ' + msg + ' (logs in ' + tmp + ')');
    cleanup();
    process.exit(1);
}
function check(cond, msg) {
    if (!cond) fail(msg);
    console.log('ok - ' + msg);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// REPLICAS + 1 consecutive free ports (the config numbers replicas from --base-port).
async function portFree(port) {
    return new Promise((resolve) => {
        const s = net.createServer();
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
}
async function freePorts(n) {
    for (let attempt = 0; attempt < 50; ++attempt) {
        const base = 20000 + Math.floor(Math.random() * 30000);
        let ok = true;
        for (let i = 0; i < n && ok; ++i) ok = await portFree(base + i);
        if (ok) return base;
    }
    fail("no free port range");
}

async function waitHealthy(url, what) {
    for (let i = 0; i < 400; ++i) {
        const r = await fetch(url + '/health').catch(() => null);
        if (r && r.status === 200) return;
        await sleep(25);
    }
    fail(what + ' never became healthy');
}

async function main() {
    // The committed config is exactly what the command writes for the defaults.
    const def = spawnSync(tokamak, ['deploy', 'nginx', '--replicas', '3', '--base-port', '8081'],
        { encoding: 'utf8' });
    check(def.status === 0 && def.stdout ===
        fs.readFileSync(path.join(repo, 'deploy/nginx/tokamak.conf'), 'utf8'),
        'deploy/nginx/tokamak.conf is `tokamak deploy nginx --replicas 3 --base-port 8081`');

    const base = await freePorts(REPLICAS + 1);
    const listen = base + REPLICAS;
    const conf = path.join(tmp, 'tokamak.conf');
    const gen = spawnSync(tokamak, ['deploy', 'nginx', '--replicas', String(REPLICAS), '--base-port',
        String(base), '--listen', String(listen), '--out', conf], { encoding: 'utf8' });
    check(gen.status === 0, 'tokamak deploy nginx --out ' + conf);

    const replicas = [];
    for (let i = 0; i < REPLICAS; ++i) {
        const log = fs.openSync(path.join(tmp, `replica-${i}.log`), 'w');
        const p = spawn(tokamak, ['serve', '-m', model, '--host', '127.0.0.1', '--port',
            String(base + i), '-t', '1', '--metrics', '--request-log',
            path.join(tmp, `replica-${i}.jsonl`)], { stdio: ['ignore', log, log] });
        procs.push(p);
        replicas.push({ proc: p, url: `http://127.0.0.1:${base + i}` });
    }
    for (const [i, r] of replicas.entries()) await waitHealthy(r.url, 'replica ' + i);

    // nginx as the current user: its own prefix, logs and temp paths in tmp, the generated
    // config included in http {} as Debian's conf.d would.
    const user = process.getuid && process.getuid() === 0 ? 'user root root;\n' : '';
    fs.writeFileSync(path.join(tmp, 'nginx.conf'), `${user}worker_processes 1;
error_log ${tmp}/error.log warn;
events { worker_connections 256; }
http {
    log_format up '$status $upstream_addr $upstream_status $request_time';
    access_log ${tmp}/access.log up;
    client_body_temp_path ${tmp}/client_body;
    proxy_temp_path ${tmp}/proxy;
    fastcgi_temp_path ${tmp}/fastcgi;
    uwsgi_temp_path ${tmp}/uwsgi;
    scgi_temp_path ${tmp}/scgi;
    include ${conf};
}
`);
    const nginxLog = fs.openSync(path.join(tmp, 'nginx.out'), 'w');
    const nginx = spawn(NGINX, ['-p', tmp, '-e', path.join(tmp, 'error.log'), '-c',
        path.join(tmp, 'nginx.conf'), '-g', `daemon off; pid ${tmp}/nginx.pid;`],
    { stdio: ['ignore', nginxLog, nginxLog] });
    procs.push(nginx);
    const front = `http://127.0.0.1:${listen}`;
    await waitHealthy(front, 'nginx');

    // The load: REQUESTS chat completions, CONCURRENCY at a time; a replica is killed mid-run.
    const results = [];
    let next = 0, done = 0, killed = false;
    async function worker() {
        while (next < REQUESTS) {
            const id = next++;
            const res = await fetch(front + '/v1/chat/completions', {
                method: 'POST', headers: { 'Content-Type': 'application/json' },
                body: JSON.stringify({ messages: [{ role: 'user', content: 'Story ' + id }],
                    max_tokens: MAX_TOKENS, ignore_eos: true, temperature: 0 }),
            }).catch((e) => ({ status: 0, text: async () => String(e) }));
            const text = await res.text();
            let j = null;
            try { j = JSON.parse(text); } catch (e) { /* reported below */ }
            results[id] = { status: res.status, body: j, text };
            if (++done === KILL_AFTER && !killed) {
                killed = true;
                replicas[1].proc.kill('SIGKILL');
            }
        }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    check(killed, 'replica 1 was killed mid-run');

    const bad = results.filter((r) => !(r.status === 200 && r.body &&
        r.body.choices[0].finish_reason === 'length' &&
        r.body.usage.completion_tokens === MAX_TOKENS &&
        typeof r.body.choices[0].message.content === 'string'));
    check(results.length === REQUESTS && bad.length === 0, `all ${REQUESTS} requests got a ` +
        `complete answer` + (bad.length ? ': ' + bad[0].status + ' ' + bad[0].text : ''));

    // A stream through nginx still arrives as SSE, ending with [DONE].
    const sres = await fetch(front + '/v1/completions', {
        method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ prompt: 'Once', max_tokens: 8, stream: true }),
    });
    const sse = await sres.text();
    check(sres.status === 200 && sres.headers.get('content-type') === 'text/event-stream' &&
        sse.trimEnd().endsWith('data: [DONE]'), 'streaming through nginx');

    // The spread: every replica answered its share (the dead one before it died). A replica
    // writes its log line just after the answer, so give the last lines a moment.
    let counts = [];
    for (let tries = 0; tries < 100; ++tries) {
        counts = [];
        for (let i = 0; i < REPLICAS; ++i) {
            const f = path.join(tmp, `replica-${i}.jsonl`);
            const lines = fs.existsSync(f) ? fs.readFileSync(f, 'utf8').trim().split('\n') : [];
            counts.push(lines.filter((l) => l && JSON.parse(l).status === 200 &&
                JSON.parse(l).endpoint === '/v1/chat/completions').length);
        }
        if (counts.reduce((a, b) => a + b, 0) >= REQUESTS) break;
        await sleep(20);
    }
    check(counts.every((c) => c >= 3) && counts.reduce((a, b) => a + b, 0) >= REQUESTS,
        'load spread across replicas: ' + JSON.stringify(counts));
    // Live replicas' own metrics agree with their logs.
    for (const i of [0, 2]) {
        const m = await (await fetch(replicas[i].url + '/metrics')).text();
        // 200s of chat completions (or of everything, where the counter has no endpoint label).
        let n = 0;
        for (const [, labels, v] of m.matchAll(/^tokamak_requests_total\{([^}]*)\} (\S+)$/gm)) {
            const ep = /endpoint="([^"]*)"/.exec(labels);
            if (labels.includes('status="200"') && (!ep || ep[1] === '/v1/chat/completions'))
                n += Number(v);
        }
        check(n >= counts[i], `replica ${i} /metrics counts its ${n} answers`);
    }
    const access = fs.readFileSync(path.join(tmp, 'access.log'), 'utf8').trim().split('\n');
    const retried = access.filter((l) => / \S+, \S+ /.test(l));
    check(retried.length >= 1 && retried.every((l) => l.startsWith('200 ')),
        `nginx retried ${retried.length} request(s) away from the dead replica, e.g. ` +
        JSON.stringify(retried[0]));

    nginx.kill('SIGQUIT');
    clearTimeout(watchdog);
    console.log('nginx failover: all checks passed');
}

main().then(() => { cleanup(); if (!process.env.KEEP_TMP) fs.rmSync(tmp, { recursive: true, force: true }); process.exit(0); },
    (e) => fail(e.stack || String(e)));
