package engine

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Person is the beneficiary of a request as a policy sees it (CEL variable `person`).
type Person struct {
	Email          string   `cel:"email"`
	Department     string   `cel:"department"`
	Title          string   `cel:"title"`
	Manager        string   `cel:"manager"`
	Groups         []string `cel:"groups"`
	EmploymentType string   `cel:"employment_type"`
	Location       string   `cel:"location"`
	Status         string   `cel:"status"`
	TimeZone       string   `cel:"time_zone"`
}

// Entitlement is the requested access (CEL variable `entitlement`). Tags are the
// entitlement's own tags followed by its app's.
type Entitlement struct {
	ID    string   `cel:"id"`
	App   string   `cel:"app"`
	Name  string   `cel:"name"`
	Level string   `cel:"level"`
	Risk  string   `cel:"risk"`
	Tags  []string `cel:"tags"`
	Owner string   `cel:"owner"`
	// The catalog's own limits; they cap whatever the rules say.
	MaxDuration     time.Duration `cel:"-"`
	DefaultDuration time.Duration `cel:"-"`
}

// Request is what was asked (CEL variable `request`). Duration zero means none was asked:
// conditions see 0s and the decision grants the default.
type Request struct {
	Duration      time.Duration `cel:"duration"`
	Justification string        `cel:"justification"`
	TicketRef     string        `cel:"ticket_ref"`
	OnBehalf      bool          `cel:"on_behalf"`
	Requester     string        `cel:"requester"`
	Emergency     bool          `cel:"emergency"`
}

// Context is the situation of the request (CEL variable `context`).
type Context struct {
	Now time.Time `cel:"now"`
	// Weekday ("Monday") and Hour (0-23) of Now in the person's time zone (UTC if unknown).
	Weekday string `cel:"weekday"`
	Hour    int    `cel:"hour"`
	// Held are the entitlement ids the person holds now (active grants).
	Held []string `cel:"held"`
	// Pending are entitlement ids the person is waiting for (pending approvals, grants
	// being provisioned). Separation of duties counts them as held.
	Pending []string `cel:"pending"`
}

// beyondEstimate reports whether a list or a string of the input is larger than the
// load-time cost estimate assumed (maxListSize items, maxStringSize bytes).
func (in *Input) beyondEstimate() bool {
	// The items of lists are names from the directory, the catalog and the ledger (admin
	// data, short); what a requester writes is in the request's strings, checked below.
	if len(in.Person.Groups) > maxListSize || len(in.Entitlement.Tags) > maxListSize ||
		len(in.Context.Held) > maxListSize || len(in.Context.Pending) > maxListSize {
		return true
	}
	for _, v := range []string{in.Person.Email, in.Person.Department, in.Person.Title, in.Person.Manager, in.Person.EmploymentType,
		in.Person.Location, in.Person.Status, in.Person.TimeZone, in.Entitlement.ID, in.Entitlement.App, in.Entitlement.Name,
		in.Entitlement.Level, in.Entitlement.Risk, in.Entitlement.Owner, in.Request.Justification, in.Request.TicketRef,
		in.Request.Requester, in.Context.Weekday} {
		if len(v) > maxStringSize {
			return true
		}
	}
	return false
}

// SetClock sets Now, Weekday and Hour, reading the clock in time zone tz (UTC when tz is
// empty or unknown).
func (c *Context) SetClock(now time.Time, tz string) {
	local := now.In(location(tz))
	c.Now, c.Weekday, c.Hour = now, local.Weekday().String(), local.Hour()
}

var locations sync.Map // tz name -> *time.Location; time.LoadLocation reads files

func location(tz string) *time.Location {
	if tz == "" {
		return time.UTC
	}
	if l, ok := locations.Load(tz); ok {
		return l.(*time.Location)
	}
	l, err := time.LoadLocation(tz)
	if err != nil {
		l = time.UTC
	}
	locations.Store(tz, l)
	return l
}

// Input is everything a decision reads.
type Input struct {
	Person      Person
	Entitlement Entitlement
	Request     Request
	Context     Context
}

// Effect is a decision's outcome, ordered by strictness.
type Effect int

// Effects, in increasing strictness.
const (
	EffectUnspecified Effect = iota
	Allow
	RequireApproval
	Deny
)

func (e Effect) String() string {
	switch e {
	case Allow:
		return "allow"
	case RequireApproval:
		return "require_approval"
	case Deny:
		return "deny"
	}
	return "unspecified"
}

