// After the suite: no server log of the whole run holds a secret. The tests sign in with known
// passwords, create share links, JWTs, reset tokens and Subsonic credentials; none of them may
// reach a log line at any level (the harness runs servers at `info`). Exits 1 naming each hit.
import fs from 'node:fs';
import path from 'node:path';
import { ADMIN, ALICE, SERVER_LOGS } from './harness.mjs';

const PATTERNS = [
  ['a test password', new RegExp([ADMIN.password, ALICE.password].join('|'))],
  ['a share token in a path', /\/s\/(?!\*\*\*)[A-Za-z0-9_-]{16,}/],
  ['a JWT', /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\./],
  ['a Subsonic credential in a query', /[?&](?:p|t|s|apiKey)=(?!\*\*\*)[^&\s"]+/],
  ['a password field', /"password"\s*:\s*"[^"]/],
];

const files = fs.existsSync(SERVER_LOGS) ? fs.readdirSync(SERVER_LOGS).filter((f) => f.endsWith('.log')) : [];
if (files.length === 0) {
  console.error(`no server logs under ${SERVER_LOGS}: the suite did not run, nothing was checked`);
  process.exit(1);
}
let hits = 0;
let lines = 0;
for (const f of files) {
  const text = fs.readFileSync(path.join(SERVER_LOGS, f), 'utf8');
  for (const line of text.split('\n')) {
    lines++;
    for (const [what, re] of PATTERNS) {
      if (re.test(line)) {
        hits++;
        console.error(`${f}: ${what}: ${line.slice(0, 300)}`);
      }
    }
  }
}
if (hits) {
  console.error(`${hits} log lines hold secrets`);
  process.exit(1);
}
console.log(`secrets check: ${files.length} server logs, ${lines} lines, no secret found`);
