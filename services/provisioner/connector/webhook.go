package connector

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Webhook headers. The signature is GitHub-style: "sha256=" and the hex HMAC-SHA256 of
// the body under the shared secret; the delivery id is stable across retries so the
// receiver can drop duplicates.
const (
	HeaderSignature = "X-Iga-Signature-256"
	HeaderDelivery  = "X-Iga-Delivery"
)

// WebhookEvent is the JSON body POSTed to the app's automation.
type WebhookEvent struct {
	Action      string             `json:"action"` // "grant" or "revoke"
	DeliveryID  string             `json:"delivery_id"`
	Person      WebhookPerson      `json:"person"`
	Entitlement WebhookEntitlement `json:"entitlement"`
	SentAt      time.Time          `json:"sent_at"`
}

// WebhookPerson is the person in a WebhookEvent.
type WebhookPerson struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

// WebhookEntitlement is the entitlement in a WebhookEvent.
type WebhookEntitlement struct {
	ID    string `json:"id"`
	AppID string `json:"app_id"`
	Name  string `json:"name"`
}

// Webhook asks an app's own automation to make the change: a signed JSON POST; any 2xx
// is success and the response's "ref" (when JSON) is the external reference.
type Webhook struct {
	url    string
	secret []byte
	http   *http.Client
}

// NewWebhook returns a connector posting to url, signing with secret.
func NewWebhook(url, secret string, timeout time.Duration) *Webhook {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Webhook{url: url, secret: []byte(secret), http: &http.Client{Timeout: timeout}}
}

// Sign returns the signature header value for body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// VerifySignature checks a signature header value in constant time; receivers use it.
func VerifySignature(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(strings.TrimSpace(header)))
}

// Grant posts a grant.
func (w *Webhook) Grant(ctx context.Context, p Person, e Entitlement) (string, error) {
	return w.post(ctx, "grant", p, e)
}

// Revoke posts a revoke.
func (w *Webhook) Revoke(ctx context.Context, p Person, e Entitlement) error {
	_, err := w.post(ctx, "revoke", p, e)
	return err
}

// Verify cannot read the app back: a 2xx from its automation is the confirmation.
func (w *Webhook) Verify(context.Context, Person, Entitlement) (bool, error) {
	return false, ErrNotVerifiable
}

func (w *Webhook) post(ctx context.Context, action string, p Person, e Entitlement) (string, error) {
	delivery := "delivery-" + changeID(action, p, e)
	ev := WebhookEvent{Action: action, DeliveryID: delivery, SentAt: time.Now().UTC(),
		Person:      WebhookPerson{Email: p.Email, Name: p.Name},
		Entitlement: WebhookEntitlement{ID: e.ID, AppID: e.AppID, Name: e.Name}}
	body, err := json.Marshal(ev)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return "", Permanent(fmt.Errorf("webhook %s: %w", action, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderSignature, Sign(w.secret, body))
	req.Header.Set(HeaderDelivery, delivery)
	resp, err := w.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("webhook %s %s for %s: %w", action, e.ID, p.Email, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 300 {
		err := fmt.Errorf("webhook %s %s for %s: HTTP %d: %s", action, e.ID, p.Email, resp.StatusCode, strings.TrimSpace(string(data)))
		if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests {
			return "", Permanent(err)
		}
		return "", err
	}
	var out struct {
		Ref string `json:"ref"`
	}
	_ = json.Unmarshal(data, &out)
	if out.Ref == "" {
		out.Ref = delivery
	}
	return out.Ref, nil
}
