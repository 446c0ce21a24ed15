// End to end: the dashboard page in headless Chromium, through the dashboard server, through the
// real pmproxy, from the real agent installed in pmcd, watching real workloads (CPU burner, exec
// storm, direct-I/O dd, loopback TCP transfer). pmproxy is stopped and started in the middle and
// the page must recover by itself. Screenshots go to test-artifacts/.
//
// The global set-up builds the dashboard and installs this build of the agent; pmproxy is
// started here when it is not running.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type LaunchedBrowser } from '../../bench/web-browser';
import {
  BURNER_FUNCTION,
  loopbackTransfer,
  startCpuBurner,
  startDd,
  startExecStorm,
  type Running,
  type Transfer,
} from '../../bench/web-workloads';
import { formatBytes } from '../../web/app/lib/format';
import { releaseAll, type Step } from '../helpers/cleanup';
import { CONF, restartAgent, sh } from '../helpers/pmcd';

const REPO = path.resolve(__dirname, '..', '..');
const ARTIFACTS = path.join(REPO, 'test-artifacts');
const PMPROXY = process.env.PMPROXY_URL ?? 'http://localhost:44322';
const MARKER = `dash-e2e-${process.pid}-${Date.now().toString(36)}`;
const TRANSFER_BYTES = 3_456_789;

let dashboard: ChildProcess;
let url: string;
let browser: LaunchedBrowser;
let page: Page;
const workloads: Running[] = [];
let transfer: Transfer;
const pageErrors: string[] = [];

function startDashboardProcess(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [path.join(REPO, 'dist/web/server/main.js'), '--pmproxy', PMPROXY, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /dashboard on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => reject(new Error(`dashboard exited ${code}: ${out}`)));
  });
}

/** The configuration with stores to bcc.proc.profile allowed (allow_store in [profile]). */
function withProfileStores(conf: string): string {
  const lines = conf.split('\n').filter((l) => !/^\s*allow_store\s*=/.test(l) || !inProfile(conf, l));
  const at = lines.findIndex((l) => l.trim() === '[profile]');
  if (at < 0) return `${conf}\n[profile]\nallow_store = true\n`;
  lines.splice(at + 1, 0, 'allow_store = true');
  return lines.join('\n');
}

function inProfile(conf: string, line: string): boolean {
  let section = '';
  for (const l of conf.split('\n')) {
    const m = /^\s*\[(.+)\]\s*$/.exec(l);
    if (m) section = m[1]!;
    else if (l === line) return section === 'profile';
  }
  return false;
}

/** Stack samples the agent's sampler has taken (bcc.proc.sampler.samples; the on-demand
 *  profile holds those taken between its start and stop). */
function samplerSamples(): number {
  const m = /^bcc\.proc\.sampler\.samples 1 (\d+)$/m.exec(sh('pmprobe', ['-v', 'bcc.proc.sampler.samples'], { allowFail: true }).out);
  return m ? Number(m[1]) : 0;
}

function pmproxy(action: 'start' | 'stop'): void {
  execFileSync('/etc/init.d/pmproxy', [action], { stdio: 'pipe' });
}

/** Full-page screenshot from the top (a sticky header would otherwise sit mid-picture). */
async function shot(name: string): Promise<void> {
  await page.evaluate(() => {
    window.scrollTo(0, 0);
    // Panels out of view are not drawn (content-visibility); a full-page picture needs them all.
    document.body.dataset.renderAll = '';
  });
  await page.waitForTimeout(300);
  await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
  await page.evaluate(() => delete document.body.dataset.renderAll);
}

