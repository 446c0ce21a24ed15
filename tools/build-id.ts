// Writes `build-id`: a content hash of everything Install deploys (the compiled agent, its eBPF
// objects, metadata, scripts and the dependency lock). Install deploys the file with the agent,
// and the agent reports it in bcc.pmda.version ("0.1.0+<id>"), so anyone — the test suite
// first of all — can tell whether pmcd is running *this* build or an older one. Run last by
// `npm run build`.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const BUILD_ID_FILE = 'build-id';

/** Files and directories (relative to the repository) whose content makes up a deployed agent. */
export const DEPLOYED = ['dist/src', 'bpf/.output', 'package.json', 'package-lock.json', 'pmns', 'help', 'domain.h', 'root', 'ebpf.conf', 'Install', 'Remove'];

function files(repo: string, rel: string): string[] {
  const abs = path.join(repo, rel);
  const st = fs.statSync(abs);
  if (!st.isDirectory()) return [rel];
  // bpf/.output: only the top-level objects are deployed (not vmlinux.h, not test fixtures).
  if (rel === 'bpf/.output') return fs.readdirSync(abs).filter((n) => n.endsWith('.bpf.o')).sort().map((n) => `${rel}/${n}`);
  return fs
    .readdirSync(abs)
    .sort()
    .flatMap((n) => files(repo, `${rel}/${n}`));
}

export function computeBuildId(repo: string): string {
  const h = crypto.createHash('sha256');
  for (const rel of DEPLOYED.flatMap((d) => files(repo, d))) {
    h.update(`${rel}\0`);
    h.update(fs.readFileSync(path.join(repo, rel)));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 16);
}

if (require.main === module) {
  const repo = path.resolve(__dirname, '../..');
  const id = computeBuildId(repo);
  fs.writeFileSync(path.join(repo, BUILD_ID_FILE), `${id}\n`);
  process.stderr.write(`build-id: ${id}\n`);
}
