package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"
)

// Files in Options.Dir.
const (
	UsersFile      = "users.json"
	SessionKeyFile = "session.key"

	maxUsersFileSize = 16 << 20
	fileVersion      = 1
)

// Token scopes.
const (
	// ScopeAPI tokens call the REST API with their role; they never ingest.
	ScopeAPI = "api"
	// ScopeIngest tokens only send logs to the ingest listener.
	ScopeIngest = "ingest"
)

// Limits on what users and tokens may be.
const (
	MinPasswordLen = 12   // characters
	MaxPasswordLen = 1024 // bytes: bounds the hashing work an attacker can ask for
	maxNameLen     = 64
)

// User is a local user as the management methods return it (never its hash).
type User struct {
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Token is an API or ingest token as the management methods return it (never
// its secret, which is shown once by CreateToken).
type Token struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Role    string    `json:"role"`
	Scope   string    `json:"scope"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires,omitzero"`
}

// usersFile is what users.json holds.
type usersFile struct {
	Version int           `json:"version"`
	Users   []userRecord  `json:"users"`
	Tokens  []tokenRecord `json:"tokens"`
}

type userRecord struct {
	User
	// PasswordHash is argon2id in PHC form.
	PasswordHash string `json:"password_hash"`
	// PasswordChanged: sessions issued before it are no longer valid.
	PasswordChanged time.Time `json:"password_changed"`
}

type tokenRecord struct {
	Token
	// SHA256 is the hex SHA-256 of the whole token string ("vgl_...").
	SHA256 string `json:"sha256"`
}

// validName checks a user or token name: 1 to 64 of [A-Za-z0-9._@-], so names
// are safe in cookies, URLs, logs and the audit log.
func validName(kind, s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("%s name %q: want 1 to %d characters: %w", kind, s, maxNameLen, ErrInvalid)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '@' || c == '-') {
			return fmt.Errorf("%s name %q: only letters, digits and . _ @ - are allowed: %w", kind, s, ErrInvalid)
		}
	}
	return nil
}

func validPassword(pw string) error {
	if len(pw) > MaxPasswordLen {
		return fmt.Errorf("password of %d bytes: at most %d: %w", len(pw), MaxPasswordLen, ErrInvalid)
	}
	if !utf8.ValidString(pw) {
		return fmt.Errorf("password is not valid UTF-8: %w", ErrInvalid)
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordLen {
		return fmt.Errorf("password of %d characters: at least %d: %w", n, MinPasswordLen, ErrInvalid)
	}
	return nil
}

func validScope(s string) error {
	if s != ScopeAPI && s != ScopeIngest {
		return fmt.Errorf("scope %q: want %s or %s: %w", s, ScopeAPI, ScopeIngest, ErrInvalid)
	}
	return nil
}

// decodeUsersFile reads and checks users.json: strict (unknown keys are errors),
// every record valid, no duplicate names, ids or hashes.
func decodeUsersFile(data []byte) (usersFile, error) {
	var f usersFile
	if len(bytes.TrimSpace(data)) == 0 {
		return usersFile{Version: fileVersion}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return usersFile{}, fmt.Errorf("decoding: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return usersFile{}, errors.New("decoding: data after the document")
	}
	if f.Version != fileVersion {
		return usersFile{}, fmt.Errorf("version %d: this binary reads version %d", f.Version, fileVersion)
	}
	seen := map[string]bool{}
	for i, u := range f.Users {
		if err := validName("user", u.Name); err != nil {
			return usersFile{}, fmt.Errorf("user %d: %w", i, err)
		}
		if seen["u:"+u.Name] {
			return usersFile{}, fmt.Errorf("user %d: %q appears twice", i, u.Name)
		}
		seen["u:"+u.Name] = true
		if _, err := ParseRole(u.Role); err != nil {
			return usersFile{}, fmt.Errorf("user %q: %w", u.Name, err)
		}
		if _, err := parsePHC(u.PasswordHash); err != nil {
			return usersFile{}, fmt.Errorf("user %q: password hash: %w", u.Name, err)
		}
	}
	for i, t := range f.Tokens {
		if err := validName("token", t.Name); err != nil {
			return usersFile{}, fmt.Errorf("token %d: %w", i, err)
		}
		if t.ID == "" || seen["i:"+t.ID] || seen["n:"+t.Name] {
			return usersFile{}, fmt.Errorf("token %d (%q): empty or repeated id or name", i, t.Name)
		}
		seen["i:"+t.ID], seen["n:"+t.Name] = true, true
		if _, err := ParseRole(t.Role); err != nil {
			return usersFile{}, fmt.Errorf("token %q: %w", t.Name, err)
		}
		if err := validScope(t.Scope); err != nil {
			return usersFile{}, fmt.Errorf("token %q: %w", t.Name, err)
		}
		if len(t.SHA256) != 64 || seen["h:"+t.SHA256] {
			return usersFile{}, fmt.Errorf("token %q: sha256 is not 64 hex digits or repeats another token's", t.Name)
		}
		seen["h:"+t.SHA256] = true
	}
	return f, nil
}

// readUsersFile reads path; a missing file is an empty one.
func readUsersFile(path string) (usersFile, os.FileInfo, error) {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return usersFile{Version: fileVersion}, nil, nil
	}
	if err != nil {
		return usersFile{}, nil, fmt.Errorf("opening %s: %w", path, err)
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return usersFile{}, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxUsersFileSize+1))
	if err != nil {
		return usersFile{}, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxUsersFileSize {
		return usersFile{}, nil, fmt.Errorf("reading %s: larger than %d bytes", path, maxUsersFileSize)
	}
	f, err := decodeUsersFile(data)
	if err != nil {
		return usersFile{}, nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return f, info, nil
}
