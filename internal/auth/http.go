package auth

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// CSRFHeader carries a session's CSRF token on unsafe requests.
const CSRFHeader = "X-CSRF-Token"

// authError is why a request is refused.
type authError struct {
	status int
	code   string
	reason string // the vigil_auth_rejected_total label
	msg    string
}

func (e *authError) Error() string { return e.msg }
func (e *authError) Unwrap() error {
	if e.status == http.StatusUnauthorized {
		return ErrUnauthenticated
	}
	return nil
}

func unauthorized(reason string) *authError {
	return &authError{status: http.StatusUnauthorized, code: CodeUnauthorized, reason: reason, msg: "authentication required"}
}

// authn is an authenticated request.
type authn struct {
	p   Principal
	sid string // session id, for sessions
	exp int64
}

// Authenticate identifies the request's principal from its bearer token
// (api-scope) or, without an Authorization header, its session cookie. The
// error wraps ErrUnauthenticated when there are no valid credentials. It does
// not check CSRF or roles: Require does.
func (s *Service) Authenticate(r *http.Request) (Principal, error) {
	a, err := s.authenticate(r)
	if err != nil {
		return Principal{}, err
	}
	return a.p, nil
}

func (s *Service) authenticate(r *http.Request) (authn, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return authn{}, unauthorized("bad_authorization")
		}
		return s.authenticateToken(strings.TrimSpace(tok))
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return authn{}, unauthorized("no_credentials")
	}
	return s.authenticateSession(c.Value)
}

func (s *Service) authenticateToken(secret string) (authn, error) {
	s.freshen()
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refresh(false)
	t, reason := s.lookupToken(secret)
	if t == nil {
		return authn{}, unauthorized(reason)
	}
	if t.Scope != ScopeAPI {
		return authn{}, &authError{status: http.StatusForbidden, code: CodeForbidden, reason: "wrong_scope", msg: "an " + t.Scope + " token cannot call the API"}
	}
	role, err := ParseRole(t.Role)
	if err != nil {
		return authn{}, unauthorized("bad_token")
	}
	return authn{p: Principal{Name: "token:" + t.Name, Role: role, Method: "token"}}, nil
}

