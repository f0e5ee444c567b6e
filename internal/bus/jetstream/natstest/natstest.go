// Package natstest gives tests a NATS server with JetStream, or skips them.
//
// The server's URL comes from VIGIL_TEST_NATS_URL (nats://127.0.0.1:4222 when
// unset). When it cannot be reached or has JetStream disabled, tests skip
// with a message saying why, unless VIGIL_REQUIRE_SERVICES=1, which makes them
// fail (CI sets it where it runs the server).
package natstest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Environment variables read by URL.
const (
	EnvURL     = "VIGIL_TEST_NATS_URL"
	EnvRequire = "VIGIL_REQUIRE_SERVICES"
	DefaultURL = "nats://127.0.0.1:4222"
)

// URL returns the URL of the test NATS server after checking that it answers
// and has JetStream enabled; otherwise it skips t (fails it when
// VIGIL_REQUIRE_SERVICES=1).
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		u = DefaultURL
	}
	nc, err := nats.Connect(u, nats.Timeout(2*time.Second), nats.NoReconnect())
	if err != nil {
		unavailable(t, fmt.Sprintf("no NATS server at %s (%s): %v", redact(u), EnvURL, err))
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		unavailable(t, fmt.Sprintf("starting JetStream on %s: %v", redact(u), err))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		unavailable(t, fmt.Sprintf("the NATS server at %s does not serve JetStream: %v", redact(u), err))
	}
	return u
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%s; %s=1 requires it", why, EnvRequire)
	}
	t.Skipf("%s (set %s=1 to fail instead of skipping)", why, EnvRequire)
}

// redact drops credentials from NATS URLs.
func redact(raw string) string {
	parts := strings.Split(raw, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			u.User = nil
			parts[i] = u.String()
		} else {
			parts[i] = "(unparsable URL)"
		}
	}
	return strings.Join(parts, ",")
}

// Prefix returns a fresh random prefix of stream, bucket and subject names
// ("t" and 12 hex digits) and, when t ends, deletes every stream of the server
// at serverURL named with it: "<prefix>_..." and the buckets' "KV_<prefix>_...".
func Prefix(t testing.TB, serverURL string) string {
	t.Helper()
	prefix := "t" + rand.Text()[:12]
	prefix = strings.ToLower(prefix)
	t.Cleanup(func() {
		if err := DeleteStreams(serverURL, prefix); err != nil {
			t.Errorf("cleaning up the streams of prefix %s: %v", prefix, err)
		}
	})
	return prefix
}

// DeleteStreams deletes every stream named "<prefix>_..." or "KV_<prefix>_...".
func DeleteStreams(serverURL, prefix string) error {
	nc, err := nats.Connect(serverURL, nats.Timeout(2*time.Second), nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("starting JetStream: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	var doomed []string
	for name := range names.Name() {
		if strings.HasPrefix(name, prefix+"_") || strings.HasPrefix(name, "KV_"+prefix+"_") {
			doomed = append(doomed, name)
		}
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("listing streams: %w", err)
	}
	for _, name := range doomed {
		if err := js.DeleteStream(ctx, name); err != nil {
			return fmt.Errorf("deleting stream %s: %w", name, err)
		}
	}
	return nil
}
