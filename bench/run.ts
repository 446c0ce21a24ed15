// `npm run bench`: runs every compiled bench/*.bench.js one after another (they measure the
// same machine, so never in parallel) and prints their reports. A bench that fails is reported
// and the others still run; the exit code says whether any failed.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const only = process.argv.slice(2);
const files = fs
  .readdirSync(__dirname)
  .filter((f) => f.endsWith('.bench.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();
let failed = 0;
for (const f of files) {
  process.stdout.write(`\n===== ${f.replace(/\.bench\.js$/, '')} =====\n`);
  const r = spawnSync(process.execPath, [path.join(__dirname, f)], { stdio: 'inherit', timeout: 15 * 60_000 });
  if (r.status !== 0) {
    failed++;
    process.stdout.write(`!! ${f} failed (exit ${r.status ?? r.signal})\n`);
  }
}
process.stdout.write(`\n${files.length - failed} benchmarks ran, ${failed} failed\n`);
process.exit(failed > 0 ? 1 : 0);
