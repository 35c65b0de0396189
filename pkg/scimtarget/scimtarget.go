// Package scimtarget is a real, in-memory SCIM 2.0 service provider (RFC 7643/7644) — a
// demo target so grants visibly land somewhere, and the counterpart the SCIM client and
// connector are tested against.
//
// It is built on github.com/elimity-com/scim, which parses and validates requests
// (schemas, filters, PATCH paths such as members[value eq "…"]) and renders responses and
// SCIM errors; this package supplies the Users and Groups resource handlers, bearer-token
// authentication and read-only views for the console. It serves /Users, /Groups,
// /Schemas, /ResourceTypes and /ServiceProviderConfig at the root of its handler and under
// /v2 and /scim/v2 (so a client configured with ".../scim/v2" works against it served
// at the root); mount it under another prefix with http.StripPrefix.
package scimtarget

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/elimity-com/scim"
	scimerrors "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/filter"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"
)

// Target is an in-memory SCIM service provider. Safe for concurrent use.
type Target struct {
	token   string
	handler http.Handler

	mu      sync.RWMutex
	seq     int
	users   map[string]*resource // by id
	groups  map[string]*resource // by id
	members map[string][]string  // group id -> member user ids, in order of addition
}

// resource is a stored User or Group: its validated attributes (without members for a
// group, which are kept in Target.members) and metadata.
type resource struct {
	id       string
	attrs    scim.ResourceAttributes
	created  time.Time
	modified time.Time
	version  int
}

// New returns an empty target that accepts requests bearing "Authorization: Bearer
// <token>". An empty token disables authentication (for a laptop demo only).
func New(token string) *Target {
	t := &Target{
		token:   token,
		users:   map[string]*resource{},
		groups:  map[string]*resource{},
		members: map[string][]string{},
	}
	srv, err := scim.NewServer(&scim.ServerArgs{
		ServiceProviderConfig: &scim.ServiceProviderConfig{
			DocumentationURI: optional.NewString("https://github.com/agentic-iga/iga"),
			AuthenticationSchemes: []scim.AuthenticationScheme{{
				Type: scim.AuthenticationTypeOauthBearerToken, Name: "Bearer token",
				Description: "A static bearer token given to iga's provisioner", Primary: true,
			}},
			MaxResults:       200,
			SupportFiltering: true,
			SupportPatch:     true,
		},
		ResourceTypes: []scim.ResourceType{
			{
				ID: optional.NewString("User"), Name: "User", Endpoint: "/Users",
				Description: optional.NewString("User Account"),
				Schema:      schema.CoreUserSchema(),
				Handler:     users{t},
			},
			{
				ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups",
				Description: optional.NewString("Group"),
				Schema:      schema.CoreGroupSchema(),
				Handler:     groups{t},
			},
		},
	})
	if err != nil {
		// The arguments above are constant; NewServer only fails on missing ones.
		panic(fmt.Sprintf("scimtarget: %v", err))
	}
	t.handler = t.authenticate(srv)
	return t
}

// Handler serves the SCIM API.
func (t *Target) Handler() http.Handler { return t.handler }

