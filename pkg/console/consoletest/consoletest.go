// Package consoletest is a stand-in for the iga services the console talks to: a real gRPC
// server on 127.0.0.1 serving intake, requests, approval, entitlements, events and
// directory from memory, with a small scripted agent, so the console can be tested through
// its HTTP API and in a real browser without the whole system.
//
// The script: any text gets a QUESTION offering two Grafana roles; picking one (its value
// is the entitlement id) submits a request that needs the beneficiary's manager's approval;
// approving it makes an ACTIVE grant for the requested duration. Decide enforces what
// approval does: no self-approval, only listed approvers, only pending approvals.
package consoletest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/pkg/svc"
)

// Demo people the fake knows.
const (
	Dana  = "dana.reyes@acme.example"
	Marco = "marco.bianchi@acme.example"
	Sam   = "sam.patel@acme.example"
)

// Entitlements the scripted question offers.
const (
	Viewer = "grafana:payments-viewer"
	Editor = "grafana:payments-editor"
)

// RequestedDuration is how long the scripted requests ask for.
const RequestedDuration = 8 * time.Hour

// Fake holds the services' state. Its methods are safe for concurrent use.
type Fake struct {
	// Addr is the gRPC address the fake listens on.
	Addr string

	mu        sync.Mutex
	people    map[string]*igav1.Person
	requests  []*igav1.RequestView
	approvals map[string]*igav1.Approval
	grants    []*igav1.Grant
	events    []*igav1.Envelope
	watchers  map[chan *igav1.Envelope]struct{}
	listeners map[string]map[chan *igav1.Reply]struct{} // notices, by person
	seq       uint64
	convs     int
}

// Start serves a fake with demo data on 127.0.0.1:0 and returns it with a client
// connection made by svc.DialUpstream, as `iga dev` makes its own. Both stop at test end.
func Start(tb testing.TB) (*Fake, *grpc.ClientConn) {
	tb.Helper()
	f := New()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	f.Addr = l.Addr().String()
	gs := grpc.NewServer()
	f.Register(gs)
	go func() { _ = gs.Serve(l) }()
	conn, err := svc.DialUpstream(f.Addr)
	if err != nil {
		gs.Stop()
		tb.Fatalf("dial %s: %v", f.Addr, err)
	}
	tb.Cleanup(func() {
		_ = conn.Close()
		gs.Stop()
	})
	return f, conn
}

// New returns a fake with the demo people, one active and one expired grant of Dana's,
// and a short event history.
func New() *Fake {
	f := &Fake{
		people:    map[string]*igav1.Person{},
		approvals: map[string]*igav1.Approval{},
		watchers:  map[chan *igav1.Envelope]struct{}{},
		listeners: map[string]map[chan *igav1.Reply]struct{}{},
	}
	for _, p := range []*igav1.Person{
		{Email: Dana, Name: "Dana Reyes", Department: "Finance", Title: "Financial Analyst", ManagerEmail: Marco, Groups: []string{"finance", "all-staff"}, Status: "active"},
		{Email: Marco, Name: "Marco Bianchi", Department: "Finance", Title: "Finance Manager", ManagerEmail: "olivia.chen@acme.example", Groups: []string{"finance", "all-staff"}, Status: "active"},
		{Email: Sam, Name: "Sam Patel", Department: "Engineering", Title: "Software Engineer", ManagerEmail: "priya.nair@acme.example", Groups: []string{"engineering", "backend", "all-staff"}, Status: "active"},
	} {
		f.people[p.Email] = p
	}
	now := time.Now()
	active := &igav1.Grant{Id: "g-r-seed-1", RequestId: "r-seed-1", PersonEmail: Dana, EntitlementId: "snowflake:analyst", AppId: "snowflake",
		Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE, GrantedAt: timestamppb.New(now.Add(-26 * time.Hour)), ExpiresAt: timestamppb.New(now.Add(46 * time.Hour)),
		Generation: 1, Connector: igav1.ProvisioningMethod_PROVISIONING_METHOD_SCIM}
	expired := &igav1.Grant{Id: "g-r-seed-0", RequestId: "r-seed-0", PersonEmail: Dana, EntitlementId: "aws-prod:readonly", AppId: "aws-prod",
		Status: igav1.GrantStatus_GRANT_STATUS_REVOKED, GrantedAt: timestamppb.New(now.Add(-9 * 24 * time.Hour)), ExpiresAt: timestamppb.New(now.Add(-2 * 24 * time.Hour)),
		RevokedAt: timestamppb.New(now.Add(-2 * 24 * time.Hour)), RevokeReason: "expired", Generation: 1, Connector: igav1.ProvisioningMethod_PROVISIONING_METHOD_SCIM}
	f.grants = append(f.grants, expired, active)
	reasons := map[string]string{
		"snowflake:analyst": "Finance analysts may read the warehouse for up to 7 days.",
		"aws-prod:readonly": "Read-only production access is allowed for up to 7 days.",
	}
	for _, g := range []*igav1.Grant{expired, active} {
		req := &igav1.AccessRequest{Id: g.RequestId, RequesterEmail: Dana, BeneficiaryEmail: Dana, EntitlementId: g.EntitlementId,
			Duration: durationpb.New(g.ExpiresAt.AsTime().Sub(g.GrantedAt.AsTime())), Justification: "quarter-end reporting",
			Channel: "slack", CreatedAt: timestamppb.New(g.GrantedAt.AsTime().Add(-time.Minute))}
		st := igav1.RequestStatus_REQUEST_STATUS_ACTIVE
		if g.Status == igav1.GrantStatus_GRANT_STATUS_REVOKED {
			st = igav1.RequestStatus_REQUEST_STATUS_REVOKED
		}
		f.requests = append(f.requests, &igav1.RequestView{Request: req, Status: st, Grant: g,
			Decision: &igav1.PolicyDecision{RequestId: req.Id, Effect: igav1.Effect_EFFECT_ALLOW, Reason: reasons[g.EntitlementId], GrantedDuration: req.Duration}})
		f.publishLocked("iga.evt.grant.active", "iga.grant.active.v1", "iga/provisioner", req.Id, &igav1.GrantChanged{Grant: g})
	}
	f.publishLocked("iga.evt.grant.revoked", "iga.grant.revoked.v1", "iga/provisioner", expired.RequestId, &igav1.GrantChanged{Grant: expired})
	return f
}

