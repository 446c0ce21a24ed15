// Where a uprobe on library:function goes. libbpf (1.1) finds plain FUNC symbols by name
// itself, but not GNU indirect functions: libc's strlen, memcpy and friends are IFUNCs whose
// symbol points at a resolver that picks an implementation for this CPU at load time. Like
// BCC, we ask the dynamic loader which implementation it chose: dlsym in the agent's own copy
// of the library (only one that is already loaded here: RTLD_NOLOAD, so no foreign library's
// constructors ever run in the agent), and turn the address into a file offset through
// /proc/self/maps. Every process on this machine makes the same choice on the same CPU.
import * as fs from 'node:fs';
import { BpfError, type BpfLink, type BpfObject, type UprobeTarget } from '../../bpf';
import { C, RTLD_NOLOAD, RTLD_NOW, addressOf } from '../../bpf/libbpf';
import { parseMaps } from '../profile/proc-maps';

/** File offset of `func` as the loader resolved it in the agent, or null when the library is not loaded here. */
export function loaderResolvedOffset(file: string, func: string): number | null {
  const h = C.dlopen(file, RTLD_NOW | RTLD_NOLOAD);
  if (!h) return null;
  try {
    const sym = C.dlsym(h, func);
    if (!sym) return null;
    const addr = Number(addressOf(sym));
    const st = fs.statSync(file);
    for (const m of parseMaps(fs.readFileSync('/proc/self/maps', 'latin1'))) {
      if (addr < m.start || addr >= m.end || m.inode !== st.ino) continue;
      return addr - m.start + m.offset;
    }
    return null;
  } finally {
    C.dlclose(h);
  }
}

/** Attach `program` at the entry of `func` in `file`; falls back to the loader's answer for IFUNCs. */
export function attachFunction(obj: BpfObject, program: string, file: string, func: string, t: Omit<UprobeTarget, 'binary' | 'func' | 'offset'>): BpfLink {
  try {
    return obj.attachUprobe(program, { ...t, binary: file, func });
  } catch (e) {
    if (!(e instanceof BpfError) || e.errno !== 2) throw e;
    const off = loaderResolvedOffset(file, func);
    if (off === null) throw e;
    return obj.attachUprobe(program, { ...t, binary: file, offset: off });
  }
}
