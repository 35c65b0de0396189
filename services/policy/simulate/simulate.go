// Package simulate replays past access requests against a changed policy and reports
// which outcomes would flip, and why — the safe way to change a policy.
package simulate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/policy/engine"
	"github.com/agentic-iga/iga/services/policy/policy"
	"github.com/agentic-iga/iga/services/policy/policytest"
)

// SubjectSubmitted is where submitted requests are announced.
const SubjectSubmitted = "iga.evt.request.submitted"

// Change is one request whose outcome differs under the new policy.
type Change struct {
	Request *igav1.AccessRequest
	Before  *igav1.PolicyDecision
	After   *igav1.PolicyDecision
	// Flipped is set when the effect changed; otherwise approvals or durations did.
	Flipped bool
	// What says what changed, in words.
	What string
}

// Report is the outcome of a replay.
type Report struct {
	Requests int
	Changes  []Change
	// Skipped are requests that could not be decided (a person or entitlement since
	// removed from the directory), with why.
	Skipped []string
}

// Flips counts changes of effect.
func (r *Report) Flips() int {
	n := 0
	for _, c := range r.Changes {
		if c.Flipped {
			n++
		}
	}
	return n
}

// Inputs are what a replay reads besides the requests.
type Inputs struct {
	// Before gives the decision a request got: the recorded one, or the current policy's.
	Before func(ar *igav1.AccessRequest) (*igav1.PolicyDecision, error)
	// After is the new policy.
	After *engine.Policy
	Snap  *directory.Snapshot
	// Held returns what a person holds now (nil: nothing).
	Held func(person string) []string
}

// Replay decides every request with the new policy (at the time it was made) and
// compares with the decision it had.
func Replay(reqs []*igav1.AccessRequest, in Inputs) *Report {
	rep := &Report{}
	for _, ar := range reqs {
		rep.Requests++
		before, err := in.Before(ar)
		if err != nil {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: %v", ar.GetId(), err))
			continue
		}
		var held []string
		if in.Held != nil {
			held = in.Held(Beneficiary(ar))
		}
		at := ar.GetCreatedAt().AsTime()
		if ar.GetCreatedAt() == nil {
			at = time.Now().UTC()
		}
		after, err := policy.Decide(in.After, in.Snap, ar, held, nil, at)
		if err != nil {
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s: %v", ar.GetId(), err))
			continue
		}
		if what, flipped := compare(before, after); what != "" {
			rep.Changes = append(rep.Changes, Change{Request: ar, Before: before, After: after, Flipped: flipped, What: what})
		}
	}
	return rep
}

// Beneficiary is who a request's access is for.
func Beneficiary(ar *igav1.AccessRequest) string {
	if ar.GetBeneficiaryEmail() != "" {
		return ar.GetBeneficiaryEmail()
	}
	return ar.GetRequesterEmail()
}

func effect(e igav1.Effect) string { return strings.ToLower(strings.TrimPrefix(e.String(), "EFFECT_")) }

func steps(d *igav1.PolicyDecision) string {
	var out []string
	for _, s := range d.GetApprovalSteps() {
		// Written as policy tests write them, so a quorum, "all" or an alternative that
		// changes is a change too.
		out = append(out, policytest.Step(s))
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

func compare(a, b *igav1.PolicyDecision) (string, bool) {
	if a.GetEffect() != b.GetEffect() {
		return fmt.Sprintf("%s → %s", effect(a.GetEffect()), effect(b.GetEffect())), true
	}
	var what []string
	if sa, sb := steps(a), steps(b); sa != sb {
		what = append(what, fmt.Sprintf("approvals %s → %s", sa, sb))
	}
	if ma, mb := a.GetMaxDuration().AsDuration(), b.GetMaxDuration().AsDuration(); ma != mb {
		what = append(what, fmt.Sprintf("max duration %s → %s", directory.FormatDuration(ma), directory.FormatDuration(mb)))
	}
	return strings.Join(what, "; "), false
}

// Window bounds which recorded requests a replay reads.
type Window struct {
	// Since skips requests submitted before it (zero: the whole history).
	Since time.Time
	// Limit keeps only the newest Limit requests (zero: all of them).
	Limit int
}

// ReadSubmitted reads the RequestSubmitted events of the event stream within w, oldest
// first, one per request id, and reports whether Limit left older ones out. The stream is
// read from w.Since to its end; only the newest Limit requests are kept in memory.
func ReadSubmitted(ctx context.Context, js jetstream.JetStream, w Window) ([]*igav1.AccessRequest, bool, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{SubjectSubmitted}}
	if !w.Since.IsZero() {
		since := w.Since
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
	}
	cons, err := js.OrderedConsumer(ctx, bus.StreamEvents, cfg)
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", SubjectSubmitted, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", SubjectSubmitted, err)
	}
	remaining := info.NumPending
	var out []*igav1.AccessRequest
	kept := map[string]bool{}
	truncated := false
	for remaining > 0 {
		batch, err := cons.Fetch(int(min(remaining, 256)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return nil, false, fmt.Errorf("read %s: %w", SubjectSubmitted, err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var ev igav1.RequestSubmitted
			if err := bus.Decode(m.Headers(), m.Data(), &ev); err != nil || ev.GetRequest() == nil {
				continue // not ours to judge; the consumers dead-letter it
			}
			if id := ev.GetRequest().GetId(); !kept[id] {
				kept[id] = true
				out = append(out, ev.GetRequest())
			}
			if w.Limit > 0 && len(out) > w.Limit {
				delete(kept, out[0].GetId())
				out[0] = nil
				out = out[1:]
				truncated = true
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return nil, false, fmt.Errorf("read %s: %w", SubjectSubmitted, err)
		}
		if got == 0 {
			break
		}
		remaining -= uint64(got)
	}
	return slices.Clip(out), truncated, nil
}

// Held reads the grants ledger: who holds what now.
func Held(ctx context.Context, b *bus.Bus) (func(string) []string, error) {
	grants, err := bus.OpenStore(ctx, b, bus.BucketGrants, func() *igav1.Grant { return &igav1.Grant{} })
	if err != nil {
		return nil, err
	}
	all, err := grants.List(ctx)
	if err != nil {
		return nil, err
	}
	held := map[string][]string{}
	for _, g := range all {
		if g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_ACTIVE {
			p := strings.ToLower(g.GetPersonEmail())
			held[p] = append(held[p], g.GetEntitlementId())
		}
	}
	for _, ids := range held {
		slices.Sort(ids)
	}
	return func(p string) []string { return held[strings.ToLower(p)] }, nil
}
