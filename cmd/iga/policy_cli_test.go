package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/bus"
)

// runOffline executes the iga CLI with no stack behind it.
func runOffline(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"--addr", "127.0.0.1:1"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func writeTemp(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// `iga policy test` runs offline by default (admins' CI has no stack), and on the server
// with --remote; both print the same report and exit non-zero on a failure.
func TestPolicyTestOfflineAndRemote(t *testing.T) {
	tests := filepath.Join(repoDir(t), "deploy", "demo", "policy_test.yaml")
	offline, err := runOffline(t, "policy", "test", tests)
	if err != nil || !strings.Contains(offline, " passed, 0 failed") {
		t.Fatalf("offline: %v\n%s", err, offline)
	}

	st := startTestStack(t)
	remote, err := run(t, st, "policy", "test", tests, "--remote")
	if err != nil {
		t.Fatalf("remote: %v\n%s", err, remote)
	}
	// The same cases pass against the policy in force, reported the same way.
	if count := func(s string) string { return s[:strings.Index(s, " passed")] }; count(remote) != count(offline) {
		t.Errorf("remote says %q, offline %q", remote, offline)
	}
	out, err := run(t, st, "--json", "policy", "test", tests, "--remote")
	var rep struct {
		Failed  int `json:"failed"`
		Results []struct {
			Name   string `json:"name"`
			Line   int    `json:"line"`
			Passed bool   `json:"passed"`
		} `json:"results"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.Failed != 0 || len(rep.Results) < 20 || rep.Results[0].Line == 0 {
		t.Fatalf("remote --json: %v\n%s", err, out)
	}

	// A candidate that breaks a case fails on the server, with the case's file:line.
	candidate := writeTemp(t, "new.yaml", "rules:\n  - id: read-only\n    match: {levels: [read]}\n    effect: allow\n    reason: Reading is fine.\n")
	out, err = run(t, st, "policy", "test", tests, "--remote", "--policy", candidate)
	if !errors.Is(err, errTestsFailed) || !strings.Contains(out, "FAIL  "+tests+":") || !strings.Contains(out, "policy "+candidate) {
		t.Fatalf("remote candidate: %v\n%s", err, out)
	}
	// A candidate that does not validate is refused with its lines.
	broken := writeTemp(t, "broken.yaml", "rules:\n  - id: r1\n    effect: maybe\n    reason: x\n")
	if _, err = run(t, st, "policy", "test", tests, "--remote", "--policy", broken); err == nil || !strings.Contains(err.Error(), "broken.yaml:3:") {
		t.Fatalf("remote broken candidate: %v", err)
	}
	if _, err = run(t, st, "policy", "test", tests, "--remote", "--data", "deploy/demo"); err == nil || !strings.Contains(err.Error(), "--data") {
		t.Fatalf("--remote with --data: %v", err)
	}
}

// `iga policy simulate` asks the server, over gRPC only: a person with only the gRPC
// ingress can simulate a change.
func TestPolicySimulateOverGRPC(t *testing.T) {
	st := startTestStack(t)
	events := watchEvents(t, st)
	const dana = "dana.reyes@acme.example"
	id := askAndConfirm(t, st, dana, "I need to look at the payments dashboards for the audit, for 1 hour")
	events.waitFor(t, "iga.evt.policy.decided", 30*time.Second, func(m bus.Msg) bool { return m.RequestID == id })

	demoPolicy, err := os.ReadFile(filepath.Join(repoDir(t), "deploy", "demo", "policy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	frozen := writeTemp(t, "frozen.yaml", string(demoPolicy)+`
---
rules:
  - id: grafana-frozen
    match: {apps: [grafana]}
    effect: deny
    reason: Grafana access is frozen during the audit.
`)
	out, err := run(t, st, "policy", "simulate", "--policy", frozen)
	if err != nil || !strings.Contains(out, id) || !strings.Contains(out, "allow → deny") || !strings.Contains(out, "frozen during the audit") ||
		!strings.Contains(out, "1 flip") {
		t.Fatalf("simulate: %v\n%s", err, out)
	}
	t.Logf("$ iga policy simulate --policy frozen.yaml\n%s", out)

	out, err = run(t, st, "--json", "policy", "simulate", "--policy", frozen, "--since", "1h", "--limit", "5")
	var rep struct {
		Requests int `json:"requests"`
		Flips    int `json:"flips"`
		Changes  []struct {
			RequestID string `json:"request_id"`
			Change    string `json:"change"`
		} `json:"changes"`
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.Flips != 1 || len(rep.Changes) != 1 || rep.Changes[0].RequestID != id {
		t.Fatalf("simulate --json: %v\n%s", err, out)
	}

	broken := writeTemp(t, "broken.yaml", "rules:\n  - id: r1\n    effect: allow\n    when: person.shoe_size > 3\n    reason: x\n")
	if _, err = run(t, st, "policy", "simulate", "--policy", broken); err == nil || !strings.Contains(err.Error(), "broken.yaml:4:") {
		t.Fatalf("simulate a broken policy: %v", err)
	}
	if _, err = run(t, st, "policy", "simulate", "--policy", frozen, "--since", "last tuesday"); err == nil || !strings.Contains(err.Error(), "--since") {
		t.Fatalf("simulate --since nonsense: %v", err)
	}
	if _, err = runOffline(t, "policy", "simulate", "--policy", frozen); err == nil || !strings.Contains(err.Error(), "make run") {
		t.Fatalf("simulate with nothing running: %v", err)
	}
}
