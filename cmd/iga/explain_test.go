package main

import (
	"bytes"
	"strings"
	"testing"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// The matched rules line up in columns whatever the length of a rule id, and the
// approvals show their quorum.
func TestExplanationColumnsAndQuorum(t *testing.T) {
	d := &igav1.PolicyDecision{
		Effect: igav1.Effect_EFFECT_REQUIRE_APPROVAL, Reason: "Needs approval: two of the CAB.", PolicyVersion: "sha256:x",
		ApprovalSteps: []*igav1.ApprovalStep{
			{Kind: igav1.ApproverKind_APPROVER_KIND_MANAGER, Stage: 1},
			{Kind: igav1.ApproverKind_APPROVER_KIND_GROUP, Group: "cab", Stage: 2, Quorum: 2},
		},
		MatchedRules: []*igav1.RuleMatch{
			{RuleId: "r", Effect: igav1.Effect_EFFECT_ALLOW, Reason: "short id", Source: "policy.yaml:9"},
			{RuleId: "a-very-long-rule-identifier-that-overflows-any-fixed-column", Effect: igav1.Effect_EFFECT_REQUIRE_APPROVAL,
				Reason: "long id", Source: "policy.yaml:120"},
		},
	}
	var out bytes.Buffer
	writeExplanation(&out, d)
	if !strings.Contains(out.String(), "approvals: manager@1, group:cab@2 x2\n") {
		t.Errorf("approvals without their quorum:\n%s", out.String())
	}
	col := func(prefix, word string) int {
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(line, prefix) {
				return strings.Index(line, word)
			}
		}
		t.Fatalf("no line starts with %q:\n%s", prefix, out.String())
		return 0
	}
	if a, b := col("  policy.yaml:9 ", "short id"), col("  policy.yaml:120", "long id"); a != b || a < 0 {
		t.Errorf("reasons start at columns %d and %d:\n%s", a, b, out.String())
	}
	if a, b := col("  policy.yaml:9 ", "allow"), col("  policy.yaml:120", "require_approval"); a != b {
		t.Errorf("effects start at columns %d and %d:\n%s", a, b, out.String())
	}
}
