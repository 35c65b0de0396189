package tools

// The search index as it was before the inverted, precomputed one: a plain reference the
// tests compare the fast index against, result for result.

import (
	"math"
	"sort"
	"strings"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

type refDoc struct {
	ent  *igav1.Entitlement
	app  *igav1.App
	tf   [nFields]map[string]int
	flen [nFields]int
	// aliases are the entitlement's aliases of two words or more, stopwords removed.
	aliases [][]string
}

// refIndex is a BM25F index over the catalog: app names, aliases and descriptions and
// entitlement names, aliases and descriptions. Build once per directory snapshot.
type refIndex struct {
	docs   []*refDoc
	df     map[string]int
	avgLen [nFields]float64
	// appPhrases are each app's id, name and aliases as token lists.
	appPhrases map[string][][]string
	byLen      map[int][]string
	// postings lists the documents holding each term.
	postings map[string][]int
	// byApp lists each app's entitlements, least privileged first.
	byApp map[string][]*igav1.Entitlement
	// aliasStart lists the documents with a multi-word alias starting with each term.
	aliasStart map[string][]int
}

// newRefIndex indexes a snapshot's catalog.
func newRefIndex(s *directory.Snapshot) *refIndex {
	ix := &refIndex{df: map[string]int{}, byLen: map[int][]string{},
		appPhrases: map[string][][]string{}, postings: map[string][]int{}, byApp: map[string][]*igav1.Entitlement{},
		aliasStart: map[string][]int{}}
	for _, a := range s.Apps {
		for _, ph := range append([]string{a.GetId(), a.GetName()}, a.GetAliases()...) {
			if toks := Tokenize(ph); len(toks) > 0 {
				ix.appPhrases[a.GetId()] = append(ix.appPhrases[a.GetId()], toks)
			}
		}
	}
	var total [nFields]int
	for _, e := range s.EntitlementList() {
		a, _ := s.App(e.GetAppId())
		if a == nil {
			a = &igav1.App{Id: e.GetAppId(), Name: e.GetAppId()}
		}
		d := &refDoc{ent: e, app: a}
		add := func(f field, text string) {
			if d.tf[f] == nil {
				d.tf[f] = map[string]int{}
			}
			for _, t := range Tokenize(text) {
				d.tf[f][t]++
				d.flen[f]++
			}
		}
		add(fAppName, a.GetId()+" "+a.GetName())
		for _, al := range a.GetAliases() {
			add(fAppAlias, al)
		}
		add(fAppDesc, a.GetDescription())
		add(fEntName, e.GetName())
		for _, al := range e.GetAliases() {
			add(fEntAlias, al)
		}
		add(fEntDesc, e.GetDescription())
		for _, al := range e.GetAliases() {
			var at []string
			for _, w := range Tokenize(al) {
				if !stopwords[w] {
					at = append(at, w)
				}
			}
			if len(at) >= 2 {
				d.aliases = append(d.aliases, at)
				if l := ix.aliasStart[at[0]]; len(l) == 0 || l[len(l)-1] != len(ix.docs) {
					ix.aliasStart[at[0]] = append(l, len(ix.docs))
				}
			}
		}
		seen := map[string]bool{}
		for f := range nFields {
			total[f] += d.flen[f]
			for t := range d.tf[f] {
				if !seen[t] {
					seen[t] = true
					ix.df[t]++
					ix.postings[t] = append(ix.postings[t], len(ix.docs))
				}
			}
		}
		ix.byApp[e.GetAppId()] = append(ix.byApp[e.GetAppId()], e)
		ix.docs = append(ix.docs, d)
	}
	for f := range nFields {
		if len(ix.docs) > 0 {
			ix.avgLen[f] = math.Max(float64(total[f])/float64(len(ix.docs)), 1)
		}
	}
	for _, es := range ix.byApp {
		sort.SliceStable(es, func(i, j int) bool {
			return directory.LevelRank(es[i].GetLevel()) < directory.LevelRank(es[j].GetLevel())
		})
	}
	for t := range ix.df {
		ix.byLen[len(t)] = append(ix.byLen[len(t)], t)
	}
	for _, l := range ix.byLen {
		sort.Strings(l)
	}
	return ix
}

// AppEntitlements returns an app's entitlements, least privileged first.
func (ix *refIndex) appEntitlements(appID string) []*igav1.Entitlement { return ix.byApp[appID] }

// AppTerms returns the words of an app's id, name and aliases.
func (ix *refIndex) appTerms(appID string) map[string]bool {
	out := map[string]bool{}
	for _, ph := range ix.appPhrases[appID] {
		for _, w := range ph {
			out[w] = true
		}
	}
	return out
}

// AliasPhrases returns the entitlements one of whose aliases (two words or more) occurs
// in the message word for word, ignoring stopwords and correcting typos, with the alias
// that matched. The catalog's aliases name tasks ("see errors", "query the warehouse"),
// so a verbatim one says which entitlement the task needs.
func (ix *refIndex) AliasPhrases(text string) map[string]string {
	var toks []string
	for _, t := range Tokenize(text) {
		if stopwords[t] {
			continue
		}
		toks = append(toks, ix.best(t))
	}
	joined := " " + strings.Join(toks, " ") + " "
	out := map[string]string{}
	seen := map[int]bool{}
	for _, t := range toks {
		for _, i := range ix.aliasStart[t] {
			if seen[i] {
				continue
			}
			seen[i] = true
			for _, at := range ix.docs[i].aliases {
				if strings.Contains(joined, " "+strings.Join(at, " ")+" ") {
					out[ix.docs[i].ent.GetId()] = strings.Join(at, " ")
					break
				}
			}
		}
	}
	return out
}

// best is the catalog term a word most likely means: itself when known, else its closest
// correction, else itself.
func (ix *refIndex) best(t string) string {
	bestW, bestT := 0.0, t
	for c, w := range ix.Correct(t) {
		if w > bestW || (w == bestW && c < bestT) {
			bestW, bestT = w, c
		}
	}
	return bestT
}

// AppsNamed returns the apps a message names outright: every word of the app's id, name
// or one of its aliases appears in the message (typos corrected), sorted.
func (ix *refIndex) AppsNamed(text string) []string {
	have := map[string]bool{}
	for _, t := range Tokenize(text) {
		if stopwords[t] {
			continue
		}
		for c := range ix.Correct(t) {
			have[c] = true
		}
	}
	// The longest phrase naming each app: "aws staging" names aws-staging more
	// specifically than "aws" names aws-prod, so the latter is dropped.
	named := map[string][]string{}
	for app, phrases := range ix.appPhrases {
		for _, ph := range phrases {
			all := true
			for _, w := range ph {
				if !have[w] {
					all = false
					break
				}
			}
			if all && len(ph) > len(named[app]) {
				named[app] = ph
			}
		}
	}
	var out []string
	for app, ph := range named {
		if !refSubsumed(ph, named) {
			out = append(out, app)
		}
	}
	sort.Strings(out)
	return out
}

// refSubsumed reports whether another app is named by a longer phrase holding all of ph.
func refSubsumed(ph []string, named map[string][]string) bool {
	for _, other := range named {
		if len(other) <= len(ph) {
			continue
		}
		in := map[string]bool{}
		for _, w := range other {
			in[w] = true
		}
		all := true
		for _, w := range ph {
			all = all && in[w]
		}
		if all {
			return true
		}
	}
	return false
}

// Correct maps a query term to catalog terms: itself when known, else the terms within
// a small edit distance (1 for short words, 2 for long ones). The weight is 1 for an
// exact term and lower for a correction.
func (ix *refIndex) Correct(term string) map[string]float64 {
	if ix.df[term] > 0 {
		return map[string]float64{term: 1}
	}
	out := map[string]float64{}
	if len(term) < 4 || len(term) > 40 || neverCorrected[term] {
		return out
	}
	maxD := 1
	if len(term) >= 7 {
		maxD = 2
	}
	for l := len(term) - maxD; l <= len(term)+maxD; l++ {
		for _, v := range ix.byLen[l] {
			if d := editDistance(term, v, maxD); d <= maxD {
				w := fuzzyCost / float64(d)
				if w > out[v] {
					out[v] = w
				}
			}
		}
	}
	return out
}

// Search ranks entitlements for a free-text query. Stopwords are ignored; unknown words
// are corrected to near catalog terms.
func (ix *refIndex) Search(query string, limit int) []Hit {
	terms := map[string]float64{}
	for _, t := range Tokenize(query) {
		if stopwords[t] {
			continue
		}
		for c, w := range ix.Correct(t) {
			if w > terms[c] && !stopwords[c] {
				terms[c] = w
			}
		}
	}
	if len(terms) == 0 {
		return nil
	}
	n := float64(len(ix.docs))
	var hits []Hit
	cand := map[int]bool{}
	for t := range terms {
		for _, i := range ix.postings[t] {
			cand[i] = true
		}
	}
	order := make([]int, 0, len(cand))
	for i := range cand {
		order = append(order, i)
	}
	sort.Ints(order)
	for _, i := range order {
		d := ix.docs[i]
		var h Hit
		for t, qw := range terms {
			df := float64(ix.df[t])
			if df == 0 {
				continue
			}
			idf := math.Log(1 + (n-df+0.5)/(df+0.5))
			var appPart, entPart float64
			matched := false
			for f := range nFields {
				tf := float64(d.tf[f][t])
				if tf == 0 {
					continue
				}
				matched = true
				norm := tf * (bm25K1 + 1) / (tf + bm25K1*(1-bm25B+bm25B*float64(d.flen[f])/ix.avgLen[f]))
				s := qw * idf * fieldWeight[f] * norm
				if f <= fAppDesc {
					appPart = math.Max(appPart, s)
				} else {
					entPart = math.Max(entPart, s)
				}
				if f == fAppName || f == fAppAlias {
					h.AppNamed = true
				}
			}
			if matched {
				h.AppScore += appPart
				h.EntScore += entPart
				h.Terms = append(h.Terms, t)
				if entPart > 0 {
					h.EntTerms = append(h.EntTerms, TermScore{t, entPart})
				}
			}
		}
		if h.AppScore+h.EntScore == 0 {
			continue
		}
		h.Entitlement, h.App, h.Score = d.ent, d.app, h.AppScore+h.EntScore
		sort.Strings(h.Terms)
		sort.Slice(h.EntTerms, func(i, j int) bool { return h.EntTerms[i].Term < h.EntTerms[j].Term })
		hits = append(hits, h)
	}
	sort.SliceStable(hits, func(i, j int) bool {
		if hits[i].Score != hits[j].Score {
			return hits[i].Score > hits[j].Score
		}
		ri, rj := directory.LevelRank(hits[i].Entitlement.GetLevel()), directory.LevelRank(hits[j].Entitlement.GetLevel())
		if ri != rj {
			return ri < rj
		}
		return hits[i].Entitlement.GetId() < hits[j].Entitlement.GetId()
	})
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	return hits
}
