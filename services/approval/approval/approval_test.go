package approval_test

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/approval/approval"
)

func TestAllowedRequestCommandsTheGrant(t *testing.T) {
	h := newHarness(t)
	req := newRequest("r-allow", dana, dana, "grafana:payments-viewer")
	h.submit(t, req, "submitted-r-allow")

	var cmd igav1.ProvisionGrant
	m := h.last(t, bus.StreamCommands, approval.SubjectProvisionGrant, &cmd)
	if cmd.GetRequestId() != "r-allow" || m.ID != "grant-cmd-r-allow" || m.RequestID != "r-allow" {
		t.Errorf("grant command = %v, meta id %q request %q", &cmd, m.ID, m.RequestID)
	}
	if m.CausationID != "submitted-r-allow" {
		t.Errorf("causation = %q, want the submitted event", m.CausationID)
	}
	var reply igav1.Reply
	h.last(t, bus.StreamReplies, replySubject("r-allow"), &reply)
	if reply.GetKind() != igav1.ReplyKind_REPLY_KIND_NOTICE || reply.GetRequestId() != "r-allow" ||
		reply.GetText() != "Approved automatically by policy: read access to low-risk dashboards is pre-approved. Provisioning now." {
		t.Errorf("reply = %v", &reply)
	}
	h.idle(t)
	if n := h.count(t, bus.StreamEvents, approval.SubjectApprovalRequested); n != 0 {
		t.Errorf("%d approvals requested for an allowed request", n)
	}
	v, err := h.requests.GetRequest(ctxT(t), &igav1.GetRequestRequest{RequestId: "r-allow"})
	if err != nil {
		t.Fatal(err)
	}
	if v.GetRequest().GetStatus() != igav1.RequestStatus_REQUEST_STATUS_APPROVED || v.GetRequest().GetDecision().GetEffect() != igav1.Effect_EFFECT_ALLOW {
		t.Errorf("view = %v", v.GetRequest())
	}
}

func TestDeniedRequestIsDeniedWithRemediation(t *testing.T) {
	h := newHarness(t)
	h.submit(t, newRequest("r-deny", dana, dana, "stripe:admin"), "submitted-r-deny")

	var denied igav1.RequestDenied
	m := h.last(t, bus.StreamEvents, approval.SubjectRequestDenied, &denied)
	if denied.GetRequestId() != "r-deny" || denied.GetBy() != "policy" || !strings.Contains(denied.GetReason(), "payments platform team") {
		t.Errorf("denied = %v", &denied)
	}
	if m.ID != "request-denied-r-deny" {
		t.Errorf("id = %q", m.ID)
	}
	var reply igav1.Reply
	h.last(t, bus.StreamReplies, replySubject("r-deny"), &reply)
	want := "Your request for Stripe admin was denied: Stripe admin is reserved for the payments platform team. To become eligible: join the payments-platform group."
	if reply.GetText() != want || reply.GetKind() != igav1.ReplyKind_REPLY_KIND_NOTICE {
		t.Errorf("reply = %q, want %q", reply.GetText(), want)
	}
	h.idle(t)
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 0 {
		t.Errorf("%d grant commands for a denied request", n)
	}
}

func TestUnknownEntitlementIsDeniedNotRetried(t *testing.T) {
	h := newHarness(t)
	h.submit(t, newRequest("r-bogus", dana, dana, "nope:admin"), "submitted-r-bogus")
	var denied igav1.RequestDenied
	h.last(t, bus.StreamEvents, approval.SubjectRequestDenied, &denied)
	if !strings.Contains(denied.GetReason(), `entitlement "nope:admin" is not in the catalog`) {
		t.Errorf("reason = %q", denied.GetReason())
	}
	h.idle(t)
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 0 {
		t.Errorf("%d grant commands", n)
	}
}

