package app

import (
	"context"
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
	if _, err := feedback.ParseVerdict(*verdict); err != nil {
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
	req := feedback.Request{TargetKind: kind, TargetID: id, Verdict: *verdict, Scope: *scope, Reason: *reason, Expires: *expires}
	fb, err := feedback.Record(ctx, st, req, who, time.Now())
	if err != nil {
		if feedback.IsRequestError(err) {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		return err
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
