// Package directory is iga's shared reference data — people, apps and entitlements — as
// loaded from YAML, published to the directory KV bucket, and watched into memory by
// every service.
package directory

import (
	"sort"
	"strings"
	"sync"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// Snapshot is one consistent view of the directory. Treat it as read-only.
type Snapshot struct {
	People       map[string]*igav1.Person      // by lower-case email
	Apps         map[string]*igav1.App         // by id
	Entitlements map[string]*igav1.Entitlement // by id
	byChannel    map[string]string             // "slack/U123" -> email
}

// NewSnapshot indexes records.
func NewSnapshot(people []*igav1.Person, apps []*igav1.App, ents []*igav1.Entitlement) *Snapshot {
	s := &Snapshot{
		People:       make(map[string]*igav1.Person, len(people)),
		Apps:         make(map[string]*igav1.App, len(apps)),
		Entitlements: make(map[string]*igav1.Entitlement, len(ents)),
		byChannel:    map[string]string{},
	}
	for _, p := range people {
		s.People[strings.ToLower(p.GetEmail())] = p
		for ch, id := range p.GetChannelIds() {
			s.byChannel[ch+"/"+id] = strings.ToLower(p.GetEmail())
		}
	}
	for _, a := range apps {
		s.Apps[a.GetId()] = a
	}
	for _, e := range ents {
		s.Entitlements[e.GetId()] = e
	}
	return s
}

// Person returns the person with this email (any case).
func (s *Snapshot) Person(email string) (*igav1.Person, bool) {
	p, ok := s.People[strings.ToLower(strings.TrimSpace(email))]
	return p, ok
}

// PersonByChannel maps a channel identity to a person. For channels without a mapping
// the channel user id is taken as an email.
func (s *Snapshot) PersonByChannel(channel, userID string) (*igav1.Person, bool) {
	if email, ok := s.byChannel[channel+"/"+userID]; ok {
		return s.Person(email)
	}
	return s.Person(userID)
}

// App returns an app by id.
func (s *Snapshot) App(id string) (*igav1.App, bool) {
	a, ok := s.Apps[id]
	return a, ok
}

// Entitlement returns an entitlement by id.
func (s *Snapshot) Entitlement(id string) (*igav1.Entitlement, bool) {
	e, ok := s.Entitlements[id]
	return e, ok
}

// EntitlementList returns all entitlements sorted by id.
func (s *Snapshot) EntitlementList() []*igav1.Entitlement {
	out := make([]*igav1.Entitlement, 0, len(s.Entitlements))
	for _, e := range s.Entitlements {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetId() < out[j].GetId() })
	return out
}

// PeopleList returns all people sorted by email.
func (s *Snapshot) PeopleList() []*igav1.Person {
	out := make([]*igav1.Person, 0, len(s.People))
	for _, p := range s.People {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetEmail() < out[j].GetEmail() })
	return out
}

// GroupMembers returns the active people in a group, sorted by email.
func (s *Snapshot) GroupMembers(group string) []*igav1.Person {
	var out []*igav1.Person
	for _, p := range s.PeopleList() {
		if p.GetStatus() != "" && p.GetStatus() != "active" {
			continue
		}
		for _, g := range p.GetGroups() {
			if g == group {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// Reports returns the direct reports of a manager.
func (s *Snapshot) Reports(managerEmail string) []*igav1.Person {
	var out []*igav1.Person
	for _, p := range s.PeopleList() {
		if strings.EqualFold(p.GetManagerEmail(), managerEmail) {
			out = append(out, p)
		}
	}
	return out
}

// EntitlementOwner is the entitlement's owner, or its app's owner when it has none.
func (s *Snapshot) EntitlementOwner(e *igav1.Entitlement) string {
	if e.GetOwnerEmail() != "" {
		return e.GetOwnerEmail()
	}
	if a, ok := s.App(e.GetAppId()); ok {
		return a.GetOwnerEmail()
	}
	return ""
}

// Directory holds the current snapshot and swaps it atomically when the source changes.
// Safe for concurrent use.
type Directory struct {
	mu   sync.RWMutex
	snap *Snapshot
}

// New returns a directory holding snap.
func New(snap *Snapshot) *Directory { return &Directory{snap: snap} }

// Snapshot returns the current view.
func (d *Directory) Snapshot() *Snapshot {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.snap
}

// Set replaces the current view.
func (d *Directory) Set(s *Snapshot) {
	d.mu.Lock()
	d.snap = s
	d.mu.Unlock()
}
