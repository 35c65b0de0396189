package agent

import "time"

// SetClock replaces the service's clock; call it before Start.
func SetClock(s *Service, now func() time.Time) { s.now = now }
