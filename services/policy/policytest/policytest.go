// Package policytest runs policy unit tests written in YAML: each case names a person, an
// entitlement and a request, and says what the policy must decide. `iga policy test` is
// its command line.
package policytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/policy/engine"
	"github.com/agentic-iga/iga/services/policy/policy"
)

// Suite is a test file.
type Suite struct {
	// Path is the file the suite was read from.
	Path string
	// Policy and Data are the policy file and directory dataset (people.yaml,
	// catalog.yaml), relative to the suite's file.
	Policy string `yaml:"policy"`
	Data   string `yaml:"data"`
	// Now is the clock of every case that does not set its own (default: a Monday, 10:00 UTC).
	Now   time.Time `yaml:"now"`
	Cases []Case    `yaml:"tests"`
}

// Case is one test: a request and what must be decided.
type Case struct {
	Name          string    `yaml:"name"`
	Person        string    `yaml:"person"`
	Requester     string    `yaml:"requester"`
	Entitlement   string    `yaml:"entitlement"`
	Duration      string    `yaml:"duration"`
	Justification string    `yaml:"justification"`
	TicketRef     string    `yaml:"ticket_ref"`
	Emergency     bool      `yaml:"emergency"`
	Held          []string  `yaml:"held"`
	Pending       []string  `yaml:"pending"`
	Now           time.Time `yaml:"now"`
	Expect        Expect    `yaml:"expect"`
	// Line is where the case is written.
	Line int `yaml:"-"`
}

// Expect is what a case checks; fields left empty are not checked.
type Expect struct {
	// Effect is allow, require_approval or deny.
	Effect string `yaml:"effect"`
	// Approvals are the exact approval steps, in order, written approver[@stage][ xN|
	// all]: [manager, entitlement_owner@2, group:cab@2 x2, group:sox-controllers@3 all,
	// manager or app_owner@1]. The stage is 1 when left out; " xN" says N distinct
	// approvers must approve (one when left out), " all" every eligible member of the
	// group; "a or b" is a step either approves. An empty list is not checked; write
	// [none] to demand no steps.
	Approvals       []string `yaml:"approvals"`
	MaxDuration     string   `yaml:"max_duration"`
	GrantedDuration string   `yaml:"granted_duration"`
	// Rules must all be among the matched rules (SoD constraints are "sod:<id>").
	Rules               []string `yaml:"rules"`
	ReasonContains      []string `yaml:"reason_contains"`
	RemediationContains []string `yaml:"remediation_contains"`
	BreakGlass          *bool    `yaml:"break_glass"`
	// Error, when set, expects the request to be refused as invalid with this text.
	Error string `yaml:"error"`
}

// DefaultNow is the clock of cases that set none: Monday 7 December 2026, 10:00 UTC.
var DefaultNow = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// Load reads a test file strictly: unknown fields and malformed cases are errors with lines.
func Load(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tests: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a test file's contents as Load does; path names it in errors and results
// (the policy service runs tests it was sent, not a file of its own).
func Parse(path string, data []byte) (*Suite, error) {
	var s Suite
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err == nil && len(root.Content) > 0 {
		m := root.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == "tests" {
				for j, n := range m.Content[i+1].Content {
					if j < len(s.Cases) {
						s.Cases[j].Line = n.Line
					}
				}
			}
		}
	}
	s.Path = path
	var errs []error
	for i, c := range s.Cases {
		where := fmt.Sprintf("%s:%d", path, c.Line)
		if c.Name == "" {
			errs = append(errs, fmt.Errorf("%s: tests[%d] has no name", where, i))
		}
		if c.Person == "" || c.Entitlement == "" {
			errs = append(errs, fmt.Errorf("%s: test %q needs a person and an entitlement", where, c.Name))
		}
		if c.Expect.Effect == "" && c.Expect.Error == "" {
			errs = append(errs, fmt.Errorf("%s: test %q expects nothing; give expect.effect or expect.error", where, c.Name))
		}
		if c.Expect.Effect != "" {
			if _, err := engine.ParseEffect(c.Expect.Effect); err != nil {
				errs = append(errs, fmt.Errorf("%s: test %q: %w", where, c.Name, err))
			}
		}
		for j, a := range c.Expect.Approvals {
			norm, err := NormalizeStep(a)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: test %q: approvals: %w", where, c.Name, err))
				continue
			}
			s.Cases[i].Expect.Approvals[j] = norm
		}
		for _, d := range []string{c.Duration, c.Expect.MaxDuration, c.Expect.GrantedDuration} {
			if _, err := directory.ParseDuration(d); err != nil {
				errs = append(errs, fmt.Errorf("%s: test %q: %w", where, c.Name, err))
			}
		}
	}
	if len(s.Cases) == 0 {
		errs = append(errs, fmt.Errorf("%s: no tests", path))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &s, nil
}

