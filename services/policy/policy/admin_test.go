package policy

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// A policy server built without a workbench says so, instead of answering nothing.
func TestAdminWithoutWorkbenchIsUnimplemented(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	if _, err := h.admin.TestPolicy(ctx, &igav1.TestPolicyRequest{TestsYaml: "tests: []"}); status.Code(err) != codes.Unimplemented {
		t.Errorf("TestPolicy: %v, want Unimplemented", err)
	}
	if _, err := h.admin.SimulatePolicy(ctx, &igav1.SimulatePolicyRequest{PolicyYaml: "rules: []"}); status.Code(err) != codes.Unimplemented {
		t.Errorf("SimulatePolicy: %v, want Unimplemented", err)
	}
}
