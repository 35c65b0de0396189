package planner

import (
	"strings"
	"testing"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// scanName is resolveName by scanning the whole directory, as it was before the people
// index: the reference the indexed lookup must agree with.
func scanName(name, requester string, snap *directory.Snapshot) (string, string) {
	name = strings.Trim(strings.TrimSpace(name), ".'")
	if name == "" {
		return "", ""
	}
	words := strings.Fields(name)
	var full, first []*igav1.Person
	for _, p := range snap.PeopleList() {
		if p.GetStatus() != "" && p.GetStatus() != "active" {
			continue
		}
		local := strings.SplitN(p.GetEmail(), "@", 2)[0]
		pn := strings.ToLower(p.GetName())
		pw := strings.Fields(pn)
		if local == words[0] {
			return p.GetEmail(), words[0]
		}
		if len(words) == 2 && pn == words[0]+" "+words[1] {
			full = append(full, p)
		}
		if len(pw) > 0 && pw[0] == words[0] || strings.SplitN(local, ".", 2)[0] == words[0] {
			first = append(first, p)
		}
	}
	if len(full) == 1 {
		return full[0].GetEmail(), words[0] + " " + words[1]
	}
	if len(first) == 1 {
		return first[0].GetEmail(), words[0]
	}
	var reports []*igav1.Person
	for _, p := range first {
		if strings.EqualFold(p.GetManagerEmail(), requester) {
			reports = append(reports, p)
		}
	}
	if len(reports) == 1 {
		return reports[0].GetEmail(), words[0]
	}
	return "", ""
}

func TestResolveNameMatchesScan(t *testing.T) {
	snap, err := directory.LoadDir("../../../deploy/demo")
	if err != nil {
		t.Fatal(err)
	}
	ix := tools.NewIndex(snap)
	var names []string
	for _, p := range snap.PeopleList() {
		local, _, _ := strings.Cut(p.GetEmail(), "@")
		n := strings.ToLower(p.GetName())
		names = append(names, local, n, strings.Fields(n + " x")[0], strings.SplitN(local, ".", 2)[0], n+" extra", "zed "+n)
	}
	names = append(names, "", "nobody", "the audit", "snowflake")
	for _, requester := range []string{"priya.nair@acme.example", "marco.bianchi@acme.example", "dana.reyes@acme.example"} {
		for _, n := range names {
			ge, gu := resolveName(n, requester, ix)
			we, wu := scanName(n, requester, snap)
			if ge != we || gu != wu {
				t.Fatalf("resolveName(%q, %s) = %q %q, want %q %q", n, requester, ge, gu, we, wu)
			}
		}
	}
}
