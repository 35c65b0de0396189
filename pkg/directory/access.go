package directory

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultReviewAfter is how long imported access runs before it is reviewed, when
// access.yaml does not say: standing access still ends.
const DefaultReviewAfter = 90 * 24 * time.Hour

// Access is one entitlement a person already holds, to import into the grants ledger.
type Access struct {
	PersonEmail   string
	EntitlementID string
	// ReviewAfter is how long after the import the access is reviewed; it expires then
	// unless extended.
	ReviewAfter time.Duration
}

// The YAML shape of access.yaml (see deploy/demo/access.yaml).
type accessFile struct {
	ReviewAfter string       `yaml:"review_after"`
	Access      []accessYAML `yaml:"access"`
}

type accessYAML struct {
	Person       string   `yaml:"person"`
	Entitlements []string `yaml:"entitlements"`
	ReviewAfter  string   `yaml:"review_after"`
}

// LoadAccess reads access.yaml, the access people hold before iga manages it, and checks
// it against snap: every person must be in the directory and active (access of people
// who left is not imported), every entitlement in the catalog, no access listed twice,
// and review_after (the file's default, or a person's own) a positive duration. It reports
// every problem at once. The error of a missing file wraps fs.ErrNotExist.
func LoadAccess(path string, snap *Snapshot) ([]Access, error) {
	var af accessFile
	if err := readYAML(path, &af); err != nil {
		return nil, err
	}
	var errs []error
	review := DefaultReviewAfter
	if strings.TrimSpace(af.ReviewAfter) != "" {
		d, err := ParseDuration(af.ReviewAfter)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: review_after: %w", path, err))
		case d <= 0:
			errs = append(errs, fmt.Errorf("%s: review_after %q must be longer than zero", path, af.ReviewAfter))
		default:
			review = d
		}
	}
	var out []Access
	seen := map[[2]string]bool{}
	for i, a := range af.Access {
		where := fmt.Sprintf("%s: access[%d]", path, i)
		email := strings.ToLower(strings.TrimSpace(a.Person))
		p, ok := snap.Person(email)
		switch {
		case email == "":
			errs = append(errs, fmt.Errorf("%s: person is required", where))
			continue
		case !ok:
			errs = append(errs, fmt.Errorf("%s: person %s is not in the directory", where, email))
			continue
		case p.GetStatus() != "" && p.GetStatus() != "active":
			errs = append(errs, fmt.Errorf("%s: person %s is %s; only active people's access is imported", where, email, p.GetStatus()))
			continue
		}
		if len(a.Entitlements) == 0 {
			errs = append(errs, fmt.Errorf("%s (%s): no entitlements listed", where, email))
		}
		r := review
		if strings.TrimSpace(a.ReviewAfter) != "" {
			d, err := ParseDuration(a.ReviewAfter)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s (%s): review_after: %w", where, email, err))
			case d <= 0:
				errs = append(errs, fmt.Errorf("%s (%s): review_after %q must be longer than zero", where, email, a.ReviewAfter))
			default:
				r = d
			}
		}
		for _, id := range a.Entitlements {
			id = strings.TrimSpace(id)
			if _, ok := snap.Entitlement(id); !ok {
				errs = append(errs, fmt.Errorf("%s (%s): entitlement %q is not in the catalog", where, email, id))
				continue
			}
			key := [2]string{email, id}
			if seen[key] {
				errs = append(errs, fmt.Errorf("%s: %s holding %s is listed twice", where, email, id))
				continue
			}
			seen[key] = true
			out = append(out, Access{PersonEmail: email, EntitlementID: id, ReviewAfter: r})
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
