// The diversity index over time, from SubscribePatternEntropy: the alert
// threshold as a dashed line, the snapshots below it marked with a cross.

import type { PatternEntropyMetrics } from "./gen/learning/v1/learning_pb";
import { TimeChart, drawCrosses, sortedIndex } from "./charts";
import { epochSeconds, localTime } from "./format";
import { coalesced } from "./schedule";

/** Snapshots kept in the page; older ones leave the chart. */
const MAX_SNAPSHOTS = 10_000;

const LINE = "#1f5fa8";
const ALERT = "#b3261e";

export class DiversityPanel {
  private readonly times: number[] = [];
  private readonly snapshots: PatternEntropyMetrics[] = [];
  private readonly chart: TimeChart;
  private readonly render = coalesced(() => this.draw());

  constructor(
    chartElement: HTMLElement,
    private readonly summary: HTMLElement,
    private readonly readout: HTMLElement,
    private readonly threshold: number,
  ) {
    this.chart = new TimeChart(chartElement, {
      series: [
        { label: "Diversity index", stroke: LINE, width: 2, points: { show: true, size: 5, fill: LINE } },
        { label: `Alert threshold ${threshold}`, stroke: ALERT, width: 1.5, dash: [8, 5], points: { show: false } },
        { label: "Below the threshold", stroke: ALERT, paths: () => null, points: { show: false } },
      ],
      yRange: () => [0, 1],
      yValues: (value) => value.toFixed(1),
      draw: (u) => drawCrosses(u, 3, ALERT),
      onCursor: (index) => this.showReadout(index),
    });
  }

  add(snapshot: PatternEntropyMetrics): void {
    const at = epochSeconds(snapshot.calculatedAt);
    const index = sortedIndex(this.times, at);
    this.times.splice(index, 0, at);
    this.snapshots.splice(index, 0, snapshot);
    if (this.times.length > MAX_SNAPSHOTS) {
      this.times.shift();
      this.snapshots.shift();
    }
    this.render();
  }

  private below(snapshot: PatternEntropyMetrics): boolean {
    return snapshot.diversityIndex < this.threshold;
  }

  private draw(): void {
    const values = this.snapshots.map((s) => s.diversityIndex);
    this.chart.setData([
      this.times,
      values,
      this.times.map(() => this.threshold),
      this.snapshots.map((s) => (this.below(s) ? s.diversityIndex : null)),
    ]);
    const belowCount = this.snapshots.filter((s) => this.below(s)).length;
    const latest = this.snapshots.at(-1);
    this.chart.uplot.root.setAttribute(
      "aria-label",
      `Diversity index of ${this.snapshots.length} snapshots, ${belowCount} below the threshold`,
    );
    this.summary.dataset.below = String(belowCount);
    this.summary.textContent =
      this.snapshots.length === 0
        ? "No entropy snapshots recorded yet (record them with `entropy --record`, RecordPatternEntropy or --entropy-sample-interval)."
        : `${this.snapshots.length} snapshots, ${belowCount} below the threshold ${this.threshold}. ` +
          `Latest: ${latest?.diversityIndex.toFixed(4)} at ${localTime(latest?.calculatedAt)}.`;
  }

  private showReadout(index: number | null): void {
    const snapshot = index === null ? undefined : this.snapshots[index];
    this.readout.textContent = snapshot
      ? `${localTime(snapshot.calculatedAt)}: diversity ${snapshot.diversityIndex.toFixed(4)}, ` +
        `${snapshot.effectivePatternCount}/${snapshot.uniquePatternCount} patterns, ` +
        `${snapshot.totalApplications} applications${this.below(snapshot) ? " (below the threshold)" : ""}`
      : "";
  }
}
