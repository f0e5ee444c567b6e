package app

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigilsec/vigil/internal/auth"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/store/postgres"
	"github.com/vigilsec/vigil/internal/store/sqlite"
)

const usersHelp = `
Manage the local users who sign in to the console of vigil serve. Users live
in DATA-DIR/auth/users.json (mode 0600); a running server picks changes up
within 2 seconds. Roles: viewer (reads), analyst (also verdicts and incident
changes), admin (also users, tokens and the audit log).

  vigil users add --data-dir D --name alice --role analyst [--password-stdin]
  vigil users list --data-dir D [--output json]
  vigil users passwd --data-dir D --name alice [--password-stdin]
  vigil users role --data-dir D --name alice --role admin
  vigil users del --data-dir D --name alice

Passwords need at least 12 characters. With --password-stdin the password is
the first line of stdin (echo "$PW" | vigil users add ... --password-stdin).
Without it, on a terminal, the password is asked twice; it is read as a plain
line, so it IS echoed: prefer --password-stdin from a password manager. A
password change ends the user's sessions; deleting a user ends them at once.
The last admin cannot be deleted or demoted. When DATA-DIR holds a store, every
change is recorded in its audit log (actor cli:$USER).

A cluster (serve --store postgres://...) keeps its users in the store, shared
by every node: give --store with the same URL instead of --data-dir (the
password may come from PGPASSWORD); the change is audited in the store.
`

//nolint:gosec // G101: help text that names the token format; no credential in it
const tokensHelp = `
Manage API and ingest tokens. A token is shown once, when it is created, and
stored only as its SHA-256 in DATA-DIR/auth/users.json.

  vigil tokens create --data-dir D --name fluent-bit --scope ingest [--expires 90d]
  vigil tokens create --data-dir D --name grafana --scope api --role viewer
  vigil tokens list --data-dir D [--output json]
  vigil tokens revoke --data-dir D --id tok_...

Scopes: api tokens call the REST API with their role (Authorization: Bearer
vgl_...) and cannot ingest; ingest tokens only send logs to the ingest
listener and cannot call the API. create prints the token alone on stdout
(TOKEN=$(vigil tokens create ...)) and what it is on stderr. When DATA-DIR holds
a store, every change is recorded in its audit log (actor cli:$USER). A
cluster's tokens are in its store: --store postgres://... instead of --data-dir.
`

func runUsers(ctx context.Context, env Env, args []string) error {
	return runSub(ctx, env, args, usersHelp, map[string]func(context.Context, Env, []string) error{
		"add": runUsersAdd, "list": runUsersList, "passwd": runUsersPasswd, "role": runUsersRole, "del": runUsersDel,
	}, "add, list, passwd, role or del")
}

func runTokens(ctx context.Context, env Env, args []string) error {
	return runSub(ctx, env, args, tokensHelp, map[string]func(context.Context, Env, []string) error{
		"create": runTokensCreate, "list": runTokensList, "revoke": runTokensRevoke,
	}, "create, list or revoke")
}

func runSub(ctx context.Context, env Env, args []string, help string, subs map[string]func(context.Context, Env, []string) error, want string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(env.Stdout, strings.TrimLeft(help, "\n"))
		if len(args) == 0 {
			return &ExitError{Code: ExitUsage, Err: errors.New("no subcommand: want " + want)}
		}
		return nil
	}
	if run, ok := subs[args[0]]; ok {
		return run(ctx, env, args[1:])
	}
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf("unknown subcommand %q: want %s", args[0], want)}
}

// authSession is an opened auth service for one CLI command, auditing into the
// data directory's store when there is one.
type authSession struct {
	svc      *auth.Service
	st       store.Store
	ctx      context.Context // carries the CLI principal (the audit actor)
	auditErr error
}

func cliActor() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

// authTarget is where the users and tokens are: a data directory's file, or
// a cluster's store.
type authTarget struct{ dataDir, storeURL *string }

func authFlags(fs *flag.FlagSet) authTarget {
	return authTarget{
		dataDir:  fs.String("data-dir", "", "the data directory (required without --store)"),
		storeURL: fs.String("store", "", "a cluster's store, postgres://user@host/db: the users and tokens every node shares (as serve --store)"),
	}
}

func openAuth(ctx context.Context, where authTarget) (*authSession, error) {
	dataDir, storeURL := *where.dataDir, *where.storeURL
	if dataDir == "" && storeURL == "" {
		return nil, &ExitError{Code: ExitUsage, Err: errors.New("--data-dir or --store is required")}
	}
	if err := checkStoreURL(storeURL); err != nil {
		return nil, &ExitError{Code: ExitUsage, Err: err}
	}
	a := &authSession{ctx: auth.WithPrincipal(ctx, auth.Principal{Name: cliActor(), Method: "cli"})}
	switch {
	case storeURL != "":
		st, err := postgres.Open(ctx, postgres.Options{URL: storeURL})
		if err != nil {
			return nil, err // names no password
		}
		a.st = st
	default:
		if _, err := os.Stat(filepath.Join(dataDir, sqlite.FileName)); err == nil {
			st, err := sqlite.Open(ctx, sqlite.Options{Dir: dataDir})
			if err != nil {
				return nil, fmt.Errorf("opening store: %w", err)
			}
			a.st = st
		}
	}
	opts := auth.Options{Audit: a.audit, Shared: sharedAuth(storeURL, a.st)}
	if storeURL == "" {
		opts.Dir = filepath.Join(dataDir, "auth")
	}
	svc, err := auth.Open(opts)
	if err != nil {
		a.close()
		return nil, fmt.Errorf("opening users: %w", err)
	}
	a.svc = svc
	return a, nil
}

