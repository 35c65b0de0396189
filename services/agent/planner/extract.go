package planner

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/agentic-iga/iga/services/agent/conv"
	"github.com/agentic-iga/iga/services/agent/tools"
)

// Understanding is what the built-in planner reads from one message.
type Understanding struct {
	Action conv.Action
	// Level is the privilege the stated task implies: "read", "write", "admin" or "".
	Level string
	// LevelWord is the phrase that implied Level ("look at", "edit").
	LevelWord string
	// Duration is the asked duration; zero when none was given.
	Duration time.Duration
	// DurationText is the phrase the duration came from.
	DurationText string
	// BadDuration is a duration of zero or less the user gave ("for -3 days"): it is
	// asked again, never taken as a positive one.
	BadDuration string
	// Forever is set when the user asked for permanent access.
	Forever   bool
	TicketRef string
	Emergency bool
	// Injection is set for attempts to talk the agent out of policy. OwnAsk is what the
	// person asked before the attempt began ("" when it began the message).
	Injection bool
	OwnAsk    string
	// Everything is set for asks covering all apps ("admin on everything").
	Everything bool
	Yes, No    bool
	// Decide is "approve" or "deny" when an approver decides a request in chat; DecideID
	// is the request or approval id and DecideReason their words after it.
	Decide, DecideID, DecideReason string
	// ListApprovals asks what is waiting for the speaker's approval.
	ListApprovals bool
	// StatusOf names someone else whose access the speaker asks about ("what access does
	// alex have?"); Action is then ActionStatus.
	StatusOf string
	// Withdraw asks to take back a submitted request ("withdraw my snowflake request",
	// "cancel request r-1a2b"); WithdrawID is the request id it names, if any.
	Withdraw   bool
	WithdrawID string
	Greeting   bool
	Help       bool
}

var (
	ticketRe  = regexp.MustCompile(`\b([A-Z][A-Z0-9]{1,9}-\d{1,7})\b`)
	numUnitRe = regexp.MustCompile(`\b(\d{1,4}|an?|another|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fourteen|fifteen|twenty|thirty|ninety|couple(?: of)?|few|half an?)\s*(?:more\s+|extra\s+|additional\s+)?(seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w|fortnights?|months?|mos?|business days?|working days?|work days?|weekdays?)\b`)
	// badDurRe: a duration of zero or less ("for -3 days", "minus 2 weeks", "0 days").
	badDurRe   = regexp.MustCompile(`(?:(?:^|[^a-z0-9-])(?:-|−|minus\s+|negative\s+)\s*\d+(?:\.\d+)?|\b0+)\s*(?:seconds?|secs?|minutes?|mins?|hours?|hrs?|h|days?|d|weeks?|wks?|w|fortnights?|months?|business days?|working days?)\b`)
	untilDayRe = regexp.MustCompile(`\b(?:until|till|til|through|thru|to|by|before|up to)\s+(?:end of\s+|the end of\s+)?(?:this\s+|next\s+)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)\b`)
	eodRe      = regexp.MustCompile(`\b(?:(?:until|till|til|to|through|by)\s+(?:the\s+)?)?(?:end of (?:the )?(?:day|today|business|work ?day)|eod|cob|close of business|tonight)\b`)
	weekRe     = regexp.MustCompile(`\b(?:this week|(?:until|till|til|to|by)\s+(?:the\s+)?end of (?:the|this) week|eow|rest of the week)\b`)
	tomorrowRe = regexp.MustCompile(`\b(?:until|till|til|through|thru|by)\s+tomorrow\b|\bfor tomorrow\b`)
	businessRe = regexp.MustCompile(`\b(?:business|working|work) days?\b|\bweekdays?\b`)
	sprintRe   = regexp.MustCompile(`\b(?:for|during|through|until the end of) (?:the|this|a|one|our)(?: current)? sprint\b`)
	foreverRe  = regexp.MustCompile(`\b(?:permanent(?:ly)?|forever|indefinite(?:ly)?|for good|no expiry|never expires?|always)\b`)
	aWeekRe    = regexp.MustCompile(`\bfor (?:the|a) week\b|\bweek-long\b`)
	todayRe    = regexp.MustCompile(`\b(?:for )?(?:today|the day|the rest of the day)\b`)
	monthRe    = regexp.MustCompile(`\b(?:this|the|a) month\b`)
	quarterRe  = regexp.MustCompile(`\b(?:this|the|a) quarter\b`)
)

