// Routes libbpf's own messages (warnings, verifier logs) to pino instead of libbpf's default
// stderr printer. libbpf hands the callback a printf format and a va_list; koffi cannot
// expand a va_list, but the callback can pass both pointers straight back into libc's
// vsnprintf, which formats them in C. No shim library, nothing written to stdout.
//
// The callback runs synchronously inside the libbpf call that produced the message (we never
// call libbpf from another thread), so it may use JS state: a capture stack lets the face
// collect the messages of one load to name the program that failed.
import type { Logger } from 'pino';
import { C, koffi, L, LIBBPF_PRINT_LEVEL, PrintFn, type NativePtr } from './libbpf';

let sink: Logger | null = null;
const captures: string[][] = [];
const buf = Buffer.alloc(64 * 1024);

function onPrint(level: number, fmt: NativePtr, ap: NativePtr): number {
  const capturing = captures.length > 0 && level === LIBBPF_PRINT_LEVEL.WARN;
  const pinoLevel = level === LIBBPF_PRINT_LEVEL.WARN ? 'warn' : level === LIBBPF_PRINT_LEVEL.INFO ? 'info' : 'debug';
  // Debug output (every CO-RE relocation) is large; format it only when someone reads it.
  if (!capturing && !(sink ? sink.isLevelEnabled(pinoLevel) : level === LIBBPF_PRINT_LEVEL.WARN)) return 0;
  const n = C.vsnprintf(buf, buf.length, fmt, ap);
  if (n < 0) return 0;
  const text = buf.toString('utf8', 0, Math.min(n, buf.length - 1)).trimEnd();
  if (capturing) captures[captures.length - 1].push(text);
  if (sink) sink[pinoLevel]({ src: 'libbpf' }, text);
  // With no logger yet, warnings go to stderr (pmcd's log file for a PMDA), never stdout.
  else process.stderr.write(`libbpf: ${text}\n`);
  return 0;
}

// Kept referenced for the life of the process: libbpf holds the raw function pointer.
const registered = koffi.register(onPrint, koffi.pointer(PrintFn));
L.libbpf_set_print(registered);

/** Send libbpf's messages to this logger (the agent's root logger). */
export function setLibbpfLogger(log: Logger | null): void {
  sink = log;
}

/** Run fn with libbpf's messages also sent to `log`; returns fn's result. */
export function withLibbpfLogger<T>(log: Logger, fn: () => T): T {
  const prev = sink;
  sink = log;
  try {
    return fn();
  } finally {
    sink = prev;
  }
}

/** Run fn and collect libbpf's warnings meanwhile (for error reports). */
export function captureWarnings<T>(fn: () => T): { result?: T; error?: unknown; messages: string[] } {
  const messages: string[] = [];
  captures.push(messages);
  try {
    return { result: fn(), messages };
  } catch (error) {
    return { error, messages };
  } finally {
    captures.pop();
  }
}
