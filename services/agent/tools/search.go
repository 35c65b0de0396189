package tools

import (
	"math"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// Hit is one ranked search result.
type Hit struct {
	Entitlement *igav1.Entitlement
	App         *igav1.App
	Score       float64
	// AppScore is the part of Score earned by app fields (name, aliases): how strongly the
	// query names the app. EntScore is the part earned by the entitlement's own fields.
	AppScore float64
	EntScore float64
	// AppNamed is true when a query term names the app itself (its id, name or an alias).
	AppNamed bool
	// Terms are the query terms that matched, after typo correction.
	Terms []string
	// EntTerms is each matched term's contribution to EntScore, by term, for the terms
	// that earned some.
	EntTerms []TermScore
}

// TermScore is a query term and what it earned.
type TermScore struct {
	Term  string
	Score float64
}

// Field weights: naming the app or the entitlement counts more than a description word.
const (
	wAppName  = 3.0
	wAppAlias = 2.5
	wAppDesc  = 0.6
	wEntName  = 2.5
	wEntAlias = 2.0
	wEntDesc  = 1.0
	bm25K1    = 1.2
	bm25B     = 0.75
	fuzzyCost = 0.7
)

type field int

const (
	fAppName field = iota
	fAppAlias
	fAppDesc
	fEntName
	fEntAlias
	fEntDesc
	nFields
)

var fieldWeight = [nFields]float64{wAppName, wAppAlias, wAppDesc, wEntName, wEntAlias, wEntDesc}

// Typo tolerance: words of 4 to 40 letters are corrected, by one edit below 7 letters
// and two from 7 on.
const (
	minFuzzyLen = 4
	maxFuzzyLen = 40
	maxEdits    = 2
)

// posting is one document holding a term, with the term's BM25F weight in it already
// computed: a query only multiplies by its own weight for the term and adds up.
type posting struct {
	doc int32
	// app and ent are the best field score among the app's fields and among the
	// entitlement's own fields.
	app, ent float64
	// appNamed: the term is in the app's id, name or aliases.
	appNamed bool
}

type doc struct {
	ent  *igav1.Entitlement
	app  *igav1.App
	rank int // directory.LevelRank of the entitlement
}

// appPhrase is an app's id, name or one alias as words; order is its place among the
// app's phrases.
type appPhrase struct {
	app   string
	words []string
	order int
}

// aliasRef is the i-th multi-word alias of a document.
type aliasRef struct {
	doc, i int32
}

// Index is a BM25F index over the catalog: app names, aliases and descriptions and
// entitlement names, aliases and descriptions. Everything a query needs is precomputed
// when the index is built (once per directory snapshot), so a query costs the postings
// of its own words, not the size of the catalog: scores per posting, a deletion index
// for typos, app phrases keyed by their rarest word, and entitlement aliases keyed by
// their exact words.
type Index struct {
	docs []doc
	// docOf is each entitlement's document.
	docOf map[string]int32
	// postings lists the documents holding each term, in document (= id) order.
	postings map[string][]posting
	// peak is each term's highest score in any document (app and entitlement parts
	// together): what the term can add to a document at most.
	peak map[string]float64
	// deletions maps every string made by deleting up to two letters from a term (the
	// term itself included) to the terms it came from: typo candidates in a few lookups.
	deletions map[string][]string
	// appPhrases are each app's id, name and aliases as token lists.
	appPhrases map[string][][]string
	// phrasesByRare files each app phrase under its rarest word: a phrase can only be
	// named in full by a message holding that word.
	phrasesByRare map[string][]appPhrase
	// byApp lists each app's entitlements, least privileged first.
	byApp map[string][]*igav1.Entitlement
	// aliases maps an entitlement alias of two words or more (stopwords removed, words
	// joined by a space) to the documents listing it; aliasWords are the lengths in words
	// such aliases have, ascending; docAliases are each document's such aliases.
	aliases    map[string][]aliasRef
	aliasWords []int
	docAliases [][]string

	// plain maps an app to its plain entitlement: the one (short of admin) the catalog
	// gives an alias made of nothing but the app's own words ("notion access", "linear
	// account"), i.e. what "access to <app>" means.
	plain map[string]Plain

	people peopleIndex

	// fixes remembers the corrections of words not in the catalog ("look", "quarterly"
	// recur in message after message); cleared when it reaches maxFixes words.
	fixMu sync.RWMutex
	fixes map[string][]TermScore
}

const maxFixes = 1 << 14

// NewIndex indexes a snapshot's catalog.
func NewIndex(s *directory.Snapshot) *Index {
	ix := &Index{postings: map[string][]posting{}, peak: map[string]float64{}, deletions: map[string][]string{},
		appPhrases: map[string][][]string{}, phrasesByRare: map[string][]appPhrase{},
		byApp: map[string][]*igav1.Entitlement{}, aliases: map[string][]aliasRef{}}
	for _, a := range s.Apps {
		for _, ph := range append([]string{a.GetId(), a.GetName()}, a.GetAliases()...) {
			if toks := Tokenize(ph); len(toks) > 0 {
				ix.appPhrases[a.GetId()] = append(ix.appPhrases[a.GetId()], toks)
			}
		}
	}
	ix.indexAppPhrases()
	ix.people = newPeopleIndex(s)

	type docTF struct {
		tf   [nFields]map[string]int
		flen [nFields]int
	}
	ents := s.EntitlementList()
	tfs := make([]docTF, len(ents))
	df := map[string]int{}
	var total [nFields]int
	aliasLens := map[int]bool{}
	ix.docs = make([]doc, len(ents))
	ix.docOf = make(map[string]int32, len(ents))
	ix.docAliases = make([][]string, len(ents))
	for i, e := range ents {
		a, _ := s.App(e.GetAppId())
		if a == nil {
			a = &igav1.App{Id: e.GetAppId(), Name: e.GetAppId()}
		}
		ix.docs[i] = doc{ent: e, app: a, rank: directory.LevelRank(e.GetLevel())}
		ix.docOf[e.GetId()] = int32(i)
		d := &tfs[i]
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
				key := strings.Join(at, " ")
				ix.aliases[key] = append(ix.aliases[key], aliasRef{doc: int32(i), i: int32(len(ix.docAliases[i]))})
				ix.docAliases[i] = append(ix.docAliases[i], key)
				aliasLens[len(at)] = true
			}
		}
		seen := map[string]bool{}
		for f := range nFields {
			total[f] += d.flen[f]
			for t := range d.tf[f] {
				if !seen[t] {
					seen[t] = true
					df[t]++
				}
			}
		}
		ix.byApp[e.GetAppId()] = append(ix.byApp[e.GetAppId()], e)
	}
	for l := range aliasLens {
		ix.aliasWords = append(ix.aliasWords, l)
	}
	sort.Ints(ix.aliasWords)

	var avgLen [nFields]float64
	for f := range nFields {
		if len(ents) > 0 {
			avgLen[f] = math.Max(float64(total[f])/float64(len(ents)), 1)
		}
	}
	n := float64(len(ents))
	for t, c := range df {
		ix.postings[t] = make([]posting, 0, c)
	}
	for i := range tfs {
		d := &tfs[i]
		// Each document's terms, once, in a fixed order.
		var terms []string
		seen := map[string]bool{}
		for f := range nFields {
			for t := range d.tf[f] {
				if !seen[t] {
					seen[t] = true
					terms = append(terms, t)
				}
			}
		}
		for _, t := range terms {
			dft := float64(df[t])
			idf := math.Log(1 + (n-dft+0.5)/(dft+0.5))
			p := posting{doc: int32(i)}
			for f := range nFields {
				tf := float64(d.tf[f][t])
				if tf == 0 {
					continue
				}
				norm := tf * (bm25K1 + 1) / (tf + bm25K1*(1-bm25B+bm25B*float64(d.flen[f])/avgLen[f]))
				sc := idf * fieldWeight[f] * norm
				if f <= fAppDesc {
					p.app = math.Max(p.app, sc)
				} else {
					p.ent = math.Max(p.ent, sc)
				}
				if f == fAppName || f == fAppAlias {
					p.appNamed = true
				}
			}
			ix.postings[t] = append(ix.postings[t], p)
		}
	}
	for _, es := range ix.byApp {
		sort.SliceStable(es, func(i, j int) bool {
			return directory.LevelRank(es[i].GetLevel()) < directory.LevelRank(es[j].GetLevel())
		})
	}
	ix.indexPlain()
	for t, ps := range ix.postings {
		for _, p := range ps {
			ix.peak[t] = max(ix.peak[t], p.app+p.ent)
		}
		ix.addDeletions(t)
	}
	return ix
}

