// Library names as pmdabcc (BCC's BPF.find_library) took them: `c` is the libc the system
// uses, `pthread` libpthread, and so on; an absolute path is used as it is. Resolved through
// the dynamic loader's cache (`ldconfig -p`, the entries of this machine's ABI first), then
// the loader's default directories.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

let cache: { name: string; abi: string; path: string }[] | null = null;

function ldconfigEntries(): { name: string; abi: string; path: string }[] {
  if (cache) return cache;
  cache = [];
  for (const bin of ['/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    let text: string;
    try {
      text = execFileSync(bin, ['-p'], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000, maxBuffer: 16 * 1024 * 1024 });
    } catch {
      continue;
    }
    // "\tlibc.so.6 (libc6,x86-64) => /lib/x86_64-linux-gnu/libc.so.6"
    for (const line of text.split('\n')) {
      const m = /^\s+(\S+) \(([^)]*)\)(?: OS ABI: [^=]*)? => (\S+)$/.exec(line);
      if (m) cache.push({ name: m[1], abi: m[2], path: m[3] });
    }
    break;
  }
  return cache;
}

/** The ldconfig ABI tag of this machine's native libraries. */
function nativeAbi(): string {
  switch (os.arch()) {
    case 'x64':
      return 'x86-64';
    case 'arm64':
      return 'AArch64';
    default:
      return '';
  }
}

function multiarchDirs(): string[] {
  const triplet = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[os.arch() as 'x64' | 'arm64'];
  const dirs = triplet ? [`/lib/${triplet}`, `/usr/lib/${triplet}`] : [];
  return [...dirs, '/lib64', '/usr/lib64', '/lib', '/usr/lib', '/usr/local/lib'];
}

/** The file of library `name` (e.g. 'c' → /lib/x86_64-linux-gnu/libc.so.6); throws when none is found. */
export function resolveLibrary(name: string): string {
  if (name.startsWith('/')) {
    if (!fs.existsSync(name)) throw new Error(`${name} does not exist`);
    return name;
  }
  const base = name.startsWith('lib') || name.includes('.so') ? name : `lib${name}`;
  const want = (n: string) => n === base || n.startsWith(`${base}.so`);
  const entries = ldconfigEntries().filter((e) => want(e.name));
  const abi = nativeAbi();
  // Native ABI first; among them the versioned soname (libc.so.6) before the dev symlink.
  entries.sort((a, b) => Number(!a.abi.includes(abi)) - Number(!b.abi.includes(abi)) || b.name.length - a.name.length);
  for (const e of entries) if ((!abi || e.abi.includes(abi)) && fs.existsSync(e.path)) return e.path;
  for (const dir of multiarchDirs()) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    const hit = names.filter(want).sort((a, b) => b.length - a.length)[0];
    if (hit) return `${dir}/${hit}`;
  }
  throw new Error(`library "${name}" not found (ldconfig -p and ${multiarchDirs().join(', ')})`);
}
