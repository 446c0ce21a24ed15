// DWARF call-frame information (.eh_frame, .debug_frame) of x86-64 code, reduced to what a
// stack walker needs at each instruction: how to find the CFA (the caller's stack pointer)
// and where the caller's rbp was saved; the return address is at CFA-8 in every x86-64 ABI
// frame. Rules that cannot be reduced to that get explicit kinds (PLT stubs, signal frames,
// realigned stacks) or NONE, where the BPF walker falls back to frame pointers.
//
// Reference: DWARF 5 §6.4, LSB "Exception Frames" for .eh_frame's augmentations and pointer
// encodings. The parser walks CIEs/FDEs itself (no eh_frame_hdr needed), so .debug_frame of
// unstripped binaries is read by the same code.

/** How the CFA of a row is found (the BPF side, bpf/include/unwind.bpf.h, mirrors these). */
export const Kind = {
  /** No rule here (a gap between functions, or one we cannot reduce): frame pointers. */
  NONE: 0,
  /** CFA = rsp + cfaOff */
  RSP: 1,
  /** CFA = rbp + cfaOff */
  RBP: 2,
  /** PLT stub: CFA = rsp + cfaOff, + 8 when (rip & 15) >= param */
  PLT: 3,
  /** CFA = *(rsp + cfaOff) + param (stack realigned, saved rsp spilled) */
  DEREF_RSP: 4,
  /** CFA = *(rbp + cfaOff) + param */
  DEREF_RBP: 5,
  /** The return address is undefined: the outermost frame (_start, clone3's child). */
  END: 6,
  /** rt_sigreturn trampoline: the interrupted registers are in the ucontext at rsp. */
  SIGNAL: 7,
} as const;
export type KindValue = (typeof Kind)[keyof typeof Kind];

/** Where the caller's rbp is. */
export const RbpRule = {
  /** Not saved by this function (so still the caller's). */
  SAME: 0,
  /** At CFA + rbpOff. */
  CFA: 1,
  /** At rbp + rbpOff (a DW_CFA_expression on rbp, in realigned frames). */
  RBP: 2,
} as const;

export interface Rule {
  kind: KindValue;
  cfaOff: number;
  rbpRule: number;
  rbpOff: number;
  param: number;
}

/** A rule but cfaOff packed in one int32 (kind | rbpRule << 4 | param << 8 | rbpOff << 16):
 *  a table of node holds 400 000 of them, and objects would cost seconds of GC. */
export function packMeta(kind: number, rbpRule: number, param: number, rbpOff: number): number {
  return kind | (rbpRule << 4) | (param << 8) | (rbpOff << 16);
}

export function unpackRule(meta: number, cfaOff: number): Rule {
  return { kind: (meta & 15) as KindValue, rbpRule: (meta >> 4) & 15, param: (meta >> 8) & 255, rbpOff: meta >> 16, cfaOff };
}

export class CfiError extends Error {
  override name = 'CfiError';
}

// x86-64 DWARF register numbers.
const RBP = 6;
const RSP = 7;
const RIP = 16;

// Register rules while interpreting (a subset: what the reduced form needs).
const R_SAME = 0;
const R_UNDEF = 1;
const R_OFFSET = 2; // at CFA + off
const R_EXPR_RBP = 3; // at rbp + off (DW_OP_breg6)
const R_EXPR_RSP = 4; // at rsp + off (DW_OP_breg7: signal frames)
const R_OTHER = 5;

// CFA rules while interpreting.
const C_REG = 0;
const C_DEREF = 1;
const C_PLT = 2;
const C_OTHER = 3;

interface State {
  cfaRule: number;
  cfaReg: number;
  cfaOff: number;
  cfaAdd: number;
  rbp: number;
  rbpOff: number;
  ra: number;
  raOff: number;
  rsp: number;
  rspOff: number;
}

function copy(s: State): State {
  return { ...s };
}

