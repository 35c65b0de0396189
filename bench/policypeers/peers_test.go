package policypeers

import (
	"fmt"
	"testing"
	"time"
)

// The three engines must agree before their speed means anything.
func TestEnginesAgree(t *testing.T) {
	cases := map[string]Case{"sam asks snowflake analyst": Sam}
	with := func(name string, f func(*Case)) {
		c := Sam
		c.Groups = append([]string(nil), Sam.Groups...)
		c.Tags = append([]string(nil), Sam.Tags...)
		f(&c)
		cases[name] = c
	}
	with("data engineer self-service", func(c *Case) { c.Department = "Data" })
	with("terminated", func(c *Case) { c.Status = "terminated" })
	with("too long", func(c *Case) { c.Duration = 100 * 24 * time.Hour })
	with("contractor prod write", func(c *Case) {
		c.EmploymentType, c.App, c.Entitlement, c.Level, c.Risk, c.Tags = "contractor", "aws-prod", "aws-prod:poweruser", "write", "high", []string{"production"}
	})
	with("prod write at the weekend", func(c *Case) {
		c.App, c.Entitlement, c.Level, c.Risk, c.Tags, c.Weekday = "aws-prod", "aws-prod:poweruser", "write", "high", []string{"production"}, "Sunday"
	})
	with("critical pii", func(c *Case) {
		c.App, c.Entitlement, c.Level, c.Risk, c.Tags = "prod-postgres", "prod-postgres:superuser", "admin", "critical", []string{"pii"}
	})
	with("no rule: admin at medium risk", func(c *Case) { c.App, c.Entitlement, c.Level, c.Tags = "hr", "hr:admin", "admin", nil })
	with("filler rule", func(c *Case) {
		c.App, c.Entitlement, c.Level, c.Risk, c.Department, c.Tags = "app-500", "app-500:x", "admin", "low", "Dept-500", nil
		c.Groups = append(c.Groups, "group-500")
	})
	want := map[string]string{
		"sam asks snowflake analyst":    "require_approval manager",
		"data engineer self-service":    "allow ",
		"terminated":                    "deny ",
		"too long":                      "deny ",
		"contractor prod write":         "deny ",
		"prod write at the weekend":     "require_approval entitlement_owner,manager,security",
		"critical pii":                  "require_approval entitlement_owner,security",
		"no rule: admin at medium risk": "deny ",
	}
	for _, n := range []int{10, 1000} {
		deciders, err := New(n)
		if err != nil {
			t.Fatal(err)
		}
		for name, c := range cases {
			if name == "filler rule" && n == 10 {
				continue
			}
			var first string
			for _, d := range deciders {
				in, err := d.Prepare(c)
				if err != nil {
					t.Fatal(err)
				}
				got, err := d.Decide(in)
				if err != nil {
					t.Fatalf("%s %s: %v", d.Name(), name, err)
				}
				if w, ok := want[name]; ok && got.String() != w {
					t.Errorf("rules=%d %s: %s decided %q, want %q", n, name, d.Name(), got, w)
				}
				if first == "" {
					first = got.String()
				} else if got.String() != first {
					t.Errorf("rules=%d %s: %s decided %q, iga %q", n, name, d.Name(), got, first)
				}
			}
		}
	}
}

func BenchmarkDecision(b *testing.B) {
	for _, n := range []int{10, 1000} {
		deciders, err := New(n)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range deciders {
			b.Run(fmt.Sprintf("%s/rules=%d", d.Name(), n), func(b *testing.B) {
				in, err := d.Prepare(Sam)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := d.Decide(in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
