package directory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

const demoDir = "../../deploy/demo"

func loadDemo(t *testing.T) *Snapshot {
	t.Helper()
	s, err := LoadDir(demoDir)
	if err != nil {
		t.Fatalf("LoadDir(%s): %v", demoDir, err)
	}
	return s
}

func TestDemoDatasetSize(t *testing.T) {
	s := loadDemo(t)
	depts := map[string]bool{}
	for _, p := range s.People {
		depts[p.GetDepartment()] = true
	}
	checks := []struct {
		what     string
		got, min int
	}{
		{"people", len(s.People), 150},
		{"departments", len(depts), 8},
		{"apps", len(s.Apps), 40},
		{"entitlements", len(s.Entitlements), 200},
	}
	for _, c := range checks {
		if c.got < c.min {
			t.Errorf("demo has %d %s, want at least %d", c.got, c.what, c.min)
		}
	}
}

func TestDemoPersonas(t *testing.T) {
	s := loadDemo(t)
	tests := []struct {
		email, title, dept, manager, employment string
		groups                                  []string // exact, when set
		slack                                   string
	}{
		{email: "dana.reyes@acme.example", title: "Financial Analyst", dept: "Finance", manager: "marco.bianchi@acme.example",
			groups: []string{"finance", "all-staff"}, slack: "U0DANA"},
		{email: "marco.bianchi@acme.example", title: "Finance Manager", dept: "Finance", manager: "olivia.chen@acme.example"},
		{email: "olivia.chen@acme.example", title: "Chief Financial Officer", dept: "Finance"},
		{email: "sam.patel@acme.example", title: "Software Engineer", dept: "Engineering", manager: "priya.nair@acme.example",
			groups: []string{"engineering", "backend", "all-staff"}},
		{email: "priya.nair@acme.example", title: "Engineering Manager", dept: "Engineering"},
		{email: "lee.kim@acme.example", title: "Security Engineer", dept: "Security", groups: []string{"security", "all-staff"}},
		{email: "alex.morgan@acme.example", title: "Data Engineer", dept: "Data", groups: []string{"data", "all-staff"}},
		{email: "jo.silva@acme.example", dept: "Engineering", manager: "priya.nair@acme.example", employment: "contractor"},
	}
	for _, tt := range tests {
		t.Run(tt.email, func(t *testing.T) {
			p, ok := s.Person(tt.email)
			if !ok {
				t.Fatalf("%s is not in the demo directory", tt.email)
			}
			if p.GetStatus() != "active" {
				t.Errorf("status = %q, want active", p.GetStatus())
			}
			if tt.title != "" && p.GetTitle() != tt.title {
				t.Errorf("title = %q, want %q", p.GetTitle(), tt.title)
			}
			if p.GetDepartment() != tt.dept {
				t.Errorf("department = %q, want %q", p.GetDepartment(), tt.dept)
			}
			if tt.manager != "" && p.GetManagerEmail() != tt.manager {
				t.Errorf("manager = %q, want %q", p.GetManagerEmail(), tt.manager)
			}
			if tt.employment != "" && p.GetEmploymentType() != tt.employment {
				t.Errorf("employment_type = %q, want %q", p.GetEmploymentType(), tt.employment)
			}
			if tt.groups != nil && strings.Join(p.GetGroups(), ",") != strings.Join(tt.groups, ",") {
				t.Errorf("groups = %v, want %v", p.GetGroups(), tt.groups)
			}
			if tt.slack != "" {
				if got, ok := s.PersonByChannel("slack", tt.slack); !ok || got.GetEmail() != tt.email {
					t.Errorf("slack %s maps to %v, want %s", tt.slack, got.GetEmail(), tt.email)
				}
			}
		})
	}
}

func TestDemoAnchors(t *testing.T) {
	s := loadDemo(t)
	tests := []struct{ id, level, risk string }{
		{"grafana:payments-viewer", "read", "low"},
		{"grafana:payments-editor", "write", "medium"},
		{"grafana:admin", "admin", "high"},
		{"snowflake:analyst", "read", "medium"},
		{"snowflake:engineer", "write", "high"},
		{"snowflake:admin", "admin", "critical"},
		{"github:read", "read", ""},
		{"github:write", "write", ""},
		{"github:admin", "admin", ""},
		{"aws-prod:readonly", "read", "medium"},
		{"aws-prod:poweruser", "write", "high"},
		{"aws-prod:admin", "admin", "critical"},
		{"prod-postgres:readonly", "read", ""},
		{"prod-postgres:readwrite", "write", ""},
		{"prod-postgres:superuser", "admin", ""},
		{"stripe:viewer", "read", ""},
		{"stripe:refunds", "write", ""},
		{"stripe:admin", "admin", ""},
		{"netsuite:ap-clerk", "", ""},
		{"netsuite:ap-approver", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			e, ok := s.Entitlement(tt.id)
			if !ok {
				t.Fatalf("%s is not in the demo catalog", tt.id)
			}
			if tt.level != "" && e.GetLevel() != tt.level {
				t.Errorf("level = %q, want %q", e.GetLevel(), tt.level)
			}
			if tt.risk != "" && e.GetRisk() != tt.risk {
				t.Errorf("risk = %q, want %q", e.GetRisk(), tt.risk)
			}
		})
	}
	for _, id := range []string{"netsuite:ap-clerk", "netsuite:ap-approver"} {
		if e, _ := s.Entitlement(id); e.GetProvisioning() != igav1.ProvisioningMethod_PROVISIONING_METHOD_MANUAL {
			t.Errorf("%s provisioning = %v, want manual", id, e.GetProvisioning())
		}
	}
	for _, id := range []string{"aws-staging", "aws-sandbox", "k8s-prod", "1password", "okta", "google-workspace"} {
		if _, ok := s.App(id); !ok {
			t.Errorf("app %s is not in the demo catalog", id)
		}
	}
}

