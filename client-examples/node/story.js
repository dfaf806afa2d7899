#!/usr/bin/env node
// The learning.v1 story against a live learning-service, every answer checked. The client is
// built at run time from ../../proto/learning/v1/learning.proto by @grpc/proto-loader.
// Server address: $LEARNING_SERVER (default 127.0.0.1:50051). Exits 1 with a message on the
// first answer that differs from the contract. Exact entropy values are checked only when the
// server starts with no patterns (run-all.sh gives each example a fresh database).
'use strict';

const path = require('node:path');
const crypto = require('node:crypto');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const ADDRESS = process.env.LEARNING_SERVER || '127.0.0.1:50051';
const PROTO_ROOT = process.env.LEARNING_PROTO_DIR || path.join(__dirname, '..', '..', 'proto');

// Field names as in the proto; int64 as Number (the counts here are small); enums by name;
// zero values filled in; proto3 `optional` presence visible as the virtual oneof `_<field>`.
const definition = protoLoader.loadSync('learning/v1/learning.proto', {
  includeDirs: [PROTO_ROOT],
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});
const learning = grpc.loadPackageDefinition(definition).learning.v1;

// google.rpc.Status and BadRequest, to read the details of an INVALID_ARGUMENT.
const rpcTypes = protobuf.Root.fromJSON({
  nested: {
    google: {
      nested: {
        rpc: {
          nested: {
            Status: {
              fields: {
                code: { type: 'int32', id: 1 },
                message: { type: 'string', id: 2 },
                details: { rule: 'repeated', type: 'Any', id: 3 },
              },
            },
            Any: { fields: { type_url: { type: 'string', id: 1 }, value: { type: 'bytes', id: 2 } } },
            BadRequest: {
              fields: { field_violations: { rule: 'repeated', type: 'FieldViolation', id: 1 } },
              nested: {
                FieldViolation: {
                  fields: { field: { type: 'string', id: 1 }, description: { type: 'string', id: 2 } },
                },
              },
            },
          },
        },
      },
    },
  },
});

class CheckFailed extends Error {}

function check(ok, message) {
  if (!ok) throw new CheckFailed(message);
}
function checkClose(got, want, what) {
  check(Math.abs(got - want) <= 1e-6, `${what}: got ${got}, want ${want} (±1e-6)`);
}
function checkEq(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  check(g === w, `${what}: got ${g}, want ${w}`);
}
function has(message, field) {
  return message[`_${field}`] === field;
}
function step(name) {
  console.log(`--- ${name}`);
}

