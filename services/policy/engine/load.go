package engine

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"go.yaml.in/yaml/v3"

	"github.com/agentic-iga/iga/pkg/directory"
)

// ErrInvalid marks a policy file that does not validate; the message says file:line.
var ErrInvalid = errors.New("invalid policy")

// costLimit bounds the work one condition may do at decision time on an input larger than
// the load-time estimate assumed (a runaway comprehension fails, and fails closed,
// instead of stalling decisions).
const costLimit = maxConditionCost

// maxConditionCost bounds the estimated worst-case work of one condition, with lists
// (groups, tags, held, pending) of up to maxListSize items and strings of up to
// maxStringSize bytes.
const (
	maxConditionCost = 5_000_000
	maxListSize      = 1000
	maxStringSize    = 1024
)

// sizes tells CEL's cost estimator how large the inputs can be.
type sizes struct{}

func (sizes) EstimateSize(n cost.AstNode) *cost.SizeEstimate {
	if len(n.Path()) == 0 {
		return nil
	}
	switch n.Type().Kind() {
	case types.ListKind:
		return &cost.SizeEstimate{Min: 0, Max: maxListSize}
	case types.StringKind:
		return &cost.SizeEstimate{Min: 0, Max: maxStringSize}
	}
	return nil
}

func (sizes) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}

// FallbackDefaultDuration is granted when a request names no duration and neither the
// rules, the catalog nor the file's defaults give one.
const FallbackDefaultDuration = 8 * time.Hour

// The YAML shape of a policy file. One file may hold several YAML documents; their rules,
// sod constraints and settings are read in order as if they were one.
type fileYAML struct {
	Version    int               `yaml:"version"`
	Conditions map[string]string `yaml:"conditions"`
	Defaults   defaultsYAML      `yaml:"defaults"`
	Rules      []ruleYAML        `yaml:"rules"`
	SoD        []sodYAML         `yaml:"sod"`
	BreakGlass *breakGlassYAML   `yaml:"break_glass"`
}

type defaultsYAML struct {
	DefaultDuration string `yaml:"default_duration"`
	MaxDuration     string `yaml:"max_duration"`
}

type ruleYAML struct {
	ID              string             `yaml:"id"`
	Description     string             `yaml:"description"`
	Match           matchYAML          `yaml:"match"`
	When            string             `yaml:"when"`
	Effect          string             `yaml:"effect"`
	Approvals       []stepYAML         `yaml:"approvals"`
	MaxDuration     string             `yaml:"max_duration"`
	DefaultDuration string             `yaml:"default_duration"`
	Justification   *justificationYAML `yaml:"justification"`
	Reason          string             `yaml:"reason"`
	Remediation     string             `yaml:"remediation"`
}

type matchYAML struct {
	Apps         []string `yaml:"apps"`
	Entitlements []string `yaml:"entitlements"`
	Tags         []string `yaml:"tags"`
	Levels       []string `yaml:"levels"`
	Risks        []string `yaml:"risks"`
}

type stepYAML struct {
	Kind  string   `yaml:"kind"`
	AnyOf []string `yaml:"any_of"`
	Stage int      `yaml:"stage"`
	// Quorum is a number or "all"; read as a node to tell the two apart.
	Quorum yaml.Node `yaml:"quorum"`
}

type justificationYAML struct {
	Required      bool   `yaml:"required"`
	MinLength     int    `yaml:"min_length"`
	TicketPattern string `yaml:"ticket_pattern"`
}

type sodYAML struct {
	ID          string       `yaml:"id"`
	Description string       `yaml:"description"`
	Sets        []sodSetYAML `yaml:"sets"`
	Effect      string       `yaml:"effect"`
	Approvals   []stepYAML   `yaml:"approvals"`
	Reason      string       `yaml:"reason"`
	Remediation string       `yaml:"remediation"`
}

type sodSetYAML struct {
	Name         string   `yaml:"name"`
	Entitlements []string `yaml:"entitlements"`
}

type breakGlassYAML struct {
	When        string `yaml:"when"`
	MaxDuration string `yaml:"max_duration"`
	Reason      string `yaml:"reason"`
	// Review names who reviews each emergency grant after the fact, written like
	// approvals; security when left out.
	Review []stepYAML `yaml:"review"`
}

// Load reads and compiles the policy file at path.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read policy: %w", err)
	}
	return Parse(path, data)
}