var numberWords = map[string]int{"a": 1, "an": 1, "another": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
	"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14, "fifteen": 15,
	"twenty": 20, "thirty": 30, "ninety": 90, "couple": 2, "couple of": 2, "few": 3}

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "sun": time.Sunday, "monday": time.Monday, "mon": time.Monday,
	"tuesday": time.Tuesday, "tue": time.Tuesday, "tues": time.Tuesday, "wednesday": time.Wednesday, "wed": time.Wednesday,
	"thursday": time.Thursday, "thu": time.Thursday, "thur": time.Thursday, "thurs": time.Thursday,
	"friday": time.Friday, "fri": time.Friday, "saturday": time.Saturday, "sat": time.Saturday}

// ParseDuration finds a duration in a message. Relative ends ("until Friday", "till end of
// day", "this week") are measured from now in loc: the end of a day is the following
// midnight, "this week" ends with Friday (Sunday when said at the weekend).
func ParseDuration(text string, now time.Time, loc *time.Location) (time.Duration, string, bool) {
	if loc == nil {
		loc = time.UTC
	}
	t := strings.ToLower(text)
	local := now.In(loc)
	endOfDay := func(day time.Time) time.Time {
		y, m, d := day.Date()
		return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
	}
	until := func(end time.Time) time.Duration {
		d := end.Sub(now)
		if r := d % time.Minute; r != 0 { // round up to whole minutes
			d += time.Minute - r
		}
		return d
	}
	for _, idx := range numUnitRe.FindAllStringSubmatchIndex(t, -1) {
		m := make([]string, len(idx)/2)
		for i := range m {
			if idx[2*i] >= 0 {
				m[i] = t[idx[2*i]:idx[2*i+1]]
			}
		}
		// "the 500s", "404s", "the 1990s" are no durations: a number glued to "s" is
		// seconds only after "for" ("for 90s").
		if m[2] == "s" && !strings.ContainsAny(m[0], " \t") && !strings.HasSuffix(strings.TrimRight(t[:idx[0]], " "), "for") {
			continue
		}
		n, ok := numberWords[m[1]]
		if !ok {
			if strings.HasPrefix(m[1], "half") {
				n = -1
			} else {
				v, err := strconv.Atoi(m[1])
				if err != nil {
					return 0, "", false
				}
				n = v
			}
		}
		unit := m[2]
		if badDurRe.MatchString(t) {
			return 0, "", false // "-3 days" is no 3 days
		}
		var u time.Duration
		switch {
		case strings.HasPrefix(unit, "business") || strings.HasPrefix(unit, "work") || strings.HasPrefix(unit, "weekday"):
			if n == -1 {
				return 12 * time.Hour, m[0], true
			}
			if n <= 0 || n > 366 {
				return 0, "", false
			}
			// Business days skip Saturday and Sunday where the person is: n of them from
			// now end at this time of day on the n-th weekday after today.
			end := local
			for k := 0; k < n; {
				end = end.AddDate(0, 0, 1)
				if wd := end.Weekday(); wd != time.Saturday && wd != time.Sunday {
					k++
				}
			}
			return until(end), m[0], true
		case strings.HasPrefix(unit, "fortnight"):
			u = 14 * 24 * time.Hour
		case unit == "s" || strings.HasPrefix(unit, "sec"):
			u = time.Second
		case unit == "m" || strings.HasPrefix(unit, "min"):
			u = time.Minute
		case unit == "h" || strings.HasPrefix(unit, "h"):
			u = time.Hour
		case unit == "d" || strings.HasPrefix(unit, "day"):
			u = 24 * time.Hour
		case unit == "w" || strings.HasPrefix(unit, "w"):
			u = 7 * 24 * time.Hour
		case strings.HasPrefix(unit, "mo"):
			u = 30 * 24 * time.Hour
		}
		// Bare single letters ("5 m") only count after a number, not "a m" or the "an"
		// and "d" of "and": the message may still say a duration further on.
		if len(unit) == 1 && !unicode.IsDigit(rune(m[1][0])) {
			continue
		}
		if n == -1 {
			return u / 2, m[0], true
		}
		if n <= 0 {
			return 0, "", false
		}
		return time.Duration(n) * u, m[0], true
	}
	if m := untilDayRe.FindStringSubmatch(t); m != nil {
		wd := weekdays[m[1]]
		days := (int(wd) - int(local.Weekday()) + 7) % 7
		if strings.Contains(m[0], "next ") {
			// "next Tuesday" is the Tuesday of next week (weeks start on Monday): said on
			// a Wednesday, the coming Tuesday, six days on, not thirteen.
			toMonday := 8 - isoWeekday(local.Weekday())
			days = toMonday + isoWeekday(wd) - 1
		}
		return until(endOfDay(local.AddDate(0, 0, days))), m[0], true
	}
	if m := weekRe.FindString(t); m != "" {
		days := (int(time.Friday) - int(local.Weekday()) + 7) % 7
		if local.Weekday() == time.Saturday || local.Weekday() == time.Sunday {
			days = (int(time.Sunday) - int(local.Weekday()) + 7) % 7
		}
		return until(endOfDay(local.AddDate(0, 0, days))), m, true
	}
	if m := sprintRe.FindString(t); m != "" {
		return 14 * 24 * time.Hour, m, true
	}
	if m := tomorrowRe.FindString(t); m != "" {
		return until(endOfDay(local.AddDate(0, 0, 1))), m, true
	}
	if m := eodRe.FindString(t); m != "" {
		return until(endOfDay(local)), m, true
	}
	if m := aWeekRe.FindString(t); m != "" {
		return 7 * 24 * time.Hour, m, true
	}
	if m := monthRe.FindString(t); m != "" {
		return 30 * 24 * time.Hour, m, true
	}
	if m := quarterRe.FindString(t); m != "" {
		return 90 * 24 * time.Hour, m, true
	}
	if m := todayRe.FindString(t); m != "" {
		return until(endOfDay(local)), m, true
	}
	return 0, "", false
}

