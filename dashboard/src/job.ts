// One job: its budget over time with the floor and ceiling as a band, its
// entropy responses as markers, both from their streams (filtered by job),
// and the statistics and advisory lines of `budget --job` and `responses --job`.

import type { Api, PageConfig } from "./api";
import { CALL_TIMEOUT_MS } from "./api";
import { type Advisory, budgetAdvisory, budgetLevel, responsesAdvisory } from "./advisory";
import { TimeChart, drawBand, drawMarkers, sortedIndex } from "./charts";
import type { StatusBoard } from "./connection";
import { type Follower, follow } from "./follow";
import { epochSeconds, fixed, localTime, percent } from "./format";
import {
  EntropyResponseAction,
  type EntropyResponseRecord,
  type ExplorationBudgetRecord,
} from "./gen/learning/v1/learning_pb";
import { renderAdvisories, renderFacts } from "./render";
import { coalesced } from "./schedule";

/** Records each stream sends first: the most the server allows. */
const BACKFILL = 1000;
/** Responses listed under the chart, newest first. */
const LISTED_RESPONSES = 50;

const LINE = "#1f5fa8";
const BAND = "rgba(110, 110, 110, 0.16)";
const EDGE = "#6e6e6e";
const RESPONSE = "#8a4b00";

/** The request of WatchExplorationBudget and of WatchEntropyResponses. */
interface JobStreamRequest {
  jobHash: string;
  backfill?: number;
  afterCursor: string;
}

/** A message of either stream: a record, or a marker. */
interface RecordMessage<R> {
  cursor: string;
  event: { case: "record"; value: R } | { case: "caughtUp" | "progress" | undefined; value?: unknown };
}

export interface JobElements {
  chart: HTMLElement;
  readout: HTMLElement;
  advisories: HTMLElement;
  current: HTMLElement;
  budgetStats: HTMLElement;
  responseStats: HTMLElement;
  responses: HTMLElement;
}

export class JobPanel {
  private job: string | undefined;
  private times: number[] = [];
  private records: ExplorationBudgetRecord[] = [];
  private responses: EntropyResponseRecord[] = [];
  private followers: Follower[] = [];
  private readonly chart: TimeChart;
  private readonly render = coalesced(() => this.draw());
  private readonly refreshStatistics = coalesced(() => void this.loadStatistics(), 250);

  constructor(
    private readonly elements: JobElements,
    config: PageConfig,
    private readonly api: Api,
    private readonly status: StatusBoard,
    private readonly onUnauthenticated: (message: string) => void,
    /** A response may have sent quarantined patterns back to pending. */
    private readonly onResponse: () => void,
  ) {
    this.chart = new TimeChart(elements.chart, {
      series: [{ label: "Budget", stroke: LINE, width: 2, points: { show: true, size: 6, fill: LINE } }],
      // Across the whole width, so that it shows around a single record too.
      drawUnder: (u) => drawBand(u, config.budgetFloor, config.budgetCeiling, BAND, EDGE),
      yRange: (_u, _min, max) => [0, Math.max(config.budgetCeiling, max ?? 0) + 0.05],
      yValues: (value) => `${Math.round(value * 100)}%`,
      xExtra: () => this.responses.map((r) => epochSeconds(r.recordedAt)),
      draw: (u) =>
        drawMarkers(
          u,
          this.responses.map((r) => ({ at: epochSeconds(r.recordedAt), label: markerLabel(r) })),
          RESPONSE,
        ),
      onCursor: (index) => this.showReadout(index),
    });
  }

  /** Follows `job` (and stops following the previous one). */
  show(job: string): void {
    this.stop();
    this.job = job;
    this.times = [];
    this.records = [];
    this.responses = [];
    for (const stale of [this.elements.budgetStats, this.elements.responseStats, this.elements.advisories]) {
      stale.replaceChildren();
    }
    this.draw();
    this.followers.push(
      this.followJob<ExplorationBudgetRecord>(
        "budget",
        `budget of ${job}`,
        job,
        (request, signal) => this.api.budget.watchExplorationBudget(request, { signal }),
        (record) => this.addRecord(record),
      ),
      this.followJob<EntropyResponseRecord>(
        "responses",
        `entropy responses of ${job}`,
        job,
        (request, signal) => this.api.entropy.watchEntropyResponses(request, { signal }),
        (record) => this.addResponse(record),
      ),
    );
  }

  /** One of the job's two streams: the last BACKFILL records first, then after the cursor. */
  private followJob<R>(
    key: string,
    label: string,
    job: string,
    open: (request: JobStreamRequest, signal: AbortSignal) => AsyncIterable<RecordMessage<R>>,
    onRecord: (record: R) => void,
  ): Follower {
    return follow({
      open: (afterCursor, signal) =>
        open({ jobHash: job, backfill: afterCursor ? undefined : BACKFILL, afterCursor }, signal),
      record: (message) => (message.event.case === "record" ? message.event.value : undefined),
      onRecord,
      onCaughtUp: () => this.refreshStatistics(),
      onState: (state) => this.status.set(key, label, state),
      onUnauthenticated: this.onUnauthenticated,
    });
  }

  stop(): void {
    for (const follower of this.followers) follower.stop();
    this.followers = [];
  }

  private addRecord(record: ExplorationBudgetRecord): void {
    const at = epochSeconds(record.recordedAt);
    const index = sortedIndex(this.times, at);
    this.times.splice(index, 0, at);
    this.records.splice(index, 0, record);
    this.render();
    this.refreshStatistics();
  }

