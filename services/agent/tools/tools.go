// Package tools is the IG agent's toolbox: small typed functions a planner calls to
// search the catalog, look up people and their access, preview policy and approvals,
// and shape, submit, extend or relinquish requests. Every argument is validated against
// the directory, and every call is recorded. No tool grants access: submitting hands a
// request to policy, approval and the provisioner, which decide.
package tools

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/conv"
)

// Errors a tool returns for arguments the directory or ledger contradicts.
var (
	ErrUnknownEntitlement = errors.New("no such entitlement in the catalog")
	ErrUnknownPerson      = errors.New("no such person in the directory")
	ErrInactivePerson     = errors.New("person is not active")
	ErrNotYourGrant       = errors.New("grant does not belong to this person")
	ErrGrantNotActive     = errors.New("grant is not active")
	ErrNotYourReport      = errors.New("person is not a direct report of this manager")
	ErrWithdrawRefused    = errors.New("withdrawal refused")
	ErrNoRequests         = errors.New("requests cannot be read here")
	ErrBadDuration        = errors.New("duration must be positive")
	ErrBadOption          = errors.New("option is not valid")
	// ErrDecisionRefused wraps the approval service's own words for refusing a decision
	// (not an approver of this stage, already decided, no such approval).
	ErrDecisionRefused = errors.New("decision refused")
	// ErrNoApprovals means this agent has no approval service to decide through.
	ErrNoApprovals = errors.New("approvals are not available here")
)

// Policy previews decisions (PolicyService.Evaluate with record=false).
type Policy interface {
	Preview(ctx context.Context, req *igav1.AccessRequest) (*igav1.PolicyDecision, error)
}

// Approvals resolves who would approve (ApprovalService.Requirements).
type Approvals interface {
	Requirements(ctx context.Context, req *igav1.AccessRequest) (*igav1.RequirementsResponse, error)
}

// Decisions records approvers' decisions (ApprovalService.Decide and ListApprovals).
// Refusals are returned wrapping ErrDecisionRefused with a message fit for the user.
type Decisions interface {
	Decide(ctx context.Context, approvalID, approver string, approve bool, reason string) (*igav1.Approval, error)
	// Pending lists the approvals the approver may decide now.
	Pending(ctx context.Context, approver string) ([]*igav1.Approval, error)
}

// Requests reads requests with their whole story (RequestsService).
type Requests interface {
	// ListRequests lists requests where the person is requester or beneficiary.
	ListRequests(ctx context.Context, person string) ([]*igav1.RequestView, error)
	// WithdrawRequest takes back a request still waiting for approval. Refusals (not the
	// requester, already decided) wrap ErrWithdrawRefused with a message fit for the user.
	WithdrawRequest(ctx context.Context, id, requester, reason string) (*igav1.RequestView, error)
}

// Grants reads the grants ledger (EntitlementsService).
type Grants interface {
	CheckAccess(ctx context.Context, person, entitlementID string) (*igav1.Grant, bool, error)
	// ListGrants lists active grants; person empty lists everyone's.
	ListGrants(ctx context.Context, person string) ([]*igav1.Grant, error)
}

// Actions are the only effects the agent has on the world. Both are idempotent: the same
// request or revoke twice has the effect of one.
type Actions interface {
	// Submit stores the request and announces it (iga.evt.request.submitted).
	Submit(ctx context.Context, req *igav1.AccessRequest) error
	// Revoke asks the provisioner to take a grant away (iga.cmd.provision.revoke).
	Revoke(ctx context.Context, grantID, reason string) error
}

// Deps are what the tools reach.
type Deps struct {
	Directory func() *directory.Snapshot
	Policy    Policy
	Approvals Approvals
	Grants    Grants
	Actions   Actions
	// Decisions is optional; without it the agent cannot record approvals.
	Decisions Decisions
	// Requests is optional; without it status lists grants only.
	Requests Requests
}