class Reader {
  o: number;
  constructor(
    readonly b: Buffer,
    o: number,
    readonly end: number,
  ) {
    this.o = o;
  }
  need(n: number): void {
    if (this.o + n > this.end) throw new CfiError(`truncated entry at ${this.o}`);
  }
  u8(): number {
    this.need(1);
    return this.b[this.o++];
  }
  u16(): number {
    this.need(2);
    const v = this.b.readUInt16LE(this.o);
    this.o += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32LE(this.o);
    this.o += 4;
    return v;
  }
  u64(): number {
    this.need(8);
    const lo = this.b.readUInt32LE(this.o);
    const hi = this.b.readUInt32LE(this.o + 4);
    this.o += 8;
    return hi * 0x100000000 + lo;
  }
  s64(): number {
    this.need(8);
    const v = Number(this.b.readBigInt64LE(this.o));
    this.o += 8;
    return v;
  }
  uleb(): number {
    let v = 0;
    let mul = 1;
    for (;;) {
      const byte = this.u8();
      v += (byte & 0x7f) * mul;
      mul *= 128;
      if ((byte & 0x80) === 0) return v;
      if (mul > 2 ** 63) throw new CfiError(`LEB128 too long at ${this.o}`);
    }
  }
  sleb(): number {
    let v = 0;
    let mul = 1;
    let byte: number;
    do {
      byte = this.u8();
      v += (byte & 0x7f) * mul;
      mul *= 128;
      if (mul > 2 ** 63) throw new CfiError(`LEB128 too long at ${this.o}`);
    } while (byte & 0x80);
    if (byte & 0x40) v -= mul;
    return v;
  }
  cstr(): string {
    const e = this.b.indexOf(0, this.o);
    if (e < 0 || e >= this.end) throw new CfiError(`unterminated string at ${this.o}`);
    const s = this.b.toString('latin1', this.o, e);
    this.o = e + 1;
    return s;
  }
}

interface Cie {
  codeAlign: number;
  dataAlign: number;
  raReg: number;
  fdeEnc: number;
  lsdaEnc: number;
  hasAugData: boolean;
  signal: boolean;
  insns: Buffer;
  addrSize: number;
}

/** One FDE's rows: row i applies from pcs[i] to pcs[i+1] (the last to `end`). */
export interface FdeRows {
  start: number;
  end: number;
  pcs: number[];
  /** packMeta() of each row */
  metas: number[];
  cfaOffs: number[];
}

export interface CfiOptions {
  /** Link-time address of the section's first byte (pc-relative pointers). */
  sectionAddr: number;
  /** .eh_frame (CIE id 0, relative CIE pointers) or .debug_frame (CIE id ~0, offsets). */
  format: 'eh_frame' | 'debug_frame';
  /** Only the FDE ranges (for naming), not the rules: much cheaper. */
  rangesOnly?: boolean;
}

export interface CfiStats {
  fdes: number;
  /** Rows whose rule could not be reduced (left to frame pointers). */
  unsupported: number;
  /** Entries skipped because they did not parse. */
  bad: number;
}

/** Parse every FDE of a call-frame section, calling `onFde` for each. */
export function parseCfi(sec: Buffer, opts: CfiOptions, onFde: (f: FdeRows) => void): CfiStats {
  const eh = opts.format === 'eh_frame';
  const cies = new Map<number, Cie | null>();
  const stats: CfiStats = { fdes: 0, unsupported: 0, bad: 0 };
  let o = 0;
  while (o + 4 <= sec.length) {
    const start = o;
    let len = sec.readUInt32LE(o);
    let hdr = 4;
    let is64 = false;
    if (len === 0xffffffff) {
      if (o + 12 > sec.length) break;
      len = Number(sec.readBigUInt64LE(o + 4));
      hdr = 12;
      is64 = true;
    }
    if (len === 0) {
      // .eh_frame ends at a zero terminator; in .debug_frame a zero length is padding.
      if (eh) break;
      o += 4;
      continue;
    }
    const end = start + hdr + len;
    if (end > sec.length) throw new CfiError(`entry at ${start} runs past the section end`);
    const idPos = start + hdr;
    const id = is64 ? Number(sec.readBigUInt64LE(idPos)) : sec.readUInt32LE(idPos);
    const isCie = eh ? id === 0 : is64 ? id === 2 ** 64 - 1 || sec.readBigUInt64LE(idPos) === 0xffffffffffffffffn : id === 0xffffffff;
    try {
      if (isCie) {
        if (!cies.has(start)) cies.set(start, parseCie(sec, start, idPos + (is64 ? 8 : 4), end, eh));
      } else {
        const cieAt = eh ? idPos - id : id;
        let cie = cies.get(cieAt);
        if (cie === undefined) {
          cie = parseCieAt(sec, cieAt, eh);
          cies.set(cieAt, cie);
        }
        if (cie) {
          stats.fdes++;
          const f = parseFde(sec, cie, idPos + (is64 ? 8 : 4), end, opts, stats);
          if (f && f.end > f.start) onFde(f);
        } else stats.bad++;
      }
    } catch (e) {
      if (!(e instanceof CfiError)) throw e;
      stats.bad++;
    }
    o = end;
  }
  return stats;
}