// Parse compiles a policy file's contents; name is used in error messages and rule sources.
// Every problem found is reported (joined), each prefixed with "name:line:".
func Parse(name string, data []byte) (*Policy, error) {
	docs, nodes, err := decodeDocs(name, data)
	if err != nil {
		return nil, err
	}
	env, err := celEnv()
	if err != nil {
		return nil, fmt.Errorf("policy environment: %w", err)
	}
	sum := sha256.Sum256(data)
	p := &Policy{
		Name:            filepath.Base(name),
		Version:         "sha256:" + hex.EncodeToString(sum[:])[:16],
		defaultDuration: FallbackDefaultDuration,
	}
	c := &compiler{name: name, env: env, p: p, ids: map[string]int{}, conds: map[string]condition{}}
	for i := range docs {
		c.collectConditions(&docs[i], nodes[i])
	}
	c.checkConditions()
	for i := range docs {
		c.document(&docs[i], nodes[i])
	}
	if len(c.errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, c.err())
	}
	p.idx = buildIndex(p.rules)
	return p, nil
}

// decodeDocs decodes every YAML document twice: as nodes, for line numbers, and strictly
// into the typed shape (unknown fields are errors). Problems are reported as
// "name:line: what is wrong", every one found.
func decodeDocs(name string, data []byte) ([]fileYAML, []*yaml.Node, error) {
	var nodes []*yaml.Node
	ndec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := ndec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s", ErrInvalid, syntaxProblem(name, err))
		}
		nodes = append(nodes, &n)
	}
	if len(nodes) == 0 {
		return nil, nil, fmt.Errorf("%w: %s: the file holds no policy document", ErrInvalid, name)
	}
	docs := make([]fileYAML, len(nodes))
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var problems []string
	for i := range docs {
		err := dec.Decode(&docs[i])
		var te *yaml.TypeError
		switch {
		case err == nil:
		case errors.As(err, &te):
			// The rest of the document was still read; report every problem in it.
			for _, e := range te.Errors {
				problems = append(problems, typeProblem(name, e, nodes[i]))
			}
		default:
			return nil, nil, fmt.Errorf("%w: %s", ErrInvalid, syntaxProblem(name, err))
		}
	}
	if len(problems) > 0 {
		return nil, nil, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "\n"))
	}
	return docs, nodes, nil
}

var (
	yamlLine      = regexp.MustCompile(`(?s)^(?:yaml: )?line (\d+): (.*)$`)
	yamlMismatch  = regexp.MustCompile("(?s)^cannot unmarshal !!(\\w+) (?:`(.*)` )?into (.+)$")
	yamlUnknownAt = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
)

// syntaxProblem rewrites a YAML parser error ("yaml: line 3: did not find expected key")
// as "name:3: did not find expected key".
func syntaxProblem(name string, err error) string {
	msg := oneLine(err.Error())
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s:%s: %s", name, m[1], m[2])
	}
	return fmt.Sprintf("%s: %s", name, strings.TrimPrefix(msg, "yaml: "))
}

// typeProblem rewrites one of yaml's type errors ("line 5: cannot unmarshal !!str `two`
// into int") in the words of a policy file: which field, what it holds, what it needs.
func typeProblem(name, e string, doc *yaml.Node) string {
	m := yamlLine.FindStringSubmatch(e)
	if m == nil {
		return fmt.Sprintf("%s: %s", name, oneLine(e))
	}
	line, msg := m[1], m[2]
	if u := yamlUnknownAt.FindStringSubmatch(msg); u != nil {
		what, fields := shapeOf(u[2])
		return fmt.Sprintf("%s:%s: unknown field %q in %s (it may have: %s)", name, line, u[1], what, fields)
	}
	if t := yamlMismatch.FindStringSubmatch(msg); t != nil {
		n, _ := strconv.Atoi(line)
		got := tagWords[t[1]]
		if got == "" {
			got = t[1]
		}
		if t[2] != "" {
			got = fmt.Sprintf("%q (%s)", t[2], got)
		}
		want, _ := shapeOf(t[3])
		if key := keyAt(doc, n, "!!"+t[1], t[2]); key != "" {
			return fmt.Sprintf("%s:%s: %s is %s, but it must be %s", name, line, key, got, want)
		}
		return fmt.Sprintf("%s:%s: found %s where %s is expected", name, line, got, want)
	}
	return fmt.Sprintf("%s:%s: %s", name, line, oneLine(msg))
}

// oneLine keeps a problem on its own line: a value quoted from the file may span several.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }

var tagWords = map[string]string{"str": "text", "int": "a number", "float": "a number", "bool": "true or false",
	"map": "a mapping (key: value)", "seq": "a list", "null": "empty", "timestamp": "a date"}