  private addResponse(record: EntropyResponseRecord): void {
    const at = epochSeconds(record.recordedAt);
    const index = sortedIndex(
      this.responses.map((r) => epochSeconds(r.recordedAt)),
      at,
    );
    this.responses.splice(index, 0, record);
    this.render();
    this.refreshStatistics();
    this.onResponse();
  }

  private draw(): void {
    this.chart.setData([this.times, this.records.map((r) => r.budgetValue)]);
    this.chart.uplot.root.setAttribute(
      "aria-label",
      `Budget of ${this.job ?? "no job"}: ${this.records.length} records, ${this.responses.length} entropy responses`,
    );
    this.drawResponses();
    this.drawCurrent();
  }

  private drawCurrent(): void {
    const latest = this.records.at(-1);
    renderFacts(
      this.elements.current,
      latest
        ? [
            ["Current", `${percent(latest.budgetValue)} (${budgetLevel(latest.budgetValue)})`],
            ["Entropy", fixed(latest.entropyAtTime, 3)],
            ["Last type", latest.storedAdjustmentType],
            ["Reason", latest.adjustmentReason ?? "-"],
            ["Recorded", localTime(latest.recordedAt)],
          ]
        : [["Current", `no exploration budget recorded for ${this.job ?? "-"}`]],
    );
  }

  private drawResponses(): void {
    const list = this.elements.responses;
    list.dataset.count = String(this.responses.length);
    list.replaceChildren(
      ...this.responses
        .slice(-LISTED_RESPONSES)
        .reverse()
        .map((r) => {
          const item = document.createElement("li");
          const revisited = r.patternsRevisited.length > 0 ? ` (${r.patternsRevisited.join(", ")})` : "";
          item.textContent =
            `${markerLabel(r)} ${localTime(r.recordedAt)}: entropy ${r.entropyAtTrigger.toFixed(3)} ` +
            `below ${r.thresholdUsed.toFixed(3)}; actions: ${actionNames(r)}; ` +
            `budget boosted: ${r.budgetBoosted ? "yes" : "no"}; revisited: ${r.quarantineRevisits}${revisited}`;
          return item;
        }),
    );
    if (this.responses.length === 0) {
      const item = document.createElement("li");
      item.className = "empty";
      item.textContent = "No entropy responses for this job.";
      list.replaceChildren(item);
    }
  }

  private async loadStatistics(): Promise<void> {
    const job = this.job;
    if (job === undefined) return;
    try {
      const [budget, responses] = await Promise.all([
        this.api.budget.getExplorationBudgetStatistics({ jobHash: job }, { timeoutMs: CALL_TIMEOUT_MS }),
        this.api.entropy.getEntropyResponseStatistics({ jobHash: job }, { timeoutMs: CALL_TIMEOUT_MS }),
      ]);
      if (job !== this.job) return;
      renderFacts(this.elements.budgetStats, [
        ["Records", String(budget.totalAdjustments)],
        ["Average", percent(budget.avgBudget)],
        ["Range", `${percent(budget.minBudget)} - ${percent(budget.maxBudget)}`],
        ["Boosts", String(budget.boostCount)],
        ["Decays", String(budget.decayCount)],
        ["Floor enforced", String(budget.floorEnforcements)],
        ["Ceiling enforced", String(budget.ceilingEnforcements)],
        ["Initial", String(budget.initialCount)],
      ]);
      renderFacts(this.elements.responseStats, [
        ["Responses", String(responses.totalResponses)],
        ["Avg entropy at trigger", responses.avgEntropyAtTrigger.toFixed(3)],
        ["Budget boosts", String(responses.budgetBoosts)],
        ["Patterns revisited", String(responses.quarantineRevisits)],
        ["Last response", localTime(responses.lastResponse)],
      ]);
      const lines: Advisory[] = [];
      const budgetLine = budgetAdvisory(budget);
      if (budgetLine) lines.push(budgetLine);
      const responsesLine = responsesAdvisory(responses);
      if (responsesLine) lines.push(responsesLine);
      renderAdvisories(this.elements.advisories, lines);
    } catch (error) {
      this.status.callFailed(error, this.onUnauthenticated);
    }
  }

  private showReadout(index: number | null): void {
    const record = index === null ? undefined : this.records[index];
    this.elements.readout.textContent = record
      ? `${localTime(record.recordedAt)}: budget ${percent(record.budgetValue)} (${record.storedAdjustmentType})` +
        (record.adjustmentReason ? `, ${record.adjustmentReason}` : "")
      : "";
  }
}

/** B for a budget boost, R for a quarantine revisit: the marker's label on the chart. */
function markerLabel(record: EntropyResponseRecord): string {
  const letters = record.actionsTaken.map((action) =>
    action === EntropyResponseAction.BUDGET_BOOST ? "B" : action === EntropyResponseAction.QUARANTINE_REVISIT ? "R" : "?",
  );
  return letters.length > 0 ? letters.join("+") : "–";
}

/** `budget_boost, quarantine_revisit`, as the CLI names the actions. */
function actionNames(record: EntropyResponseRecord): string {
  if (record.actionsTaken.length === 0) return "none";
  return record.actionsTaken
    .map((action) => (EntropyResponseAction[action] ?? `unknown(${action})`).toLowerCase())
    .join(", ");
}
