// Command story runs the learning.v1 story against a live learning-service and checks every
// answer. Server address: $LEARNING_SERVER (default 127.0.0.1:50051). Exits 1 with a message on
// the first answer that differs from the contract. Exact entropy values are checked only when
// the server starts with no patterns (run-all.sh gives each example a fresh database).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	learningv1 "learningservice.example/client-examples/go/gen/learning/v1"
)

// checkError is a mismatch between an answer and the contract.
type checkError struct{ msg string }

func (e checkError) Error() string { return e.msg }

func fail(format string, args ...any) { panic(checkError{fmt.Sprintf(format, args...)}) }

func check(ok bool, format string, args ...any) {
	if !ok {
		fail(format, args...)
	}
}

func checkClose(got, want float64, what string) {
	check(math.Abs(got-want) <= 1e-6, "%s: got %v, want %v (±1e-6)", what, got, want)
}

func checkEq[T comparable](got, want T, what string) {
	check(got == want, "%s: got %v, want %v", what, got, want)
}

// must stops the story on an unexpected RPC error.
func must[T any](v T, err error) T {
	if err != nil {
		st := status.Convert(err)
		fail("unexpected RPC error %s: %s", st.Code(), st.Message())
	}
	return v
}

func step(name string) { fmt.Println("---", name) }

func main() {
	addr := os.Getenv("LEARNING_SERVER")
	if addr == "" {
		addr = "127.0.0.1:50051"
	}
	err := run(addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("go story: all checks passed")
}

func run(addr string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			ce, ok := r.(checkError)
			if !ok {
				panic(r)
			}
			err = ce
		}
	}()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	story(conn, addr)
	return nil
}

