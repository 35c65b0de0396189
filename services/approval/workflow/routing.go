// Package workflow is the approval domain: who must approve a request (routing the steps
// policy demands to people in the directory) and how votes move an approval through its
// stages. It knows the directory, not the bus or gRPC.
package workflow

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// Routing errors. A request whose steps cannot be routed is denied, never allowed.
var (
	// ErrNoApprover: a step resolves to nobody who may approve, even after escalation.
	ErrNoApprover = errors.New("no eligible approver")
	// ErrUnknownPerson: the beneficiary is not in the directory.
	ErrUnknownPerson = errors.New("unknown person")
	// ErrUnknownEntitlement: the entitlement is not in the catalog.
	ErrUnknownEntitlement = errors.New("unknown entitlement")
)

// SecurityGroup is the directory group whose members approve APPROVER_KIND_SECURITY steps.
const SecurityGroup = "security"

// Parties are the people a request is about; neither may ever approve it.
type Parties struct {
	Requester     string
	Beneficiary   string
	EntitlementID string
}

// PartiesOf returns the parties of an access request.
func PartiesOf(r *igav1.AccessRequest) Parties {
	return Parties{Requester: r.GetRequesterEmail(), Beneficiary: r.GetBeneficiaryEmail(), EntitlementID: r.GetEntitlementId()}
}

// PartiesOfApproval returns the parties of an approval.
func PartiesOfApproval(a *igav1.Approval) Parties {
	return Parties{Requester: a.GetRequesterEmail(), Beneficiary: a.GetBeneficiaryEmail(), EntitlementID: a.GetEntitlementId()}
}

// excludes reports whether email is a party to the request.
func (p Parties) excludes(email string) bool {
	return Normalize(email) == Normalize(p.Requester) || Normalize(email) == Normalize(p.Beneficiary)
}

// Step is one approval step resolved to people.
type Step struct {
	Step *igav1.ApprovalStep
	// Role names who approves: "manager", "entitlement owner", "group finance-leads", ...
	Role string
	// Approvers are the eligible people (lower-case emails, sorted); Names are their names.
	Approvers []string
	Names     []string
	// Quorum is how many distinct approvers must approve (at least 1); for an All step,
	// everyone in Approvers.
	Quorum int
	// All is set when every eligible member of the group must approve.
	All bool
	// Escalation says why the step went past its first choice, or which alternatives of
	// an any-of step nobody may approve; empty when neither happened.
	Escalation string
}

// Description is "manager: Marco Bianchi", with the quorum and any escalation.
func (s Step) Description() string {
	d := s.Role + ": " + strings.Join(s.Names, ", ")
	switch {
	case s.All && len(s.Approvers) > 1:
		d += fmt.Sprintf(" (all %d)", len(s.Approvers))
	case len(s.Approvers) > 1:
		d += fmt.Sprintf(" (%d of %d)", s.Quorum, len(s.Approvers))
	}
	if s.Escalation != "" {
		d += " — " + s.Escalation
	}
	return d
}

// Waiting is how a requester is told who they are waiting for: "Marco Bianchi
// (manager)", "any 2 of Ann, Bo, Cy (group finance-leads)" or "all of Ann, Bo (group cab)".
func (s Step) Waiting() string {
	if len(s.Names) == 1 {
		return fmt.Sprintf("%s (%s)", s.Names[0], s.Role)
	}
	who := "any of "
	switch {
	case s.All:
		who = "all of "
	case s.Quorum > 1:
		who = fmt.Sprintf("any %d of ", s.Quorum)
	}
	return fmt.Sprintf("%s%s (%s)", who, strings.Join(s.Names, ", "), s.Role)
}

// Stage is a set of steps that run in parallel; stages run in ascending order.
type Stage struct {
	Number int32
	Steps  []Step
}

