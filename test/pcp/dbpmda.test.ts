// libpcp itself reads our encodings: dbpmda (PCP's PMDA debugger, which speaks to a pipe PMDA
// exactly as pmcd does) drives a minimal PMDA built only on src/pcp (fixtures/codec-pmda.ts)
// and prints what libpcp decoded: every PM_TYPE incl. 64-bit, float, double, string, aggregate,
// EVENT and HIGHRES_EVENT arrays, labels, instances, help text, namespace replies and a store.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const DBPMDA = '/usr/bin/dbpmda';
const haveDbpmda = fs.existsSync(DBPMDA);
const DOMAIN = 400; // not in pmcd.conf; dbpmda runs its own copy of the PMDA

describe.skipIf(!haveDbpmda)('dbpmda decodes what src/pcp encodes (skipped only if dbpmda, from the pcp package, is missing)', () => {
  let dir = '';
  let out = '';

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'codec-dbpmda-'));
    const pmda = path.join(dir, 'codec-pmda.js');
    buildSync({ entryPoints: [path.join(__dirname, 'fixtures/codec-pmda.ts')], bundle: true, platform: 'node', outfile: pmda, logLevel: 'warning' });
    fs.writeFileSync(path.join(dir, 'root'), `root {\n\tcodectest\t${DOMAIN}:*:*\n}\n`);
    const D = DOMAIN;
    const cmds = [
      `open pipe ${process.execPath} ${pmda} ${D}`,
      'getdesc on',
      `fetch ${[0, 1, 2, 3, 4, 5, 6, 7, 11].map((i) => `${D}.0.${i}`).join(' ')}`,
      `fetch ${D}.0.8`,
      `fetch ${D}.0.9`,
      'desc codectest.u64',
      `instance ${D}.1`,
      `instance ${D}.1 "two"`,
      `instance ${D}.1 1`,
      'text codectest.u64',
      'label domain',
      `label indom ${D}.1`,
      `label cluster ${D}.0`,
      `label instances ${D}.1`,
      'children codectest',
      'traverse codectest.param',
      `name ${D}.0.3`,
      'pmid codectest.double',
      'store codectest.storable "1000"',
      'fetch codectest.storable',
      'close',
    ];
    const r = spawnSync(DBPMDA, ['-n', path.join(dir, 'root'), '-f', '-e'], {
      input: `${cmds.join('\n')}\n`,
      encoding: 'utf8',
      cwd: dir,
      timeout: 60_000,
      env: { ...process.env, TZ: 'UTC' },
    });
    out = `${r.stdout}${r.stderr}`;
    expect(r.status, out).toBe(0);
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const has = (...lines: string[]) => {
    for (const l of lines) expect(out, `dbpmda output lacks: ${l}`).toContain(l);
  };

  it('the PMDA started and libpcp raised no decoding error', () => {
    has(`Start node PMDA: ${process.execPath}`);
    expect(out).not.toMatch(/IPC protocol failure|Error PDU|PM_ERR_IPC|corrupt/i);
  });

  it('32-bit INSITU, 64-bit and U64 beyond 2^53, float, double, string, aggregate, numval 0', () => {
    has(
      `${DOMAIN}.0.0 (<noname>): numval: 1 valfmt: 0 vlist[]:\n   value -7`,
      `${DOMAIN}.0.1 (<noname>): numval: 1 valfmt: 0 vlist[]:\n   value 4294967295`,
      `${DOMAIN}.0.2 (<noname>): numval: 1 valfmt: 1 vlist[]:\n   value -5`,
      'inst [1 or ???] value 9007199254740993',
      'inst [2 or ???] value 18446744073709551615',
      `${DOMAIN}.0.4 (<noname>): numval: 1 valfmt: 1 vlist[]:\n   value 1.5`,
      `${DOMAIN}.0.5 (<noname>): numval: 1 valfmt: 1 vlist[]:\n   value -0.25`,
      'inst [0 or ???] value "hullo world"',
      'inst [2 or ???] value ""',
      'value [deadbeef01]',
      `${DOMAIN}.0.11 (<noname>): No values returned!`,
    );
  });

  it('EVENT and HIGHRES_EVENT arrays unpacked by libpcp (record count and timestamps, incl. the missed record)', () => {
    has(
      `${DOMAIN}.0.8 (<noname>): numval: 1 valfmt: 2 vlist[]:\n   value [2 event records timestamps 22:13:20.250...22:13:21.000]`,
      `${DOMAIN}.0.9 (<noname>): numval: 1 valfmt: 2 vlist[]:\n   value [2 event records timestamps 22:13:22.123456789...22:13:23.000000001]`,
    );
  });

  it('DESC, INSTANCE in its three forms, TEXT (little-endian ident) one-line and help', () => {
    has(
      'Data Type: 64-bit unsigned int  InDom: 400.1 0x64000001',
      '[  0] inst: 0 name: "zero"',
      '[  2] inst: 2 name: "two"',
      'instance 400.1 "two"\npmInDom: 400.1\n[  0] inst: 2',
      'instance 400.1 1\npmInDom: 400.1\n[  0] name: "one"',
      '[one-line help for item 3]\nLong help for item 3.\nSecond line.',
    );
  });

  it('LABEL sets: domain, indom, cluster, instances with an empty set in the middle', () => {
    has(
      'Labels:\n    agent="codectest"\n    role="testing"',
      'Labels:\n    count=3\n    model="RGB"',
      'Labels:\n    cluster="zero"',
      '[  0] Labels inst: 0\n    lower_bound=0\n    name="zero"\n    ok=true\n[  1] Labels inst: 1\n[  2] Labels inst: 2\n    lower_bound=4\n    name="two"\n    ok=false',
    );
  });

  it('namespace replies: children with status, traverse, name, pmid', () => {
    has('       leaf u64', '   non-leaf param', '   codectest.param.p27', 'PMID: 400.0.3\n   codectest.u64', 'Metric: codectest.double\n   400.0.5');
  });

  it('store: the store RESULT decoded by our PMDA, status 0 read back by dbpmda, new value fetched', () => {
    has('400.0.10: 42 -> 1000', `${DOMAIN}.0.10 (<noname>): numval: 1 valfmt: 0 vlist[]:\n   value 1000`);
  });
});
