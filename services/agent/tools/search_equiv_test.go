package tools

import (
	"bufio"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/agentic-iga/iga/pkg/directory"
	"github.com/agentic-iga/iga/services/agent/synth"
)

// TestIndexMatchesReference: the precomputed index answers every query exactly as the
// plain reference index does (same hits in the same order, same scores up to rounding,
// same typo corrections, apps and aliases), over the demo catalog, the test catalog and a
// synthetic one, for the evaluation sets' messages and for random word salads with typos.
func TestIndexMatchesReference(t *testing.T) {
	demo, err := directory.LoadDir("../../../deploy/demo")
	if err != nil {
		t.Fatal(err)
	}
	test, err := directory.LoadDir("../testdata/directory")
	if err != nil {
		t.Fatal(err)
	}
	var messages []string
	for _, f := range []string{"../testdata/eval/dev.jsonl", "../testdata/eval/holdout.jsonl"} {
		messages = append(messages, evalMessages(t, f)...)
	}
	for name, snap := range map[string]*directory.Snapshot{"demo": demo, "test": test, "synth": synth.Directory(60)} {
		t.Run(name, func(t *testing.T) {
			ix, ref := NewIndex(snap), newRefIndex(snap)
			queries := append([]string{}, messages...)
			queries = append(queries, saladQueries(ref, 400)...)
			for _, q := range queries {
				compareQuery(t, ix, ref, q)
			}
		})
	}
}