// TestDemoQuality checks what the agent, policies and approvals rely on beyond the loader's
// own validation: an org chart with one root, owners who can act, searchable entitlements.
func TestDemoQuality(t *testing.T) {
	s := loadDemo(t)
	var roots []string
	for _, p := range s.PeopleList() {
		if p.GetManagerEmail() == "" {
			roots = append(roots, p.GetEmail())
		}
	}
	if len(roots) != 1 || roots[0] != "rachel.thompson@acme.example" {
		t.Errorf("org chart roots = %v, want only the CEO", roots)
	}
	for _, g := range []string{"all-staff", "security", "it-admins", "cab", "oncall", "backend", "frontend", "platform"} {
		if len(s.GroupMembers(g)) == 0 {
			t.Errorf("group %s has no active members", g)
		}
	}
	kinds := map[string]int{}
	for _, p := range s.People {
		kinds[p.GetEmploymentType()]++
		kinds[p.GetStatus()]++
	}
	for _, k := range []string{"contractor", "intern", "leave", "terminated"} {
		if kinds[k] == 0 {
			t.Errorf("nobody in the demo is %s", k)
		}
	}
	methods := map[igav1.ProvisioningMethod]int{}
	for _, e := range s.EntitlementList() {
		methods[e.GetProvisioning()]++
		if e.GetDescription() == "" || len(e.GetAliases()) == 0 {
			t.Errorf("%s needs a description and aliases so requests can find it", e.GetId())
		}
		if e.GetMaxDuration() == nil || e.GetDefaultDuration() == nil {
			t.Errorf("%s needs max_duration and default_duration", e.GetId())
		}
		owner, ok := s.Person(s.EntitlementOwner(e))
		if !ok || owner.GetStatus() != "active" {
			t.Errorf("%s is owned by %q, who is not an active person", e.GetId(), s.EntitlementOwner(e))
		}
	}
	for _, m := range []igav1.ProvisioningMethod{igav1.ProvisioningMethod_PROVISIONING_METHOD_SCIM,
		igav1.ProvisioningMethod_PROVISIONING_METHOD_MANUAL, igav1.ProvisioningMethod_PROVISIONING_METHOD_WEBHOOK} {
		if methods[m] == 0 {
			t.Errorf("no entitlement is provisioned by %v", m)
		}
	}
}

const basePeople = `people:
  - email: boss@acme.example
    name: Boss
    department: Executive
    title: CEO
  - email: ann@acme.example
    name: Ann
    department: Engineering
    title: Engineer
    manager: boss@acme.example
    groups: [engineering]
    channel_ids: {slack: U1}
  - email: bob@acme.example
    name: Bob
    department: Engineering
    title: Engineer
    manager: ann@acme.example
    channel_ids: {slack: U2}
`

const baseCatalog = `apps:
  - id: wiki
    name: Wiki
    owner: ann@acme.example
    provisioning: scim
    entitlements:
      - name: reader
        description: Read pages.
        level: read
        risk: low
        max_duration: 90d
        default_duration: 30d
      - name: editor
        description: Edit pages.
        level: write
        risk: medium
        owner: bob@acme.example
        max_duration: 30d
        default_duration: 7d
`

