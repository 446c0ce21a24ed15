// A BPF map of a loaded object. Bulk reads use the batch syscalls so a fetch costs one or two
// bpf() calls however many entries the map holds; the key/value buffers are allocated once per
// map and reused, so a refresh allocates nothing.
import * as os from 'node:os';
import { BpfError, errnoName } from './errors';
import { BPF_MAP_TYPE, L, type NativePtr } from './libbpf';

const ENOENT = os.constants.errno.ENOENT;
const ENOSPC = os.constants.errno.ENOSPC;
const PERCPU = new Set<number>([BPF_MAP_TYPE.PERCPU_ARRAY, BPF_MAP_TYPE.PERCPU_HASH, BPF_MAP_TYPE.LRU_PERCPU_HASH]);
const ARRAYS = new Set<number>([BPF_MAP_TYPE.ARRAY, BPF_MAP_TYPE.PERCPU_ARRAY]);

export interface BatchResult {
  /** Number of entries returned. */
  count: number;
  /** count × keySize bytes. A view of a buffer reused by the next batch call on this map: copy what you keep. */
  keys: Buffer;
  /** count × valueBytes bytes (per-CPU maps: each value is ncpu × round8(valueSize)). Reused like keys. */
  values: Buffer;
}

export class BpfMap {
  readonly name: string;
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly perCpu: boolean;
  /** Bytes per value as lookups return it: valueSize, or ncpu × round8(valueSize) for per-CPU maps. */
  readonly valueBytes: number;
  /** Value bytes per CPU in a per-CPU value (round8(valueSize)); valueSize otherwise. */
  readonly cpuStride: number;
  readonly fd: number;
  /** bpf() calls made by the last batch operation (for tests and benchmarks). */
  lastBatchCalls = 0;
  private batch?: { keys: Buffer; values: Buffer; inTok: Buffer; outTok: Buffer; count: Buffer };

  /** Built by BpfObject.map() after load. */
  constructor(ptr: NativePtr, ncpus: number) {
    this.name = L.bpf_map__name(ptr);
    this.type = L.bpf_map__type(ptr);
    this.keySize = L.bpf_map__key_size(ptr);
    this.valueSize = L.bpf_map__value_size(ptr);
    this.maxEntries = L.bpf_map__max_entries(ptr);
    this.perCpu = PERCPU.has(this.type);
    this.cpuStride = this.perCpu ? (this.valueSize + 7) & ~7 : this.valueSize;
    this.valueBytes = this.perCpu ? this.cpuStride * ncpus : this.valueSize;
    this.fd = L.bpf_map__fd(ptr);
    if (this.fd < 0) throw new BpfError('map fd', this.fd, `map ${this.name}`, 'is the object loaded?');
  }

  private checkKey(key: Buffer): void {
    if (key.length !== this.keySize) {
      throw new BpfError('map key', 0, `map ${this.name}`, `key is ${key.length} bytes, the map's are ${this.keySize}`);
    }
  }

  /** The value for key, or null when there is none. */
  lookup(key: Buffer): Buffer | null {
    this.checkKey(key);
    const value = Buffer.alloc(this.valueBytes);
    const rc = L.bpf_map_lookup_elem(this.fd, key, value);
    if (rc === -ENOENT) return null;
    if (rc < 0) throw new BpfError('map lookup', rc, `map ${this.name}`);
    return value;
  }

  /** flags: BPF_ANY 0, BPF_NOEXIST 1, BPF_EXIST 2. Per-CPU maps take valueBytes (one value per CPU). */
  update(key: Buffer, value: Buffer, flags = 0): void {
    this.checkKey(key);
    if (value.length !== this.valueBytes) {
      throw new BpfError('map update', 0, `map ${this.name}`, `value is ${value.length} bytes, expected ${this.valueBytes}`);
    }
    const rc = L.bpf_map_update_elem(this.fd, key, value, flags);
    if (rc < 0) throw new BpfError('map update', rc, `map ${this.name}`);
  }

  /** Remove key; false if it was not there. */
  delete(key: Buffer): boolean {
    this.checkKey(key);
    const rc = L.bpf_map_delete_elem(this.fd, key);
    if (rc === -ENOENT) return false;
    if (rc < 0) throw new BpfError('map delete', rc, `map ${this.name}`);
    return true;
  }

  private batchBuffers() {
    if (!this.batch) {
      this.batch = {
        keys: Buffer.alloc(this.maxEntries * this.keySize),
        values: Buffer.alloc(this.maxEntries * this.valueBytes),
        // Opaque batch tokens: a u32 index for arrays, a bucket for hashes; 8 bytes is safe.
        inTok: Buffer.alloc(8),
        outTok: Buffer.alloc(8),
        count: Buffer.alloc(4),
      };
    }
    return this.batch;
  }

  private runBatch(op: 'lookup' | 'lookup_and_delete', chunk: number): BatchResult {
    const b = this.batchBuffers();
    const fn = op === 'lookup' ? L.bpf_map_lookup_batch : L.bpf_map_lookup_and_delete_batch;
    let total = 0;
    let first = true;
    this.lastBatchCalls = 0;
    while (total < this.maxEntries) {
      const room = Math.min(this.maxEntries - total, chunk);
      b.count.writeUInt32LE(room, 0);
      const rc = fn(
        this.fd,
        first ? null : b.inTok,
        b.outTok,
        b.keys.subarray(total * this.keySize),
        b.values.subarray(total * this.valueBytes),
        b.count,
        null,
      );
      const got = b.count.readUInt32LE(0);
      // A hash bucket holding more entries than the room left (entries added while we read a
      // nearly full map): what was read is valid, the rest waits for the next read.
      if (rc === -ENOSPC && total > 0) break;
      // The last chunk comes back as -ENOENT with a valid count: those entries are real.
      if (rc < 0 && rc !== -ENOENT) {
        throw new BpfError(`map ${op} batch`, rc, `map ${this.name}`, `after ${total} entries`);
      }
      total += Math.min(got, room);
      this.lastBatchCalls++;
      if (rc === -ENOENT || got === 0) break;
      b.outTok.copy(b.inTok);
      first = false;
    }
    return {
      count: total,
      keys: b.keys.subarray(0, total * this.keySize),
      values: b.values.subarray(0, total * this.valueBytes),
    };
  }

  /**
   * Every entry, in as few bpf() calls as the kernel allows (one for small maps). `chunk` caps
   * the entries per call (tests use it to exercise the multi-call path). Hash maps refuse a
   * chunk smaller than their fullest bucket (ENOSPC), so leave it unset for them.
   */
  lookupBatch(chunk = this.maxEntries): BatchResult {
    return this.runBatch('lookup', chunk);
  }

  /** Every entry, removing each one read (hash maps; arrays cannot delete, use lookupBatch + update). */
  lookupAndDeleteBatch(chunk = this.maxEntries): BatchResult {
    if (ARRAYS.has(this.type)) {
      throw new BpfError('map lookup_and_delete batch', 0, `map ${this.name}`, `array maps do not support it (the kernel says ${errnoName(524)}): use lookupBatch() and update()`);
    }
    return this.runBatch('lookup_and_delete', chunk);
  }

  /** Sum of a per-CPU u64 value (one CPU after another, each cpuStride bytes). */
  static sumPerCpuU64(values: Buffer, offset: number, ncpus: number, stride: number): bigint {
    let s = 0n;
    for (let c = 0; c < ncpus; c++) s += values.readBigUInt64LE(offset + c * stride);
    return s;
  }
}