func (t *Target) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t.token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), []byte(t.token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="scim"`)
				writeError(w, scimerrors.ScimError{Status: http.StatusUnauthorized,
					Detail: "Missing or invalid bearer token."})
				return
			}
		}
		if rest, ok := strings.CutPrefix(r.URL.Path, "/scim"); ok && (rest == "" || strings.HasPrefix(rest, "/")) {
			r2 := r.Clone(r.Context())
			r2.URL.Path = rest
			r2.URL.RawPath = ""
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, e scimerrors.ScimError) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(e)
}

// Members returns the userNames of the members of the group with this displayName,
// sorted; nil when there is no such group.
func (t *Target) Members(groupDisplayName string) []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for id, g := range t.groups {
		if strings.EqualFold(str(g.attrs["displayName"]), groupDisplayName) {
			return t.userNamesLocked(id)
		}
	}
	return nil
}

// Membership is one group and the userNames of its members.
type Membership struct {
	Group   string   `json:"group"`
	Members []string `json:"members"`
}

// Memberships returns every group with its members, sorted by group name: the view the
// console and README show.
func (t *Target) Memberships() []Membership {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Membership, 0, len(t.groups))
	for id, g := range t.groups {
		out = append(out, Membership{Group: str(g.attrs["displayName"]), Members: t.userNamesLocked(id)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// UserNames returns the userNames of every user, sorted.
func (t *Target) UserNames() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]string, 0, len(t.users))
	for _, u := range t.users {
		out = append(out, str(u.attrs["userName"]))
	}
	sort.Strings(out)
	return out
}

func (t *Target) userNamesLocked(groupID string) []string {
	out := []string{}
	for _, uid := range t.members[groupID] {
		if u, ok := t.users[uid]; ok {
			out = append(out, str(u.attrs["userName"]))
		}
	}
	sort.Strings(out)
	return out
}

func (t *Target) newID(prefix string) string {
	t.seq++
	return fmt.Sprintf("%s-%06d", prefix, t.seq)
}

func str(v any) string { s, _ := v.(string); return s }

func (r *resource) scim() scim.Resource {
	c, m := r.created, r.modified
	attrs := make(scim.ResourceAttributes, len(r.attrs))
	for k, v := range r.attrs {
		attrs[k] = v
	}
	return scim.Resource{ID: r.id, Attributes: attrs,
		Meta: scim.Meta{Created: &c, LastModified: &m, Version: fmt.Sprintf(`W/"%d"`, r.version)}}
}

func (r *resource) touch() {
	r.modified = time.Now().UTC()
	r.version++
}

// page applies the filter and pagination of a list request.
func page(all []scim.Resource, params scim.ListRequestParams) (scim.Page, error) {
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	matched := []scim.Resource{}
	for _, r := range all {
		if params.FilterValidator != nil {
			withID := make(map[string]any, len(r.Attributes)+1)
			for k, v := range r.Attributes {
				withID[k] = v
			}
			withID["id"] = r.ID
			if params.FilterValidator.PassesFilter(withID) != nil {
				continue
			}
		}
		matched = append(matched, r)
	}
	start := max(params.StartIndex, 1) - 1
	if start > len(matched) {
		start = len(matched)
	}
	end := min(start+params.Count, len(matched))
	return scim.Page{TotalResults: len(matched), Resources: matched[start:end]}, nil
}

func notFound(kind, id string) error {
	return scimerrors.ScimError{Status: http.StatusNotFound, Detail: fmt.Sprintf("%s %s not found.", kind, id)}
}

func conflict(detail string) error {
	return scimerrors.ScimError{Status: http.StatusConflict, ScimType: scimerrors.ScimTypeUniqueness, Detail: detail}
}

func invalidValue(detail string) error {
	return scimerrors.ScimError{Status: http.StatusBadRequest, ScimType: scimerrors.ScimTypeInvalidValue, Detail: detail}
}

// users handles /Users.
type users struct{ t *Target }

func (h users) userNameTakenLocked(name, exceptID string) bool {
	for id, u := range h.t.users {
		if id != exceptID && strings.EqualFold(str(u.attrs["userName"]), name) {
			return true
		}
	}
	return false
}

func (h users) Create(_ *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	name := strings.TrimSpace(str(attrs["userName"]))
	if name == "" {
		return scim.Resource{}, invalidValue("userName is required.")
	}
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	if h.userNameTakenLocked(name, "") {
		return scim.Resource{}, conflict(fmt.Sprintf("User %s already exists.", name))
	}
	now := time.Now().UTC()
	if _, ok := attrs["active"]; !ok {
		attrs["active"] = true
	}
	u := &resource{id: h.t.newID("u"), attrs: attrs, created: now, modified: now, version: 1}
	h.t.users[u.id] = u
	return u.scim(), nil
}

func (h users) Get(_ *http.Request, id string) (scim.Resource, error) {
	h.t.mu.RLock()
	defer h.t.mu.RUnlock()
	u, ok := h.t.users[id]
	if !ok {
		return scim.Resource{}, notFound("User", id)
	}
	return u.scim(), nil
}

func (h users) GetAll(_ *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	h.t.mu.RLock()
	all := make([]scim.Resource, 0, len(h.t.users))
	for _, u := range h.t.users {
		all = append(all, u.scim())
	}
	h.t.mu.RUnlock()
	return page(all, params)
}

func (h users) Replace(_ *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	u, ok := h.t.users[id]
	if !ok {
		return scim.Resource{}, notFound("User", id)
	}
	name := strings.TrimSpace(str(attrs["userName"]))
	if name == "" {
		return scim.Resource{}, invalidValue("userName is required.")
	}
	if h.userNameTakenLocked(name, id) {
		return scim.Resource{}, conflict(fmt.Sprintf("User %s already exists.", name))
	}
	u.attrs = attrs
	u.touch()
	return u.scim(), nil
}

func (h users) Delete(_ *http.Request, id string) error {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	if _, ok := h.t.users[id]; !ok {
		return notFound("User", id)
	}
	delete(h.t.users, id)
	for gid, ms := range h.t.members {
		h.t.members[gid] = without(ms, id)
	}
	return nil
}

// Patch supports add/replace of top-level attributes (with a path or as a map without
// one) and remove of a top-level attribute — what IdPs send to deactivate or rename.
func (h users) Patch(_ *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	u, ok := h.t.users[id]
	if !ok {
		return scim.Resource{}, notFound("User", id)
	}
	next := make(scim.ResourceAttributes, len(u.attrs))
	for k, v := range u.attrs {
		next[k] = v
	}
	for _, op := range ops {
		if op.Path != nil && (op.Path.ValueExpression != nil || op.Path.SubAttributeName() != "") {
			return scim.Resource{}, invalidValue(fmt.Sprintf("This target patches whole user attributes only, not %s.", op.Path))
		}
		switch op.Op {
		case scim.PatchOperationAdd, scim.PatchOperationReplace:
			if op.Path == nil {
				m, ok := op.Value.(map[string]any)
				if !ok {
					return scim.Resource{}, invalidValue("A patch without a path needs an object value.")
				}
				for k, v := range m {
					next[k] = v
				}
				continue
			}
			next[op.Path.AttributePath.AttributeName] = op.Value
		case scim.PatchOperationRemove:
			delete(next, op.Path.AttributePath.AttributeName)
		}
	}
	name := strings.TrimSpace(str(next["userName"]))
	if name == "" {
		return scim.Resource{}, invalidValue("userName is required.")
	}
	if h.userNameTakenLocked(name, id) {
		return scim.Resource{}, conflict(fmt.Sprintf("User %s already exists.", name))
	}
	u.attrs = next
	u.touch()
	return u.scim(), nil
}

// groups handles /Groups. displayName is unique here (as at Okta and Entra ID), so a
// group is found unambiguously by name.
type groups struct{ t *Target }

func (h groups) nameTakenLocked(name, exceptID string) bool {
	for id, g := range h.t.groups {
		if id != exceptID && strings.EqualFold(str(g.attrs["displayName"]), name) {
			return true
		}
	}
	return false
}

// view renders a group with its members.
func (h groups) viewLocked(g *resource) scim.Resource {
	r := g.scim()
	ms := make([]any, 0, len(h.t.members[g.id]))
	for _, uid := range h.t.members[g.id] {
		m := map[string]any{"value": uid, "type": "User", "$ref": "Users/" + uid}
		if u, ok := h.t.users[uid]; ok {
			m["display"] = str(u.attrs["userName"])
		}
		ms = append(ms, m)
	}
	r.Attributes["members"] = ms
	return r
}

// memberIDs reads the value of each member in a members value, checking the users exist.
func (h groups) memberIDsLocked(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	var ids []string
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, invalidValue("Each member must be an object with a value.")
		}
		id := strings.TrimSpace(str(m["value"]))
		if id == "" {
			return nil, invalidValue("Each member needs a value (the user id).")
		}
		if _, ok := h.t.users[id]; !ok {
			return nil, invalidValue(fmt.Sprintf("Member %s is not a user of this target.", id))
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (h groups) Create(_ *http.Request, attrs scim.ResourceAttributes) (scim.Resource, error) {
	name := strings.TrimSpace(str(attrs["displayName"]))
	if name == "" {
		return scim.Resource{}, invalidValue("displayName is required.")
	}
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	if h.nameTakenLocked(name, "") {
		return scim.Resource{}, conflict(fmt.Sprintf("Group %s already exists.", name))
	}
	var ids []string
	if v, ok := attrs["members"]; ok {
		var err error
		if ids, err = h.memberIDsLocked(v); err != nil {
			return scim.Resource{}, err
		}
		delete(attrs, "members")
	}
	now := time.Now().UTC()
	g := &resource{id: h.t.newID("g"), attrs: attrs, created: now, modified: now, version: 1}
	h.t.groups[g.id] = g
	h.t.members[g.id] = union(nil, ids)
	return h.viewLocked(g), nil
}

func (h groups) Get(_ *http.Request, id string) (scim.Resource, error) {
	h.t.mu.RLock()
	defer h.t.mu.RUnlock()
	g, ok := h.t.groups[id]
	if !ok {
		return scim.Resource{}, notFound("Group", id)
	}
	return h.viewLocked(g), nil
}

func (h groups) GetAll(_ *http.Request, params scim.ListRequestParams) (scim.Page, error) {
	h.t.mu.RLock()
	all := make([]scim.Resource, 0, len(h.t.groups))
	for _, g := range h.t.groups {
		all = append(all, h.viewLocked(g))
	}
	h.t.mu.RUnlock()
	return page(all, params)
}

func (h groups) Replace(_ *http.Request, id string, attrs scim.ResourceAttributes) (scim.Resource, error) {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	g, ok := h.t.groups[id]
	if !ok {
		return scim.Resource{}, notFound("Group", id)
	}
	name := strings.TrimSpace(str(attrs["displayName"]))
	if name == "" {
		return scim.Resource{}, invalidValue("displayName is required.")
	}
	if h.nameTakenLocked(name, id) {
		return scim.Resource{}, conflict(fmt.Sprintf("Group %s already exists.", name))
	}
	var ids []string
	if v, ok := attrs["members"]; ok {
		var err error
		if ids, err = h.memberIDsLocked(v); err != nil {
			return scim.Resource{}, err
		}
		delete(attrs, "members")
	}
	g.attrs = attrs
	h.t.members[id] = union(nil, ids)
	g.touch()
	return h.viewLocked(g), nil
}

func (h groups) Delete(_ *http.Request, id string) error {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	if _, ok := h.t.groups[id]; !ok {
		return notFound("Group", id)
	}
	delete(h.t.groups, id)
	delete(h.t.members, id)
	return nil
}

// Patch supports what IdPs send to groups: add members; remove members by filter
// (members[value eq "id"]), by value list, or all; replace members or displayName.
func (h groups) Patch(_ *http.Request, id string, ops []scim.PatchOperation) (scim.Resource, error) {
	h.t.mu.Lock()
	defer h.t.mu.Unlock()
	g, ok := h.t.groups[id]
	if !ok {
		return scim.Resource{}, notFound("Group", id)
	}
	// Apply to copies so a failing operation leaves the group untouched.
	name := str(g.attrs["displayName"])
	members := append([]string(nil), h.t.members[id]...)
	for _, op := range ops {
		attr := ""
		if op.Path != nil {
			attr = strings.ToLower(op.Path.AttributePath.AttributeName)
			if op.Path.SubAttributeName() != "" {
				return scim.Resource{}, invalidValue(fmt.Sprintf("Patching %s is not supported by this target.", op.Path))
			}
		}
		switch {
		case op.Path == nil && op.Op != scim.PatchOperationRemove:
			m, ok := op.Value.(map[string]any)
			if !ok {
				return scim.Resource{}, invalidValue("A patch without a path needs an object value.")
			}
			for k, v := range m {
				switch strings.ToLower(k) {
				case "displayname":
					name = str(v)
				case "members":
					ids, err := h.memberIDsLocked(v)
					if err != nil {
						return scim.Resource{}, err
					}
					if op.Op == scim.PatchOperationReplace {
						members = union(nil, ids)
					} else {
						members = union(members, ids)
					}
				}
			}
		case attr == "displayname" && op.Op != scim.PatchOperationRemove:
			name = str(op.Value)
		case attr == "members" && op.Op == scim.PatchOperationAdd && op.Path.ValueExpression == nil:
			ids, err := h.memberIDsLocked(op.Value)
			if err != nil {
				return scim.Resource{}, err
			}
			members = union(members, ids)
		case attr == "members" && op.Op == scim.PatchOperationReplace && op.Path.ValueExpression == nil:
			ids, err := h.memberIDsLocked(op.Value)
			if err != nil {
				return scim.Resource{}, err
			}
			members = union(nil, ids)
		case attr == "members" && op.Op == scim.PatchOperationRemove:
			var err error
			if members, err = removeMembers(members, op); err != nil {
				return scim.Resource{}, err
			}
		default:
			return scim.Resource{}, invalidValue(fmt.Sprintf("Operation %s on %v is not supported by this target.", op.Op, op.Path))
		}
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return scim.Resource{}, invalidValue("displayName is required.")
	}
	if h.nameTakenLocked(name, id) {
		return scim.Resource{}, conflict(fmt.Sprintf("Group %s already exists.", name))
	}
	g.attrs["displayName"] = name
	h.t.members[id] = members
	g.touch()
	return h.viewLocked(g), nil
}

// membersFilterSchema is what a members[...] value filter is evaluated against.
var membersFilterSchema = func() schema.Schema {
	for _, a := range schema.CoreGroupSchema().Attributes {
		if a.Name() == "members" {
			return schema.Schema{Attributes: filter.MultiValuedFilterAttributes(a)}
		}
	}
	panic("scimtarget: core group schema has no members attribute")
}()

// removeMembers applies one remove operation on members: a value filter
// (members[value eq "id"]), a value list (Entra ID style), or nothing (remove all).
func removeMembers(members []string, op scim.PatchOperation) ([]string, error) {
	if op.Path.ValueExpression != nil {
		v := filter.NewFilterValidator(op.Path.ValueExpression, membersFilterSchema)
		var keep []string
		for _, id := range members {
			if v.PassesFilter(map[string]any{"value": id, "type": "User"}) != nil {
				keep = append(keep, id)
			}
		}
		return keep, nil
	}
	if op.Value == nil {
		return nil, nil
	}
	list, ok := op.Value.([]any)
	if !ok {
		list = []any{op.Value}
	}
	drop := map[string]bool{}
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, invalidValue("Each member to remove must be an object with a value.")
		}
		drop[str(m["value"])] = true
	}
	var keep []string
	for _, id := range members {
		if !drop[id] {
			keep = append(keep, id)
		}
	}
	return keep, nil
}

func union(a, b []string) []string {
	seen := make(map[string]bool, len(a)+len(b))
	out := make([]string, 0, len(a)+len(b))
	for _, s := range append(append([]string(nil), a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func without(list []string, id string) []string {
	out := list[:0:0]
	for _, s := range list {
		if s != id {
			out = append(out, s)
		}
	}
	return out
}
