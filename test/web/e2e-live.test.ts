// End to end: the dashboard page in headless Chromium, through the dashboard server, through the
// real pmproxy, from the real agent installed in pmcd, watching real workloads (CPU burner, exec
// storm, direct-I/O dd, loopback TCP transfer). pmproxy is stopped and started in the middle and
// the page must recover by itself. Screenshots go to test-artifacts/.
//
// Needs the agent installed (cd $PCP_PMDAS_DIR/ebpf && ./Install) and pmproxy running.
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
  execFileSync('npm', ['run', '-s', 'build:web'], { cwd: REPO, stdio: 'pipe' });
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
  for (const w of workloads) w.stop();
  if (!(await pmproxyUp())) pmproxy('start');
  if (page) await shot('e2e-live-end.png').catch(() => undefined);
  await browser?.close();
  if (dashboard?.pid) process.kill(dashboard.pid, 'SIGTERM');
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

  it('starts and stops the on-demand profiler, or says clearly why it may not', async () => {
    await page.click('#profile > summary');
    await expect.poll(() => page.isEnabled('#profile button.profile-start'), { timeout: 20_000 }).toBe(true);
    await page.click('#profile button.profile-start');
    const msg = page.locator('#profile .profile-message');
    const status = page.locator('#profile .profile-status');
    await expect
      .poll(async () => ((await msg.isVisible()) ? 'refused' : /started/.test((await status.textContent()) ?? '') ? 'started' : 'waiting'), { timeout: 20_000 })
      .not.toBe('waiting');
    if (await msg.isVisible()) {
      // The agent's default (allow_store off): the page must say so, not fail silently.
      expect(await msg.textContent()).toMatch(/did not allow "start".*No permission/);
    } else {
      await page.waitForTimeout(3000);
      await page.click('#profile button.profile-stop');
      await expect.poll(() => page.locator(`#profile g.frame[name="${BURNER_FUNCTION}"]`).count(), { timeout: 30_000 }).toBeGreaterThan(0);
    }
    await shot('e2e-profile.png');
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
