// Starts `tokamak serve` on 127.0.0.1 with a kernel-chosen port for the client tests and stops it
// with SIGTERM (which must exit 0). TOKAMAK_BIN and TK_SHARED_DIR come from CTest.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';

export const shared = process.env.TK_SHARED_DIR ?? path.resolve('../shared');
export const bin = process.env.TOKAMAK_BIN ?? path.resolve('build/bin/tokamak');
export const model = path.join(shared, 'models/gguf/stories260K.gguf');

// Resolves once /health says 200; rejects if the process dies or takes over `limitMs`.
export async function startServer(extra = [], limitMs = 30000) {
  const args = ['serve', '-m', model, '--port', '0', '-t', '1', '--alias', 'stories', ...extra];
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr = (stderr + d).slice(-8000); });
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, sig) => resolve(code ?? sig));
    proc.on('error', (e) => { stderr += String(e); resolve(-1); });
  });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no "listening on" line in time')), limitMs);
    const lines = createInterface({ input: proc.stdout });
    lines.on('line', (l) => {
      const m = /^listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(l);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    exited.then((c) => { clearTimeout(timer); reject(new Error(`serve exited (${c}): ${stderr}`)); });
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      if ((await fetch(`${base}/health`)).status === 200) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error('server never became ready');
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    port, base, proc,
    stderr: () => stderr,
    // SIGTERM, then the exit status (0 expected); SIGKILL after `limitMs`.
    async stop(limit = 20000) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), limit);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}

// Prometheus text -> {name or name{labels}: value}.
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}