// ParseEffect reads "allow", "require_approval" or "deny".
func ParseEffect(s string) (Effect, error) {
	switch s {
	case "allow":
		return Allow, nil
	case "require_approval":
		return RequireApproval, nil
	case "deny":
		return Deny, nil
	}
	return EffectUnspecified, fmt.Errorf("effect %q must be allow, require_approval or deny", s)
}

// ApproverKind says who approves a step.
type ApproverKind int

// Approver kinds.
const (
	ApproverUnspecified ApproverKind = iota
	ApproverManager
	ApproverEntitlementOwner
	ApproverAppOwner
	ApproverGroup
	ApproverSecurity
	// ApproverAnyOf is a step any one of several approvers completes (Step.AnyOf).
	ApproverAnyOf
)

func (k ApproverKind) String() string {
	switch k {
	case ApproverManager:
		return "manager"
	case ApproverEntitlementOwner:
		return "entitlement_owner"
	case ApproverAppOwner:
		return "app_owner"
	case ApproverGroup:
		return "group"
	case ApproverSecurity:
		return "security"
	case ApproverAnyOf:
		return "any_of"
	}
	return "unspecified"
}

// Approver is who approves: a kind, and the directory group for ApproverGroup.
type Approver struct {
	Kind  ApproverKind
	Group string
}

// String writes an approver the way policy files do: "manager", "group:finance-leads".
func (a Approver) String() string {
	if a.Kind == ApproverGroup {
		return "group:" + a.Group
	}
	return a.Kind.String()
}

// Step is one approval a decision demands.
type Step struct {
	Kind ApproverKind
	// Group names the directory group for ApproverGroup.
	Group string
	// AnyOf are the alternatives of an ApproverAnyOf step: one approval from any of them
	// completes it ("the manager or the app owner"). At least two, none itself any_of.
	AnyOf []Approver
	// Stage orders steps (1, 2, ...); steps of one stage run in parallel.
	Stage int
	// Quorum is how many distinct approvers must approve; at least 1.
	Quorum int
	// All asks every eligible member of the group (a group or security step) to approve;
	// Quorum is then 1 and means nothing.
	All bool
}

// String writes a step's approvers the way policy files do: "manager",
// "group:finance-leads", "manager or app_owner".
func (s Step) String() string {
	if s.Kind == ApproverAnyOf {
		parts := make([]string, len(s.AnyOf))
		for i, a := range s.AnyOf {
			parts[i] = a.String()
		}
		return strings.Join(parts, " or ")
	}
	return Approver{s.Kind, s.Group}.String()
}

// singleApprover reports whether steps of kind k fall to one person, so a quorum above
// one can never be met.
func singleApprover(k ApproverKind) bool {
	return k == ApproverManager || k == ApproverEntitlementOwner || k == ApproverAppOwner
}

// ParseApprover reads "manager", "entitlement_owner", "app_owner", "security" or
// "group:<name>".
func ParseApprover(s string) (ApproverKind, string, error) {
	switch s {
	case "manager":
		return ApproverManager, "", nil
	case "entitlement_owner":
		return ApproverEntitlementOwner, "", nil
	case "app_owner":
		return ApproverAppOwner, "", nil
	case "security":
		return ApproverSecurity, "", nil
	}
	if g, ok := strings.CutPrefix(s, "group:"); ok && strings.TrimSpace(g) != "" {
		return ApproverGroup, strings.TrimSpace(g), nil
	}
	return ApproverUnspecified, "", fmt.Errorf("approver kind %q must be manager, entitlement_owner, app_owner, security or group:<name>", s)
}

// Match is a rule (or SoD constraint, or break-glass) that took part in a decision.
type Match struct {
	RuleID string
	Effect Effect
	Reason string
	// Source is "file.yaml:12", where the rule is written.
	Source string
}

// Decision is the policy's verdict on one input.
type Decision struct {
	Effect Effect
	Steps  []Step
	// MaxDuration is the longest the access may last (zero: no limit anywhere).
	MaxDuration time.Duration
	// GrantedDuration is what to grant: the requested duration (or the default when none
	// was asked), capped at MaxDuration. Zero for a denial.
	GrantedDuration time.Duration
	// Reason is one or two human-readable sentences.
	Reason  string
	Matched []Match
	// Remediation says what would change a denial (or, for an approval, what was missing).
	Remediation []string
	// BreakGlass is set when the emergency path allowed the request; the grant must be
	// reviewed after the fact.
	BreakGlass bool
	// ReviewSteps are who reviews a break-glass grant after the fact (break_glass.review,
	// security by default); empty unless BreakGlass.
	ReviewSteps []Step
	// PolicyVersion identifies the policy file the decision came from.
	PolicyVersion string
}
