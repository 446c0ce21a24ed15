// cachestat → bcc.mem.vmstat.* (pmdabcc cluster 30): page cache accesses, misses, hits and
// dirtied pages since the agent started, plus the page cache's current size from /proc/meminfo.
// Kernel side: bpf/cachestat.bpf.c (filemap and writeback tracepoints). A keyed counter with no
// instances; misses and hits are derived from the kernel's counts as pmdabcc (bcc) did.
import * as fs from 'node:fs';
import { needTracepoints } from '../bpf';
import { PM_SEM } from '../pcp/types';
import { UNITS } from '../pmda/module';
import { filterConfig } from './shared/filter';
import { defineKeyedCounter, derive } from './shared/keyed-counter';
import { variantKey } from './shared/tool';

type Field = 'accessed' | 'added' | 'dirtied' | 'misses' | 'hits';

const MBYTE = { dimSpace: 1, dimTime: 0, dimCount: 0, scaleSpace: 2, scaleTime: 0, scaleCount: 0 };

const max0 = (x: bigint) => (x > 0n ? x : 0n);

/** Per refresh, as pmdabcc: pages added for reads are misses (pages a write added are not); the other accesses hit. */
function step(d: Readonly<Record<Field, bigint>>): Partial<Record<Field, bigint>> {
  const misses = max0(d.added - d.dirtied);
  return { misses, hits: max0(d.accessed - misses) };
}

/** A /proc/meminfo line in MB (meminfo says kB), the current value. */
function meminfoMB(key: string, file = '/proc/meminfo'): bigint | undefined {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(fs.readFileSync(file, 'latin1'));
  return m ? BigInt(m[1]!) / 1024n : undefined;
}

const ACCESS =
  'An access is a page a read(2)-path lookup asked the page cache for (filemap:mm_filemap_get_pages: the pages from the ' +
  "read's position to its end, once per batch the read takes from the cache, so a read larger than one batch counts its " +
  'tail again) or a page fault on a file mapping (filemap:mm_filemap_fault). Pages mapped by fault-around and direct I/O are not accesses. ';
const MISS =
  'A miss is a page added to the page cache (filemap:mm_filemap_add_to_page_cache, 2^order pages per folio, readahead ' +
  'included) less the folios dirtied (writeback:writeback_dirty_folio), as pmdabcc computed it: max(0, added - dirtied) over each refresh interval (a fetch), summed. ';

export const cachestat = defineKeyedCounter({
  name: 'cachestat',
  cluster: 30,
  // pmdabcc shipped it off.
  defaultEnabled: false,
  indom: null,
  object: 'cachestat.bpf.o',
  filter: true,
  config: { ...filterConfig(), variant: variantKey(['tracepoint']) },
  hooks: () => [
    {
      name: 'page cache',
      variants: [
        {
          name: 'tracepoint',
          programs: ['tp_get_pages', 'tp_fault', 'tp_add', 'tp_dirty'],
          available: () => {
            const f = needTracepoints('filemap', 'mm_filemap_get_pages', 'mm_filemap_fault', 'mm_filemap_add_to_page_cache')();
            return f === true ? needTracepoints('writeback', 'writeback_dirty_folio')() : f;
          },
        },
      ],
    },
  ],
  value: { struct: 'cache_counts', sum: ['accessed', 'added', 'dirtied'], perInterval: { fields: ['misses', 'hits'], step } },
  metrics: [
    {
      name: 'bcc.mem.vmstat.total',
      item: 0,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'page cache access total',
      help: `page cache access total: pages accessed through the page cache since the agent started. ${ACCESS}\n`,
      value: derive.field<Field>('accessed'),
    },
    {
      name: 'bcc.mem.vmstat.misses',
      item: 1,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'page cache misses',
      help: `page cache misses: accesses that had to add the page to the cache. ${MISS}\n`,
      value: derive.field<Field>('misses'),
    },
    {
      name: 'bcc.mem.vmstat.hits',
      item: 2,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'page cache hits',
      help: `page cache hits: accesses that found the page in the cache, max(0, total - misses) over each refresh interval, summed. ${ACCESS}${MISS}\n`,
      value: derive.field<Field>('hits'),
    },
    {
      name: 'bcc.mem.vmstat.dirtied',
      item: 3,
      sem: PM_SEM.COUNTER,
      units: UNITS.count,
      oneline: 'pages dirtied (writes)',
      help:
        'pages dirtied (writes): page cache folios that became dirty (writeback:writeback_dirty_folio), i.e. written and not yet written back. ' +
        'A large folio counts once, so on filesystems with large folios (ext4 since 6.16, xfs) a write that adds pages also shows as misses.\n',
      value: derive.field<Field>('dirtied'),
    },
    {
      name: 'bcc.mem.vmstat.buffers',
      item: 4,
      sem: PM_SEM.INSTANT,
      units: MBYTE,
      oneline: 'page cache buffers',
      help:
        'page cache buffers: the current Buffers value of /proc/meminfo in MB (block device metadata in the page cache). ' +
        'pmdabcc declared it a counter and added /proc/meminfo into a running total at every refresh, a bug: this is the current value, an instant.\n',
      value: () => meminfoMB('Buffers'),
    },
    {
      name: 'bcc.mem.vmstat.cached',
      item: 5,
      sem: PM_SEM.INSTANT,
      units: MBYTE,
      oneline: 'page cache cached',
      help:
        'page cache cached: the current Cached value of /proc/meminfo in MB (file pages in the page cache). ' +
        'pmdabcc declared it a counter and added /proc/meminfo into a running total at every refresh, a bug: this is the current value, an instant.\n',
      value: () => meminfoMB('Cached'),
    },
  ],
});