func evalMessages(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var c struct {
			Turns []json.RawMessage `json:"turns"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, raw := range c.Turns {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				out = append(out, s)
			}
		}
	}
	return out
}

// saladQueries mixes catalog words, misspelt catalog words, stopwords and nonsense.
func saladQueries(ref *refIndex, n int) []string {
	vocab := make([]string, 0, len(ref.df))
	for w := range ref.df {
		vocab = append(vocab, w)
	}
	sort.Strings(vocab)
	rng := rand.New(rand.NewPCG(1, 2))
	typo := func(w string) string {
		r := []rune(w)
		if len(r) < 2 {
			return w
		}
		i := rng.IntN(len(r) - 1)
		switch rng.IntN(4) {
		case 0:
			r = append(r[:i], r[i+1:]...)
		case 1:
			r[i] = rune('a' + rng.IntN(26))
		case 2:
			r[i], r[i+1] = r[i+1], r[i]
		default:
			r = append(r[:i], append([]rune{rune('a' + rng.IntN(26))}, r[i:]...)...)
		}
		return string(r)
	}
	out := make([]string, 0, n)
	for range n {
		var words []string
		for range 1 + rng.IntN(7) {
			w := vocab[rng.IntN(len(vocab))]
			switch rng.IntN(6) {
			case 0, 1:
				w = typo(w)
			case 2:
				w = typo(typo(w))
			case 3:
				w = []string{"the", "please", "for", "zorblax", "need", "access"}[rng.IntN(6)]
			}
			words = append(words, w)
		}
		out = append(out, strings.Join(words, " "))
	}
	return out
}

func compareQuery(t *testing.T, ix *Index, ref *refIndex, q string) {
	t.Helper()
	for _, w := range Tokenize(q) {
		if got, want := ix.Correct(w), ref.Correct(w); !reflect.DeepEqual(got, want) {
			t.Fatalf("Correct(%q) = %v, want %v", w, got, want)
		}
	}
	if got, want := ix.AppsNamed(q), ref.AppsNamed(q); !reflect.DeepEqual(got, want) {
		t.Fatalf("AppsNamed(%q) = %v, want %v", q, got, want)
	}
	if got, want := ix.AliasPhrases(q), ref.AliasPhrases(q); !reflect.DeepEqual(got, want) {
		t.Fatalf("AliasPhrases(%q) = %v, want %v", q, got, want)
	}
	// SearchAmong is Search restricted to the given entitlements.
	all := ref.Search(q, 0)
	var ids []string
	keep := map[string]bool{}
	for i, h := range all {
		if i%3 == 0 {
			ids = append(ids, h.Entitlement.GetId())
			keep[h.Entitlement.GetId()] = true
		}
	}
	ids = append(ids, "no:such", ix.docs[0].ent.GetId())
	keep[ix.docs[0].ent.GetId()] = true
	var among []Hit
	for _, h := range all {
		if keep[h.Entitlement.GetId()] {
			among = append(among, h)
		}
	}
	compareHits(t, q, -1, ix.SearchAmong(q, ids), among)
	for _, limit := range []int{0, 5, 200} {
		compareHits(t, q, limit, ix.Search(q, limit), ref.Search(q, limit))
	}
}

func compareHits(t *testing.T, q string, limit int, got, want []Hit) {
	t.Helper()
	{
		if len(got) != len(want) {
			t.Fatalf("Search(%q, %d): %d hits, want %d", q, limit, len(got), len(want))
		}
		// The reference adds a document's term scores in map order, so documents whose
		// scores tie up to rounding may come in either order; anything else must agree.
		byID := map[string]Hit{}
		for _, h := range want {
			byID[h.Entitlement.GetId()] = h
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.Entitlement.GetId() != w.Entitlement.GetId() {
				if !near(g.Score, w.Score) {
					t.Fatalf("Search(%q, %d)[%d] = %s (%.12f), want %s (%.12f)", q, limit, i,
						g.Entitlement.GetId(), g.Score, w.Entitlement.GetId(), w.Score)
				}
				if h, ok := byID[g.Entitlement.GetId()]; ok {
					w = h
				} else {
					continue // cut at the limit among tied scores
				}
			}
			if !near(g.Score, w.Score) || !near(g.AppScore, w.AppScore) || !near(g.EntScore, w.EntScore) ||
				g.AppNamed != w.AppNamed || !reflect.DeepEqual(g.Terms, w.Terms) || len(g.EntTerms) != len(w.EntTerms) {
				t.Fatalf("Search(%q, %d)[%d] = %+v, want %+v", q, limit, i, g, w)
			}
			for j, ts := range w.EntTerms {
				if g.EntTerms[j].Term != ts.Term || !near(g.EntTerms[j].Score, ts.Score) {
					t.Fatalf("Search(%q)[%d].EntTerms = %v, want %v", q, i, g.EntTerms, w.EntTerms)
				}
			}
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestSeek(t *testing.T) {
	var list []posting
	for d := int32(0); d < 1000; d += 3 {
		list = append(list, posting{doc: d})
	}
	for from := 0; from < len(list); from += 7 {
		for doc := int32(0); doc < 1005; doc++ {
			want := from
			for want < len(list) && list[want].doc < doc {
				want++
			}
			if got := seek(list, from, doc); got != want {
				t.Fatalf("seek(from %d, doc %d) = %d, want %d", from, doc, got, want)
			}
		}
	}
}

// TestCorrectConcurrent: corrections are cached per index; concurrent queries agree.
func TestCorrectConcurrent(t *testing.T) {
	ix := NewIndex(synth.Directory(50))
	want := ix.Correct("dashbords")
	if len(want) == 0 {
		t.Fatal("no correction for dashbords")
	}
	done := make(chan map[string]float64)
	for range 8 {
		go func() { done <- ix.Correct("dashbords") }()
	}
	for range 8 {
		if got := <-done; !reflect.DeepEqual(got, want) {
			t.Fatalf("Correct = %v, want %v", got, want)
		}
	}
}

func TestPlainEntitlement(t *testing.T) {
	demo, err := directory.LoadDir("../../../deploy/demo")
	if err != nil {
		t.Fatal(err)
	}
	ix := NewIndex(demo)
	for app, want := range map[string]string{"notion": "notion:member", "linear": "linear:member", "jira": "jira:user",
		"snowflake": "", "databricks": "", "okta": ""} {
		p, ok := ix.PlainEntitlement(app)
		if got := p.Entitlement.GetId(); ok != (want != "") || got != want {
			t.Errorf("PlainEntitlement(%s) = %q, want %q", app, got, want)
		}
	}
}
