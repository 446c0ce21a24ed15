// A latency heat map on a canvas: x = time, y = log2 latency buckets by upper bound (µs),
// colour = events/s in that bucket and interval (log scale, empty cells left blank), with a
// colour legend and a hover read-out. SVG carries only the axes.
import { axisBottom, axisLeft, axisRight } from 'd3-axis';
import { scaleLinear, scaleSequentialLog, scaleTime } from 'd3-scale';
import { interpolateYlOrRd } from 'd3-scale-chromatic';
import { select, type Selection } from 'd3-selection';
import type { Bucket } from '../lib/buckets';
import { formatClock, formatMicros, formatMicrosShort, formatRate } from '../lib/format';
import type { HeatmapSeries } from '../lib/heatmap-series';
import { h } from './dom';

const MARGIN = { top: 8, right: 84, bottom: 26, left: 66 };
const SVG_NS = 'http://www.w3.org/2000/svg';

// More events = darker, on a light background; start a little in so that the faintest cells
// still stand out from the blank (no events) background.
const colour = (t: number) => interpolateYlOrRd(0.15 + 0.85 * t);

function bucketLabel(b: Bucket): string {
  const lo = Number.isFinite(b.lo) ? formatMicros(b.lo) : '-∞';
  return `${lo} – ${formatMicros(b.hi)}`;
}

export class HeatmapView {
  readonly element: HTMLDivElement;
  private canvas: HTMLCanvasElement;
  private svg: SVGSVGElement;
  private tooltip: HTMLDivElement;
  private width = 600;
  private height = 220;
  private series: HeatmapSeries | null = null;
  private now = 0;
  private rows: Bucket[] = [];
  private mouse: { x: number; y: number } | null = null;

  constructor(
    private readonly windowSeconds: number,
    height = 220,
  ) {
    this.height = height;
    this.canvas = h('canvas', { class: 'heat-canvas' });
    this.svg = document.createElementNS(SVG_NS, 'svg');
    this.svg.classList.add('heat-axes');
    this.tooltip = h('div', { class: 'tooltip', hidden: true });
    this.element = h('div', { class: 'heatmap', 'data-cells': 0, 'data-rows': 0 }, this.canvas, this.svg, this.tooltip);
    this.canvas.addEventListener('mousemove', (ev) => {
      const r = this.canvas.getBoundingClientRect();
      this.mouse = { x: ev.clientX - r.left, y: ev.clientY - r.top };
      this.updateTooltip();
    });
    this.canvas.addEventListener('mouseleave', () => {
      this.mouse = null;
      this.tooltip.hidden = true;
    });
    new ResizeObserver(() => this.resize()).observe(this.element);
  }

  private resize(): void {
    const w = Math.max(320, Math.floor(this.element.clientWidth));
    if (w !== this.width) {
      this.width = w;
      this.draw();
    }
  }

  render(series: HeatmapSeries, now: number): void {
    this.series = series;
    this.now = now;
    this.draw();
    this.updateTooltip();
  }

  private plot() {
    const pw = this.width - MARGIN.left - MARGIN.right;
    const ph = this.height - MARGIN.top - MARGIN.bottom;
    const x = scaleTime()
      .domain([new Date((this.now - this.windowSeconds) * 1000), new Date(this.now * 1000)])
      .range([0, pw]);
    return { pw, ph, x };
  }

