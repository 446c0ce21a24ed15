// Record layouts read from a BPF object's own BTF. The agent decodes C structs (map keys and
// values, ring-buffer records) from bytes; instead of trusting offsets copied by hand into
// TypeScript, a decoder takes its offsets from, or checks them against, the struct the compiler
// actually emitted, so a field moved in the .bpf.c is a load error naming struct and field,
// never silently wrong numbers.
import { BpfError } from './errors';
import { BTF_KIND, L, readU32s, type NativePtr } from './libbpf';

export interface FieldLayout {
  /** Byte offset in the struct. */
  offset: number;
  /** Size in bytes (0 for a bitfield or flexible array). */
  size: number;
}

export interface StructLayout {
  name: string;
  size: number;
  fields: Map<string, FieldLayout>;
}

/** What a decoder assumes: the struct's size (optional) and each field's offset (and size). */
export interface ExpectedLayout {
  struct: string;
  size?: number;
  fields: Record<string, number | { offset: number; size: number }>;
}

/** The layout of `struct <name>` in a BTF object, or null when the object's BTF lacks it. */
export function structLayout(btf: NativePtr, name: string): StructLayout | null {
  if (!btf) return null;
  const id = L.btf__find_by_name_kind(btf, name, BTF_KIND.STRUCT);
  if (id <= 0) return null;
  const t = L.btf__type_by_id(btf, id);
  // struct btf_type { u32 name_off; u32 info; u32 size; } then vlen × btf_member { name_off, type, offset }
  const head = readU32s(t, 3);
  const vlen = head[1]! & 0xffff;
  const kflag = (head[1]! >>> 31) === 1;
  const words = readU32s(t, 3 + 3 * vlen);
  const fields = new Map<string, FieldLayout>();
  for (let i = 0; i < vlen; i++) {
    const [nameOff, typeId, off] = words.slice(3 + 3 * i, 6 + 3 * i) as [number, number, number];
    const member = L.btf__name_by_offset(btf, nameOff);
    if (!member) continue; // anonymous unions/structs: decoders name only plain fields
    const bitSize = kflag ? off >>> 24 : 0;
    const bitOff = kflag ? off & 0xffffff : off;
    const size = bitSize ? 0 : Math.max(L.btf__resolve_size(btf, typeId), 0);
    fields.set(member, { offset: Math.floor(bitOff / 8), size });
  }
  return { name, size: head[2]!, fields };
}

/**
 * Check a decoder's assumptions against the struct in the object's BTF. Throws a BpfError that
 * names the struct and the first field that differs.
 */
export function verifyLayout(btf: NativePtr, file: string, want: ExpectedLayout): StructLayout {
  const got = structLayout(btf, want.struct);
  const where = `${file}: struct ${want.struct}`;
  if (!got) {
    throw new BpfError('record layout', 0, where, 'the object has no BTF for it (declare it with RECORD_TYPE() in the .bpf.c)');
  }
  if (want.size !== undefined && got.size !== want.size) {
    throw new BpfError('record layout', 0, where, `is ${got.size} bytes, the decoder expects ${want.size}`);
  }
  for (const [field, spec] of Object.entries(want.fields)) {
    const f = got.fields.get(field);
    const off = typeof spec === 'number' ? spec : spec.offset;
    if (!f) throw new BpfError('record layout', 0, `${where}.${field}`, `no such field (the struct has ${[...got.fields.keys()].join(', ')})`);
    if (f.offset !== off) throw new BpfError('record layout', 0, `${where}.${field}`, `is at offset ${f.offset}, the decoder reads offset ${off}`);
    if (typeof spec !== 'number' && f.size !== spec.size) {
      throw new BpfError('record layout', 0, `${where}.${field}`, `is ${f.size} bytes, the decoder reads ${spec.size}`);
    }
  }
  return got;
}
