// The dashboard page: builds the panels, polls pmproxy once per refresh for every metric the
// open panels need, and keeps going through pmproxy restarts and forgotten contexts.
import './style.css';
import { formatClock } from './lib/format';
import { BIOTOP, DISK_LATENCY, EXECSNOOP, RUNQ_LATENCY, TCPLIFE, TCPTOP } from './lib/metric-names';
import { PmapiClient, PmapiUnreachable } from './lib/pmapi-client';
import { Poller } from './lib/poller';
import { h, setText } from './ui/dom';
import { FsHeatmapPanel, HeatmapPanel } from './ui/heatmap-panel';
import { HealthPanel } from './ui/health-panel';
import type { Panel } from './ui/panel';
import { setNote } from './ui/panel';
import { ProfilePanel } from './ui/profile-panel';
import { StacksPanel } from './ui/stacks-panel';
import { EventTablePanel, RetransPanel, TopTablePanel } from './ui/table-panels';

const params = new URLSearchParams(location.search);
const num = (k: string, d: number) => {
  const v = Number(params.get(k));
  return params.has(k) && Number.isFinite(v) && v > 0 ? v : d;
};
let refreshMs = Math.round(num('refresh', 1) * 1000);
const heatWindow = num('window', 120);

const client = new PmapiClient({
  hostspec: params.get('hostspec') ?? undefined,
  // Long enough that a throttled background tab does not lose its context at every poll.
  polltimeout: num('polltimeout', 60),
});
const poller = new Poller(client);
// pmproxy takes a while to make a context: ask now, while the page is being built.
void client.connect().catch(() => undefined);

const health = new HealthPanel();
const runq = new HeatmapPanel('runqlat', 'Run queue latency (runqlat)', RUNQ_LATENCY, 'runqlat', heatWindow);
const disk = new HeatmapPanel('biolatency', 'Disk I/O latency (biolatency)', DISK_LATENCY, 'biolatency', heatWindow);
const fs = new FsHeatmapPanel(heatWindow, params.get('fs'), params.get('op') ?? 'read');
const stacks = new StacksPanel(num('flamewindow', 30));
const profile = new ProfilePanel(client);
const exec = new EventTablePanel('execsnoop', 'New processes (execsnoop)', EXECSNOOP, 'execsnoop', [
  { key: 'comm', label: 'comm' },
  { key: 'pid', label: 'pid', kind: 'number' },
  { key: 'ppid', label: 'ppid', kind: 'number' },
  { key: 'ret', label: 'ret', kind: 'number' },
  { key: 'args', label: 'args' },
], 'process_count');
const tcplife = new EventTablePanel('tcplife', 'TCP sessions (tcplife)', TCPLIFE, 'tcplife', [
  { key: 'pid', label: 'pid', kind: 'number' },
  { key: 'comm', label: 'comm' },
  { key: 'laddr', label: 'local address' },
  { key: 'lport', label: 'lport', kind: 'number' },
  { key: 'daddr', label: 'remote address' },
  { key: 'dport', label: 'dport', kind: 'number' },
  { key: 'tx', label: 'tx', kind: 'bytes' },
  { key: 'rx', label: 'rx', kind: 'bytes' },
  { key: 'duration', label: 'duration', kind: 'micros' },
], 'session_count');
const tcptop = new TopTablePanel(
  'tcptop',
  'TCP throughput (tcptop)',
  TCPTOP,
  'tcptop',
  [
    { key: 'pid', label: 'pid', kind: 'number' },
    { key: 'comm', label: 'comm' },
    { key: 'laddr', label: 'local address' },
    { key: 'lport', label: 'lport', kind: 'number' },
    { key: 'daddr', label: 'remote address' },
    { key: 'dport', label: 'dport', kind: 'number' },
    { key: 'rx', label: 'rx', kind: 'bytes' },
    { key: 'tx', label: 'tx', kind: 'bytes' },
  ],
  'rx',
);
const biotop = new TopTablePanel(
  'biotop',
  'Disk I/O by process (biotop)',
  BIOTOP,
  'biotop',
  [
    { key: 'pid', label: 'pid', kind: 'number' },
    { key: 'comm', label: 'comm' },
    { key: 'direction', label: 'R/W' },
    { key: 'disk', label: 'disk' },
    { key: 'major', label: 'maj', kind: 'number' },
    { key: 'minor', label: 'min', kind: 'number' },
    { key: 'io', label: 'I/Os', kind: 'number' },
    { key: 'bytes', label: 'bytes', kind: 'bytes' },
    { key: 'duration', label: 'avg latency', kind: 'micros' },
  ],
  'bytes',
);
const retrans = new RetransPanel();

const panels: Panel[] = [health, runq, disk, fs, stacks, profile, exec, tcplife, tcptop, biotop, retrans];