// isoWeekday numbers Monday 1 to Sunday 7.
func isoWeekday(d time.Weekday) int {
	if d == time.Sunday {
		return 7
	}
	return int(d)
}

// levelPhrases map task words to the privilege they need. Longer phrases are tried first
// (see matchLevels), and a negated level ("not admin") is ignored.
var levelPhrases = []struct{ phrase, level string }{
	{"read only", "read"}, {"read-only", "read"}, {"readonly", "read"}, {"read access", "read"},
	{"look at", "read"}, {"look into", "read"}, {"looking at", "read"}, {"take a look", "read"},
	{"view", "read"}, {"viewing", "read"}, {"reader", "read"}, {"read-only", "read"}, {"viewer", "read"}, {"see", "read"}, {"read", "read"},
	{"reading", "read"}, {"browse", "read"}, {"check", "read"}, {"inspect", "read"}, {"monitor", "read"},
	{"investigate", "read"}, {"query", "read"}, {"queries", "read"}, {"analyze", "read"}, {"analyse", "read"},
	{"analysis", "read"}, {"review", "read"}, {"audit", "read"}, {"report on", "read"}, {"reporting", "read"},
	{"observe", "read"}, {"watch", "read"}, {"pull", "read"}, {"clone", "read"}, {"download", "read"},
	{"export", "read"}, {"explore", "read"}, {"peek", "read"}, {"lookup", "read"}, {"look up", "read"},
	{"write access", "write"}, {"read-write", "write"}, {"read/write", "write"}, {"readwrite", "write"},
	{"read write", "write"}, {"edit", "write"}, {"editing", "write"}, {"editor", "write"}, {"write", "write"},
	{"change", "write"}, {"modify", "write"}, {"update", "write"}, {"create", "write"}, {"deploy", "write"},
	{"push", "write"}, {"commit", "write"}, {"merge", "write"}, {"publish", "write"}, {"fix", "write"},
	{"contribute", "write"}, {"restart", "write"}, {"rerun", "write"}, {"re-run", "write"}, {"trigger", "write"},
	{"backfill", "write"}, {"approve", "write"}, {"reset", "write"}, {"unlock", "write"}, {"rotate", "write"}, {"upload", "write"}, {"refund", "write"}, {"post", "write"}, {"run jobs", "write"},
	{"admin", "admin"}, {"administrator", "admin"}, {"administer", "admin"}, {"superuser", "admin"},
	{"super user", "admin"}, {"root", "admin"}, {"full access", "admin"}, {"full control", "admin"},
	{"owner", "admin"}, {"all permissions", "admin"}, {"god mode", "admin"}, {"manage users", "admin"},
}