// Promise form of a unary call, with a deadline.
function call(client, method, request, extra = {}) {
  return new Promise((resolve, reject) => {
    const options = { deadline: Date.now() + 10_000, ...extra };
    client[method](request, options, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

async function listAllPatterns(patterns, status) {
  const out = [];
  let page_token = '';
  do {
    const page = await call(patterns, 'ListPatterns', { status, limit: 1000, page_token });
    out.push(...page.patterns);
    page_token = page.next_page_token;
  } while (page_token);
  return out;
}

async function expectInvalidArgument(promise, what) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  check(err !== undefined, `${what}: the call succeeded, want INVALID_ARGUMENT`);
  check(err.code !== undefined, `${what}: ${err}`);
  checkEq(grpc.status[err.code], 'INVALID_ARGUMENT', `${what}: status code`);
  console.log(`    ${what}: ${grpc.status[err.code]}: ${err.details}`);
  let violations = 0;
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin')[0];
  if (raw) {
    const status = rpcTypes.lookupType('google.rpc.Status').decode(raw);
    for (const any of status.details) {
      if (any.type_url.endsWith('/google.rpc.BadRequest')) {
        const bad = rpcTypes.lookupType('google.rpc.BadRequest').decode(any.value);
        for (const v of bad.field_violations) {
          console.log(`      field violation ${v.field}: ${v.description}`);
          violations++;
        }
      }
    }
  }
  check(violations > 0, `${what}: INVALID_ARGUMENT without google.rpc.BadRequest field violations`);
}

async function story() {
  const credentials = grpc.credentials.createInsecure();
  const patterns = new learning.PatternService(ADDRESS, credentials);
  const entropy = new learning.EntropyService(ADDRESS, credentials);
  const budget = new learning.BudgetService(ADDRESS, credentials);
  try {
    await runStory(patterns, entropy, budget);
  } finally {
    patterns.close();
    entropy.close();
    budget.close();
  }
}

async function runStory(patterns, entropy, budget) {
  const run = `node-${crypto.randomBytes(4).toString('hex')}`;
  const job = `job-${run}`;
  console.log(`server ${ADDRESS}, job_hash ${job}`);

  const before = (await call(entropy, 'CalculatePatternEntropy', {}, { waitForReady: true })).metrics;
  const fresh = before.unique_pattern_count === 0;
  if (!fresh) {
    console.log(`    the server already knows ${before.unique_pattern_count} patterns: exact entropy checks skipped`);
  }

  step('a. record 3 patterns, quarantine one, record 90 + 10 applications');
  const ids = {};
  for (const name of ['dominant', 'rare', 'quarantined']) {
    const { pattern: p } = await call(patterns, 'RecordPattern', {
      pattern_type: 'example',
      pattern_name: `${run}-${name}`,
      description: `${name} pattern`,
    });
    check(p.id.length === 36, `RecordPattern ${name}: id ${JSON.stringify(p.id)} is not a UUID`);
    checkEq(p.quarantine_status, 'QUARANTINE_STATUS_PENDING', `RecordPattern ${name}: status`);
    checkEq(p.application_count, 0, `RecordPattern ${name}: application_count`);
    ids[name] = p.id;
  }
  const qid = ids.quarantined;
  const { pattern: q } = await call(patterns, 'SetPatternQuarantineStatus', {
    pattern_id: qid,
    status: 'QUARANTINE_STATUS_QUARANTINED',
    reason: 'story: suspicious',
  });
  checkEq(q.quarantine_status, 'QUARANTINE_STATUS_QUARANTINED', 'SetPatternQuarantineStatus: status');
  checkEq(q.stored_quarantine_status, 'quarantined', 'SetPatternQuarantineStatus: stored status');
  for (const [name, count] of [['dominant', 90], ['rare', 10]]) {
    let last;
    for (let i = 0; i < count; i++) {
      last = await call(patterns, 'RecordPatternApplication', {
        pattern_id: ids[name],
        execution_id: `${run}-exec-${i}`,
        pattern_led_to_success: i % 4 !== 0,
      });
    }
    check(last.application_id !== '', `RecordPatternApplication ${name}: empty application_id`);
    checkEq(last.application_count, count, `RecordPatternApplication ${name}: application_count`);
  }
  console.log(`    patterns ${ids.dominant} x90, ${ids.rare} x10, ${qid} quarantined`);

  step('b. CalculatePatternEntropy');
  const m = (await call(entropy, 'CalculatePatternEntropy', {})).metrics;
  console.log(
    `    shannon ${m.shannon_entropy.toFixed(6)} diversity ${m.diversity_index.toFixed(6)} ` +
      `effective ${m.effective_pattern_count} unique ${m.unique_pattern_count} total ${m.total_applications} ` +
      `dominant ${m.dominant_pattern_share.toFixed(6)}`,
  );
  checkEq(m.id, '', 'CalculatePatternEntropy: id of an unrecorded snapshot');
  check(m.calculated_at !== null, 'CalculatePatternEntropy: calculated_at unset');
  check(!m.threshold_exceeded, 'CalculatePatternEntropy: threshold_exceeded without alert_threshold');
  if (fresh) {
    checkClose(m.shannon_entropy, 0.468996, 'shannon_entropy');
    checkClose(m.max_possible_entropy, 1.0, 'max_possible_entropy');
    checkClose(m.diversity_index, 0.468996, 'diversity_index');
    checkEq(m.effective_pattern_count, 2, 'effective_pattern_count');
    checkEq(m.unique_pattern_count, 3, 'unique_pattern_count');
    checkEq(m.total_applications, 100, 'total_applications');
    checkClose(m.dominant_pattern_share, 0.9, 'dominant_pattern_share');
  } else {
    check(m.unique_pattern_count >= before.unique_pattern_count + 3, 'unique_pattern_count did not grow by 3');
    check(m.total_applications >= before.total_applications + 100, 'total_applications did not grow by 100');
    check(m.effective_pattern_count <= m.unique_pattern_count, 'effective_pattern_count > unique_pattern_count');
    if (m.max_possible_entropy > 0) {
      checkClose(m.diversity_index, m.shannon_entropy / m.max_possible_entropy, 'diversity = H / Hmax');
    }
  }
  const diversity = m.diversity_index;

  step('c. RecordPatternEntropy, GetPatternEntropyHistory');
  const recorded = await call(entropy, 'RecordPatternEntropy', { metrics: m });
  check(recorded.id !== '', 'RecordPatternEntropy: empty id');
  checkEq(recorded.metrics.id, recorded.id, 'RecordPatternEntropy: metrics.id');
  checkClose(recorded.metrics.diversity_index, diversity, 'RecordPatternEntropy: stored diversity_index');
  const history = (await call(entropy, 'GetPatternEntropyHistory', { limit: 10 })).records;
  const found = history.find((r) => r.id === recorded.id);
  check(found !== undefined, `GetPatternEntropyHistory: snapshot ${recorded.id} missing`);
  checkClose(found.diversity_index, diversity, 'GetPatternEntropyHistory: diversity_index');
  checkEq(found.total_applications, m.total_applications, 'GetPatternEntropyHistory: total_applications');
  console.log(`    snapshot ${recorded.id}`);

  step('d. CheckEntropyResponseNeeded (threshold 0.5, cooldown 3600 s)');
  const checkRequest = { job_hash: job, entropy_threshold: 0.5, cooldown_seconds: 3600 };
  const need = await call(entropy, 'CheckEntropyResponseNeeded', checkRequest);
  console.log(`    needs_response ${need.needs_response}, reason ${JSON.stringify(need.reason)}`);
  check(has(need, 'current_entropy'), 'CheckEntropyResponseNeeded: current_entropy unset');
  checkClose(need.current_entropy, diversity, 'CheckEntropyResponseNeeded: current_entropy');
  check(!has(need, 'cooldown_remaining_seconds'), 'CheckEntropyResponseNeeded: cooldown reported before any response');
  if (fresh) {
    checkEq(need.needs_response, true, 'CheckEntropyResponseNeeded: needs_response');
    checkEq(need.reason, 'Entropy 0.469 < threshold 0.500', 'CheckEntropyResponseNeeded: reason');
  } else if (need.current_entropy < 0.5) {
    checkEq(need.needs_response, true, 'CheckEntropyResponseNeeded: needs_response');
    checkEq(need.reason, `Entropy ${need.current_entropy.toFixed(3)} < threshold 0.500`, 'CheckEntropyResponseNeeded: reason');
  } else {
    checkEq(need.needs_response, false, 'CheckEntropyResponseNeeded: needs_response');
    checkEq(
      need.reason,
      `Entropy ${need.current_entropy.toFixed(3)} >= threshold 0.500 (healthy)`,
      'CheckEntropyResponseNeeded: reason',
    );
  }

  step('e. TriggerEntropyResponse, then the quarantined pattern is pending');
  const { record } = await call(entropy, 'TriggerEntropyResponse', {
    trigger: { job_hash: job, entropy_at_trigger: 0.469, threshold_used: 0.5 },
  });
  console.log(`    response ${record.id}: actions ${record.actions_taken}, revisited ${record.patterns_revisited}`);
  check(record.id.length === 36, `TriggerEntropyResponse: id ${JSON.stringify(record.id)}`);
  checkEq(record.job_hash, job, 'TriggerEntropyResponse: job_hash');
  checkClose(record.entropy_at_trigger, 0.469, 'TriggerEntropyResponse: entropy_at_trigger');
  checkClose(record.threshold_used, 0.5, 'TriggerEntropyResponse: threshold_used');
  checkEq(
    record.actions_taken,
    ['ENTROPY_RESPONSE_ACTION_BUDGET_BOOST', 'ENTROPY_RESPONSE_ACTION_QUARANTINE_REVISIT'],
    'TriggerEntropyResponse: actions_taken',
  );
  checkEq(record.budget_boosted, true, 'TriggerEntropyResponse: budget_boosted');
  if (fresh) {
    checkEq(record.patterns_revisited, [qid], 'TriggerEntropyResponse: patterns_revisited');
  } else {
    check(record.patterns_revisited.includes(qid), `TriggerEntropyResponse: ${qid} not in patterns_revisited`);
  }
  checkEq(record.quarantine_revisits, record.patterns_revisited.length, 'TriggerEntropyResponse: quarantine_revisits');
  const revisited = (await listAllPatterns(patterns, 'QUARANTINE_STATUS_PENDING')).find((p) => p.id === qid);
  check(revisited !== undefined, `ListPatterns(PENDING): revisited pattern ${qid} missing`);
  checkEq(revisited.quarantine_status, 'QUARANTINE_STATUS_PENDING', 'ListPatterns: revisited pattern status');
  checkEq(revisited.stored_quarantine_status, 'pending', 'ListPatterns: revisited pattern stored status');
  console.log(`    pattern ${qid} is ${revisited.quarantine_status}: ${JSON.stringify(revisited.quarantine_reason)}`);
  const last = await call(entropy, 'GetLastEntropyResponse', { job_hash: job });
  check(has(last, 'response'), 'GetLastEntropyResponse: unset');
  checkEq(last.response.id, record.id, 'GetLastEntropyResponse: id');

  step('f. GetExplorationBudgetHistory, GetExplorationBudgetStatistics');
  const { records } = await call(budget, 'GetExplorationBudgetHistory', { job_hash: job });
  checkEq(records.length, 1, 'GetExplorationBudgetHistory: number of records');
  const b = records[0];
  console.log(
    `    budget ${b.budget_value} ${b.adjustment_type} entropy ${b.entropy_at_time} ` +
      `reason ${JSON.stringify(b.adjustment_reason)}`,
  );
  checkClose(b.budget_value, 0.25, 'budget_value (0.15 default + 0.10 boost)');
  checkEq(b.adjustment_type, 'ADJUSTMENT_TYPE_BOOST', 'adjustment_type');
  checkEq(b.stored_adjustment_type, 'boost', 'stored_adjustment_type');
  checkEq(b.job_hash, job, 'budget job_hash');
  check(has(b, 'entropy_at_time'), 'entropy_at_time unset');
  checkClose(b.entropy_at_time, 0.469, 'entropy_at_time');
  const stats = await call(budget, 'GetExplorationBudgetStatistics', { job_hash: job });
  checkEq(stats.total_adjustments, 1, 'statistics total_adjustments');
  checkEq(stats.boost_count, 1, 'statistics boost_count');
  check(has(stats, 'current_budget'), 'statistics current_budget unset');
  checkClose(stats.current_budget, 0.25, 'statistics current_budget');
  checkClose(stats.avg_budget, 0.25, 'statistics avg_budget');

  step('g. CheckEntropyResponseNeeded again: cooldown');
  const again = await call(entropy, 'CheckEntropyResponseNeeded', checkRequest);
  console.log(`    needs_response ${again.needs_response}, reason ${JSON.stringify(again.reason)}`);
  checkEq(again.needs_response, false, 'second check: needs_response');
  check(again.reason.startsWith('Cooldown active ('), `second check: reason ${JSON.stringify(again.reason)}`);
  check(has(again, 'cooldown_remaining_seconds'), 'second check: cooldown_remaining_seconds unset');
  check(
    again.cooldown_remaining_seconds > 0 && again.cooldown_remaining_seconds <= 3600,
    `second check: cooldown_remaining_seconds ${again.cooldown_remaining_seconds}`,
  );

  step('h. invalid requests are INVALID_ARGUMENT and write nothing');
  await expectInvalidArgument(
    call(budget, 'UpdateExplorationBudget', {
      job_hash: job,
      budget_value: 0.3,
      adjustment_type: 'ADJUSTMENT_TYPE_BOOST',
      floor: 0.6,
      ceiling: 0.4,
    }),
    'UpdateExplorationBudget(floor 0.6 > ceiling 0.4)',
  );
  await expectInvalidArgument(
    call(budget, 'UpdateExplorationBudget', { job_hash: '', budget_value: 0.3, adjustment_type: 'ADJUSTMENT_TYPE_BOOST' }),
    'UpdateExplorationBudget(job_hash "")',
  );
  const after = await call(budget, 'GetExplorationBudgetHistory', { job_hash: job });
  checkEq(after.records.length, 1, 'budget records after the rejected updates');

  step('i. SubscribePatternEntropy: a snapshot recorded after subscribing arrives, and again on resume');
  const live = subscribe(entropy, {});
  let first, event, liveId;
  try {
    first = await live.next();
    checkEq(first.event, 'caught_up', 'SubscribePatternEntropy: first message (backfill 0)');
    check(first.cursor !== '', 'SubscribePatternEntropy: caught_up without a cursor');
    liveId = (await call(entropy, 'RecordPatternEntropy', { metrics: m })).id;
    event = await live.next();
    checkEq(event.event, 'snapshot', 'SubscribePatternEntropy: message after RecordPatternEntropy');
    checkEq(event.snapshot.id, liveId, 'SubscribePatternEntropy: snapshot id');
    checkClose(event.snapshot.diversity_index, diversity, 'SubscribePatternEntropy: snapshot diversity_index');
    check(event.cursor !== '' && event.cursor !== first.cursor, `SubscribePatternEntropy: snapshot cursor ${event.cursor}`);
    console.log(`    received snapshot ${liveId} (cursor ${event.cursor})`);
  } finally {
    live.cancel();
  }
  const resumed = subscribe(entropy, { after_cursor: first.cursor });
  try {
    const replay = await resumed.next();
    checkEq(replay.event, 'snapshot', 'resumed SubscribePatternEntropy: first message');
    checkEq(replay.snapshot.id, liveId, 'resumed SubscribePatternEntropy: snapshot id');
    checkEq(replay.cursor, event.cursor, 'resumed SubscribePatternEntropy: cursor');
    checkEq((await resumed.next()).event, 'caught_up', 'resumed SubscribePatternEntropy: then');
    console.log(`    resumed after ${first.cursor}: got ${liveId} again, then caught_up`);
  } finally {
    resumed.cancel();
  }
}

// A SubscribePatternEntropy stream whose next() skips keep-alive progress messages.
function subscribe(entropy, request) {
  const stream = entropy.SubscribePatternEntropy(request, { deadline: Date.now() + 30_000 });
  stream.on('error', () => {}); // errors reach next() through the iterator; CANCELLED after cancel() is expected
  const messages = stream[Symbol.asyncIterator]();
  return {
    async next() {
      for (;;) {
        const { value, done } = await messages.next();
        if (done) throw new CheckFailed('the stream ended');
        if (value.event !== 'progress') return value;
      }
    },
    cancel: () => stream.cancel(),
  };
}

story().then(
  () => console.log('node story: all checks passed'),
  (err) => {
    if (err instanceof CheckFailed) {
      console.error(`FAIL: ${err.message}`);
    } else if (err && err.code !== undefined && grpc.status[err.code]) {
      console.error(`FAIL: unexpected RPC error ${grpc.status[err.code]}: ${err.details}`);
    } else {
      console.error('FAIL:', err);
    }
    process.exitCode = 1;
  },
);