func (s *Service) authenticateSession(cookie string) (authn, error) {
	key, err := s.sessionKey()
	if err != nil {
		s.log.Error("loading the session key", "err", err)
		return authn{}, unauthorized("internal")
	}
	ss, err := parseSession(key, cookie)
	if err != nil {
		return authn{}, unauthorized("bad_session")
	}
	now := s.opts.Now().Unix()
	if now >= ss.Expires {
		return authn{}, unauthorized("session_expired")
	}
	s.freshen()
	if s.revoked.revoked(ss.ID) {
		return authn{}, unauthorized("session_revoked")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.refresh(false)
	u, ok := s.users[ss.User]
	if !ok {
		return authn{}, unauthorized("unknown_user")
	}
	if ss.Issued < u.PasswordChanged.Unix() {
		return authn{}, unauthorized("password_changed")
	}
	role, err := ParseRole(u.Role) // the current role, not the one at login
	if err != nil {
		return authn{}, unauthorized("unknown_user")
	}
	return authn{p: Principal{Name: u.Name, Role: role, Method: "session"}, sid: ss.ID, exp: ss.Expires}, nil
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// checkCSRF refuses an unsafe session request without the session's CSRF
// token, or sent cross-site (Sec-Fetch-Site, else Origin against Host).
func (s *Service) checkCSRF(r *http.Request, a authn) *authError {
	if !unsafeMethod(r.Method) {
		return nil
	}
	if err := s.crossOrigin.Check(r); err != nil {
		return &authError{status: http.StatusForbidden, code: CodeCSRF, reason: "cross_origin", msg: "cross-origin request refused"}
	}
	key, err := s.sessionKey()
	if err != nil {
		return &authError{status: http.StatusForbidden, code: CodeCSRF, reason: "csrf", msg: "missing or wrong " + CSRFHeader}
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" || !hmac.Equal([]byte(got), []byte(csrfToken(key, a.sid))) {
		return &authError{status: http.StatusForbidden, code: CodeCSRF, reason: "csrf", msg: "missing or wrong " + CSRFHeader}
	}
	return nil
}

type sessionIDKey struct{}

// Require returns middleware that lets through requests of principals with at
// least role min: it authenticates (session cookie or api-scope bearer token),
// checks CSRF on unsafe session requests, checks the role, and puts the
// Principal in the request's context. Refusals are 401 unauthorized, 403 csrf
// or 403 forbidden.
func (s *Service) Require(min Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a, err := s.authenticate(r)
			if err == nil && a.p.Method == "session" {
				if ce := s.checkCSRF(r, a); ce != nil {
					err = ce
				}
			}
			if err == nil && !a.p.Role.Allows(min) {
				err = &authError{status: http.StatusForbidden, code: CodeForbidden, reason: "forbidden", msg: "this needs the " + min.String() + " role"}
			}
			if err != nil {
				s.refuse(w, r, err)
				return
			}
			ctx := WithPrincipal(r.Context(), a.p)
			if a.sid != "" {
				ctx = context.WithValue(ctx, sessionIDKey{}, a)
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

func (s *Service) refuse(w http.ResponseWriter, r *http.Request, err error) {
	var ae *authError
	if !errors.As(err, &ae) {
		ae = unauthorized("internal")
	}
	s.rejected.WithLabelValues(ae.reason).Inc()
	s.log.DebugContext(r.Context(), "request refused", "method", r.Method, "path", r.URL.Path, "reason", ae.reason, "client", clientKey(r))
	if ae.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
	}
	WriteError(w, ae.status, ae.code, ae.msg)
}

// Routes registers the login, logout, session, users and tokens routes.
func (s *Service) Routes(mux *http.ServeMux) {
	admin := s.Require(RoleAdmin)
	viewer := s.Require(RoleViewer)
	mux.HandleFunc("POST /api/v1/login", s.handleLogin)
	mux.Handle("POST /api/v1/logout", viewer(http.HandlerFunc(s.handleLogout)))
	mux.Handle("GET /api/v1/session", viewer(http.HandlerFunc(s.handleSession)))
	mux.Handle("GET /api/v1/users", admin(http.HandlerFunc(s.handleListUsers)))
	mux.Handle("POST /api/v1/users", admin(http.HandlerFunc(s.handleAddUser)))
	mux.Handle("PATCH /api/v1/users/{name}", admin(http.HandlerFunc(s.handlePatchUser)))
	mux.Handle("DELETE /api/v1/users/{name}", admin(http.HandlerFunc(s.handleDeleteUser)))
	mux.Handle("GET /api/v1/tokens", admin(http.HandlerFunc(s.handleListTokens)))
	mux.Handle("POST /api/v1/tokens", admin(http.HandlerFunc(s.handleCreateToken)))
	mux.Handle("DELETE /api/v1/tokens/{id}", admin(http.HandlerFunc(s.handleRevokeToken)))
}

// decodeBody reads one bounded, strict JSON document.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodySize))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = errors.New("data after the JSON document")
		}
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, fmt.Sprintf("body larger than %d bytes", maxBodySize))
			return false
		}
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "decoding request body: "+err.Error())
		return false
	}
	return true
}