// selfRoleRe: what the person says they are ("I'm an admin on the payments team", "I am
// the owner of the repo") describes them, not the access they ask for.
var selfRoleRe = regexp.MustCompile(`\b(?:i'm|im|i am|i was)\s+(?:the |an? |your |our |one of the )?(?:[a-z-]+ )?(?:admin|administrator|owner|superuser|editor|viewer|reader)s?\b`)

var negRe = regexp.MustCompile(`\b(?:not|no|don't need|do not need|without|never|except)\s+(?:an?\s+|the\s+)?(?:full\s+)?(admin|administrator|write|edit|editor|superuser)\b`)

// matchLevels returns the highest level the message's task words need: someone who
// wants to "view and edit" needs write. Negated levels are skipped.
func matchLevels(t string) (string, string) {
	t = negRe.ReplaceAllString(t, " ")
	t = selfRoleRe.ReplaceAllString(t, " ")
	best, word := "", ""
	rank := map[string]int{"read": 1, "write": 2, "admin": 3}
	for _, lp := range levelPhrases {
		if containsWord(t, lp.phrase) && rank[lp.level] > rank[best] {
			best, word = lp.level, lp.phrase
		}
	}
	return best, word
}

// containsWord reports whether phrase occurs in t at word boundaries.
func containsWord(t, phrase string) bool {
	for i := 0; ; {
		j := strings.Index(t[i:], phrase)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(phrase)
		okStart := start == 0 || !isWordByte(t[start-1])
		okEnd := end == len(t) || !isWordByte(t[end]) || (t[end] == 's' && (end+1 == len(t) || !isWordByte(t[end+1])))
		if okStart && okEnd {
			return true
		}
		i = start + 1
	}
}

func isWordByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b >= 0x80
}

