// Dashboard benchmark: (1) page load to the first heat map with events, (2) the browser's CPU
// while the page refreshes every second with every panel open, from Chromium's own performance
// metrics (CDP Performance.getMetrics: main-thread task, script, layout and style time).
// Real pmproxy, real agent, real workloads (burner, exec storm, dd, loopback transfers).
// Run: npm run build && node dist/bench/web.bench.js   (env: PMPROXY_URL, WEB_BENCH_SECONDS)
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { launchChromium } from './web-browser';
import { loopbackTransfer, startCpuBurner, startDd, startExecStorm, type Running } from './web-workloads';

const PMPROXY = process.env.PMPROXY_URL ?? 'http://localhost:44322';
const SECONDS = Number(process.env.WEB_BENCH_SECONDS ?? 20);
const LOADS = 3;
const MAIN = path.resolve(__dirname, '..', 'web', 'server', 'main.js');

function startDashboard(): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [MAIN, '--pmproxy', PMPROXY, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /dashboard on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on('exit', (code) => reject(new Error(`dashboard exited with ${code} (built? npm run build:web)`)));
  });
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds (user + system) used so far by every process of this browser (browser, renderer, GPU, utility). */
function browserCpuSeconds(profileDir: string): number {
  let ticks = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(profileDir)) continue;
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime
    } catch {
      /* process ended meanwhile */
    }
  }
  return ticks / CLK_TCK;
}

function fmtLoads(xs: number[]): string {
  return `${Math.round(median(xs))} ms   (${xs.map((x) => Math.round(x)).join(', ')})`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const workloads: Running[] = [startCpuBurner(), startExecStorm(`web-bench-${process.pid}`, 100_000, 20), startDd()];
  const { child, url } = await startDashboard();
  const b = await launchChromium();
  let transfers = true;
  const lines: string[] = [];
  try {
    // Keep tcplife/tcptop busy: one 1 MB loopback transfer after another.
    void (async () => {
      while (transfers) await loopbackTransfer(1_000_000, 1).catch(() => undefined);
    })();

    // (1) load → first heat map with events (needs two fetches: a rate needs two counts)
    const loads: { connected: number; heatmap: number; dcl: number; data: number; mark: number }[] = [];
    for (let i = 0; i < LOADS; i++) {
      const page = await b.context.newPage();
      await page.setViewportSize({ width: 1400, height: 1000 });
      const t0 = Date.now();
      await page.goto(`${url}?refresh=1`);
      await page.waitForFunction("document.body.dataset.conn === 'ok'", undefined, { timeout: 30_000 });
      const connected = Date.now() - t0;
      await page.waitForFunction("Number(document.querySelector('#runqlat .heatmap')?.getAttribute('data-cells') ?? 0) > 0", undefined, {
        timeout: 30_000,
        polling: 20,
      });
      const heatmap = Date.now() - t0;
      // The page's own marks, from navigation start (no test-driver latency in them).
      const marks = await page.evaluate<number[]>(
        "[performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd, performance.getEntriesByName('dashboard:first-data')[0]?.startTime ?? NaN, performance.getEntriesByName('dashboard:first-heatmap')[0]?.startTime ?? NaN]",
      );
      loads.push({ connected, heatmap, dcl: marks[0]!, data: marks[1]!, mark: marks[2]! });
      await page.close();
    }

    // (2) CPU while refreshing every second with all panels open
    const page = await b.context.newPage();
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.goto(`${url}?refresh=1`);
    await page.waitForFunction('Number(document.body.dataset.polls ?? 0) >= 3', undefined, { timeout: 30_000 });
    // Browser-side code as strings: this file is compiled without the DOM library.
    await page.evaluate("document.querySelectorAll('details.panel').forEach((d) => { d.open = true; })");
    await page.waitForTimeout(3000);
    const cdp = await b.context.newCDPSession(page);
    await cdp.send('Performance.enable', { timeDomain: 'timeTicks' });
    const read = async () => {
      const { metrics } = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
      return Object.fromEntries(metrics.map((m) => [m.name, m.value]));
    };
    // Two views of the same open page: the top (health, heat maps), and scrolled to the tables,
    // where new execs and sessions arrive every second. Panels out of view are not painted.
    const phases: [string, string][] = [
      ['viewport at the top (health, heat maps)', 'window.scrollTo(0, 0)'],
      ['viewport on execsnoop/tcplife', "document.querySelector('#execsnoop').scrollIntoView()"],
    ];
    lines.push(`dashboard (Chromium ${b.context.browser()?.version() ?? '?'}, ${PMPROXY}, 1400x1000)`);
    lines.push(
      `page load (${LOADS} fresh tabs; ms from navigation start, median and each):`,
      `  DOMContentLoaded                ${fmtLoads(loads.map((l) => l.dcl))}`,
      `  first data from pmproxy         ${fmtLoads(loads.map((l) => l.data))}   (context + metadata + fetch + instance names)`,
      `  first heat map with events      ${fmtLoads(loads.map((l) => l.mark))}   (a rate needs 2 fetches)`,
      `  same, seen by the test driver   ${fmtLoads(loads.map((l) => l.heatmap))}`,
    );
    for (const [label, scroll] of phases) {
      await page.evaluate(scroll);
      await page.waitForTimeout(2000);
      const polls0 = Number(await page.getAttribute('body', 'data-polls'));
      const m0 = await read();
      const cpu0 = browserCpuSeconds(b.profileDir);
      await page.waitForTimeout(SECONDS * 1000);
      const cpu1 = browserCpuSeconds(b.profileDir);
      const m1 = await read();
      const polls1 = Number(await page.getAttribute('body', 'data-polls'));
      const wall = m1.Timestamp! - m0.Timestamp!;
      const pct = (k: string) => ((100 * (m1[k]! - m0[k]!)) / wall).toFixed(1);
      const perPoll = (k: string) => (((m1[k]! - m0[k]!) * 1000) / Math.max(1, polls1 - polls0)).toFixed(1);
      const frames = await page.evaluate<number>("document.querySelectorAll('#flame g.frame').length");
      const rows = await page.evaluate<number>("document.querySelectorAll('table.data tbody tr:not(.empty)').length");
      lines.push(
        `refreshing every 1 s, all panels open, ${label}: ${wall.toFixed(1)} s, ${polls1 - polls0} refreshes, ${frames} flame frames, ${rows} table rows`,
        `  CPU of all Chromium processes     ${((100 * (cpu1 - cpu0)) / wall).toFixed(1)} % of one core   (/proc utime+stime)`,
        `  main-thread busy (TaskDuration)   ${pct('TaskDuration')} % of wall time   ${perPoll('TaskDuration')} ms per refresh (wall time: longer when CPUs are contended)`,
        `  script (ScriptDuration)           ${pct('ScriptDuration')} %             ${perPoll('ScriptDuration')} ms per refresh`,
        `  layout + style                    ${(Number(pct('LayoutDuration')) + Number(pct('RecalcStyleDuration'))).toFixed(1)} %`,
        `  JS heap used                      ${(m1.JSHeapUsedSize! / 1048576).toFixed(1)} MiB (was ${(m0.JSHeapUsedSize! / 1048576).toFixed(1)} MiB)`,
        `  DOM nodes                         ${m1.Nodes}`,
      );
    }
  } finally {
    transfers = false;
    for (const w of workloads) w.stop();
    await b.close();
    child.kill('SIGTERM');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    process.stderr.write(`web bench failed: ${e.message}\n`);
    process.exit(1);
  },
);
