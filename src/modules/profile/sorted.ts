// Binary search over ascending start addresses: symbol tables, unwind rows and function
// ranges all ask "which entry starts at or before this address".

/** Index of the last element <= x in ascending `a`, or -1 when x is before the first. */
export function lastAtOrBelow(a: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = a.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= x) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