var (
	everythingRe = regexp.MustCompile(`\b(?:everything|all (?:the )?(?:apps|systems|tools|applications|access|the things)|every (?:app|system|tool)|all of (?:them|it)|anything)\b`)
	cancelRe     = regexp.MustCompile(`^(?:cancel|nevermind|never mind|forget it|stop|abort|scratch that|no thanks|nothing|quit|exit)\b|\b(?:cancel (?:that|it|this|my request)|never ?mind|forget (?:it|that|about it))\b`)
	// statusRe: questions about what the person holds or asked for. statusVetoRe: "what do
	// I have to do to get …" asks how, not what.
	statusRe = regexp.MustCompile(`\b(?:` +
		`(?:what|which)(?: kinds? of)?(?: [a-z]+){0,2}? (?:do |did )?i (?:currently |still |already |now |actually )?(?:have|hold|own|got)\b|` +
		`(?:what|which)(?: [a-z]+){0,2}? (?:have|has) i (?:got|been (?:given|granted))\b|` +
		`what (?:have i got|am i (?:allowed|able|permitted) to (?:access|use|see))\b|what can i (?:currently )?access\b|` +
		`(?:list|show|tell me|check|see|view|review)(?: me)?(?: all)?(?: of)? my (?:current |active |existing )?(?:access|grants|permissions|entitlements|roles)\b|` +
		`what (?:are|is) my (?:current |active |existing )?(?:access|grants|permissions|entitlements|roles)\b|` +
		`my (?:current |active |existing )?(?:access|grants|permissions|entitlements)\b\s*\??$|` +
		`do i (?:currently |still |already |actually )?(?:have|hold) (?:any )?(?:[a-z0-9-]+ ){0,3}(?:access|permissions?|grants?|entitlements?|roles?|rights)\b|` +
		`(?:check|see|know|tell me|confirm|verify)(?: for me)? (?:if|whether) i (?:still |already |currently )?(?:have|hold|can access)\b|` +
		`\bis my (?:[a-z0-9-]+ ){0,3}(?:access|grant|role|permission)s? (?:still )?(?:active|valid|there|working|live|on)\b|` +
		`status of my requests?|where(?: is|'s) my (?:request|access)|my (?:open |pending )?requests?\b\s*\??$|` +
		`any news on my request|has my request been approved)`)
	statusVetoRe = regexp.MustCompile(`\b(?:have|hold) to\b`)
	// relinquishRe: giving access up. A removal verb counts when it starts a clause
	// ("remove github write", "please revoke github write", "you can take away github
	// write") or takes the person's access as its object ("drop my aws", "remove it"); a
	// removal inside a task ("write access to remove old branches") is no relinquish.
	relinquishRe = guard(`\b(?:relinquish|give up|no longer (?:need|require|use)|don't need (?:it|this|that|my|the)?.{0,40}(?:anymore|any more|now)|`+
		`do not need .{0,40}(?:anymore|any more)|(?:done|finished|through) with|remove (?:me|myself) from|take me off|`+
		`(?:remove|revoke|drop|take away|end|release|return|deprovision|unassign|withdraw|strip) (?:my|me|it|this|that|them|those|all of my)\b)|`+
		`(?:^|[.,;:!?]\s*|\b(?:and|so|then|now)\s+)(?:(?:please|pls|plz|kindly|ok|okay|hey|hi|just|you can|you may|can you|could you|would you|will you|go ahead and|feel free to)[ ,]+)*`+
		`(?:remove|revoke|drop|take away|release|deprovision|unassign|withdraw|strip)\b|^cancel my (?:[a-z0-9-]+ ){0,3}(?:access|grant|role|permissions?|license|seat)\b`,
		"relinquish", "give up", "no longer", "don't need", "do not need", "done with", "finished with", "through with",
		"remove", "revoke", "drop", "take away", "take me off", "end my", "end me", "end it", "end this", "end that", "end them", "end those", "end all",
		"release", "return my", "return me", "return it", "return this", "return that", "return them", "return those", "return all",
		"deprovision", "unassign", "withdraw", "strip", "cancel my")
	// removalWordRe: any word of giving access up, wherever it stands ("write access to
	// remove old branches" is a request, but no place to offer an extension either).
	removalWordRe = regexp.MustCompile(`\b(?:remov(?:e|al|ing)|revok(?:e|ing)|relinquish|take away|give up|drop|no longer|done with|finished with|deprovision|offboard)\b`)
	extendRe      = guard(`\b(?:extend|extension|prolong|renew|more time|longer|keep (?:my |it |the )?.{0,30}(?:longer|another|more|for)|another (?:week|day|\d+ days?))\b`,
		"extend", "extension", "prolong", "renew", "more time", "longer", "keep ", "another ")
	yesRe      = regexp.MustCompile(`^(?:y|yes|yeah|yep|yup|sure|ok|okay|confirm|confirmed|submit|submit it|go ahead|do it|please do|sounds good|correct|approve|affirmative|right|👍|✅)[.! ]*(?:please|thanks|thank you)?[.!]*$`)
	noRe       = regexp.MustCompile(`^(?:n|no|nope|nah|don't|do not|not now|cancel|stop|no thanks|no, thanks|👎|❌)[.! ]*$`)
	greetingRe = regexp.MustCompile(`^(?:hi|hello|hey|yo|good (?:morning|afternoon|evening)|thanks|thank you|cheers)[.! ]*$`)
	helpRe     = regexp.MustCompile(`^(?:help|\?|what can you do\??|how does this work\??|commands)[.! ]*$`)
	// withdrawRe: taking back a request already made. "cancel" alone drops what is in
	// progress in the conversation; with "request" (or a request id) it means a
	// submitted one.
	withdrawRe = regexp.MustCompile(`\b(?:withdraw|retract|take back|pull back|rescind)\b|\b(?:cancel|call off|drop|scrap|revoke)\b(?: [a-z0-9-]+){0,4}? (?:request|requests|ask)\b|\b(?:cancel|call off|scrap)\s+(?:request\s+)?r-[0-9a-f]{4,}\b`)
	// statusOfRe: a question about what someone else holds.
	statusOfRe = regexp.MustCompile(`\b(?:what|which)(?: kinds? of)?(?: access| permissions| apps| roles| entitlements)? (?:does|has) ([a-z][a-z.'-]*(?: [a-z][a-z'-]*)?) (?:currently |still |already |now )?(?:have|hold|got)\b|` +
		`\b(?:what|which)(?: apps| systems| tools)? can ([a-z][a-z.'-]*(?: [a-z][a-z'-]*)?) (?:currently )?access\b|` +
		`\b(?:show|list)(?: me)? ([a-z][a-z.'-]*(?: [a-z][a-z'-]*)?)'s (?:access|permissions|grants|entitlements)\b`)
	requestIDRe = regexp.MustCompile(`\b(r-[0-9a-f]{4,32})\b`)
	decideRe    = regexp.MustCompile(`(?i)^\s*(approve|approved|deny|denied|reject|decline)\s+(?:request\s+|approval\s+)?([a-z0-9][a-z0-9._:-]{2,80})\b[\s,.:;-]*(?:(?:because|reason:?|as|since)\s+)?(.*)$`)
	approvalsRe = regexp.MustCompile(`\b(?:what|anything|which|list|show)\b.{0,30}\b(?:to approve|waiting for (?:me|my approval)|my approvals|pending approvals|approvals? (?:for|waiting on) me)\b`)
	emergencyRe = regexp.MustCompile(`\b(?:emergency|break[- ]glass|sev ?-?[01]|p0|p1 incident|outage)\b`)
)

