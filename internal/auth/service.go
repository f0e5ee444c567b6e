package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigilsec/vigil/internal/atomicfile"
)

// Defaults.
const (
	DefaultSessionTTL = 12 * time.Hour
	// ReloadInterval is how often, at most, the service stats users.json.
	ReloadInterval = 2 * time.Second
	// LoginFailures failed logins per LoginWindow per client address and per
	// username are allowed; more are answered 429.
	LoginFailures  = 5
	LoginWindow    = time.Minute
	maxLimiterKeys = 10_000
	maxBodySize    = 64 << 10
	tokenPrefix    = "vgl_"
	tokenBytes     = 32
)

// Options configure a Service.
type Options struct {
	// Dir holds users.json and session.key (<data-dir>/auth). Required
	// without Shared.
	Dir string
	// SessionTTL is how long a console session lasts (default 12 h).
	SessionTTL time.Duration
	// SecureCookies marks the session cookie Secure even on plain HTTP (behind a
	// TLS-terminating proxy). It is always Secure on TLS requests.
	SecureCookies bool
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Audit records logins, logouts and user and token changes. actor is the
	// principal acting (for a login, the username tried). Optional.
	Audit func(ctx context.Context, actor, action, target string, details any)
	// Logger (default: discard). Secrets are never logged.
	Logger *slog.Logger
	// Registerer for the metrics (default: none).
	Registerer prometheus.Registerer
	// Argon2 are the parameters of new password hashes (default DefaultParams).
	Argon2 Params
	// Shared, when set, holds the users, tokens and session key instead of
	// Dir's files: a cluster's nodes then share them (see Shared).
	Shared Shared
}

// Validate reports unusable options (after defaults are applied).
func (o Options) Validate() error {
	if o.Dir == "" && o.Shared == nil {
		return errors.New("auth: no directory")
	}
	if o.SessionTTL < time.Minute || o.SessionTTL > 30*24*time.Hour {
		return fmt.Errorf("auth: session TTL %s: want 1m to 720h", o.SessionTTL)
	}
	if err := o.Argon2.Validate(); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.SessionTTL == 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Argon2 == (Params{}) {
		o.Argon2 = DefaultParams
	}
	return o
}

// Service authenticates requests against the local users and tokens of
// users.json, and manages them.
type Service struct {
	opts Options
	path string
	log  *slog.Logger

	mu           sync.Mutex // guards the fields below
	file         usersFile
	info         os.FileInfo // of the file last read; nil when absent
	lastStat     time.Time
	users        map[string]*userRecord
	tokens       map[string]*tokenRecord // by SHA256
	key          []byte                  // session key, loaded at first use
	dummyHash    phcHash
	rev          int64  // with Shared: the revision installed
	installedSeq uint64 // with Shared: the read (loadSeq) installed
	reloading    bool   // with Shared: a background reload is running

	// With Shared, beside s.mu:
	wmu        sync.Mutex    // held by this node's change of the shared users
	loadSeq    atomic.Uint64 // reads of the shared users started
	loadedAt   atomic.Int64  // when a read was last installed (Now, Unix ns)
	triedAt    atomic.Int64  // when freshen last read the store
	syncing    atomic.Bool   // freshen is reading
	revokedRev atomic.Int64  // the revision of the logouts merged into revoked

	revoked  revocations
	ipLimit  *limiter
	usrLimit *limiter
	hashSem  chan struct{} // bounds concurrent argon2 work (memory)

	crossOrigin *http.CrossOriginProtection

	logins   *prometheus.CounterVec
	rejected *prometheus.CounterVec
}

