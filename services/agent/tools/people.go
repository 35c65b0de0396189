package tools

import (
	"sort"
	"strings"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// peopleIndex finds active people by the ways messages name them, and peers by title
// and department, without scanning the directory per turn.
type peopleIndex struct {
	// byLocal: the part of the email before "@" ("dana.reyes").
	byLocal map[string][]*igav1.Person
	// byFull: the lower-case full name ("dana reyes").
	byFull map[string][]*igav1.Person
	// byFirst: the first word of the name, or the email's local part up to the first dot.
	byFirst map[string][]*igav1.Person
	// peers: everyone (any status) by title and department.
	peers map[[2]string][]*igav1.Person
}

func newPeopleIndex(s *directory.Snapshot) peopleIndex {
	px := peopleIndex{byLocal: map[string][]*igav1.Person{}, byFull: map[string][]*igav1.Person{},
		byFirst: map[string][]*igav1.Person{}, peers: map[[2]string][]*igav1.Person{}}
	people := make([]*igav1.Person, 0, len(s.People))
	for _, p := range s.People {
		people = append(people, p)
	}
	sort.Slice(people, func(i, j int) bool { return people[i].GetEmail() < people[j].GetEmail() })
	for _, p := range people {
		key := [2]string{p.GetTitle(), p.GetDepartment()}
		px.peers[key] = append(px.peers[key], p)
		if p.GetStatus() != "" && p.GetStatus() != "active" {
			continue
		}
		local, _, _ := strings.Cut(p.GetEmail(), "@")
		px.byLocal[local] = append(px.byLocal[local], p)
		name := strings.ToLower(p.GetName())
		px.byFull[name] = append(px.byFull[name], p)
		firsts := map[string]bool{}
		if f := strings.Fields(name); len(f) > 0 {
			firsts[f[0]] = true
		}
		lp, _, _ := strings.Cut(local, ".")
		firsts[lp] = true
		for f := range firsts {
			px.byFirst[f] = append(px.byFirst[f], p)
		}
	}
	return px
}

// PeopleByLocalPart returns the active people whose email starts with local+"@", by email.
func (ix *Index) PeopleByLocalPart(local string) []*igav1.Person { return ix.people.byLocal[local] }

// PeopleByName returns the active people with this full name (any case), by email.
func (ix *Index) PeopleByName(name string) []*igav1.Person {
	return ix.people.byFull[strings.ToLower(name)]
}

// PeopleByFirstName returns the active people whose name starts with the word, or whose
// email's local part does up to its first dot, by email.
func (ix *Index) PeopleByFirstName(word string) []*igav1.Person {
	return ix.people.byFirst[strings.ToLower(word)]
}

// Peers returns everyone with the title and department, by email.
func (ix *Index) Peers(title, department string) []*igav1.Person {
	return ix.people.peers[[2]string{title, department}]
}
