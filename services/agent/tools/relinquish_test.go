package tools_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/directory"
	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/inmem"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// A manager may remove what a direct report holds; nobody else may, and the holder's own
// relinquish stays theirs alone.
func TestRemoveReportsGrant(t *testing.T) {
	snap, err := directory.LoadDir("../testdata/directory")
	if err != nil {
		t.Fatal(err)
	}
	const priya, sam, dana, marco = "priya.nair@acme.example", "sam.patel@acme.example", "dana.reyes@acme.example", "marco.bianchi@acme.example"
	for _, tc := range []struct {
		name, by, holder string
		want             error
	}{
		{"the report's manager", priya, sam, nil},
		{"another manager", marco, sam, tools.ErrNotYourReport},
		{"a peer", dana, sam, tools.ErrNotYourReport},
		{"the wrong holder named", priya, dana, tools.ErrNotYourReport},
		{"an unknown person", priya, "nobody@acme.example", tools.ErrUnknownPerson},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ledger := inmem.NewLedger()
			ledger.Hold("g-sam", sam, "github:read", time.Now().Add(time.Hour))
			actions := inmem.NewActions(ledger)
			s := tools.New(tools.Deps{Directory: func() *directory.Snapshot { return snap }, Grants: ledger, Actions: actions}).Session(conv.New("c"), nil)
			err := s.RemoveReportsGrant(context.Background(), tc.by, tc.holder, "g-sam")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if revoked := len(actions.Revoked) == 1; revoked != (tc.want == nil) {
				t.Fatalf("revoked %v", actions.Revoked)
			}
			// The holder's own relinquish does not let a manager act as the holder.
			if err := s.RelinquishGrant(context.Background(), tc.by, "g-sam"); tc.by != sam && !errors.Is(err, tools.ErrNotYourGrant) && !errors.Is(err, tools.ErrGrantNotActive) {
				t.Fatalf("relinquish as %s: %v", tc.by, err)
			}
		})
	}
}