func (a *authSession) audit(ctx context.Context, actor, action, target string, details any) {
	if a.st == nil {
		return
	}
	var raw json.RawMessage
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil {
			a.auditErr = errors.Join(a.auditErr, fmt.Errorf("encoding audit details: %w", err))
			return
		}
		raw = b
	}
	if _, err := a.st.AppendAudit(ctx, store.AuditEntry{Time: time.Now().UTC(), Actor: actor, Action: action, Target: target, Details: raw}); err != nil {
		a.auditErr = errors.Join(a.auditErr, fmt.Errorf("recording %s in the audit log: %w", action, err))
	}
}

// done reports an audit failure after the change it was about was made.
func (a *authSession) done() error {
	a.close()
	if a.auditErr != nil {
		return fmt.Errorf("the change was made but not audited: %w", a.auditErr)
	}
	return nil
}

func (a *authSession) close() {
	if a.st != nil {
		_ = a.st.Close()
		a.st = nil
	}
}

// authError maps a management error to an exit code.
func authError(err error) error {
	if errors.Is(err, auth.ErrInvalid) {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	return err
}

// nameArg returns --name, or the one positional argument.
func nameArg(flagName string, pos []string, what string) (string, error) {
	switch {
	case flagName != "" && len(pos) == 0:
		return flagName, nil
	case flagName == "" && len(pos) == 1:
		return pos[0], nil
	}
	return "", &ExitError{Code: ExitUsage, Err: fmt.Errorf("give one %s (--name)", what)}
}

// readPassword reads the new password: the first line of stdin with
// --password-stdin, else twice from a terminal.
func readPassword(env Env, fromStdin bool) (string, error) {
	if env.Stdin == nil {
		return "", &ExitError{Code: ExitUsage, Err: errors.New("no password: give it on stdin with --password-stdin")}
	}
	in := bufio.NewReader(io.LimitReader(env.Stdin, 4*auth.MaxPasswordLen))
	if fromStdin {
		return readLine(in)
	}
	f, ok := env.Stdin.(*os.File)
	if !ok || !IsTerminal(f) {
		return "", &ExitError{Code: ExitUsage, Err: errors.New("no password: stdin is not a terminal; give it with --password-stdin")}
	}
	fmt.Fprint(env.Stderr, "Password (echoed): ")
	p1, err := readLine(in)
	if err != nil {
		return "", err
	}
	fmt.Fprint(env.Stderr, "Again: ")
	p2, err := readLine(in)
	if err != nil {
		return "", err
	}
	if p1 != p2 {
		return "", &ExitError{Code: ExitUsage, Err: errors.New("the passwords differ")}
	}
	return p1, nil
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", &ExitError{Code: ExitUsage, Err: errors.New("empty password")}
	}
	return line, nil
}

func parseRoleFlag(s string) (auth.Role, error) {
	r, err := auth.ParseRole(s)
	if err != nil {
		return 0, &ExitError{Code: ExitUsage, Err: fmt.Errorf("--role: %w", err)}
	}
	return r, nil
}

func runUsersAdd(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "users add", "", usersHelp)
	where := authFlags(fs)
	name := fs.String("name", "", "the user's name: letters, digits and . _ @ - (required)")
	role := fs.String("role", "", "viewer, analyst or admin (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	n, err := nameArg(*name, pos, "user name")
	if err != nil {
		return err
	}
	r, err := parseRoleFlag(*role)
	if err != nil {
		return err
	}
	a, err := openAuth(ctx, where)
	if err != nil {
		return err
	}
	defer a.close()
	pw, err := readPassword(env, *fromStdin)
	if err != nil {
		return err
	}
	u, err := a.svc.AddUser(a.ctx, n, pw, r)
	if err != nil {
		return authError(err)
	}
	fmt.Fprintf(env.Stdout, "user %s added with role %s\n", u.Name, u.Role)
	return a.done()
}

func runUsersPasswd(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "users passwd", "", usersHelp)
	where := authFlags(fs)
	name := fs.String("name", "", "the user (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the new password from the first line of stdin")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	n, err := nameArg(*name, pos, "user name")
	if err != nil {
		return err
	}
	a, err := openAuth(ctx, where)
	if err != nil {
		return err
	}
	defer a.close()
	pw, err := readPassword(env, *fromStdin)
	if err != nil {
		return err
	}
	if err := a.svc.SetPassword(a.ctx, n, pw); err != nil {
		return authError(err)
	}
	fmt.Fprintf(env.Stdout, "password of %s changed; their sessions have ended\n", n)
	return a.done()
}