// Open reads Options.Dir/users.json (absent: no users yet), creating the
// directory (0700) when needed.
func Open(opts Options) (*Service, error) {
	opts = opts.withDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", opts.Dir, err)
		}
	}
	s := &Service{
		opts:     opts,
		path:     filepath.Join(opts.Dir, UsersFile),
		log:      opts.Logger,
		revoked:  revocations{max: maxRevoked},
		ipLimit:  newLimiter(LoginFailures, LoginWindow, maxLimiterKeys),
		usrLimit: newLimiter(LoginFailures, LoginWindow, maxLimiterKeys),
		hashSem:  make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),

		crossOrigin: http.NewCrossOriginProtection(),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_auth_logins_total", Help: "Console logins by result (success, failure, rate_limited).",
		}, []string{"result"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_auth_rejected_total", Help: "Requests refused by authentication or authorisation, by reason.",
		}, []string{"reason"}),
	}
	if opts.Registerer != nil {
		var err error
		if s.logins, err = register(opts.Registerer, s.logins); err != nil {
			return nil, err
		}
		if s.rejected, err = register(opts.Registerer, s.rejected); err != nil {
			return nil, err
		}
	}
	dummy, err := hashPassword("vigil dummy password for timing", opts.Argon2)
	if err != nil {
		return nil, err
	}
	if s.dummyHash, err = parsePHC(dummy); err != nil {
		return nil, fmt.Errorf("parsing the dummy hash: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if opts.Shared != nil {
		f, rev, err := s.loadShared(context.Background())
		if err != nil {
			return nil, err
		}
		s.installShared(f, rev, s.loadSeq.Add(1))
		s.reloadRevoked(context.Background())
		// The session key too: no request then waits on the store for it.
		if s.key, err = s.sharedSessionKey(); err != nil {
			return nil, err
		}
		s.lastStat = opts.Now()
		if _, err := os.Stat(s.path); err == nil && opts.Dir != "" {
			s.log.Warn("the users file is ignored: users and tokens are the store's (vigil users and vigil tokens with --store)", "path", s.path)
		}
		return s, nil
	}
	f, info, err := readUsersFile(s.path)
	if err != nil {
		return nil, err
	}
	s.install(f, info)
	s.lastStat = opts.Now()
	if info != nil && info.Mode().Perm()&0o077 != 0 {
		s.log.Warn("users file is readable by others; chmod 600 it", "path", s.path, "mode", info.Mode().Perm().String())
	}
	return s, nil
}

func register(reg prometheus.Registerer, c *prometheus.CounterVec) (*prometheus.CounterVec, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("registering auth metrics: %w", err)
	}
	return c, nil
}

// install makes f the current state. s.mu is held.
func (s *Service) install(f usersFile, info os.FileInfo) {
	s.file, s.info = f, info
	s.users = make(map[string]*userRecord, len(f.Users))
	for i := range f.Users {
		s.users[f.Users[i].Name] = &f.Users[i]
	}
	s.tokens = make(map[string]*tokenRecord, len(f.Tokens))
	for i := range f.Tokens {
		s.tokens[f.Tokens[i].SHA256] = &f.Tokens[i]
	}
}

// refresh re-reads users.json when it changed, statting it at most every
// ReloadInterval (force: now). A file that no longer reads keeps the last good
// state, with an error logged. s.mu is held.
func (s *Service) refresh(force bool) error {
	if s.opts.Shared != nil {
		s.refreshShared() // force: the caller reloaded (reloadShared) before taking s.mu
		return nil
	}
	now := s.opts.Now()
	if !force && !now.Before(s.lastStat) && now.Sub(s.lastStat) < ReloadInterval {
		return nil
	}
	s.lastStat = now
	info, err := os.Stat(s.path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if s.info != nil {
			s.install(usersFile{Version: fileVersion}, nil)
			s.log.Warn("users file removed: no users or tokens", "path", s.path)
		}
		return nil
	case err != nil:
		s.log.Error("checking the users file", "path", s.path, "err", err)
		return fmt.Errorf("checking %s: %w", s.path, err)
	}
	if s.info != nil && os.SameFile(s.info, info) && info.ModTime().Equal(s.info.ModTime()) && info.Size() == s.info.Size() {
		return nil
	}
	f, info, err := readUsersFile(s.path)
	if err != nil {
		s.log.Error("reloading the users file; keeping the previous users and tokens", "path", s.path, "err", err)
		return err
	}
	s.install(f, info)
	s.log.Info("users file reloaded", "path", s.path, "users", len(f.Users), "tokens", len(f.Tokens))
	return nil
}