// shapes names the policy file's parts for error messages.
var shapes = map[string]struct {
	what string
	typ  reflect.Type
}{
	"engine.fileYAML":          {"a policy document", reflect.TypeOf(fileYAML{})},
	"engine.defaultsYAML":      {"defaults", reflect.TypeOf(defaultsYAML{})},
	"engine.ruleYAML":          {"a rule", reflect.TypeOf(ruleYAML{})},
	"engine.matchYAML":         {"a rule's match", reflect.TypeOf(matchYAML{})},
	"engine.stepYAML":          {"an approval step", reflect.TypeOf(stepYAML{})},
	"engine.justificationYAML": {"a justification requirement", reflect.TypeOf(justificationYAML{})},
	"engine.sodYAML":           {"a separation-of-duties constraint", reflect.TypeOf(sodYAML{})},
	"engine.sodSetYAML":        {"a separation-of-duties set", reflect.TypeOf(sodSetYAML{})},
	"engine.breakGlassYAML":    {"break_glass", reflect.TypeOf(breakGlassYAML{})},
}

// shapeOf says in words what a Go type of the YAML shape is, and which fields it has.
func shapeOf(goType string) (what, fields string) {
	switch goType {
	case "int":
		return "a whole number", ""
	case "string":
		return "text", ""
	case "bool":
		return "true or false", ""
	case "[]string":
		return "a list of text", ""
	case "map[string]string":
		return "a mapping of names to conditions", ""
	}
	if elem, ok := strings.CutPrefix(goType, "[]"); ok {
		w, _ := shapeOf(elem)
		return "a list (of " + strings.TrimPrefix(strings.TrimPrefix(w, "a "), "an ") + "s)", ""
	}
	sh, ok := shapes[strings.TrimPrefix(goType, "*")]
	if !ok {
		return "a mapping (key: value)", ""
	}
	var names []string
	for i := range sh.typ.NumField() {
		if tag, _, _ := strings.Cut(sh.typ.Field(i).Tag.Get("yaml"), ","); tag != "" {
			names = append(names, tag)
		}
	}
	return sh.what, strings.Join(names, ", ")
}

// keyAt finds the key whose value, at line with YAML tag tag (and text value, when
// given), a type error is about.
func keyAt(n *yaml.Node, line int, tag, value string) string {
	if n == nil {
		return ""
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if v.Line == line && v.ShortTag() == tag && (value == "" || v.Value == value) {
				return k.Value
			}
		}
	}
	for _, c := range n.Content {
		if k := keyAt(c, line, tag, value); k != "" {
			return k
		}
	}
	return ""
}

var (
	envOnce sync.Once
	envVal  *cel.Env
	envErr  error
)

// celEnv declares the four variables with their types, so a misspelt attribute or a type
// error fails at load time, not at decision time.
func celEnv() (*cel.Env, error) {
	envOnce.Do(func() {
		envVal, envErr = cel.NewEnv(
			ext.NativeTypes(
				reflect.TypeOf(&Person{}), reflect.TypeOf(&Entitlement{}),
				reflect.TypeOf(&Request{}), reflect.TypeOf(&Context{}),
				ext.ParseStructTags(true)),
			cel.Variable("person", cel.ObjectType("engine.Person")),
			cel.Variable("entitlement", cel.ObjectType("engine.Entitlement")),
			cel.Variable("request", cel.ObjectType("engine.Request")),
			cel.Variable("context", cel.ObjectType("engine.Context")),
			cel.OptionalTypes(),
			ext.Strings(),
			ext.Sets(),
		)
	})
	return envVal, envErr
}

// compiler accumulates one file's rules and its errors.
type compiler struct {
	name  string
	env   *cel.Env
	p     *Policy
	ids   map[string]int // rule id -> line
	conds map[string]condition
	errs  []lineError
}

// condition is a named CEL condition a rule may use as @name; it is expanded into the
// rule's own condition at load time, so it costs nothing at decision time.
type condition struct {
	expr string
	line int
}

var condRef = regexp.MustCompile(`@([A-Za-z_][A-Za-z0-9_]*)`)

func rootOf(doc *yaml.Node) *yaml.Node {
	if doc != nil && doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return doc.Content[0]
	}
	return doc
}

func (c *compiler) collectConditions(f *fileYAML, doc *yaml.Node) {
	n := child(rootOf(doc), "conditions")
	for name, expr := range f.Conditions {
		line := valueLine(n, name)
		if !condRef.MatchString("@"+name) || condRef.FindString("@"+name) != "@"+name {
			c.errorf(line, "condition name %q must be letters, digits and '_'", name)
			continue
		}
		if prev, dup := c.conds[name]; dup {
			c.errorf(line, "condition %q is already defined at line %d", name, prev.line)
			continue
		}
		c.conds[name] = condition{expr: expr, line: line}
	}
}

