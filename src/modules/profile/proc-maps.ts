// The executable mappings of a process (/proc/PID/maps), for turning a user-space address
// into (file, file offset).

export interface Mapping {
  start: number;
  end: number;
  /** File offset of `start`. */
  offset: number;
  /** "major:minor" in hex, as maps prints it; with inode it names the file even if renamed. */
  dev: string;
  inode: number;
  /** Path, "[vdso]", "[anon:...]", or "" for anonymous memory (JIT code lives there). */
  path: string;
  /** The file was deleted or replaced after it was mapped. */
  deleted: boolean;
  /** The hex "start-end" that names the mapping under /proc/PID/map_files/. */
  range: string;
}

const LINE = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+)(?: +(.*))?$/;

/** Executable mappings, sorted by start. Lines that do not parse are skipped. */
export function parseMaps(text: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m || m[3][2] !== 'x') continue;
    let path = m[7] ?? '';
    let deleted = false;
    if (path.endsWith(' (deleted)')) {
      path = path.slice(0, -' (deleted)'.length);
      deleted = true;
    }
    out.push({
      start: parseInt(m[1], 16),
      end: parseInt(m[2], 16),
      offset: parseInt(m[4], 16),
      dev: m[5],
      inode: Number(m[6]),
      path,
      deleted,
      range: `${m[1]}-${m[2]}`,
    });
  }
  out.sort((a, b) => a.start - b.start);
  return out;
}

export function findMapping(maps: readonly Mapping[], addr: number): Mapping | undefined {
  let lo = 0;
  let hi = maps.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const m = maps[mid];
    if (addr < m.start) hi = mid - 1;
    else if (addr >= m.end) lo = mid + 1;
    else return m;
  }
  return undefined;
}

/** A mapping backed by a regular file (as opposed to anonymous memory or a kernel region). */
export function isFileMapping(m: Mapping): boolean {
  return m.inode !== 0 && m.path.startsWith('/');
}

/** Anonymous executable memory: where JIT compilers (V8, the JVM) put generated code. */
export function isAnonymous(m: Mapping): boolean {
  return m.inode === 0 && (m.path === '' || m.path.startsWith('[anon') || m.path.startsWith('/memfd:'));
}