func TestManagerApprovalFlow(t *testing.T) {
	h := newHarness(t)
	ctx := ctxT(t)
	h.submit(t, newRequest("r-mgr", dana, dana, "snowflake:analyst"), "submitted-r-mgr")

	var requested igav1.ApprovalRequested
	m := h.last(t, bus.StreamEvents, approval.SubjectApprovalRequested, &requested)
	a := requested.GetApproval()
	if a.GetId() != "r-mgr" || a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING || !slices.Equal(a.GetApprovers(), []string{marco}) ||
		a.GetCurrentStage() != 1 || a.GetRequesterEmail() != dana {
		t.Fatalf("approval requested = %v", a)
	}
	if m.ID != "approval-requested-r-mgr-1" {
		t.Errorf("event id = %q", m.ID)
	}
	var reply igav1.Reply
	h.last(t, bus.StreamReplies, replySubject("r-mgr"), &reply)
	if reply.GetText() != "Waiting for approval from Marco Bianchi (manager)." {
		t.Errorf("reply = %q", reply.GetText())
	}

	// Who may decide it now.
	list, err := h.approvals.ListApprovals(ctx, &igav1.ListApprovalsRequest{ApproverEmail: marco})
	if err != nil || len(list.GetApprovals()) != 1 || list.GetApprovals()[0].GetId() != "r-mgr" {
		t.Fatalf("marco's approvals = %v, %v", list, err)
	}
	for _, who := range []string{dana, lee} {
		list, err := h.approvals.ListApprovals(ctx, &igav1.ListApprovalsRequest{ApproverEmail: who})
		if err != nil || len(list.GetApprovals()) != 0 {
			t.Errorf("%s may decide %v, %v", who, list, err)
		}
	}

	// The wrong person, the requester herself, and an unknown approval are refused.
	_, err = h.decide(t, "r-mgr", lee, true)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "waits for Marco Bianchi") {
		t.Errorf("stranger: %v", err)
	}
	_, err = h.decide(t, "r-mgr", dana, true)
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "requested this access; someone else must approve it") {
		t.Errorf("self-approval: %v", err)
	}
	_, err = h.decide(t, "r-nope", marco, true)
	if status.Code(err) != codes.NotFound {
		t.Errorf("unknown approval: %v", err)
	}
	_, err = h.decide(t, "r-mgr", "", true)
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("no approver: %v", err)
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 0 {
		t.Fatalf("%d grant commands before approval", n)
	}

	// The manager approves: decided, and the grant is commanded.
	got, err := h.decide(t, "r-mgr", "Marco.Bianchi@acme.example", true)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED || len(got.GetVotes()) != 1 {
		t.Fatalf("after approval = %v", got)
	}
	var decided igav1.ApprovalDecided
	m = h.last(t, bus.StreamEvents, approval.SubjectApprovalDecided, &decided)
	if decided.GetApproval().GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED || m.ID != "approval-decided-r-mgr" {
		t.Errorf("decided = %v (%s)", decided.GetApproval(), m.ID)
	}
	var cmd igav1.ProvisionGrant
	m = h.last(t, bus.StreamCommands, approval.SubjectProvisionGrant, &cmd)
	if cmd.GetRequestId() != "r-mgr" || m.ID != "grant-cmd-r-mgr" {
		t.Errorf("grant command = %v (%s)", &cmd, m.ID)
	}
	h.last(t, bus.StreamReplies, replySubject("r-mgr"), &reply)
	if reply.GetText() != "Approved by Marco Bianchi. Provisioning now." {
		t.Errorf("reply = %q", reply.GetText())
	}

	// A retried decision changes nothing and publishes nothing new; a change of mind is refused.
	again, err := h.decide(t, "r-mgr", marco, true)
	if err != nil || again.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED || len(again.GetVotes()) != 1 {
		t.Errorf("retry = %v, %v", again, err)
	}
	if _, err := h.decide(t, "r-mgr", marco, false); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("change of mind: %v", err)
	}
	if _, err := h.decide(t, "r-mgr", olivia, false); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("decide after the end: %v", err)
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 1 {
		t.Errorf("%d grant commands, want 1", n)
	}
	if n := h.count(t, bus.StreamEvents, approval.SubjectApprovalDecided); n != 1 {
		t.Errorf("%d approval.decided events, want 1", n)
	}

	v, err := h.requests.GetRequest(ctx, &igav1.GetRequestRequest{RequestId: "r-mgr"})
	if err != nil || v.GetRequest().GetStatus() != igav1.RequestStatus_REQUEST_STATUS_APPROVED ||
		v.GetRequest().GetApproval().GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED {
		t.Errorf("view = %v, %v", v, err)
	}
}

