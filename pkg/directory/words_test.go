package directory_test

import (
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

func TestAccessNameAndLocalTime(t *testing.T) {
	snap := directory.NewSnapshot(
		[]*igav1.Person{{Email: "dana.reyes@acme.example", TimeZone: "America/Los_Angeles"}, {Email: "no.zone@acme.example"},
			{Email: "bad.zone@acme.example", TimeZone: "Mars/Olympus"}},
		[]*igav1.App{{Id: "grafana", Name: "Grafana"}},
		[]*igav1.Entitlement{{Id: "grafana:payments-viewer", AppId: "grafana", Name: "payments-viewer"}})
	for id, want := range map[string]string{
		"grafana:payments-viewer": "Grafana payments-viewer",
		"retired:admin":           "retired admin", // no longer in the catalog: named from its id
	} {
		if got := snap.AccessName(id); got != want {
			t.Errorf("AccessName(%q) = %q, want %q", id, got, want)
		}
	}
	at := time.Date(2026, 12, 4, 0, 2, 35, 0, time.UTC)
	for email, want := range map[string]string{
		"dana.reyes@acme.example": "16:02 PST on Thu 3 Dec",
		"no.zone@acme.example":    "00:02 UTC on Fri 4 Dec",
		"bad.zone@acme.example":   "00:02 UTC on Fri 4 Dec",
		"stranger@acme.example":   "00:02 UTC on Fri 4 Dec",
	} {
		if got := snap.LocalTime(email, at); got != want {
			t.Errorf("LocalTime(%s) = %q, want %q", email, got, want)
		}
	}
}