// Tools holds the dependencies and a search index cached per directory snapshot.
// Safe for concurrent use.
type Tools struct {
	deps Deps
	mu   sync.Mutex
	snap *directory.Snapshot
	ix   *Index
}

// New returns the toolbox.
func New(d Deps) *Tools { return &Tools{deps: d} }

// Snapshot is the current directory.
func (t *Tools) Snapshot() *directory.Snapshot { return t.deps.Directory() }

// Index returns the search index of the current snapshot, building it on change.
func (t *Tools) Index() *Index {
	s := t.deps.Directory()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ix == nil || t.snap != s {
		t.ix, t.snap = NewIndex(s), s
	}
	return t.ix
}

// Session binds the tools to one conversation, recording every call in its state.
func (t *Tools) Session(st *conv.State, now func() time.Time) *Session {
	if now == nil {
		now = time.Now
	}
	return &Session{t: t, st: st, now: now}
}

// Session is the toolbox as one conversation uses it.
type Session struct {
	t   *Tools
	st  *conv.State
	now func() time.Time
}

// Tools returns the toolbox behind the session.
func (s *Session) Tools() *Tools { return s.t }

func (s *Session) record(tool, args, result string, err error) {
	c := conv.ToolCall{Tool: tool, Args: args, Result: result, At: s.now().UTC()}
	if err != nil {
		c.Err = err.Error()
	}
	s.st.Record(c)
}

// SearchCatalog ranks entitlements for a free-text description of what is needed.
func (s *Session) SearchCatalog(query string, limit int) []Hit {
	hits := s.t.Index().Search(query, limit)
	ids := make([]string, 0, min(len(hits), 5))
	for _, h := range hits[:min(len(hits), 5)] {
		ids = append(ids, h.Entitlement.GetId())
	}
	s.record("search_catalog", fmt.Sprintf("query=%q", clip(query, 200)), strings.Join(ids, ","), nil)
	return hits
}