func story(conn *grpc.ClientConn, addr string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	patterns := learningv1.NewPatternServiceClient(conn)
	entropy := learningv1.NewEntropyServiceClient(conn)
	budget := learningv1.NewBudgetServiceClient(conn)

	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	run := "go-" + hex.EncodeToString(suffix)
	job := "job-" + run
	fmt.Printf("server %s, job_hash %s\n", addr, job)

	readyCtx, readyCancel := context.WithTimeout(ctx, 10*time.Second)
	defer readyCancel()
	before := must(entropy.CalculatePatternEntropy(readyCtx, &learningv1.CalculatePatternEntropyRequest{}, grpc.WaitForReady(true))).GetMetrics()
	fresh := before.GetUniquePatternCount() == 0
	if !fresh {
		fmt.Printf("    the server already knows %d patterns: exact entropy checks skipped\n", before.GetUniquePatternCount())
	}

	step("a. record 3 patterns, quarantine one, record 90 + 10 applications")
	ids := map[string]string{}
	for _, name := range []string{"dominant", "rare", "quarantined"} {
		p := must(patterns.RecordPattern(ctx, &learningv1.RecordPatternRequest{
			PatternType: "example", PatternName: run + "-" + name, Description: proto.String(name + " pattern"),
		})).GetPattern()
		check(len(p.GetId()) == 36, "RecordPattern %s: id %q is not a UUID", name, p.GetId())
		checkEq(p.GetQuarantineStatus(), learningv1.QuarantineStatus_QUARANTINE_STATUS_PENDING, "RecordPattern "+name+": status")
		checkEq(p.GetApplicationCount(), 0, "RecordPattern "+name+": application_count")
		ids[name] = p.GetId()
	}
	q := must(patterns.SetPatternQuarantineStatus(ctx, &learningv1.SetPatternQuarantineStatusRequest{
		PatternId: ids["quarantined"], Status: learningv1.QuarantineStatus_QUARANTINE_STATUS_QUARANTINED, Reason: proto.String("story: suspicious"),
	})).GetPattern()
	checkEq(q.GetQuarantineStatus(), learningv1.QuarantineStatus_QUARANTINE_STATUS_QUARANTINED, "SetPatternQuarantineStatus: status")
	checkEq(q.GetStoredQuarantineStatus(), "quarantined", "SetPatternQuarantineStatus: stored status")
	for _, pc := range []struct {
		name  string
		count int64
	}{{"dominant", 90}, {"rare", 10}} {
		var last *learningv1.RecordPatternApplicationResponse
		for i := range pc.count {
			last = must(patterns.RecordPatternApplication(ctx, &learningv1.RecordPatternApplicationRequest{
				PatternId: ids[pc.name], ExecutionId: fmt.Sprintf("%s-exec-%d", run, i), PatternLedToSuccess: i%4 != 0,
			}))
		}
		check(last.GetApplicationId() != "", "RecordPatternApplication %s: empty application_id", pc.name)
		checkEq(last.GetApplicationCount(), pc.count, "RecordPatternApplication "+pc.name+": application_count")
	}
	fmt.Printf("    patterns %s x90, %s x10, %s quarantined\n", ids["dominant"], ids["rare"], ids["quarantined"])

	step("b. CalculatePatternEntropy")
	m := must(entropy.CalculatePatternEntropy(ctx, &learningv1.CalculatePatternEntropyRequest{})).GetMetrics()
	fmt.Printf("    shannon %.6f diversity %.6f effective %d unique %d total %d dominant %.6f\n",
		m.GetShannonEntropy(), m.GetDiversityIndex(), m.GetEffectivePatternCount(), m.GetUniquePatternCount(),
		m.GetTotalApplications(), m.GetDominantPatternShare())
	checkEq(m.GetId(), "", "CalculatePatternEntropy: id of an unrecorded snapshot")
	check(m.GetCalculatedAt() != nil, "CalculatePatternEntropy: calculated_at unset")
	check(!m.GetThresholdExceeded(), "CalculatePatternEntropy: threshold_exceeded without alert_threshold")
	if fresh {
		checkClose(m.GetShannonEntropy(), 0.468996, "shannon_entropy")
		checkClose(m.GetMaxPossibleEntropy(), 1.0, "max_possible_entropy")
		checkClose(m.GetDiversityIndex(), 0.468996, "diversity_index")
		checkEq(m.GetEffectivePatternCount(), 2, "effective_pattern_count")
		checkEq(m.GetUniquePatternCount(), 3, "unique_pattern_count")
		checkEq(m.GetTotalApplications(), 100, "total_applications")
		checkClose(m.GetDominantPatternShare(), 0.9, "dominant_pattern_share")
	} else {
		check(m.GetUniquePatternCount() >= before.GetUniquePatternCount()+3, "unique_pattern_count did not grow by 3")
		check(m.GetTotalApplications() >= before.GetTotalApplications()+100, "total_applications did not grow by 100")
		check(m.GetEffectivePatternCount() <= m.GetUniquePatternCount(), "effective_pattern_count > unique_pattern_count")
		if m.GetMaxPossibleEntropy() > 0 {
			checkClose(m.GetDiversityIndex(), m.GetShannonEntropy()/m.GetMaxPossibleEntropy(), "diversity = H / Hmax")
		}
	}
	diversity := m.GetDiversityIndex()

	step("c. RecordPatternEntropy, GetPatternEntropyHistory")
	recorded := must(entropy.RecordPatternEntropy(ctx, &learningv1.RecordPatternEntropyRequest{Metrics: m}))
	check(recorded.GetId() != "", "RecordPatternEntropy: empty id")
	checkEq(recorded.GetMetrics().GetId(), recorded.GetId(), "RecordPatternEntropy: metrics.id")
	checkClose(recorded.GetMetrics().GetDiversityIndex(), diversity, "RecordPatternEntropy: stored diversity_index")
	history := must(entropy.GetPatternEntropyHistory(ctx, &learningv1.GetPatternEntropyHistoryRequest{Limit: 10})).GetRecords()
	i := slices.IndexFunc(history, func(r *learningv1.PatternEntropyMetrics) bool { return r.GetId() == recorded.GetId() })
	check(i >= 0, "GetPatternEntropyHistory: snapshot %s missing", recorded.GetId())
	checkClose(history[i].GetDiversityIndex(), diversity, "GetPatternEntropyHistory: diversity_index")
	checkEq(history[i].GetTotalApplications(), m.GetTotalApplications(), "GetPatternEntropyHistory: total_applications")
	fmt.Printf("    snapshot %s\n", recorded.GetId())

	step("d. CheckEntropyResponseNeeded (threshold 0.5, cooldown 3600 s)")
	checkReq := &learningv1.CheckEntropyResponseNeededRequest{JobHash: job, EntropyThreshold: proto.Float64(0.5), CooldownSeconds: proto.Int64(3600)}
	need := must(entropy.CheckEntropyResponseNeeded(ctx, checkReq))
	fmt.Printf("    needs_response %v, reason %q\n", need.GetNeedsResponse(), need.GetReason())
	check(need.CurrentEntropy != nil, "CheckEntropyResponseNeeded: current_entropy unset")
	checkClose(need.GetCurrentEntropy(), diversity, "CheckEntropyResponseNeeded: current_entropy")
	check(need.CooldownRemainingSeconds == nil, "CheckEntropyResponseNeeded: cooldown reported before any response")
	switch {
	case fresh:
		checkEq(need.GetNeedsResponse(), true, "CheckEntropyResponseNeeded: needs_response")
		checkEq(need.GetReason(), "Entropy 0.469 < threshold 0.500", "CheckEntropyResponseNeeded: reason")
	case need.GetCurrentEntropy() < 0.5:
		checkEq(need.GetNeedsResponse(), true, "CheckEntropyResponseNeeded: needs_response")
		checkEq(need.GetReason(), fmt.Sprintf("Entropy %.3f < threshold 0.500", need.GetCurrentEntropy()), "CheckEntropyResponseNeeded: reason")
	default:
		checkEq(need.GetNeedsResponse(), false, "CheckEntropyResponseNeeded: needs_response")
		checkEq(need.GetReason(), fmt.Sprintf("Entropy %.3f >= threshold 0.500 (healthy)", need.GetCurrentEntropy()), "CheckEntropyResponseNeeded: reason")
	}

	step("e. TriggerEntropyResponse, then the quarantined pattern is pending")
	record := must(entropy.TriggerEntropyResponse(ctx, &learningv1.TriggerEntropyResponseRequest{
		Trigger: &learningv1.EntropyTriggerContext{JobHash: job, EntropyAtTrigger: 0.469, ThresholdUsed: 0.5},
	})).GetRecord()
	fmt.Printf("    response %s: actions %v, revisited %v\n", record.GetId(), record.GetActionsTaken(), record.GetPatternsRevisited())
	check(len(record.GetId()) == 36, "TriggerEntropyResponse: id %q", record.GetId())
	checkEq(record.GetJobHash(), job, "TriggerEntropyResponse: job_hash")
	checkClose(record.GetEntropyAtTrigger(), 0.469, "TriggerEntropyResponse: entropy_at_trigger")
	checkClose(record.GetThresholdUsed(), 0.5, "TriggerEntropyResponse: threshold_used")
	wantActions := []learningv1.EntropyResponseAction{
		learningv1.EntropyResponseAction_ENTROPY_RESPONSE_ACTION_BUDGET_BOOST,
		learningv1.EntropyResponseAction_ENTROPY_RESPONSE_ACTION_QUARANTINE_REVISIT,
	}
	check(slices.Equal(record.GetActionsTaken(), wantActions), "TriggerEntropyResponse: actions_taken %v, want %v", record.GetActionsTaken(), wantActions)
	checkEq(record.GetBudgetBoosted(), true, "TriggerEntropyResponse: budget_boosted")
	qid := ids["quarantined"]
	if fresh {
		check(slices.Equal(record.GetPatternsRevisited(), []string{qid}), "TriggerEntropyResponse: patterns_revisited %v, want [%s]", record.GetPatternsRevisited(), qid)
	} else {
		check(slices.Contains(record.GetPatternsRevisited(), qid), "TriggerEntropyResponse: %s not in patterns_revisited", qid)
	}
	checkEq(int(record.GetQuarantineRevisits()), len(record.GetPatternsRevisited()), "TriggerEntropyResponse: quarantine_revisits")
	var revisited *learningv1.Pattern
	pending := learningv1.QuarantineStatus_QUARANTINE_STATUS_PENDING
	for token := ""; ; {
		page := must(patterns.ListPatterns(ctx, &learningv1.ListPatternsRequest{Status: &pending, Limit: 1000, PageToken: token}))
		for _, p := range page.GetPatterns() {
			if p.GetId() == qid {
				revisited = p
			}
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	check(revisited != nil, "ListPatterns(PENDING): revisited pattern %s missing", qid)
	checkEq(revisited.GetQuarantineStatus(), pending, "ListPatterns: revisited pattern status")
	checkEq(revisited.GetStoredQuarantineStatus(), "pending", "ListPatterns: revisited pattern stored status")
	fmt.Printf("    pattern %s is %s: %q\n", qid, revisited.GetQuarantineStatus(), revisited.GetQuarantineReason())
	last := must(entropy.GetLastEntropyResponse(ctx, &learningv1.GetLastEntropyResponseRequest{JobHash: proto.String(job)}))
	check(last.Response != nil, "GetLastEntropyResponse: unset")
	checkEq(last.GetResponse().GetId(), record.GetId(), "GetLastEntropyResponse: id")

	step("f. GetExplorationBudgetHistory, GetExplorationBudgetStatistics")
	records := must(budget.GetExplorationBudgetHistory(ctx, &learningv1.GetExplorationBudgetHistoryRequest{JobHash: proto.String(job)})).GetRecords()
	checkEq(len(records), 1, "GetExplorationBudgetHistory: number of records")
	b := records[0]
	fmt.Printf("    budget %v %s entropy %v reason %q\n", b.GetBudgetValue(), b.GetAdjustmentType(), b.GetEntropyAtTime(), b.GetAdjustmentReason())
	checkClose(b.GetBudgetValue(), 0.25, "budget_value (0.15 default + 0.10 boost)")
	checkEq(b.GetAdjustmentType(), learningv1.AdjustmentType_ADJUSTMENT_TYPE_BOOST, "adjustment_type")
	checkEq(b.GetStoredAdjustmentType(), "boost", "stored_adjustment_type")
	checkEq(b.GetJobHash(), job, "budget job_hash")
	check(b.EntropyAtTime != nil, "entropy_at_time unset")
	checkClose(b.GetEntropyAtTime(), 0.469, "entropy_at_time")
	stats := must(budget.GetExplorationBudgetStatistics(ctx, &learningv1.GetExplorationBudgetStatisticsRequest{JobHash: proto.String(job)}))
	checkEq(stats.GetTotalAdjustments(), 1, "statistics total_adjustments")
	checkEq(stats.GetBoostCount(), 1, "statistics boost_count")
	check(stats.CurrentBudget != nil, "statistics current_budget unset")
	checkClose(stats.GetCurrentBudget(), 0.25, "statistics current_budget")
	checkClose(stats.GetAvgBudget(), 0.25, "statistics avg_budget")

	step("g. CheckEntropyResponseNeeded again: cooldown")
	again := must(entropy.CheckEntropyResponseNeeded(ctx, checkReq))
	fmt.Printf("    needs_response %v, reason %q\n", again.GetNeedsResponse(), again.GetReason())
	checkEq(again.GetNeedsResponse(), false, "second check: needs_response")
	check(strings.HasPrefix(again.GetReason(), "Cooldown active ("), "second check: reason %q", again.GetReason())
	check(again.CooldownRemainingSeconds != nil, "second check: cooldown_remaining_seconds unset")
	check(again.GetCooldownRemainingSeconds() > 0 && again.GetCooldownRemainingSeconds() <= 3600,
		"second check: cooldown_remaining_seconds %v", again.GetCooldownRemainingSeconds())

	step("h. invalid requests are INVALID_ARGUMENT and write nothing")
	boost := learningv1.AdjustmentType_ADJUSTMENT_TYPE_BOOST
	_, err := budget.UpdateExplorationBudget(ctx, &learningv1.UpdateExplorationBudgetRequest{
		JobHash: job, BudgetValue: 0.3, AdjustmentType: boost, Floor: proto.Float64(0.6), Ceiling: proto.Float64(0.4),
	})
	expectInvalidArgument(err, "UpdateExplorationBudget(floor 0.6 > ceiling 0.4)")
	_, err = budget.UpdateExplorationBudget(ctx, &learningv1.UpdateExplorationBudgetRequest{JobHash: "", BudgetValue: 0.3, AdjustmentType: boost})
	expectInvalidArgument(err, `UpdateExplorationBudget(job_hash "")`)
	after := must(budget.GetExplorationBudgetHistory(ctx, &learningv1.GetExplorationBudgetHistoryRequest{JobHash: proto.String(job)}))
	checkEq(len(after.GetRecords()), 1, "budget records after the rejected updates")

	step("i. SubscribePatternEntropy: a snapshot recorded after subscribing arrives, and again on resume")
	streamCtx, stopStream := context.WithCancel(ctx)
	defer stopStream()
	stream := must(entropy.SubscribePatternEntropy(streamCtx, &learningv1.SubscribePatternEntropyRequest{}))
	first := nextEvent(stream)
	check(first.GetCaughtUp() != nil, "SubscribePatternEntropy: first message (backfill 0) is not caught_up: %v", first)
	check(first.GetCursor() != "", "SubscribePatternEntropy: caught_up without a cursor")
	live := must(entropy.RecordPatternEntropy(ctx, &learningv1.RecordPatternEntropyRequest{Metrics: m}))
	event := nextEvent(stream)
	check(event.GetSnapshot() != nil, "SubscribePatternEntropy: message after RecordPatternEntropy is not a snapshot: %v", event)
	checkEq(event.GetSnapshot().GetId(), live.GetId(), "SubscribePatternEntropy: snapshot id")
	checkClose(event.GetSnapshot().GetDiversityIndex(), diversity, "SubscribePatternEntropy: snapshot diversity_index")
	check(event.GetCursor() != "" && event.GetCursor() != first.GetCursor(), "SubscribePatternEntropy: snapshot cursor %q", event.GetCursor())
	fmt.Printf("    received snapshot %s (cursor %s)\n", event.GetSnapshot().GetId(), event.GetCursor())
	stopStream() // cancels the first subscription
	resumeCtx, stopResume := context.WithCancel(ctx)
	defer stopResume()
	resumed := must(entropy.SubscribePatternEntropy(resumeCtx, &learningv1.SubscribePatternEntropyRequest{AfterCursor: first.GetCursor()}))
	replay := nextEvent(resumed)
	check(replay.GetSnapshot() != nil, "resumed SubscribePatternEntropy: first message is not a snapshot: %v", replay)
	checkEq(replay.GetSnapshot().GetId(), live.GetId(), "resumed SubscribePatternEntropy: snapshot id")
	checkEq(replay.GetCursor(), event.GetCursor(), "resumed SubscribePatternEntropy: cursor")
	check(nextEvent(resumed).GetCaughtUp() != nil, "resumed SubscribePatternEntropy: no caught_up after the snapshot")
	fmt.Printf("    resumed after %s: got %s again, then caught_up\n", first.GetCursor(), replay.GetSnapshot().GetId())
}

// nextEvent returns the next message of a Subscribe stream that is not a keep-alive progress.
func nextEvent(stream grpc.ServerStreamingClient[learningv1.SubscribePatternEntropyResponse]) *learningv1.SubscribePatternEntropyResponse {
	for {
		msg := must(stream.Recv())
		if msg.GetProgress() == nil {
			return msg
		}
	}
}

func expectInvalidArgument(err error, what string) {
	check(err != nil, "%s: the call succeeded, want InvalidArgument", what)
	st, ok := status.FromError(err)
	check(ok, "%s: not a gRPC status: %v", what, err)
	checkEq(st.Code(), codes.InvalidArgument, what+": status code")
	fmt.Printf("    %s: %s: %s\n", what, st.Code(), st.Message())
	violations := 0
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fmt.Printf("      field violation %s: %s\n", v.GetField(), v.GetDescription())
				violations++
			}
		}
	}
	check(violations > 0, "%s: InvalidArgument without google.rpc.BadRequest field violations", what)
}