// Register adds every fake service to a gRPC server.
func (f *Fake) Register(s *grpc.Server) {
	igav1.RegisterIntakeServiceServer(s, intake{f: f})
	igav1.RegisterRequestsServiceServer(s, requests{f: f})
	igav1.RegisterApprovalServiceServer(s, approvals{f: f})
	igav1.RegisterEntitlementsServiceServer(s, entitlements{f: f})
	igav1.RegisterEventsServiceServer(s, events{f: f})
	igav1.RegisterDirectoryServiceServer(s, directory{f: f})
}

// Grants returns a copy of every grant in the ledger.
func (f *Fake) Grants() []*igav1.Grant {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*igav1.Grant, len(f.grants))
	for i, g := range f.grants {
		out[i] = proto.Clone(g).(*igav1.Grant)
	}
	return out
}

// Approval returns a copy of an approval, if it exists.
func (f *Fake) Approval(id string) (*igav1.Approval, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.approvals[id]
	if !ok {
		return nil, false
	}
	return proto.Clone(a).(*igav1.Approval), true
}

// publishLocked appends an event to the history and hands it to live watchers.
func (f *Fake) publishLocked(subject, typ, source, requestID string, payload proto.Message) {
	data, err := anypb.New(payload)
	if err != nil {
		panic(err) // every payload is a generated message
	}
	f.seq++
	ev := &igav1.Envelope{Id: fmt.Sprintf("ev-%d", f.seq), Type: typ, Source: source, Time: timestamppb.Now(),
		Subject: subject, RequestId: requestID, Data: data, Sequence: f.seq}
	f.events = append(f.events, ev)
	for ch := range f.watchers {
		select {
		case ch <- ev:
		default: // a watcher that cannot keep up misses live events, as a slow consumer would
		}
	}
}

func (f *Fake) requestLocked(id string) *igav1.RequestView {
	for _, v := range f.requests {
		if v.GetRequest().GetId() == id {
			return v
		}
	}
	return nil
}

type intake struct {
	igav1.UnimplementedIntakeServiceServer
	f *Fake
}

