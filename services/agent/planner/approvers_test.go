package planner

import (
	"strings"
	"testing"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// The approval service describes stages as "role: names (q of n)", steps joined by "; ".
func TestApproversPhrase(t *testing.T) {
	twelve := "security: " + strings.Repeat("Ann Lee, ", 11) + "Bo Chen (1 of 12)"
	cases := []struct {
		stages []string
		self   bool
		want   string
	}{
		{[]string{"manager: Wei Zhang; entitlement owner: Tomasz Nowak", twelve, "group sox-controllers: Isabel Duarte, Laura Jensen, Olivia Chen (1 of 3)"}, true,
			"Wei Zhang (your manager) and Tomasz Nowak (the entitlement owner), then one of 12 people in Security, then one of 3 people in sox-controllers (Isabel Duarte, Laura Jensen, Olivia Chen)"},
		{[]string{"manager: Priya Nair"}, false, "Priya Nair (their manager)"},
		{[]string{"manager: Priya Nair; entitlement owner: Priya Nair"}, true, "Priya Nair (your manager and the entitlement owner)"},
		{[]string{"group finance-leads: Ann Lee, Bo Chen, Cy Diaz, Di Eno (2 of 4)"}, true, "2 of 4 people in finance-leads"},
		{[]string{"manager's manager: Olivia Chen — escalated from the manager because Marco Bianchi (manager) is the requester"}, true,
			"Olivia Chen (your manager's manager, escalated from the manager because Marco Bianchi (manager) is the requester)"},
	}
	for _, c := range cases {
		var stages []*igav1.StageApprovers
		for _, d := range c.stages {
			stages = append(stages, &igav1.StageApprovers{Description: d, Approvers: []string{"x@acme.example"}})
		}
		tr := &turn{}
		if got := tr.approversPhrase(stages, c.self); got != c.want {
			t.Errorf("approversPhrase(%q)\n got %q\nwant %q", c.stages, got, c.want)
		}
	}
}

func TestParseStageRejectsOtherForms(t *testing.T) {
	for _, d := range []string{"", "security", "manager:", ": Ann", "group x: Ann (0 of 1)"} {
		if _, ok := parseStage(d); ok {
			t.Errorf("parseStage(%q) accepted", d)
		}
	}
}

// Without a description in the service's form, approvers are named from the directory,
// summarized past three.
func TestApproversFromDirectory(t *testing.T) {
	h := newHarness(t)
	tr := &turn{s: h.p.tools.Session(h.st, nil)}
	if got := tr.approversPhrase([]*igav1.StageApprovers{{Approvers: []string{priya}}}, true); got != "Priya Nair" {
		t.Errorf("one approver: %q", got)
	}
	many := []string{priya, "sam.patel@acme.example", "lee.kim@acme.example", "dana.reyes@acme.example"}
	if got := tr.approversPhrase([]*igav1.StageApprovers{{Approvers: many}}, true); got != "one of 4 people" {
		t.Errorf("four approvers: %q", got)
	}
}