type sessionInfo struct {
	User      string `json:"user"`
	Role      string `json:"role"`
	CSRFToken string `json:"csrf_token"`
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := s.crossOrigin.Check(r); err != nil {
		s.refuse(w, r, &authError{status: http.StatusForbidden, code: CodeCSRF, reason: "cross_origin", msg: "cross-origin request refused"})
		return
	}
	var req loginRequest
	if !decodeBody(w, r, &req) {
		return
	}
	ctx := r.Context()
	now := s.opts.Now()
	ipKey := clientKey(r)
	userKey := "user:" + req.Username
	if validName("user", req.Username) != nil {
		userKey = "user:(invalid)"
	}
	if wait := max(s.ipLimit.wait(ipKey, now), s.usrLimit.wait(userKey, now)); wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		s.logins.WithLabelValues("rate_limited").Inc()
		s.log.WarnContext(ctx, "login rate limited", "user", safeName(req.Username), "client", ipKey, "retry_after_s", secs)
		s.audit(ctx, safeName(req.Username), "auth.login_failed", "user:"+safeName(req.Username), map[string]string{"reason": "rate_limited", "client": ipKey})
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		WriteError(w, http.StatusTooManyRequests, CodeRateLimited, "too many failed logins; retry after "+strconv.Itoa(secs)+" s")
		return
	}

	s.freshen()
	s.mu.Lock()
	_ = s.refresh(false)
	var (
		rec  userRecord
		have bool
	)
	if u, ok := s.users[req.Username]; ok {
		rec, have = *u, true
	}
	s.mu.Unlock()
	h := s.dummyHash
	if have {
		parsed, err := parsePHC(rec.PasswordHash)
		if err != nil { // checked when the file was read; never expected
			have = false
		} else {
			h = parsed
		}
	}
	var ok bool
	if len(req.Password) > MaxPasswordLen {
		req.Password = req.Password[:MaxPasswordLen] // still hashed: same timing; cannot match a valid password
		have = false
	}
	if err := s.withHashSlot(ctx, func() { ok = h.verify(req.Password) }); err != nil {
		WriteError(w, http.StatusServiceUnavailable, CodeOverloaded, "login overloaded")
		return
	}
	ok = ok && have
	if !ok {
		s.ipLimit.fail(ipKey, now)
		s.usrLimit.fail(userKey, now)
		s.logins.WithLabelValues("failure").Inc()
		s.log.InfoContext(ctx, "login failed", "user", safeName(req.Username), "client", ipKey)
		s.audit(ctx, safeName(req.Username), "auth.login_failed", "user:"+safeName(req.Username), map[string]string{"reason": "bad_credentials", "client": ipKey})
		WriteError(w, http.StatusUnauthorized, CodeUnauthorized, "invalid username or password")
		return
	}
	key, err := s.sessionKey()
	if err != nil {
		s.log.ErrorContext(ctx, "loading the session key", "err", err)
		WriteError(w, http.StatusInternalServerError, CodeInternal, "internal error")
		return
	}
	sid, err := newRandomID(sessionIDLen)
	if err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternal, "internal error")
		return
	}
	exp := now.Add(s.opts.SessionTTL)
	cookie, err := signSession(key, session{User: rec.Name, Role: rec.Role, Issued: now.Unix(), Expires: exp.Unix(), ID: sid})
	if err != nil {
		WriteError(w, http.StatusInternalServerError, CodeInternal, "internal error")
		return
	}
	// Secure on TLS requests, or always with SecureCookies; plain HTTP (loopback) needs the cookie too.
	http.SetCookie(w, &http.Cookie{ //nolint:gosec // G124: Secure is set per request, see above
		Name: SessionCookie, Value: cookie, Path: "/", Expires: exp, MaxAge: int(s.opts.SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || s.opts.SecureCookies,
	})
	if h.Params != s.opts.Argon2 {
		s.rehash(ctx, rec, req.Password)
	}
	s.logins.WithLabelValues("success").Inc()
	s.log.InfoContext(ctx, "login", "user", rec.Name, "role", rec.Role, "client", ipKey)
	s.audit(ctx, rec.Name, "auth.login", "user:"+rec.Name, map[string]string{"client": ipKey})
	writeJSON(w, http.StatusOK, sessionInfo{User: rec.Name, Role: rec.Role, CSRFToken: csrfToken(key, sid)})
}

// rehash replaces a user's password hash made with other argon2 parameters
// than the configured ones, at a successful login (the only time the password
// is known). The user's sessions go on. A failure is logged; the login stands.
func (s *Service) rehash(ctx context.Context, rec userRecord, password string) {
	var phc string
	var herr error
	if err := s.withHashSlot(ctx, func() { phc, herr = hashPassword(password, s.opts.Argon2) }); err != nil || herr != nil {
		s.log.WarnContext(ctx, "re-hashing a password with the configured parameters", "user", rec.Name, "err", errors.Join(err, herr))
		return
	}
	err := s.update(func(f *usersFile) error {
		for i := range f.Users {
			if f.Users[i].Name == rec.Name && f.Users[i].PasswordHash == rec.PasswordHash {
				f.Users[i].PasswordHash = phc
			}
		}
		return nil
	})
	if err != nil {
		s.log.WarnContext(ctx, "re-hashing a password with the configured parameters", "user", rec.Name, "err", err)
		return
	}
	s.log.InfoContext(ctx, "password re-hashed with the configured argon2 parameters", "user", rec.Name)
}

// safeName is a username fit for logs and the audit log: invalid ones (which
// could be a password typed in the wrong field, or control characters) are not
// repeated.
func safeName(s string) string {
	if validName("user", s) != nil {
		return "(invalid)"
	}
	return s
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	if a, ok := r.Context().Value(sessionIDKey{}).(authn); ok {
		s.revoked.revoke(a.sid, a.exp, s.opts.Now().Unix())
		if s.opts.Shared != nil {
			// the other nodes refuse the session once they reload (2 s)
			if err := s.revokeShared(r.Context(), a.sid, a.exp); err != nil {
				s.log.ErrorContext(r.Context(), "recording a logout for the other nodes; this node refuses the session", "err", err)
			}
		}
		p, _ := PrincipalFrom(r.Context())
		s.log.InfoContext(r.Context(), "logout", "user", p.Name)
		s.audit(r.Context(), p.Name, "auth.logout", "user:"+p.Name, nil)
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, //nolint:gosec // G124: Secure is set per request as at login
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || s.opts.SecureCookies})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleSession(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	info := sessionInfo{User: p.Name, Role: p.Role.String()}
	if a, ok := r.Context().Value(sessionIDKey{}).(authn); ok {
		key, err := s.sessionKey()
		if err != nil {
			WriteError(w, http.StatusInternalServerError, CodeInternal, "internal error")
			return
		}
		info.CSRFToken = csrfToken(key, a.sid)
	}
	writeJSON(w, http.StatusOK, info)
}

