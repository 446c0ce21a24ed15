// The other way to read a ring buffer: libbpf's ring_buffer__consume() calling a JS function
// for every record through a koffi callback. The agent does not use it (see ringbuf.ts, which
// walks the mapped ring in JS); it is kept so bench/events.bench.ts can measure the difference
// on the same producer, which is why the agent reads rings the way it does.
import { BpfError } from './errors';
import { L, SampleFn, koffi, lastErrno, type NativePtr } from './libbpf';
import type { BpfMap } from './map';
import type { RecordSink } from './ringbuf';

const { ring_buffer__new: ringBufferNew, ring_buffer__consume: ringBufferConsume, ring_buffer__free: ringBufferFree } = L;

export class CallbackRingReader {
  private rb: NativePtr;
  private readonly cb: koffi.IKoffiRegisteredCallback;
  private sink: RecordSink | null = null;

  constructor(map: BpfMap) {
    this.cb = koffi.register((_ctx: unknown, data: unknown, size: number) => {
      // Each record becomes a Buffer over libbpf's pointer, valid only during the call.
      const ab = koffi.view(data, size);
      this.sink!(Buffer.from(ab), 0, size, new Uint32Array(ab, 0, size >>> 2));
      return 0;
    }, koffi.pointer(SampleFn));
    this.rb = ringBufferNew(map.fd, this.cb, null, null);
    if (!this.rb) {
      koffi.unregister(this.cb);
      throw new BpfError('ring_buffer__new', lastErrno(), `map ${map.name}`);
    }
  }

  /** Every record available now, one callback each. */
  consume(sink: RecordSink): number {
    this.sink = sink;
    const n = ringBufferConsume(this.rb);
    if (n < 0) throw new BpfError('ring_buffer__consume', -n);
    return n;
  }

  close(): void {
    if (!this.rb) return;
    ringBufferFree(this.rb);
    this.rb = null;
    koffi.unregister(this.cb);
  }
}
