// Time charts on uPlot: sized to their container (laptop or phone), local
// time on the x axis (uPlot's default), and markers drawn as shapes rather
// than told apart by colour alone.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface ChartSpec {
  /** The y series (uPlot's x series is added here). */
  series: uPlot.Series[];
  /** Draws under the series, over the grid (a band). */
  drawUnder?: (u: uPlot) => void;
  yRange: (u: uPlot, min: number, max: number) => uPlot.Range.MinMax;
  yValues: (value: number) => string;
  /** Widens the x range to include times that are not in the data (markers). */
  xExtra?: () => number[];
  /** Draws on top of the series (markers). */
  draw?: (u: uPlot) => void;
  /** Called with the data index under the cursor, or null. */
  onCursor?: (index: number | null) => void;
}

export class TimeChart {
  private readonly plot: uPlot;
  private times: number[] = [];

  constructor(
    private readonly container: HTMLElement,
    spec: ChartSpec,
  ) {
    const empty: uPlot.AlignedData = [[], ...spec.series.map(() => [])];
    const options: uPlot.Options = {
      width: container.clientWidth || 320,
      height: heightFor(container.clientWidth || 320),
      series: [{}, ...spec.series],
      legend: { show: false },
      scales: {
        x: {
          time: true,
          // From the data itself: uPlot makes a single time a whole day.
          range: () => timeRange([...this.times, ...(spec.xExtra?.() ?? [])]),
        },
        y: { range: spec.yRange },
      },
      axes: [
        { space: 90, incrs: TIME_STEPS, values: (_u, splits, _axis, _space, step) => splits.map((at) => timeLabel(at, step)) },
        { values: (_u, splits) => splits.map(spec.yValues), size: 56 },
      ],
      hooks: {
        drawAxes: spec.drawUnder ? [spec.drawUnder] : [],
        draw: spec.draw ? [spec.draw] : [],
        setCursor: spec.onCursor ? [(u) => spec.onCursor?.(u.cursor.idx ?? null)] : [],
      },
    };
    this.plot = new uPlot(options, empty, container);
    new ResizeObserver(() => this.resize()).observe(container);
  }

  setData(data: uPlot.AlignedData): void {
    this.times = data[0] as number[];
    this.plot.setData(data);
    // The number of records drawn, for people who read numbers and for the tests.
    this.container.dataset.points = String(data[0].length);
  }

  redraw(): void {
    this.plot.redraw(false);
  }

  get uplot(): uPlot {
    return this.plot;
  }

  private resize(): void {
    const width = this.container.clientWidth;
    if (width > 0 && width !== this.plot.width) {
      this.plot.setSize({ width, height: heightFor(width) });
    }
  }
}

/** Tick steps of the time axis, in seconds: never below a second (records come in bursts). */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000];

const clockWithSeconds = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });
const day = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

/** A tick's local time, as precise as the step between ticks. */
function timeLabel(at: number, step: number): string {
  const date = new Date(at * 1000);
  if (step >= 86400) return day.format(date);
  return step >= 60 ? clock.format(date) : clockWithSeconds.format(date);
}

function heightFor(width: number): number {
  return Math.round(Math.min(320, Math.max(200, width * 0.42)));
}

/** A range over these times; a single time (or a burst within a second) gets half a minute on each side. */
function timeRange(times: number[]): uPlot.Range.MinMax {
  if (times.length === 0) {
    const now = Date.now() / 1000;
    return [now - 3600, now];
  }
  const low = Math.min(...times);
  const high = Math.max(...times);
  return high - low < 1 ? [low - 30, high + 30] : [low, high];
}

/** Fills the plot's width between two y values, with dashed edges. */
export function drawBand(u: uPlot, low: number, high: number, fill: string, edge: string): void {
  const ctx = u.ctx;
  const { left, width } = u.bbox;
  const top = u.valToPos(high, "y", true);
  const bottom = u.valToPos(low, "y", true);
  ctx.save();
  ctx.fillStyle = fill;
  ctx.fillRect(left, top, width, bottom - top);
  ctx.strokeStyle = edge;
  ctx.lineWidth = devicePixelRatio;
  ctx.setLineDash([3 * devicePixelRatio, 3 * devicePixelRatio]);
  ctx.beginPath();
  for (const y of [top, bottom]) {
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
  }
  ctx.stroke();
  ctx.restore();
}

/** Draws a cross at each non-null value of series `seriesIndex`. */
export function drawCrosses(u: uPlot, seriesIndex: number, color: string): void {
  const xs = u.data[0];
  const ys = u.data[seriesIndex];
  const ctx = u.ctx;
  const r = 5 * devicePixelRatio;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = 2 * devicePixelRatio;
  for (let i = 0; i < xs.length; i++) {
    const y = ys[i];
    if (y === null || y === undefined) continue;
    const cx = u.valToPos(xs[i], "x", true);
    const cy = u.valToPos(y, "y", true);
    ctx.beginPath();
    ctx.moveTo(cx - r, cy - r);
    ctx.lineTo(cx + r, cy + r);
    ctx.moveTo(cx + r, cy - r);
    ctx.lineTo(cx - r, cy + r);
    ctx.stroke();
  }
  ctx.restore();
}

export interface Marker {
  at: number;
  label: string;
}

/** Draws a dashed vertical line with a label at the top for each marker. */
export function drawMarkers(u: uPlot, markers: Marker[], color: string): void {
  const ctx = u.ctx;
  const top = u.bbox.top;
  const bottom = u.bbox.top + u.bbox.height;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.fillStyle = color;
  ctx.lineWidth = 1.5 * devicePixelRatio;
  ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
  ctx.font = `bold ${11 * devicePixelRatio}px system-ui, sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const marker of markers) {
    const x = u.valToPos(marker.at, "x", true);
    ctx.beginPath();
    ctx.moveTo(x, top + 14 * devicePixelRatio);
    ctx.lineTo(x, bottom);
    ctx.stroke();
    ctx.fillText(marker.label, x, top);
  }
  ctx.restore();
}

/** Inserts `value` keeping `times` ascending (uPlot needs sorted x); returns its index. */
export function sortedIndex(times: number[], value: number): number {
  let low = 0;
  let high = times.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (times[mid] <= value) low = mid + 1;
    else high = mid;
  }
  return low;
}
