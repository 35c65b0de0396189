package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

var submittedID = regexp.MustCompile(`Submitted (r-[0-9a-f]+)`)

// A request waiting for approval is withdrawn by its requester through the CLI: the
// approver no longer sees it, the requests list says withdrawn, and nobody else may.
func TestWithdrawThroughTheCLI(t *testing.T) {
	st := startTestStack(t)
	const sam, priya = "sam.patel@acme.example", "priya.nair@acme.example"
	out, err := run(t, st, "chat", "--as", sam, "I need read access to snowflake for 2 days to check the orders mart")
	if err != nil || !strings.Contains(out, "Priya Nair") {
		t.Fatalf("chat: %v\n%s", err, out)
	}
	out, err = run(t, st, "chat", "--as", sam, "yes")
	m := submittedID.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("confirm: %v\n%s", err, out)
	}
	id := m[1]
	eventuallyCLI(t, func() bool {
		out, err := run(t, st, "approvals", "--as", priya)
		return err == nil && strings.Contains(out, id)
	})
	if _, err := run(t, st, "withdraw", id, "--as", priya); err == nil || !strings.Contains(err.Error(), "only the person who asked") {
		t.Fatalf("the approver withdrawing it: %v", err)
	}
	out, err = run(t, st, "withdraw", id, "--as", sam, "--reason", "found the numbers in a report")
	if err != nil || !strings.Contains(out, "withdrawn; nothing was granted") {
		t.Fatalf("withdraw: %v\n%s", err, out)
	}
	if out, err := run(t, st, "approvals", "--as", priya); err != nil || strings.Contains(out, id) {
		t.Fatalf("the approver still sees it: %v\n%s", err, out)
	}
	if out, err := run(t, st, "requests", "--user", sam); err != nil || !strings.Contains(out, "withdrawn") {
		t.Fatalf("requests: %v\n%s", err, out)
	}
	if _, err := run(t, st, "approve", id, "--as", priya); err == nil {
		t.Fatal("a withdrawn request was approved")
	}

	// In chat: ask again, then take it back there.
	if out, err := run(t, st, "chat", "--as", sam, "I need read access to snowflake for 2 days to check the orders mart"); err != nil {
		t.Fatalf("chat: %v\n%s", err, out)
	}
	out, err = run(t, st, "chat", "--as", sam, "yes")
	m = submittedID.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("confirm: %v\n%s", err, out)
	}
	second := m[1]
	eventuallyCLI(t, func() bool {
		out, err := run(t, st, "approvals", "--as", priya)
		return err == nil && strings.Contains(out, second)
	})
	out, err = run(t, st, "chat", "--as", sam, "withdraw my snowflake request")
	if err != nil || !strings.Contains(out, "Withdraw "+second) || !strings.Contains(out, "Priya Nair") {
		t.Fatalf("withdraw in chat: %v\n%s", err, out)
	}
	out, err = run(t, st, "chat", "--as", sam, "yes")
	if err != nil || !strings.Contains(out, "Withdrawn "+second) {
		t.Fatalf("withdraw confirmed in chat: %v\n%s", err, out)
	}
	if out, err := run(t, st, "approvals", "--as", priya); err != nil || strings.Contains(out, second) {
		t.Fatalf("the approver still sees the request withdrawn in chat: %v\n%s", err, out)
	}
}

// eventuallyCLI polls cond for up to 20 s.
func eventuallyCLI(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
