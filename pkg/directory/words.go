package directory

import (
	"fmt"
	"strings"
	"time"
	// People's time zones decide what "until Friday" and "17:00 PST" mean: the zone
	// database is built in, so a machine or container without one reads them the same.
	_ "time/tzdata"
)

// AccessName names an entitlement the way people read it: "Grafana payments-viewer". An
// entitlement the snapshot does not know is named from its id ("app:name" → "app name").
func (s *Snapshot) AccessName(entitlementID string) string {
	e, ok := s.Entitlement(entitlementID)
	if !ok {
		app, name, _ := strings.Cut(entitlementID, ":")
		return strings.TrimSpace(app + " " + name)
	}
	app := e.GetAppId()
	if a, ok := s.App(e.GetAppId()); ok && a.GetName() != "" {
		app = a.GetName()
	}
	return app + " " + e.GetName()
}

// LocalTime formats t for the person, in their time zone when the directory knows it
// (else UTC): "16:02 PST on Thu 3 Dec".
func (s *Snapshot) LocalTime(email string, t time.Time) string {
	loc := time.UTC
	if p, ok := s.Person(email); ok && p.GetTimeZone() != "" {
		if l, err := time.LoadLocation(p.GetTimeZone()); err == nil {
			loc = l
		}
	}
	t = t.In(loc)
	zone := t.Format("MST")
	if loc == time.UTC {
		zone = "UTC"
	}
	return fmt.Sprintf("%s %s on %s", t.Format("15:04"), zone, t.Format("Mon 2 Jan"))
}