function parseCieAt(sec: Buffer, at: number, eh: boolean): Cie | null {
  if (at < 0 || at + 8 > sec.length) return null;
  let len = sec.readUInt32LE(at);
  let hdr = 4;
  let idSize = 4;
  if (len === 0xffffffff) {
    len = Number(sec.readBigUInt64LE(at + 4));
    hdr = 12;
    idSize = 8;
  }
  const end = at + hdr + len;
  if (end > sec.length) return null;
  try {
    return parseCie(sec, at, at + hdr + idSize, end, eh);
  } catch (e) {
    if (e instanceof CfiError) return null;
    throw e;
  }
}

function parseCie(sec: Buffer, _start: number, body: number, end: number, eh: boolean): Cie {
  const r = new Reader(sec, body, end);
  const version = r.u8();
  if (version !== 1 && version !== 3 && version !== 4) throw new CfiError(`CIE version ${version}`);
  const aug = r.cstr();
  let addrSize = 8;
  if (version === 4) {
    addrSize = r.u8();
    r.u8(); // segment selector size
  }
  if (aug.includes('eh')) r.u64(); // GCC 2.x EH data pointer
  const codeAlign = r.uleb();
  const dataAlign = r.sleb();
  const raReg = version === 1 ? r.u8() : r.uleb();
  const cie: Cie = { codeAlign, dataAlign, raReg, fdeEnc: eh ? 0 : -1, lsdaEnc: 0xff, hasAugData: false, signal: false, insns: Buffer.alloc(0), addrSize };
  if (aug.startsWith('z')) {
    cie.hasAugData = true;
    const alen = r.uleb();
    const aend = r.o + alen;
    for (const c of aug.slice(1)) {
      if (c === 'R') cie.fdeEnc = r.u8();
      else if (c === 'L') cie.lsdaEnc = r.u8();
      else if (c === 'P') {
        const enc = r.u8();
        readEncoded(r, enc, 0);
      } else if (c === 'S') cie.signal = true;
      else if (c === 'B' || c === 'G') continue;
      else break; // unknown: the length lets us skip the rest
    }
    r.o = aend;
  } else if (aug !== '' && aug !== 'eh') {
    throw new CfiError(`unknown augmentation "${aug}"`);
  }
  if (cie.fdeEnc === -1) cie.fdeEnc = 0; // .debug_frame: absolute address-sized pointers
  cie.insns = sec.subarray(r.o, end);
  return cie;
}

const PE_OMIT = 0xff;

/** A pointer in the given DW_EH_PE encoding; `fieldAddr` is its own link-time address. */
function readEncoded(r: Reader, enc: number, fieldAddr: number): number {
  if (enc === PE_OMIT) return 0;
  let v: number;
  switch (enc & 0x0f) {
    case 0x00:
      v = r.u64();
      break;
    case 0x01:
      v = r.uleb();
      break;
    case 0x02:
      v = r.u16();
      break;
    case 0x03:
      v = r.u32();
      break;
    case 0x04:
      v = r.u64();
      break;
    case 0x09:
      v = r.sleb();
      break;
    case 0x0a:
      v = (r.u16() << 16) >> 16;
      break;
    case 0x0b:
      v = r.u32() | 0;
      break;
    case 0x0c:
      v = r.s64();
      break;
    default:
      throw new CfiError(`pointer encoding 0x${enc.toString(16)}`);
  }
  switch (enc & 0x70) {
    case 0x00:
      return v;
    case 0x10:
      return fieldAddr + v;
    default:
      // textrel/datarel/funcrel never appear in x86-64 .eh_frame FDE addresses.
      throw new CfiError(`pointer application 0x${(enc & 0x70).toString(16)}`);
  }
}

