// Loads the golden PDU vectors and captures from ../shared/vectors/pdu (beside the repository).
import fs from 'node:fs';
import path from 'node:path';

export const VECTOR_DIR = path.resolve(__dirname, '../../../shared/vectors/pdu');
export const CAPTURE_DIR = path.join(VECTOR_DIR, 'captures');
export const PDUDECODE = path.resolve(VECTOR_DIR, '../tools/pdudecode.py');

export interface Vector {
  file: string;
  direction: string;
  pdu: string;
  type: number;
  length: number;
  produced_by: string;
  channel: string;
  source: string;
  bytes: Buffer;
}

function requireDir(): void {
  if (!fs.existsSync(path.join(VECTOR_DIR, 'index.json'))) {
    throw new Error(`golden PDU vectors not found: ${VECTOR_DIR}/index.json is missing (expected ../shared/vectors/pdu next to the repository)`);
  }
}

export function hexToBuffer(text: string): Buffer {
  const hex = text
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('')
    .replace(/\s+/g, '');
  if (!/^([0-9a-f]{2})*$/i.test(hex)) throw new Error('not an even run of hex digits');
  return Buffer.from(hex, 'hex');
}

export function loadVectors(): Vector[] {
  requireDir();
  const index = JSON.parse(fs.readFileSync(path.join(VECTOR_DIR, 'index.json'), 'utf8')) as Omit<Vector, 'bytes'>[];
  return index.map((v) => ({ ...v, bytes: hexToBuffer(fs.readFileSync(path.join(VECTOR_DIR, v.file), 'utf8')) }));
}

export function hexFilesOnDisk(): string[] {
  requireDir();
  return fs.readdirSync(VECTOR_DIR).filter((f) => f.endsWith('.hex')).sort();
}

/** PDUs the PMDA writes (to pmcd or to dbpmda). */
export const isFromPmda = (v: Vector): boolean => v.direction.startsWith('PMDA ->');
/** Vectors from a client socket, not a PMDA pipe. */
export const isClientSide = (v: Vector): boolean => v.direction.includes('client');

export interface CaptureLine {
  seq: string;
  dir: 'in' | 'out';
  len: number;
  type: number;
  bytes: Buffer;
}

export function listCaptures(): string[] {
  requireDir();
  return fs.readdirSync(CAPTURE_DIR).filter((f) => f.endsWith('.pdus')).sort();
}

export function loadCapture(name: string): CaptureLine[] {
  return fs
    .readFileSync(path.join(CAPTURE_DIR, name), 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => {
      const f = l.trim().split(/\s+/);
      return { seq: f[0], dir: f[1] as 'in' | 'out', len: Number(f[3]), type: Number(f[4]), bytes: Buffer.from(f[5], 'hex') };
    });
}

/** DECODED.txt split into one block of lines per vector file (the independent decoder's output). */
export function loadDecodedListing(): Map<string, string[]> {
  requireDir();
  const out = new Map<string, string[]>();
  let cur: string[] | null = null;
  for (const line of fs.readFileSync(path.join(VECTOR_DIR, 'DECODED.txt'), 'utf8').split('\n')) {
    const m = /^== (\S+)/.exec(line);
    if (m) {
      cur = [];
      out.set(m[1], cur);
    } else if (cur && line.trim()) {
      cur.push(line.trim());
    }
  }
  return out;
}