// Notices streams the notices of a person until the caller goes away.
func (s intake) Notices(in *igav1.NoticesRequest, stream igav1.IntakeService_NoticesServer) error {
	f := s.f
	who := strings.ToLower(in.GetChannelUserId())
	f.mu.Lock()
	if _, ok := f.people[who]; !ok {
		f.mu.Unlock()
		return status.Errorf(codes.NotFound, "I don't know who %s is", in.GetChannelUserId())
	}
	ch := make(chan *igav1.Reply, 16)
	if f.listeners[who] == nil {
		f.listeners[who] = map[chan *igav1.Reply]struct{}{}
	}
	f.listeners[who][ch] = struct{}{}
	f.mu.Unlock()
	defer func() { f.mu.Lock(); delete(f.listeners[who], ch); f.mu.Unlock() }()
	if err := stream.SendHeader(metadata.Pairs("iga-notices", "listening")); err != nil {
		return err
	}
	for {
		select {
		case r := <-ch:
			if err := stream.Send(&igav1.NoticesResponse{Reply: r}); err != nil {
				return err
			}
		case <-stream.Context().Done():
			return nil
		}
	}
}

func (f *Fake) noticeLocked(who string, r *igav1.Reply) {
	for ch := range f.listeners[who] {
		select {
		case ch <- r:
		default:
		}
	}
}

