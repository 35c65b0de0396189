package directory

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/agentic-iga/iga/pkg/bus"
	"github.com/agentic-iga/iga/pkg/bus/bustest"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPublishWatchRoundTrip(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := bustest.New(t)
	kv, err := b.KV(ctx, bus.BucketDirectory)
	if err != nil {
		t.Fatalf("directory bucket: %v", err)
	}
	snap := loadDemo(t)
	if err := Publish(ctx, kv, snap); err != nil {
		t.Fatalf("Publish: %v", err)
	}

	dir, err := Watch(ctx, kv, nil)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	got := dir.Snapshot()
	if len(got.People) != len(snap.People) || len(got.Apps) != len(snap.Apps) || len(got.Entitlements) != len(snap.Entitlements) {
		t.Fatalf("watched %d people, %d apps, %d entitlements; published %d, %d, %d",
			len(got.People), len(got.Apps), len(got.Entitlements), len(snap.People), len(snap.Apps), len(snap.Entitlements))
	}
	for id, want := range snap.Entitlements {
		if e, ok := got.Entitlement(id); !ok || !proto.Equal(e, want) {
			t.Fatalf("entitlement %s came back as %v, want %v", id, e, want)
		}
	}
	if p, ok := got.PersonByChannel("slack", "U0DANA"); !ok || p.GetEmail() != "dana.reyes@acme.example" {
		t.Errorf("slack U0DANA maps to %v after the round trip, want dana.reyes@acme.example", p.GetEmail())
	}

	// A second snapshot: jo.silva leaves, grafana:payments-viewer is re-rated.
	danaKey := personKey("dana.reyes@acme.example")
	before, err := kv.Get(ctx, danaKey)
	if err != nil {
		t.Fatalf("get %s: %v", danaKey, err)
	}
	var people []*igav1.Person
	for _, p := range snap.PeopleList() {
		if p.GetEmail() != "jo.silva@acme.example" {
			people = append(people, p)
		}
	}
	var apps []*igav1.App
	for _, a := range snap.Apps {
		apps = append(apps, a)
	}
	var ents []*igav1.Entitlement
	for _, e := range snap.EntitlementList() {
		if e.GetId() == "grafana:payments-viewer" {
			e = proto.Clone(e).(*igav1.Entitlement)
			e.Risk = "medium"
			e.Description = "Payments dashboards, now with card holder names."
		}
		ents = append(ents, e)
	}
	if err := Publish(ctx, kv, NewSnapshot(people, apps, ents)); err != nil {
		t.Fatalf("Publish changed snapshot: %v", err)
	}

	waitFor(t, "the watched directory to drop jo.silva and re-rate grafana:payments-viewer", func() bool {
		s := dir.Snapshot()
		_, jo := s.Person("jo.silva@acme.example")
		e, _ := s.Entitlement("grafana:payments-viewer")
		return !jo && e.GetRisk() == "medium"
	})
	s := dir.Snapshot()
	if len(s.People) != len(snap.People)-1 || len(s.Entitlements) != len(snap.Entitlements) {
		t.Errorf("after the change: %d people, %d entitlements; want %d, %d",
			len(s.People), len(s.Entitlements), len(snap.People)-1, len(snap.Entitlements))
	}
	if e, _ := s.Entitlement("grafana:payments-viewer"); !strings.Contains(e.GetDescription(), "card holder") {
		t.Errorf("description = %q, want the new one", e.GetDescription())
	}
	if _, ok := s.Person("sam.patel@acme.example"); !ok {
		t.Error("sam.patel disappeared though only jo.silva was removed")
	}
	after, err := kv.Get(ctx, danaKey)
	if err != nil {
		t.Fatalf("get %s: %v", danaKey, err)
	}
	if after.Revision() != before.Revision() {
		t.Errorf("unchanged record %s was rewritten (revision %d -> %d)", danaKey, before.Revision(), after.Revision())
	}
}

func TestWatchEmptyBucket(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kv, err := bustest.New(t).KV(ctx, bus.BucketDirectory)
	if err != nil {
		t.Fatalf("directory bucket: %v", err)
	}
	_, err = Watch(ctx, kv, nil)
	if err == nil || !strings.Contains(err.Error(), "iga directory load") {
		t.Fatalf("Watch on an empty bucket = %v, want an error saying how to load one", err)
	}
}