function parseFde(sec: Buffer, cie: Cie, body: number, end: number, opts: CfiOptions, stats: CfiStats): FdeRows | null {
  const r = new Reader(sec, body, end);
  const addrOf = (pos: number) => opts.sectionAddr + pos;
  const start = readEncoded(r, cie.fdeEnc, addrOf(r.o));
  const range = readEncoded(r, cie.fdeEnc & 0x0f, 0);
  if (cie.hasAugData) {
    const alen = r.uleb();
    r.o += alen;
  }
  if (start === 0 && opts.format === 'debug_frame') return null; // discarded section (linker left 0)
  const f: FdeRows = { start, end: start + range, pcs: [], metas: [], cfaOffs: [] };
  if (opts.rangesOnly) return f;
  const init: State = {
    cfaRule: C_REG,
    cfaReg: RSP,
    cfaOff: 8,
    cfaAdd: 0,
    rbp: R_SAME,
    rbpOff: 0,
    ra: R_OFFSET,
    raOff: -8,
    rsp: R_SAME,
    rspOff: 0,
  };
  // The CIE's initial instructions set the state every FDE starts from, and DW_CFA_restore
  // goes back to it.
  const cieState = copy(init);
  runInsns(cie, cie.insns, 0, cie.insns.length, cieState, cieState, null, () => {}, opts);
  const st = copy(cieState);
  let loc = start;
  const emit = (to: number) => {
    const meta = reduce(st, cie, stats);
    const cfaOff = meta === NONE_META ? 0 : st.cfaOff;
    const n = f.pcs.length;
    if (n > 0 && f.pcs[n - 1] === loc) {
      f.metas[n - 1] = meta;
      f.cfaOffs[n - 1] = cfaOff;
    } else {
      f.pcs.push(loc);
      f.metas.push(meta);
      f.cfaOffs.push(cfaOff);
    }
    loc = to;
  };
  runInsns(cie, sec, r.o, end, st, cieState, start, emit, opts);
  emit(loc);
  // Rows past the FDE's end (a stray advance) would shadow the next function.
  while (f.pcs.length > 1 && f.pcs[f.pcs.length - 1] >= f.end) {
    f.pcs.pop();
    f.metas.pop();
    f.cfaOffs.pop();
  }
  return f;
}