// Result is the outcome of one case.
type Result struct {
	Case     Case
	Passed   bool
	Failures []string
	// Decision is what the policy decided (nil when the request was refused).
	Decision *igav1.PolicyDecision
}

// Report is the outcome of a suite.
type Report struct {
	Tests         string
	Policy        string
	PolicyVersion string
	Results       []Result
	// Warnings are catalog ids the policy names that the directory data lacks.
	Warnings []string
}

// Failed counts the failed cases.
func (r *Report) Failed() int {
	n := 0
	for _, res := range r.Results {
		if !res.Passed {
			n++
		}
	}
	return n
}

// RunFile loads the suite at path and runs it against its policy and data, or against
// policyFile and dataDir when they are given.
func RunFile(path, policyFile, dataDir string) (*Report, error) {
	s, err := Load(path)
	if err != nil {
		return nil, err
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(path), p)
	}
	if policyFile == "" {
		policyFile = rel(s.Policy)
	}
	if dataDir == "" {
		dataDir = rel(s.Data)
	}
	if policyFile == "" {
		return nil, fmt.Errorf("%s names no policy file; give one with --policy", path)
	}
	if dataDir == "" {
		dataDir = filepath.Dir(path)
	}
	pol, err := engine.Load(policyFile)
	if err != nil {
		return nil, err
	}
	snap, err := directory.LoadDir(dataDir)
	if err != nil {
		return nil, fmt.Errorf("load directory data: %w", err)
	}
	rep := Run(s, pol, snap)
	rep.Policy = policyFile
	return rep, nil
}

// Run runs every case of s against pol with people and catalog from snap.
func Run(s *Suite, pol *engine.Policy, snap *directory.Snapshot) *Report {
	rep := &Report{Tests: s.Path, Policy: pol.Name, PolicyVersion: pol.Version, Warnings: policy.UnknownReferences(pol, snap)}
	for i, c := range s.Cases {
		now := c.Now
		if now.IsZero() {
			now = s.Now
		}
		if now.IsZero() {
			now = DefaultNow
		}
		dur, _ := directory.ParseDuration(c.Duration)
		ar := &igav1.AccessRequest{Id: fmt.Sprintf("test-%d", i+1), RequesterEmail: c.Requester,
			BeneficiaryEmail: c.Person, EntitlementId: c.Entitlement, Justification: c.Justification,
			TicketRef: c.TicketRef, Emergency: c.Emergency}
		if dur > 0 {
			ar.Duration = durationpb.New(dur)
		}
		d, err := policy.Decide(pol, snap, ar, c.Held, c.Pending, now)
		res := Result{Case: c, Decision: d}
		res.Failures = check(c.Expect, d, err)
		res.Passed = len(res.Failures) == 0
		rep.Results = append(rep.Results, res)
	}
	return rep
}

func check(want Expect, d *igav1.PolicyDecision, err error) []string {
	var f []string
	if err != nil {
		if want.Error == "" || !strings.Contains(err.Error(), want.Error) {
			return []string{"refused: " + err.Error()}
		}
		return nil
	}
	if want.Error != "" {
		return []string{fmt.Sprintf("decided %s, want the request refused with %q", effectName(d.GetEffect()), want.Error)}
	}
	if got := effectName(d.GetEffect()); want.Effect != "" && got != want.Effect {
		f = append(f, fmt.Sprintf("effect: got %s, want %s", got, want.Effect))
	}
	if len(want.Approvals) > 0 {
		got := Steps(d)
		w := want.Approvals
		if len(w) == 1 && w[0] == "none" {
			w = nil
		}
		if !slices.Equal(got, w) {
			f = append(f, fmt.Sprintf("approvals: got %v, want %v", got, w))
		}
	}
	durCheck := func(name, want string, got time.Duration) {
		if want == "" {
			return
		}
		if w, _ := directory.ParseDuration(want); w != got {
			f = append(f, fmt.Sprintf("%s: got %s, want %s", name, directory.FormatDuration(got), want))
		}
	}
	durCheck("max_duration", want.MaxDuration, d.GetMaxDuration().AsDuration())
	durCheck("granted_duration", want.GrantedDuration, d.GetGrantedDuration().AsDuration())
	matched := map[string]bool{}
	var ids []string
	for _, m := range d.GetMatchedRules() {
		matched[m.GetRuleId()] = true
		ids = append(ids, m.GetRuleId())
	}
	for _, r := range want.Rules {
		if !matched[r] {
			f = append(f, fmt.Sprintf("rule %s did not match (matched: %s)", r, strings.Join(ids, ", ")))
		}
	}
	for _, s := range want.ReasonContains {
		if !strings.Contains(d.GetReason(), s) {
			f = append(f, fmt.Sprintf("reason %q does not contain %q", d.GetReason(), s))
		}
	}
	rem := strings.Join(d.GetRemediation(), " | ")
	for _, s := range want.RemediationContains {
		if !strings.Contains(rem, s) {
			f = append(f, fmt.Sprintf("remediation %q does not contain %q", rem, s))
		}
	}
	if want.BreakGlass != nil && policy.IsBreakGlass(d) != *want.BreakGlass {
		f = append(f, fmt.Sprintf("break_glass: got %v, want %v", policy.IsBreakGlass(d), *want.BreakGlass))
	}
	return f
}