  private draw(): void {
    const s = this.series;
    const dpr = window.devicePixelRatio || 1;
    const { pw, ph, x } = this.plot();
    // Setting a canvas size reallocates its bitmap: only when the size really changed.
    const cw = Math.round(this.width * dpr);
    const ch = Math.round(this.height * dpr);
    if (this.canvas.width !== cw || this.canvas.height !== ch) {
      this.canvas.width = cw;
      this.canvas.height = ch;
      this.canvas.style.width = `${this.width}px`;
      this.canvas.style.height = `${this.height}px`;
    }
    const g = this.canvas.getContext('2d')!;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, this.width, this.height);
    g.fillStyle = '#f7f7f9';
    g.fillRect(MARGIN.left, MARGIN.top, pw, ph);
    this.rows = s ? s.rows() : [];
    const rows = this.rows;
    const max = s ? s.maxRate() : 0;
    const min = s ? s.minPositiveRate() : 0;
    // Log colour scale over at most four decades, and at least one so a single value has a range.
    const top = Math.max(max, 1e-3);
    const c = scaleSequentialLog(colour)
      .domain([Math.min(Math.max(min, top / 1e4), top / 10), top])
      .clamp(true);
    let cells = 0;
    if (s && rows.length > 0) {
      const rh = ph / rows.length;
      const index = new Map(rows.map((b, i) => [b.name, i]));
      for (const col of s.columns) {
        const x0 = x(new Date((col.t - col.dt) * 1000));
        const x1 = x(new Date(col.t * 1000));
        if (x1 < 0) continue;
        for (const [name, r] of col.rates) {
          if (!(r > 0)) continue;
          const i = index.get(name);
          if (i === undefined) continue;
          g.fillStyle = c(r);
          // Row 0 (lowest latency) at the bottom; +0.5 px overlap avoids hairline gaps.
          g.fillRect(MARGIN.left + Math.max(0, x0), MARGIN.top + ph - (i + 1) * rh, Math.max(1, x1 - Math.max(0, x0) + 0.5), rh + 0.5);
          cells++;
        }
      }
    }
    this.element.dataset.cells = String(cells);
    this.element.dataset.rows = String(rows.length);
    this.drawAxes(pw, ph, x, rows, c.domain() as [number, number], max > 0);
  }

  /** The SVG skeleton, built once: later refreshes let d3-axis update ticks in place. */
  private axes: {
    root: Selection<SVGGElement, unknown, null, undefined>;
    x: Selection<SVGGElement, unknown, null, undefined>;
    y: Selection<SVGGElement, unknown, null, undefined>;
    yTitle: Selection<SVGTextElement, unknown, null, undefined>;
    legend: Selection<SVGGElement, unknown, null, undefined>;
    legendRect: Selection<SVGRectElement, unknown, null, undefined>;
    legendAxis: Selection<SVGGElement, unknown, null, undefined>;
    legendTitle: Selection<SVGTextElement, unknown, null, undefined>;
    gradId: string;
  } | null = null;

  private skeleton() {
    if (this.axes) return this.axes;
    const svg = select(this.svg);
    const root = svg.append('g').attr('transform', `translate(${MARGIN.left},${MARGIN.top})`);
    const gradId = `heat-gradient-${Math.random().toString(36).slice(2)}`;
    const grad = root.append('defs').append('linearGradient').attr('id', gradId).attr('x1', 0).attr('x2', 0).attr('y1', 1).attr('y2', 0);
    for (let i = 0; i <= 10; i++) grad.append('stop').attr('offset', `${i * 10}%`).attr('stop-color', colour(i / 10));
    const legend = root.append('g').attr('class', 'legend');
    this.axes = {
      root,
      x: root.append('g'),
      y: root.append('g'),
      yTitle: root.append('text').attr('class', 'axis-title').attr('text-anchor', 'middle').text('latency (bucket upper bound)'),
      legend,
      legendRect: legend.append('rect').attr('width', 12),
      legendAxis: legend.append('g').attr('transform', 'translate(12,0)'),
      legendTitle: legend.append('text').attr('class', 'axis-title').attr('x', 0).text('events/s'),
      gradId,
    };
    return this.axes;
  }

  private drawAxes(pw: number, ph: number, x: ReturnType<typeof scaleTime<number>>, rows: Bucket[], domain: [number, number], hasData: boolean): void {
    select(this.svg).attr('width', this.width).attr('height', this.height);
    const a = this.skeleton();
    a.x.attr('transform', `translate(0,${ph})`).call(
      axisBottom(x)
        .ticks(Math.max(2, Math.floor(pw / 90)))
        .tickFormat((d) => formatClock((d as Date).getTime() / 1000)),
    );
    // One tick per bucket boundary, thinned to what fits; labels are upper bounds.
    const rh = rows.length > 0 ? ph / rows.length : ph;
    const every = Math.max(1, Math.ceil(14 / Math.max(rh, 1)));
    const y = scaleLinear().domain([0, Math.max(rows.length, 1)]).range([ph, 0]);
    const ticks = rows.map((_, i) => i + 1).filter((v) => (v - 1) % every === 0);
    // Always label the top bucket; drop the thinned label just below it if the two would touch.
    if (rows.length > 0 && ticks[ticks.length - 1] !== rows.length) {
      if (rows.length - ticks[ticks.length - 1]! < every) ticks.pop();
      ticks.push(rows.length);
    }
    a.y.call(
      axisLeft(y)
        .tickValues(ticks)
        .tickFormat((v) => {
          const b = rows[(v as number) - 1];
          return b ? formatMicrosShort(b.hi) : '';
        }),
    );
    a.yTitle.attr('transform', `translate(${-54},${ph / 2}) rotate(-90)`);
    // Legend: a vertical gradient with its own log axis of events/s.
    const lh = Math.max(40, ph - 10);
    a.legend.attr('transform', `translate(${pw + 14},5)`);
    a.legendRect.attr('height', lh).attr('fill', hasData ? `url(#${a.gradId})` : '#eee');
    a.legendTitle.attr('y', lh + 14);
    if (hasData) {
      const lo = Math.log10(domain[0]);
      const hi = Math.log10(domain[1]);
      a.legendAxis.attr('display', null).call(
        axisRight(scaleLinear().domain([lo, hi]).range([lh, 0]))
          .tickValues([lo, (lo + hi) / 2, hi])
          .tickFormat((v) => formatRate(10 ** (v as number))),
      );
    } else {
      a.legendAxis.attr('display', 'none');
    }
  }

  private updateTooltip(): void {
    const m = this.mouse;
    const s = this.series;
    if (!m || !s) return;
    const { pw, ph, x } = this.plot();
    const px = m.x - MARGIN.left;
    const py = m.y - MARGIN.top;
    if (px < 0 || py < 0 || px > pw || py > ph || this.rows.length === 0) {
      this.tooltip.hidden = true;
      return;
    }
    const t = x.invert(px).getTime() / 1000;
    const row = Math.floor((ph - py) / (ph / this.rows.length));
    const b = this.rows[Math.min(row, this.rows.length - 1)]!;
    const col = s.columns.find((c) => t > c.t - c.dt && t <= c.t);
    const rate = col ? col.rates.get(b.name) ?? 0 : null;
    this.tooltip.textContent = `${col ? formatClock(col.t) : formatClock(t)} · ${bucketLabel(b)} · ${rate === null ? 'no sample' : `${formatRate(rate).replace('/s', '')} events/s`}`;
    this.tooltip.hidden = false;
    const left = Math.min(m.x + 12, this.width - 240);
    this.tooltip.style.left = `${Math.max(0, left)}px`;
    this.tooltip.style.top = `${Math.max(0, m.y - 28)}px`;
  }
}
