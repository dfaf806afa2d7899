// The advisory lines the CLI prints, with the same thresholds and the same
// sentences (src/cli/budget.rs, entropy.rs, responses.rs), so an operator
// reads the same verdict on the page and in the terminal.

import type {
  GetEntropyResponseStatisticsResponse,
  GetExplorationBudgetStatisticsResponse,
  PatternEntropyMetrics,
} from "./gen/learning/v1/learning_pb";
import { percent } from "./format";

export type Level = "ok" | "info" | "note" | "warning";

export interface Advisory {
  level: Level;
  message: string;
}

/** Floor enforcements above this share of all adjustments get a warning. */
const FLOOR_WARNING_SHARE = 0.3;
/** A pattern holding more than this share of applications gets a warning. */
const DOMINANT_WARNING_SHARE = 0.5;
/** More responses than this get a warning. */
const MANY_RESPONSES = 10n;
/** A budget at or below this is Low, at or above HIGH_BUDGET High. */
const LOW_BUDGET = 0.1;
const HIGH_BUDGET = 0.3;

/** `learning-service budget`: one line from the statistics; none without records. */
export function budgetAdvisory(stats: GetExplorationBudgetStatisticsResponse): Advisory | undefined {
  if (stats.totalAdjustments <= 0n) {
    return undefined;
  }
  const share = Number(stats.floorEnforcements) / Number(stats.totalAdjustments);
  if (share > FLOOR_WARNING_SHARE) {
    return {
      level: "warning",
      message: `${percent(share)} of adjustments hit the floor: entropy may be persistently low`,
    };
  }
  if (stats.boostCount > 2n * stats.decayCount) {
    return {
      level: "info",
      message: `${stats.boostCount} boosts against ${stats.decayCount} decays: pattern diversity is often low`,
    };
  }
  return { level: "ok", message: "budget adjusting normally" };
}

/** `learning-service entropy --threshold T`: the lines under the current snapshot. */
export function entropyAdvisories(metrics: PatternEntropyMetrics, threshold: number): Advisory[] {
  if (metrics.totalApplications === 0n) {
    return [{ level: "note", message: "no pattern applications yet, nothing to measure" }];
  }
  const lines: Advisory[] = [];
  if (metrics.diversityIndex < threshold) {
    lines.push({
      level: "warning",
      message: `diversity ${metrics.diversityIndex.toFixed(4)} is below the threshold ${threshold}: pattern selection is converging`,
    });
  }
  if (metrics.dominantPatternShare > DOMINANT_WARNING_SHARE) {
    lines.push({
      level: "warning",
      message: `one pattern has ${percent(metrics.dominantPatternShare)} of all applications`,
    });
  }
  return lines;
}

/** `learning-service responses`: a warning when responses keep coming. */
export function responsesAdvisory(stats: GetEntropyResponseStatisticsResponse): Advisory | undefined {
  if (stats.totalResponses > MANY_RESPONSES) {
    return {
      level: "warning",
      message: `${stats.totalResponses} responses: diversity keeps falling below the threshold`,
    };
  }
  return undefined;
}

/** Low, Normal or High, as the CLI labels a budget. */
export function budgetLevel(budget: number): string {
  if (budget <= LOW_BUDGET) {
    return "Low";
  }
  return budget >= HIGH_BUDGET ? "High" : "Normal";
}
