package gocode

import (
	"go/parser"
	"go/token"
	"slices"
	"testing"
)

func TestWords(t *testing.T) {
	tests := map[string][]string{
		"dbPassword":     {"db", "password"},
		"APIKey":         {"api", "key"},
		"api_key":        {"api", "key"},
		"clientSecret":   {"client", "secret"},
		"HTTPServer":     {"http", "server"},
		"tokenURL":       {"token", "url"},
		"x-auth-token":   {"x", "auth", "token"},
		"OAuth2Token":    {"o", "auth2", "token"},
		"":               nil,
		"PASSWORD":       {"password"},
		"secretKeyID":    {"secret", "key", "id"},
		"newSessionKey2": {"new", "session", "key2"},
	}
	for in, want := range tests {
		if got := words(in); !slices.Equal(got, want) {
			t.Errorf("words(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCredentialName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"password", true}, {"dbPassword", true}, {"Passwd", true}, {"clientSecret", true}, {"apiToken", true},
		{"APIKey", true}, {"api_key", true}, {"secretKey", true}, {"credentials", true}, {"AccessToken", true},
		{"passwordField", false}, {"tokenURL", false}, {"secretName", false}, {"tokenType", false},
		{"passwordKey", false}, {"tokenKey", false}, {"username", false}, {"key", false}, {"monkey", false},
		{"passwordMinLength", false}, {"secretEnv", false}, {"", false},
	}
	for _, tt := range tests {
		if got := credentialName(tt.name); got != tt.want {
			t.Errorf("credentialName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestSecretLike(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"hunter2hunter2", true}, {"Sup3rS3cret!2024", true}, {"q8Zr2LmX4vNp7TwK", true}, {"supersecret", true},
		{"short", false}, {"changeme", false}, {"password", false}, {"********", false}, {"<your-token>", false},
		{"${DB_PASSWORD}", false}, {"DB_PASSWORD", false}, {"db.password", false}, {"X-Api-Token", false},
		{"Enter your password:", false}, {"https://auth.example.com/token", false}, {"/etc/secret/token", false},
		{"aaaaaaaaaaaa", false}, {"your-api-key-here", false}, {"test-token-123", false},
	}
	for _, tt := range tests {
		if got := secretLike(tt.s); got != tt.want {
			t.Errorf("secretLike(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestDSNPassword(t *testing.T) {
	tests := map[string]string{
		"postgres://app:Pa55w0rd@db:5432/app":           "Pa55w0rd",
		"postgres://app@db/app":                         "",
		"host=db user=app password=s3cr3t dbname=x":     "s3cr3t",
		"host=db user=app password='s3 cr3t'":           "s3 cr3t",
		"user:Pa55@tcp(localhost:3306)/db":              "Pa55",
		"Server=x;Database=y;User Id=u;Password=Pw0rd;": "Pw0rd",
		"file:app.db": "",
		"sqlserver://sa:Str0ng!@localhost:1433?database=x": "Str0ng!",
		"": "",
	}
	for dsn, want := range tests {
		if got := dsnPassword(dsn); got != want {
			t.Errorf("dsnPassword(%q) = %q, want %q", dsn, got, want)
		}
	}
}

// TestSyntaxOnly: the checks run without type information (a module that
// does not load), resolving packages by their imports.
func TestSyntaxOnly(t *testing.T) {
	src := `package p

import (
	"crypto/md5"
	stdtls "crypto/tls"
	"math/rand"
)

const apiToken = "q8Zr2LmX4vNp7TwK"

func f(md5 fakeHasher) {
	_ = md5.Sum(nil) // a variable, not the package: with types not reported; without, it is
	c := &stdtls.Config{InsecureSkipVerify: true, MinVersion: stdtls.VersionTLS10}
	c.MinVersion = 0x0302
	nonce := rand.Int63()
	_, _ = c, nonce
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := &checker{fset: fset, root: "."}
	var got []string
	for _, fd := range c.file(f, nil) {
		got = append(got, fd.RuleID)
	}
	slices.Sort(got)
	want := []string{RuleWeakHash, RuleInsecureTLS, RuleOldTLS, RuleOldTLS, RuleWeakRandom, RuleHardcodedCred}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("rules = %q, want %q", got, want)
	}
}