func TestApproverDenies(t *testing.T) {
	h := newHarness(t)
	h.submit(t, newRequest("r-no", dana, dana, "snowflake:analyst"), "submitted-r-no")
	h.approval(t, "r-no")
	h.idle(t)
	got, err := h.decide(t, "r-no", marco, false)
	if err != nil || got.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_DENIED {
		t.Fatalf("deny = %v, %v", got, err)
	}
	var decided igav1.ApprovalDecided
	h.last(t, bus.StreamEvents, approval.SubjectApprovalDecided, &decided)
	var denied igav1.RequestDenied
	h.last(t, bus.StreamEvents, approval.SubjectRequestDenied, &denied)
	if denied.GetBy() != "approval" || denied.GetReason() != "Denied by Marco Bianchi: checked the ticket" {
		t.Errorf("denied = %v", &denied)
	}
	var reply igav1.Reply
	h.last(t, bus.StreamReplies, replySubject("r-no"), &reply)
	if reply.GetText() != "Your request for Snowflake analyst was not approved. Denied by Marco Bianchi: checked the ticket." {
		t.Errorf("reply = %q", reply.GetText())
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 0 {
		t.Errorf("%d grant commands after a denial", n)
	}
	v, err := h.requests.GetRequest(ctxT(t), &igav1.GetRequestRequest{RequestId: "r-no"})
	if err != nil || v.GetRequest().GetStatus() != igav1.RequestStatus_REQUEST_STATUS_DENIED {
		t.Errorf("view = %v, %v", v, err)
	}
}

func TestTwoStageApproval(t *testing.T) {
	h := newHarness(t)
	h.submit(t, newRequest("r-two", sam, sam, "aws-prod:admin"), "submitted-r-two")
	a := h.approval(t, "r-two")
	if a.GetCurrentStage() != 1 || !slices.Equal(a.GetApprovers(), []string{priya}) {
		t.Fatalf("stage 1 = %v", a)
	}
	h.idle(t)
	if _, err := h.decide(t, "r-two", lee, true); status.Code(err) != codes.PermissionDenied {
		t.Errorf("security before the manager: %v", err)
	}
	got, err := h.decide(t, "r-two", priya, true)
	if err != nil {
		t.Fatal(err)
	}
	if got.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING || got.GetCurrentStage() != 2 || !slices.Equal(got.GetApprovers(), []string{kai, lee}) {
		t.Fatalf("stage 2 = %v", got)
	}
	var requested igav1.ApprovalRequested
	m := h.last(t, bus.StreamEvents, approval.SubjectApprovalRequested, &requested)
	if m.ID != "approval-requested-r-two-2" || requested.GetApproval().GetCurrentStage() != 2 {
		t.Errorf("stage 2 requested = %v (%s)", requested.GetApproval(), m.ID)
	}
	var reply igav1.Reply
	h.last(t, bus.StreamReplies, replySubject("r-two"), &reply)
	if reply.GetText() != "Approved by Priya Nair. Now waiting for approval from any of Kai Tanaka, Lee Kim (security)." {
		t.Errorf("reply = %q", reply.GetText())
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 0 {
		t.Fatalf("%d grant commands after one stage", n)
	}
	got, err = h.decide(t, "r-two", lee, true)
	if err != nil || got.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED {
		t.Fatalf("stage 2 decision = %v, %v", got, err)
	}
	var cmd igav1.ProvisionGrant
	h.last(t, bus.StreamCommands, approval.SubjectProvisionGrant, &cmd)
	if cmd.GetRequestId() != "r-two" {
		t.Errorf("grant command = %v", &cmd)
	}
	if n := h.count(t, bus.StreamEvents, approval.SubjectApprovalRequested); n != 2 {
		t.Errorf("%d approval.requested events, want one per stage", n)
	}
}

func TestRedeliveredSubmissionIsIdempotent(t *testing.T) {
	h := newHarness(t)
	ctx := ctxT(t)
	// Two deliveries of the same submission, as after a redelivery past the dedup window.
	for _, id := range []string{"r-dup", "r-dup-allow"} {
		ent := "snowflake:analyst"
		if id == "r-dup-allow" {
			ent = "grafana:payments-viewer"
		}
		req := newRequest(id, dana, dana, ent)
		h.submit(t, req, "first-"+id)
		h.idle(t)
		h.submit(t, req, "second-"+id)
		h.idle(t)
	}
	list, err := h.approvals.ListApprovals(ctx, &igav1.ListApprovalsRequest{})
	if err != nil || len(list.GetApprovals()) != 1 {
		t.Fatalf("approvals = %v, %v; want one", list, err)
	}
	if n := h.count(t, bus.StreamEvents, approval.SubjectApprovalRequested); n != 1 {
		t.Errorf("%d approval.requested events, want 1", n)
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 1 {
		t.Errorf("%d grant commands, want 1", n)
	}
	if n := h.count(t, bus.StreamReplies, replySubject("r-dup")); n != 1 {
		t.Errorf("%d replies, want 1", n)
	}
	if n := h.policy.calls.Load(); n != 4 {
		t.Errorf("policy called %d times, want 4 (recorded once each)", n)
	}
}

func TestPolicyUnavailableIsRetried(t *testing.T) {
	h := newHarness(t)
	h.policy.down.Store(2)
	h.submit(t, newRequest("r-retry", dana, dana, "snowflake:analyst"), "submitted-r-retry")
	a := h.approval(t, "r-retry")
	if a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_PENDING {
		t.Errorf("approval = %v", a)
	}
	if n := h.policy.calls.Load(); n < 3 {
		t.Errorf("policy called %d times, want retries", n)
	}
	h.idle(t)
	if n := h.count(t, bus.StreamEvents, bus.DeadLetterSubject(approval.DurableRequests)); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

func TestNoManagerIsDeniedNeverGranted(t *testing.T) {
	h := newHarness(t)
	h.submit(t, newRequest("r-orphan", ivy, ivy, "netsuite:ap-approver"), "submitted-r-orphan")
	a := h.approval(t, "r-orphan")
	if a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_DENIED || !strings.Contains(a.GetReason(), "Ivy Owens has no manager in the directory") {
		t.Fatalf("approval = %v", a)
	}
	var denied igav1.RequestDenied
	h.last(t, bus.StreamEvents, approval.SubjectRequestDenied, &denied)
	if denied.GetBy() != "approval" || !strings.Contains(denied.GetReason(), "no one may approve it") {
		t.Errorf("denied = %v", &denied)
	}
	h.idle(t)
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 0 {
		t.Errorf("%d grant commands", n)
	}
	if _, err := h.decide(t, "r-orphan", marco, true); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("approving a denied request: %v", err)
	}
	v, err := h.requests.GetRequest(ctxT(t), &igav1.GetRequestRequest{RequestId: "r-orphan"})
	if err != nil || v.GetRequest().GetStatus() != igav1.RequestStatus_REQUEST_STATUS_DENIED {
		t.Errorf("view = %v, %v", v, err)
	}
}

func TestManagerAskingForAReportEscalates(t *testing.T) {
	h := newHarness(t)
	h.submit(t, newRequest("r-onbehalf", marco, dana, "snowflake:analyst"), "submitted-r-onbehalf")
	a := h.approval(t, "r-onbehalf")
	if !slices.Equal(a.GetApprovers(), []string{olivia}) {
		t.Fatalf("approvers = %v, want the manager's manager", a.GetApprovers())
	}
	var reply igav1.Reply
	h.last(t, bus.StreamReplies, replySubject("r-onbehalf"), &reply)
	if !strings.HasPrefix(reply.GetText(), "Waiting for approval from Olivia Chen (manager's manager) (escalated from the manager because Marco Bianchi (manager) is the requester)") {
		t.Errorf("reply = %q", reply.GetText())
	}
	h.idle(t)
	for _, who := range []string{marco, dana} {
		if _, err := h.decide(t, "r-onbehalf", who, true); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s approving: %v", who, err)
		}
	}
	if got, err := h.decide(t, "r-onbehalf", olivia, true); err != nil || got.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED {
		t.Errorf("olivia: %v, %v", got, err)
	}
}

func TestRequirements(t *testing.T) {
	h := newHarness(t)
	ctx := ctxT(t)
	resp, err := h.approvals.Requirements(ctx, &igav1.RequirementsRequest{Request: newRequest("q1", sam, sam, "aws-prod:admin")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDecision().GetEffect() != igav1.Effect_EFFECT_REQUIRE_APPROVAL || len(resp.GetStages()) != 2 {
		t.Fatalf("requirements = %v", resp)
	}
	if d := resp.GetStages()[0].GetDescription(); d != "manager: Priya Nair" {
		t.Errorf("stage 1 = %q", d)
	}
	if d := resp.GetStages()[1].GetDescription(); d != "security: Kai Tanaka, Lee Kim (1 of 2)" {
		t.Errorf("stage 2 = %q", d)
	}
	resp, err = h.approvals.Requirements(ctx, &igav1.RequirementsRequest{Request: newRequest("q2", ivy, ivy, "netsuite:ap-approver")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDecision().GetEffect() != igav1.Effect_EFFECT_DENY || !strings.Contains(resp.GetDecision().GetReason(), "no manager") || len(resp.GetStages()) != 0 {
		t.Errorf("no-manager requirements = %v", resp)
	}
	if _, _, err := h.policy.decisions.Get(ctx, "q1"); err == nil {
		t.Error("Requirements recorded a decision")
	}
	h.policy.down.Store(1)
	if _, err := h.approvals.Requirements(ctx, &igav1.RequirementsRequest{Request: newRequest("q3", sam, sam, "aws-prod:admin")}); status.Code(err) != codes.Unavailable {
		t.Errorf("policy down: %v", err)
	}
	if _, err := h.approvals.Requirements(ctx, &igav1.RequirementsRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no request: %v", err)
	}
}

// A break-glass allow names who will review it after the fact; one nobody may review is
// the denial it would get.
func TestRequirementsOfAnEmergencyNameItsReviewers(t *testing.T) {
	h := newHarness(t)
	ctx := ctxT(t)
	resp, err := h.approvals.Requirements(ctx, &igav1.RequirementsRequest{Request: newRequest("q-bg", sam, sam, "vault:break-glass")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDecision().GetEffect() != igav1.Effect_EFFECT_ALLOW || len(resp.GetStages()) != 0 || len(resp.GetReviewStages()) == 0 {
		t.Fatalf("requirements of an emergency = %v", resp)
	}
	for _, st := range resp.GetReviewStages() {
		if slices.Contains(st.GetApprovers(), sam) || st.GetDescription() == "" {
			t.Errorf("review stage %v", st)
		}
	}
	resp, err = h.approvals.Requirements(ctx, &igav1.RequirementsRequest{Request: newRequest("q-bg2", sam, sam, "vault:unreviewable")})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetDecision().GetEffect() != igav1.Effect_EFFECT_DENY || !strings.Contains(resp.GetDecision().GetReason(), "no one may review it") {
		t.Errorf("unreviewable emergency = %v", resp)
	}
}

func TestListRequestsJoinsRecordsNewestFirst(t *testing.T) {
	h := newHarness(t)
	ctx := ctxT(t)
	for _, r := range []*igav1.AccessRequest{
		newRequest("a-1", dana, dana, "grafana:payments-viewer"),
		newRequest("a-2", dana, dana, "snowflake:analyst"),
		newRequest("a-3", sam, sam, "stripe:admin"),
	} {
		h.submit(t, r, "submitted-"+r.GetId())
		h.idle(t)
	}
	// The provisioner's ledger entry for the allowed one.
	if _, err := h.grants.Put(ctx, approval.GrantID("a-1"), &igav1.Grant{Id: approval.GrantID("a-1"), RequestId: "a-1",
		Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE}); err != nil {
		t.Fatal(err)
	}
	resp, err := h.requests.ListRequests(ctx, &igav1.ListRequestsRequest{PersonEmail: "DANA.REYES@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range resp.GetRequests() {
		got = append(got, v.GetRequest().GetId()+"="+v.GetStatus().String())
	}
	want := []string{"a-2=REQUEST_STATUS_PENDING_APPROVAL", "a-1=REQUEST_STATUS_ACTIVE"}
	if !slices.Equal(got, want) {
		t.Errorf("dana's requests = %v, want %v", got, want)
	}
	all, err := h.requests.ListRequests(ctx, &igav1.ListRequestsRequest{})
	if err != nil || len(all.GetRequests()) != 3 || all.GetRequests()[0].GetStatus() != igav1.RequestStatus_REQUEST_STATUS_DENIED {
		t.Errorf("all requests = %v, %v", all, err)
	}
	if _, err := h.requests.GetRequest(ctx, &igav1.GetRequestRequest{RequestId: "missing"}); status.Code(err) != codes.NotFound {
		t.Errorf("missing request: %v", err)
	}
}

func TestStatusDerivation(t *testing.T) {
	allow := &igav1.PolicyDecision{Effect: igav1.Effect_EFFECT_ALLOW}
	needs := &igav1.PolicyDecision{Effect: igav1.Effect_EFFECT_REQUIRE_APPROVAL}
	pending := &igav1.Approval{Status: igav1.ApprovalStatus_APPROVAL_STATUS_PENDING}
	expired := &igav1.Approval{Status: igav1.ApprovalStatus_APPROVAL_STATUS_EXPIRED}
	tests := []struct {
		d    *igav1.PolicyDecision
		a    *igav1.Approval
		g    *igav1.Grant
		want igav1.RequestStatus
	}{
		{nil, nil, nil, igav1.RequestStatus_REQUEST_STATUS_SUBMITTED},
		{allow, nil, nil, igav1.RequestStatus_REQUEST_STATUS_APPROVED},
		{&igav1.PolicyDecision{Effect: igav1.Effect_EFFECT_DENY}, nil, nil, igav1.RequestStatus_REQUEST_STATUS_DENIED},
		{needs, nil, nil, igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL},
		{needs, pending, nil, igav1.RequestStatus_REQUEST_STATUS_PENDING_APPROVAL},
		{needs, expired, nil, igav1.RequestStatus_REQUEST_STATUS_DENIED},
		{allow, nil, &igav1.Grant{Status: igav1.GrantStatus_GRANT_STATUS_PENDING}, igav1.RequestStatus_REQUEST_STATUS_APPROVED},
		{allow, nil, &igav1.Grant{Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE}, igav1.RequestStatus_REQUEST_STATUS_ACTIVE},
		{allow, nil, &igav1.Grant{Status: igav1.GrantStatus_GRANT_STATUS_REVOKED}, igav1.RequestStatus_REQUEST_STATUS_REVOKED},
		{allow, nil, &igav1.Grant{Status: igav1.GrantStatus_GRANT_STATUS_FAILED}, igav1.RequestStatus_REQUEST_STATUS_FAILED},
	}
	for _, tc := range tests {
		if got := approval.Status(tc.d, tc.a, tc.g); got != tc.want {
			t.Errorf("Status(%v, %v, %v) = %v, want %v", tc.d.GetEffect(), tc.a.GetStatus(), tc.g.GetStatus(), got, tc.want)
		}
	}
}

func TestBadInputGetsAClearAnswer(t *testing.T) {
	h := newHarness(t)
	ctx := ctxT(t)
	// A submission whose request was never stored, and one that is not a protobuf at all,
	// are dead-lettered at once; nothing is granted.
	if _, err := h.bus.Publish(ctx, approval.SubjectRequestSubmitted, &igav1.RequestSubmitted{Request: newRequest("r-ghost", dana, dana, "grafana:payments-viewer")},
		bus.WithID("submitted-r-ghost")); err != nil {
		t.Fatal(err)
	}
	if err := h.bus.Conn().Publish(approval.SubjectRequestSubmitted, []byte("\xff\xff not protobuf")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "two dead letters", func() bool {
		return h.count(t, bus.StreamEvents, bus.DeadLetterSubject(approval.DurableRequests)) == 2
	})
	var dl igav1.DeadLetter
	h.last(t, bus.StreamEvents, bus.DeadLetterSubject(approval.DurableRequests), &dl)
	if dl.GetDeliveries() != 1 {
		t.Errorf("dead letter after %d deliveries, want at once", dl.GetDeliveries())
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 0 {
		t.Errorf("%d grant commands", n)
	}
	for _, id := range []string{"no spaces allowed", "..", "a*b"} {
		if _, err := h.decide(t, id, marco, true); status.Code(err) != codes.InvalidArgument && status.Code(err) != codes.NotFound {
			t.Errorf("decide %q: %v", id, err)
		}
		if _, err := h.requests.GetRequest(ctx, &igav1.GetRequestRequest{RequestId: id}); status.Code(err) != codes.InvalidArgument && status.Code(err) != codes.NotFound {
			t.Errorf("get %q: %v", id, err)
		}
	}
	if _, err := h.requests.GetRequest(ctx, &igav1.GetRequestRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("get without id: %v", err)
	}
}

func TestRepairFinishesHalfDoneWork(t *testing.T) {
	h := newHarness(t)
	ctx := ctxT(t)
	// Records written before a crash, with nothing announced: an approved approval without
	// its grant command, and a pending one without a timer.
	for _, a := range []*igav1.Approval{
		{Id: "r-crashed", RequestId: "r-crashed", RequesterEmail: dana, BeneficiaryEmail: dana, EntitlementId: "snowflake:analyst",
			Steps: policyRules["snowflake:analyst"].GetApprovalSteps(), CurrentStage: 1, Approvers: []string{marco},
			Status: igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED, Reason: "Approved by Marco Bianchi", CreatedAt: timestamppb.Now()},
		{Id: "r-timerless", RequestId: "r-timerless", RequesterEmail: dana, BeneficiaryEmail: dana, EntitlementId: "snowflake:analyst",
			Steps: policyRules["snowflake:analyst"].GetApprovalSteps(), CurrentStage: 1, Approvers: []string{marco},
			Status: igav1.ApprovalStatus_APPROVAL_STATUS_PENDING, CreatedAt: timestamppb.Now()},
	} {
		if _, err := h.apprStore.Create(ctx, a.GetId(), a); err != nil {
			t.Fatal(err)
		}
	}
	// Already granted: nothing to repair.
	done := &igav1.Approval{Id: "r-granted", RequestId: "r-granted", Status: igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED}
	if _, err := h.apprStore.Create(ctx, "r-granted", done); err != nil {
		t.Fatal(err)
	}
	if _, err := h.grants.Put(ctx, approval.GrantID("r-granted"), &igav1.Grant{Id: approval.GrantID("r-granted"), RequestId: "r-granted",
		Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := h.svc.Repair(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var cmd igav1.ProvisionGrant
	m := h.last(t, bus.StreamCommands, approval.SubjectProvisionGrant, &cmd)
	if cmd.GetRequestId() != "r-crashed" || m.ID != "grant-cmd-r-crashed" {
		t.Errorf("grant command = %v (%s)", &cmd, m.ID)
	}
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 1 {
		t.Errorf("%d grant commands, want 1", n)
	}
	var timer igav1.ApprovalTimer
	h.last(t, bus.StreamSchedules, approval.ScheduleSubject("r-timerless"), &timer)
	if timer.GetStage() != 1 || !slices.Equal(timer.GetApprovers(), []string{marco}) {
		t.Errorf("timer = %v", &timer)
	}
}

func TestConcurrentQuorumVotesAreAllCounted(t *testing.T) {
	h := newHarness(t)
	h.submit(t, newRequest("r-quorum", sam, sam, "aws-prod:poweruser"), "submitted-r-quorum")
	h.approval(t, "r-quorum")
	h.idle(t)
	errs := make(chan error, 2)
	for _, who := range []string{lee, kai} {
		go func() { _, err := h.decide(t, "r-quorum", who, true); errs <- err }()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	a := h.approval(t, "r-quorum")
	if a.GetStatus() != igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED || len(a.GetVotes()) != 2 {
		t.Fatalf("approval = %v", a)
	}
	var cmd igav1.ProvisionGrant
	h.last(t, bus.StreamCommands, approval.SubjectProvisionGrant, &cmd)
	if n := h.count(t, bus.StreamCommands, approval.SubjectProvisionGrant); n != 1 {
		t.Errorf("%d grant commands, want 1", n)
	}
}
