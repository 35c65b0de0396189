package connector_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/agentic-iga/iga/pkg/scim"
	"github.com/agentic-iga/iga/pkg/scimtarget"
	"github.com/agentic-iga/iga/services/provisioner/connector"
)

var (
	dana   = connector.Person{Email: "dana.reyes@acme.example", Name: "Dana Reyes"}
	viewer = connector.Entitlement{ID: "grafana:payments-viewer", AppID: "grafana", AppName: "Grafana",
		Name: "payments-viewer", SCIMGroup: "grafana-payments-viewer", OwnerEmail: "olivia.chen@acme.example"}
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func scimConnector(t *testing.T, token string) (*connector.SCIM, *scimtarget.Target) {
	t.Helper()
	target := scimtarget.New("tok")
	srv := httptest.NewServer(target.Handler())
	t.Cleanup(srv.Close)
	c, err := scim.New(srv.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	return connector.NewSCIM(c), target
}

func TestSCIMGrantVerifyRevoke(t *testing.T) {
	conn, target := scimConnector(t, "tok")
	ctx := ctx(t)

	if present, err := conn.Verify(ctx, dana, viewer); err != nil || present {
		t.Fatalf("before grant: present=%v err=%v", present, err)
	}
	if err := conn.Revoke(ctx, dana, viewer); err != nil { // nothing there: fine
		t.Fatalf("revoke before grant: %v", err)
	}
	ref, err := conn.Grant(ctx, dana, viewer)
	if err != nil || ref == "" {
		t.Fatalf("grant: ref=%q err=%v", ref, err)
	}
	again, err := conn.Grant(ctx, dana, viewer) // idempotent: same user, no second member
	if err != nil || again != ref {
		t.Fatalf("second grant: ref=%q err=%v", again, err)
	}
	if got := target.Members("grafana-payments-viewer"); !slices.Equal(got, []string{dana.Email}) {
		t.Fatalf("members = %v", got)
	}
	if present, err := conn.Verify(ctx, dana, viewer); err != nil || !present {
		t.Fatalf("after grant: present=%v err=%v", present, err)
	}
	if names, err := conn.Members(ctx, "grafana-payments-viewer"); err != nil || !slices.Equal(names, []string{dana.Email}) {
		t.Fatalf("Members = %v, %v", names, err)
	}
	if err := conn.Revoke(ctx, dana, viewer); err != nil {
		t.Fatal(err)
	}
	if present, err := conn.Verify(ctx, dana, viewer); err != nil || present {
		t.Fatalf("after revoke: present=%v err=%v", present, err)
	}
	if got := target.Members("grafana-payments-viewer"); len(got) != 0 {
		t.Fatalf("members after revoke = %v", got)
	}
}

func TestSCIMErrors(t *testing.T) {
	conn, _ := scimConnector(t, "wrong-token")
	_, err := conn.Grant(ctx(t), dana, viewer)
	if !errors.Is(err, scim.ErrUnauthorized) || connector.IsPermanent(err) {
		t.Fatalf("bad token: %v (want retryable unauthorized: an operator can fix the token)", err)
	}
	noGroup := viewer
	noGroup.SCIMGroup = ""
	if _, err := conn.Grant(ctx(t), dana, noGroup); !connector.IsPermanent(err) {
		t.Fatalf("no group: %v, want permanent", err)
	}
}

type raiser struct {
	mu    sync.Mutex
	tasks []connector.Task
}

func (r *raiser) RaiseTask(_ context.Context, t connector.Task) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tasks = append(r.tasks, t)
	return nil
}

func TestManualRaisesTasksForTheOwner(t *testing.T) {
	r := &raiser{}
	m := connector.NewManual(r)
	ref, err := m.Grant(ctx(t), dana, viewer)
	if !errors.Is(err, connector.ErrPending) || ref == "" {
		t.Fatalf("grant: %q %v", ref, err)
	}
	ref2, _ := m.Grant(ctx(t), dana, viewer)
	if ref2 != ref {
		t.Fatalf("task ids differ on retry: %s %s", ref, ref2)
	}
	if err := m.Revoke(ctx(t), dana, viewer); !errors.Is(err, connector.ErrPending) {
		t.Fatalf("revoke: %v", err)
	}
	if _, err := m.Verify(ctx(t), dana, viewer); !errors.Is(err, connector.ErrNotVerifiable) {
		t.Fatalf("verify: %v", err)
	}
	if len(r.tasks) != 3 || r.tasks[0].AssigneeEmail != viewer.OwnerEmail || r.tasks[0].Action != "grant" ||
		r.tasks[2].Action != "revoke" || r.tasks[2].ID == ref {
		t.Fatalf("tasks = %+v", r.tasks)
	}
	noOwner := viewer
	noOwner.OwnerEmail = ""
	if _, err := m.Grant(ctx(t), dana, noOwner); !connector.IsPermanent(err) {
		t.Fatalf("no owner: %v, want permanent", err)
	}
}

func TestWebhookSignsAndClassifies(t *testing.T) {
	secret := []byte("hook-secret")
	var got []connector.WebhookEvent
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !connector.VerifySignature(secret, body, r.Header.Get(connector.HeaderSignature)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var ev connector.WebhookEvent
		_ = json.Unmarshal(body, &ev)
		if ev.DeliveryID != r.Header.Get(connector.HeaderDelivery) {
			http.Error(w, "delivery mismatch", http.StatusBadRequest)
			return
		}
		got = append(got, ev)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"ref":"CHG-42"}`))
	}))
	defer srv.Close()

	wh := connector.NewWebhook(srv.URL, string(secret), 5*time.Second)
	ref, err := wh.Grant(ctx(t), dana, viewer)
	if err != nil || ref != "CHG-42" {
		t.Fatalf("grant: %q %v", ref, err)
	}
	if err := wh.Revoke(ctx(t), dana, viewer); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Action != "grant" || got[1].Action != "revoke" || got[0].Person.Email != dana.Email || got[0].Entitlement.ID != viewer.ID {
		t.Fatalf("received %+v", got)
	}

	status = http.StatusServiceUnavailable
	if _, err := wh.Grant(ctx(t), dana, viewer); err == nil || connector.IsPermanent(err) {
		t.Fatalf("503: %v, want retryable", err)
	}
	bad := connector.NewWebhook(srv.URL, "other-secret", 5*time.Second)
	if _, err := bad.Grant(ctx(t), dana, viewer); !connector.IsPermanent(err) {
		t.Fatalf("401 from a bad signature: %v, want permanent", err)
	}
}
