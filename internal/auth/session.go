package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// SessionCookie is the console's session cookie.
const SessionCookie = "vigil_session"

const (
	sessionKeyLen    = 32
	maxCookieLen     = 1024
	maxRevoked       = 100_000
	sessionIDLen     = 16
	cookieVersionTag = "v1"
)

var b64url = base64.RawURLEncoding.Strict()

// session is what the cookie carries, signed.
type session struct {
	User    string `json:"u"`
	Role    string `json:"r"`
	Issued  int64  `json:"iat"` // Unix seconds
	Expires int64  `json:"exp"` // Unix seconds
	ID      string `json:"sid"`
}

var errCookie = errors.New("invalid session cookie")

// signSession encodes s as "v1.<payload>.<mac>", base64url without padding;
// the MAC is HMAC-SHA256 over "v1.<payload>".
func signSession(key []byte, s session) (string, error) {
	payload, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encoding session: %w", err)
	}
	signed := cookieVersionTag + "." + b64url.EncodeToString(payload)
	return signed + "." + b64url.EncodeToString(macOf(key, signed)), nil
}

func macOf(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// parseSession verifies the cookie's MAC (before looking at the payload) and
// decodes it. It does not check expiry or revocation.
func parseSession(key []byte, cookie string) (session, error) {
	if len(cookie) > maxCookieLen {
		return session{}, fmt.Errorf("%w: longer than %d bytes", errCookie, maxCookieLen)
	}
	i := strings.LastIndexByte(cookie, '.')
	if i < 0 {
		return session{}, fmt.Errorf("%w: no signature", errCookie)
	}
	signed, macText := cookie[:i], cookie[i+1:]
	mac, err := b64url.DecodeString(macText)
	if err != nil || len(mac) != sha256.Size {
		return session{}, fmt.Errorf("%w: malformed signature", errCookie)
	}
	if !hmac.Equal(mac, macOf(key, signed)) {
		return session{}, fmt.Errorf("%w: bad signature", errCookie)
	}
	payloadText, ok := strings.CutPrefix(signed, cookieVersionTag+".")
	if !ok {
		return session{}, fmt.Errorf("%w: unknown version", errCookie)
	}
	payload, err := b64url.DecodeString(payloadText)
	if err != nil {
		return session{}, fmt.Errorf("%w: malformed payload", errCookie)
	}
	var s session
	if err := json.Unmarshal(payload, &s); err != nil {
		return session{}, fmt.Errorf("%w: decoding payload: %w", errCookie, err)
	}
	if s.User == "" || s.ID == "" || s.Expires <= s.Issued {
		return session{}, fmt.Errorf("%w: incomplete payload", errCookie)
	}
	return s, nil
}

// csrfToken is the token a session's unsafe requests must carry:
// base64url(HMAC(key, "csrf" + session id)).
func csrfToken(key []byte, sid string) string {
	return b64url.EncodeToString(macOf(key, "csrf"+sid))
}

func newRandomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	return b64url.EncodeToString(b), nil
}

// loadOrCreateKey reads the 32-byte key at path, creating it (0600) when
// absent. Creation writes a temporary file and links it into place, so two
// processes starting together agree on one key and a crash leaves no short key.
func loadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key = make([]byte, sessionKeyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("reading random bytes: %w", err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(path), ".session.key.*.tmp")
		if err != nil {
			return nil, fmt.Errorf("creating session key: %w", err)
		}
		defer func() { _ = os.Remove(tmp.Name()) }() // the key is linked into place or abandoned
		_, werr := tmp.Write(key)
		if werr == nil {
			werr = tmp.Chmod(0o600)
		}
		if werr == nil {
			werr = tmp.Sync()
		}
		if cerr := tmp.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return nil, fmt.Errorf("writing session key: %w", werr)
		}
		if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("installing session key %s: %w", path, err)
		}
		key, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading session key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("reading session key: %w", err)
	}
	if len(key) != sessionKeyLen {
		return nil, fmt.Errorf("session key %s has %d bytes, want %d (delete it to make a new one; sessions end)", path, len(key), sessionKeyLen)
	}
	return key, nil
}

// revocations holds the ids of sessions logged out before they expire. It is
// in memory: a restart forgets it (the sessions' own expiry still applies).
// It holds at most maxRevoked ids; when full, expired ids are dropped, then
// those expiring soonest.
type revocations struct {
	mu  sync.Mutex
	ids map[string]int64 // session id -> expiry (Unix seconds)
	max int
}

func (r *revocations) revoke(id string, exp, now int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil {
		r.ids = map[string]int64{}
	}
	if len(r.ids) >= r.max {
		for k, e := range r.ids {
			if e <= now {
				delete(r.ids, k)
			}
		}
		for len(r.ids) >= r.max {
			var soonest string
			var se int64
			for k, e := range r.ids {
				if soonest == "" || e < se {
					soonest, se = k, e
				}
			}
			delete(r.ids, soonest)
		}
	}
	r.ids[id] = exp
}

func (r *revocations) revoked(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[id]
	return ok
}