/** Interpret CFA instructions; `advance(newLoc)` is called before the location moves. */
function runInsns(
  cie: Cie,
  b: Buffer,
  from: number,
  to: number,
  st: State,
  initial: State,
  startLoc: number | null,
  advance: (to: number) => void,
  opts: CfiOptions,
): void {
  const r = new Reader(b, from, to);
  const stack: State[] = [];
  let loc = startLoc ?? 0;
  const adv = (delta: number) => {
    loc += delta * cie.codeAlign;
    advance(loc);
  };
  const setReg = (reg: number, rule: number, off: number) => {
    if (reg === RBP) {
      st.rbp = rule;
      st.rbpOff = off;
    } else if (reg === RIP || reg === cie.raReg) {
      st.ra = rule;
      st.raOff = off;
    } else if (reg === RSP) {
      st.rsp = rule;
      st.rspOff = off;
    }
  };
  const restoreReg = (reg: number) => {
    if (reg === RBP) {
      st.rbp = initial.rbp;
      st.rbpOff = initial.rbpOff;
    } else if (reg === RIP || reg === cie.raReg) {
      st.ra = initial.ra;
      st.raOff = initial.raOff;
    } else if (reg === RSP) {
      st.rsp = initial.rsp;
      st.rspOff = initial.rspOff;
    }
  };
  while (r.o < to) {
    const op = r.u8();
    const hi = op & 0xc0;
    const lo = op & 0x3f;
    if (hi === 0x40) {
      adv(lo);
      continue;
    }
    if (hi === 0x80) {
      setReg(lo, R_OFFSET, r.uleb() * cie.dataAlign);
      continue;
    }
    if (hi === 0xc0) {
      restoreReg(lo);
      continue;
    }
    switch (op) {
      case 0x00: // nop
        break;
      case 0x01: {
        // set_loc
        const target = readEncoded(r, cie.fdeEnc, opts.sectionAddr + r.o);
        loc = target;
        advance(loc);
        break;
      }
      case 0x02:
        adv(r.u8());
        break;
      case 0x03:
        adv(r.u16());
        break;
      case 0x04:
        adv(r.u32());
        break;
      case 0x05:
        setReg(r.uleb(), R_OFFSET, r.uleb() * cie.dataAlign);
        break;
      case 0x06:
        restoreReg(r.uleb());
        break;
      case 0x07:
        setReg(r.uleb(), R_UNDEF, 0);
        break;
      case 0x08:
        setReg(r.uleb(), R_SAME, 0);
        break;
      case 0x09: {
        const reg = r.uleb();
        r.uleb();
        setReg(reg, R_OTHER, 0);
        break;
      }
      case 0x0a:
        if (stack.length > 64) throw new CfiError('remember_state nested too deep');
        stack.push(copy(st));
        break;
      case 0x0b: {
        const s = stack.pop();
        if (!s) throw new CfiError('restore_state without remember_state');
        // The CFA rule is part of the saved state too (GCC relies on it around epilogues).
        Object.assign(st, s);
        break;
      }
      case 0x0c:
        st.cfaRule = C_REG;
        st.cfaReg = r.uleb();
        st.cfaOff = r.uleb();
        break;
      case 0x0d:
        if (st.cfaRule !== C_REG) st.cfaOff = 0;
        st.cfaRule = C_REG;
        st.cfaReg = r.uleb();
        break;
      case 0x0e:
        st.cfaOff = r.uleb();
        break;
      case 0x0f: {
        const len = r.uleb();
        r.need(len);
        cfaExpression(st, b.subarray(r.o, r.o + len));
        r.o += len;
        break;
      }
      case 0x10: {
        const reg = r.uleb();
        const len = r.uleb();
        r.need(len);
        const e = regExpression(b.subarray(r.o, r.o + len));
        setReg(reg, e ? e.rule : R_OTHER, e ? e.off : 0);
        r.o += len;
        break;
      }
      case 0x11:
        setReg(r.uleb(), R_OFFSET, r.sleb() * cie.dataAlign);
        break;
      case 0x12:
        st.cfaRule = C_REG;
        st.cfaReg = r.uleb();
        st.cfaOff = r.sleb() * cie.dataAlign;
        break;
      case 0x13:
        st.cfaOff = r.sleb() * cie.dataAlign;
        break;
      case 0x14:
      case 0x15: {
        const reg = r.uleb();
        r.uleb();
        setReg(reg, R_OTHER, 0);
        break;
      }
      case 0x16: {
        const reg = r.uleb();
        const len = r.uleb();
        r.need(len);
        r.o += len;
        setReg(reg, R_OTHER, 0);
        break;
      }
      case 0x2e: // GNU_args_size
        r.uleb();
        break;
      case 0x2f: // GNU_negative_offset_extended
        setReg(r.uleb(), R_OFFSET, -r.uleb() * cie.dataAlign);
        break;
      default:
        throw new CfiError(`unknown CFA instruction 0x${op.toString(16)}`);
    }
  }
}

/** DW_OP_bregN: the base register and offset, when the expression is just that. */
function breg(e: Buffer, at: number): { reg: number; off: number; next: number } | null {
  const op = e[at];
  if (op < 0x70 || op > 0x8f) return null;
  const r = new Reader(e, at + 1, e.length);
  const off = r.sleb();
  return { reg: op - 0x70, off, next: r.o };
}

