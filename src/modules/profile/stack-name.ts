// Instance names of bcc.proc.stacks, in the form grafana-pcp's flame graph processor reads:
// "comm,pid" then one frame per line, outermost first. The processor splits a name on "\n"
// and ",", trims each part and nests the parts in order under the root, so the name is the
// path from the root to the leaf.
//
// PCP matches an instance name by its first space-separated word alone (pmLookupInDom and
// pmdaCache accept "foo" for "foo bar"), so two names that agree up to their first space are
// one instance to a client. JIT frames have spaces ("JS:*fn /app/x.js:3:10"), and so do some
// comms ("Web Content"), so two stacks could collide that way. A unique id in front would
// collide with the processor instead: it would become the top frame of every stack. The
// names therefore contain no space at all: spaces become "_", and commas inside a frame or
// comm, which the processor would split on (C++ templates, odd comms), become ";". Control
// characters become "?". A name without a space is its own first word, so distinct stacks
// are distinct instances.
//
// The replacements are ASCII on purpose: pmproxy 6.0.3, through which grafana-pcp reads the
// names, writes every byte >= 0x80 of a string as U+FFFD, so a look-alike such as U+00A0
// would reach the flame graph as "\uFFFD\uFFFD".
import { MISSED_KERNEL, MISSED_USER, type Sample } from './sample';

// eslint-disable-next-line no-control-regex
const UNSAFE = /[ ,\x00-\x1f\x7f]/;

const memo = new Map<string, string>();

/** A frame or comm made safe for an instance name part. */
export function namePart(s: string): string {
  // The same few thousand frames come back every second: remember the answers.
  let out = memo.get(s);
  if (out === undefined) {
    // eslint-disable-next-line no-control-regex
    out = UNSAFE.test(s) ? s.replace(/ /g, '_').replace(/,/g, ';').replace(/[\x00-\x1f\x7f]/g, '?') : s;
    if (memo.size >= 100_000) memo.clear();
    memo.set(s, out);
  }
  return out;
}

export function stackInstanceName(s: Sample): string {
  const parts = [`${namePart(s.comm)},${s.pid}`];
  if (s.userMissed) parts.push(namePart(MISSED_USER));
  else for (const f of s.user) parts.push(namePart(f));
  if (s.kernelMissed) parts.push(namePart(MISSED_KERNEL));
  else for (const f of s.kernel) parts.push(namePart(f));
  return parts.join('\n');
}
