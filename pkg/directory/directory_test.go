package directory

import (
	"reflect"
	"testing"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

func TestSnapshotLookups(t *testing.T) {
	people := []*igav1.Person{
		{Email: "boss@acme.example", Status: "active", Groups: []string{"cab"}},
		{Email: "ann@acme.example", ManagerEmail: "boss@acme.example", Status: "active", Groups: []string{"cab", "eng"},
			ChannelIds: map[string]string{"slack": "U1"}},
		{Email: "gone@acme.example", ManagerEmail: "boss@acme.example", Status: "terminated", Groups: []string{"cab"}},
		{Email: "away@acme.example", ManagerEmail: "ann@acme.example", Status: "leave", Groups: []string{"eng"}},
	}
	apps := []*igav1.App{{Id: "wiki", OwnerEmail: "ann@acme.example"}}
	ents := []*igav1.Entitlement{
		{Id: "wiki:reader", AppId: "wiki"},
		{Id: "wiki:admin", AppId: "wiki", OwnerEmail: "boss@acme.example"},
		{Id: "orphan:x", AppId: "orphan"},
	}
	s := NewSnapshot(people, apps, ents)

	emails := func(ps []*igav1.Person) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.GetEmail())
		}
		return out
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"person any case", func() string { p, _ := s.Person(" ANN@Acme.Example "); return p.GetEmail() }(), "ann@acme.example"},
		{"channel id", func() string { p, _ := s.PersonByChannel("slack", "U1"); return p.GetEmail() }(), "ann@acme.example"},
		{"channel falls back to email", func() string { p, _ := s.PersonByChannel("web", "boss@acme.example"); return p.GetEmail() }(), "boss@acme.example"},
		{"unknown channel id", func() bool { _, ok := s.PersonByChannel("slack", "U404"); return ok }(), false},
		{"same id, other channel", func() bool { _, ok := s.PersonByChannel("teams", "U1"); return ok }(), false},
		{"group members are active only", emails(s.GroupMembers("cab")), []string{"ann@acme.example", "boss@acme.example"}},
		{"reports", emails(s.Reports("BOSS@acme.example")), []string{"ann@acme.example", "gone@acme.example"}},
		{"entitlement owner", s.EntitlementOwner(ents[1]), "boss@acme.example"},
		{"owner falls back to app", s.EntitlementOwner(ents[0]), "ann@acme.example"},
		{"no owner at all", s.EntitlementOwner(ents[2]), ""},
		{"entitlements sorted", func() []string {
			var ids []string
			for _, e := range s.EntitlementList() {
				ids = append(ids, e.GetId())
			}
			return ids
		}(), []string{"orphan:x", "wiki:admin", "wiki:reader"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !reflect.DeepEqual(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}

	d := New(s)
	d.Set(NewSnapshot(people[:1], nil, nil))
	if len(d.Snapshot().People) != 1 {
		t.Errorf("Directory.Set did not replace the snapshot")
	}
}