// Steps writes a decision's approval steps the way test files expect them:
// "manager@1", "group:cab@2 x2", "group:sox-controllers@3 all", "manager or app_owner@1".
func Steps(d *igav1.PolicyDecision) []string {
	var out []string
	for _, s := range d.GetApprovalSteps() {
		out = append(out, Step(s))
	}
	return out
}

// Step writes one approval step: approver@stage, then " xN" for a quorum of N, " all"
// for every member of the group.
func Step(s *igav1.ApprovalStep) string {
	who := approver(s.GetKind(), s.GetGroup())
	if s.GetKind() == igav1.ApproverKind_APPROVER_KIND_ANY_OF {
		alts := make([]string, len(s.GetAnyOf()))
		for i, a := range s.GetAnyOf() {
			alts[i] = approver(a.GetKind(), a.GetGroup())
		}
		who = strings.Join(alts, " or ")
	}
	out := fmt.Sprintf("%s@%d", who, max(s.GetStage(), 1))
	switch {
	case s.GetAll():
		out += " all"
	case s.GetQuorum() > 1:
		out += fmt.Sprintf(" x%d", s.GetQuorum())
	}
	return out
}

func approver(k igav1.ApproverKind, group string) string {
	if k == igav1.ApproverKind_APPROVER_KIND_GROUP {
		return "group:" + group
	}
	return strings.ToLower(strings.TrimPrefix(k.String(), "APPROVER_KIND_"))
}

var quorumSuffix = regexp.MustCompile(`^(.*?)\s+(?:x([0-9]+)|(all))$`)

// NormalizeStep checks an expected approval step and writes it as Step does: the stage
// defaults to 1 and a quorum of one is left out ("manager" → "manager@1").
func NormalizeStep(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "none" {
		return s, nil
	}
	who, quorum := s, ""
	if m := quorumSuffix.FindStringSubmatch(s); m != nil {
		switch who = m[1]; {
		case m[3] == "all":
			quorum = " all"
		case m[2] == "0":
			return "", fmt.Errorf("%q: a quorum of 0 approves nothing", s)
		case m[2] != "1":
			quorum = " x" + strings.TrimLeft(m[2], "0")
		}
	}
	who, stage, found := strings.Cut(who, "@")
	if !found {
		stage = "1"
	}
	if n, err := strconv.Atoi(stage); err != nil || n < 1 {
		return "", fmt.Errorf("%q: the stage after @ must be a number from 1", s)
	}
	for _, alt := range strings.Split(who, " or ") {
		if strings.ContainsAny(strings.TrimSpace(alt), " \t") {
			return "", fmt.Errorf("%q: write approver[@stage][ xN| all], e.g. group:cab@2 x2", s)
		}
		if _, _, err := engine.ParseApprover(strings.TrimSpace(alt)); err != nil {
			return "", fmt.Errorf("%q: %w (write approver[@stage][ xN| all], e.g. group:cab@2 x2)", s, err)
		}
	}
	return fmt.Sprintf("%s@%s%s", who, stage, quorum), nil
}

func effectName(e igav1.Effect) string {
	return strings.ToLower(strings.TrimPrefix(e.String(), "EFFECT_"))
}

// Write prints the report: one line per failure (all cases with verbose), then a summary.
func (r *Report) Write(w io.Writer, verbose bool) {
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	for _, res := range r.Results {
		loc := fmt.Sprintf("%s:%d", r.Tests, res.Case.Line)
		if res.Passed {
			if verbose {
				outcome := "refused"
				if res.Decision != nil {
					outcome = effectName(res.Decision.GetEffect())
				}
				if steps := Steps(res.Decision); len(steps) > 0 {
					outcome += " (" + strings.Join(steps, ", ") + ")"
				}
				fmt.Fprintf(w, "ok    %s  %s → %s\n", loc, res.Case.Name, outcome)
			}
			continue
		}
		fmt.Fprintf(w, "FAIL  %s  %s\n", loc, res.Case.Name)
		for _, f := range res.Failures {
			fmt.Fprintf(w, "        %s\n", f)
		}
		if res.Decision != nil {
			fmt.Fprintf(w, "        decided: %s — %s\n", effectName(res.Decision.GetEffect()), res.Decision.GetReason())
		}
	}
	fmt.Fprintf(w, "%d passed, %d failed (policy %s %s)\n", len(r.Results)-r.Failed(), r.Failed(), r.Policy, r.PolicyVersion)
}