// indexPlain finds each app's plain entitlement, if exactly one has such an alias and
// no entitlement of the app is less privileged.
func (ix *Index) indexPlain() {
	ix.plain = map[string]Plain{}
	found := map[string][]Plain{}
	for app, es := range ix.byApp {
		names := map[string]bool{}
		for _, ph := range ix.appPhrases[app][:min(2, len(ix.appPhrases[app]))] { // id and name
			for _, w := range ph {
				names[w] = true
			}
		}
		lowest := directory.LevelRank(es[0].GetLevel()) // es is least privileged first
		for _, e := range es {
			if e.GetLevel() == "admin" || directory.LevelRank(e.GetLevel()) > lowest {
				continue
			}
			p := Plain{Entitlement: e}
			for _, al := range e.GetAliases() {
				toks := Tokenize(al)
				words, only := 0, true
				for _, w := range toks {
					if !stopwords[w] {
						words++
						only = only && names[w]
					}
				}
				if words > 0 && only {
					p.Aliases = append(p.Aliases, toks)
				}
			}
			if len(p.Aliases) > 0 {
				found[app] = append(found[app], p)
			}
		}
	}
	for app, ps := range found {
		if len(ps) == 1 {
			ix.plain[app] = ps[0]
		}
	}
}

// Plain is what the catalog says plain access to an app is: the one entitlement, short
// of admin and of the app's least privileged level, with aliases made only of the app's
// id or name and stopwords ("notion access", "linear account").
type Plain struct {
	Entitlement *igav1.Entitlement
	// Aliases are those aliases, as words (stopwords kept).
	Aliases [][]string
}

