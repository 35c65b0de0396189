package policy

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

func TestHoldingsJoinTheRecordsOfARequest(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	h := newHoldings(func() time.Time { return now })
	put := func(read func(string, []byte) fact, key string, m proto.Message) {
		data, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		h.update(read(key, data))
	}
	const dana = "dana.reyes@acme.example"
	check := func(step, wantHeld, wantPending string) {
		t.Helper()
		held, pending := h.of(dana, "")
		if got := strings.Join(held, ","); got != wantHeld {
			t.Errorf("%s: held %q, want %q", step, got, wantHeld)
		}
		if got := strings.Join(pending, ","); got != wantPending {
			t.Errorf("%s: pending %q, want %q", step, got, wantPending)
		}
	}
	check("nothing yet", "", "")

	put(decisionFact, "r1", &igav1.PolicyDecision{RequestId: "r1", Effect: igav1.Effect_EFFECT_REQUIRE_APPROVAL,
		BeneficiaryEmail: dana, EntitlementId: "netsuite:ap-clerk", DecidedAt: timestamppb.New(now.Add(-time.Minute))})
	put(decisionFact, "r2", &igav1.PolicyDecision{RequestId: "r2", Effect: igav1.Effect_EFFECT_DENY,
		BeneficiaryEmail: dana, EntitlementId: "stripe:admin", DecidedAt: timestamppb.New(now)})
	put(decisionFact, "r3", &igav1.PolicyDecision{RequestId: "r3", Effect: igav1.Effect_EFFECT_ALLOW,
		BeneficiaryEmail: dana, EntitlementId: "grafana:viewer", DecidedAt: timestamppb.New(now.Add(-48 * time.Hour))})
	check("decided, nothing after", "", "netsuite:ap-clerk")

	put(approvalFact, "r1", &igav1.Approval{RequestId: "r1", BeneficiaryEmail: dana, EntitlementId: "netsuite:ap-clerk",
		Status: igav1.ApprovalStatus_APPROVAL_STATUS_APPROVED})
	check("approved", "", "netsuite:ap-clerk")

	put(grantFact, "g-r1", &igav1.Grant{Id: "g-r1", RequestId: "r1", PersonEmail: dana, EntitlementId: "netsuite:ap-clerk",
		Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE})
	check("granted", "netsuite:ap-clerk", "")
	if held, pending := h.of(dana, "r1"); len(held) != 1 || len(pending) != 0 {
		t.Errorf("held access of the request being decided still counts as held: %v %v", held, pending)
	}

	put(grantFact, "g-r1", &igav1.Grant{Id: "g-r1", RequestId: "r1", PersonEmail: dana, EntitlementId: "netsuite:ap-clerk",
		Status: igav1.GrantStatus_GRANT_STATUS_REVOKED})
	check("revoked", "", "")

	put(approvalFact, "r4", &igav1.Approval{RequestId: "r4", BeneficiaryEmail: dana, EntitlementId: "netsuite:ap-approver",
		Status: igav1.ApprovalStatus_APPROVAL_STATUS_PENDING})
	check("another pending", "", "netsuite:ap-approver")
	if _, pending := h.of(dana, "r4"); len(pending) != 0 {
		t.Errorf("a request is pending against itself: %v", pending)
	}
	put(approvalFact, "r4", &igav1.Approval{RequestId: "r4", BeneficiaryEmail: dana, EntitlementId: "netsuite:ap-approver",
		Status: igav1.ApprovalStatus_APPROVAL_STATUS_DENIED})
	check("denied", "", "")

	put(grantFact, "g-manual", &igav1.Grant{Id: "g-manual", PersonEmail: dana, EntitlementId: "bank-portal:payment-approver",
		Status: igav1.GrantStatus_GRANT_STATUS_ACTIVE})
	check("grant without a request", "bank-portal:payment-approver", "")
	h.update(grantFact("g-manual", nil))
	check("grant deleted", "", "")
}