func writeFixture(t *testing.T, people, catalog string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"people.yaml": people, "catalog.yaml": catalog} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDirFixture(t *testing.T) {
	s, err := LoadDir(writeFixture(t, basePeople, baseCatalog))
	if err != nil {
		t.Fatalf("LoadDir: %v", err)
	}
	boss, _ := s.Person("BOSS@acme.example")
	if boss.GetStatus() != "active" || boss.GetEmploymentType() != "employee" {
		t.Errorf("defaults: status %q, employment %q; want active, employee", boss.GetStatus(), boss.GetEmploymentType())
	}
	reader, ok := s.Entitlement("wiki:reader")
	if !ok {
		t.Fatal("wiki:reader missing")
	}
	if reader.GetScimGroup() != "wiki-reader" || reader.GetAppId() != "wiki" ||
		reader.GetProvisioning() != igav1.ProvisioningMethod_PROVISIONING_METHOD_SCIM {
		t.Errorf("wiki:reader = %v", reader)
	}
	if reader.GetMaxDuration().AsDuration() != 90*24*time.Hour || reader.GetDefaultDuration().AsDuration() != 30*24*time.Hour {
		t.Errorf("wiki:reader durations = %v / %v", reader.GetMaxDuration().AsDuration(), reader.GetDefaultDuration().AsDuration())
	}
	if got := s.EntitlementOwner(reader); got != "ann@acme.example" {
		t.Errorf("owner of wiki:reader = %q, want the app owner", got)
	}
	editor, _ := s.Entitlement("wiki:editor")
	if got := s.EntitlementOwner(editor); got != "bob@acme.example" {
		t.Errorf("owner of wiki:editor = %q, want its own owner", got)
	}
}