// Approvers is everyone who may decide the stage, sorted.
func (s Stage) Approvers() []string {
	seen := map[string]bool{}
	var out []string
	for _, st := range s.Steps {
		for _, a := range st.Approvers {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// Description joins the steps' descriptions.
func (s Stage) Description() string {
	parts := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		parts[i] = st.Description()
	}
	return strings.Join(parts, "; ")
}

// Waiting joins the steps' waiting phrases: "Marco Bianchi (manager) and Lee Kim (security)";
// one person holding several single-approver steps is named once with all their roles.
func (s Stage) Waiting() string {
	var parts []string
	at := map[string]int{} // approver of a single-approver step -> index in parts
	roles := map[string][]string{}
	for _, st := range s.Steps {
		if len(st.Approvers) != 1 {
			parts = append(parts, st.Waiting())
			continue
		}
		a := st.Approvers[0]
		if _, ok := at[a]; !ok {
			at[a] = len(parts)
			parts = append(parts, "")
		}
		roles[a] = append(roles[a], st.Role)
		parts[at[a]] = fmt.Sprintf("%s (%s)", st.Names[0], strings.Join(roles[a], ", "))
	}
	return strings.Join(parts, " and ")
}

// Normalize is the canonical form of an email.
func Normalize(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// StageNumbers returns the distinct stages of steps in ascending order.
func StageNumbers(steps []*igav1.ApprovalStep) []int32 {
	seen := map[int32]bool{}
	var out []int32
	for _, s := range steps {
		if !seen[s.GetStage()] {
			seen[s.GetStage()] = true
			out = append(out, s.GetStage())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Route resolves every stage of steps to people.
func Route(snap *directory.Snapshot, p Parties, steps []*igav1.ApprovalStep) ([]Stage, error) {
	if len(steps) == 0 {
		return nil, fmt.Errorf("%w: policy requires approval but names no approval step", ErrNoApprover)
	}
	var out []Stage
	for _, n := range StageNumbers(steps) {
		st, err := RouteStage(snap, p, steps, n)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// RouteStage resolves the steps of one stage to people.
func RouteStage(snap *directory.Snapshot, p Parties, steps []*igav1.ApprovalStep, stage int32) (Stage, error) {
	out := Stage{Number: stage}
	for _, s := range steps {
		if s.GetStage() != stage {
			continue
		}
		rs, err := routeStep(snap, p, s)
		if err != nil {
			return Stage{}, err
		}
		out.Steps = append(out.Steps, rs)
	}
	if len(out.Steps) == 0 {
		return Stage{}, fmt.Errorf("%w: no approval step in stage %d", ErrNoApprover, stage)
	}
	return out, nil
}

// candidate is one person a step may fall to, in order of preference.
type candidate struct {
	email string
	role  string
}

func routeStep(snap *directory.Snapshot, p Parties, s *igav1.ApprovalStep) (Step, error) {
	quorum := max(int(s.GetQuorum()), 1)
	ben, ok := snap.Person(p.Beneficiary)
	if !ok {
		return Step{}, fmt.Errorf("%w: %q is not in the directory", ErrUnknownPerson, p.Beneficiary)
	}
	switch s.GetKind() {
	case igav1.ApproverKind_APPROVER_KIND_MANAGER:
		mgr := ben.GetManagerEmail()
		return pickOne(snap, p, s, quorum, "manager", []candidate{
			{mgr, "manager"},
			{managerOf(snap, mgr), "manager's manager"},
		}, fmt.Sprintf("%s has no manager in the directory who may approve", nameOf(snap, ben.GetEmail())))
	case igav1.ApproverKind_APPROVER_KIND_ENTITLEMENT_OWNER:
		ent, app, err := entitlement(snap, p.EntitlementID)
		if err != nil {
			return Step{}, err
		}
		owner := snap.EntitlementOwner(ent)
		return pickOne(snap, p, s, quorum, "entitlement owner", []candidate{
			{ent.GetOwnerEmail(), "entitlement owner"},
			{app.GetOwnerEmail(), "app owner"},
			{managerOf(snap, owner), "owner's manager"},
		}, fmt.Sprintf("%s has no owner in the catalog who may approve", ent.GetId()))
	case igav1.ApproverKind_APPROVER_KIND_APP_OWNER:
		ent, app, err := entitlement(snap, p.EntitlementID)
		if err != nil {
			return Step{}, err
		}
		return pickOne(snap, p, s, quorum, "app owner", []candidate{
			{app.GetOwnerEmail(), "app owner"},
			{managerOf(snap, app.GetOwnerEmail()), "app owner's manager"},
		}, fmt.Sprintf("app %s of %s has no owner in the catalog who may approve", app.GetId(), ent.GetId()))
	case igav1.ApproverKind_APPROVER_KIND_GROUP:
		if s.GetGroup() == "" {
			return Step{}, fmt.Errorf("%w: a group approval step names no group", ErrNoApprover)
		}
		return pickGroup(snap, p, quorum, s, s.GetGroup(), "group "+s.GetGroup())
	case igav1.ApproverKind_APPROVER_KIND_SECURITY:
		return pickGroup(snap, p, quorum, s, SecurityGroup, "security")
	case igav1.ApproverKind_APPROVER_KIND_ANY_OF:
		return pickAnyOf(snap, p, s)
	default:
		return Step{}, fmt.Errorf("%w: unknown approver kind %v", ErrNoApprover, s.GetKind())
	}
}

// pickOne takes the first eligible candidate. A step that has to go past its first choice
// says why, so the requester and the approver both understand who was skipped.
func pickOne(snap *directory.Snapshot, p Parties, s *igav1.ApprovalStep, quorum int, role string, cands []candidate, nobody string) (Step, error) {
	if quorum > 1 {
		return Step{}, fmt.Errorf("%w: the %s step asks for %d approvals but has one approver", ErrNoApprover, role, quorum)
	}
	var skipped []string
	for _, c := range cands {
		if c.email == "" {
			continue
		}
		if why := ineligible(snap, p, c.email); why != "" {
			skipped = append(skipped, fmt.Sprintf("%s (%s) %s", nameOf(snap, c.email), c.role, why))
			continue
		}
		st := Step{Step: s, Role: role, Approvers: []string{Normalize(c.email)}, Names: []string{nameOf(snap, c.email)}, Quorum: 1}
		if len(skipped) > 0 {
			st.Role = c.role
			st.Escalation = "escalated from the " + role + " because " + strings.Join(skipped, " and ")
		}
		return st, nil
	}
	msg := nobody
	if len(skipped) > 0 {
		msg += ": " + strings.Join(skipped, ", ")
	}
	return Step{}, fmt.Errorf("%w for the %s step: %s", ErrNoApprover, role, msg)
}

// pickAnyOf routes each alternative of an any-of step and pools who may approve: one
// approval from any of them completes the step. An alternative nobody may approve (no
// manager, an owner who is the requester and has no manager) is left out and said; the
// step fails only when every alternative does.
func pickAnyOf(snap *directory.Snapshot, p Parties, s *igav1.ApprovalStep) (Step, error) {
	if len(s.GetAnyOf()) < 2 || s.GetQuorum() > 1 || s.GetAll() {
		return Step{}, fmt.Errorf("%w: an any-of step needs two alternatives and one approval", ErrNoApprover)
	}
	st := Step{Step: s, Quorum: 1}
	var roles, missing, notes []string
	var errs []error
	for _, alt := range s.GetAnyOf() {
		if alt.GetKind() == igav1.ApproverKind_APPROVER_KIND_ANY_OF {
			return Step{}, fmt.Errorf("%w: an any-of step cannot nest another", ErrNoApprover)
		}
		one, err := routeStep(snap, p, &igav1.ApprovalStep{Kind: alt.GetKind(), Group: alt.GetGroup(), Stage: s.GetStage()})
		if err != nil {
			if !errors.Is(err, ErrNoApprover) {
				return Step{}, err
			}
			missing = append(missing, alternativeRole(alt))
			errs = append(errs, err)
			continue
		}
		roles = append(roles, one.Role)
		if one.Escalation != "" {
			notes = append(notes, one.Escalation)
		}
		for i, a := range one.Approvers {
			if !slices.Contains(st.Approvers, a) {
				st.Approvers = append(st.Approvers, a)
				st.Names = append(st.Names, one.Names[i])
			}
		}
	}
	if len(st.Approvers) == 0 {
		return Step{}, fmt.Errorf("%w for any of %s: %w", ErrNoApprover, strings.Join(missing, ", "), errors.Join(errs...))
	}
	st.Role = strings.Join(roles, " or ")
	if len(missing) > 0 {
		notes = append(notes, "nobody may approve as "+strings.Join(missing, " or "))
	}
	st.Escalation = strings.Join(notes, "; ")
	return st, nil
}

// alternativeRole names an any-of alternative the way routing names its role.
func alternativeRole(a *igav1.Approver) string {
	switch a.GetKind() {
	case igav1.ApproverKind_APPROVER_KIND_MANAGER:
		return "manager"
	case igav1.ApproverKind_APPROVER_KIND_ENTITLEMENT_OWNER:
		return "entitlement owner"
	case igav1.ApproverKind_APPROVER_KIND_APP_OWNER:
		return "app owner"
	case igav1.ApproverKind_APPROVER_KIND_GROUP:
		return "group " + a.GetGroup()
	case igav1.ApproverKind_APPROVER_KIND_SECURITY:
		return "security"
	}
	return a.GetKind().String()
}

func pickGroup(snap *directory.Snapshot, p Parties, quorum int, s *igav1.ApprovalStep, group, role string) (Step, error) {
	st := Step{Step: s, Role: role, Quorum: quorum, All: s.GetAll()}
	for _, m := range snap.GroupMembers(group) {
		if p.excludes(m.GetEmail()) {
			continue
		}
		st.Approvers = append(st.Approvers, Normalize(m.GetEmail()))
		st.Names = append(st.Names, nameOf(snap, m.GetEmail()))
	}
	if len(st.Approvers) == 0 {
		return Step{}, fmt.Errorf("%w for the %s step: nobody in group %q other than the requester or beneficiary may approve", ErrNoApprover, role, group)
	}
	if st.All {
		// Everyone who may approve must; the requester and beneficiary are never asked.
		st.Quorum = len(st.Approvers)
	}
	if len(st.Approvers) < st.Quorum {
		return Step{}, fmt.Errorf("%w for the %s step: it needs %d approvals but only %d people in group %q may approve", ErrNoApprover, role, quorum, len(st.Approvers), group)
	}
	return st, nil
}

// ineligible says why email may not approve, or "" when they may.
func ineligible(snap *directory.Snapshot, p Parties, email string) string {
	switch {
	case Normalize(email) == Normalize(p.Requester):
		return "is the requester"
	case Normalize(email) == Normalize(p.Beneficiary):
		return "is the beneficiary"
	}
	person, ok := snap.Person(email)
	if !ok {
		return "is not in the directory"
	}
	if st := person.GetStatus(); st != "" && st != "active" {
		return "is not active (" + st + ")"
	}
	return ""
}

func entitlement(snap *directory.Snapshot, id string) (*igav1.Entitlement, *igav1.App, error) {
	ent, ok := snap.Entitlement(id)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %q is not in the catalog", ErrUnknownEntitlement, id)
	}
	app, _ := snap.App(ent.GetAppId())
	return ent, app, nil
}

func managerOf(snap *directory.Snapshot, email string) string {
	if email == "" {
		return ""
	}
	p, ok := snap.Person(email)
	if !ok {
		return ""
	}
	return p.GetManagerEmail()
}

// nameOf is a person's name, or their email when the directory has no name.
func nameOf(snap *directory.Snapshot, email string) string {
	if p, ok := snap.Person(email); ok && p.GetName() != "" {
		return p.GetName()
	}
	return email
}

// NameOf is a person's display name from the directory, or the email.
func NameOf(snap *directory.Snapshot, email string) string { return nameOf(snap, email) }