type list[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

func (s *Service) handleListUsers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, list[User]{Items: s.Users(r.Context())})
}

type userRequest struct {
	Name     string  `json:"name"`
	Password *string `json:"password"`
	Role     *string `json:"role"`
}

func (s *Service) handleAddUser(w http.ResponseWriter, r *http.Request) {
	var req userRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Password == nil || req.Role == nil {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "name, password and role are required")
		return
	}
	role, err := ParseRole(*req.Role)
	if err != nil {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
		return
	}
	u, err := s.AddUser(r.Context(), req.Name, *req.Password, role)
	if err != nil {
		writeManagementError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, u)
}

func (s *Service) handlePatchUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var req userRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if (req.Password == nil && req.Role == nil) || (req.Name != "" && req.Name != name) {
		WriteError(w, http.StatusBadRequest, CodeBadRequest, "give role or password (a user cannot be renamed)")
		return
	}
	var role Role
	if req.Role != nil {
		var err error
		if role, err = ParseRole(*req.Role); err != nil {
			WriteError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
			return
		}
	}
	if req.Password != nil {
		if err := validPassword(*req.Password); err != nil {
			writeManagementError(w, err)
			return
		}
	}
	if req.Role != nil {
		if err := s.SetRole(r.Context(), name, role); err != nil {
			writeManagementError(w, err)
			return
		}
	}
	if req.Password != nil {
		if err := s.SetPassword(r.Context(), name, *req.Password); err != nil {
			writeManagementError(w, err)
			return
		}
	}
	for _, u := range s.Users(r.Context()) {
		if u.Name == name {
			writeJSON(w, http.StatusOK, u)
			return
		}
	}
	WriteError(w, http.StatusNotFound, CodeNotFound, "user "+strconv.Quote(name)+" not found")
}

func (s *Service) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	if err := s.DeleteUser(r.Context(), r.PathValue("name")); err != nil {
		writeManagementError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleListTokens(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, list[Token]{Items: s.Tokens(r.Context())})
}

type tokenRequest struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Scope   string `json:"scope"`
	Expires string `json:"expires"`
}

type createdToken struct {
	Token
	Secret string `json:"token"`
}

func (s *Service) handleCreateToken(w http.ResponseWriter, r *http.Request) {
	var req tokenRequest
	if !decodeBody(w, r, &req) {
		return
	}
	spec := TokenSpec{Name: req.Name, Scope: req.Scope, Role: RoleViewer}
	if req.Role != "" {
		var err error
		if spec.Role, err = ParseRole(req.Role); err != nil {
			WriteError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
			return
		}
	}
	if req.Expires != "" {
		var err error
		if spec.Expires, err = ParseExpiry(req.Expires, s.opts.Now()); err != nil {
			WriteError(w, http.StatusBadRequest, CodeBadRequest, "expires: "+err.Error())
			return
		}
	}
	secret, t, err := s.CreateToken(r.Context(), spec)
	if err != nil {
		writeManagementError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, createdToken{Token: t, Secret: secret})
}

func (s *Service) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	if err := s.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		writeManagementError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ParseExpiry reads a token expiry: a number of days ("90d") or a Go duration
// ("12h") from now, or an RFC 3339 time.
func ParseExpiry(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 || days > 3650 || strconv.Itoa(days) != n {
			return time.Time{}, fmt.Errorf("%q: want a number of days (1 to 3650), a duration or an RFC 3339 time", s)
		}
		return now.Add(time.Duration(days) * 24 * time.Hour).UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, fmt.Errorf("%q: want a positive duration (90d, 12h) or an RFC 3339 time", s)
	}
	return now.Add(d).UTC(), nil
}

// SecureHeaders sets the console's security headers on every response: a
// strict Content-Security-Policy, nosniff, no referrer, no framing, an isolated
// opener, and HSTS when served over TLS.
func SecureHeaders(next http.Handler, tls bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if tls {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}
