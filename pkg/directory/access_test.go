package directory

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

func accessSnapshot() *Snapshot {
	return NewSnapshot(
		[]*igav1.Person{
			{Email: "ann@acme.example", Status: "active"},
			{Email: "bob@acme.example", Status: "active"},
			{Email: "gone@acme.example", Status: "terminated"},
		},
		[]*igav1.App{{Id: "wiki"}},
		[]*igav1.Entitlement{{Id: "wiki:reader", AppId: "wiki", Name: "reader"}, {Id: "wiki:editor", AppId: "wiki", Name: "editor"}},
	)
}

func writeAccess(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "access.yaml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadAccess(t *testing.T) {
	got, err := LoadAccess(writeAccess(t, `
review_after: 60d
access:
  - person: ANN@acme.example
    entitlements: [wiki:reader, wiki:editor]
  - person: bob@acme.example
    entitlements: [wiki:reader]
    review_after: 2w
`), accessSnapshot())
	if err != nil {
		t.Fatal(err)
	}
	want := []Access{
		{PersonEmail: "ann@acme.example", EntitlementID: "wiki:reader", ReviewAfter: 60 * 24 * time.Hour},
		{PersonEmail: "ann@acme.example", EntitlementID: "wiki:editor", ReviewAfter: 60 * 24 * time.Hour},
		{PersonEmail: "bob@acme.example", EntitlementID: "wiki:reader", ReviewAfter: 14 * 24 * time.Hour},
	}
	if len(got) != len(want) {
		t.Fatalf("LoadAccess = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	got, err = LoadAccess(writeAccess(t, "access:\n  - person: bob@acme.example\n    entitlements: [wiki:editor]\n"), accessSnapshot())
	if err != nil || len(got) != 1 || got[0].ReviewAfter != DefaultReviewAfter {
		t.Fatalf("without review_after: %v, %v; want the default %s", got, err, DefaultReviewAfter)
	}
}

func TestLoadAccessRejects(t *testing.T) {
	body := `
review_after: 0d
access:
  - person: nobody@acme.example
    entitlements: [wiki:reader]
  - person: gone@acme.example
    entitlements: [wiki:reader]
  - person: ann@acme.example
    entitlements: [wiki:reader, wiki:nope, wiki:reader]
  - person: bob@acme.example
    entitlements: []
    review_after: soon
`
	_, err := LoadAccess(writeAccess(t, body), accessSnapshot())
	if err == nil {
		t.Fatal("LoadAccess accepted a broken file")
	}
	for _, want := range []string{
		`review_after "0d" must be longer than zero`,
		"nobody@acme.example is not in the directory",
		"gone@acme.example is terminated",
		`entitlement "wiki:nope" is not in the catalog`,
		"ann@acme.example holding wiki:reader is listed twice",
		"(bob@acme.example): no entitlements listed",
		"(bob@acme.example): review_after",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if _, err := LoadAccess(writeAccess(t, "access:\n  - person: ann@acme.example\n    role: admin\n"), accessSnapshot()); err == nil ||
		!strings.Contains(err.Error(), "field role not found") {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := LoadAccess(filepath.Join(t.TempDir(), "access.yaml"), accessSnapshot()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// The demo's existing access loads, gives peers something in common, and leaves alone
// what the README walkthrough and the end-to-end tests ask for.
func TestDemoAccess(t *testing.T) {
	snap := loadDemo(t)
	access, err := LoadAccess(filepath.Join(demoDir, "access.yaml"), snap)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string][]string{}
	for _, a := range access {
		held[a.PersonEmail] = append(held[a.PersonEmail], a.EntitlementID)
		e, _ := snap.Entitlement(a.EntitlementID)
		if e.GetRisk() == "critical" || e.GetLevel() == "admin" {
			t.Errorf("%s holds %s (%s, %s): imported standing access is never admin or critical", a.PersonEmail, a.EntitlementID, e.GetLevel(), e.GetRisk())
		}
	}
	for _, person := range []string{"dana.reyes@acme.example", "alex.morgan@acme.example", "jo.silva@acme.example", "lee.kim@acme.example"} {
		if len(held[person]) != 0 {
			t.Errorf("%s holds %v; the walkthrough and tests need them to start with nothing", person, held[person])
		}
	}
	for person, ent := range map[string]string{
		"sam.patel@acme.example": "snowflake:analyst", "olivia.chen@acme.example": "grafana:payments-viewer",
	} {
		for _, id := range held[person] {
			if id == ent {
				t.Errorf("%s already holds %s, which the walkthrough requests", person, id)
			}
		}
	}
	// alex.morgan, the data-team newcomer, has Data Engineer peers holding the same access.
	alex, _ := snap.Person("alex.morgan@acme.example")
	peers := 0
	for _, p := range snap.PeopleList() {
		if p.GetEmail() != alex.GetEmail() && p.GetTitle() == alex.GetTitle() && p.GetDepartment() == alex.GetDepartment() &&
			strings.Contains(strings.Join(held[p.GetEmail()], " "), "snowflake:engineer") {
			peers++
		}
	}
	if peers < 2 {
		t.Errorf("%d of alex.morgan's peers hold snowflake:engineer; the newcomer needs peers to learn from", peers)
	}
}
