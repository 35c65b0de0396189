package browsertest

import (
	"context"
	"log/slog"
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

// TestConsoleInABrowser is the path a person takes: Dana asks for access in the chat and
// picks an option, her manager Marco approves it in Approvals, and Dana sees the grant in
// My access with its countdown running, and the whole story in Events.
func TestConsoleInABrowser(t *testing.T) {
	exe := chromium(t)
	fake, conn := consoletest.Start(t)
	srv := httptest.NewServer(console.Handler(conn, slog.New(slog.DiscardHandler)))
	t.Cleanup(srv.Close)
	shots := screenshotDir(t)

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
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	// Any uncaught script error or console.error fails the test: the page must work, not
	// just render. (Failed fetches the page handles, such as a 404 for an unknown email,
	// are browser log entries without arguments and do not count.)
	var mu sync.Mutex
	var pageErrors []string
	messages := chromedp.Console(bctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleException || (m.Type == chromedp.ConsoleError && len(m.Args) > 0) {
				mu.Lock()
				pageErrors = append(pageErrors, m.String())
				mu.Unlock()
			}
		}
	}()
	// The browser lives as long as the context of its first action: start it without a
	// deadline, then bound the steps.
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(bctx, 2*time.Minute)
	defer cancel()

	run := func(step string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			shot(t, ctx, filepath.Join(shots, "failed.png"))
			t.Fatalf("%s: %v", step, err)
		}
	}
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	clearField := func(sel string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(sel)+`).value = ""`)(ctx, t)
			return err
		})
	}
	signIn := func(email string) {
		t.Helper()
		run("sign in as "+email,
			chromedp.WaitVisible(css(`#signin-email`)),
			clearField(`#signin-email`),
			chromedp.SendKeys(css(`#signin-email`), email),
			chromedp.Click(css(`#signin-submit`)),
			chromedp.WaitVisible(css(`#app`)),
		)
	}
	switchUser := func() {
		t.Helper()
		run("switch user", chromedp.Click(css(`#switch-user`)), chromedp.WaitVisible(css(`#signin`)))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(css(sel), chromedp.NodeVisible))
		if err != nil {
			shot(t, ctx, filepath.Join(shots, "failed.png"))
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}

	// The sign-in page, with the note that production uses SSO.
	run("open the console", chromedp.Navigate(srv.URL), chromedp.WaitVisible(css(`#signin-email`)))
	if note := text(`#signin-note`); !strings.Contains(note, "SSO") {
		t.Fatalf("sign-in note should say production signs in via SSO: %q", note)
	}
	shot(t, ctx, filepath.Join(shots, "0-sign-in.png"))

	// An unknown email is refused in plain words.
	run("sign in as a stranger",
		chromedp.SendKeys(css(`#signin-email`), "nobody@acme.example"),
		chromedp.Click(css(`#signin-submit`)),
		chromedp.WaitVisible(css(`#signin-error:not(:empty)`)))
	if msg := text(`#signin-error`); !strings.Contains(msg, "No one with the email nobody@acme.example") {
		t.Fatalf("unknown email: %q", msg)
	}

	// Dana asks in the chat; the agent asks back with options.
	signIn(consoletest.Dana)
	if who := text(`#who-name`); who != "Dana Reyes" {
		t.Fatalf("signed in as %q", who)
	}
	run("send a chat message",
		chromedp.SendKeys(css(`#chat-input`), "I need to look at the payments dashboards for the audit this week"),
		chromedp.Click(css(`#chat-send`)),
		chromedp.WaitVisible(css(`.msg-agent .option[data-value="`+consoletest.Viewer+`"]`)),
	)
	if q := text(`.msg-agent.kind-question .bubble`); !strings.Contains(q, "Which fits what you need to do?") {
		t.Fatalf("the agent's question: %q", q)
	}
	run("pick the viewer option",
		chromedp.Click(css(`.msg-agent .option[data-value="`+consoletest.Viewer+`"]`)),
		chromedp.WaitVisible(css(`.msg-agent.kind-submitted`)),
	)
	submitted := text(`.msg-agent.kind-submitted .bubble`)
	id := regexp.MustCompile(`r-\d{4}`).FindString(submitted)
	if id == "" || !strings.Contains(submitted, "Marco Bianchi (your manager) approves it") {
		t.Fatalf("submitted reply: %q", submitted)
	}
	run("see the request pending",
		chromedp.WaitVisible(css(`#requests-list article[data-request-id="`+id+`"]`)))
	if st := text(`#requests-list article[data-request-id="` + id + `"] .pill`); st != "pending approval" {
		t.Fatalf("request %s status: %q", id, st)
	}
	shot(t, ctx, filepath.Join(shots, "1-dana-chat.png"))

	// Marco approves it.
	switchUser()
	signIn(consoletest.Marco)
	approve := `button[data-action="approve"][data-id="` + id + `"]`
	run("open approvals",
		chromedp.Click(css(`#tab-approvals`)),
		chromedp.WaitVisible(css(approve)),
		chromedp.SendKeys(css(`#reason-`+id), "audit week"),
	)
	if n := text(`#approvals-count`); n != "1" {
		t.Fatalf("approvals badge: %q", n)
	}
	shot(t, ctx, filepath.Join(shots, "2-marco-approvals.png"))
	run("approve", chromedp.Click(css(approve)),
		chromedp.WaitNotPresent(css(`#approvals-list article[data-approval-id="`+id+`"]`)))
	if a, ok := fake.Approval(id); !ok || a.GetVotes()[0].GetApproverEmail() != consoletest.Marco || a.GetVotes()[0].GetReason() != "audit week" {
		t.Fatalf("approval recorded: %v", a)
	}

	// Dana sees the grant, its countdown running down from 8 hours.
	switchUser()
	signIn(consoletest.Dana)
	countdown := `#grants-list .grant[data-grant-id="g-` + id + `"] .countdown`
	run("open my access", chromedp.Click(css(`#tab-access`)), chromedp.WaitVisible(css(countdown)))
	first := text(countdown)
	if !regexp.MustCompile(`^0[78]h \d\dm \d\ds$`).MatchString(first) {
		t.Fatalf("countdown of an 8-hour grant: %q", first)
	}
	deadline := time.Now().Add(10 * time.Second)
	for text(countdown) == first {
		if time.Now().After(deadline) {
			t.Fatalf("the countdown does not move: still %q", first)
		}
		time.Sleep(200 * time.Millisecond)
	}
	shot(t, ctx, filepath.Join(shots, "3-dana-access.png"))

	// The whole story is in Events, live.
	run("open events",
		chromedp.Click(css(`#tab-events`)),
		chromedp.WaitVisible(css(`#events-status .live-dot.on`)),
		chromedp.WaitVisible(css(`#events-list .event`)),
	)
	events := text(`#events-list`)
	for _, want := range []string{"request.submitted", "approval.decided", "grant.active", "now holds " + consoletest.Viewer, "request " + id} {
		if !strings.Contains(events, want) {
			t.Errorf("events list lacks %q:\n%s", want, events)
		}
	}
	shot(t, ctx, filepath.Join(shots, "4-dana-events.png"))

	mu.Lock()
	defer mu.Unlock()
	if len(pageErrors) > 0 {
		t.Fatalf("the page raised errors:\n%s", strings.Join(pageErrors, "\n"))
	}
	t.Logf("screenshots in %s", shots)
}

// shot saves what the browser shows as a PNG.
func shot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Logf("screenshot %s: %v", path, err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	t.Logf("screenshot: %s", path)
}
