package policy

import (
	"strings"
	"testing"

	"github.com/agentic-iga/iga/pkg/directory"
	"github.com/agentic-iga/iga/services/policy/engine"
)

// A misspelt approver group or match tag is reported with its file and line against the
// directory the policy is put in force with, like unknown catalog ids.
func TestUnknownReferencesAgainstTheDemoDirectory(t *testing.T) {
	snap, err := directory.LoadDir("../../../deploy/demo")
	if err != nil {
		t.Fatal(err)
	}
	pol, err := engine.Parse("p.yaml", []byte(`rules:
  - id: sox
    match: {tags: [sox, prodution]}
    effect: require_approval
    approvals:
      - {kind: "group:sox-controlers", stage: 2}
      - {kind: "group:cab", stage: 2, quorum: 9}
      - {kind: "group:sox-controllers", stage: 3, quorum: all}
    reason: SOX changes need the controllers.
`))
	if err != nil {
		t.Fatal(err)
	}
	got := UnknownReferences(pol, snap)
	want := []string{
		"p.yaml:2 rule sox: tag prodution is on no entitlement or app in the catalog",
		"p.yaml:6 rule sox: approver group sox-controlers has no active member in the directory",
		"p.yaml:7 rule sox: quorum 9 of group cab can never be met: the group has 8 active members",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
