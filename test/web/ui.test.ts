// The page's rendering layer in real headless Chromium, fed by a scripted /pmapi (see
// ui-fake-pmproxy.ts) so that each behaviour can be checked exactly: bucket placement, hover
// read-out, seq de-duplication in the DOM, sorting, byte formatting, warnings, refused store,
// forgotten context, flame graph search and zoom. The same page against the real pmproxy and
// agent is tested in e2e-live.test.ts.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type LaunchedBrowser } from '../../bench/web-browser';
import { startDashboard, type RunningDashboard } from '../../web/server/server';
import { FakePmproxy } from './ui-fake-pmproxy';

const REPO = path.resolve(__dirname, '..', '..');
const ARTIFACTS = path.join(REPO, 'test-artifacts');

let dash: RunningDashboard;
let browser: LaunchedBrowser;
let page: Page;
const fake = new FakePmproxy();
const errors: string[] = [];

async function waitForFetches(n: number): Promise<void> {
  await page.waitForFunction((k) => Number(document.body.dataset.polls ?? 0) >= k, fake.fetches + n, { timeout: 20_000 });
}

beforeAll(async () => {
  execFileSync('npm', ['run', '-s', 'build:web'], { cwd: REPO, stdio: 'pipe' });
  dash = await startDashboard({ pmproxy: 'http://127.0.0.1:9', root: path.join(REPO, 'dist/web/public'), port: 0 });
  browser = await launchChromium();
  page = await browser.context.newPage();
  await page.setViewportSize({ width: 1400, height: 1000 });
  page.on('pageerror', (e) => errors.push(e.message));
  await page.route('**/pmapi/**', (route) => fake.handle(route));
  await page.goto(`${dash.url}?refresh=0.3&window=60`);
  await page.waitForFunction(() => Number(document.body.dataset.polls ?? 0) >= 5, undefined, { timeout: 20_000 });
}, 120_000);

afterAll(async () => {
  await page
    ?.evaluate(() => {
      window.scrollTo(0, 0);
      document.body.dataset.renderAll = '';
    })
    .catch(() => undefined);
  await page?.waitForTimeout(300).catch(() => undefined);
  await page?.screenshot({ path: path.join(ARTIFACTS, 'ui-fake.png'), fullPage: true }).catch(() => undefined);
  await browser?.close();
  await dash?.close();
});

