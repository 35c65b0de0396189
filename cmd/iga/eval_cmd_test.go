package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// evalRun runs `iga eval` with args from the repository's root, where its defaults point.
func evalRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	t.Chdir("../..")
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"eval"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

// The dev set meets the goals against the demo's real policy (the policy engine over
// deploy/demo/policy.yaml, approvers routed as the approval service routes them): the
// agent is scored in the world it runs in, not against a stand-in.
func TestEvalDevSetMeetsTheGoalsOnTheDemoPolicy(t *testing.T) {
	out, err := evalRun(t, "--cases", "services/agent/testdata/eval/dev.jsonl", "--strict", "--verbose")
	t.Log("\n" + out)
	if err != nil {
		t.Fatalf("iga eval --strict: %v", err)
	}
	if !strings.Contains(out, "policy deploy/demo/policy.yaml (sha256:") {
		t.Fatalf("the report does not say it decided with the demo policy:\n%s", out)
	}
}

// The held-out set is reported; over-permission is never acceptable on it.
func TestEvalHoldoutNeverOverPermits(t *testing.T) {
	out, err := evalRun(t, "--cases", "services/agent/testdata/eval/holdout.jsonl", "--json")
	if err != nil {
		t.Fatalf("iga eval: %v\n%s", err, out)
	}
	var sum struct {
		Policy         string  `json:"policy"`
		Cases          int     `json:"cases"`
		Top1           float64 `json:"top1_accuracy"`
		OverPermission float64 `json:"over_permission_rate"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	t.Logf("holdout: %d cases, top-1 %.1f%%, policy %s", sum.Cases, 100*sum.Top1, sum.Policy)
	if sum.Cases < 50 || sum.OverPermission != 0 || !strings.HasPrefix(sum.Policy, "deploy/demo/policy.yaml") {
		t.Fatalf("holdout summary: %+v", sum)
	}
}

// A policy that does not load is a clear error, not a run against something else.
func TestEvalRefusesABrokenPolicy(t *testing.T) {
	_, err := evalRun(t, "--policy", "no/such/policy.yaml")
	if err == nil || !strings.Contains(err.Error(), "policy") {
		t.Fatalf("broken policy: %v", err)
	}
}