// checkConditions compiles every named condition on its own, so a broken one is reported
// at its own line.
func (c *compiler) checkConditions() {
	names := make([]string, 0, len(c.conds))
	for name := range c.conds {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		cond := c.conds[name]
		_, _ = c.cel(cond.line, "condition "+name, "@"+name)
	}
}

// expand replaces @name references by their conditions, in parentheses.
func (c *compiler) expand(expr string, depth int) (string, error) {
	if depth > 10 {
		return "", errors.New("conditions refer to each other in a loop")
	}
	var err error
	out := condRef.ReplaceAllStringFunc(expr, func(ref string) string {
		cond, ok := c.conds[ref[1:]]
		if !ok {
			if err == nil {
				err = fmt.Errorf("%s is not a defined condition", ref)
			}
			return ref
		}
		inner, e := c.expand(cond.expr, depth+1)
		if e != nil && err == nil {
			err = e
		}
		return "(" + inner + ")"
	})
	return out, err
}

// errorf records a problem at line; each problem is one line of the error, so a person
// (and a CI log) can read them one by one.
func (c *compiler) errorf(line int, format string, args ...any) {
	c.errs = append(c.errs, lineError{line, fmt.Errorf("%s:%d: %s", c.name, line, oneLine(fmt.Sprintf(format, args...)))})
}

type lineError struct {
	line int
	err  error
}

// err joins the problems found, in the order of the file.
func (c *compiler) err() error {
	slices.SortStableFunc(c.errs, func(a, b lineError) int { return a.line - b.line })
	errs := make([]error, len(c.errs))
	for i, e := range c.errs {
		errs[i] = e.err
	}
	return errors.Join(errs...)
}

func (c *compiler) source(line int) string { return fmt.Sprintf("%s:%d", filepath.Base(c.name), line) }

func (c *compiler) document(f *fileYAML, doc *yaml.Node) {
	root := rootOf(doc)
	if f.Version != 0 && f.Version != 1 {
		c.errorf(valueLine(root, "version"), "version %d is not supported (use 1)", f.Version)
	}
	if d := f.Defaults.DefaultDuration; d != "" {
		c.p.defaultDuration = c.duration(valueLine(child(root, "defaults"), "default_duration"), "defaults.default_duration", d)
	}
	if d := f.Defaults.MaxDuration; d != "" {
		c.p.maxDuration = c.duration(valueLine(child(root, "defaults"), "max_duration"), "defaults.max_duration", d)
	}
	rules := c.entries(child(root, "rules"), "rules", "a rule")
	for i := range f.Rules {
		c.rule(&f.Rules[i], item(rules, i))
	}
	sods := c.entries(child(root, "sod"), "sod", "a separation-of-duties constraint")
	for i := range f.SoD {
		c.sod(&f.SoD[i], item(sods, i))
	}
	if f.BreakGlass != nil {
		c.breakGlass(f.BreakGlass, child(root, "break_glass"))
	}
}

