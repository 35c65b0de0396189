package directory

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// The YAML shape of people.yaml and catalog.yaml (see deploy/demo/).
type peopleFile struct {
	People []personYAML `yaml:"people"`
}

type personYAML struct {
	Email          string            `yaml:"email"`
	Name           string            `yaml:"name"`
	Department     string            `yaml:"department"`
	Title          string            `yaml:"title"`
	Manager        string            `yaml:"manager"`
	Groups         []string          `yaml:"groups"`
	Location       string            `yaml:"location"`
	TimeZone       string            `yaml:"time_zone"`
	EmploymentType string            `yaml:"employment_type"`
	Status         string            `yaml:"status"`
	ChannelIDs     map[string]string `yaml:"channel_ids"`
}

type catalogFile struct {
	Apps []appYAML `yaml:"apps"`
}

type appYAML struct {
	ID           string            `yaml:"id"`
	Name         string            `yaml:"name"`
	Description  string            `yaml:"description"`
	Aliases      []string          `yaml:"aliases"`
	Owner        string            `yaml:"owner"`
	Provisioning string            `yaml:"provisioning"`
	Tags         []string          `yaml:"tags"`
	Entitlements []entitlementYAML `yaml:"entitlements"`
}

type entitlementYAML struct {
	Name            string   `yaml:"name"`
	Description     string   `yaml:"description"`
	Aliases         []string `yaml:"aliases"`
	Level           string   `yaml:"level"`
	Risk            string   `yaml:"risk"`
	Owner           string   `yaml:"owner"`
	Provisioning    string   `yaml:"provisioning"`
	SCIMGroup       string   `yaml:"scim_group"`
	MaxDuration     string   `yaml:"max_duration"`
	DefaultDuration string   `yaml:"default_duration"`
	Tags            []string `yaml:"tags"`
}

// Levels, in increasing privilege.
var Levels = []string{"read", "write", "admin"}

// LevelRank orders levels: read 1, write 2, admin 3; unknown 0.
func LevelRank(level string) int {
	for i, l := range Levels {
		if l == level {
			return i + 1
		}
	}
	return 0
}

var risks = map[string]bool{"low": true, "medium": true, "high": true, "critical": true}

// LoadDir reads people.yaml and catalog.yaml from dir and validates them together.
func LoadDir(dir string) (*Snapshot, error) {
	var pf peopleFile
	if err := readYAML(filepath.Join(dir, "people.yaml"), &pf); err != nil {
		return nil, err
	}
	var cf catalogFile
	if err := readYAML(filepath.Join(dir, "catalog.yaml"), &cf); err != nil {
		return nil, err
	}
	return build(pf, cf)
}

func readYAML(path string, v any) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

