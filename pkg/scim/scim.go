// Package scim is a small typed SCIM 2.0 client (RFC 7643/7644) for what access
// provisioning needs: find or create a user by userName, find or create a group by
// displayName, add and remove group members with PATCH, and read a group back to verify
// membership.
//
// There is no widely used Go SCIM client library (the Go SCIM packages are servers), so
// this is a deliberately narrow client on net/http: bearer-token auth, a timeout on every
// call, context cancellation, the application/scim+json media type, and errors that carry
// the target's own SCIM error detail.
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Schema and message URNs used by the client.
const (
	SchemaUser     = "urn:ietf:params:scim:schemas:core:2.0:User"
	SchemaGroup    = "urn:ietf:params:scim:schemas:core:2.0:Group"
	SchemaPatchOp  = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	SchemaError    = "urn:ietf:params:scim:api:messages:2.0:Error"
	SchemaListResp = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

	// MediaType is the SCIM media type (RFC 7644 §3.1).
	MediaType = "application/scim+json"
)

// Sentinel errors a *Error matches with errors.Is, by HTTP status.
var (
	ErrNotFound     = errors.New("scim: not found")              // 404
	ErrConflict     = errors.New("scim: conflict")               // 409 (e.g. duplicate userName)
	ErrUnauthorized = errors.New("scim: unauthorized")           // 401, 403
	ErrBadRequest   = errors.New("scim: request rejected")       // 400
	ErrUnavailable  = errors.New("scim: target unavailable")     // 5xx, 429
	ErrAmbiguous    = errors.New("scim: more than one resource") // a lookup matched several
)

// Error is a failed SCIM call: the operation, the HTTP status and the target's SCIM error.
type Error struct {
	Op       string // "create user", "add member", ...
	Status   int
	ScimType string // "uniqueness", "invalidFilter", ...
	Detail   string // the target's human-readable detail
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("scim %s: HTTP %d", e.Op, e.Status)
	if e.ScimType != "" {
		msg += " (" + e.ScimType + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is maps the status to the package's sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest
	case ErrUnavailable:
		return e.Status >= 500 || e.Status == http.StatusTooManyRequests
	}
	return false
}

// Email is one of a user's email addresses.
type Email struct {
	Value   string `json:"value"`
	Type    string `json:"type,omitempty"`
	Primary bool   `json:"primary,omitempty"`
}

// Name is a user's name.
type Name struct {
	Formatted  string `json:"formatted,omitempty"`
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
}

// User is a SCIM User with the attributes provisioning uses.
type User struct {
	ID          string  `json:"id,omitempty"`
	ExternalID  string  `json:"externalId,omitempty"`
	UserName    string  `json:"userName"`
	DisplayName string  `json:"displayName,omitempty"`
	Name        *Name   `json:"name,omitempty"`
	Emails      []Email `json:"emails,omitempty"`
	Active      *bool   `json:"active,omitempty"`
}

// Member is one member of a group.
type Member struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
	Ref     string `json:"$ref,omitempty"`
	Type    string `json:"type,omitempty"`
}

// Group is a SCIM Group.
type Group struct {
	ID          string   `json:"id,omitempty"`
	ExternalID  string   `json:"externalId,omitempty"`
	DisplayName string   `json:"displayName"`
	Members     []Member `json:"members,omitempty"`
}

// HasMember reports whether the user id is among the group's members.
func (g *Group) HasMember(userID string) bool {
	for _, m := range g.Members {
		if m.Value == userID {
			return true
		}
	}
	return false
}

// Client talks to one SCIM service provider. Safe for concurrent use.
type Client struct {
	base    *url.URL
	token   string
	http    *http.Client
	timeout time.Duration
}

// Option adjusts a Client.
type Option func(*Client)

// WithHTTPClient uses hc for requests (TLS settings, proxies, test transports).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithTimeout bounds each call; the default is 10 seconds.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// New returns a client for the SCIM base URL (the one ending before /Users, e.g.
// "https://idp.example/scim/v2") authenticating with a bearer token.
func New(baseURL, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("scim base URL %q must be an absolute http(s) URL", baseURL)
	}
	c := &Client{base: u, token: token, http: http.DefaultClient, timeout: 10 * time.Second}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// FindUser returns the user whose userName is userName, or ErrNotFound.
func (c *Client) FindUser(ctx context.Context, userName string) (*User, error) {
	var out []User
	if err := c.find(ctx, "find user", "/Users", "userName", userName, &out); err != nil {
		return nil, err
	}
	return one(out, "user", userName)
}