// guarded is a regexp and words one of which a text must hold for it to match: a few
// substring checks spare running the regexp over most messages.
type guarded struct {
	re   *regexp.Regexp
	lits []string
}

// guard compiles expr; lits must be necessary: every match of expr contains one.
func guard(expr string, lits ...string) guarded { return guarded{regexp.MustCompile(expr), lits} }

// MatchString is the regexp's, skipped when no word is there.
func (g guarded) MatchString(s string) bool {
	for _, l := range g.lits {
		if strings.Contains(s, l) {
			return g.re.MatchString(s)
		}
	}
	return false
}

// Understand reads a message.
func Understand(text string, now time.Time, loc *time.Location) Understanding {
	u := Understanding{}
	if m := ticketRe.FindStringSubmatch(text); m != nil {
		u.TicketRef = m[1]
	}
	t := strings.ToLower(strings.TrimSpace(text))
	u.Yes, u.No = yesRe.MatchString(t), noRe.MatchString(t)
	u.Greeting, u.Help = greetingRe.MatchString(t), helpRe.MatchString(t)
	if at := injectedClause(strings.TrimSpace(text)); at >= 0 {
		u.Injection, u.OwnAsk = true, ownAsk(strings.TrimSpace(text), at)
	}
	u.Everything = everythingRe.MatchString(t)
	u.Emergency = emergencyRe.MatchString(t)
	u.Forever = foreverRe.MatchString(t)
	u.Duration, u.DurationText, _ = ParseDuration(text, now, loc)
	if m := badDurRe.FindString(t); m != "" && u.Duration == 0 {
		u.BadDuration = strings.TrimSpace(m)
	}
	u.Level, u.LevelWord = matchLevels(t)
	if m := decideRe.FindStringSubmatch(strings.TrimSpace(text)); m != nil && strings.ContainsAny(m[2], "-0123456789") {
		u.Decide, u.DecideID, u.DecideReason = "deny", m[2], strings.TrimSpace(m[3])
		if v := strings.ToLower(m[1]); strings.HasPrefix(v, "approve") {
			u.Decide = "approve"
		}
	}
	u.ListApprovals = approvalsRe.MatchString(t)
	if u.Decide == "" && withdrawRe.MatchString(t) {
		u.Withdraw = true
		if m := requestIDRe.FindStringSubmatch(t); m != nil {
			u.WithdrawID = m[1]
		}
	}
	t = fixActionTypos(t)
	if m := statusOfRe.FindStringSubmatch(t); m != nil && !relinquishRe.MatchString(t) {
		u.StatusOf = strings.TrimSpace(m[1] + m[2] + m[3])
	}
	switch {
	case u.StatusOf != "":
		u.Action = conv.ActionStatus
	case statusRe.MatchString(t) && !statusVetoRe.MatchString(t) && !relinquishRe.MatchString(t) && !extendRe.MatchString(t):
		u.Action = conv.ActionStatus
	case cancelRe.MatchString(t) && !u.Yes && !strings.HasPrefix(t, "cancel my "):
		u.Action = conv.ActionCancel
	case relinquishRe.MatchString(t):
		u.Action = conv.ActionRelinquish
	case extendRe.MatchString(t):
		u.Action = conv.ActionExtend
	default:
		u.Action = conv.ActionRequest
	}
	return u
}

