package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// run executes the iga CLI with args against the stack and returns what it printed.
func run(t *testing.T, st *devStack, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"--addr", st.GRPCAddr}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestCLIVerbs(t *testing.T) {
	st := startTestStack(t)
	const dana, marco = "dana.reyes@acme.example", "marco.bianchi@acme.example"

	out, err := run(t, st, "chat", "--as", dana, "I need to look at the payments dashboards for 1 hour")
	if err != nil || !strings.Contains(out, "payments-viewer") || !strings.Contains(out, "[1] Submit") {
		t.Fatalf("chat: %v\n%s", err, out)
	}
	if out, err = run(t, st, "chat", "--as", dana, "yes"); err != nil || !strings.Contains(out, "Submitted") {
		t.Fatalf("confirm: %v\n%s", err, out)
	}

	// The grant appears in the ledger; --json is machine-readable.
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err = run(t, st, "grants", "--user", dana, "--json")
		if err == nil && strings.Contains(out, "GRANT_STATUS_ACTIVE") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("grants: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var grant map[string]any
	if err := json.Unmarshal([]byte(out), &grant); err != nil || grant["entitlement_id"] != "grafana:payments-viewer" {
		t.Fatalf("grants --json = %s (%v)", out, err)
	}

	if out, err = run(t, st, "requests"); err != nil || !strings.Contains(out, "grafana:payments-viewer") || !strings.Contains(out, "active") {
		t.Fatalf("requests: %v\n%s", err, out)
	}
	// The request record carries the agent's reasoning: the tools it called, in order.
	if out, err = run(t, st, "requests", "--user", dana, "--json"); err != nil {
		t.Fatalf("requests --json: %v", err)
	}
	for _, tool := range []string{"search_catalog", "check_existing_access", "evaluate_policy", "propose_request", "submit_request"} {
		if !strings.Contains(out, `"tool": "`+tool+`"`) {
			t.Errorf("the request's agent_trace lacks %s:\n%s", tool, out)
		}
	}
	if out, err = run(t, st, "approvals", "--as", marco); err != nil || !strings.Contains(out, "Nothing waiting") {
		t.Fatalf("approvals: %v\n%s", err, out)
	}
	if out, err = run(t, st, "events", "--last", "10"); err != nil || !strings.Contains(out, "iga.evt.grant.active") {
		t.Fatalf("events: %v\n%s", err, out)
	}

	// Errors say what to do.
	if _, err = run(t, st, "chat", "yes"); err == nil || !strings.Contains(err.Error(), "--as") {
		t.Fatalf("chat without --as: %v", err)
	}
	if _, err = run(t, st, "deny", "r-1", "--as", marco); err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Fatalf("deny without a reason: %v", err)
	}
	if _, err = run(t, st, "approve", "r-does-not-exist", "--as", marco); err == nil {
		t.Fatal("approving an unknown request succeeded")
	}
	cmd := newRootCmd()
	cmd.SetArgs([]string{"--addr", "127.0.0.1:1", "grants"})
	cmd.SetOut(&bytes.Buffer{})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "make run") {
		t.Fatalf("unreachable stack: %v", err)
	}
}
