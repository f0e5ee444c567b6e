package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilsec/vigil/internal/feedback"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

const feedbackHelp = `
Record analysts' verdicts and see what they taught. Verdicts are kept in the
embedded store (--data-dir, as hunt writes it); every hunt with that --data-dir
applies them: false-positive and benign verdicts with a scope suppress signals
until they expire, and every verdict updates its rules' precision, which weighs
their risk.

  vigil feedback add --data-dir D --incident ID --verdict fp --scope entity --expires 30d --reason "patch night"
  vigil feedback add --data-dir D --rule sigma/RULE-ID --verdict fp --scope value:host:scanner-1
  vigil feedback list --data-dir D [--output json]
  vigil feedback precision --data-dir D

Verdicts: tp (true positive), btp (benign true positive), fp (false positive),
dup (duplicate). Scopes: rule (the target's rules everywhere), entity (the
target's rules on the target's users, hosts, ...), value:KIND:VALUE (the
target's rules when a signal names that entity); none: the verdict only teaches
precision. A relative --expires counts from the target's event time (an
incident's last signal; for rules and entities, the newest stored signal), so
replays decide the same.
`

func runFeedback(ctx context.Context, env Env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stdout, strings.TrimLeft(feedbackHelp, "\n"))
		if len(args) == 0 {
			return &ExitError{Code: ExitUsage, Err: errors.New("no subcommand: want add, list or precision")}
		}
		return nil
	}
	switch args[0] {
	case "add":
		return runFeedbackAdd(ctx, env, args[1:])
	case "list":
		return runFeedbackList(ctx, env, args[1:], false)
	case "precision":
		return runFeedbackList(ctx, env, args[1:], true)
	}
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf("unknown subcommand %q: want add, list or precision", args[0])}
}

var verdictNames = map[string]store.Verdict{
	"tp": store.VerdictTruePositive, "true_positive": store.VerdictTruePositive,
	"btp": store.VerdictBenignTruePositive, "benign_true_positive": store.VerdictBenignTruePositive,
	"fp": store.VerdictFalsePositive, "false_positive": store.VerdictFalsePositive,
	"dup": store.VerdictDuplicate, "duplicate": store.VerdictDuplicate,
}

func runFeedbackAdd(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "feedback add", "", feedbackHelp)
	dataDir := fs.String("data-dir", "", "the store hunt writes (required)")
	incident := fs.String("incident", "", "the incident the verdict is about")
	signal := fs.String("signal", "", "the signal the verdict is about")
	rule := fs.String("rule", "", "the rule the verdict is about, as detector/rule (e.g. sigma/<rule id>, behavior.first_seen/first_seen.host_process)")
	entity := fs.String("entity", "", "the entity the verdict is about, as KIND:VALUE (e.g. host:scanner-1): every rule on it")
	verdict := fs.String("verdict", "", "tp, btp, fp or dup (required)")
	scope := fs.String("scope", "", "what a false-positive or benign verdict suppresses: rule, entity or value:KIND:VALUE (default: nothing, precision only)")
	expires := fs.String("expires", "", "when the suppression ends: a duration (30d, 12h) from the target's event time, or an RFC 3339 time (default: never)")
	reason := fs.String("reason", "", "why, for the audit log and the next analyst")
	author := fs.String("author", "", "who (default: cli:$USER)")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	v, ok := verdictNames[strings.ToLower(*verdict)]
	if !ok {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--verdict %q: want tp, btp, fp or dup", *verdict)}
	}
	var targets []string
	kind, id := store.TargetKind(""), ""
	for _, t := range []struct {
		k store.TargetKind
		v string
	}{{store.TargetIncident, *incident}, {store.TargetSignal, *signal}, {store.TargetRule, *rule}, {store.TargetEntity, *entity}} {
		if t.v != "" {
			targets = append(targets, string(t.k))
			kind, id = t.k, t.v
		}
	}
	if len(targets) != 1 {
		return &ExitError{Code: ExitUsage, Err: errors.New("give exactly one of --incident, --signal, --rule, --entity")}
	}
	if *dataDir == "" {
		return &ExitError{Code: ExitUsage, Err: errors.New("--data-dir is required")}
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: *dataDir})
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	defer func() { _ = st.Close() }()

	who := *author
	if who == "" {
		who = "cli"
		if u := os.Getenv("USER"); u != "" {
			who = "cli:" + u
		}
	}
	fb := store.Feedback{TargetKind: kind, TargetID: id, Verdict: v, Scope: *scope, Reason: *reason, Author: who, Created: time.Now().UTC()}
	if *expires != "" {
		base, err := targetTime(ctx, st, kind, id)
		if err != nil {
			return err
		}
		if fb.Expires, err = parseExpiry(*expires, base); err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--expires: %w", err)}
		}
	}
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s\x00%s", kind, id, v, fb.Scope, fb.Created.Format(time.RFC3339Nano)))
	fb.ID = "fb-" + hex.EncodeToString(h[:8])
	// Check that the verdict can be applied (its target exists, its scope parses)
	// before storing it.
	look := verdictLookup(ctx, st, nil)
	if err := feedback.New(feedback.Prior{}).Add(fb, look); err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	if err := st.PutFeedback(ctx, fb); err != nil {
		return fmt.Errorf("storing the verdict: %w", err)
	}
	details, err := json.Marshal(fb)
	if err != nil {
		return fmt.Errorf("encoding audit details: %w", err)
	}
	if _, err := st.AppendAudit(ctx, store.AuditEntry{Time: fb.Created, Actor: who, Action: "feedback.put", Target: string(kind) + ":" + id, Details: details}); err != nil {
		return fmt.Errorf("recording the verdict in the audit log: %w", err)
	}
	fmt.Fprintf(env.Stdout, "%s: %s on %s %s", fb.ID, fb.Verdict, kind, id)
	if fb.Scope != "" {
		fmt.Fprintf(env.Stdout, ", suppressing by %s", fb.Scope)
	}
	if !fb.Expires.IsZero() {
		fmt.Fprintf(env.Stdout, " until %s", fb.Expires.Format(time.RFC3339))
	}
	fmt.Fprintln(env.Stdout)
	return nil
}