function cfaExpression(st: State, e: Buffer): void {
  st.cfaRule = C_OTHER;
  const b = breg(e, 0);
  if (!b) return;
  let o = b.next;
  // PLT: rsp+N; rip+0; lit15; and; litK; ge; lit3; shl; plus  → +8 after the jump's byte K.
  if (b.reg === RSP && e.length - o === 9) {
    const t = e.subarray(o);
    if (t[0] === 0x80 && t[1] === 0x00 && t[2] === 0x3f && t[3] === 0x1a && t[4] >= 0x30 && t[4] <= 0x4f && t[5] === 0x2a && t[6] === 0x33 && t[7] === 0x24 && t[8] === 0x22) {
      st.cfaRule = C_PLT;
      st.cfaReg = RSP;
      st.cfaOff = b.off;
      st.cfaAdd = t[4] - 0x30;
      return;
    }
  }
  if ((b.reg === RSP || b.reg === RBP) && e[o] === 0x06) {
    o++;
    let add = 0;
    if (o < e.length && e[o] === 0x23) {
      const r = new Reader(e, o + 1, e.length);
      add = r.uleb();
      o = r.o;
    }
    if (o === e.length) {
      st.cfaRule = C_DEREF;
      st.cfaReg = b.reg;
      st.cfaOff = b.off;
      st.cfaAdd = add;
    }
  }
}

function regExpression(e: Buffer): { rule: number; off: number } | null {
  const b = breg(e, 0);
  if (!b || b.next !== e.length) return null;
  if (b.reg === RBP) return { rule: R_EXPR_RBP, off: b.off };
  if (b.reg === RSP) return { rule: R_EXPR_RSP, off: b.off };
  return null;
}

// The x86-64 rt_sigframe at __restore_rt: rsp points at the ucontext; its mcontext holds
// rbp, rsp and rip at these offsets (asm/sigcontext.h), which the CFI of libc's trampoline
// names as expressions.
const SIG_RBP = 40 + 10 * 8;
const SIG_RSP = 40 + 15 * 8;
const SIG_RIP = 40 + 16 * 8;

const NONE_META = packMeta(Kind.NONE, RbpRule.SAME, 0, 0);
const END_META = packMeta(Kind.END, RbpRule.SAME, 0, 0);
const SIGNAL_META = packMeta(Kind.SIGNAL, RbpRule.SAME, 0, 0);

/** The packed rule of a state (its CFA offset is st.cfaOff unless the rule is NONE). */
function reduce(st: State, cie: Cie, stats: CfiStats): number {
  if (st.ra === R_UNDEF) return END_META;
  if (st.ra === R_EXPR_RSP) {
    if (cie.signal && st.raOff === SIG_RIP && st.rbp === R_EXPR_RSP && st.rbpOff === SIG_RBP && st.cfaRule === C_DEREF && st.cfaReg === RSP && st.cfaOff === SIG_RSP) {
      return SIGNAL_META;
    }
    stats.unsupported++;
    return NONE_META;
  }
  if (st.ra !== R_OFFSET || st.raOff !== -8) {
    stats.unsupported++;
    return NONE_META;
  }
  let rbpRule: number = RbpRule.SAME;
  let rbpOff = 0;
  if (st.rbp === R_OFFSET) {
    rbpRule = RbpRule.CFA;
    rbpOff = st.rbpOff;
  } else if (st.rbp === R_EXPR_RBP) {
    rbpRule = RbpRule.RBP;
    rbpOff = st.rbpOff;
  } else if (st.rbp !== R_SAME && st.rbp !== R_UNDEF) {
    stats.unsupported++;
    return NONE_META;
  }
  if (rbpOff < -32768 || rbpOff > 32767 || st.cfaOff < -2147483648 || st.cfaOff > 2147483647) {
    stats.unsupported++;
    return NONE_META;
  }
  if (st.cfaRule === C_REG && (st.cfaReg === RSP || st.cfaReg === RBP)) return packMeta(st.cfaReg === RSP ? Kind.RSP : Kind.RBP, rbpRule, 0, rbpOff);
  if (st.cfaRule === C_PLT) return packMeta(Kind.PLT, rbpRule, st.cfaAdd, rbpOff);
  if (st.cfaRule === C_DEREF && st.cfaAdd <= 255) return packMeta(st.cfaReg === RSP ? Kind.DEREF_RSP : Kind.DEREF_RBP, rbpRule, st.cfaAdd, rbpOff);
  stats.unsupported++;
  return NONE_META;
}