// Header and layout
const hostEl = h('span', { class: 'item', id: 'host' }, 'host: …');
const connEl = h('span', { class: 'item', id: 'conn' }, 'connecting to pmproxy…');
const agentEl = h('span', { class: 'item', id: 'agent' }, 'agent: …');
const updatedEl = h('span', { class: 'item', id: 'updated' });
const refreshSel = h('select', { id: 'refresh', 'aria-label': 'refresh interval' });
for (const s of [1, 2, 5, 10]) refreshSel.append(h('option', { value: s * 1000, selected: s * 1000 === refreshMs }, `${s} s`));
refreshSel.addEventListener('change', () => {
  refreshMs = Number(refreshSel.value);
  schedule(0);
});
const warningsEl = h('div', { id: 'warnings', role: 'alert', 'aria-live': 'polite' });
document.body.append(
  // Warnings stay in view with the header: a lost connection matters wherever one has scrolled.
  h(
    'div',
    { class: 'top-bar' },
    h('header', { class: 'top' }, h('h1', {}, 'pmda-ebpf'), hostEl, connEl, agentEl, updatedEl, h('label', { class: 'item' }, 'refresh', refreshSel)),
    warningsEl,
  ),
  h(
    'main',
    {},
    health.frame.root,
    h('h2', { class: 'group' }, 'Latency'),
    runq.frame.root,
    disk.frame.root,
    fs.frame.root,
    h('h2', { class: 'group' }, 'CPU'),
    stacks.frame.root,
    profile.frame.root,
    h('h2', { class: 'group' }, 'Events and top lists'),
    exec.frame.root,
    tcplife.frame.root,
    h('div', { class: 'tables two' }, tcptop.frame.root, biotop.frame.root),
    retrans.frame.root,
  ),
);

let polls = 0;
let failures = 0;
let heatmapMarked = false;
let timer: ReturnType<typeof setTimeout> | undefined;
let running = false;

function setConn(state: 'ok' | 'down' | 'connecting', text: string): void {
  document.body.dataset.conn = state;
  setText(connEl, text);
}

// A module that cannot run on this host (zfsdist without ZFS) would otherwise warn forever:
// a failed-module warning can be dismissed for this tab until its text changes.
const dismissed = new Set<string>(JSON.parse(sessionStorage.getItem('dismissed-warnings') ?? '[]') as string[]);

function dismiss(text: string): void {
  dismissed.add(text);
  sessionStorage.setItem('dismissed-warnings', JSON.stringify([...dismissed]));
  renderWarnings(lastExtra);
}

let lastExtra: string[] = [];
function renderWarnings(extra: string[]): void {
  lastExtra = extra;
  const items = [...extra.map((text) => ({ kind: 'conn', text })), ...health.warnings].filter((w) => !dismissed.has(w.text));
  const sig = JSON.stringify(items);
  if (warningsEl.dataset.sig === sig) return;
  warningsEl.dataset.sig = sig;
  warningsEl.replaceChildren(
    ...items.map((w) =>
      h(
        'div',
        { class: 'warning', 'data-kind': w.kind },
        h('span', { class: 'text' }, w.text),
        w.kind === 'failed' ? h('button', { type: 'button', class: 'dismiss', title: 'hide this warning in this tab', onclick: () => dismiss(w.text) }, '×') : null,
      ),
    ),
  );
}

function schedule(ms: number): void {
  if (timer !== undefined) clearTimeout(timer);
  timer = setTimeout(() => void tick(), ms);
}

async function tick(): Promise<void> {
  timer = undefined;
  if (running) return;
  if (document.hidden) return; // resumed by visibilitychange
  running = true;
  const started = performance.now();
  let next = refreshMs;
  try {
    const active = panels.filter((p) => p.alwaysPoll || p.frame.isOpen());
    const wants = active.map((p) => p.wants());
    const names = [...new Set(wants.flatMap((w) => w.names))];
    const needNames = new Set(wants.flatMap((w) => w.needNames));
    const snap = await poller.poll({ names, needNames });
    polls++;
    if (polls === 1) performance.mark('dashboard:first-data');
    failures = 0;
    const ctx = snap.ctx;
    const hostname = typeof ctx.labels.hostname === 'string' ? ctx.labels.hostname : '';
    setText(hostEl, `host: ${ctx.hostspec}${hostname && hostname !== ctx.hostspec ? ` (${hostname})` : ''}`);
    hostEl.title = `pmproxy context ${ctx.context}; contexts created: ${client.contextsCreated}`;
    setConn('ok', `pmproxy connected`);
    for (const p of active) {
      try {
        p.update(snap, poller);
      } catch (e) {
        setNote(p.frame, `could not show this panel: ${(e as Error).message}`, 'warn');
      }
    }
    if (!heatmapMarked && Number(runq.frame.root.querySelector('.heatmap')?.getAttribute('data-cells') ?? 0) > 0) {
      heatmapMarked = true;
      performance.mark('dashboard:first-heatmap');
    }
    setText(agentEl, health.version ? `agent: pmda-ebpf ${health.version}` : 'agent: not found');
    setText(updatedEl, `updated ${formatClock(snap.t)}`);
    document.body.dataset.polls = String(polls);
    document.body.dataset.contexts = String(client.contextsCreated);
    renderWarnings([]);
  } catch (e) {
    failures++;
    next = Math.min(5000, 1000 * failures);
    const msg = (e as Error).message;
    if (e instanceof PmapiUnreachable) {
      setConn('down', `pmproxy unreachable — retrying`);
      renderWarnings([`${msg}; retrying every ${Math.round(next / 1000)} s. The page resumes by itself.`]);
    } else {
      setConn('down', 'pmproxy error — retrying');
      renderWarnings([`pmproxy: ${msg}`]);
    }
    document.body.dataset.failures = String(failures);
  } finally {
    running = false;
    // Every refreshMs from start to start, however long pmproxy took (but never back to back).
    schedule(failures > 0 ? next : Math.max(100, next - (performance.now() - started)));
  }
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) schedule(0);
});
// An opened panel wants its data now, not at the next refresh.
for (const p of panels) p.frame.root.addEventListener('toggle', () => p.frame.isOpen() && schedule(0));
schedule(0);