// targetTime is the event time a relative expiry counts from.
func targetTime(ctx context.Context, st store.Store, kind store.TargetKind, id string) (time.Time, error) {
	switch kind {
	case store.TargetIncident:
		inc, err := st.GetIncident(ctx, id)
		if err != nil {
			return time.Time{}, fmt.Errorf("incident %s: %w", id, err)
		}
		return inc.LastSeen, nil
	case store.TargetSignal:
		s, err := st.GetSignal(ctx, id)
		if err != nil {
			return time.Time{}, fmt.Errorf("signal %s: %w", id, err)
		}
		return s.Time, nil
	}
	page, err := st.ListSignals(ctx, store.SignalQuery{Limit: 1})
	if err != nil {
		return time.Time{}, fmt.Errorf("finding the newest signal: %w", err)
	}
	if len(page.Items) == 0 {
		return time.Time{}, errors.New("a relative --expires needs stored signals to count from; give an RFC 3339 time")
	}
	return page.Items[0].Time, nil
}

// parseExpiry reads "30d", "12h", "90m" (from base) or an RFC 3339 time.
func parseExpiry(s string, base time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err != nil || days <= 0 || days > 3650 || fmt.Sprint(days) != n {
			return time.Time{}, fmt.Errorf("%q: want a number of days, a duration or an RFC 3339 time", s)
		}
		return base.Add(time.Duration(days) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%q: want a positive duration (30d, 12h) or an RFC 3339 time", s)
	}
	return base.Add(d), nil
}

func runFeedbackList(ctx context.Context, env Env, args []string, precision bool) error {
	name := "feedback list"
	if precision {
		name = "feedback precision"
	}
	fs := newFlagSet(env, name, "", feedbackHelp)
	dataDir := fs.String("data-dir", "", "the store hunt writes (required)")
	output := fs.String("output", "table", "table or json")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dataDir == "" {
		return &ExitError{Code: ExitUsage, Err: errors.New("--data-dir is required")}
	}
	if *output != "table" && *output != "json" {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--output %q: want table or json", *output)}
	}
	st, err := sqlite.Open(ctx, sqlite.Options{Dir: *dataDir})
	if err != nil {
		return fmt.Errorf("opening store: %w", err)
	}
	defer func() { _ = st.Close() }()
	all, err := storedVerdicts(ctx, st)
	if err != nil {
		return err
	}
	book := feedback.New(feedback.Prior{})
	look := verdictLookup(ctx, st, nil)
	unusable := 0
	for _, fb := range all {
		if err := book.Add(fb, look); err != nil {
			if unusable++; unusable <= 5 {
				fmt.Fprintf(env.Stderr, "vigil: verdict not applied: %v\n", err)
			}
		}
	}
	var posts []feedback.Posterior // null in JSON when there is no verdict, as before
	if len(all) > 0 {
		posts = book.Posteriors()
	}
	if *output == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if precision {
			return enc.Encode(posts)
		}
		return enc.Encode(all)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	if precision {
		fmt.Fprintln(tw, "RULE\tPRECISION\tTRUE POSITIVES\tFALSE OR BENIGN")
		for _, p := range posts {
			fmt.Fprintf(tw, "%s\t%.2f\t%d\t%d\n", p.Rule, p.Mean(), p.TP, p.FP)
		}
	} else {
		fmt.Fprintln(tw, "ID\tCREATED\tAUTHOR\tVERDICT\tTARGET\tSCOPE\tEXPIRES\tREASON")
		for _, f := range all {
			exp := "never"
			if !f.Expires.IsZero() {
				exp = f.Expires.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s:%s\t%s\t%s\t%s\n", f.ID, f.Created.Format(time.RFC3339), f.Author, f.Verdict,
				f.TargetKind, f.TargetID, f.Scope, exp, f.Reason)
		}
	}
	return tw.Flush()
}