func runUsersRole(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "users role", "", usersHelp)
	where := authFlags(fs)
	name := fs.String("name", "", "the user (required)")
	role := fs.String("role", "", "viewer, analyst or admin (required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	n, err := nameArg(*name, pos, "user name")
	if err != nil {
		return err
	}
	r, err := parseRoleFlag(*role)
	if err != nil {
		return err
	}
	a, err := openAuth(ctx, where)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.svc.SetRole(a.ctx, n, r); err != nil {
		return authError(err)
	}
	fmt.Fprintf(env.Stdout, "%s is now %s\n", n, r)
	return a.done()
}

func runUsersDel(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "users del", "", usersHelp)
	where := authFlags(fs)
	name := fs.String("name", "", "the user (required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	n, err := nameArg(*name, pos, "user name")
	if err != nil {
		return err
	}
	a, err := openAuth(ctx, where)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.svc.DeleteUser(a.ctx, n); err != nil {
		return authError(err)
	}
	fmt.Fprintf(env.Stdout, "user %s deleted\n", n)
	return a.done()
}

func outputFlag(s string) error {
	if s != "table" && s != "json" {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--output %q: want table or json", s)}
	}
	return nil
}

func runUsersList(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "users list", "", usersHelp)
	where := authFlags(fs)
	output := fs.String("output", "table", "table or json")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := outputFlag(*output); err != nil {
		return err
	}
	a, err := openAuth(ctx, where)
	if err != nil {
		return err
	}
	defer a.close()
	users := a.svc.Users(a.ctx)
	if *output == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(users)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tUPDATED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", u.Name, u.Role, u.Created.Format(time.RFC3339), u.Updated.Format(time.RFC3339))
	}
	return tw.Flush()
}

func runTokensCreate(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "tokens create", "", tokensHelp)
	where := authFlags(fs)
	name := fs.String("name", "", "the token's name, unique: letters, digits and . _ @ - (required)")
	scope := fs.String("scope", "", "api (REST API) or ingest (log ingestion only) (required)")
	role := fs.String("role", "viewer", "the role of an api token: viewer, analyst or admin")
	expires := fs.String("expires", "", "when it stops working: days (90d) or a duration (12h) from now, or an RFC 3339 time (default: never)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	n, err := nameArg(*name, pos, "token name")
	if err != nil {
		return err
	}
	r, err := parseRoleFlag(*role)
	if err != nil {
		return err
	}
	spec := auth.TokenSpec{Name: n, Role: r, Scope: *scope}
	if *expires != "" {
		if spec.Expires, err = auth.ParseExpiry(*expires, time.Now()); err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--expires: %w", err)}
		}
	}
	a, err := openAuth(ctx, where)
	if err != nil {
		return err
	}
	defer a.close()
	secret, t, err := a.svc.CreateToken(a.ctx, spec)
	if err != nil {
		return authError(err)
	}
	fmt.Fprintln(env.Stdout, secret)
	exp := "never expires"
	if !t.Expires.IsZero() {
		exp = "expires " + t.Expires.Format(time.RFC3339)
	}
	fmt.Fprintf(env.Stderr, "token %s (%s, scope %s, role %s, %s): shown once, keep it now\n", t.ID, t.Name, t.Scope, t.Role, exp)
	return a.done()
}

func runTokensList(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "tokens list", "", tokensHelp)
	where := authFlags(fs)
	output := fs.String("output", "table", "table or json")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := outputFlag(*output); err != nil {
		return err
	}
	a, err := openAuth(ctx, where)
	if err != nil {
		return err
	}
	defer a.close()
	tokens := a.svc.Tokens(a.ctx)
	if *output == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(tokens)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSCOPE\tROLE\tCREATED\tEXPIRES")
	now := time.Now()
	for _, t := range tokens {
		exp := "never"
		if !t.Expires.IsZero() {
			exp = t.Expires.Format(time.RFC3339)
			if !now.Before(t.Expires) {
				exp += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Scope, t.Role, t.Created.Format(time.RFC3339), exp)
	}
	return tw.Flush()
}

func runTokensRevoke(ctx context.Context, env Env, args []string) error {
	fs := newFlagSet(env, "tokens revoke", "", tokensHelp)
	where := authFlags(fs)
	id := fs.String("id", "", "the token's id, as tokens list shows it (required)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	tid, err := nameArg(*id, pos, "token id (--id)")
	if err != nil {
		return err
	}
	a, err := openAuth(ctx, where)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.svc.RevokeToken(a.ctx, tid); err != nil {
		return authError(err)
	}
	fmt.Fprintf(env.Stdout, "token %s revoked\n", tid)
	return a.done()
}
