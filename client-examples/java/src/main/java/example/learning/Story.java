package example.learning;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.BadRequest;
import io.grpc.Context;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import io.learningservice.learning.v1.BudgetServiceGrpc;
import io.learningservice.learning.v1.EntropyServiceGrpc;
import io.learningservice.learning.v1.AdjustmentType;
import io.learningservice.learning.v1.CalculatePatternEntropyRequest;
import io.learningservice.learning.v1.CheckEntropyResponseNeededRequest;
import io.learningservice.learning.v1.CheckEntropyResponseNeededResponse;
import io.learningservice.learning.v1.EntropyResponseAction;
import io.learningservice.learning.v1.EntropyResponseRecord;
import io.learningservice.learning.v1.EntropyTriggerContext;
import io.learningservice.learning.v1.ExplorationBudgetRecord;
import io.learningservice.learning.v1.GetExplorationBudgetHistoryRequest;
import io.learningservice.learning.v1.GetExplorationBudgetStatisticsRequest;
import io.learningservice.learning.v1.GetExplorationBudgetStatisticsResponse;
import io.learningservice.learning.v1.GetLastEntropyResponseRequest;
import io.learningservice.learning.v1.GetPatternEntropyHistoryRequest;
import io.learningservice.learning.v1.ListPatternsRequest;
import io.learningservice.learning.v1.ListPatternsResponse;
import io.learningservice.learning.v1.Pattern;
import io.learningservice.learning.v1.PatternEntropyMetrics;
import io.learningservice.learning.v1.QuarantineStatus;
import io.learningservice.learning.v1.RecordPatternApplicationRequest;
import io.learningservice.learning.v1.RecordPatternApplicationResponse;
import io.learningservice.learning.v1.RecordPatternEntropyRequest;
import io.learningservice.learning.v1.RecordPatternEntropyResponse;
import io.learningservice.learning.v1.RecordPatternRequest;
import io.learningservice.learning.v1.SetPatternQuarantineStatusRequest;
import io.learningservice.learning.v1.SubscribePatternEntropyRequest;
import io.learningservice.learning.v1.SubscribePatternEntropyResponse;
import io.learningservice.learning.v1.TriggerEntropyResponseRequest;
import io.learningservice.learning.v1.UpdateExplorationBudgetRequest;
import io.learningservice.learning.v1.PatternServiceGrpc;

/**
 * The learning.v1 story against a live learning-service, every answer checked. Server address:
 * $LEARNING_SERVER (default 127.0.0.1:50051). Exits 1 with a message on the first answer that
 * differs from the contract. Exact entropy values are checked only when the server starts with
 * no patterns (run-all.sh gives each example a fresh database).
 */
public final class Story {
  private static final class CheckFailed extends RuntimeException {
    CheckFailed(String message) {
      super(message);
    }
  }

  private static void check(boolean ok, String message) {
    if (!ok) {
      throw new CheckFailed(message);
    }
  }

  private static void checkClose(double got, double want, String what) {
    check(Math.abs(got - want) <= 1e-6, what + ": got " + got + ", want " + want + " (±1e-6)");
  }

  private static void checkEq(Object got, Object want, String what) {
    check(got.equals(want), what + ": got " + got + ", want " + want);
  }

  private static void step(String name) {
    System.out.println("--- " + name);
  }

  private final PatternServiceGrpc.PatternServiceBlockingStub patterns;
  private final EntropyServiceGrpc.EntropyServiceBlockingStub entropy;
  private final BudgetServiceGrpc.BudgetServiceBlockingStub budget;
  private final String address;

  private Story(ManagedChannel channel, String address) {
    this.patterns = PatternServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    this.entropy = EntropyServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    this.budget = BudgetServiceGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    this.address = address;
  }