// actionWords are the verbs that decide what is done with access; typos in them are
// corrected before the action is read ("extnd my github acess", "relinqush").
var actionWords = []string{"extend", "extension", "relinquish", "revoke", "remove", "renew", "prolong"}

// notActionTypos are real words one edit from an action word.
var notActionTypos = map[string]bool{"remote": true, "remotes": true, "extent": true, "extents": true, "renee": true,
	"revere": true, "removal": true, "prolog": true}

var wordRe = regexp.MustCompile(`[a-z]{5,}`)

// fixActionTypos corrects misspelt action words in a lower-cased message: one edit for
// words under 8 letters, two from 8 on.
func fixActionTypos(t string) string {
	return wordRe.ReplaceAllStringFunc(t, func(w string) string {
		if notActionTypos[w] {
			return w
		}
		maxD := 1
		if len(w) >= 8 {
			maxD = 2
		}
		for _, a := range actionWords {
			if w == a || strings.HasPrefix(w, a) {
				return w // the word or an inflection of it ("extended", "removes")
			}
			if d := len(w) - len(a); d > maxD || -d > maxD {
				continue
			}
			if tools.EditDistance(w, a, maxD) <= maxD {
				return a
			}
		}
		return w
	})
}

// Clean checks a message is text the planner can read and trims it. It returns a
// user-facing reason when it is not.
func Clean(text string) (string, string) {
	if !utf8.ValidString(text) {
		return "", "I can only read text messages. Please tell me in words what access you need."
	}
	ctrl := 0
	for _, r := range text {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			ctrl++
		}
	}
	if ctrl > 0 {
		return "", "I can only read text messages. Please tell me in words what access you need."
	}
	text = strings.TrimSpace(text)
	if len(text) > MaxInput {
		return "", "That message is too long for me. Please say in a sentence or two what access you need and why."
	}
	return text, ""
}

// MaxInput is the longest message the planner reads, in bytes.
const MaxInput = 4000

// hasLetters reports whether the text has anything to read besides symbols and emoji.
func hasLetters(text string) bool {
	for _, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return true
		}
	}
	return false
}
