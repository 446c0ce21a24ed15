// The PCP tool configurations kept under pcp/ (pmlogconf groups, pmrep metricsets, pmieconf
// rules), read back for the man page so it lists exactly what Install puts in place.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Toolbox } from './man-page';

const files = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort() : []);

export function readToolbox(pcpDir: string): Toolbox {
  const logconf = path.join(pcpDir, 'pmlogconf', 'ebpf');
  const pmlogconf = files(logconf).map((f) => {
    const text = fs.readFileSync(path.join(logconf, f), 'utf8');
    const ident = [...text.matchAll(/^ident\s+(.*)$/gm)].map((m) => m[1]!.replace(/^\.\.\.\s*/, '')).join('; ');
    return { group: `ebpf/${f}`, ident };
  });
  const pmrep: Toolbox['pmrep'] = [];
  const repFile = path.join(pcpDir, 'pmrep', 'ebpf.conf');
  if (fs.existsSync(repFile)) {
    const lines = fs.readFileSync(repFile, 'utf8').split('\n');
    lines.forEach((l, i) => {
      const m = /^\[([A-Za-z0-9_-]+)\]$/.exec(l.trim());
      if (m && m[1] !== 'options') pmrep.push({ name: m[1]!, ident: (lines[i - 1] ?? '').replace(/^#\s*/, '') });
    });
  }
  const ieconf = path.join(pcpDir, 'pmieconf', 'ebpf');
  const pmieconf = files(ieconf).map((f) => {
    const text = fs.readFileSync(path.join(ieconf, f), 'utf8');
    const rule = /^rule\s+(\S+)/m.exec(text)?.[1] ?? f;
    const ident = /^string\s+rule\s*\n\s*default\s*=\s*"([^"]*)"/m.exec(text)?.[1] ?? '';
    return { rule, ident };
  });
  return { pmlogconf, pmrep, pmieconf };
}