  public static void main(String[] args) throws InterruptedException {
    String address = System.getenv().getOrDefault("LEARNING_SERVER", "127.0.0.1:50051");
    ManagedChannel channel = ManagedChannelBuilder.forTarget(address).usePlaintext().build();
    int code = 0;
    try {
      new Story(channel, address).run();
      System.out.println("java story: all checks passed");
    } catch (CheckFailed e) {
      System.err.println("FAIL: " + e.getMessage());
      code = 1;
    } catch (StatusRuntimeException e) {
      System.err.println("FAIL: unexpected RPC error " + e.getStatus());
      code = 1;
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    System.exit(code);
  }

  private void run() {
    String run = "java-" + UUID.randomUUID().toString().substring(0, 8);
    String job = "job-" + run;
    System.out.println("server " + address + ", job_hash " + job);

    PatternEntropyMetrics before =
        entropy.withWaitForReady().withDeadlineAfter(10, TimeUnit.SECONDS).calculatePatternEntropy(CalculatePatternEntropyRequest.getDefaultInstance()).getMetrics();
    boolean fresh = before.getUniquePatternCount() == 0;
    if (!fresh) {
      System.out.println("    the server already knows " + before.getUniquePatternCount()
          + " patterns: exact entropy checks skipped");
    }

    step("a. record 3 patterns, quarantine one, record 90 + 10 applications");
    String[] names = {"dominant", "rare", "quarantined"};
    String[] ids = new String[3];
    for (int i = 0; i < 3; i++) {
      Pattern p = patterns.recordPattern(RecordPatternRequest.newBuilder()
          .setPatternType("example").setPatternName(run + "-" + names[i]).setDescription(names[i] + " pattern").build())
          .getPattern();
      check(p.getId().length() == 36, "RecordPattern " + names[i] + ": id '" + p.getId() + "' is not a UUID");
      checkEq(p.getQuarantineStatus(), QuarantineStatus.QUARANTINE_STATUS_PENDING, "RecordPattern " + names[i] + ": status");
      checkEq(p.getApplicationCount(), 0L, "RecordPattern " + names[i] + ": application_count");
      ids[i] = p.getId();
    }
    String qid = ids[2];
    Pattern q = patterns.setPatternQuarantineStatus(SetPatternQuarantineStatusRequest.newBuilder()
        .setPatternId(qid).setStatus(QuarantineStatus.QUARANTINE_STATUS_QUARANTINED).setReason("story: suspicious").build())
        .getPattern();
    checkEq(q.getQuarantineStatus(), QuarantineStatus.QUARANTINE_STATUS_QUARANTINED, "SetPatternQuarantineStatus: status");
    checkEq(q.getStoredQuarantineStatus(), "quarantined", "SetPatternQuarantineStatus: stored status");
    long[] counts = {90, 10};
    for (int p = 0; p < 2; p++) {
      RecordPatternApplicationResponse last = null;
      for (int i = 0; i < counts[p]; i++) {
        last = patterns.recordPatternApplication(RecordPatternApplicationRequest.newBuilder()
            .setPatternId(ids[p]).setExecutionId(run + "-exec-" + i).setPatternLedToSuccess(i % 4 != 0).build());
      }
      check(!last.getApplicationId().isEmpty(), "RecordPatternApplication " + names[p] + ": empty application_id");
      checkEq(last.getApplicationCount(), counts[p], "RecordPatternApplication " + names[p] + ": application_count");
    }
    System.out.printf("    patterns %s x90, %s x10, %s quarantined%n", ids[0], ids[1], qid);

    step("b. CalculatePatternEntropy");
    PatternEntropyMetrics m =
        entropy.calculatePatternEntropy(CalculatePatternEntropyRequest.getDefaultInstance()).getMetrics();
    System.out.printf("    shannon %.6f diversity %.6f effective %d unique %d total %d dominant %.6f%n",
        m.getShannonEntropy(), m.getDiversityIndex(), m.getEffectivePatternCount(), m.getUniquePatternCount(),
        m.getTotalApplications(), m.getDominantPatternShare());
    checkEq(m.getId(), "", "CalculatePatternEntropy: id of an unrecorded snapshot");
    check(m.hasCalculatedAt(), "CalculatePatternEntropy: calculated_at unset");
    check(!m.getThresholdExceeded(), "CalculatePatternEntropy: threshold_exceeded without alert_threshold");
    if (fresh) {
      checkClose(m.getShannonEntropy(), 0.468996, "shannon_entropy");
      checkClose(m.getMaxPossibleEntropy(), 1.0, "max_possible_entropy");
      checkClose(m.getDiversityIndex(), 0.468996, "diversity_index");
      checkEq(m.getEffectivePatternCount(), 2L, "effective_pattern_count");
      checkEq(m.getUniquePatternCount(), 3L, "unique_pattern_count");
      checkEq(m.getTotalApplications(), 100L, "total_applications");
      checkClose(m.getDominantPatternShare(), 0.9, "dominant_pattern_share");
    } else {
      check(m.getUniquePatternCount() >= before.getUniquePatternCount() + 3, "unique_pattern_count did not grow by 3");
      check(m.getTotalApplications() >= before.getTotalApplications() + 100, "total_applications did not grow by 100");
      check(m.getEffectivePatternCount() <= m.getUniquePatternCount(), "effective_pattern_count > unique_pattern_count");
      if (m.getMaxPossibleEntropy() > 0) {
        checkClose(m.getDiversityIndex(), m.getShannonEntropy() / m.getMaxPossibleEntropy(), "diversity = H / Hmax");
      }
    }
    double diversity = m.getDiversityIndex();

    step("c. RecordPatternEntropy, GetPatternEntropyHistory");
    RecordPatternEntropyResponse recorded =
        entropy.recordPatternEntropy(RecordPatternEntropyRequest.newBuilder().setMetrics(m).build());
    check(!recorded.getId().isEmpty(), "RecordPatternEntropy: empty id");
    checkEq(recorded.getMetrics().getId(), recorded.getId(), "RecordPatternEntropy: metrics.id");
    checkClose(recorded.getMetrics().getDiversityIndex(), diversity, "RecordPatternEntropy: stored diversity_index");
    PatternEntropyMetrics found = entropy
        .getPatternEntropyHistory(GetPatternEntropyHistoryRequest.newBuilder().setLimit(10).build())
        .getRecordsList().stream().filter(r -> r.getId().equals(recorded.getId())).findFirst()
        .orElseThrow(() -> new CheckFailed("GetPatternEntropyHistory: snapshot " + recorded.getId() + " missing"));
    checkClose(found.getDiversityIndex(), diversity, "GetPatternEntropyHistory: diversity_index");
    checkEq(found.getTotalApplications(), m.getTotalApplications(), "GetPatternEntropyHistory: total_applications");
    System.out.println("    snapshot " + recorded.getId());

    step("d. CheckEntropyResponseNeeded (threshold 0.5, cooldown 3600 s)");
    CheckEntropyResponseNeededRequest checkRequest = CheckEntropyResponseNeededRequest.newBuilder()
        .setJobHash(job).setEntropyThreshold(0.5).setCooldownSeconds(3600).build();
    CheckEntropyResponseNeededResponse need = entropy.checkEntropyResponseNeeded(checkRequest);
    System.out.printf("    needs_response %s, reason '%s'%n", need.getNeedsResponse(), need.getReason());
    check(need.hasCurrentEntropy(), "CheckEntropyResponseNeeded: current_entropy unset");
    checkClose(need.getCurrentEntropy(), diversity, "CheckEntropyResponseNeeded: current_entropy");
    check(!need.hasCooldownRemainingSeconds(), "CheckEntropyResponseNeeded: cooldown reported before any response");
    if (fresh) {
      checkEq(need.getNeedsResponse(), true, "CheckEntropyResponseNeeded: needs_response");
      checkEq(need.getReason(), "Entropy 0.469 < threshold 0.500", "CheckEntropyResponseNeeded: reason");
    } else if (need.getCurrentEntropy() < 0.5) {
      checkEq(need.getNeedsResponse(), true, "CheckEntropyResponseNeeded: needs_response");
      checkEq(need.getReason(), String.format("Entropy %.3f < threshold 0.500", need.getCurrentEntropy()),
          "CheckEntropyResponseNeeded: reason");
    } else {
      checkEq(need.getNeedsResponse(), false, "CheckEntropyResponseNeeded: needs_response");
      checkEq(need.getReason(), String.format("Entropy %.3f >= threshold 0.500 (healthy)", need.getCurrentEntropy()),
          "CheckEntropyResponseNeeded: reason");
    }

    step("e. TriggerEntropyResponse, then the quarantined pattern is pending");
    EntropyResponseRecord record = entropy.triggerEntropyResponse(TriggerEntropyResponseRequest.newBuilder()
        .setTrigger(EntropyTriggerContext.newBuilder().setJobHash(job).setEntropyAtTrigger(0.469).setThresholdUsed(0.5))
        .build()).getRecord();
    System.out.printf("    response %s: actions %s, revisited %s%n",
        record.getId(), record.getActionsTakenList(), record.getPatternsRevisitedList());
    check(record.getId().length() == 36, "TriggerEntropyResponse: id '" + record.getId() + "'");
    checkEq(record.getJobHash(), job, "TriggerEntropyResponse: job_hash");
    checkClose(record.getEntropyAtTrigger(), 0.469, "TriggerEntropyResponse: entropy_at_trigger");
    checkClose(record.getThresholdUsed(), 0.5, "TriggerEntropyResponse: threshold_used");
    checkEq(record.getActionsTakenList(), List.of(EntropyResponseAction.ENTROPY_RESPONSE_ACTION_BUDGET_BOOST,
        EntropyResponseAction.ENTROPY_RESPONSE_ACTION_QUARANTINE_REVISIT), "TriggerEntropyResponse: actions_taken");
    checkEq(record.getBudgetBoosted(), true, "TriggerEntropyResponse: budget_boosted");
    if (fresh) {
      checkEq(record.getPatternsRevisitedList(), List.of(qid), "TriggerEntropyResponse: patterns_revisited");
    } else {
      check(record.getPatternsRevisitedList().contains(qid), "TriggerEntropyResponse: " + qid + " not in patterns_revisited");
    }
    checkEq(record.getQuarantineRevisits(), record.getPatternsRevisitedCount(), "TriggerEntropyResponse: quarantine_revisits");
    Pattern revisited = null;
    String token = "";
    do {
      ListPatternsResponse page = patterns.listPatterns(ListPatternsRequest.newBuilder()
          .setStatus(QuarantineStatus.QUARANTINE_STATUS_PENDING).setLimit(1000).setPageToken(token).build());
      for (Pattern p : page.getPatternsList()) {
        if (p.getId().equals(qid)) {
          revisited = p;
        }
      }
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    check(revisited != null, "ListPatterns(PENDING): revisited pattern " + qid + " missing");
    checkEq(revisited.getQuarantineStatus(), QuarantineStatus.QUARANTINE_STATUS_PENDING, "ListPatterns: revisited pattern status");
    checkEq(revisited.getStoredQuarantineStatus(), "pending", "ListPatterns: revisited pattern stored status");
    System.out.printf("    pattern %s is %s: '%s'%n", qid, revisited.getQuarantineStatus(), revisited.getQuarantineReason());
    var last = entropy.getLastEntropyResponse(GetLastEntropyResponseRequest.newBuilder().setJobHash(job).build());
    check(last.hasResponse(), "GetLastEntropyResponse: unset");
    checkEq(last.getResponse().getId(), record.getId(), "GetLastEntropyResponse: id");

    step("f. GetExplorationBudgetHistory, GetExplorationBudgetStatistics");
    GetExplorationBudgetHistoryRequest historyRequest = GetExplorationBudgetHistoryRequest.newBuilder().setJobHash(job).build();
    List<ExplorationBudgetRecord> records = budget.getExplorationBudgetHistory(historyRequest).getRecordsList();
    checkEq(records.size(), 1, "GetExplorationBudgetHistory: number of records");
    ExplorationBudgetRecord b = records.get(0);
    System.out.printf("    budget %s %s entropy %s reason '%s'%n",
        b.getBudgetValue(), b.getAdjustmentType(), b.getEntropyAtTime(), b.getAdjustmentReason());
    checkClose(b.getBudgetValue(), 0.25, "budget_value (0.15 default + 0.10 boost)");
    checkEq(b.getAdjustmentType(), AdjustmentType.ADJUSTMENT_TYPE_BOOST, "adjustment_type");
    checkEq(b.getStoredAdjustmentType(), "boost", "stored_adjustment_type");
    checkEq(b.getJobHash(), job, "budget job_hash");
    check(b.hasEntropyAtTime(), "entropy_at_time unset");
    checkClose(b.getEntropyAtTime(), 0.469, "entropy_at_time");
    GetExplorationBudgetStatisticsResponse stats = budget.getExplorationBudgetStatistics(
        GetExplorationBudgetStatisticsRequest.newBuilder().setJobHash(job).build());
    checkEq(stats.getTotalAdjustments(), 1L, "statistics total_adjustments");
    checkEq(stats.getBoostCount(), 1L, "statistics boost_count");
    check(stats.hasCurrentBudget(), "statistics current_budget unset");
    checkClose(stats.getCurrentBudget(), 0.25, "statistics current_budget");
    checkClose(stats.getAvgBudget(), 0.25, "statistics avg_budget");

    step("g. CheckEntropyResponseNeeded again: cooldown");
    CheckEntropyResponseNeededResponse again = entropy.checkEntropyResponseNeeded(checkRequest);
    System.out.printf("    needs_response %s, reason '%s'%n", again.getNeedsResponse(), again.getReason());
    checkEq(again.getNeedsResponse(), false, "second check: needs_response");
    check(again.getReason().startsWith("Cooldown active ("), "second check: reason '" + again.getReason() + "'");
    check(again.hasCooldownRemainingSeconds(), "second check: cooldown_remaining_seconds unset");
    check(again.getCooldownRemainingSeconds() > 0 && again.getCooldownRemainingSeconds() <= 3600,
        "second check: cooldown_remaining_seconds " + again.getCooldownRemainingSeconds());

    step("h. invalid requests are INVALID_ARGUMENT and write nothing");
    expectInvalidArgument(() -> budget.updateExplorationBudget(UpdateExplorationBudgetRequest.newBuilder()
        .setJobHash(job).setBudgetValue(0.3).setAdjustmentType(AdjustmentType.ADJUSTMENT_TYPE_BOOST)
        .setFloor(0.6).setCeiling(0.4).build()), "UpdateExplorationBudget(floor 0.6 > ceiling 0.4)");
    expectInvalidArgument(() -> budget.updateExplorationBudget(UpdateExplorationBudgetRequest.newBuilder()
        .setJobHash("").setBudgetValue(0.3).setAdjustmentType(AdjustmentType.ADJUSTMENT_TYPE_BOOST).build()),
        "UpdateExplorationBudget(job_hash \"\")");
    checkEq(budget.getExplorationBudgetHistory(historyRequest).getRecordsCount(), 1,
        "budget records after the rejected updates");

    step("i. SubscribePatternEntropy: a snapshot recorded after subscribing arrives, and again on resume");
    Context.CancellableContext streamContext = Context.current().withCancellation();
    SubscribePatternEntropyResponse first;
    SubscribePatternEntropyResponse event;
    String liveId;
    try {
      Iterator<SubscribePatternEntropyResponse> stream =
          streamContext.call(() -> entropy.subscribePatternEntropy(SubscribePatternEntropyRequest.getDefaultInstance()));
      first = nextEvent(stream);
      check(first.hasCaughtUp(), "SubscribePatternEntropy: first message (backfill 0) is not caught_up: " + first);
      check(!first.getCursor().isEmpty(), "SubscribePatternEntropy: caught_up without a cursor");
      liveId = entropy.recordPatternEntropy(RecordPatternEntropyRequest.newBuilder().setMetrics(m).build()).getId();
      event = nextEvent(stream);
      check(event.hasSnapshot(), "SubscribePatternEntropy: message after RecordPatternEntropy is not a snapshot: " + event);
      checkEq(event.getSnapshot().getId(), liveId, "SubscribePatternEntropy: snapshot id");
      checkClose(event.getSnapshot().getDiversityIndex(), diversity, "SubscribePatternEntropy: snapshot diversity_index");
      check(!event.getCursor().isEmpty() && !event.getCursor().equals(first.getCursor()),
          "SubscribePatternEntropy: snapshot cursor '" + event.getCursor() + "'");
      System.out.printf("    received snapshot %s (cursor %s)%n", liveId, event.getCursor());
    } catch (CheckFailed | StatusRuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    } finally {
      streamContext.cancel(null);
    }
    Context.CancellableContext resumeContext = Context.current().withCancellation();
    try {
      String after = first.getCursor();
      Iterator<SubscribePatternEntropyResponse> resumed = resumeContext.call(() -> entropy.subscribePatternEntropy(
          SubscribePatternEntropyRequest.newBuilder().setAfterCursor(after).build()));
      SubscribePatternEntropyResponse replay = nextEvent(resumed);
      check(replay.hasSnapshot(), "resumed SubscribePatternEntropy: first message is not a snapshot: " + replay);
      checkEq(replay.getSnapshot().getId(), liveId, "resumed SubscribePatternEntropy: snapshot id");
      checkEq(replay.getCursor(), event.getCursor(), "resumed SubscribePatternEntropy: cursor");
      check(nextEvent(resumed).hasCaughtUp(), "resumed SubscribePatternEntropy: no caught_up after the snapshot");
      System.out.printf("    resumed after %s: got %s again, then caught_up%n", after, liveId);
    } catch (CheckFailed | StatusRuntimeException e) {
      throw e;
    } catch (Exception e) {
      throw new IllegalStateException(e);
    } finally {
      resumeContext.cancel(null);
    }
  }

  /** The next message of a Subscribe stream that is not a keep-alive progress message. */
  private static SubscribePatternEntropyResponse nextEvent(Iterator<SubscribePatternEntropyResponse> stream) {
    while (stream.hasNext()) {
      SubscribePatternEntropyResponse message = stream.next();
      if (!message.hasProgress()) {
        return message;
      }
    }
    throw new CheckFailed("the stream ended");
  }

  private static void expectInvalidArgument(Runnable call, String what) {
    try {
      call.run();
    } catch (StatusRuntimeException e) {
      checkEq(e.getStatus().getCode(), Status.Code.INVALID_ARGUMENT, what + ": status code");
      System.out.printf("    %s: %s: %s%n", what, e.getStatus().getCode(), e.getStatus().getDescription());
      int violations = 0;
      com.google.rpc.Status details = StatusProto.fromThrowable(e);
      for (Any any : details == null ? List.<Any>of() : details.getDetailsList()) {
        if (any.is(BadRequest.class)) {
          try {
            for (BadRequest.FieldViolation v : any.unpack(BadRequest.class).getFieldViolationsList()) {
              System.out.printf("      field violation %s: %s%n", v.getField(), v.getDescription());
              violations++;
            }
          } catch (InvalidProtocolBufferException ex) {
            throw new CheckFailed(what + ": undecodable BadRequest detail: " + ex.getMessage());
          }
        }
      }
      check(violations > 0, what + ": INVALID_ARGUMENT without google.rpc.BadRequest field violations");
      return;
    }
    throw new CheckFailed(what + ": the call succeeded, want INVALID_ARGUMENT");
  }
}