// GetPerson returns an active person of the directory.
func (s *Session) GetPerson(email string) (*igav1.Person, error) {
	p, ok := s.t.Snapshot().Person(email)
	var err error
	switch {
	case !ok:
		err = fmt.Errorf("%s: %w", email, ErrUnknownPerson)
	case p.GetStatus() != "" && p.GetStatus() != "active":
		err = fmt.Errorf("%s (%s): %w", email, p.GetStatus(), ErrInactivePerson)
	}
	s.record("get_person", "email="+email, p.GetTitle()+", "+p.GetDepartment(), err)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Entitlement returns a catalog entitlement and its app, or ErrUnknownEntitlement.
func (s *Session) Entitlement(id string) (*igav1.Entitlement, *igav1.App, error) {
	snap := s.t.Snapshot()
	e, ok := snap.Entitlement(id)
	if !ok {
		return nil, nil, fmt.Errorf("%q: %w", clip(id, 80), ErrUnknownEntitlement)
	}
	a, _ := snap.App(e.GetAppId())
	return e, a, nil
}

// CheckExistingAccess reports the person's active grant of an entitlement, if any.
func (s *Session) CheckExistingAccess(ctx context.Context, person, entitlementID string) (*igav1.Grant, bool, error) {
	if _, _, err := s.Entitlement(entitlementID); err != nil {
		s.record("check_existing_access", "entitlement="+entitlementID, "", err)
		return nil, false, err
	}
	g, ok, err := s.t.deps.Grants.CheckAccess(ctx, person, entitlementID)
	s.record("check_existing_access", fmt.Sprintf("person=%s entitlement=%s", person, entitlementID), fmt.Sprint(ok), err)
	return g, ok, err
}

// ActiveGrants lists the person's active grants, newest first.
func (s *Session) ActiveGrants(ctx context.Context, person string) ([]*igav1.Grant, error) {
	gs, err := s.t.deps.Grants.ListGrants(ctx, person)
	var active []*igav1.Grant
	for _, g := range gs {
		if g.GetStatus() == igav1.GrantStatus_GRANT_STATUS_ACTIVE && strings.EqualFold(g.GetPersonEmail(), person) {
			active = append(active, g)
		}
	}
	sort.SliceStable(active, func(i, j int) bool { return active[i].GetEntitlementId() < active[j].GetEntitlementId() })
	s.record("check_existing_access", "person="+person, fmt.Sprintf("%d active grants", len(active)), err)
	return active, err
}

// PeerHolding is how many of a person's peers hold an entitlement.
type PeerHolding struct {
	EntitlementID string
	Holders       int
}

// PeerAccess returns what people with the person's title and department hold, most
// held first, and how many such peers there are.
func (s *Session) PeerAccess(ctx context.Context, person string) ([]PeerHolding, int, error) {
	snap := s.t.Snapshot()
	p, ok := snap.Person(person)
	if !ok {
		err := fmt.Errorf("%s: %w", person, ErrUnknownPerson)
		s.record("peer_access", "person="+person, "", err)
		return nil, 0, err
	}
	peers := map[string]bool{}
	for _, q := range s.t.Index().Peers(p.GetTitle(), p.GetDepartment()) {
		if q.GetEmail() != p.GetEmail() {
			peers[q.GetEmail()] = true
		}
	}
	if len(peers) == 0 {
		s.record("peer_access", "person="+person, "no peers", nil)
		return nil, 0, nil
	}
	all, err := s.t.deps.Grants.ListGrants(ctx, "")
	if err != nil {
		s.record("peer_access", "person="+person, "", err)
		return nil, len(peers), err
	}
	holders := map[string]map[string]bool{}
	for _, g := range all {
		if g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE || !peers[strings.ToLower(g.GetPersonEmail())] {
			continue
		}
		if holders[g.GetEntitlementId()] == nil {
			holders[g.GetEntitlementId()] = map[string]bool{}
		}
		holders[g.GetEntitlementId()][strings.ToLower(g.GetPersonEmail())] = true
	}
	var out []PeerHolding
	for id, h := range holders {
		out = append(out, PeerHolding{EntitlementID: id, Holders: len(h)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Holders != out[j].Holders {
			return out[i].Holders > out[j].Holders
		}
		return out[i].EntitlementID < out[j].EntitlementID
	})
	s.record("peer_access", "person="+person, fmt.Sprintf("%d peers, %d entitlements held", len(peers), len(out)), nil)
	return out, len(peers), nil
}

// Proposal is a request shaped and checked, ready to show the user.
type Proposal struct {
	Request     *igav1.AccessRequest
	Entitlement *igav1.Entitlement
	App         *igav1.App
	// Decision is policy's preview; nil when policy could not be reached.
	Decision *igav1.PolicyDecision
	// Stages are the approvers policy would ask, in order.
	Stages []*igav1.StageApprovers
	// ReviewStages are who reviews a break-glass grant after the fact, in order.
	ReviewStages []*igav1.StageApprovers
	// Capped is true when the asked duration was cut to the limit.
	Capped bool
	// Defaulted is true when no duration was asked and the default was used.
	Defaulted bool
	// PolicyErr says policy or approval could not be previewed.
	PolicyErr error
}

// BreakGlass reports whether policy allows the request through the emergency path, so
// it is granted at once and reviewed after the fact.
func (p *Proposal) BreakGlass() bool {
	return p.Decision.GetEffect() == igav1.Effect_EFFECT_ALLOW && len(p.Decision.GetReviewSteps()) > 0
}

// DurationLimits returns the default and maximum durations the catalog sets for an
// entitlement; defaults when the catalog sets none.
func DurationLimits(e *igav1.Entitlement) (def, max time.Duration) {
	max = e.GetMaxDuration().AsDuration()
	def = e.GetDefaultDuration().AsDuration()
	if def <= 0 {
		def = 7 * 24 * time.Hour
		if max > 0 && def > max {
			def = max
		}
	}
	return def, max
}

// SetDuration fits an asked duration (zero: none asked) to the entitlement: the default
// when none was asked, the catalog maximum when more was asked.
func (s *Session) SetDuration(e *igav1.Entitlement, asked time.Duration) (d time.Duration, defaulted, capped bool) {
	def, max := DurationLimits(e)
	switch {
	case asked <= 0:
		d, defaulted = def, true
	case max > 0 && asked > max:
		d, capped = max, true
	default:
		d = asked
	}
	s.record("set_duration", fmt.Sprintf("entitlement=%s asked=%s", e.GetId(), directory.FormatDuration(asked)),
		directory.FormatDuration(d), nil)
	return d, defaulted, capped
}

// ProposeRequest validates a draft against the directory and catalog, fits its
// duration, and previews policy and approvals. It changes nothing.
func (s *Session) ProposeRequest(ctx context.Context, requester string, d *conv.Draft) (*Proposal, error) {
	e, a, err := s.Entitlement(d.EntitlementID)
	if err != nil {
		s.record("propose_request", "entitlement="+d.EntitlementID, "", err)
		return nil, err
	}
	if _, err := s.GetPerson(requester); err != nil {
		return nil, err
	}
	beneficiary := d.Beneficiary
	if beneficiary == "" {
		beneficiary = requester
	}
	if _, err := s.GetPerson(beneficiary); err != nil {
		return nil, err
	}
	if d.DurationAsked < 0 {
		return nil, ErrBadDuration
	}
	dur, defaulted, capped := s.SetDuration(e, d.DurationAsked)
	req := &igav1.AccessRequest{
		Id:               "preview-" + s.st.ID,
		RequesterEmail:   strings.ToLower(requester),
		BeneficiaryEmail: strings.ToLower(beneficiary),
		EntitlementId:    e.GetId(),
		Duration:         durationpb.New(dur),
		Justification:    clip(d.Justification, 500),
		TicketRef:        d.TicketRef,
		Emergency:        d.Emergency,
		ConversationId:   s.st.ID,
		Channel:          s.st.Channel,
		CreatedAt:        timestamppb.New(s.now()),
		ExtendsGrantId:   d.ExtendsGrantID,
	}
	if defaulted {
		// No duration asked: policy's default for this request, when it has one, rather
		// than the catalog's. Policy answers a request without a duration with it.
		probe := proto.Clone(req).(*igav1.AccessRequest)
		probe.Duration = nil
		if dec, err := s.t.deps.Policy.Preview(ctx, probe); err == nil && dec.GetGrantedDuration().AsDuration() > 0 &&
			dec.GetEffect() != igav1.Effect_EFFECT_DENY && dec.GetGrantedDuration().AsDuration() != dur {
			dur = dec.GetGrantedDuration().AsDuration()
			req.Duration = durationpb.New(dur)
			s.record("set_duration", "policy default", directory.FormatDuration(dur), nil)
		}
	}
	p := &Proposal{Request: req, Entitlement: e, App: a, Capped: capped, Defaulted: defaulted}
	p.Decision, p.PolicyErr = s.EvaluatePolicy(ctx, req)
	if p.PolicyErr == nil {
		if pmax := p.Decision.GetMaxDuration().AsDuration(); pmax > 0 && dur > pmax {
			dur, p.Capped = pmax, true
			req.Duration = durationpb.New(dur)
			s.record("set_duration", "policy max="+directory.FormatDuration(pmax), directory.FormatDuration(dur), nil)
		}
		if p.Decision.GetEffect() == igav1.Effect_EFFECT_REQUIRE_APPROVAL || p.BreakGlass() {
			rr, err := s.ApprovalRequirements(ctx, req)
			if err != nil {
				p.PolicyErr = err
			} else {
				p.Stages, p.ReviewStages = rr.GetStages(), rr.GetReviewStages()
				if rr.GetDecision().GetEffect() == igav1.Effect_EFFECT_DENY {
					p.Decision = rr.GetDecision() // nobody may approve or review it
				}
			}
		}
	}
	d.Duration = dur
	s.record("propose_request", fmt.Sprintf("entitlement=%s beneficiary=%s duration=%s", e.GetId(), beneficiary,
		directory.FormatDuration(dur)), p.Decision.GetEffect().String(), nil)
	return p, nil
}

// EvaluatePolicy previews policy's decision of a request without recording it.
func (s *Session) EvaluatePolicy(ctx context.Context, req *igav1.AccessRequest) (*igav1.PolicyDecision, error) {
	dec, err := s.t.deps.Policy.Preview(ctx, req)
	s.record("evaluate_policy", fmt.Sprintf("entitlement=%s beneficiary=%s duration=%s", req.GetEntitlementId(),
		req.GetBeneficiaryEmail(), directory.FormatDuration(req.GetDuration().AsDuration())), dec.GetEffect().String()+" "+dec.GetReason(), err)
	return dec, err
}

// ApprovalRequirements resolves who would approve a request.
func (s *Session) ApprovalRequirements(ctx context.Context, req *igav1.AccessRequest) (*igav1.RequirementsResponse, error) {
	rr, err := s.t.deps.Approvals.Requirements(ctx, req)
	var who []string
	for _, st := range rr.GetStages() {
		who = append(who, strings.Join(st.GetApprovers(), "|"))
	}
	s.record("approval_requirements", "entitlement="+req.GetEntitlementId(), strings.Join(who, " then "), err)
	return rr, err
}

// RequestID derives a request id from the turn that confirmed it, so handling the same
// turn twice submits the same request.
func RequestID(conversationID, turnID string) string {
	sum := sha256.Sum256([]byte("request/" + conversationID + "/" + turnID))
	return "r-" + hex.EncodeToString(sum[:8])
}

// SubmitRequest re-validates a proposed request and submits it under id.
func (s *Session) SubmitRequest(ctx context.Context, id string, req *igav1.AccessRequest) (*igav1.AccessRequest, error) {
	if _, _, err := s.Entitlement(req.GetEntitlementId()); err != nil {
		s.record("submit_request", "entitlement="+req.GetEntitlementId(), "", err)
		return nil, err
	}
	for _, who := range []string{req.GetRequesterEmail(), req.GetBeneficiaryEmail()} {
		if _, err := s.GetPerson(who); err != nil {
			return nil, err
		}
	}
	if req.GetDuration().AsDuration() <= 0 {
		return nil, ErrBadDuration
	}
	out := cloneRequest(req)
	out.Id = id
	// The request record carries the reasoning behind it, for auditors and approvers.
	if s.st.Draft != nil {
		for i, c := range s.st.Draft.ToolCalls {
			if n := s.st.Draft.DroppedCalls; n > 0 && i == conv.KeptHead {
				// Say where the cap dropped calls, so the trace never reads as complete when it is not.
				out.AgentTrace = append(out.AgentTrace, &igav1.ToolCall{Tool: "trace_elided",
					Arguments: fmt.Sprintf("%d tool calls between these were not kept", n), At: timestamppb.New(c.At)})
			}
			result := c.Result
			if c.Err != "" {
				result = "error: " + c.Err
			}
			out.AgentTrace = append(out.AgentTrace, &igav1.ToolCall{Tool: c.Tool, Arguments: c.Args, Result: result, At: timestamppb.New(c.At)})
		}
	}
	out.AgentTrace = append(out.AgentTrace, &igav1.ToolCall{Tool: "submit_request",
		Arguments: fmt.Sprintf("id=%s entitlement=%s beneficiary=%s", id, out.GetEntitlementId(), out.GetBeneficiaryEmail()), At: timestamppb.New(s.now())})
	err := s.t.deps.Actions.Submit(ctx, out)
	s.record("submit_request", fmt.Sprintf("id=%s entitlement=%s beneficiary=%s duration=%s", id, out.GetEntitlementId(),
		out.GetBeneficiaryEmail(), directory.FormatDuration(out.GetDuration().AsDuration())), "submitted", err)
	if err != nil {
		return nil, fmt.Errorf("submit %s: %w", id, err)
	}
	return out, nil
}

// OwnActiveGrant returns the grant if it is the person's and active.
func (s *Session) OwnActiveGrant(ctx context.Context, person, grantID string) (*igav1.Grant, error) {
	gs, err := s.t.deps.Grants.ListGrants(ctx, person)
	if err != nil {
		return nil, err
	}
	for _, g := range gs {
		if g.GetId() != grantID {
			continue
		}
		if !strings.EqualFold(g.GetPersonEmail(), person) {
			return nil, fmt.Errorf("%s: %w", grantID, ErrNotYourGrant)
		}
		if g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE {
			return nil, fmt.Errorf("%s: %w", grantID, ErrGrantNotActive)
		}
		return g, nil
	}
	return nil, fmt.Errorf("%s: %w", grantID, ErrNotYourGrant)
}

// ExtendGrant shapes an extension: a new request for the grant's entitlement that names
// the grant it extends. It is proposed and submitted like any request.
func (s *Session) ExtendGrant(ctx context.Context, person, grantID string, d *conv.Draft) (*igav1.Grant, error) {
	g, err := s.OwnActiveGrant(ctx, person, grantID)
	s.record("extend_grant", "grant="+grantID, g.GetEntitlementId(), err)
	if err != nil {
		return nil, err
	}
	d.Action, d.EntitlementID, d.ExtendsGrantID, d.Beneficiary = conv.ActionExtend, g.GetEntitlementId(), g.GetId(), person
	return g, nil
}

// RelinquishGrant gives up the person's own active grant now.
func (s *Session) RelinquishGrant(ctx context.Context, person, grantID string) error {
	if _, err := s.OwnActiveGrant(ctx, person, grantID); err != nil {
		s.record("relinquish_grant", "grant="+grantID, "", err)
		return err
	}
	err := s.t.deps.Actions.Revoke(ctx, grantID, "relinquished")
	s.record("relinquish_grant", "grant="+grantID, "revoke requested", err)
	return err
}

// RemoveReportsGrant removes now an active grant held by a direct report of the manager:
// the manager is accountable for what their report holds, so they may take it away (the
// ledger records who did; the holder is told). Anyone else is refused.
func (s *Session) RemoveReportsGrant(ctx context.Context, manager, holder, grantID string) error {
	p, err := s.GetPerson(holder)
	if err == nil && !strings.EqualFold(p.GetManagerEmail(), manager) {
		err = fmt.Errorf("%s: %w %s", holder, ErrNotYourReport, manager)
	}
	if err == nil {
		_, err = s.OwnActiveGrant(ctx, holder, grantID)
	}
	if err != nil {
		s.record("relinquish_grant", fmt.Sprintf("grant=%s holder=%s by=%s", grantID, holder, manager), "", err)
		return err
	}
	err = s.t.deps.Actions.Revoke(ctx, grantID, "removed by manager "+strings.ToLower(manager))
	s.record("relinquish_grant", fmt.Sprintf("grant=%s holder=%s by=%s", grantID, holder, manager), "revoke requested", err)
	return err
}

// AskUser builds a clarifying question. Options naming entitlements must exist in the
// catalog; a question without options is free text.
func (s *Session) AskUser(question string, options []conv.Option, kind conv.PendingKind) (conv.Reply, error) {
	if kind == conv.PendingEntitlement {
		for _, o := range options {
			if _, _, err := s.Entitlement(o.Value); err != nil {
				s.record("ask_user", clip(question, 200), "", err)
				return conv.Reply{}, fmt.Errorf("%w: %w", ErrBadOption, err)
			}
		}
	}
	s.st.Pending = &conv.Pending{Kind: kind, Question: question, Options: options}
	vals := make([]string, len(options))
	for i, o := range options {
		vals[i] = o.Value
	}
	s.record("ask_user", clip(question, 200), strings.Join(vals, ","), nil)
	return conv.Reply{Kind: conv.ReplyQuestion, Text: question, Options: options}, nil
}

func cloneRequest(r *igav1.AccessRequest) *igav1.AccessRequest {
	return &igav1.AccessRequest{
		Id: r.GetId(), RequesterEmail: r.GetRequesterEmail(), BeneficiaryEmail: r.GetBeneficiaryEmail(),
		EntitlementId: r.GetEntitlementId(), Duration: r.GetDuration(), Justification: r.GetJustification(),
		TicketRef: r.GetTicketRef(), Emergency: r.GetEmergency(), ConversationId: r.GetConversationId(),
		Channel: r.GetChannel(), CreatedAt: r.GetCreatedAt(), ExtendsGrantId: r.GetExtendsGrantId(),
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// DecideApproval records the speaker's decision on an approval (by approval or request
// id). The approval service checks that they may decide it; the agent only relays.
func (s *Session) DecideApproval(ctx context.Context, approver, id string, approve bool, reason string) (*igav1.Approval, error) {
	if s.t.deps.Decisions == nil {
		return nil, ErrNoApprovals
	}
	a, err := s.t.deps.Decisions.Decide(ctx, id, approver, approve, clip(reason, 500))
	s.record("decide_approval", fmt.Sprintf("id=%s approve=%v", id, approve), a.GetStatus().String(), err)
	return a, err
}

// PendingApprovals lists what the speaker may decide now.
func (s *Session) PendingApprovals(ctx context.Context, approver string) ([]*igav1.Approval, error) {
	if s.t.deps.Decisions == nil {
		return nil, ErrNoApprovals
	}
	as, err := s.t.deps.Decisions.Pending(ctx, approver)
	s.record("pending_approvals", "approver="+approver, fmt.Sprintf("%d pending", len(as)), err)
	return as, err
}

// WithdrawRequest takes back one of the person's requests still waiting for approval.
func (s *Session) WithdrawRequest(ctx context.Context, requester, id, reason string) (*igav1.RequestView, error) {
	if s.t.deps.Requests == nil {
		s.record("withdraw_request", "request="+id, "", ErrNoRequests)
		return nil, ErrNoRequests
	}
	v, err := s.t.deps.Requests.WithdrawRequest(ctx, id, requester, reason)
	s.record("withdraw_request", "request="+id, v.GetStatus().String(), err)
	return v, err
}

// OpenRequests lists the person's requests still on their way (submitted, waiting for
// approval, approved but not yet granted), newest first. Without a requests reader it
// returns none.
func (s *Session) OpenRequests(ctx context.Context, person string) ([]*igav1.RequestView, error) {
	if s.t.deps.Requests == nil {
		return nil, nil
	}
	all, err := s.t.deps.Requests.ListRequests(ctx, person)
	var open []*igav1.RequestView
	for _, v := range all {
		switch v.GetStatus() {
		case igav1.RequestStatus_REQUEST_STATUS_SUBMITTED, igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL,
			igav1.RequestStatus_REQUEST_STATUS_APPROVED:
			open = append(open, v)
		}
	}
	sort.SliceStable(open, func(i, j int) bool {
		return open[i].GetRequest().GetCreatedAt().AsTime().After(open[j].GetRequest().GetCreatedAt().AsTime())
	})
	s.record("list_requests", "person="+person, fmt.Sprintf("%d open", len(open)), err)
	return open, err
}
