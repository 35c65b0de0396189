package provisioner_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agentic-iga/iga/pkg/bus"
	igav1 "github.com/agentic-iga/iga/pkg/gen/iga/v1"
	"github.com/agentic-iga/iga/services/provisioner/provisioner"
)

func (e *env) importCmd(email, ent string, reviewAt time.Time, msgID string) {
	e.t.Helper()
	cmd := &igav1.ImportGrant{PersonEmail: email, EntitlementId: ent, Source: "access.yaml"}
	if !reviewAt.IsZero() {
		cmd.ReviewAt = timestamppb.New(reviewAt)
	}
	opts := []bus.PublishOption{}
	if msgID != "" {
		opts = append(opts, bus.WithID(msgID))
	}
	if _, err := e.bus.Publish(e.ctx, provisioner.SubjectImportCmd, cmd, opts...); err != nil {
		e.t.Fatal(err)
	}
}

func TestImportRecordsExistingAccessOnce(t *testing.T) {
	e := setup(t)
	review := time.Now().Add(60 * 24 * time.Hour).UTC().Truncate(time.Second)
	id := provisioner.ImportGrantID("Dana.Reyes@acme.example ", viewer)
	if id != provisioner.ImportGrantID(dana, viewer) || !strings.HasPrefix(id, "g-import-") || id == provisioner.ImportGrantID(dana, editor) {
		t.Fatalf("ImportGrantID is not one id per person and entitlement: %s", id)
	}
	e.importCmd("Dana.Reyes@acme.example", viewer, review, "import-1")

	g := waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active(id)).GetGrant()
	if g.GetStatus() != igav1.GrantStatus_GRANT_STATUS_ACTIVE || g.GetPersonEmail() != dana || g.GetEntitlementId() != viewer ||
		g.GetAppId() != "grafana" || g.GetRequestId() != "" || g.GetGeneration() != 1 ||
		g.GetConnector() != igav1.ProvisioningMethod_PROVISIONING_METHOD_SCIM || !strings.Contains(g.GetExternalRef(), "access.yaml") {
		t.Fatalf("grant.active = %v", g)
	}
	if !g.GetExpiresAt().AsTime().Equal(review) {
		t.Fatalf("expires_at %s, want the review date %s", g.GetExpiresAt().AsTime(), review)
	}
	// The access is real at the target: the person is in the entitlement's SCIM group.
	if m := e.target.Members(group); !slices.Equal(m, []string{dana}) {
		t.Fatalf("SCIM group %s members = %v", group, m)
	}
	eventually(t, func() bool {
		r, err := e.svc.CheckAccess(e.ctx, &igav1.CheckAccessRequest{PersonEmail: dana, EntitlementId: viewer})
		return err == nil && r.GetHasAccess() && r.GetGrant().GetId() == id
	})

	// The same import again, under another message id and a later review date: nothing
	// changes, and the requester is never notified (there is no request).
	e.importCmd(dana, viewer, review.Add(30*24*time.Hour), "import-2")
	e.drained()
	if led := e.grant(id); led.GetGeneration() != 1 || !led.GetExpiresAt().AsTime().Equal(review) {
		t.Fatalf("a repeated import changed the grant: %v", led)
	}
	list, err := e.svc.ListGrants(e.ctx, &igav1.ListGrantsRequest{PersonEmail: dana, IncludeInactive: true})
	if err != nil || len(list.GetGrants()) != 1 {
		t.Fatalf("ListGrants after two imports = %v, %v", list, err)
	}
	for _, m := range e.snapshot() {
		if strings.HasPrefix(m.Subject, "iga.reply.") {
			t.Fatalf("an import sent a reply on %s", m.Subject)
		}
	}

	// Revoked access (given up, expired) is not brought back by the import repeated.
	e.revokeCmd(id, "relinquished", 1)
	waitFor(e, provisioner.SubjectGrantRevoked, newGrantChanged, active(id))
	e.importCmd(dana, viewer, review, "import-3")
	e.drained()
	if led := e.grant(id); led.GetStatus() != igav1.GrantStatus_GRANT_STATUS_REVOKED {
		t.Fatalf("a repeated import revived revoked access: %v", led)
	}
	if m := e.target.Members(group); len(m) != 0 {
		t.Fatalf("SCIM group %s members after the revoke and a repeated import = %v", group, m)
	}
}

func TestImportDefaultsTheReviewDate(t *testing.T) {
	e := setup(t)
	before := time.Now()
	e.importCmd(marco, editor, time.Time{}, "")
	id := provisioner.ImportGrantID(marco, editor)
	g := waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active(id)).GetGrant()
	if got := g.GetExpiresAt().AsTime(); got.Before(before.Add(provisioner.DefaultImportReview)) ||
		got.After(time.Now().Add(provisioner.DefaultImportReview)) {
		t.Fatalf("expires_at %s, want %s after the import", got, provisioner.DefaultImportReview)
	}
}

func TestImportOfManualAccessRaisesNoTask(t *testing.T) {
	e := setup(t)
	e.importCmd(dana, clerk, time.Now().Add(24*time.Hour), "import-clerk")
	id := provisioner.ImportGrantID(dana, clerk)
	g := waitFor(e, provisioner.SubjectGrantActive, newGrantChanged, active(id)).GetGrant()
	if g.GetConnector() != igav1.ProvisioningMethod_PROVISIONING_METHOD_MANUAL || !strings.Contains(g.GetExternalRef(), "imported from access.yaml") {
		t.Fatalf("grant = %v", g)
	}
	e.drained()
	if n := e.count(provisioner.SubjectTaskCreated); n != 0 {
		t.Fatalf("importing existing manual access raised %d tasks", n)
	}
}

func TestImportRefusesWhatTheDirectoryDoesNotKnow(t *testing.T) {
	e := setup(t)
	cases := []struct {
		email, ent string
		review     time.Time
		want       string
	}{
		{"nobody@acme.example", viewer, time.Time{}, "not in the directory"},
		{dana, "grafana:nope", time.Time{}, "not in the catalog"},
		{"gone@acme.example", viewer, time.Time{}, "is terminated"},
		{"", viewer, time.Time{}, "required"},
		{marco, viewer, time.Now().Add(-time.Hour), "has passed"},
	}
	for _, c := range cases {
		e.importCmd(c.email, c.ent, c.review, "")
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			dl := waitFor(e, "iga.evt.provisioner-import.failed", newDeadLetter, func(d *igav1.DeadLetter) bool {
				var cmd igav1.ImportGrant
				_ = proto.Unmarshal(d.GetData(), &cmd)
				return cmd.GetPersonEmail() == c.email && cmd.GetEntitlementId() == c.ent
			})
			if !strings.Contains(dl.GetReason(), c.want) || dl.GetDeliveries() != 1 {
				t.Errorf("dead letter reason %q (deliveries %d), want it to say %q at once", dl.GetReason(), dl.GetDeliveries(), c.want)
			}
			if _, _, err := e.grants.Get(e.ctx, provisioner.ImportGrantID(c.email, c.ent)); err == nil {
				t.Errorf("a ledger entry was written for a refused import")
			}
		})
	}
	if m := e.target.Members(group); len(m) != 0 {
		t.Fatalf("refused imports put %v in the SCIM group", m)
	}
	if n := e.count(provisioner.SubjectGrantActive); n != 0 {
		t.Fatalf("%d grant.active events for refused imports", n)
	}
}
