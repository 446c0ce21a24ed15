// libbpf frees what it parsed while loading an object (the kernel's BTF for CO-RE, several MB
// per object) but glibc keeps freed heap memory mapped: without a trim that stays in the
// agent's RSS for good. malloc_trim(0) hands the free pages back (a few ms).
import { C } from './libbpf';

/** Return freed native heap to the kernel; a no-op where libc has no malloc_trim (musl). */
export function trimNativeHeap(): void {
  C.malloc_trim?.(0);
}
