// An attached program. Destroying the link detaches it and closes its fds (for a perf-event
// link, the perf event fd too).
import { BpfError } from './errors';
import { L, type NativePtr } from './libbpf';

export class BpfLink {
  private ptr: NativePtr;
  constructor(
    ptr: NativePtr,
    /** e.g. "f_tp (tracepoint/syscalls/sys_enter_getppid)" */
    readonly description: string,
    private readonly onDestroy?: (l: BpfLink) => void,
  ) {
    this.ptr = ptr;
  }

  get attached(): boolean {
    return this.ptr !== null;
  }

  /** Detach; idempotent. */
  destroy(): void {
    if (this.ptr === null) return;
    const p = this.ptr;
    this.ptr = null;
    this.onDestroy?.(this);
    const rc = L.bpf_link__destroy(p);
    if (rc < 0) throw new BpfError('detach', rc, this.description);
  }
}