func build(pf peopleFile, cf catalogFile) (*Snapshot, error) {
	var errs []error
	people := make([]*igav1.Person, 0, len(pf.People))
	seen := map[string]bool{}
	for i, p := range pf.People {
		email := strings.ToLower(strings.TrimSpace(p.Email))
		if email == "" || !strings.Contains(email, "@") {
			errs = append(errs, fmt.Errorf("people[%d]: email %q is not an email address", i, p.Email))
			continue
		}
		if seen[email] {
			errs = append(errs, fmt.Errorf("people[%d]: duplicate email %s", i, email))
		}
		seen[email] = true
		status := p.Status
		if status == "" {
			status = "active"
		}
		et := p.EmploymentType
		if et == "" {
			et = "employee"
		}
		people = append(people, &igav1.Person{
			Email: email, Name: p.Name, Department: p.Department, Title: p.Title,
			ManagerEmail: strings.ToLower(strings.TrimSpace(p.Manager)), Groups: p.Groups, Location: p.Location,
			TimeZone: p.TimeZone, EmploymentType: et, Status: status, ChannelIds: p.ChannelIDs,
		})
	}
	managerOf := map[string]string{}
	channelOwner := map[string]string{}
	for _, p := range people {
		if p.ManagerEmail != "" && !seen[p.ManagerEmail] {
			errs = append(errs, fmt.Errorf("person %s: manager %s is not in the directory", p.Email, p.ManagerEmail))
		}
		managerOf[p.Email] = p.ManagerEmail
		// One chat identity must map to one person, or intake would act for the wrong one.
		for ch, id := range p.ChannelIds {
			k := ch + "/" + id
			if other, dup := channelOwner[k]; dup && other != p.Email {
				errs = append(errs, fmt.Errorf("person %s: %s id %s is already %s's", p.Email, ch, id, other))
			}
			channelOwner[k] = p.Email
		}
	}
	// Approval routing walks up manager chains, so they must end at the top of the tree.
	for _, p := range people {
		steps := 0
		for m := managerOf[p.Email]; m != "" && steps <= len(people); m = managerOf[m] {
			steps++
		}
		if steps > len(people) {
			errs = append(errs, fmt.Errorf("person %s: manager chain loops (a manager reports, directly or not, to their own report)", p.Email))
		}
	}
	var apps []*igav1.App
	var ents []*igav1.Entitlement
	appSeen := map[string]bool{}
	for i, a := range cf.Apps {
		if !idPattern.MatchString(a.ID) {
			errs = append(errs, fmt.Errorf("apps[%d]: id %q must be lower-case letters, digits, - or _", i, a.ID))
			continue
		}
		if appSeen[a.ID] {
			errs = append(errs, fmt.Errorf("apps[%d]: duplicate app id %s", i, a.ID))
		}
		appSeen[a.ID] = true
		owner := strings.ToLower(strings.TrimSpace(a.Owner))
		if owner == "" || !seen[owner] {
			errs = append(errs, fmt.Errorf("app %s: owner %q is not in the directory", a.ID, a.Owner))
		}
		method, err := ParseProvisioning(a.Provisioning)
		if err != nil {
			errs = append(errs, fmt.Errorf("app %s: %w", a.ID, err))
		}
		apps = append(apps, &igav1.App{Id: a.ID, Name: a.Name, Description: a.Description,
			Aliases: a.Aliases, OwnerEmail: owner, Provisioning: method, Tags: a.Tags})
		if len(a.Entitlements) == 0 {
			errs = append(errs, fmt.Errorf("app %s: has no entitlements", a.ID))
		}
		entSeen := map[string]bool{}
		for j, e := range a.Entitlements {
			where := fmt.Sprintf("app %s entitlements[%d]", a.ID, j)
			if !idPattern.MatchString(e.Name) {
				errs = append(errs, fmt.Errorf("%s: name %q must be lower-case letters, digits, - or _", where, e.Name))
				continue
			}
			if entSeen[e.Name] {
				errs = append(errs, fmt.Errorf("%s: duplicate entitlement %s:%s", where, a.ID, e.Name))
			}
			entSeen[e.Name] = true
			if LevelRank(e.Level) == 0 {
				errs = append(errs, fmt.Errorf("%s: level %q must be one of %v", where, e.Level, Levels))
			}
			if !risks[e.Risk] {
				errs = append(errs, fmt.Errorf("%s: risk %q must be low, medium, high or critical", where, e.Risk))
			}
			eowner := strings.ToLower(strings.TrimSpace(e.Owner))
			if eowner != "" && !seen[eowner] {
				errs = append(errs, fmt.Errorf("%s: owner %q is not in the directory", where, e.Owner))
			}
			em := method
			if e.Provisioning != "" {
				if em, err = ParseProvisioning(e.Provisioning); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", where, err))
				}
			}
			maxD, maxErr := ParseDuration(e.MaxDuration)
			if maxErr != nil {
				errs = append(errs, fmt.Errorf("%s: max_duration: %w", where, maxErr))
			}
			defD, defErr := ParseDuration(e.DefaultDuration)
			if defErr != nil {
				errs = append(errs, fmt.Errorf("%s: default_duration: %w", where, defErr))
			}
			// An absent limit means none; a written zero is a mistake, not "no limit".
			if maxErr == nil && maxD == 0 && strings.TrimSpace(e.MaxDuration) != "" {
				errs = append(errs, fmt.Errorf("%s: max_duration %q must be longer than zero", where, e.MaxDuration))
			}
			if defErr == nil && defD == 0 && strings.TrimSpace(e.DefaultDuration) != "" {
				errs = append(errs, fmt.Errorf("%s: default_duration %q must be longer than zero", where, e.DefaultDuration))
			}
			if maxD > 0 && defD > maxD {
				errs = append(errs, fmt.Errorf("%s: default_duration %s exceeds max_duration %s", where, e.DefaultDuration, e.MaxDuration))
			}
			group := e.SCIMGroup
			if group == "" {
				group = a.ID + "-" + e.Name
			}
			ent := &igav1.Entitlement{Id: a.ID + ":" + e.Name, AppId: a.ID, Name: e.Name,
				Description: e.Description, Aliases: e.Aliases, Level: e.Level, Risk: e.Risk,
				OwnerEmail: eowner, Provisioning: em, ScimGroup: group, Tags: e.Tags}
			if maxD > 0 {
				ent.MaxDuration = durationpb.New(maxD)
			}
			if defD > 0 {
				ent.DefaultDuration = durationpb.New(defD)
			}
			ents = append(ents, ent)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return NewSnapshot(people, apps, ents), nil
}

// ParseProvisioning reads "scim", "manual" or "webhook".
func ParseProvisioning(s string) (igav1.ProvisioningMethod, error) {
	switch strings.ToLower(s) {
	case "scim", "":
		return igav1.ProvisioningMethod_PROVISIONING_METHOD_SCIM, nil
	case "manual":
		return igav1.ProvisioningMethod_PROVISIONING_METHOD_MANUAL, nil
	case "webhook":
		return igav1.ProvisioningMethod_PROVISIONING_METHOD_WEBHOOK, nil
	}
	return 0, fmt.Errorf("provisioning %q must be scim, manual or webhook", s)
}

var durPattern = regexp.MustCompile(`^(\d+)(s|m|h|d|w)$`)

// ParseDuration reads durations as people write them in policy and catalog files:
// "90s", "30m", "12h", "7d", "2w", or Go's "1h30m". Empty is zero. Negative, zero-length
// units and words such as "forever" are errors.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if m := durPattern.FindStringSubmatch(s); m != nil {
		unit := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour,
			"d": 24 * time.Hour, "w": 7 * 24 * time.Hour}[m[2]]
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > 100000 || time.Duration(n) > math.MaxInt64/unit {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		return time.Duration(n) * unit, nil
	}
	// Days followed by a Go duration, as FormatDuration writes long odd lengths: "1d13h2m".
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 && i < len(s)-1 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil || n > 100000 {
			return 0, fmt.Errorf("duration %q: write it like 90s, 30m, 12h, 7d or 2w", s)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: write it like 90s, 30m, 12h, 7d or 2w", s)
	}
	d += days
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	return d, nil
}

// FormatDuration writes a duration the way ParseDuration reads it, in the largest whole unit.
func FormatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d%(7*24*time.Hour) == 0:
		return fmt.Sprintf("%dw", d/(7*24*time.Hour))
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0 && d < 24*time.Hour:
		return fmt.Sprintf("%dm", d/time.Minute)
	case d >= 24*time.Hour:
		// "1d13h2m": days, then the rest in Go's notation without trailing zero units.
		rest := (d % (24 * time.Hour)).Round(time.Second).String()
		if strings.HasSuffix(rest, "m0s") {
			rest = rest[:len(rest)-2]
		}
		if strings.HasSuffix(rest, "h0m") {
			rest = rest[:len(rest)-2]
		}
		return fmt.Sprintf("%dd%s", d/(24*time.Hour), rest)
	}
	return d.Round(time.Second).String()
}