func (s intake) Chat(_ context.Context, in *igav1.ChatRequest) (*igav1.ChatResponse, error) {
	f := s.f
	m := in.GetMessage()
	if m.GetChannelUserId() == "" {
		return nil, status.Error(codes.InvalidArgument, "channel_user_id is required")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	conv := m.GetConversationId()
	if conv == "" {
		f.convs++
		conv = fmt.Sprintf("c-%d", f.convs)
	}
	reply := &igav1.Reply{ReplyId: "rp-" + m.GetMessageId(), ConversationId: conv, Channel: m.GetChannel(),
		ChannelUserId: m.GetChannelUserId(), InReplyTo: m.GetMessageId(), SentAt: timestamppb.Now()}
	out := &igav1.ChatResponse{ConversationId: conv, Replies: []*igav1.Reply{reply}}
	person, ok := f.people[strings.ToLower(m.GetChannelUserId())]
	if !ok {
		reply.Kind = igav1.ReplyKind_REPLY_KIND_ERROR
		reply.Text = fmt.Sprintf("I don't know %s: sign in with an email of the directory.", m.GetChannelUserId())
		return out, nil
	}
	reply.PersonEmail = person.Email
	switch opt := m.GetOptionValue(); {
	case opt == Viewer || opt == Editor:
		reply.Kind = igav1.ReplyKind_REPLY_KIND_SUBMITTED
		id := f.submitLocked(person, opt, conv, m.GetChannel())
		reply.RequestId = id
		manager := f.people[person.ManagerEmail]
		reply.Text = fmt.Sprintf("Submitted %s: %s for 8 hours. %s (your manager) approves it; I'll tell you here when it's granted. It expires on its own after 8 hours.", id, opt, manager.GetName())
	case opt == "cancel":
		reply.Kind = igav1.ReplyKind_REPLY_KIND_INFO
		reply.Text = "Okay, nothing requested."
	case opt != "":
		reply.Kind = igav1.ReplyKind_REPLY_KIND_ERROR
		reply.Text = "That option is no longer open; tell me again what you need."
	default:
		reply.Kind = igav1.ReplyKind_REPLY_KIND_QUESTION
		reply.Text = "Grafana has two roles for the payments dashboards. Which fits what you need to do?"
		reply.Options = []*igav1.ReplyOption{
			{Label: "View the payments dashboards (payments-viewer)", Value: Viewer},
			{Label: "Edit the payments dashboards (payments-editor)", Value: Editor},
			{Label: "Cancel", Value: "cancel"},
		}
	}
	return out, nil
}

func (f *Fake) submitLocked(person *igav1.Person, ent, conv, channel string) string {
	id := fmt.Sprintf("r-%04d", len(f.requests)+1)
	now := time.Now()
	req := &igav1.AccessRequest{Id: id, RequesterEmail: person.Email, BeneficiaryEmail: person.Email, EntitlementId: ent,
		Duration: durationpb.New(RequestedDuration), Justification: "payments audit this week", ConversationId: conv, Channel: channel,
		CreatedAt: timestamppb.New(now)}
	step := &igav1.ApprovalStep{Kind: igav1.ApproverKind_APPROVER_KIND_MANAGER, Stage: 1}
	dec := &igav1.PolicyDecision{RequestId: id, Effect: igav1.Effect_EFFECT_REQUIRE_APPROVAL, ApprovalSteps: []*igav1.ApprovalStep{step},
		GrantedDuration: req.Duration, Reason: "Finance staff get Grafana payments roles with their manager's approval.",
		DecidedAt: timestamppb.New(now), BeneficiaryEmail: person.Email, EntitlementId: ent}
	ap := &igav1.Approval{Id: id, RequestId: id, RequesterEmail: person.Email, BeneficiaryEmail: person.Email, EntitlementId: ent,
		Steps: dec.ApprovalSteps, CurrentStage: 1, Approvers: []string{person.ManagerEmail}, Status: igav1.ApprovalStatus_APPROVAL_STATUS_PENDING,
		CreatedAt: timestamppb.New(now), Duration: req.Duration}
	f.requests = append(f.requests, &igav1.RequestView{Request: req, Status: igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL, Decision: dec, Approval: ap})
	f.approvals[id] = ap
	f.publishLocked("iga.evt.request.submitted", "iga.request.submitted.v1", "iga/agent", id, &igav1.RequestSubmitted{Request: req})
	f.publishLocked("iga.evt.policy.decided", "iga.policy.decided.v1", "iga/policy", id, &igav1.PolicyDecided{Decision: dec})
	f.publishLocked("iga.evt.approval.requested", "iga.approval.requested.v1", "iga/approval", id, &igav1.ApprovalRequested{Approval: ap})
	return id
}

// AddBreakGlassReview records what the approval service does for an emergency: the
// person holds ent already, and its after-the-fact review waits for reviewer. It returns
// the request (and review) id.
func (f *Fake) AddBreakGlassReview(person, ent, reviewer string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fmt.Sprintf("r-%04d", len(f.requests)+1)
	now := time.Now()
	req := &igav1.AccessRequest{Id: id, RequesterEmail: person, BeneficiaryEmail: person, EntitlementId: ent, Emergency: true,
		Duration: durationpb.New(time.Hour), Justification: "SEV1 payments outage INC-3001", TicketRef: "INC-3001", Channel: "web", CreatedAt: timestamppb.New(now)}
	dec := &igav1.PolicyDecision{RequestId: id, Effect: igav1.Effect_EFFECT_ALLOW, GrantedDuration: req.Duration, DecidedAt: timestamppb.New(now),
		Reason: "Allowed as an emergency (break-glass) for at most 1h: on call. The grant will be reviewed after the fact.", BeneficiaryEmail: person, EntitlementId: ent,
		ReviewSteps: []*igav1.ApprovalStep{{Kind: igav1.ApproverKind_APPROVER_KIND_SECURITY, Stage: 1}}}
	g := &igav1.Grant{Id: "g-" + id, RequestId: id, PersonEmail: person, EntitlementId: ent, Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE,
		GrantedAt: timestamppb.New(now), ExpiresAt: timestamppb.New(now.Add(time.Hour)), Generation: 1}
	rv := &igav1.Approval{Id: id, RequestId: id, RequesterEmail: person, BeneficiaryEmail: person, EntitlementId: ent, Kind: igav1.ApprovalKind_APPROVAL_KIND_BREAK_GLASS_REVIEW,
		Steps: dec.ReviewSteps, CurrentStage: 1, Approvers: []string{reviewer}, Status: igav1.ApprovalStatus_APPROVAL_STATUS_PENDING,
		CreatedAt: timestamppb.New(now), Duration: req.Duration, Reason: dec.Reason}
	f.requests = append(f.requests, &igav1.RequestView{Request: req, Status: igav1.RequestStatus_REQUEST_STATUS_ACTIVE, Decision: dec, Approval: rv, Grant: g})
	f.approvals[id] = rv
	f.grants = append(f.grants, g)
	f.publishLocked("iga.evt.approval.review.requested", "iga.approval.review.requested.v1", "iga/approval", id,
		&igav1.BreakGlassReviewRequested{Review: rv, Request: req, Decision: dec})
	return id
}

type requests struct {
	igav1.UnimplementedRequestsServiceServer
	f *Fake
}

func (s requests) ListRequests(_ context.Context, in *igav1.ListRequestsRequest) (*igav1.ListRequestsResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	out := &igav1.ListRequestsResponse{}
	for _, v := range s.f.requests {
		r := v.GetRequest()
		if p := in.GetPersonEmail(); p == "" || r.GetRequesterEmail() == p || r.GetBeneficiaryEmail() == p {
			out.Requests = append(out.Requests, proto.Clone(v).(*igav1.RequestView))
		}
	}
	return out, nil
}

func (s requests) GetRequest(_ context.Context, in *igav1.GetRequestRequest) (*igav1.GetRequestResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	v := s.f.requestLocked(in.GetRequestId())
	if v == nil {
		return nil, status.Errorf(codes.NotFound, "no request %s", in.GetRequestId())
	}
	return &igav1.GetRequestResponse{Request: proto.Clone(v).(*igav1.RequestView)}, nil
}

// WithdrawRequest withdraws a pending request of its requester, as the approval service does.
func (s requests) WithdrawRequest(_ context.Context, in *igav1.WithdrawRequestRequest) (*igav1.WithdrawRequestResponse, error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	v := f.requestLocked(in.GetRequestId())
	if v == nil {
		return nil, status.Errorf(codes.NotFound, "no request %s", in.GetRequestId())
	}
	a, ok := f.approvals[in.GetRequestId()]
	switch {
	case in.GetRequesterEmail() != v.GetRequest().GetRequesterEmail():
		return nil, status.Error(codes.PermissionDenied, "only the person who asked can withdraw a request")
	case !ok || a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING:
		return nil, status.Error(codes.FailedPrecondition, "the request can no longer be withdrawn: it is not waiting for approval")
	}
	a.Status, a.Reason, a.DecidedAt = igav1.ApprovalStatus_APPROVAL_STATUS_WITHDRAWN, "withdrawn by "+in.GetRequesterEmail(), timestamppb.Now()
	v.Approval, v.Status = a, igav1.RequestStatus_REQUEST_STATUS_WITHDRAWN
	f.publishLocked("iga.evt.request.withdrawn", "iga.request.withdrawn.v1", "iga/approval", a.GetRequestId(),
		&igav1.RequestWithdrawn{RequestId: a.GetRequestId(), By: in.GetRequesterEmail(), Reason: in.GetReason(), WithdrawnAt: a.GetDecidedAt()})
	return &igav1.WithdrawRequestResponse{Request: proto.Clone(v).(*igav1.RequestView)}, nil
}

type approvals struct {
	igav1.UnimplementedApprovalServiceServer
	f *Fake
}

func (s approvals) ListApprovals(_ context.Context, in *igav1.ListApprovalsRequest) (*igav1.ListApprovalsResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	out := &igav1.ListApprovalsResponse{}
	for _, a := range s.f.approvals {
		if len(in.GetStatuses()) > 0 && !slices.Contains(in.GetStatuses(), a.GetStatus()) {
			continue
		}
		if p := in.GetApproverEmail(); p != "" && (a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING || !slices.Contains(a.GetApprovers(), p)) {
			continue
		}
		out.Approvals = append(out.Approvals, proto.Clone(a).(*igav1.Approval))
	}
	slices.SortFunc(out.Approvals, func(a, b *igav1.Approval) int { return strings.Compare(a.GetId(), b.GetId()) })
	return out, nil
}

func (s approvals) Decide(_ context.Context, in *igav1.DecideRequest) (*igav1.DecideResponse, error) {
	f := s.f
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.approvals[in.GetApprovalId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no approval %s", in.GetApprovalId())
	}
	who := in.GetApproverEmail()
	switch {
	case who == a.GetRequesterEmail() || who == a.GetBeneficiaryEmail():
		return nil, status.Error(codes.PermissionDenied, "you cannot approve your own request")
	case a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING:
		return nil, status.Errorf(codes.FailedPrecondition, "approval %s is already %s", a.GetId(), strings.ToLower(strings.TrimPrefix(a.GetStatus().String(), "APPROVAL_STATUS_")))
	case !slices.Contains(a.GetApprovers(), who):
		return nil, status.Errorf(codes.PermissionDenied, "%s is not an approver of this stage", who)
	}
	now := time.Now()
	a.Votes = append(a.Votes, &igav1.ApprovalVote{ApproverEmail: who, Approved: in.GetApprove(), Reason: in.GetReason(), Stage: a.GetCurrentStage(), DecidedAt: timestamppb.New(now)})
	a.DecidedAt = timestamppb.New(now)
	a.Reason = in.GetReason()
	view := f.requestLocked(a.GetRequestId())
	view.Approval = a
	if !in.GetApprove() {
		a.Status = igav1.ApprovalStatus_APPROVAL_STATUS_DENIED
		view.Status = igav1.RequestStatus_REQUEST_STATUS_DENIED
		f.publishLocked("iga.evt.approval.decided", "iga.approval.decided.v1", "iga/approval", a.GetRequestId(), &igav1.ApprovalDecided{Approval: a})
		f.publishLocked("iga.evt.request.denied", "iga.request.denied.v1", "iga/approval", a.GetRequestId(), &igav1.RequestDenied{RequestId: a.GetRequestId(), Reason: in.GetReason(), By: "approval"})
		return &igav1.DecideResponse{Approval: proto.Clone(a).(*igav1.Approval)}, nil
	}
	a.Status = igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED
	g := &igav1.Grant{Id: "g-" + a.GetRequestId(), RequestId: a.GetRequestId(), PersonEmail: a.GetBeneficiaryEmail(), EntitlementId: a.GetEntitlementId(),
		AppId: strings.SplitN(a.GetEntitlementId(), ":", 2)[0], Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE, GrantedAt: timestamppb.New(now),
		ExpiresAt: timestamppb.New(now.Add(a.GetDuration().AsDuration())), Generation: 1, Connector: igav1.ProvisioningMethod_PROVISIONING_METHOD_SCIM}
	f.grants = append(f.grants, g)
	view.Status = igav1.RequestStatus_REQUEST_STATUS_ACTIVE
	view.Grant = g
	f.publishLocked("iga.evt.approval.decided", "iga.approval.decided.v1", "iga/approval", a.GetRequestId(), &igav1.ApprovalDecided{Approval: a})
	f.publishLocked("iga.evt.grant.active", "iga.grant.active.v1", "iga/provisioner", a.GetRequestId(), &igav1.GrantChanged{Grant: g})
	f.noticeLocked(a.GetRequesterEmail(), &igav1.Reply{ReplyId: "notice-" + g.GetId(), Kind: igav1.ReplyKind_REPLY_KIND_NOTICE, RequestId: a.GetRequestId(),
		Text: fmt.Sprintf("Approved by %s. Granted %s until %s.", who, g.GetEntitlementId(), g.GetExpiresAt().AsTime().Format(time.RFC1123)), SentAt: timestamppb.New(now)})
	return &igav1.DecideResponse{Approval: proto.Clone(a).(*igav1.Approval)}, nil
}

type entitlements struct {
	igav1.UnimplementedEntitlementsServiceServer
	f *Fake
}

func (s entitlements) ListGrants(_ context.Context, in *igav1.ListGrantsRequest) (*igav1.ListGrantsResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	out := &igav1.ListGrantsResponse{}
	for _, g := range s.f.grants {
		if p := in.GetPersonEmail(); p != "" && g.GetPersonEmail() != p {
			continue
		}
		if !in.GetIncludeInactive() && g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE {
			continue
		}
		out.Grants = append(out.Grants, proto.Clone(g).(*igav1.Grant))
	}
	return out, nil
}

type events struct {
	igav1.UnimplementedEventsServiceServer
	f *Fake
}

func (s events) Watch(in *igav1.WatchRequest, stream grpc.ServerStreamingServer[igav1.WatchResponse]) error {
	f := s.f
	last := in.GetLast()
	if last == 0 {
		last = 50
	}
	match := func(ev *igav1.Envelope) bool {
		fl := in.GetSubjectFilter()
		if fl == "" {
			return true
		}
		if p, ok := strings.CutSuffix(fl, ">"); ok {
			return strings.HasPrefix(ev.GetSubject(), p)
		}
		return ev.GetSubject() == fl
	}
	live := make(chan *igav1.Envelope, 64)
	f.mu.Lock()
	var history []*igav1.Envelope
	for _, ev := range f.events {
		if match(ev) {
			history = append(history, ev)
		}
	}
	if uint64(len(history)) > last {
		history = history[uint64(len(history))-last:]
	}
	if in.GetFollow() {
		f.watchers[live] = struct{}{}
		defer func() {
			f.mu.Lock()
			delete(f.watchers, live)
			f.mu.Unlock()
		}()
	}
	f.mu.Unlock()
	for _, ev := range history {
		if err := stream.Send(&igav1.WatchResponse{Event: ev}); err != nil {
			return err
		}
	}
	if !in.GetFollow() {
		return nil
	}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case ev := <-live:
			if !match(ev) {
				continue
			}
			if err := stream.Send(&igav1.WatchResponse{Event: ev}); err != nil {
				return err
			}
		}
	}
}

type directory struct {
	igav1.UnimplementedDirectoryServiceServer
	f *Fake
}

func (s directory) GetPerson(_ context.Context, in *igav1.GetPersonRequest) (*igav1.GetPersonResponse, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	p, ok := s.f.people[strings.ToLower(in.GetEmail())]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no one with the email %s in the directory", in.GetEmail())
	}
	return &igav1.GetPersonResponse{Person: proto.Clone(p).(*igav1.Person)}, nil
}
