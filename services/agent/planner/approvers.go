package planner

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

// Approver phrasing: people by name, not email; the role each one approves as; groups of
// more than three people summarized by their size; stages in order.

// approvalStep is one step of an approval stage as the approval service describes it:
// "manager: Wei Zhang", "security: Ann, Bo, Cy (1 of 3)", "group sox-controllers: …",
// with " — escalated from …" when the step went past its first choice.
type approvalStep struct {
	role       string
	names      []string
	quorum     int
	escalation string
}

var quorumRe = regexp.MustCompile(`\s\((\d+) of (\d+)\)$`)

// parseStage reads a stage's description ("manager: Wei Zhang; entitlement owner: Tomasz
// Nowak"). ok is false when the description is not in that form.
func parseStage(desc string) (steps []approvalStep, ok bool) {
	if strings.TrimSpace(desc) == "" {
		return nil, false
	}
	for _, part := range strings.Split(desc, "; ") {
		role, rest, found := strings.Cut(part, ": ")
		if !found || strings.TrimSpace(role) == "" || strings.TrimSpace(rest) == "" {
			return nil, false
		}
		st := approvalStep{role: strings.TrimSpace(role), quorum: 1}
		if who, esc, cut := strings.Cut(rest, " — "); cut {
			rest, st.escalation = who, strings.TrimSpace(esc)
		}
		if m := quorumRe.FindStringSubmatch(rest); m != nil {
			st.quorum, _ = strconv.Atoi(m[1])
			rest = rest[:len(rest)-len(m[0])]
		}
		for _, n := range strings.Split(rest, ", ") {
			if n = strings.TrimSpace(n); n != "" {
				st.names = append(st.names, n)
			}
		}
		if len(st.names) == 0 || st.quorum < 1 {
			return nil, false
		}
		steps = append(steps, st)
	}
	return steps, true
}

// approversPhrase says who approves, stage after stage: "Wei Zhang (your manager) and
// Tomasz Nowak (the entitlement owner), then one of 12 people in Security". Every step of
// a stage needs its approvals, so a stage's steps are joined by "and".
func (t *turn) approversPhrase(stages []*igav1.StageApprovers, self bool) string {
	var out []string
	for _, s := range stages {
		steps, ok := parseStage(s.GetDescription())
		if !ok {
			out = append(out, t.anyOf(s.GetApprovers()))
			continue
		}
		out = append(out, stagePhrase(steps, self))
	}
	return strings.Join(out, ", then ")
}

// stagePhrase words one stage; one person holding several steps is named once.
func stagePhrase(steps []approvalStep, self bool) string {
	var parts []string
	at := map[string]int{}
	roles := map[string][]string{}
	for _, st := range steps {
		if len(st.names) != 1 {
			parts = append(parts, groupPhrase(st))
			continue
		}
		name := st.names[0]
		if _, seen := at[name]; !seen {
			at[name] = len(parts)
			parts = append(parts, "")
		}
		r := roleWords(st.role, self)
		if st.escalation != "" {
			r += ", " + st.escalation
		}
		roles[name] = append(roles[name], r)
		parts[at[name]] = fmt.Sprintf("%s (%s)", name, joinAnd(roles[name]))
	}
	return joinAnd(parts)
}

// groupPhrase words a step several people may approve: "one of 12 people in Security",
// "one of 3 people in sox-controllers (Isabel Duarte, Laura Jensen, Olivia Chen)".
func groupPhrase(st approvalStep) string {
	how := "one"
	if st.quorum > 1 {
		how = strconv.Itoa(st.quorum)
	}
	where := st.role
	switch {
	case st.role == "security":
		where = "Security"
	case strings.HasPrefix(st.role, "group "):
		where = strings.TrimPrefix(st.role, "group ")
	}
	p := fmt.Sprintf("%s of %d people in %s", how, len(st.names), where)
	if len(st.names) <= 3 {
		p += " (" + strings.Join(st.names, ", ") + ")"
	}
	if st.escalation != "" {
		p += " (" + st.escalation + ")"
	}
	return p
}

// roleWords is a single approver's role as the requester hears it.
func roleWords(role string, self bool) string {
	whose := "your"
	if !self {
		whose = "their"
	}
	switch role {
	case "manager", "manager's manager":
		return whose + " " + role
	case "entitlement owner", "app owner", "owner's manager", "app owner's manager":
		return "the " + role
	case "security":
		return "Security"
	}
	return strings.TrimPrefix(role, "group ")
}

// anyOf names people by email when nothing says who approves as what: "Ann Lee or Bo
// Chen", or "one of 12 people" past three.
func (t *turn) anyOf(emails []string) string {
	if len(emails) > 3 {
		return fmt.Sprintf("one of %d people", len(emails))
	}
	names := make([]string, 0, len(emails))
	for _, e := range emails {
		names = append(names, t.personName(e))
	}
	switch len(names) {
	case 0:
		return "an approver"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// personName is a person's name from the directory, else their email.
func (t *turn) personName(email string) string {
	if p, ok := t.s.Tools().Snapshot().Person(email); ok && p.GetName() != "" {
		return p.GetName()
	}
	return email
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