// update re-reads the file, applies change to it and writes it atomically.
func (s *Service) update(change func(f *usersFile) error) error {
	if s.opts.Shared != nil {
		return s.updateShared(change)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, _, err := readUsersFile(s.path)
	if err != nil {
		return err
	}
	f.Version = fileVersion
	if err := change(&f); err != nil {
		return err
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding users file: %w", err)
	}
	if err := atomicfile.WriteBytes(s.path, 0o600, append(data, '\n')); err != nil {
		return fmt.Errorf("writing %s: %w", s.path, err)
	}
	// Re-read what was written, so the state is exactly the file's.
	f, info, err := readUsersFile(s.path)
	if err != nil {
		return err
	}
	s.install(f, info)
	s.lastStat = s.opts.Now()
	return nil
}

// actor is who ctx says acts, for the audit log.
func actor(ctx context.Context) string {
	if p, ok := PrincipalFrom(ctx); ok && p.Name != "" {
		return p.Name
	}
	return "unknown"
}

func (s *Service) audit(ctx context.Context, actor, action, target string, details any) {
	if s.opts.Audit != nil {
		s.opts.Audit(ctx, actor, action, target, details)
	}
}

// hash runs argon2 under the concurrency bound.
func (s *Service) withHashSlot(ctx context.Context, f func()) error {
	select {
	case s.hashSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting to hash: %w", ctx.Err())
	}
	defer func() { <-s.hashSem }()
	f()
	return nil
}

func adminCount(f *usersFile) int {
	n := 0
	for _, u := range f.Users {
		if u.Role == RoleAdmin.String() {
			n++
		}
	}
	return n
}

// AddUser creates a local user. The password needs MinPasswordLen characters.
// The actor audited is PrincipalFrom(ctx).
func (s *Service) AddUser(ctx context.Context, name, password string, role Role) (User, error) {
	if err := validName("user", name); err != nil {
		return User{}, err
	}
	if err := validPassword(password); err != nil {
		return User{}, err
	}
	if _, err := ParseRole(role.String()); err != nil {
		return User{}, fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	var phc string
	var herr error
	if err := s.withHashSlot(ctx, func() { phc, herr = hashPassword(password, s.opts.Argon2) }); err != nil {
		return User{}, err
	}
	if herr != nil {
		return User{}, herr
	}
	now := s.opts.Now().UTC()
	u := User{Name: name, Role: role.String(), Created: now, Updated: now}
	err := s.update(func(f *usersFile) error {
		for _, x := range f.Users {
			if x.Name == name {
				return fmt.Errorf("user %q: %w", name, ErrExists)
			}
		}
		f.Users = append(f.Users, userRecord{User: u, PasswordHash: phc, PasswordChanged: now})
		return nil
	})
	if err != nil {
		return User{}, err
	}
	s.log.InfoContext(ctx, "user added", "user", name, "role", u.Role, "actor", actor(ctx))
	s.audit(ctx, actor(ctx), "user.add", "user:"+name, map[string]string{"role": u.Role})
	return u, nil
}

// SetPassword changes a user's password; the user's sessions end.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := validPassword(password); err != nil {
		return err
	}
	var phc string
	var herr error
	if err := s.withHashSlot(ctx, func() { phc, herr = hashPassword(password, s.opts.Argon2) }); err != nil {
		return err
	}
	if herr != nil {
		return herr
	}
	now := s.opts.Now().UTC()
	err := s.update(func(f *usersFile) error {
		for i := range f.Users {
			if f.Users[i].Name == name {
				f.Users[i].PasswordHash, f.Users[i].PasswordChanged, f.Users[i].Updated = phc, now, now
				return nil
			}
		}
		return fmt.Errorf("user %q: %w", name, ErrNotFound)
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "password changed", "user", name, "actor", actor(ctx))
	s.audit(ctx, actor(ctx), "user.password", "user:"+name, nil)
	return nil
}

// SetRole changes a user's role; it applies to the user's next request.
func (s *Service) SetRole(ctx context.Context, name string, role Role) error {
	if _, err := ParseRole(role.String()); err != nil {
		return fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	var old string
	err := s.update(func(f *usersFile) error {
		for i := range f.Users {
			if f.Users[i].Name != name {
				continue
			}
			old = f.Users[i].Role
			if old == RoleAdmin.String() && role != RoleAdmin && adminCount(f) == 1 {
				return fmt.Errorf("demoting %q: %w", name, ErrLastAdmin)
			}
			f.Users[i].Role, f.Users[i].Updated = role.String(), s.opts.Now().UTC()
			return nil
		}
		return fmt.Errorf("user %q: %w", name, ErrNotFound)
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "role changed", "user", name, "role", role.String(), "actor", actor(ctx))
	s.audit(ctx, actor(ctx), "user.role", "user:"+name, map[string]string{"from": old, "to": role.String()})
	return nil
}

// DeleteUser removes a user; the user's sessions end at once.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	err := s.update(func(f *usersFile) error {
		for i := range f.Users {
			if f.Users[i].Name != name {
				continue
			}
			if f.Users[i].Role == RoleAdmin.String() && adminCount(f) == 1 {
				return fmt.Errorf("deleting %q: %w", name, ErrLastAdmin)
			}
			f.Users = slices.Delete(f.Users, i, i+1)
			return nil
		}
		return fmt.Errorf("user %q: %w", name, ErrNotFound)
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "user deleted", "user", name, "actor", actor(ctx))
	s.audit(ctx, actor(ctx), "user.delete", "user:"+name, nil)
	return nil
}

// Users lists the users by name.
func (s *Service) Users(ctx context.Context) []User {
	if s.opts.Shared != nil {
		_ = s.reloadShared(ctx) // logged; the last good state is listed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refresh(true) // logged; the last good state is listed
	out := make([]User, 0, len(s.file.Users))
	for _, u := range s.file.Users {
		out = append(out, u.User)
	}
	slices.SortFunc(out, func(a, b User) int { return cmpString(a.Name, b.Name) })
	return out
}

// Tokens lists the tokens by name.
func (s *Service) Tokens(ctx context.Context) []Token {
	if s.opts.Shared != nil {
		_ = s.reloadShared(ctx) // logged; the last good state is listed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refresh(true)
	out := make([]Token, 0, len(s.file.Tokens))
	for _, t := range s.file.Tokens {
		out = append(out, t.Token)
	}
	slices.SortFunc(out, func(a, b Token) int { return cmpString(a.Name, b.Name) })
	return out
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TokenSpec is what CreateToken makes.
type TokenSpec struct {
	Name  string
	Role  Role   // for api tokens; ingest tokens carry it but never use it
	Scope string // ScopeAPI or ScopeIngest
	// Expires is when the token stops working (zero: never).
	Expires time.Time
}

// CreateToken makes a token and returns its secret ("vgl_" + 43 base64url
// characters), which is stored only as its SHA-256 and cannot be shown again.
func (s *Service) CreateToken(ctx context.Context, spec TokenSpec) (string, Token, error) {
	if err := validName("token", spec.Name); err != nil {
		return "", Token{}, err
	}
	if err := validScope(spec.Scope); err != nil {
		return "", Token{}, err
	}
	if spec.Role == 0 {
		spec.Role = RoleViewer
	}
	if _, err := ParseRole(spec.Role.String()); err != nil {
		return "", Token{}, fmt.Errorf("%w: %w", err, ErrInvalid)
	}
	now := s.opts.Now().UTC()
	if !spec.Expires.IsZero() && !spec.Expires.After(now) {
		return "", Token{}, fmt.Errorf("expiry %s is not in the future: %w", spec.Expires.Format(time.RFC3339), ErrInvalid)
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", Token{}, fmt.Errorf("reading random bytes: %w", err)
	}
	secret := tokenPrefix + b64url.EncodeToString(raw)
	idb := make([]byte, 8)
	if _, err := rand.Read(idb); err != nil {
		return "", Token{}, fmt.Errorf("reading random bytes: %w", err)
	}
	t := Token{ID: "tok_" + hex.EncodeToString(idb), Name: spec.Name, Role: spec.Role.String(), Scope: spec.Scope, Created: now}
	if !spec.Expires.IsZero() {
		t.Expires = spec.Expires.UTC()
	}
	err := s.update(func(f *usersFile) error {
		for _, x := range f.Tokens {
			if x.Name == spec.Name {
				return fmt.Errorf("token %q: %w", spec.Name, ErrExists)
			}
		}
		f.Tokens = append(f.Tokens, tokenRecord{Token: t, SHA256: tokenHash(secret)})
		return nil
	})
	if err != nil {
		return "", Token{}, err
	}
	s.log.InfoContext(ctx, "token created", "token_id", t.ID, "token_name", t.Name, "scope", t.Scope, "role", t.Role, "actor", actor(ctx))
	s.audit(ctx, actor(ctx), "token.create", "token:"+t.ID, t)
	return secret, t, nil
}

// RevokeToken deletes the token with this id.
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	var gone Token
	err := s.update(func(f *usersFile) error {
		for i := range f.Tokens {
			if f.Tokens[i].ID == id {
				gone = f.Tokens[i].Token
				f.Tokens = slices.Delete(f.Tokens, i, i+1)
				return nil
			}
		}
		return fmt.Errorf("token %q: %w", id, ErrNotFound)
	})
	if err != nil {
		return err
	}
	s.log.InfoContext(ctx, "token revoked", "token_id", id, "token_name", gone.Name, "actor", actor(ctx))
	s.audit(ctx, actor(ctx), "token.revoke", "token:"+id, map[string]string{"name": gone.Name, "scope": gone.Scope})
	return nil
}

func tokenHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// lookupToken finds a live token by its secret. s.mu is held.
func (s *Service) lookupToken(secret string) (*tokenRecord, string) {
	if len(secret) != len(tokenPrefix)+43 || secret[:len(tokenPrefix)] != tokenPrefix {
		return nil, "bad_token"
	}
	t, ok := s.tokens[tokenHash(secret)]
	if !ok {
		return nil, "bad_token"
	}
	if !t.Expires.IsZero() && !s.opts.Now().Before(t.Expires) {
		return nil, "token_expired"
	}
	return t, ""
}

// CheckIngestToken reports whether token is a live ingest-scope token, and its
// name. API tokens are refused.
func (s *Service) CheckIngestToken(_ context.Context, token string) (string, bool) {
	s.freshen()
	s.mu.Lock()
	_ = s.refresh(false)
	t, reason := s.lookupToken(token)
	var name, scope string
	if t != nil {
		name, scope = t.Name, t.Scope
	}
	s.mu.Unlock()
	if t == nil {
		s.rejected.WithLabelValues(reason).Inc()
		return "", false
	}
	if scope != ScopeIngest {
		s.rejected.WithLabelValues("wrong_scope").Inc()
		return "", false
	}
	return name, true
}

// sessionKey returns the session key, loading or creating it at first use.
func (s *Service) sessionKey() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key == nil {
		k, err := loadOrCreateKey(filepath.Join(s.opts.Dir, SessionKeyFile))
		if err != nil {
			return nil, err
		}
		s.key = k
	}
	return s.key, nil
}
