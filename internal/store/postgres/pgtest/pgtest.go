// Package pgtest gives tests a PostgreSQL database: the server named by
// VIGIL_TEST_POSTGRES_URL (default DefaultURL) and a fresh schema of their own,
// dropped when the test ends, so tests can run in parallel and leave nothing
// behind.
//
// When the server cannot be reached the test is skipped, saying why, unless
// VIGIL_REQUIRE_SERVICES=1, which makes it fail instead (CI sets it where a
// server is provided).
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables read by URL.
const (
	// EnvURL names the test server's connection string.
	EnvURL = "VIGIL_TEST_POSTGRES_URL"
	// EnvRequire, set to 1, turns "cannot connect" from a skip into a failure.
	EnvRequire = "VIGIL_REQUIRE_SERVICES"
)

// DefaultURL is the test server used when EnvURL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// SchemaPrefix starts the name of every schema Schema creates.
const SchemaPrefix = "vigil_t_"

// connectTimeout bounds the reachability check, so a firewalled host skips
// the test quickly rather than hanging.
const connectTimeout = 5 * time.Second

// URL returns the test server's connection string after checking that a
// connection succeeds; it skips the test (or fails it under
// VIGIL_REQUIRE_SERVICES=1) when none can be made.
func URL(t testing.TB) string {
	t.Helper()
	u := rawURL()
	conn := connect(t, u)
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	if err := conn.Close(ctx); err != nil {
		t.Logf("pgtest: closing the probe connection: %v", err)
	}
	return u
}

// Schema creates an empty schema with a random name (SchemaPrefix and 16 hex
// digits) on the test server and returns the server's URL and the schema's
// name; the schema and everything in it are dropped when the test ends.
// Connections for the test should use it (postgres.Options.Schema, or
// search_path).
func Schema(t testing.TB) (u, schema string) {
	t.Helper()
	u = rawURL()
	conn := connect(t, u)
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	defer func() {
		if err := conn.Close(ctx); err != nil {
			t.Logf("pgtest: closing the connection: %v", err)
		}
	}()
	schema = SchemaPrefix + randomHex(8)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("pgtest: creating schema %s on %s: %v", schema, redact(u), err)
	}
	t.Cleanup(func() { DropSchema(t, u, schema) })
	return u, schema
}

// DropSchema drops schema and everything in it, if it exists. Schema
// registers it as a cleanup; tests that make schemas of their own (through
// postgres.Options.Schema) can register it too.
func DropSchema(t testing.TB, u, schema string) {
	t.Helper()
	// The test's context is already canceled when cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Errorf("pgtest: connecting to drop schema %s: %v", schema, err)
		return
	}
	defer func() {
		if err := conn.Close(ctx); err != nil {
			t.Logf("pgtest: closing the connection: %v", err)
		}
	}()
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		t.Errorf("pgtest: dropping schema %s: %v", schema, err)
	}
}

// Required reports whether VIGIL_REQUIRE_SERVICES=1, under which a missing
// server fails tests instead of skipping them.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

func rawURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// connect opens a connection to u, or skips (fails when required) the test.
func connect(t testing.TB, u string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), connectTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err == nil {
		err = conn.Ping(ctx)
		if err != nil {
			_ = conn.Close(ctx) // the ping's error is the one to report
		}
	}
	if err != nil {
		msg := "PostgreSQL at " + redact(u) + " is not reachable (" + redactErr(err, u) +
			"); set " + EnvURL + " to a server's URL"
		if Required() {
			t.Fatalf("%s (%s=1 requires it)", msg, EnvRequire)
		}
		t.Skipf("%s, or %s=1 to fail rather than skip", msg, EnvRequire)
	}
	return conn
}

// redact masks the password of a URL for messages.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" {
		return "(the configured URL)"
	}
	q := p.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
		}
	}
	p.RawQuery = q.Encode()
	return p.Redacted()
}

// redactErr returns err's message without the URL's password.
func redactErr(err error, u string) string {
	msg := err.Error()
	if p, perr := url.Parse(u); perr == nil {
		if pw, ok := p.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b)
}
