package browsertest

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agentic-iga/iga/pkg/console"
	"github.com/agentic-iga/iga/pkg/console/consoletest"
	"github.com/agentic-iga/iga/pkg/svc"
)

const chromiumPath = "/usr/bin/chromium"

// chromium finds the browser, or fails the test saying how to install it. A machine that
// cannot run a browser at all opts out with IGA_SKIP_BROWSER=1.
func chromium(t *testing.T) string {
	t.Helper()
	if os.Getenv("IGA_SKIP_BROWSER") == "1" {
		t.Skip("IGA_SKIP_BROWSER=1: not driving a browser")
	}
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("install chromium: apt-get install -y chromium (or run .ci/browser-deps)")
	return ""
}

// screenshotDir is where the pictures go: IGA_SCREENSHOT_DIR, or a fresh temp folder.
// They are kept after the test so a person can look at them.
func screenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("IGA_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d, err := os.MkdirTemp("", "iga-console-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// browser is one headless Chromium driving one console.
type browser struct {
	t     *testing.T
	ctx   context.Context
	url   string
	shots string

	mu         sync.Mutex
	pageErrors []string
}

// newBrowser serves the console handler on httptest and starts Chromium for it.
func newBrowser(t *testing.T, h http.Handler) *browser {
	t.Helper()
	exe := chromium(t)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1440, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	b := &browser{t: t, url: srv.URL, shots: screenshotDir(t)}

	// Any uncaught script error or console.error fails the test: the page must work, not
	// just render. (Failed fetches the page handles, such as a 404 for an unknown email,
	// are browser log entries without arguments and do not count.)
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || (m.Type == chromedp.ConsoleError && len(m.Args) > 0) {
				b.mu.Lock()
				b.pageErrors = append(b.pageErrors, m.String())
				b.mu.Unlock()
			}
		}
	}()
	// The browser lives as long as the context of its first action: start it without a
	// deadline, then bound the steps.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	t.Cleanup(cancel)
	b.ctx = ctx
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.pageErrors) > 0 {
			t.Errorf("the page raised errors:\n%s", strings.Join(b.pageErrors, "\n"))
		}
		t.Logf("screenshots in %s", b.shots)
	})
	return b
}

// run does the step's actions, or fails the test with a screenshot of where it stopped.
func (b *browser) run(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.shot("failed.png")
		b.t.Fatalf("%s: %v", step, err)
	}
}

// text is the visible text of the first element matching the CSS selector.
func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.shot("failed.png")
		b.t.Fatalf("read %s: %v", sel, err)
	}
	return s
}

func clearField(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(sel)+`).value = ""`)(ctx, t)
		return err
	})
}

func (b *browser) signIn(email string) {
	b.t.Helper()
	b.run("sign in as "+email,
		chromedp.WaitVisible(chromedp.CSS(`#signin-email`)),
		clearField(`#signin-email`),
		chromedp.SendKeys(chromedp.CSS(`#signin-email`), email),
		chromedp.Click(chromedp.CSS(`#signin-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#app`)),
	)
}

func (b *browser) switchUser() {
	b.t.Helper()
	b.run("switch user", chromedp.Click(chromedp.CSS(`#switch-user`)), chromedp.WaitVisible(chromedp.CSS(`#signin`)))
}

// shot saves what the browser shows as a PNG in the screenshot folder.
func (b *browser) shot(name string) {
	b.t.Helper()
	path := filepath.Join(b.shots, name)
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", path, err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("write %s: %v", path, err)
	}
	b.t.Logf("screenshot: %s", path)
}

