package policytest

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// The demo policy must pass its own tests.
func TestDemoPolicy(t *testing.T) {
	rep, err := RunFile("../../../deploy/demo/policy_test.yaml", "", "")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.Write(&out, true)
	if rep.Failed() > 0 {
		t.Fatalf("demo policy tests failed:\n%s", out.String())
	}
	if len(rep.Warnings) > 0 {
		t.Errorf("the demo policy names ids the demo catalog lacks: %v", rep.Warnings)
	}
	if len(rep.Results) < 20 {
		t.Fatalf("only %d cases ran", len(rep.Results))
	}
	t.Log(out.String())
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFailuresAreReportedWithLines(t *testing.T) {
	dir := t.TempDir()
	pol := writeFile(t, dir, "p.yaml", "rules:\n  - id: all-read\n    match: {levels: [read]}\n    effect: allow\n    reason: Reading is fine.\n")
	tests := writeFile(t, dir, "t.yaml", `tests:
  - name: passes
    person: dana.reyes@acme.example
    entitlement: grafana:payments-viewer
    expect: {effect: allow}
  - name: fails
    person: dana.reyes@acme.example
    entitlement: grafana:payments-viewer
    expect: {effect: deny, approvals: [manager]}
`)
	rep, err := RunFile(tests, pol, "../../../deploy/demo")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Failed() != 1 || !rep.Results[0].Passed {
		t.Fatalf("failed %d, first passed %v", rep.Failed(), rep.Results[0].Passed)
	}
	var out bytes.Buffer
	rep.Write(&out, false)
	for _, want := range []string{"FAIL  " + tests + ":6  fails", "effect: got allow, want deny", "approvals: got [], want [manager@1]", "1 passed, 1 failed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestLoadRejectsBadSuites(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ body, want string }{
		{"tests:\n  - name: x\n    person: a@b\n    entitlement: a:b\n    expect: {effect: allow}\n    colour: red\n", "field colour not found"},
		{"tests:\n  - name: x\n    person: a@b\n    entitlement: a:b\n", "expects nothing"},
		{"tests:\n  - name: x\n    person: a@b\n    entitlement: a:b\n    duration: forever\n    expect: {effect: allow}\n", "duration \"forever\""},
		{"tests:\n  - name: x\n    person: a@b\n    entitlement: a:b\n    expect: {effect: perhaps}\n", "effect \"perhaps\""},
		{"tests: []\n", "no tests"},
		{"tests:\n  - name: x\n    person: a@b\n    entitlement: a:b\n    expect: {effect: allow, approvals: [ceo@1]}\n", `t.yaml:2: test "x": approvals: "ceo@1": approver kind "ceo"`},
		{"tests:\n  - name: x\n    person: a@b\n    entitlement: a:b\n    expect: {effect: allow, approvals: [manager@first]}\n", "the stage after @ must be a number"},
		{"tests:\n  - name: x\n    person: a@b\n    entitlement: a:b\n    expect: {effect: allow, approvals: [group:cab x0]}\n", "a quorum of 0 approves nothing"},
		{"tests:\n  - name: x\n    person: a@b\n    entitlement: a:b\n    expect: {effect: allow, approvals: [group:cab x2@2]}\n", "write approver[@stage][ xN| all]"},
		{"tests: [\n", "t.yaml"},
	} {
		p := writeFile(t, dir, "t.yaml", tc.body)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestStepNotation(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"manager", "manager@1"},
		{"entitlement_owner@2", "entitlement_owner@2"},
		{"group:cab@2 x2", "group:cab@2 x2"},
		{"group:cab x2", "group:cab@1 x2"},
		{"group:cab@3 x1", "group:cab@3"},
		{"group:sox-controllers@3 all", "group:sox-controllers@3 all"},
		{"manager or app_owner", "manager or app_owner@1"},
		{"  security@2  ", "security@2"},
		{"none", "none"},
	} {
		got, err := NormalizeStep(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeStep(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	steps := []*igav1.ApprovalStep{
		{Kind: igav1.ApproverKind_APPROVER_KIND_MANAGER, Stage: 1},
		{Kind: igav1.ApproverKind_APPROVER_KIND_GROUP, Group: "cab", Stage: 2, Quorum: 2},
		{Kind: igav1.ApproverKind_APPROVER_KIND_GROUP, Group: "sox-controllers", Stage: 3, All: true},
		{Kind: igav1.ApproverKind_APPROVER_KIND_ANY_OF, Stage: 1, AnyOf: []*igav1.Approver{
			{Kind: igav1.ApproverKind_APPROVER_KIND_MANAGER}, {Kind: igav1.ApproverKind_APPROVER_KIND_APP_OWNER}}},
	}
	got := Steps(&igav1.PolicyDecision{ApprovalSteps: steps})
	want := []string{"manager@1", "group:cab@2 x2", "group:sox-controllers@3 all", "manager or app_owner@1"}
	if !slices.Equal(got, want) {
		t.Errorf("Steps = %q, want %q", got, want)
	}
}

// A quorum is part of what a test checks: the same approver with another quorum fails.
func TestQuorumIsChecked(t *testing.T) {
	dir := t.TempDir()
	pol := writeFile(t, dir, "p.yaml", "rules:\n  - id: cab\n    match: {levels: [read]}\n    effect: require_approval\n"+
		"    approvals: [{kind: manager}, {kind: 'group:cab', stage: 2, quorum: 2}]\n    reason: Two of the CAB.\n")
	tests := writeFile(t, dir, "t.yaml", `tests:
  - name: right quorum
    person: dana.reyes@acme.example
    entitlement: grafana:payments-viewer
    expect: {effect: require_approval, approvals: [manager, group:cab@2 x2]}
  - name: quorum left out
    person: dana.reyes@acme.example
    entitlement: grafana:payments-viewer
    expect: {effect: require_approval, approvals: [manager, group:cab@2]}
`)
	rep, err := RunFile(tests, pol, "../../../deploy/demo")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Results[0].Passed || rep.Results[1].Passed {
		t.Fatalf("results %+v", rep.Results)
	}
	var out bytes.Buffer
	rep.Write(&out, true)
	for _, want := range []string{"right quorum → require_approval (manager@1, group:cab@2 x2)", "approvals: got [manager@1 group:cab@2 x2], want [manager@1 group:cab@2]"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
