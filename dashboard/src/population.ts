// The pattern population: each pattern's share of all applications (largest
// first, the rest grouped), quarantined ones marked, from ListPatterns; and
// the current diversity with the CLI's `entropy` lines, from
// CalculatePatternEntropy. Neither has a stream, so the panel reloads when a
// snapshot arrives and every REFRESH_MS.

import type { Api, PageConfig } from "./api";
import { CALL_TIMEOUT_MS } from "./api";
import { entropyAdvisories } from "./advisory";
import type { StatusBoard } from "./connection";
import { percent } from "./format";
import { type Pattern, QuarantineStatus } from "./gen/learning/v1/learning_pb";
import { renderAdvisories } from "./render";
import { coalesced } from "./schedule";

/** Patterns shown one by one; the others share one row. */
const SHOWN = 8;
/** ListPatterns pages read at most (1000 patterns each). */
const MAX_PAGES = 20;
export const REFRESH_MS = 10_000;

export interface PopulationElements {
  list: HTMLElement;
  summary: HTMLElement;
  advisories: HTMLElement;
}

export class PopulationPanel {
  readonly refresh = coalesced(() => void this.load(), 500);
  private loading = false;

  constructor(
    private readonly elements: PopulationElements,
    private readonly config: PageConfig,
    private readonly api: Api,
    private readonly status: StatusBoard,
    private readonly onUnauthenticated: (message: string) => void,
  ) {}

  private async load(): Promise<void> {
    if (this.loading) {
      this.refresh();
      return;
    }
    this.loading = true;
    try {
      const patterns = await this.listAll();
      const { metrics } = await this.api.entropy.calculatePatternEntropy(
        { alertThreshold: this.config.alertThreshold },
        { timeoutMs: CALL_TIMEOUT_MS },
      );
      this.status.callSucceeded();
      this.draw(patterns);
      if (metrics) {
        renderAdvisories(this.elements.advisories, entropyAdvisories(metrics, this.config.alertThreshold));
        this.elements.summary.textContent =
          `Now: diversity ${metrics.diversityIndex.toFixed(4)} (Shannon entropy ${metrics.shannonEntropy.toFixed(4)} ` +
          `bits of at most ${metrics.maxPossibleEntropy.toFixed(4)}); ${metrics.effectivePatternCount} of ` +
          `${metrics.uniquePatternCount} known patterns applied; ${metrics.totalApplications} applications; ` +
          `dominant share ${percent(metrics.dominantPatternShare)}.`;
      }
    } catch (error) {
      this.status.callFailed(error, this.onUnauthenticated);
    } finally {
      this.loading = false;
    }
  }

  private async listAll(): Promise<Pattern[]> {
    const patterns: Pattern[] = [];
    let pageToken = "";
    for (let page = 0; page < MAX_PAGES; page++) {
      const answer = await this.api.patterns.listPatterns({ limit: 1000, pageToken }, { timeoutMs: CALL_TIMEOUT_MS });
      patterns.push(...answer.patterns);
      pageToken = answer.nextPageToken;
      if (!pageToken) break;
    }
    return patterns;
  }

  private draw(patterns: Pattern[]): void {
    const applied = patterns
      .filter((p) => p.applicationCount > 0n)
      .sort((a, b) => Number(b.applicationCount - a.applicationCount) || name(a).localeCompare(name(b)));
    const total = applied.reduce((sum, p) => sum + Number(p.applicationCount), 0);
    const rows = applied.slice(0, SHOWN).map((p) =>
      row(name(p), Number(p.applicationCount), total, quarantined(p) ? 1 : 0, 1),
    );
    const rest = applied.slice(SHOWN);
    if (rest.length > 0) {
      const count = rest.reduce((sum, p) => sum + Number(p.applicationCount), 0);
      rows.push(row(`${rest.length} other patterns`, count, total, rest.filter(quarantined).length, rest.length));
    }
    const neverApplied = patterns.length - applied.length;
    if (neverApplied > 0) {
      const item = document.createElement("li");
      item.className = "note";
      item.textContent = `${neverApplied} known pattern${neverApplied === 1 ? "" : "s"} never applied` +
        ` (${patterns.filter((p) => p.applicationCount === 0n && quarantined(p)).length} quarantined).`;
      rows.push(item);
    }
    if (patterns.length === 0) {
      const item = document.createElement("li");
      item.className = "note";
      item.textContent = "No patterns recorded yet.";
      rows.push(item);
    }
    this.elements.list.dataset.patterns = String(patterns.length);
    this.elements.list.replaceChildren(...rows);
  }
}

function name(pattern: Pattern): string {
  return `${pattern.patternType} / ${pattern.patternName}`;
}

function quarantined(pattern: Pattern): boolean {
  return pattern.quarantineStatus === QuarantineStatus.QUARANTINED;
}

/** One bar: label, share of all applications, and a quarantine mark in words. */
function row(label: string, count: number, total: number, quarantinedCount: number, of: number): HTMLLIElement {
  const share = total > 0 ? count / total : 0;
  const item = document.createElement("li");
  item.className = "pattern";
  item.dataset.share = share.toFixed(4);
  const title = document.createElement("span");
  title.className = "label";
  title.textContent = label;
  if (quarantinedCount > 0) {
    item.classList.add("quarantined");
    item.dataset.quarantined = String(quarantinedCount);
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = of === 1 ? "⊘ quarantined" : `⊘ ${quarantinedCount} quarantined`;
    title.append(" ", badge);
  }
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.setAttribute("aria-hidden", "true");
  const fill = document.createElement("span");
  fill.className = "fill";
  fill.style.width = `${(share * 100).toFixed(2)}%`;
  bar.append(fill);
  const value = document.createElement("span");
  value.className = "share";
  value.textContent = `${percent(share)} (${count})`;
  item.append(title, bar, value);
  return item;
}
