// The USDT probes a binary declares: its .note.stapsdt notes (SystemTap SDT v3), read with the
// ELF layout reader beside it. Used to expand `usdts` probe regexes, to find which mapped file
// of a process carries a runtime's probes, and to say "this binary has no probes". Attaching
// is libbpf's (bpf_program__attach_usdt), which reads the same notes again for the argument
// specs and semaphores; this reader only lists.
import * as fs from 'node:fs';
import { ElfError, elfNotes, readElfLayout } from './elf';

const SHT_NOTE = 7;
const NT_STAPSDT = 3;
/** A .note.stapsdt bigger than this is refused (libjvm's, the largest seen, is ~60 KiB). */
const MAX_NOTES_BYTES = 16 * 1024 * 1024;

export interface UsdtProbe {
  provider: string;
  name: string;
  /** Link-time address of the probe site. */
  pc: number;
  /** Link-time address of the semaphore, 0 when the probe has none (always enabled). */
  semaphore: number;
  /** The argument spec, e.g. "8@%rbx -4@%eax". */
  args: string;
}

/** Probes of an ELF file ([] when it has no .note.stapsdt). Throws ElfError for an unreadable file. */
export function readUsdtProbes(file: string): UsdtProbe[] {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new ElfError(file, `cannot open: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const l = readElfLayout(fd, file);
    const sec = l.sections.find((s) => s.name === '.note.stapsdt' && s.type === SHT_NOTE);
    if (!sec || sec.size === 0) return [];
    if (sec.size > MAX_NOTES_BYTES || sec.offset + sec.size > l.size) throw new ElfError(file, `.note.stapsdt of ${sec.size} bytes at ${sec.offset} is not readable`);
    const buf = Buffer.allocUnsafe(sec.size);
    if (fs.readSync(fd, buf, 0, sec.size, sec.offset) !== sec.size) throw new ElfError(file, 'short read of .note.stapsdt');
    return parseStapsdtNotes(buf, l.le, l.is64);
  } finally {
    fs.closeSync(fd);
  }
}

/** Parse the notes of a .note.stapsdt section; malformed notes end the walk (what came before is kept). */
export function parseStapsdtNotes(notes: Buffer, le: boolean, is64: boolean): UsdtProbe[] {
  const u32 = (o: number) => (le ? notes.readUInt32LE(o) : notes.readUInt32BE(o));
  const addr = (o: number) => (is64 ? Number(le ? notes.readBigUInt64LE(o) : notes.readBigUInt64BE(o)) : u32(o));
  const asz = is64 ? 8 : 4;
  const out: UsdtProbe[] = [];
  for (const { type, name, descStart, descsz } of elfNotes(notes, le)) {
    if (type !== NT_STAPSDT || name !== 'stapsdt') continue;
    if (descsz < 3 * asz + 3) continue;
    const end = descStart + descsz;
    const strs: string[] = [];
    let p = descStart + 3 * asz;
    for (let i = 0; i < 3 && p < end; i++) {
      let z = notes.indexOf(0, p);
      if (z < 0 || z > end) z = end;
      strs.push(notes.toString('latin1', p, z));
      p = z + 1;
    }
    if (strs.length < 2 || !strs[0] || !strs[1]) continue;
    out.push({ provider: strs[0], name: strs[1], pc: addr(descStart), semaphore: addr(descStart + 2 * asz), args: strs[2] ?? '' });
  }
  return out;
}

/** Distinct provider:name pairs, in note order. */
export function probeNames(probes: readonly UsdtProbe[]): { provider: string; name: string }[] {
  const seen = new Set<string>();
  const out: { provider: string; name: string }[] = [];
  for (const p of probes) {
    const k = `${p.provider}:${p.name}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ provider: p.provider, name: p.name });
  }
  return out;
}