async function pmproxyUp(): Promise<boolean> {
  try {
    return (await fetch(`${PMPROXY}/pmapi/context`)).ok;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  if (!(await pmproxyUp())) pmproxy('start');
  workloads.push(startCpuBurner(), startExecStorm(MARKER, 3000, 20), startDd());
  ({ child: dashboard, url } = await startDashboardProcess());
  browser = await launchChromium();
  page = await browser.context.newPage();
  await page.setViewportSize({ width: 1400, height: 1000 });
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${url}?refresh=1&fs=ext4&op=write&flamewindow=30`);
  await page.evaluate(() => ((window as unknown as { loadedOnce: number }).loadedOnce = 1));
  transfer = await loopbackTransfer(TRANSFER_BYTES, 2);
}, 120_000);

afterAll(async () => {
  if (page) await shot('e2e-live-end.png').catch(() => undefined); // a picture, not a cleanup
  await releaseAll(
    ...workloads.map((w, i): Step => [`stop workload ${i}`, () => w.stop()]),
    ['start pmproxy', async () => void ((await pmproxyUp()) || pmproxy('start'))],
    ['close the browser', () => browser?.close()],
    !!dashboard?.pid && ['stop the dashboard server', () => process.kill(dashboard.pid!, 'SIGTERM')],
  );
});

describe('dashboard against the real agent', () => {
  it('connects to pmproxy and finds the agent', async () => {
    await expect.poll(() => page.getAttribute('body', 'data-conn'), { timeout: 15_000 }).toBe('ok');
    await expect.poll(() => page.textContent('#agent'), { timeout: 15_000 }).toMatch(/agent: pmda-ebpf \S+/);
    expect(await page.textContent('#host')).toMatch(/host: \S+/);
  });

  it('shows the run queue and disk latency heat maps with events', async () => {
    for (const id of ['runqlat', 'biolatency']) {
      await expect
        .poll(async () => Number(await page.getAttribute(`#${id} .heatmap`, 'data-cells')), { timeout: 30_000, message: `${id} heat map cells` })
        .toBeGreaterThan(0);
      expect(await page.textContent(`#${id} .note`)).not.toMatch(/not exported/);
    }
  });

  it('shows the filesystem latency heat map of dd\'s writes', async () => {
    await expect
      .poll(async () => Number(await page.getAttribute('#fs-latency .heatmap', 'data-cells')), { timeout: 30_000, message: `fs heat map cells; note: ${await page.textContent('#fs-latency .note')}` })
      .toBeGreaterThan(0);
  });

  it('lists the exec storm in execsnoop, each exec once', async () => {
    const rows = page.locator('#execsnoop tbody tr');
    await expect.poll(() => rows.filter({ hasText: MARKER }).count(), { timeout: 30_000 }).toBeGreaterThan(0);
    const seqs = await page.locator('#execsnoop td[data-col="_seq"]').allTextContents();
    expect(new Set(seqs).size).toBe(seqs.length);
    const args = await rows.filter({ hasText: MARKER }).first().locator('td[data-col="args"]').textContent();
    expect(args).toMatch(new RegExp(`/bin/true ${MARKER}-\\d+`));
  });

  it("lists the loopback transfer in tcplife with its bytes, human-readable", async () => {
    const row = page.locator('#tcplife tbody tr').filter({ hasText: String(transfer.serverPort) });
    await expect.poll(() => row.count(), { timeout: 30_000 }).toBeGreaterThan(0);
    // The client's row counts it as tx, the server's as rx (the kernel may count the FIN too).
    const cells = await page.locator('#tcplife tbody tr').evaluateAll((trs, port) =>
      trs
        .filter((tr) => [...tr.querySelectorAll('td[data-col="lport"], td[data-col="dport"]')].some((td) => td.getAttribute('data-value') === String(port)))
        .flatMap((tr) => [...tr.querySelectorAll('td[data-col="tx"], td[data-col="rx"]')].map((td) => [Number(td.getAttribute('data-value')), td.textContent])),
      transfer.serverPort,
    );
    const hit = cells.find(([v]) => Math.abs((v as number) - TRANSFER_BYTES) <= 1);
    expect(hit, `tx/rx cells of port ${transfer.serverPort}: ${JSON.stringify(cells)}`).toBeDefined();
    expect(hit![1]).toBe(formatBytes(TRANSFER_BYTES));
  });

  it("draws the burner's function in the continuous flame graph", async () => {
    const found = await page
      .waitForSelector(`#flame g.frame[name="${BURNER_FUNCTION}"]`, { state: 'attached', timeout: 60_000 })
      .then(() => true)
      .catch(() => false);
    // On failure, say what the graph did show for the burner's process.
    const frames = await page.locator('#flame g.frame').evaluateAll((gs) => gs.map((g) => g.getAttribute('name')));
    expect(found, `no ${BURNER_FUNCTION} frame; note "${await page.textContent('#flame .note')}"; frames: ${JSON.stringify(frames.slice(0, 60))}`).toBe(true);
    await page.fill('#flame input.flame-search', BURNER_FUNCTION);
    await expect.poll(() => page.textContent('#flame .flame-details')).toMatch(new RegExp(`search "${BURNER_FUNCTION}": \\d+ frames`));
    await shot('e2e-live.png');
  });

  // The accepted path, against the real agent: this test allows stores in the agent's
  // configuration (the default refuses them; ui.test.ts proves the page says so) and puts the
  // configuration back afterwards, whatever happens.
  it('starts and stops the on-demand profiler when the agent allows it, and draws its tree', async () => {
    const saved = fs.readFileSync(CONF, 'utf8');
    try {
      fs.writeFileSync(CONF, withProfileStores(saved));
      await restartAgent();
      await page.click('#profile > summary');
      await expect.poll(() => page.isEnabled('#profile button.profile-start'), { timeout: 30_000 }).toBe(true);
      await page.click('#profile button.profile-start');
      const status = page.locator('#profile .profile-status');
      await expect.poll(() => status.textContent(), { timeout: 20_000 }).toBe('status: started');
      const s0 = samplerSamples();
      expect(await page.isVisible('#profile .profile-message')).toBe(false);
      // The burner runs throughout: stop once the sampler has taken a hundred more samples
      // (a condition, not a fixed wait).
      await expect.poll(() => samplerSamples() - s0, { timeout: 20_000 }).toBeGreaterThan(100);
      await expect.poll(() => page.isEnabled('#profile button.profile-stop')).toBe(true);
      await page.click('#profile button.profile-stop');
      await expect.poll(() => page.locator(`#profile g.frame[name="${BURNER_FUNCTION}"]`).count(), { timeout: 30_000 }).toBeGreaterThan(0);
      await expect.poll(() => status.textContent()).toBe('status: stopped');
      await shot('e2e-profile.png');
    } finally {
      fs.writeFileSync(CONF, saved);
      await restartAgent();
    }
  });

  it('recovers by itself when pmproxy is stopped and started again', async () => {
    const contextsBefore = Number(await page.getAttribute('body', 'data-contexts'));
    pmproxy('stop');
    try {
      await expect.poll(() => page.getAttribute('body', 'data-conn'), { timeout: 20_000 }).toBe('down');
      expect(await page.textContent('#warnings')).toMatch(/pmproxy .*unreachable/);
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: path.join(ARTIFACTS, 'e2e-pmproxy-down.png') });
    } finally {
      pmproxy('start');
    }
    await expect.poll(() => page.getAttribute('body', 'data-conn'), { timeout: 30_000 }).toBe('ok');
    const polls = Number(await page.getAttribute('body', 'data-polls'));
    await expect.poll(async () => Number(await page.getAttribute('body', 'data-polls')), { timeout: 15_000 }).toBeGreaterThan(polls + 2);
    expect(Number(await page.getAttribute('body', 'data-contexts'))).toBeGreaterThan(contextsBefore);
    // Still the same page (no reload), still drawing.
    expect(await page.evaluate(() => (window as unknown as { loadedOnce?: number }).loadedOnce)).toBe(1);
    expect(Number(await page.getAttribute('#runqlat .heatmap', 'data-cells'))).toBeGreaterThan(0);
    expect(await page.locator('#warnings .warning[data-kind="conn"]').count()).toBe(0);
    await shot('e2e-recovered.png');
    expect(pageErrors).toEqual([]);
  });
});