// PlainEntitlement returns an app's plain entitlement, if it has one.
func (ix *Index) PlainEntitlement(appID string) (Plain, bool) {
	p, ok := ix.plain[appID]
	return p, ok
}

// Best is the catalog term a word most likely means: itself when known, else its closest
// correction, else itself.
func (ix *Index) Best(t string) string { return ix.best(t) }

// indexAppPhrases files every app phrase under its rarest word (fewest phrases holding
// it; ties by the word), so naming an app costs the phrases of the message's words.
func (ix *Index) indexAppPhrases() {
	freq := map[string]int{}
	for _, phrases := range ix.appPhrases {
		for _, ph := range phrases {
			seen := map[string]bool{}
			for _, w := range ph {
				if !seen[w] {
					seen[w] = true
					freq[w]++
				}
			}
		}
	}
	for app, phrases := range ix.appPhrases {
		for i, ph := range phrases {
			rare := ph[0]
			for _, w := range ph[1:] {
				if freq[w] < freq[rare] || (freq[w] == freq[rare] && w < rare) {
					rare = w
				}
			}
			ix.phrasesByRare[rare] = append(ix.phrasesByRare[rare], appPhrase{app: app, words: ph, order: i})
		}
	}
}

// addDeletions files a term under every string made by deleting up to two of its letters
// (one for short terms, which only ever match words of at most six letters).
func (ix *Index) addDeletions(term string) {
	// Lengths in bytes, as Correct measures them: a query word of 4 to 40 bytes is
	// corrected by one edit, by two from 7 bytes on, to terms at most that many bytes
	// longer or shorter.
	if len(term) > maxFuzzyLen+maxEdits || len(term) < minFuzzyLen-1 {
		return
	}
	edits := maxEdits
	if len(term) <= 4 {
		edits = 1
	}
	r := []rune(term)
	seen := map[string]bool{}
	deleteRunes(r, edits, func(v string) {
		if !seen[v] {
			seen[v] = true
			ix.deletions[v] = append(ix.deletions[v], term)
		}
	})
}