// entries reports an empty entry of the list n (rules, sod, approvals, sets: "-" alone on
// its line) as an error, not nothing: it is usually a rule whose text was lost, and
// silently reading no rule would change what the policy allows. YAML drops such entries
// when decoding, so it returns n without them, which lines up with the decoded entries
// again and lets the rest of the file be checked too.
func (c *compiler) entries(n *yaml.Node, key, what string) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode {
		return n
	}
	kept := *n
	kept.Content = nil
	for _, e := range n.Content {
		if e.Kind == yaml.ScalarNode && e.ShortTag() == "!!null" {
			c.errorf(e.Line, "an entry of %s is empty; write %s there or remove the \"-\"", key, what)
			continue
		}
		kept.Content = append(kept.Content, e)
	}
	return &kept
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.:-]*$`)

func (c *compiler) id(line int, kind, id string) {
	switch {
	case id == "":
		c.errorf(line, "%s has no id", kind)
	case !idPattern.MatchString(id):
		c.errorf(line, "%s id %q must be lower-case letters, digits, '-', '_', '.' or ':'", kind, id)
	case c.ids[id] != 0:
		c.errorf(line, "%s id %q is already used at line %d", kind, id, c.ids[id])
	default:
		c.ids[id] = line
	}
}

func (c *compiler) rule(y *ruleYAML, n *yaml.Node) {
	line := lineOf(n)
	c.id(line, "rule", y.ID)
	r := &rule{id: y.ID, description: y.Description, reason: strings.TrimSpace(y.Reason),
		remediation: strings.TrimSpace(y.Remediation), source: c.source(line), order: len(c.p.rules)}
	where := "rule " + y.ID
	var err error
	if r.effect, err = ParseEffect(y.Effect); err != nil {
		c.errorf(valueLine(n, "effect"), "%s: %v", where, err)
	}
	if r.reason == "" {
		c.errorf(line, "%s: give a reason (the sentence a requester reads)", where)
	}
	r.match = c.match(y.Match, child(n, "match"), where)
	r.when, r.tests = c.cel(valueLine(n, "when"), where, y.When)
	r.steps = c.steps(y.Approvals, child(n, "approvals"), where)
	switch {
	case r.effect == RequireApproval && len(r.steps) == 0:
		c.errorf(line, "%s: effect require_approval needs at least one approval step", where)
	case r.effect != RequireApproval && len(r.steps) > 0:
		c.errorf(valueLine(n, "approvals"), "%s: approvals are only meaningful with effect require_approval", where)
	}
	r.maxDuration = c.duration(valueLine(n, "max_duration"), where+": max_duration", y.MaxDuration)
	r.defaultDuration = c.duration(valueLine(n, "default_duration"), where+": default_duration", y.DefaultDuration)
	if r.maxDuration > 0 && r.defaultDuration > r.maxDuration {
		c.errorf(valueLine(n, "default_duration"), "%s: default_duration %s exceeds max_duration %s", where, y.DefaultDuration, y.MaxDuration)
	}
	if j := y.Justification; j != nil {
		jl := lineOf(child(n, "justification"))
		if j.MinLength < 0 {
			c.errorf(jl, "%s: justification min_length must not be negative", where)
		}
		r.justification = &justification{required: j.Required || j.MinLength > 0 || j.TicketPattern != "", minLength: j.MinLength}
		if j.TicketPattern != "" {
			re, err := regexp.Compile(j.TicketPattern)
			if err != nil {
				c.errorf(jl, "%s: ticket_pattern: %v", where, err)
			}
			r.justification.ticket, r.justification.ticketText = re, j.TicketPattern
		}
	}
	c.p.rules = append(c.p.rules, r)
}

func (c *compiler) match(m matchYAML, n *yaml.Node, where string) matcher {
	for _, f := range []struct {
		name string
		list []string
	}{{"apps", m.Apps}, {"entitlements", m.Entitlements}, {"tags", m.Tags}, {"levels", m.Levels}, {"risks", m.Risks}} {
		if f.list != nil && len(f.list) == 0 {
			c.errorf(valueLine(n, f.name), "%s: match %s is empty, which would match everything; leave it out to mean that", where, f.name)
		}
	}
	for _, l := range m.Levels {
		if directory.LevelRank(l) == 0 {
			c.errorf(valueLine(n, "levels"), "%s: match level %q must be one of %v", where, l, directory.Levels)
		}
	}
	for _, r := range m.Risks {
		if !knownRisks[r] {
			c.errorf(valueLine(n, "risks"), "%s: match risk %q must be low, medium, high or critical", where, r)
		}
	}
	for _, e := range m.Entitlements {
		if !strings.Contains(e, ":") {
			c.errorf(valueLine(n, "entitlements"), "%s: match entitlement %q must be an id like app:name", where, e)
		}
	}
	return matcher{apps: set(m.Apps), entitlements: set(m.Entitlements), tags: set(m.Tags),
		levels: set(m.Levels), risks: set(m.Risks)}
}

var knownRisks = map[string]bool{"low": true, "medium": true, "high": true, "critical": true}

func set(xs []string) map[string]bool {
	if len(xs) == 0 {
		return nil
	}
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// cel compiles a condition that must be a bool; empty means "always". It also says what
// the condition tests.
func (c *compiler) cel(line int, where, expr string) (*compiledWhen, tested) {
	if strings.TrimSpace(expr) == "" {
		return nil, tested{}
	}
	expr, err := c.expand(expr, 0)
	if err != nil {
		c.errorf(line, "%s: when: %v", where, err)
		return nil, tested{}
	}
	ast, iss := c.env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			msg := fmt.Sprintf("%s: when: %s, at column %d of %q", where, e.Message, e.Location.Column()+1, expr)
			if strings.Contains(e.Message, "undefined field") || strings.Contains(e.Message, "undeclared reference") {
				msg += "; " + attributes
			}
			c.errorf(line, "%s", msg)
		}
		return nil, tested{}
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		c.errorf(line, "%s: when must be a bool condition, but %q is %s", where, expr, ast.OutputType())
		return nil, tested{}
	}
	// Decisions must stay fast whatever the input: bound the worst case at load time.
	if est, err := c.env.EstimateCost(ast, sizes{}); err != nil {
		c.errorf(line, "%s: when: %v", where, err)
		return nil, tested{}
	} else if est.Max > maxConditionCost {
		c.errorf(line, "%s: when may take up to %d evaluation steps (limit %d); avoid loops nested in loops over lists",
			where, est.Max, maxConditionCost)
		return nil, tested{}
	}
	fast, err := c.env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		c.errorf(line, "%s: when: %v", where, err)
		return nil, tested{}
	}
	guarded, err := c.env.Program(ast, cel.EvalOptions(cel.OptOptimize), cel.CostLimit(costLimit))
	if err != nil {
		c.errorf(line, "%s: when: %v", where, err)
		return nil, tested{}
	}
	return &compiledWhen{fast: fast, guarded: guarded}, analyse(ast)
}

// tested is what a condition reads: the attributes it names ("request.on_behalf") and
// the person attributes it compares with literal values ("oncall" in person.groups),
// which explain varies to say what would change a decision.
type tested struct {
	attrs  map[string]bool
	values []attrValue
}

// attrValue is a person attribute and a value a condition compares it with.
type attrValue struct{ field, value string }

// variedFields are the person attributes explain may vary: what a person is, not who.
var variedFields = map[string]bool{"department": true, "title": true, "groups": true, "employment_type": true, "location": true}

func analyse(a *cel.Ast) tested {
	t := tested{attrs: map[string]bool{}}
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			if op := e.AsSelect().Operand(); op.Kind() == celast.IdentKind {
				t.attrs[op.AsIdent()+"."+e.AsSelect().FieldName()] = true
			}
		case celast.CallKind:
			call := e.AsCall()
			switch call.FunctionName() {
			case operators.Equals, operators.NotEquals, operators.In:
				if args := call.Args(); len(args) == 2 {
					t.compare(args[0], args[1])
					t.compare(args[1], args[0])
				}
			}
		}
	}))
	return t
}

// compare records the literal values lit compares a person attribute attr with.
func (t *tested) compare(attr, lit celast.Expr) {
	if attr.Kind() != celast.SelectKind {
		return
	}
	sel := attr.AsSelect()
	if op := sel.Operand(); op.Kind() != celast.IdentKind || op.AsIdent() != "person" || !variedFields[sel.FieldName()] {
		return
	}
	add := func(e celast.Expr) {
		if e.Kind() != celast.LiteralKind {
			return
		}
		if v, ok := e.AsLiteral().Value().(string); ok {
			av := attrValue{sel.FieldName(), v}
			if !slices.Contains(t.values, av) {
				t.values = append(t.values, av)
			}
		}
	}
	switch lit.Kind() {
	case celast.LiteralKind:
		add(lit)
	case celast.ListKind:
		for _, e := range lit.AsList().Elements() {
			add(e)
		}
	}
}

// attributes is the reference a policy author needs when they misspell one.
const attributes = "conditions can use person.{email, department, title, manager, groups, employment_type, " +
	"location, status, time_zone}, entitlement.{id, app, name, level, risk, tags, owner}, " +
	"request.{duration, justification, ticket_ref, on_behalf, requester, emergency} and " +
	"context.{now, weekday, hour, held, pending}"

// maxQuorum and maxStage bound what a step may ask; beyond them a number is a typo.
const (
	maxQuorum = 100
	maxStage  = 20
)

func (c *compiler) steps(ys []stepYAML, n *yaml.Node, where string) []Step {
	n = c.entries(n, "approvals", "an approval step")
	var out []Step
	for i := range ys {
		if s, ok := c.step(&ys[i], item(n, i), where); ok {
			out = append(out, s)
		}
	}
	return out
}

// step reads one approval step: {kind, stage, quorum} or {any_of, stage}. A quorum that
// can never be met is an error here, at its line, rather than a denial at routing time.
func (c *compiler) step(y *stepYAML, n *yaml.Node, where string) (Step, bool) {
	line := lineOf(n)
	s := Step{Stage: max(y.Stage, 1), Quorum: 1}
	switch {
	case y.Stage < 0:
		c.errorf(valueLine(n, "stage"), "%s: approval stage %d must not be negative", where, y.Stage)
		return s, false
	case y.Stage > maxStage:
		c.errorf(valueLine(n, "stage"), "%s: approval stage %d is more than %d stages anyone would wait for", where, y.Stage, maxStage)
		return s, false
	case y.Kind != "" && y.AnyOf != nil:
		c.errorf(line, "%s: an approval step has either a kind or any_of, not both", where)
		return s, false
	case y.AnyOf != nil:
		s.Kind = ApproverAnyOf
		al := valueLine(n, "any_of")
		if len(y.AnyOf) < 2 {
			c.errorf(al, "%s: any_of needs at least two approvers to choose from; for one, write kind: %s", where, strings.Join(y.AnyOf, ""))
			return s, false
		}
		for _, a := range y.AnyOf {
			kind, group, err := ParseApprover(a)
			if err != nil {
				c.errorf(al, "%s: any_of: %v", where, err)
				return s, false
			}
			alt := Approver{kind, group}
			if slices.Contains(s.AnyOf, alt) {
				c.errorf(al, "%s: any_of names %s twice", where, alt)
				return s, false
			}
			s.AnyOf = append(s.AnyOf, alt)
		}
		// One order however written, so the same alternatives read and merge alike.
		slices.SortFunc(s.AnyOf, func(a, b Approver) int {
			if a.Kind != b.Kind {
				return int(a.Kind) - int(b.Kind)
			}
			return strings.Compare(a.Group, b.Group)
		})
		c.groupRefs(s, c.source(line)+" "+where)
	case y.Kind == "":
		c.errorf(line, "%s: an approval step needs a kind (manager, entitlement_owner, app_owner, security or group:<name>) or any_of", where)
		return s, false
	default:
		kind, group, err := ParseApprover(y.Kind)
		if err != nil {
			c.errorf(line, "%s: %v", where, err)
			return s, false
		}
		s.Kind, s.Group = kind, group
	}
	ql := valueLine(n, "quorum")
	quorum, all, err := parseQuorum(&y.Quorum)
	switch {
	case err != nil:
		c.errorf(ql, "%s: %v", where, err)
		return s, false
	case s.Kind == ApproverAnyOf && (all || quorum > 1):
		c.errorf(ql, "%s: an any_of step is complete when one of its approvers approves, so quorum %s cannot apply; "+
			"write separate steps to need several", where, y.Quorum.Value)
		return s, false
	case singleApprover(s.Kind) && all:
		c.errorf(ql, "%s: %s %s step has one approver, so quorum all means nothing; leave it out", where, article(s.Kind.String()), s.Kind)
		return s, false
	case singleApprover(s.Kind) && quorum > 1:
		c.errorf(ql, "%s: %s %s step has one approver, so quorum %d can never be met", where, article(s.Kind.String()), s.Kind, quorum)
		return s, false
	}
	s.Quorum, s.All = max(quorum, 1), all
	if s.Kind != ApproverAnyOf {
		c.groupRefs(s, c.source(line)+" "+where)
	}
	return s, true
}

// article is "a" or "an" for word.
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// parseQuorum reads a step's quorum: absent (one approver), a number from 1 to maxQuorum,
// or "all" (every eligible member of the group).
func parseQuorum(n *yaml.Node) (quorum int, all bool, err error) {
	switch {
	case n.Kind == 0:
		return 0, false, nil
	case n.Kind == yaml.ScalarNode && n.Value == "all":
		return 0, true, nil
	case n.Kind == yaml.ScalarNode && allDigits.MatchString(n.Value):
		q, err := strconv.ParseInt(n.Value, 10, 64)
		switch {
		case err != nil && !errors.Is(err, strconv.ErrRange):
			return 0, false, fmt.Errorf("quorum %q must be a number of approvers or all", n.Value)
		case err != nil || q > maxQuorum:
			return 0, false, fmt.Errorf("quorum %s is more approvals than any step can gather (at most %d; or write all)", n.Value, maxQuorum)
		case q < 1:
			return 0, false, fmt.Errorf("quorum %d must be at least 1 (leave it out for one approver)", q)
		}
		return int(q), false, nil
	}
	return 0, false, fmt.Errorf("quorum %q must be a number of approvers or all", n.Value)
}

var allDigits = regexp.MustCompile(`^[0-9]+$`)

// groupRefs remembers the directory groups a step names, to check them against the
// directory (Policy.Unknown) where the policy is put in force.
func (c *compiler) groupRefs(s Step, where string) {
	add := func(a Approver) {
		if a.Kind == ApproverGroup {
			c.p.groups = append(c.p.groups, groupRef{group: a.Group, quorum: s.Quorum, all: s.All, where: where})
		}
	}
	if s.Kind == ApproverAnyOf {
		for _, a := range s.AnyOf {
			add(a)
		}
		return
	}
	add(Approver{s.Kind, s.Group})
}

func (c *compiler) duration(line int, where, s string) time.Duration {
	d, err := directory.ParseDuration(s)
	if err != nil {
		c.errorf(line, "%s: %v", where, err)
		return 0
	}
	if s != "" && d == 0 {
		c.errorf(line, "%s: a zero duration grants nothing; leave it out instead", where)
	}
	return d
}

func (c *compiler) sod(y *sodYAML, n *yaml.Node) {
	line := lineOf(n)
	c.id(line, "sod", y.ID)
	where := "sod " + y.ID
	s := &sod{id: y.ID, reason: strings.TrimSpace(y.Reason), remediation: strings.TrimSpace(y.Remediation),
		source: c.source(line)}
	var err error
	if s.effect, err = ParseEffect(y.Effect); err != nil || s.effect == Allow {
		c.errorf(valueLine(n, "effect"), "%s: effect %q must be deny or require_approval", where, y.Effect)
	}
	if len(y.Sets) < 2 {
		c.errorf(line, "%s: needs at least two conflicting sets", where)
	}
	seen := map[string]string{}
	sets := c.entries(child(n, "sets"), "sets", "a set {name, entitlements}")
	for i, set := range y.Sets {
		sl := lineOf(item(sets, i))
		if set.Name == "" || len(set.Entitlements) == 0 {
			c.errorf(sl, "%s: every set needs a name and entitlements", where)
			continue
		}
		for _, e := range set.Entitlements {
			if other, dup := seen[e]; dup && other != set.Name {
				c.errorf(sl, "%s: %s is in both sets %q and %q", where, e, other, set.Name)
			}
			seen[e] = set.Name
		}
		s.sets = append(s.sets, sodSet{name: set.Name, entitlements: set.Entitlements})
	}
	s.steps = c.steps(y.Approvals, child(n, "approvals"), where)
	if s.effect == RequireApproval && len(s.steps) == 0 {
		c.errorf(line, "%s: effect require_approval needs at least one approval step", where)
	}
	if s.reason == "" {
		s.reason = y.Description
	}
	c.p.sod = append(c.p.sod, s)
}

func (c *compiler) breakGlass(y *breakGlassYAML, n *yaml.Node) {
	line := lineOf(n)
	if c.p.breakGlass != nil {
		c.errorf(line, "break_glass is defined twice")
		return
	}
	b := &breakGlass{reason: strings.TrimSpace(y.Reason), source: c.source(line)}
	if strings.TrimSpace(y.When) == "" {
		// Without a condition everyone could skip approvals by saying "emergency".
		c.errorf(line, "break_glass: needs a when condition saying who may take emergency access to what")
	} else {
		b.when, _ = c.cel(valueLine(n, "when"), "break_glass", y.When)
	}
	b.maxDuration = c.duration(valueLine(n, "max_duration"), "break_glass: max_duration", y.MaxDuration)
	switch {
	case b.maxDuration == 0 && y.MaxDuration == "":
		c.errorf(line, "break_glass: needs a max_duration (keep it short, e.g. 1h)")
	case b.maxDuration > MaxBreakGlassDuration:
		c.errorf(valueLine(n, "max_duration"), "break_glass: max_duration %s is longer than an emergency lasts (at most %s); "+
			"longer access goes through approval", y.MaxDuration, directory.FormatDuration(MaxBreakGlassDuration))
	}
	if b.reason == "" {
		b.reason = "emergency access"
	}
	// Nobody can opt out of the review: an empty list means the security group reviews.
	b.review = c.steps(y.Review, child(n, "review"), "break_glass: review")
	if len(b.review) == 0 {
		b.review = []Step{{Kind: ApproverSecurity, Stage: 1, Quorum: 1}}
	}
	c.p.breakGlass = b
}

// MaxBreakGlassDuration is the longest emergency access a policy may give without approval.
const MaxBreakGlassDuration = 24 * time.Hour

// Node helpers: yaml.Node mappings hold keys and values alternately in Content.

func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func item(n *yaml.Node, i int) *yaml.Node {
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return nil
	}
	return n.Content[i]
}

func lineOf(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

// valueLine is the line of key's value in mapping n, or n's own line.
func valueLine(n *yaml.Node, key string) int {
	if v := child(n, key); v != nil {
		return v.Line
	}
	return lineOf(n)
}
