// Every curl example in docs/server.md, run as written against a live server (the port swapped
// in): each must exit 0 and print something, and where the doc shows the output on the next line
// as `# ...` (without an ellipsis) the output must be that (JSON compared as data).
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startServer } from './serve.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const doc = fs.readFileSync(path.join(here, '../../docs/server.md'), 'utf8');

function examples() {
  const out = [];
  for (const block of doc.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1].split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i].startsWith('curl ')) continue;
      let cmd = lines[i];
      while (cmd.endsWith('\\') && i + 1 < lines.length) cmd = cmd.slice(0, -1) + lines[++i];
      const next = lines[i + 1] ?? '';
      const expect = next.startsWith('# ') && !next.includes('...') ? next.slice(2) : null;
      out.push({ cmd, expect });
    }
  }
  return out;
}

test('docs/server.md curl examples work', async () => {
  const list = examples();
  assert.ok(list.length >= 8, `only ${list.length} examples found`);
  const srv = await startServer(['--metrics']);
  try {
    for (const { cmd, expect } of list) {
      const run = cmd.replaceAll('127.0.0.1:8080', `127.0.0.1:${srv.port}`);
      const out = execFileSync('bash', ['-o', 'pipefail', '-c', run], { encoding: 'utf8', timeout: 30000 });
      assert.ok(out.length > 0, `no output: ${cmd}`);
      if (expect === null) continue;
      let got = out.trim();
      let want = expect;
      try {
        got = JSON.parse(got);  // JSON compares as data: key order is not part of the promise
        want = JSON.parse(want);
      } catch { /* plain text */ }
      assert.deepEqual(got, want, cmd);
    }
  } finally {
    assert.equal(await srv.stop(), 0);
  }
});