// deleteRunes calls f with r and every string made by deleting up to n runes of it
// (possibly more than once for the same string).
func deleteRunes(r []rune, n int, f func(string)) {
	f(string(r))
	if n == 0 || len(r) == 0 {
		return
	}
	buf := make([]rune, len(r)-1)
	for i := range r {
		copy(buf, r[:i])
		copy(buf[i:], r[i+1:])
		deleteRunes(buf, n-1, f)
	}
}

// known reports whether the catalog holds a term.
func (ix *Index) known(t string) bool { return len(ix.postings[t]) > 0 }

// AppEntitlements returns an app's entitlements, least privileged first.
func (ix *Index) AppEntitlements(appID string) []*igav1.Entitlement { return ix.byApp[appID] }

// AppTerms returns the words of an app's id, name and aliases.
func (ix *Index) AppTerms(appID string) map[string]bool {
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
func (ix *Index) AliasPhrases(text string) map[string]string {
	var toks []string
	for _, t := range Tokenize(text) {
		if stopwords[t] {
			continue
		}
		toks = append(toks, ix.best(t))
	}
	out := map[string]string{}
	// A document's first alias found in the message is the one reported.
	first := map[int32]int32{}
	for i := range toks {
		for _, l := range ix.aliasWords {
			if i+l > len(toks) {
				break
			}
			for _, ref := range ix.aliases[strings.Join(toks[i:i+l], " ")] {
				if j, ok := first[ref.doc]; !ok || ref.i < j {
					first[ref.doc] = ref.i
				}
			}
		}
	}
	for d, i := range first {
		out[ix.docs[d].ent.GetId()] = ix.docAliases[d][i]
	}
	return out
}

// best is the catalog term a word most likely means: itself when known, else its closest
// correction, else itself.
func (ix *Index) best(t string) string {
	bestW, bestT := 0.0, t
	for _, c := range ix.corrections(t) {
		if c.Score > bestW || (c.Score == bestW && c.Term < bestT) {
			bestW, bestT = c.Score, c.Term
		}
	}
	return bestT
}

// AppsNamed returns the apps a message names outright: every word of the app's id, name
// or one of its aliases appears in the message (typos corrected), sorted.
func (ix *Index) AppsNamed(text string) []string {
	have := map[string]bool{}
	for _, t := range Tokenize(text) {
		if stopwords[t] {
			continue
		}
		for _, c := range ix.corrections(t) {
			have[c.Term] = true
		}
	}
	// The longest phrase naming each app: "aws staging" names aws-staging more
	// specifically than "aws" names aws-prod, so the latter is dropped.
	type namedBy struct {
		words []string
		order int
	}
	named := map[string]namedBy{}
	for w := range have {
		for _, ph := range ix.phrasesByRare[w] {
			all := true
			for _, pw := range ph.words {
				if !have[pw] {
					all = false
					break
				}
			}
			if !all {
				continue
			}
			cur, ok := named[ph.app]
			if !ok || len(ph.words) > len(cur.words) || (len(ph.words) == len(cur.words) && ph.order < cur.order) {
				named[ph.app] = namedBy{ph.words, ph.order}
			}
		}
	}
	phrases := make(map[string][]string, len(named))
	for app, n := range named {
		phrases[app] = n.words
	}
	var out []string
	for app, ph := range phrases {
		if !subsumed(ph, phrases) {
			out = append(out, app)
		}
	}
	sort.Strings(out)
	return out
}

// subsumed reports whether another app is named by a longer phrase holding all of ph.
func subsumed(ph []string, named map[string][]string) bool {
	for _, other := range named {
		if len(other) <= len(ph) {
			continue
		}
		all := true
		for _, w := range ph {
			in := false
			for _, o := range other {
				if o == w {
					in = true
					break
				}
			}
			if !in {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// Correct maps a query term to catalog terms: itself when known, else the terms within
// a small edit distance (1 for short words, 2 for long ones) — never for a common English
// word (neverCorrected). The weight is 1 for an exact term and lower for a correction. Candidates come from the deletion index, so a
// correction costs a few dozen lookups whatever the vocabulary's size.
func (ix *Index) Correct(term string) map[string]float64 {
	out := map[string]float64{}
	for _, c := range ix.corrections(term) {
		out[c.Term] = c.Score
	}
	return out
}

// corrections is Correct as a list, sorted by term; callers must not change it.
func (ix *Index) corrections(term string) []TermScore {
	if ix.known(term) {
		return []TermScore{{term, 1}}
	}
	if len(term) < minFuzzyLen || len(term) > maxFuzzyLen || neverCorrected[term] {
		return nil
	}
	ix.fixMu.RLock()
	fix, ok := ix.fixes[term]
	ix.fixMu.RUnlock()
	if ok {
		return fix
	}
	maxD := 1
	if len(term) >= 7 {
		maxD = 2
	}
	seen := map[string]bool{}
	deleteRunes([]rune(term), maxD, func(v string) {
		if seen[v] {
			return
		}
		seen[v] = true
		for _, c := range ix.deletions[v] {
			if abs(len(c)-len(term)) > maxD || slices.ContainsFunc(fix, func(f TermScore) bool { return f.Term == c }) {
				continue
			}
			if d := editDistance(term, c, maxD); d <= maxD {
				fix = append(fix, TermScore{c, fuzzyCost / float64(d)})
			}
		}
	})
	slices.SortFunc(fix, func(a, b TermScore) int { return strings.Compare(a.Term, b.Term) })
	ix.fixMu.Lock()
	if len(ix.fixes) >= maxFixes || ix.fixes == nil {
		ix.fixes = map[string][]TermScore{}
	}
	ix.fixes[term] = fix
	ix.fixMu.Unlock()
	return fix
}

// queryTerm is one catalog term a query asks for, with its weight.
type queryTerm struct {
	term string
	w    float64
	list []posting
	// peak is the most the term adds to a document's score; pos is the merge's place in
	// list.
	peak float64
	pos  int
}

// scored is a document's score while a query is ranked.
type scored struct {
	doc      int32
	rank     int32 // the entitlement's level rank
	named    bool
	app, ent float64
	score    float64 // app + ent, once the document is scored
	// terms has a bit set per matched query term (the first 64), to size the hits' term
	// lists.
	terms uint64
}

// Search ranks entitlements for a free-text query. Stopwords are ignored; unknown words
// are corrected to near catalog terms. limit <= 0 returns every match.
func (ix *Index) Search(query string, limit int) []Hit {
	return ix.search(query, limit)
}

// SearchAmong scores only the given entitlements against a query, best first, as Search
// would score them; entitlements that match nothing are left out. It costs the number of
// entitlements times the query's words, whatever the catalog's size.
func (ix *Index) SearchAmong(query string, ids []string) []Hit {
	terms := ix.queryTerms(query)
	if len(terms) == 0 {
		return nil
	}
	sort.Slice(terms, func(i, j int) bool { return terms[i].term < terms[j].term })
	var kept []scored
	seen := map[int32]bool{}
	for _, id := range ids {
		d, ok := ix.docOf[id]
		if !ok || seen[d] {
			continue
		}
		seen[d] = true
		s := scored{doc: d}
		for i := range terms {
			qt := &terms[i]
			if j := seek(qt.list, 0, d); j < len(qt.list) && qt.list[j].doc == d {
				s.add(i, qt, qt.list[j])
			}
		}
		if s.app+s.ent == 0 {
			continue
		}
		s.score, s.rank = s.app+s.ent, int32(ix.docs[d].rank)
		kept = append(kept, s)
	}
	top := topK{h: kept}
	return ix.hits(terms, top.sorted())
}

// queryTerms are the catalog terms a query asks for, typos corrected, with weights.
func (ix *Index) queryTerms(query string) []queryTerm {
	weights := map[string]float64{}
	for _, t := range Tokenize(query) {
		if stopwords[t] {
			continue
		}
		for _, c := range ix.corrections(t) {
			if c.Score > weights[c.Term] && !stopwords[c.Term] {
				weights[c.Term] = c.Score
			}
		}
	}
	terms := make([]queryTerm, 0, len(weights))
	for t, w := range weights {
		terms = append(terms, queryTerm{term: t, w: w, list: ix.postings[t], peak: w * ix.peak[t]})
	}
	return terms
}

func (ix *Index) search(query string, limit int) []Hit {
	terms := ix.queryTerms(query)
	if len(terms) == 0 {
		return nil
	}
	// Least promising terms first: those whose peaks together cannot lift a document into
	// the kept set are only looked up for documents the others found (MaxScore), so a
	// word every entitlement has ("data") costs nothing once the set is full.
	sort.Slice(terms, func(i, j int) bool {
		if terms[i].peak != terms[j].peak {
			return terms[i].peak < terms[j].peak
		}
		return terms[i].term < terms[j].term
	})
	// upTo[i] bounds what terms[0..i] add together, with a margin for rounding.
	upTo := make([]float64, len(terms))
	sum := 0.0
	for i, qt := range terms {
		sum += qt.peak
		upTo[i] = sum*(1+1e-9) + 1e-12
	}
	top := topK{limit: limit}
	// terms[:lazy] are the terms too weak to make a document on their own.
	lazy := 0
	for {
		next := int32(math.MaxInt32)
		for i := lazy; i < len(terms); i++ {
			if qt := &terms[i]; qt.pos < len(qt.list) && qt.list[qt.pos].doc < next {
				next = qt.list[qt.pos].doc
			}
		}
		if next == math.MaxInt32 {
			break
		}
		s := scored{doc: next}
		for i := lazy; i < len(terms); i++ {
			if qt := &terms[i]; qt.pos < len(qt.list) && qt.list[qt.pos].doc == next {
				s.add(i, qt, qt.list[qt.pos])
				qt.pos++
			}
		}
		// The weak terms, strongest first, while they can still make a difference.
		for i := lazy - 1; i >= 0; i-- {
			if floor, ok := top.floor(); ok && s.app+s.ent+upTo[i] < floor {
				break
			}
			qt := &terms[i]
			qt.pos = seek(qt.list, qt.pos, next)
			if qt.pos < len(qt.list) && qt.list[qt.pos].doc == next {
				s.add(i, qt, qt.list[qt.pos])
			}
		}
		if s.app+s.ent == 0 {
			continue
		}
		s.score, s.rank = s.app+s.ent, int32(ix.docs[next].rank)
		top.push(s)
		if floor, ok := top.floor(); ok {
			for lazy < len(terms) && upTo[lazy] < floor {
				lazy++
			}
		}
	}
	sort.Slice(terms, func(i, j int) bool { return terms[i].term < terms[j].term })
	return ix.hits(terms, top.sorted())
}

// hits builds the results for the kept documents, terms in alphabetical order so Terms
// and EntTerms come sorted. terms must be sorted by term.
func (ix *Index) hits(terms []queryTerm, kept []scored) []Hit {
	hits := make([]Hit, len(kept))
	n := 0
	for _, s := range kept {
		n += bits.OnesCount64(s.terms)
	}
	// The hits' term lists share two backing arrays: one allocation each per query.
	termBuf := make([]string, 0, n)
	entBuf := make([]TermScore, 0, n)
	for k, s := range kept {
		d := ix.docs[s.doc]
		h := Hit{Entitlement: d.ent, App: d.app, AppScore: s.app, EntScore: s.ent, Score: s.score, AppNamed: s.named}
		t0, e0 := len(termBuf), len(entBuf)
		for i := range terms {
			qt := &terms[i]
			j := seek(qt.list, 0, s.doc)
			if j == len(qt.list) || qt.list[j].doc != s.doc {
				continue
			}
			termBuf = append(termBuf, qt.term)
			if e := qt.w * qt.list[j].ent; e > 0 {
				entBuf = append(entBuf, TermScore{qt.term, e})
			}
		}
		h.Terms = termBuf[t0:len(termBuf):len(termBuf)]
		if len(entBuf) > e0 {
			h.EntTerms = entBuf[e0:len(entBuf):len(entBuf)]
		}
		hits[k] = h
	}
	return hits
}

// seek returns the first position at or after from whose document is at least doc,
// galloping: the cost grows with the log of the distance skipped, not the list's length.
func seek(list []posting, from int, doc int32) int {
	if from >= len(list) || list[from].doc >= doc {
		return from
	}
	lo, step := from, 1 // list[lo].doc < doc
	for lo+step < len(list) && list[lo+step].doc < doc {
		lo += step
		step *= 2
	}
	hi := min(lo+step, len(list)) // list[hi].doc >= doc, or hi is the end
	return lo + 1 + sort.Search(hi-lo-1, func(j int) bool { return list[lo+1+j].doc >= doc })
}

func (s *scored) add(i int, qt *queryTerm, p posting) {
	if i < 64 {
		s.terms |= 1 << i
	}
	s.app += qt.w * p.app
	s.ent += qt.w * p.ent
	s.named = s.named || p.appNamed
}

// topK keeps the best documents of a ranking: highest score, then least privileged, then
// by id (documents are in id order).
type topK struct {
	limit int
	h     []scored
}

// better reports whether a ranks before b.
func better(a, b *scored) bool {
	if a.score != b.score {
		return a.score > b.score
	}
	if a.rank != b.rank {
		return a.rank < b.rank
	}
	return a.doc < b.doc
}

// floor is the score a document must beat to be kept, once the set is full.
func (t *topK) floor() (float64, bool) {
	if t.limit <= 0 || len(t.h) < t.limit {
		return 0, false
	}
	return t.h[0].score, true
}

func (t *topK) push(s scored) {
	if t.limit <= 0 {
		t.h = append(t.h, s)
		return
	}
	if len(t.h) < t.limit {
		t.h = append(t.h, s)
		for i := len(t.h) - 1; i > 0; {
			p := (i - 1) / 2
			if !better(&t.h[p], &t.h[i]) { // parent is worse: fine
				break
			}
			t.h[p], t.h[i] = t.h[i], t.h[p]
			i = p
		}
		return
	}
	if !better(&s, &t.h[0]) {
		return
	}
	t.h[0] = s
	for i := 0; ; {
		l, r, w := 2*i+1, 2*i+2, i
		if l < len(t.h) && better(&t.h[w], &t.h[l]) {
			w = l
		}
		if r < len(t.h) && better(&t.h[w], &t.h[r]) {
			w = r
		}
		if w == i {
			break
		}
		t.h[w], t.h[i] = t.h[i], t.h[w]
		i = w
	}
}

func (t *topK) sorted() []scored {
	slices.SortFunc(t.h, func(a, b scored) int {
		if better(&a, &b) {
			return -1
		}
		return 1 // no two documents are equal
	})
	return t.h
}

// Tokenize lower-cases text, splits it into words of letters and digits (so
// "payments-viewer" is two words) and reduces plurals, keeping word order.
func Tokenize(text string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		out = append(out, Stem(w))
	}
	return out
}

// Stem reduces a word to a crude singular so "dashboards" finds "dashboard".
func Stem(w string) string {
	switch {
	case len(w) > 4 && strings.HasSuffix(w, "ies"):
		return w[:len(w)-3] + "y"
	case len(w) > 4 && (strings.HasSuffix(w, "sses") || strings.HasSuffix(w, "shes") || strings.HasSuffix(w, "ches")):
		return w[:len(w)-2]
	case len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		return w[:len(w)-1]
	}
	return w
}

// stopwords carry no meaning for retrieval in access requests.
var stopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the i me my we our us you your it its to of in on at for from with by and or
		but is are be been am was were do doe did need needed want would like could can please pls plz get got give
		grant access acces permission permissions right rights some any this that these those there here what which
		who how when where just also so then than into about as up out over new now today week day days weeks hour
		hours minute minutes month months till until through thru more let able use using let's im i'm i'd ve
		hi hello hey thanks thank team role level account again already still only them they their s t`) {
		stopwords[Stem(w)] = true
	}
}

// neverCorrected are common English words that are not catalog words unless the catalog
// holds them verbatim: one edit turns many of them into one ("have" into "save", "work"
// into "fork", "currently" into "currency"), and a message's grammar must never decide
// what access is proposed. They are matched exactly or not at all.
var neverCorrected = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`have has had having does did doing done being will shall should may might must
		cannot can't won't don't doesn't didn't isn't aren't wasn't weren't haven't hasn't wouldn't couldn't shouldn't
		whom whose why each every such nor not own same too very really actually currently recently probably usually
		basically maybe perhaps already almost yet ever never always often sometimes else instead anyway though although
		because while since unless whether above below after before again against between both during further under
		upon onto off down across around without within along among toward towards per via
		he she him her hers his mine yours ours theirs himself herself itself myself yourself ourselves themselves
		one ones someone anyone everyone nobody somebody anybody something anything everything nothing
		thing things stuff way ways time times lot lots kind sort bit
		make made makes making take took taken takes taking know knew known think thought want wanted wants wanting
		tell told ask asked asks say said says let lets go goes going gone went come came comes coming put puts
		try tried tries trying find found give gave given gives keep kept keeps seem seems feel felt mean means meant
		work works worked working start started help helps helped
		good great fine okay yes yeah nope sure well right left next last first same other another
		hello hey thank thanks sorry cheer cheers`) {
		neverCorrected[Stem(w)] = true
	}
}

// IsStopword reports whether a (stemmed) word is ignored by search.
func IsStopword(w string) bool { return stopwords[w] }

// EditDistance is the optimal-string-alignment distance between two words (a
// transposition is one edit), or max+1 when it is more than max.
func EditDistance(a, b string, max int) int { return editDistance(a, b, max) }

// editDistance is the optimal-string-alignment distance, giving up past max. Words of up
// to 48 letters are compared without allocating.
func editDistance(a, b string, max int) int {
	if a == b {
		return 0
	}
	var ba, bb [48]rune
	ra, rb := appendRunes(ba[:0], a), appendRunes(bb[:0], b)
	if abs(len(ra)-len(rb)) > max {
		return max + 1
	}
	var rows [3][49]int
	var prev2, prev, cur []int
	if len(rb) < len(rows[0]) {
		prev2, prev, cur = rows[0][:len(rb)+1], rows[1][:len(rb)+1], rows[2][:len(rb)+1]
	} else {
		prev2, prev, cur = make([]int, len(rb)+1), make([]int, len(rb)+1), make([]int, len(rb)+1)
	}
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > max {
			return max + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

func appendRunes(dst []rune, s string) []rune {
	for _, r := range s {
		dst = append(dst, r)
	}
	return dst
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
