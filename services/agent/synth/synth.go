// Package synth builds synthetic directories of any size, for benchmarks of the agent.
package synth

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/agentic-iga/iga/pkg/directory"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
)

var (
	nouns = []string{"billing", "orders", "ledger", "search", "catalog", "inventory", "fraud", "risk", "identity",
		"checkout", "shipping", "returns", "pricing", "tax", "reports", "metrics", "alerts", "logs", "traces",
		"warehouse", "marketing", "campaigns", "support", "tickets", "contracts", "payroll", "hiring", "devices",
		"network", "storage", "backups", "secrets", "certificates", "queues", "streams", "models", "experiments"}
	roles = []struct{ name, level, risk, verb string }{
		{"viewer", "read", "low", "View"}, {"reader", "read", "medium", "Read"}, {"auditor", "read", "medium", "Audit"},
		{"analyst", "read", "medium", "Query"}, {"editor", "write", "medium", "Edit"}, {"operator", "write", "high", "Operate"},
		{"deployer", "write", "high", "Deploy"}, {"publisher", "write", "medium", "Publish"}, {"admin", "admin", "high", "Administer"},
		{"owner", "admin", "critical", "Own"},
	}
)

// Directory returns a snapshot with apps*10 entitlements and apps*2 people, including
// the demo personas dana.reyes and sam.patel (every 50th synthetic person is a Financial
// Analyst in Finance, a peer of dana's), and the grafana payments entitlements.
func Directory(apps int) *directory.Snapshot {
	people := []*igav1.Person{
		{Email: "olivia.chen@acme.example", Name: "Olivia Chen", Department: "Finance", Title: "CFO", Status: "active"},
		{Email: "marco.bianchi@acme.example", Name: "Marco Bianchi", Department: "Finance", Title: "Finance Manager", ManagerEmail: "olivia.chen@acme.example", Status: "active"},
		{Email: "dana.reyes@acme.example", Name: "Dana Reyes", Department: "Finance", Title: "Financial Analyst", ManagerEmail: "marco.bianchi@acme.example", Status: "active"},
		{Email: "priya.nair@acme.example", Name: "Priya Nair", Department: "Engineering", Title: "Engineering Manager", Status: "active"},
		{Email: "sam.patel@acme.example", Name: "Sam Patel", Department: "Engineering", Title: "Software Engineer", ManagerEmail: "priya.nair@acme.example", Status: "active"},
	}
	depts := []struct{ dept, title, manager string }{
		{"Engineering", "Software Engineer", "priya.nair@acme.example"}, {"Finance", "Accountant", "marco.bianchi@acme.example"},
		{"Engineering", "Site Reliability Engineer", "priya.nair@acme.example"}, {"Finance", "Controller", "olivia.chen@acme.example"},
	}
	for i := range apps * 2 {
		d := depts[i%len(depts)]
		if i%50 == 0 {
			d = depts[1]
			d.title = "Financial Analyst"
		}
		people = append(people, &igav1.Person{Email: fmt.Sprintf("person%d.synth@acme.example", i), Name: fmt.Sprintf("Person%d Synth", i),
			Department: d.dept, Title: d.title, ManagerEmail: d.manager, Status: "active"})
	}
	var as []*igav1.App
	var es []*igav1.Entitlement
	add := func(app *igav1.App, name, desc, level, risk string, aliases ...string) {
		es = append(es, &igav1.Entitlement{Id: app.Id + ":" + name, AppId: app.Id, Name: name, Description: desc,
			Aliases: aliases, Level: level, Risk: risk, DefaultDuration: durationpb.New(7 * 24 * time.Hour),
			MaxDuration: durationpb.New(30 * 24 * time.Hour)})
	}
	grafana := &igav1.App{Id: "grafana", Name: "Grafana", Description: "Dashboards for metrics", Aliases: []string{"dashboards"},
		OwnerEmail: "priya.nair@acme.example"}
	as = append(as, grafana)
	add(grafana, "payments-viewer", "Read-only access to the payments dashboards", "read", "low", "payments dashboards")
	add(grafana, "payments-editor", "Edit the payments dashboards", "write", "medium", "edit payments dashboards")
	for i := 0; len(es) < apps*10; i++ {
		noun := nouns[i%len(nouns)]
		app := &igav1.App{Id: fmt.Sprintf("%s-%d", noun, i), Name: fmt.Sprintf("%s service %d", noun, i),
			Description: fmt.Sprintf("The %s system number %d", noun, i), Aliases: []string{fmt.Sprintf("%s%d", noun, i)},
			OwnerEmail: "priya.nair@acme.example"}
		as = append(as, app)
		for j, r := range roles {
			other := nouns[(i+j+1)%len(nouns)]
			add(app, r.name, fmt.Sprintf("%s %s and %s data in %s", r.verb, noun, other, app.Name), r.level, r.risk,
				fmt.Sprintf("%s %s", noun, r.name))
			if len(es) >= apps*10 {
				break
			}
		}
	}
	return directory.NewSnapshot(people, as, es)
}
