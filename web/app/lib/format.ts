// Human-readable numbers for tables, axes and read-outs.

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '';
  const neg = n < 0;
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 ? 0 : v < 10 ? 2 : v < 100 ? 1 : 0;
  return `${neg ? '-' : ''}${v.toFixed(digits)} ${BYTE_UNITS[i]}`;
}

/** Microseconds → "15 µs", "1.02 ms", "2.50 s". */
export function formatMicros(us: number | null | undefined): string {
  if (us === null || us === undefined || !Number.isFinite(us)) return '';
  const a = Math.abs(us);
  if (a < 1000) return `${trim(us)} µs`;
  if (a < 1_000_000) return `${trim(us / 1000)} ms`;
  return `${trim(us / 1_000_000)} s`;
}

function trim(v: number): string {
  const a = Math.abs(v);
  const s = a >= 100 || Number.isInteger(v) ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  return s;
}

/** Compact label for a bucket upper bound given in µs: "511µs", "1ms", "4.1ms", "1.0s". */
export function formatMicrosShort(us: number): string {
  if (!Number.isFinite(us)) return us > 0 ? '∞' : '-∞';
  if (us < 1000) return `${Math.round(us)}µs`;
  if (us < 1_000_000) return `${+(us / 1000).toPrecision(2)}ms`;
  return `${+(us / 1_000_000).toPrecision(2)}s`;
}

export function formatRate(r: number): string {
  if (!Number.isFinite(r)) return '';
  if (r === 0) return '0/s';
  if (r >= 1000) return `${(r / 1000).toFixed(r >= 10000 ? 0 : 1)}k/s`;
  if (r >= 10) return `${r.toFixed(0)}/s`;
  return `${r.toFixed(r >= 1 ? 1 : 2)}/s`;
}

export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '';
  return Math.round(n).toLocaleString('en-US');
}

/** hh:mm:ss of a pmproxy timestamp in the browser's local time. */
export function formatClock(tSeconds: number): string {
  const d = new Date(tSeconds * 1000);
  const p = (x: number) => String(x).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
