// Moves a fresh Vite build into dist/ touching only what changed: an unchanged file keeps its
// modification time, so cargo (which watches web/dist to re-embed the UI) does not rebuild and
// re-link the server when the UI did not change. Usage: node scripts/sync-dist.mjs FROM TO
import fs from 'node:fs';
import path from 'node:path';

const [from, to] = process.argv.slice(2);
if (!from || !to) {
  console.error('usage: sync-dist.mjs FROM TO');
  process.exit(2);
}

function files(dir, base = dir, out = new Map()) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) files(full, base, out);
    else out.set(path.relative(base, full), full);
  }
  return out;
}

const fresh = files(from);
const old = files(to);
let changed = 0;
for (const [rel, src] of fresh) {
  const dst = path.join(to, rel);
  const same = old.has(rel) && fs.readFileSync(src).equals(fs.readFileSync(dst));
  if (!same) {
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.copyFileSync(src, dst);
    changed++;
  }
}
for (const [rel, dst] of old) {
  if (!fresh.has(rel)) {
    fs.rmSync(dst);
    changed++;
  }
}
fs.rmSync(from, { recursive: true, force: true });
console.log(`web/dist: ${changed} file(s) changed`);
