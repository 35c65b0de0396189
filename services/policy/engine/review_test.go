package engine

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// An emergency grant always names its after-the-fact reviewers: the security group
// unless break_glass.review says otherwise, and never for a request that was not allowed
// through the emergency path.
func TestBreakGlassReviewers(t *testing.T) {
	const rules = `rules:
  - id: prod-needs-approval
    match: {tags: [prod]}
    effect: require_approval
    approvals: [{kind: manager}]
    reason: Production needs your manager.
`
	const bg = `break_glass:
  when: '"oncall" in person.groups'
  max_duration: 1h
  reason: On-call engineers may take emergency access.
`
	emergency := Request{Emergency: true, Justification: "SEV1 outage INC-1"}
	tests := []struct {
		name   string
		yaml   string
		req    Request
		person Person
		want   []string
	}{
		{"security by default", rules + bg, emergency, sam, []string{"security@1"}},
		{"policy adds the manager", rules + bg + "  review: [{kind: security}, {kind: manager}]\n", emergency, sam, []string{"security@1", "manager@1"}},
		{"staged review with a group", rules + bg + "  review: [{kind: 'group:soc', stage: 1}, {kind: security, stage: 2}]\n", emergency, sam, []string{"group:soc@1", "security@2"}},
		{"no emergency, no review", rules + bg, Request{Justification: "routine"}, sam, nil},
		{"not admitted, no review", rules + bg, emergency, jo, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse("policy.yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			d := p.Evaluate(input(tc.person, "aws-prod:poweruser", tc.req))
			var got []string
			for _, s := range d.ReviewSteps {
				got = append(got, fmt.Sprintf("%s@%d", s, s.Stage))
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("review steps %v, want %v (decision %v: %s)", got, tc.want, d.Effect, d.Reason)
			}
			if d.BreakGlass != (len(tc.want) > 0) {
				t.Fatalf("break-glass %v with review steps %v", d.BreakGlass, got)
			}
		})
	}
}

func TestBreakGlassReviewRejects(t *testing.T) {
	for _, tc := range []struct{ name, review, want string }{
		{"unknown kind", "[{kind: ceo}]", `policy.yaml:5: break_glass: review: approver kind "ceo"`},
		{"manager quorum", "[{kind: manager, quorum: 2}]", "quorum 2 can never be met"},
		{"negative stage", "[{kind: security, stage: -1}]", "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("policy.yaml", []byte("break_glass:\n  when: 'true'\n  max_duration: 1h\n  review:\n    - "+strings.TrimSuffix(strings.TrimPrefix(tc.review, "["), "]")+"\n"))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
