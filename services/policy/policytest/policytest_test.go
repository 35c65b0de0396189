package policytest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
		{"tests: [\n", "t.yaml"},
	} {
		p := writeFile(t, dir, "t.yaml", tc.body)
		if _, err := Load(p); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want %q", tc.body, err, tc.want)
		}
	}
}
