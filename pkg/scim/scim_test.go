package scim

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The client's requests as a target sees them, and its reading of error bodies that put
// status as a string (RFC 7644) or a number (some IdPs).
func TestRequestsAndErrorBodies(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		switch r.URL.Path {
		case "/scim/v2/Users":
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":409,"scimType":"uniqueness","detail":"userName taken"}`))
		case "/scim/v2/Groups":
			_, _ = w.Write([]byte(`{"totalResults":2,"Resources":[{"id":"a","displayName":"x"},{"id":"b","displayName":"x"}]}`))
		default:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("upstream exploded"))
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL+"/scim/v2/", "tok")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	_, err = c.CreateUser(ctx, User{UserName: "a@b"})
	var se *Error
	if !errors.As(err, &se) || se.Status != 409 || se.ScimType != "uniqueness" || se.Detail != "userName taken" || !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %#v", err)
	}
	if got.Header.Get("Authorization") != "Bearer tok" || got.Header.Get("Content-Type") != MediaType || got.Method != http.MethodPost {
		t.Fatalf("request headers = %v", got.Header)
	}

	if _, err := c.FindGroup(ctx, `we"ird`); !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("two matches: %v", err)
	}
	if f := got.URL.Query().Get("filter"); f != `displayName eq "we\"ird"` {
		t.Fatalf("filter = %q", f)
	}

	err = c.AddMember(ctx, "g/1", "u")
	if !errors.Is(err, ErrUnavailable) || !errors.As(err, &se) || se.Detail != "upstream exploded" {
		t.Fatalf("502: %v", err)
	}
	if got.URL.EscapedPath() != "/scim/v2/Groups/g%2F1" || got.Method != http.MethodPatch {
		t.Fatalf("patch path = %s %s", got.Method, got.URL.EscapedPath())
	}
}
