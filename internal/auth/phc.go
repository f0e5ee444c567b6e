package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id's cost parameters. New hashes use the configured ones;
// a stored hash is always verified with the parameters written in it.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams are OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane).
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on parameters, for new hashes and for those read from the users file:
// a hash string must not be able to ask for unbounded work or memory.
const (
	maxArgonMemory = 1 << 22 // KiB: 4 GiB
	maxArgonTime   = 64
	minSaltLen     = 8
	maxSaltLen     = 64
	minKeyLen      = 16
	maxKeyLen      = 128
	maxPHCLen      = 512
)

// Validate reports parameters outside the bounds Vigil accepts.
func (p Params) Validate() error {
	switch {
	case p.Threads < 1:
		return fmt.Errorf("argon2 threads %d: want at least 1", p.Threads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgonMemory:
		return fmt.Errorf("argon2 memory %d KiB: want %d to %d", p.Memory, 8*uint32(p.Threads), maxArgonMemory)
	case p.Time < 1 || p.Time > maxArgonTime:
		return fmt.Errorf("argon2 time %d: want 1 to %d", p.Time, maxArgonTime)
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return fmt.Errorf("argon2 salt length %d: want %d to %d", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return fmt.Errorf("argon2 key length %d: want %d to %d", p.KeyLen, minKeyLen, maxKeyLen)
	}
	return nil
}

// phcHash is a parsed argon2id PHC string.
type phcHash struct {
	Params
	Salt, Key []byte
}

var b64 = base64.RawStdEncoding.Strict()

// String encodes h in PHC form: $argon2id$v=19$m=..,t=..,p=..$salt$hash.
func (h phcHash) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		h.Memory, h.Time, h.Threads, b64.EncodeToString(h.Salt), b64.EncodeToString(h.Key))
}

var errPHC = errors.New("not an argon2id PHC string")

// parsePHC reads an argon2id PHC string strictly: fixed parameter order, no
// leading zeros, canonical unpadded base64, parameters within bounds. A string
// it accepts encodes back to itself.
func parsePHC(s string) (phcHash, error) {
	if len(s) > maxPHCLen {
		return phcHash{}, fmt.Errorf("%w: %d bytes, at most %d", errPHC, len(s), maxPHCLen)
	}
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return phcHash{}, fmt.Errorf("%w: want 5 $-separated fields", errPHC)
	}
	if parts[1] != "argon2id" {
		return phcHash{}, fmt.Errorf("%w: algorithm %q", errPHC, parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return phcHash{}, fmt.Errorf("%w: version %q, want v=%d", errPHC, parts[2], argon2.Version)
	}
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return phcHash{}, fmt.Errorf("%w: parameters %q, want m=,t=,p=", errPHC, parts[3])
	}
	var vals [3]uint32
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], name)
		if !ok {
			return phcHash{}, fmt.Errorf("%w: parameter %d is %q, want %s<number>", errPHC, i+1, kv[i], name)
		}
		n, err := parseUint32(v)
		if err != nil {
			return phcHash{}, fmt.Errorf("%w: parameter %s: %w", errPHC, name, err)
		}
		vals[i] = n
	}
	if vals[2] > 255 {
		return phcHash{}, fmt.Errorf("%w: p=%d, at most 255", errPHC, vals[2])
	}
	// encoding/base64 skips '\r' and '\n' inside its input: a hash holding
	// them would parse and then encode as another string.
	if strings.ContainsAny(parts[4]+parts[5], "\r\n") {
		return phcHash{}, fmt.Errorf("%w: a line break in the salt or hash", errPHC)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return phcHash{}, fmt.Errorf("%w: decoding salt: %w", errPHC, err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil {
		return phcHash{}, fmt.Errorf("%w: decoding hash: %w", errPHC, err)
	}
	h := phcHash{
		Params: Params{Memory: vals[0], Time: vals[1], Threads: uint8(vals[2]), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))},
		Salt:   salt, Key: key,
	}
	if err := h.Validate(); err != nil {
		return phcHash{}, fmt.Errorf("%w: %w", errPHC, err)
	}
	return h, nil
}

// parseUint32 reads a decimal without sign or leading zeros.
func parseUint32(s string) (uint32, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%q is not a canonical decimal", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a canonical decimal", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("parsing %q: %w", s, err)
	}
	return uint32(n), nil
}

// hashPassword derives a new PHC string for password with p.
func hashPassword(password string, p Params) (string, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("reading random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return phcHash{Params: p, Salt: salt, Key: key}.String(), nil
}

// verify reports whether password derives h's key, with h's own parameters,
// comparing in constant time.
func (h phcHash) verify(password string) bool {
	key := argon2.IDKey([]byte(password), h.Salt, h.Time, h.Memory, h.Threads, uint32(len(h.Key)))
	return subtle.ConstantTimeCompare(key, h.Key) == 1
}
