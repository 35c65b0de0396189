package tools

import (
	"reflect"
	"testing"

	"github.com/agentic-iga/iga/pkg/directory"
)

func testIndex(t *testing.T) *Index {
	t.Helper()
	snap, err := directory.LoadDir("../testdata/directory")
	if err != nil {
		t.Fatal(err)
	}
	return NewIndex(snap)
}

func TestSearchRanks(t *testing.T) {
	ix := testIndex(t)
	cases := []struct{ query, top string }{
		{"payments dashboards viewer", "grafana:payments-viewer"},
		{"snowflake analyst", "snowflake:analyst"},
		{"snowflak analist", "snowflake:analyst"}, // typos
		{"refunds in stripe", "stripe:refunds"},
		{"vendor bills", "netsuite:ap-clerk"},
		{"postgres superuser", "prod-postgres:superuser"},
	}
	for _, c := range cases {
		hits := ix.Search(c.query, 3)
		if len(hits) == 0 || hits[0].Entitlement.GetId() != c.top {
			var got []string
			for _, h := range hits {
				got = append(got, h.Entitlement.GetId())
			}
			t.Errorf("Search(%q) = %v, want %s first", c.query, got, c.top)
		}
	}
	if hits := ix.Search("the a of for please", 5); len(hits) != 0 {
		t.Errorf("stopwords matched %d entitlements", len(hits))
	}
	if hits := ix.Search("zorblax", 5); len(hits) != 0 {
		t.Errorf("nonsense matched %d entitlements", len(hits))
	}
}

func TestAppsNamed(t *testing.T) {
	ix := testIndex(t)
	cases := map[string][]string{
		"read access to snowflake":     {"snowflake"},
		"snowflak please":              {"snowflake"},
		"I need aws":                   {"aws-prod", "aws-staging"},
		"aws staging developer":        {"aws-staging"},
		"the payments dashboards":      {"grafana"},
		"payments processor refunds":   {"stripe"},
		"something else entirely here": nil,
	}
	for q, want := range cases {
		if got := ix.AppsNamed(q); !reflect.DeepEqual(got, want) {
			t.Errorf("AppsNamed(%q) = %v, want %v", q, got, want)
		}
	}
}

func TestAliasPhrases(t *testing.T) {
	ix := testIndex(t)
	got := ix.AliasPhrases("I need the payments dashboards editor for a bit")
	if _, ok := got["grafana:payments-editor"]; !ok {
		t.Errorf("alias not found: %v", got)
	}
	// A doc reached through one word's aliases still has all its aliases checked.
	if got := ix.AliasPhrases("grafna payments dashboards editor"); got["grafana:payments-editor"] == "" {
		t.Errorf("alias after a corrected app word not found: %v", got)
	}
	if got := ix.AliasPhrases("payments"); len(got) != 0 {
		t.Errorf("one word matched an alias phrase: %v", got)
	}
}

func TestEditDistance(t *testing.T) {
	cases := []struct {
		a, b string
		max  int
		want int
	}{
		{"grafana", "grafana", 2, 0},
		{"grafna", "grafana", 2, 1},
		{"stirpe", "stripe", 1, 1}, // transposition
		{"snowflak", "snowflake", 2, 1},
		{"github", "gitlab", 1, 2}, // gives up past max
	}
	for _, c := range cases {
		if got := editDistance(c.a, c.b, c.max); got != c.want {
			t.Errorf("editDistance(%q, %q, %d) = %d, want %d", c.a, c.b, c.max, got, c.want)
		}
	}
}

func TestStem(t *testing.T) {
	for in, want := range map[string]string{"dashboards": "dashboard", "queries": "query", "access": "access",
		"status": "status", "analysis": "analysis", "pushes": "push"} {
		if got := Stem(in); got != want {
			t.Errorf("Stem(%q) = %q, want %q", in, got, want)
		}
	}
}

// Common English words are never "corrected" into catalog words: "do I have any
// permissions" once searched for "save" and proposed Amplitude member.
func TestCommonWordsAreNotCorrected(t *testing.T) {
	snap, err := directory.LoadDir("../../../deploy/demo")
	if err != nil {
		t.Fatal(err)
	}
	ix := NewIndex(snap)
	if !ix.known("save") {
		t.Fatal("fixture: the demo catalog no longer has the word save")
	}
	cases := []struct {
		word string
		want map[string]float64
	}{
		{"have", map[string]float64{}},
		{"will", map[string]float64{}},                            // once "bill" and "kill"
		{"make", map[string]float64{}},                            // once "take"
		{"dashbords", map[string]float64{"dashboard": fuzzyCost}}, // a typo still is
		{"snowflak", map[string]float64{"snowflake": fuzzyCost}},
	}
	for _, c := range cases {
		if got := ix.Correct(Stem(c.word)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("Correct(%q) = %v, want %v", c.word, got, c.want)
		}
	}
	for _, q := range []string{"do I have any permissions", "which permissions do i currently have"} {
		if hits := ix.Search(q, 5); len(hits) != 0 {
			t.Errorf("Search(%q) matched %s", q, hits[0].Entitlement.GetId())
		}
	}
	// A common word the catalog holds verbatim still matches exactly.
	for w := range neverCorrected {
		if ix.known(w) && !reflect.DeepEqual(ix.Correct(w), map[string]float64{w: 1}) {
			t.Errorf("Correct(%q) = %v, want the word itself", w, ix.Correct(w))
		}
	}
}