// CreateUser creates a user; a duplicate userName is an error matching ErrConflict.
func (c *Client) CreateUser(ctx context.Context, u User) (*User, error) {
	body := struct {
		Schemas []string `json:"schemas"`
		User
	}{[]string{SchemaUser}, u}
	var out User
	if err := c.do(ctx, "create user", http.MethodPost, "/Users", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetUser reads a user by id.
func (c *Client) GetUser(ctx context.Context, id string) (*User, error) {
	var out User
	if err := c.do(ctx, "get user", http.MethodGet, "/Users/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FindGroup returns the group whose displayName is displayName, or ErrNotFound.
func (c *Client) FindGroup(ctx context.Context, displayName string) (*Group, error) {
	var out []Group
	if err := c.find(ctx, "find group", "/Groups", "displayName", displayName, &out); err != nil {
		return nil, err
	}
	return one(out, "group", displayName)
}

// CreateGroup creates an empty group.
func (c *Client) CreateGroup(ctx context.Context, displayName string) (*Group, error) {
	body := struct {
		Schemas     []string `json:"schemas"`
		DisplayName string   `json:"displayName"`
	}{[]string{SchemaGroup}, displayName}
	var out Group
	if err := c.do(ctx, "create group", http.MethodPost, "/Groups", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetGroup reads a group, members included.
func (c *Client) GetGroup(ctx context.Context, id string) (*Group, error) {
	var out Group
	if err := c.do(ctx, "get group", http.MethodGet, "/Groups/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

type patchRequest struct {
	Schemas    []string  `json:"schemas"`
	Operations []patchOp `json:"Operations"`
}

// AddMember adds the user to the group. Adding a present member is not an error.
func (c *Client) AddMember(ctx context.Context, groupID, userID string) error {
	req := patchRequest{Schemas: []string{SchemaPatchOp}, Operations: []patchOp{{
		Op: "add", Path: "members", Value: []Member{{Value: userID}},
	}}}
	return c.do(ctx, "add member", http.MethodPatch, "/Groups/"+url.PathEscape(groupID), nil, req, nil)
}

// RemoveMember removes the user from the group. Removing an absent member is not an error.
func (c *Client) RemoveMember(ctx context.Context, groupID, userID string) error {
	req := patchRequest{Schemas: []string{SchemaPatchOp}, Operations: []patchOp{{
		Op: "remove", Path: fmt.Sprintf("members[value eq %s]", quote(userID)),
	}}}
	return c.do(ctx, "remove member", http.MethodPatch, "/Groups/"+url.PathEscape(groupID), nil, req, nil)
}

// IsMember reads the group back and reports whether the user is a member.
func (c *Client) IsMember(ctx context.Context, groupID, userID string) (bool, error) {
	g, err := c.GetGroup(ctx, groupID)
	if err != nil {
		return false, err
	}
	return g.HasMember(userID), nil
}

func one[T any](list []T, kind, key string) (*T, error) {
	switch len(list) {
	case 0:
		return nil, fmt.Errorf("scim %s %q: %w", kind, key, ErrNotFound)
	case 1:
		return &list[0], nil
	}
	return nil, fmt.Errorf("scim %s %q matches %d resources: %w", kind, key, len(list), ErrAmbiguous)
}

// quote writes a SCIM filter string literal (JSON string syntax, RFC 7644 §3.4.2.2).
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (c *Client) find(ctx context.Context, op, path, attr, value string, out any) error {
	q := url.Values{"filter": {attr + " eq " + quote(value)}}
	var list struct {
		TotalResults int             `json:"totalResults"`
		Resources    json.RawMessage `json:"Resources"`
	}
	if err := c.do(ctx, op, http.MethodGet, path, q, nil, &list); err != nil {
		return err
	}
	if len(list.Resources) == 0 || string(list.Resources) == "null" {
		return nil
	}
	if err := json.Unmarshal(list.Resources, out); err != nil {
		return fmt.Errorf("scim %s: decode list response: %w", op, err)
	}
	return nil
}

// maxBody bounds how much of a response is read.
const maxBody = 4 << 20

func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// path is already escaped; the base URL carries no query.
	target := c.base.String() + path
	if query != nil {
		target += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("scim %s: encode: %w", op, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return fmt.Errorf("scim %s: %w", op, err)
	}
	req.Header.Set("Accept", MediaType)
	if in != nil {
		req.Header.Set("Content-Type", MediaType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("scim %s: %w: %w", op, ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("scim %s: read response: %w: %w", op, ErrUnavailable, err)
	}
	if resp.StatusCode >= 300 {
		return errorFrom(op, resp.StatusCode, data)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("scim %s: decode response: %w", op, err)
	}
	return nil
}

// errorFrom reads a SCIM error response (RFC 7644 §3.12); status may be a string or a number.
func errorFrom(op string, status int, data []byte) *Error {
	e := &Error{Op: op, Status: status}
	var body struct {
		ScimType string `json:"scimType"`
		Detail   string `json:"detail"`
	}
	if json.Unmarshal(data, &body) == nil {
		e.ScimType, e.Detail = body.ScimType, body.Detail
	}
	if e.Detail == "" && e.ScimType == "" {
		text := strings.TrimSpace(string(data))
		if len(text) > 200 {
			text = text[:200] + "…"
		}
		e.Detail = text
	}
	return e
}