// TestConsoleInABrowser is the path a person takes: Dana asks for access in the chat and
// picks an option, her manager Marco approves it in Approvals, and Dana sees the grant in
// My access with its countdown running, and the whole story in Events.
func TestConsoleInABrowser(t *testing.T) {
	fake, conn := consoletest.Start(t)
	b := newBrowser(t, console.Handler(conn, slog.New(slog.DiscardHandler)))

	// The sign-in page, with the note that production uses SSO.
	b.run("open the console", chromedp.Navigate(b.url), chromedp.WaitVisible(chromedp.CSS(`#signin-email`)))
	if note := b.text(`#signin-note`); !strings.Contains(note, "SSO") {
		t.Fatalf("sign-in note should say production signs in via SSO: %q", note)
	}
	b.shot("0-sign-in.png")

	// An unknown email is refused in plain words.
	b.run("sign in as a stranger",
		chromedp.SendKeys(chromedp.CSS(`#signin-email`), "nobody@acme.example"),
		chromedp.Click(chromedp.CSS(`#signin-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#signin-error:not(:empty)`)))
	if msg := b.text(`#signin-error`); !strings.Contains(msg, "No one with the email nobody@acme.example") {
		t.Fatalf("unknown email: %q", msg)
	}

	// Dana asks in the chat; the agent asks back with options.
	b.signIn(consoletest.Dana)
	if who := b.text(`#who-name`); who != "Dana Reyes" {
		t.Fatalf("signed in as %q", who)
	}
	b.run("send a chat message",
		chromedp.SendKeys(chromedp.CSS(`#chat-input`), "I need to look at the payments dashboards for the audit this week"),
		chromedp.Click(chromedp.CSS(`#chat-send`)),
		chromedp.WaitVisible(chromedp.CSS(`.msg-agent .option[data-value="`+consoletest.Viewer+`"]`)),
	)
	if q := b.text(`.msg-agent.kind-question .bubble`); !strings.Contains(q, "Which fits what you need to do?") {
		t.Fatalf("the agent's question: %q", q)
	}
	b.run("pick the viewer option",
		chromedp.Click(chromedp.CSS(`.msg-agent .option[data-value="`+consoletest.Viewer+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.msg-agent.kind-submitted`)),
	)
	submitted := b.text(`.msg-agent.kind-submitted .bubble`)
	id := regexp.MustCompile(`r-\d{4}`).FindString(submitted)
	if id == "" || !strings.Contains(submitted, "Marco Bianchi (your manager) approves it") {
		t.Fatalf("submitted reply: %q", submitted)
	}
	b.run("see the request pending",
		chromedp.WaitVisible(chromedp.CSS(`#requests-list article[data-request-id="`+id+`"]`)))
	if st := b.text(`#requests-list article[data-request-id="` + id + `"] .pill`); st != "pending approval" {
		t.Fatalf("request %s status: %q", id, st)
	}
	b.shot("1-dana-chat.png")

	// Marco approves it.
	b.switchUser()
	b.signIn(consoletest.Marco)
	approve := `button[data-action="approve"][data-id="` + id + `"]`
	b.run("open approvals",
		chromedp.Click(chromedp.CSS(`#tab-approvals`)),
		chromedp.WaitVisible(chromedp.CSS(approve)),
		chromedp.SendKeys(chromedp.CSS(`#reason-`+id), "audit week"),
	)
	if n := b.text(`#approvals-count`); n != "1" {
		t.Fatalf("approvals badge: %q", n)
	}
	b.shot("2-marco-approvals.png")
	b.run("approve", chromedp.Click(chromedp.CSS(approve)),
		chromedp.WaitNotPresent(chromedp.CSS(`#approvals-list article[data-approval-id="`+id+`"]`)))
	if a, ok := fake.Approval(id); !ok || a.GetVotes()[0].GetApproverEmail() != consoletest.Marco || a.GetVotes()[0].GetReason() != "audit week" {
		t.Fatalf("approval recorded: %v", a)
	}

	// Dana sees the grant, its countdown running down from 8 hours.
	b.switchUser()
	b.signIn(consoletest.Dana)
	countdown := `#grants-list .grant[data-grant-id="g-` + id + `"] .countdown`
	b.run("open my access", chromedp.Click(chromedp.CSS(`#tab-access`)), chromedp.WaitVisible(chromedp.CSS(countdown)))
	first := b.text(countdown)
	if !regexp.MustCompile(`^0[78]h \d\dm \d\ds$`).MatchString(first) {
		t.Fatalf("countdown of an 8-hour grant: %q", first)
	}
	deadline := time.Now().Add(10 * time.Second)
	for b.text(countdown) == first {
		if time.Now().After(deadline) {
			t.Fatalf("the countdown does not move: still %q", first)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.shot("3-dana-access.png")

	// The whole story is in Events, live.
	b.run("open events",
		chromedp.Click(chromedp.CSS(`#tab-events`)),
		chromedp.WaitVisible(chromedp.CSS(`#events-status .live-dot.on`)),
		chromedp.WaitVisible(chromedp.CSS(`#events-list .event`)),
	)
	events := b.text(`#events-list`)
	for _, want := range []string{"request.submitted", "approval.decided", "grant.active", "now holds " + consoletest.Viewer, "request " + id} {
		if !strings.Contains(events, want) {
			t.Errorf("events list lacks %q:\n%s", want, events)
		}
	}
	b.shot("4-dana-events.png")

}

// TestConsoleSaysWhenIgaIsDown: with nothing behind the console, the page says so in
// plain words instead of failing silently.
func TestConsoleSaysWhenIgaIsDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	conn, err := svc.DialUpstream(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	b := newBrowser(t, console.Handler(conn, slog.New(slog.DiscardHandler)))

	b.run("open the console", chromedp.Navigate(b.url), chromedp.WaitVisible(chromedp.CSS(`#signin-email`)))
	b.run("sign in with iga down",
		chromedp.SendKeys(chromedp.CSS(`#signin-email`), consoletest.Dana),
		chromedp.Click(chromedp.CSS(`#signin-submit`)),
		chromedp.WaitVisible(chromedp.CSS(`#banner`)))
	const says = "iga is not reachable: is `iga dev` running?"
	if got := b.text(`#banner-text`); got != says {
		t.Fatalf("banner: %q, want %q", got, says)
	}
	if got := b.text(`#signin-error`); got != says {
		t.Fatalf("sign-in error: %q, want %q", got, says)
	}
	b.shot("5-iga-down.png")
}

// A break-glass review reads as one: already granted, to confirm or reject, and a
// rejection needs a reason.
func TestConsoleShowsABreakGlassReview(t *testing.T) {
	fake, conn := consoletest.Start(t)
	id := fake.AddBreakGlassReview(consoletest.Sam, "aws-prod:admin", consoletest.Marco)
	b := newBrowser(t, console.Handler(conn, slog.New(slog.DiscardHandler)))
	b.run("open the console", chromedp.Navigate(b.url), chromedp.WaitVisible(chromedp.CSS(`#signin-email`)))
	b.signIn(consoletest.Marco)
	item := `#approvals-list article[data-approval-id="` + id + `"]`
	reject := `button[data-action="deny"][data-id="` + id + `"]`
	b.run("open approvals", chromedp.Click(chromedp.CSS(`#tab-approvals`)), chromedp.WaitVisible(chromedp.CSS(item)))
	if pill := b.text(item + ` .pill`); !strings.HasPrefix(pill, "break-glass review") {
		t.Errorf("pill = %q", pill)
	}
	if meta := b.text(item + ` .meta`); !strings.Contains(meta, "as an emergency; already granted") {
		t.Errorf("meta = %q", meta)
	}
	if c, r := b.text(`button[data-action="approve"][data-id="`+id+`"]`), b.text(reject); c != "Confirm" || r != "Reject" {
		t.Errorf("buttons %q and %q, want Confirm and Reject", c, r)
	}
	b.run("reject without a reason", chromedp.Click(chromedp.CSS(reject)), chromedp.WaitVisible(chromedp.CSS(item+` .decide-error:not(:empty)`)))
	if msg := b.text(item + ` .decide-error`); !strings.Contains(msg, "the access is revoked") {
		t.Errorf("error = %q", msg)
	}
	b.shot("6-marco-review.png")
	b.run("reject with a reason",
		chromedp.SendKeys(chromedp.CSS(`#reason-`+id), "no SEV1 on record"),
		chromedp.Click(chromedp.CSS(reject)),
		chromedp.WaitNotPresent(chromedp.CSS(item)))
	if a, ok := fake.Approval(id); !ok || len(a.GetVotes()) != 1 || a.GetVotes()[0].GetApproved() || a.GetVotes()[0].GetReason() != "no SEV1 on record" {
		t.Fatalf("review recorded: %v", a)
	}
	b.run("open events", chromedp.Click(chromedp.CSS(`#tab-events`)), chromedp.WaitVisible(chromedp.CSS(`#events-list .event`)))
	if events := b.text(`#events-list`); !strings.Contains(events, "Emergency access to aws-prod:admin for "+consoletest.Sam+" to be reviewed by "+consoletest.Marco) {
		t.Errorf("events list lacks the review:\n%s", events)
	}
}

// TestConsoleWithdrawsAPendingRequest: the requester withdraws what still waits for
// approval with one click; the approver no longer sees it.
func TestConsoleWithdrawsAPendingRequest(t *testing.T) {
	fake, conn := consoletest.Start(t)
	b := newBrowser(t, console.Handler(conn, slog.New(slog.DiscardHandler)))
	b.run("open the console", chromedp.Navigate(b.url), chromedp.WaitVisible(chromedp.CSS(`#signin-email`)))
	b.signIn(consoletest.Dana)
	b.run("ask and pick the viewer",
		chromedp.SendKeys(chromedp.CSS(`#chat-input`), "I need to look at the payments dashboards for the audit this week"),
		chromedp.Click(chromedp.CSS(`#chat-send`)),
		chromedp.WaitVisible(chromedp.CSS(`.msg-agent .option[data-value="`+consoletest.Viewer+`"]`)),
		chromedp.Click(chromedp.CSS(`.msg-agent .option[data-value="`+consoletest.Viewer+`"]`)),
		chromedp.WaitVisible(chromedp.CSS(`.msg-agent.kind-submitted`)),
	)
	id := regexp.MustCompile(`r-\d{4}`).FindString(b.text(`.msg-agent.kind-submitted .bubble`))
	withdraw := `#requests-list button[data-action="withdraw"][data-id="` + id + `"]`
	b.run("withdraw it", chromedp.WaitVisible(chromedp.CSS(withdraw)), chromedp.Click(chromedp.CSS(withdraw)),
		chromedp.WaitNotPresent(chromedp.CSS(withdraw)))
	pill := `#requests-list article[data-request-id="` + id + `"] .pill`
	deadline := time.Now().Add(10 * time.Second)
	for b.text(pill) != "withdrawn" {
		if time.Now().After(deadline) {
			t.Fatalf("request %s status after withdrawing: %q", id, b.text(pill))
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.shot("withdrawn.png")
	if a, ok := fake.Approval(id); !ok || a.GetStatus().String() != "APPROVAL_STATUS_WITHDRAWN" {
		t.Fatalf("approval after withdrawing: %v", a)
	}
}
