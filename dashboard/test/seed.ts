// Seeds a server through gRPC (HTTP/2, the generated client over
// connect-node): patterns and applications, snapshots, two jobs' budgets
// and entropy responses.

import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { type Client, type Interceptor, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  AdjustmentType,
  BudgetService,
  EntropyService,
  PatternEntropyMetricsSchema,
  PatternService,
  QuarantineStatus,
} from "../src/gen/learning/v1/learning_pb";

export interface Grpc {
  budget: Client<typeof BudgetService>;
  entropy: Client<typeof EntropyService>;
  patterns: Client<typeof PatternService>;
}

/** A client of `address`; over TLS when `ca` (the PEM that signed the server's certificate) is given. */
export function grpc(address: string, options: { token?: string; ca?: string } = {}): Grpc {
  const bearer: Interceptor = (next) => (request) => {
    if (options.token) request.header.set("authorization", `Bearer ${options.token}`);
    return next(request);
  };
  const transport = createGrpcTransport({
    baseUrl: `${options.ca ? "https" : "http"}://${address}`,
    interceptors: [bearer],
    nodeOptions: options.ca ? { ca: options.ca } : undefined,
  });
  return {
    budget: createClient(BudgetService, transport),
    entropy: createClient(EntropyService, transport),
    patterns: createClient(PatternService, transport),
  };
}

/** Diversity of the seeded snapshots, one a minute; four are below 0.5. */
export const DIVERSITIES = [0.9, 0.85, 0.8, 0.7, 0.62, 0.55, 0.48, 0.41, 0.45, 0.38, 0.52, 0.6];

/** A snapshot as RecordPatternEntropy accepts it (consistent with itself). */
export function snapshot(diversity: number, atMs: number) {
  return create(PatternEntropyMetricsSchema, {
    calculatedAt: timestampFromMs(atMs),
    shannonEntropy: diversity * 2,
    maxPossibleEntropy: 2,
    diversityIndex: diversity,
    uniquePatternCount: 5n,
    effectivePatternCount: 4n,
    totalApplications: 12n,
    dominantPatternShare: 0.5,
    thresholdExceeded: diversity < 0.5,
  });
}

export async function recordSnapshot(api: Grpc, diversity: number, atMs = Date.now()): Promise<void> {
  await api.entropy.recordPatternEntropy({ metrics: snapshot(diversity, atMs) });
}

export async function seedSnapshots(api: Grpc): Promise<void> {
  const start = Date.now() - DIVERSITIES.length * 60_000;
  for (const [index, diversity] of DIVERSITIES.entries()) {
    await recordSnapshot(api, diversity, start + index * 60_000);
  }
}

/** Five patterns: four applied 9, 3, 2 and 1 times, the one applied twice quarantined. */
export async function seedPatterns(api: Grpc): Promise<void> {
  const patterns: [string, string, number, QuarantineStatus][] = [
    ["retry", "backoff", 9, QuarantineStatus.VALIDATED],
    ["retry", "jitter", 3, QuarantineStatus.VALIDATED],
    ["route", "fallback", 2, QuarantineStatus.QUARANTINED],
    ["cache", "warm", 1, QuarantineStatus.PENDING],
    ["route", "unused", 0, QuarantineStatus.PENDING],
  ];
  for (const [type, name, applications, status] of patterns) {
    const { pattern } = await api.patterns.recordPattern({
      patternType: type,
      patternName: name,
      quarantineStatus: status,
    });
    for (let i = 0; i < applications; i++) {
      await api.patterns.recordPatternApplication({
        patternId: pattern?.id ?? "",
        executionId: `exec-${name}-${i}`,
        patternLedToSuccess: i % 2 === 0,
      });
    }
  }
}

/**
 * job-alpha: an initial budget, a response that boosts it and revisits the
 * one quarantined pattern there is then (legacy / stale), adjustments, a
 * clamp to the ceiling, and a second response that can do nothing.
 * job-beta: three adjustments. Run before seedPatterns, whose quarantined
 * pattern must stay quarantined.
 */
export async function seedJobs(api: Grpc): Promise<void> {
  await api.patterns.recordPattern({
    patternType: "legacy",
    patternName: "stale",
    quarantineStatus: QuarantineStatus.QUARANTINED,
  });
  await api.budget.updateExplorationBudget({
    jobHash: "job-alpha",
    budgetValue: 0.15,
    adjustmentType: AdjustmentType.INITIAL,
    adjustmentReason: "Initial budget set",
  });
  const respond = (entropy: number) =>
    api.entropy.triggerEntropyResponse({
      trigger: { jobHash: "job-alpha", entropyAtTrigger: entropy, thresholdUsed: 0.3 },
    });
  await respond(0.12);
  for (const entropy of [0.41, 0.0, 0.05]) {
    await api.budget.calculateBudgetAdjustment({ jobHash: "job-alpha", currentEntropy: entropy });
  }
  await api.budget.updateExplorationBudget({
    jobHash: "job-alpha",
    budgetValue: 0.7,
    adjustmentType: AdjustmentType.BOOST,
  });
  await respond(0.08);
  for (const entropy of [0.6, 0.7, 0.2]) {
    await api.budget.calculateBudgetAdjustment({ jobHash: "job-beta", currentEntropy: entropy });
  }
}

/** How many budget records the server holds for `job` (it says, the test does not guess). */
export async function budgetCount(api: Grpc, job: string): Promise<number> {
  const { records } = await api.budget.getExplorationBudgetHistory({ jobHash: job, limit: 1000 });
  return records.length;
}

export async function snapshotCount(api: Grpc): Promise<number> {
  const { records } = await api.entropy.getPatternEntropyHistory({ limit: 1000 });
  return records.length;
}