func TestLoadDirRejects(t *testing.T) {
	type edit struct{ old, new string }
	tests := []struct {
		name    string
		people  []edit
		catalog []edit
		want    string
	}{
		{name: "duplicate email", people: []edit{{"email: bob@acme.example", "email: ANN@acme.example"}},
			want: "duplicate email ann@acme.example"},
		{name: "not an email", people: []edit{{"email: bob@acme.example", "email: bob"}},
			want: `email "bob" is not an email address`},
		{name: "unknown manager", people: []edit{{"manager: ann@acme.example", "manager: nobody@acme.example"}},
			want: "manager nobody@acme.example is not in the directory"},
		{name: "own manager", people: []edit{{"manager: ann@acme.example", "manager: bob@acme.example"}},
			want: "person bob@acme.example: manager chain loops"},
		{name: "manager cycle", people: []edit{{"title: CEO", "title: CEO\n    manager: bob@acme.example"}},
			want: "manager chain loops"},
		{name: "shared chat identity", people: []edit{{"{slack: U2}", "{slack: U1}"}},
			want: "slack id U1 is already"},
		{name: "unknown person field", people: []edit{{"title: CEO", "title: CEO\n    nickname: B"}},
			want: "field nickname not found"},
		{name: "unknown app owner", catalog: []edit{{"owner: ann@acme.example", "owner: ghost@acme.example"}},
			want: `app wiki: owner "ghost@acme.example" is not in the directory`},
		{name: "missing app owner", catalog: []edit{{"    owner: ann@acme.example\n", ""}},
			want: `app wiki: owner "" is not in the directory`},
		{name: "unknown entitlement owner", catalog: []edit{{"owner: bob@acme.example", "owner: ghost@acme.example"}},
			want: `entitlements[1]: owner "ghost@acme.example" is not in the directory`},
		{name: "bad level", catalog: []edit{{"level: write", "level: superuser"}},
			want: `level "superuser" must be one of`},
		{name: "missing level", catalog: []edit{{"        level: read\n", ""}},
			want: `level "" must be one of`},
		{name: "bad risk", catalog: []edit{{"risk: low", "risk: extreme"}},
			want: `risk "extreme" must be low, medium, high or critical`},
		{name: "bad app provisioning", catalog: []edit{{"provisioning: scim", "provisioning: email"}},
			want: `app wiki: provisioning "email" must be scim, manual or webhook`},
		{name: "bad entitlement provisioning", catalog: []edit{{"risk: medium", "risk: medium\n        provisioning: fax"}},
			want: `entitlements[1]: provisioning "fax" must be scim, manual or webhook`},
		{name: "negative duration", catalog: []edit{{"max_duration: 30d", "max_duration: -5h"}},
			want: `max_duration: duration "-5h" is negative`},
		{name: "negative days", catalog: []edit{{"default_duration: 7d", "default_duration: -7d"}},
			want: `default_duration: duration "-7d": write it like`},
		{name: "forever", catalog: []edit{{"max_duration: 90d", "max_duration: forever"}},
			want: `max_duration: duration "forever": write it like`},
		{name: "zero max", catalog: []edit{{"max_duration: 90d", "max_duration: 0d"}},
			want: `max_duration "0d" must be longer than zero`},
		{name: "overflowing duration", catalog: []edit{{"max_duration: 90d", "max_duration: 99999w"}},
			want: `duration "99999w" is out of range`},
		{name: "default above max", catalog: []edit{{"default_duration: 7d", "default_duration: 60d"}},
			want: "default_duration 60d exceeds max_duration 30d"},
		{name: "unknown entitlement field", catalog: []edit{{"risk: low", "risk: low\n        approvers: [boss@acme.example]"}},
			want: "field approvers not found"},
		{name: "unknown app field", catalog: []edit{{"name: Wiki", "name: Wiki\n    url: https://wiki"}},
			want: "field url not found"},
		{name: "duplicate entitlement", catalog: []edit{{"name: editor", "name: reader"}},
			want: "duplicate entitlement wiki:reader"},
		{name: "bad app id", catalog: []edit{{"id: wiki", "id: Wiki Pages"}},
			want: `id "Wiki Pages" must be lower-case`},
		{name: "bad entitlement name", catalog: []edit{{"name: editor", "name: Editor:All"}},
			want: `name "Editor:All" must be lower-case`},
		{name: "duplicate app", catalog: []edit{{"apps:\n", "apps:\n  - id: wiki\n    name: Old wiki\n    owner: ann@acme.example\n    entitlements:\n      - {name: reader, level: read, risk: low}\n"}},
			want: "duplicate app id wiki"},
		{name: "not yaml", people: []edit{{"people:\n", "people: [\n"}},
			want: "people.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			people, catalog := basePeople, baseCatalog
			for _, e := range tt.people {
				if !strings.Contains(people, e.old) {
					t.Fatalf("fixture edit %q does not apply", e.old)
				}
				people = strings.Replace(people, e.old, e.new, 1)
			}
			for _, e := range tt.catalog {
				if !strings.Contains(catalog, e.old) {
					t.Fatalf("fixture edit %q does not apply", e.old)
				}
				catalog = strings.Replace(catalog, e.old, e.new, 1)
			}
			s, err := LoadDir(writeFixture(t, people, catalog))
			if err == nil {
				t.Fatalf("LoadDir accepted it (%d people, %d entitlements); want an error containing %q",
					len(s.People), len(s.Entitlements), tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadDirAppWithoutEntitlements(t *testing.T) {
	catalog := baseCatalog[:strings.Index(baseCatalog, "    entitlements:")]
	_, err := LoadDir(writeFixture(t, basePeople, catalog))
	if err == nil || !strings.Contains(err.Error(), "app wiki: has no entitlements") {
		t.Errorf("error = %v, want app wiki: has no entitlements", err)
	}
}

func TestLoadDirMissingFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "people.yaml"), []byte(basePeople), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "catalog.yaml") {
		t.Errorf("error = %v, want one naming catalog.yaml", err)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "", want: 0},
		{in: "90s", want: 90 * time.Second},
		{in: "30m", want: 30 * time.Minute},
		{in: "12h", want: 12 * time.Hour},
		{in: " 7d ", want: 7 * 24 * time.Hour},
		{in: "2w", want: 14 * 24 * time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "0s", want: 0},
		{in: "100000d", want: 100000 * 24 * time.Hour},
		{in: "-1h", wantErr: "negative"},
		{in: "-3d", wantErr: "write it like"},
		{in: "forever", wantErr: "write it like"},
		{in: "7 days", wantErr: "write it like"},
		{in: "d", wantErr: "write it like"},
		{in: "1y", wantErr: "write it like"},
		{in: "100001d", wantErr: "out of range"},
		{in: "20000w", wantErr: "out of range"}, // 383 years: more than a time.Duration holds
		{in: "99999999999999999999s", wantErr: "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDuration(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Hour, "0s"},
		{45 * time.Second, "45s"},
		{90 * time.Second, "1m30s"},
		{30 * time.Minute, "30m"},
		{90 * time.Minute, "90m"},
		{4 * time.Hour, "4h"},
		{36 * time.Hour, "36h"},
		{24 * time.Hour, "1d"},
		{30 * 24 * time.Hour, "30d"},
		{14 * 24 * time.Hour, "2w"},
		{1500 * time.Millisecond, "2s"},
		{37*time.Hour + 2*time.Minute, "1d13h2m"},
		{50 * time.Hour, "50h"},
		{24*time.Hour + 30*time.Second, "1d30s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := FormatDuration(tt.in)
			if got != tt.want {
				t.Fatalf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
			}
			if tt.in > 0 && tt.in%time.Second == 0 {
				back, err := ParseDuration(got)
				if err != nil || back != tt.in {
					t.Errorf("ParseDuration(%q) = %v, %v; want %v back", got, back, err, tt.in)
				}
			}
		})
	}
}

func TestLevelRank(t *testing.T) {
	if !(LevelRank("read") < LevelRank("write") && LevelRank("write") < LevelRank("admin")) {
		t.Errorf("levels out of order: read %d, write %d, admin %d", LevelRank("read"), LevelRank("write"), LevelRank("admin"))
	}
	for _, l := range []string{"", "owner", "READ"} {
		if LevelRank(l) != 0 {
			t.Errorf("LevelRank(%q) = %d, want 0", l, LevelRank(l))
		}
	}
}