describe('dashboard page (scripted pmproxy)', () => {
  it('loads without script errors and shows the host', async () => {
    expect(errors).toEqual([]);
    await expect.poll(() => page.textContent('#host')).toContain('fakehost');
    expect(await page.getAttribute('body', 'data-conn')).toBe('ok');
    expect(await page.textContent('#agent')).toContain('0.1.0');
  });

  it('draws the run queue heat map with a bucket that appeared later placed by its bounds', async () => {
    const hm = page.locator('#runqlat .heatmap');
    // 0-1 .. 256-511: nine log2 rows, whatever order they arrived in.
    await expect.poll(() => hm.getAttribute('data-rows')).toBe('9');
    expect(Number(await hm.getAttribute('data-cells'))).toBeGreaterThan(0);
    const ticks = await page.locator('#runqlat svg .tick text').allTextContents();
    expect(ticks).toContain('511µs');
    expect(await page.locator('#runqlat svg').textContent()).toContain('events/s');
  });

  it('reads out time, bucket and events/s under the mouse', async () => {
    const canvas = page.locator('#runqlat canvas');
    const box = (await canvas.boundingBox())!;
    // Top row (256-511 µs) near the right edge, where the newest column is.
    await page.mouse.move(box.x + box.width - 90, box.y + 8 + 5);
    const tip = page.locator('#runqlat .tooltip');
    await expect.poll(() => tip.isVisible()).toBe(true);
    const text = (await tip.textContent()) ?? '';
    expect(text).toMatch(/256 µs – 511 µs/);
    expect(text).toMatch(/\d+(\.\d+)? events\/s|no sample/);
  });

  it('shows each exec once, newest first, although it stays in the ring for several fetches', async () => {
    await waitForFetches(3);
    const seqs = (await page.locator('#execsnoop tbody tr td[data-col="_seq"]').allTextContents()).map(Number);
    expect(seqs.length).toBeGreaterThan(5);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => b - a));
    // every seq from 1 to the newest, none missing
    expect(Math.max(...seqs)).toBe(seqs.length);
    const args = await page.locator('#execsnoop tbody tr').first().locator('td[data-col="args"]').textContent();
    expect(args).toBe(`/bin/true ui-marker-${seqs[0]}`);
    // A shown event keeps its row element across refreshes (keyed update, not a rebuild).
    const row = await page.locator('#execsnoop tbody tr').first().elementHandle();
    await waitForFetches(2);
    expect(await row!.evaluate((tr) => tr.isConnected && tr.closest('#execsnoop') !== null)).toBe(true);
    expect(await page.locator('#execsnoop tbody tr').first().getAttribute('data-key')).not.toBe(await row!.getAttribute('data-key'));
  });

  it('sorts a table by the clicked column, and back', async () => {
    await page.click('#execsnoop th:has-text("pid") button');
    const firstClick = (await page.locator('#execsnoop td[data-col="pid"]').allTextContents()).map(Number);
    // numeric columns sort largest first on the first click
    expect(firstClick).toEqual([...firstClick].sort((a, b) => b - a));
    await page.click('#execsnoop th:has-text("pid") button');
    const secondClick = (await page.locator('#execsnoop td[data-col="pid"]').allTextContents()).map(Number);
    expect(secondClick).toEqual([...secondClick].sort((a, b) => a - b));
    await page.click('#execsnoop th:has-text("seq") button');
  });

  it('writes bytes and durations for people, keeping the raw value', async () => {
    const tx = page.locator('#tcplife td[data-col="tx"]').first();
    expect(await tx.textContent()).toBe('3.30 MiB');
    expect(await tx.getAttribute('data-value')).toBe('3456789');
    expect(await page.locator('#tcplife td[data-col="duration"]').first().textContent()).toBe('2.50 s');
  });

  it('warns at the top about a failed module and lost events', async () => {
    await expect.poll(() => page.locator('#warnings .warning .text').allTextContents(), { timeout: 10_000 }).toEqual(
      expect.arrayContaining(['module biotop failed: no tracepoint block:block_io_start', 'module execsnoop lost 17 events in the last 30 s']),
    );
    expect(await page.locator('#health td[data-col="state"]').allTextContents()).toEqual(['failed', 'running', 'running']);
    // A failed module can be dismissed (zfsdist on a host without ZFS would warn forever).
    await page.locator('#warnings .warning[data-kind="failed"] button.dismiss').click();
    await expect.poll(() => page.locator('#warnings .warning .text').allTextContents()).toEqual(['module execsnoop lost 17 events in the last 30 s']);
  });

  it('says which metrics are missing instead of showing an empty panel silently', async () => {
    expect(await page.textContent('#tcptop .note')).toContain('bcc.proc.io.net.tcptop.pid and related metrics: not exported by the agent');
  });

  it('draws the continuous flame graph, finds a frame, and keeps a zoom across refreshes', async () => {
    const flame = page.locator('#flame');
    await expect.poll(() => flame.locator('g.frame[name="dashboard_burner_spin"]').count(), { timeout: 15_000 }).toBe(1);
    await page.fill('#flame input.flame-search', 'burner_spin');
    await expect.poll(() => page.textContent('#flame .flame-details')).toMatch(/search "burner_spin": 1 frames/);
    await flame.locator('g.frame[name="dd"]').click();
    await waitForFetches(12);
    // zoomed on "dd": burner frames are hidden (width 0 / removed), dd's frames fill the width
    const ddWidth = Number(await flame.locator('g.frame[name="dd"] rect').getAttribute('width'));
    const graphWidth = (await flame.locator('svg').boundingBox())!.width;
    expect(ddWidth).toBeGreaterThan(graphWidth * 0.9);
    await page.click('#flame button.flame-reset');
    await expect.poll(async () => Number(await flame.locator('g.frame[name="dd"] rect').getAttribute('width'))).toBeLessThan(graphWidth * 0.5);
  });

  it('says clearly when the agent refuses the profile store', async () => {
    await page.click('#profile > summary');
    await expect.poll(() => page.isEnabled('#profile button.profile-start'), { timeout: 10_000 }).toBe(true);
    await page.click('#profile button.profile-start');
    const msg = page.locator('#profile .profile-message');
    await expect.poll(() => msg.isVisible()).toBe(true);
    expect(await msg.textContent()).toMatch(/did not allow "start".*No permission.*allow_store = true/);
    expect(fake.stores).toEqual(['bcc.proc.profile=start']);
  });

  it('runs the on-demand profiler when the agent allows it and draws its tree', async () => {
    fake.allowStore = true;
    await page.click('#profile button.profile-start');
    await expect.poll(() => page.textContent('#profile .profile-status'), { timeout: 10_000 }).toBe('status: started');
    expect(await page.isVisible('#profile .profile-message')).toBe(false);
    await expect.poll(() => page.isEnabled('#profile button.profile-stop')).toBe(true);
    await page.click('#profile button.profile-stop');
    await expect.poll(() => page.locator('#profile g.frame[name="profile_hot_fn"]').count(), { timeout: 10_000 }).toBe(1);
    expect(await page.textContent('#profile .profile-status')).toBe('status: stopped');
    // kernel frames get the kernel colour family (libtype from the tree)
    const fills = await page.locator('#profile g.frame rect').evaluateAll((rs) => rs.map((r) => r.getAttribute('fill')));
    expect(new Set(fills).size).toBeGreaterThan(1);
    expect(fake.stores.slice(-2)).toEqual(['bcc.proc.profile=start', 'bcc.proc.profile=stop']);
  });

  it('gets a new context by itself when pmproxy forgets the old one', async () => {
    const before = fake.contexts;
    fake.forgetContext();
    await waitForFetches(3);
    expect(fake.contexts).toBe(before + 1);
    expect(await page.getAttribute('body', 'data-conn')).toBe('ok');
    expect(errors).toEqual([]);
  });
});
