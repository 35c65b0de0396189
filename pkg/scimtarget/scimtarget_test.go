package scimtarget_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/scim"
	"github.com/agentic-iga/iga/pkg/scimtarget"
)

const token = "s3cret"

func setup(t *testing.T) (*scimtarget.Target, *scim.Client, *httptest.Server) {
	t.Helper()
	target := scimtarget.New(token)
	mux := http.NewServeMux()
	mux.Handle("/scim/v2/", http.StripPrefix("/scim/v2", target.Handler()))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := scim.New(srv.URL+"/scim/v2", token, scim.WithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return target, c, srv
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestUserLifecycle(t *testing.T) {
	target, c, _ := setup(t)
	ctx := ctx(t)

	if _, err := c.FindUser(ctx, "dana.reyes@acme.example"); !errors.Is(err, scim.ErrNotFound) {
		t.Fatalf("find before create: %v, want ErrNotFound", err)
	}
	created, err := c.CreateUser(ctx, scim.User{UserName: "dana.reyes@acme.example", DisplayName: "Dana Reyes",
		Emails: []scim.Email{{Value: "dana.reyes@acme.example", Primary: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == "" || created.UserName != "dana.reyes@acme.example" || created.DisplayName != "Dana Reyes" {
		t.Fatalf("created %+v", created)
	}
	found, err := c.FindUser(ctx, "Dana.Reyes@acme.example") // userName is case-insensitive
	if err != nil || found.ID != created.ID {
		t.Fatalf("find = %+v, %v", found, err)
	}
	got, err := c.GetUser(ctx, created.ID)
	if err != nil || got.UserName != created.UserName || got.Active == nil || !*got.Active {
		t.Fatalf("get = %+v, %v", got, err)
	}
	if names := target.UserNames(); !slices.Equal(names, []string{"dana.reyes@acme.example"}) {
		t.Fatalf("user names = %v", names)
	}

	_, err = c.CreateUser(ctx, scim.User{UserName: "dana.reyes@acme.example"})
	var se *scim.Error
	if !errors.Is(err, scim.ErrConflict) || !errors.As(err, &se) || se.ScimType != "uniqueness" || !strings.Contains(se.Detail, "already exists") {
		t.Fatalf("duplicate create: %v, want 409 uniqueness with detail", err)
	}
}

func TestGroupMembership(t *testing.T) {
	target, c, _ := setup(t)
	ctx := ctx(t)
	dana, err := c.CreateUser(ctx, scim.User{UserName: "dana.reyes@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	sam, err := c.CreateUser(ctx, scim.User{UserName: "sam.patel@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FindGroup(ctx, "grafana-payments-viewer"); !errors.Is(err, scim.ErrNotFound) {
		t.Fatalf("find missing group: %v", err)
	}
	g, err := c.CreateGroup(ctx, "grafana-payments-viewer")
	if err != nil || g.ID == "" || g.DisplayName != "grafana-payments-viewer" || len(g.Members) != 0 {
		t.Fatalf("create group = %+v, %v", g, err)
	}
	if _, err := c.CreateGroup(ctx, "grafana-payments-viewer"); !errors.Is(err, scim.ErrConflict) {
		t.Fatalf("duplicate group: %v, want ErrConflict", err)
	}
	found, err := c.FindGroup(ctx, "grafana-payments-viewer")
	if err != nil || found.ID != g.ID {
		t.Fatalf("find group = %+v, %v", found, err)
	}

	for range 2 { // adding twice is idempotent
		if err := c.AddMember(ctx, g.ID, dana.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddMember(ctx, g.ID, sam.ID); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.IsMember(ctx, g.ID, dana.ID); err != nil || !ok {
		t.Fatalf("dana member = %v, %v", ok, err)
	}
	read, err := c.GetGroup(ctx, g.ID)
	if err != nil || len(read.Members) != 2 || read.Members[0].Display != "dana.reyes@acme.example" {
		t.Fatalf("group read back = %+v, %v", read, err)
	}
	if m := target.Members("grafana-payments-viewer"); !slices.Equal(m, []string{"dana.reyes@acme.example", "sam.patel@acme.example"}) {
		t.Fatalf("Members = %v", m)
	}

	if err := c.RemoveMember(ctx, g.ID, dana.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveMember(ctx, g.ID, dana.ID); err != nil { // absent: still fine
		t.Fatalf("second remove: %v", err)
	}
	if ok, err := c.IsMember(ctx, g.ID, dana.ID); err != nil || ok {
		t.Fatalf("dana still member = %v, %v", ok, err)
	}
	want := []scimtarget.Membership{{Group: "grafana-payments-viewer", Members: []string{"sam.patel@acme.example"}}}
	if got := target.Memberships(); len(got) != 1 || got[0].Group != want[0].Group || !slices.Equal(got[0].Members, want[0].Members) {
		t.Fatalf("Memberships = %+v", got)
	}
	if target.Members("no-such-group") != nil {
		t.Fatal("members of a missing group should be nil")
	}
}

func TestErrors(t *testing.T) {
	_, c, srv := setup(t)
	ctx := ctx(t)

	bad, err := scim.New(srv.URL+"/scim/v2", "wrong")
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.FindUser(ctx, "x@acme.example")
	var se *scim.Error
	if !errors.Is(err, scim.ErrUnauthorized) || !errors.As(err, &se) || se.Status != 401 || !strings.Contains(se.Detail, "bearer token") {
		t.Fatalf("bad token: %v, want 401 with detail", err)
	}

	if _, err := c.GetGroup(ctx, "g-missing"); !errors.Is(err, scim.ErrNotFound) || !strings.Contains(err.Error(), "g-missing") {
		t.Fatalf("missing group: %v", err)
	}
	if err := c.AddMember(ctx, "g-missing", "u-1"); !errors.Is(err, scim.ErrNotFound) {
		t.Fatalf("add to missing group: %v", err)
	}
	g, err := c.CreateGroup(ctx, "team")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.AddMember(ctx, g.ID, "u-nobody"); !errors.Is(err, scim.ErrBadRequest) || !strings.Contains(err.Error(), "not a user") {
		t.Fatalf("add unknown user: %v", err)
	}

	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	dc, _ := scim.New(down.URL, token, scim.WithTimeout(2*time.Second))
	if _, err := dc.FindUser(ctx, "x"); !errors.Is(err, scim.ErrUnavailable) {
		t.Fatalf("target down: %v, want ErrUnavailable", err)
	}

	if _, err := scim.New("not a url", token); err == nil {
		t.Fatal("a relative base URL should be rejected")
	}
}

// A raw request shows the wire format: media type, PatchOp schema, SCIM error body.
func TestWireFormat(t *testing.T) {
	target := scimtarget.New(token)
	srv := httptest.NewServer(target.Handler()) // served at the root, reached at /scim/v2
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPatch, srv.URL+"/scim/v2/Groups/g-x", strings.NewReader(`{"Operations":[]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/scim+json" ||
		!strings.Contains(string(body), "urn:ietf:params:scim:api:messages:2.0:Error") {
		t.Fatalf("status %d, type %q, body %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
