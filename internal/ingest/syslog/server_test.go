package syslog

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilsec/vigil/internal/decode/formats"
	"github.com/vigilsec/vigil/internal/ingest"
)

// memAppender keeps what it is given; fail, when set, decides each call's error.
type memAppender struct {
	mu    sync.Mutex
	recs  []ingest.Record
	calls int
	fail  func(call int) error
}

func (a *memAppender) Append(_ context.Context, recs []ingest.Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls++
	if a.fail != nil {
		if err := a.fail(a.calls); err != nil {
			return err
		}
	}
	a.recs = append(a.recs, recs...)
	return nil
}

func (a *memAppender) snapshot() []ingest.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]ingest.Record(nil), a.recs...)
}

func (a *memAppender) setFail(f func(int) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = f
}

func data(recs []ingest.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = string(r.Data)
	}
	return out
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type running struct {
	s      *Server
	app    *memAppender
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned, with err set
	err    error
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Fatalf("Run: %v", r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func start(t *testing.T, opts Options) *running {
	t.Helper()
	app, _ := opts.Appender.(*memAppender)
	if opts.Appender == nil {
		app = &memAppender{}
		opts.Appender = app
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	s.minBackoff, s.maxBackoff = time.Millisecond, 5*time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{s: s, app: app, cancel: cancel, done: make(chan struct{})}
	go func() { r.err = s.Run(ctx); close(r.done) }()
	select {
	case <-s.Ready():
	case <-r.done:
		t.Fatalf("Run: %v", r.err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
		}
	})
	return r
}

func dial(t *testing.T, network string, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.Dial(network, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func octet(msgs ...string) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "%d %s", len(m), m)
	}
	return b.String()
}

const (
	msg5424 = "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\"] An application event"
	msg3164 = "<34>Oct 11 22:14:15 mymachine sshd[42]: Failed password for root from 10.0.0.1 port 22 ssh2"
)

func TestTCPFramings(t *testing.T) {
	tests := []struct {
		name, wire string
		want       []string
	}{
		{"lf", "a one\nb two\n", []string{"a one", "b two"}},
		{"crlf", "a one\r\nb two\r\n", []string{"a one", "b two"}},
		{"nul", "a one\x00b two\x00", []string{"a one", "b two"}},
		{"empty frames skipped", "\n\na\n\r\n\x00b\n", []string{"a", "b"}},
		{"last frame without trailer", "a\nb", []string{"a", "b"}},
		{"octet", octet(msg5424, "x\ny z", msg3164), []string{msg5424, "x\ny z", msg3164}},
		{"mixed", octet("one") + "<1>two\n" + octet("thr\nee") + "<2>four\x00" + octet("five") + "\n<3>six",
			[]string{"one", "<1>two", "thr\nee", "<2>four", "five", "<3>six"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := start(t, Options{TCP: "127.0.0.1:0", Format: "syslog-rfc5424", BatchSize: 2})
			_, addr, _ := r.s.Addrs()
			c := dial(t, "tcp", addr)
			before := time.Now()
			for i := 0; i < len(tt.wire); i += 3 { // small writes: frames split across reads
				if _, err := c.Write([]byte(tt.wire[i:min(i+3, len(tt.wire))])); err != nil {
					t.Fatal(err)
				}
			}
			_ = c.Close()
			eventually(t, "records", func() bool { return len(r.app.snapshot()) >= len(tt.want) })
			r.stop(t)
			got := r.app.snapshot()
			if strings.Join(data(got), "|") != strings.Join(tt.want, "|") {
				t.Fatalf("got %q, want %q", data(got), tt.want)
			}
			for _, rec := range got {
				if rec.Source != "syslog:tcp" || rec.Format != "syslog-rfc5424" || rec.Received.Before(before) || len(rec.Context) != 0 {
					t.Fatalf("record %+v", rec)
				}
			}
			if n := testutil.ToFloat64(r.s.m.messages.WithLabelValues("tcp")); int(n) != len(tt.want) {
				t.Fatalf("messages counter %v, want %d", n, len(tt.want))
			}
		})
	}
}

func TestUDP(t *testing.T) {
	r := start(t, Options{UDP: "127.0.0.1:0", MaxMessage: 200})
	addr, _, _ := r.s.Addrs()
	c := dial(t, "udp", addr)
	for _, m := range []string{msg3164 + "\n", msg5424, strings.Repeat("x", 201), "\n", "last\r\n"} {
		if _, err := c.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "records", func() bool { return len(r.app.snapshot()) == 3 })
	got := r.app.snapshot()
	if want := []string{msg3164, msg5424, "last"}; strings.Join(data(got), "|") != strings.Join(want, "|") {
		t.Fatalf("got %q", data(got))
	}
	if got[0].Source != "syslog:udp" || got[0].Format != "" {
		t.Fatalf("record %+v", got[0])
	}
	if n := testutil.ToFloat64(r.s.m.dropped.WithLabelValues("udp", "too_long")); n != 1 {
		t.Fatalf("too_long drops %v, want 1", n)
	}
	// What the listener emits is what the stream's format detection recognises.
	reg := formats.Default()
	for i, want := range []string{"syslog-rfc3164", "syslog-rfc5424"} {
		d, err := reg.Detect(got[i].Data)
		if err != nil || d.Format.ID != want {
			t.Fatalf("record %d detected as %q (%v), want %s", i, d.Format.ID, err, want)
		}
	}
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vigil-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}, pool
}

func TestTLS(t *testing.T) {
	cfg, pool := selfSigned(t)
	r := start(t, Options{TLS: "127.0.0.1:0", TLSConfig: cfg})
	_, _, addr := r.s.Addrs()
	c, err := tls.Dial("tcp", addr.String(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, octet(msg5424, msg3164)+"<5>lf framed\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	eventually(t, "records", func() bool { return len(r.app.snapshot()) == 3 })
	got := r.app.snapshot()
	if got[0].Source != "syslog:tls" || string(got[0].Data) != msg5424 || string(got[2].Data) != "<5>lf framed" {
		t.Fatalf("got %+v", got)
	}
	// A client that does not trust the certificate is refused and counted.
	if c, err := tls.Dial("tcp", addr.String(), &tls.Config{MinVersion: tls.VersionTLS12}); err == nil {
		_ = c.Close()
		t.Fatal("untrusted handshake succeeded")
	}
	eventually(t, "handshake refusal", func() bool {
		return testutil.ToFloat64(r.s.m.refused.WithLabelValues("tls", "handshake")) == 1
	})
}

func TestBadFrames(t *testing.T) {
	tests := []struct {
		name, wire, reason string
		want               []string
	}{
		{"octet length over max", octet("ok") + "101 " + strings.Repeat("x", 101), "too_long", []string{"ok"}},
		{"too many digits", "ok\n123456789012 x", "too_long", []string{"ok"}},
		{"garbage in length", "ok\n12a4 hello", "bad_length", []string{"ok"}},
		{"leading zero", "ok\n05 hello", "bad_length", []string{"ok"}},
		{"line over max", "ok\n" + strings.Repeat("y", 150) + "\n", "too_long", []string{"ok"}},
		{"line over max, no trailer", "ok\n" + strings.Repeat("y", 300), "too_long", []string{"ok"}},
		{"truncated octet frame", "ok\n10 short", "truncated", []string{"ok"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := start(t, Options{TCP: "127.0.0.1:0", MaxMessage: 100})
			_, addr, _ := r.s.Addrs()
			c := dial(t, "tcp", addr)
			if _, err := io.WriteString(c, tt.wire); err != nil {
				t.Fatal(err)
			}
			if tt.reason == "truncated" {
				_ = c.(*net.TCPConn).CloseWrite()
			}
			// The server closes the connection: the client reads EOF (or a reset).
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
				t.Fatalf("connection not closed: %v", err)
			}
			eventually(t, "bad frame count", func() bool {
				return testutil.ToFloat64(r.s.m.badFrames.WithLabelValues("tcp", tt.reason)) == 1
			})
			eventually(t, "records", func() bool { return len(r.app.snapshot()) == len(tt.want) })
			if got := data(r.app.snapshot()); strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUDPOverloadDropsCounted(t *testing.T) {
	app := &memAppender{fail: func(int) error { return &ingest.OverloadError{RetryAfter: time.Second} }}
	r := start(t, Options{UDP: "127.0.0.1:0", Appender: app, BatchSize: 4})
	addr, _, _ := r.s.Addrs()
	c := dial(t, "udp", addr)
	const n = 10
	for i := range n {
		if _, err := fmt.Fprintf(c, "<13>msg %d", i); err != nil {
			t.Fatal(err)
		}
	}
	dropped := r.s.m.dropped.WithLabelValues("udp", "overloaded")
	eventually(t, "drops", func() bool { return testutil.ToFloat64(dropped) == n })
	// Overload lifted: datagrams are delivered again.
	app.setFail(nil)
	if _, err := io.WriteString(c, "<13>after"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "delivery", func() bool { return len(app.snapshot()) == 1 })
	r.stop(t)
	if got := testutil.ToFloat64(dropped); got != n {
		t.Fatalf("dropped %v, want exactly %d", got, n)
	}
	if got := data(app.snapshot()); len(got) != 1 || got[0] != "<13>after" {
		t.Fatalf("got %q", got)
	}
}

func TestTCPOverloadBlocksThenResumes(t *testing.T) {
	var overloaded sync.Mutex // held = overloaded
	overloaded.Lock()
	app := &memAppender{fail: func(int) error {
		if overloaded.TryLock() {
			overloaded.Unlock()
			return nil
		}
		return fmt.Errorf("appending: %w", &ingest.OverloadError{RetryAfter: time.Second})
	}}
	const batch, total = 8, 2000
	r := start(t, Options{TCP: "127.0.0.1:0", Appender: app, BatchSize: batch})
	_, addr, _ := r.s.Addrs()
	c := dial(t, "tcp", addr)
	var want []string
	var wire bytes.Buffer
	for i := range total {
		m := fmt.Sprintf("<13>message %04d", i)
		want = append(want, m)
		wire.WriteString(m + "\n")
	}
	go func() { _, _ = c.Write(wire.Bytes()) }()
	retries := r.s.m.retries.WithLabelValues("tcp")
	eventually(t, "retries", func() bool { return testutil.ToFloat64(retries) >= 3 })
	// While Append is overloaded the connection is not read past one batch.
	if got := testutil.ToFloat64(r.s.m.messages.WithLabelValues("tcp")); got != batch {
		t.Fatalf("read %v messages while overloaded, want %d", got, batch)
	}
	if n := len(app.snapshot()); n != 0 {
		t.Fatalf("%d records appended while overloaded", n)
	}
	overloaded.Unlock()
	eventually(t, "all records", func() bool { return len(app.snapshot()) == total })
	if got := data(app.snapshot()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatal("records out of order or altered")
	}
}

func TestShutdownFlushesPending(t *testing.T) {
	r := start(t, Options{TCP: "127.0.0.1:0", UDP: "127.0.0.1:0", BatchSize: 1000, BatchWait: time.Hour})
	udp, tcp, _ := r.s.Addrs()
	c := dial(t, "tcp", tcp)
	u := dial(t, "udp", udp)
	if _, err := io.WriteString(c, "<1>a\n<1>b\n"+octet("<1>c")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(u, "<1>d"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "messages read", func() bool {
		return testutil.ToFloat64(r.s.m.messages.WithLabelValues("tcp")) == 3 &&
			testutil.ToFloat64(r.s.m.messages.WithLabelValues("udp")) == 1
	})
	if n := len(r.app.snapshot()); n != 0 {
		t.Fatalf("%d records appended before the batch was due", n)
	}
	r.stop(t)
	got := data(r.app.snapshot())
	if len(got) != 4 || !strings.Contains(strings.Join(got, "|"), "<1>a|<1>b|<1>c") {
		t.Fatalf("after shutdown got %q", got)
	}
}

func TestBatchWaitFlushes(t *testing.T) {
	r := start(t, Options{TCP: "127.0.0.1:0", BatchSize: 1000, BatchWait: 10 * time.Millisecond})
	_, addr, _ := r.s.Addrs()
	c := dial(t, "tcp", addr)
	if _, err := io.WriteString(c, "<1>a\n"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "timed flush", func() bool { return len(r.app.snapshot()) == 1 })
	if _, err := io.WriteString(c, "<1>b\n"); err != nil { // the connection is still served
		t.Fatal(err)
	}
	eventually(t, "second flush", func() bool { return len(r.app.snapshot()) == 2 })
}

func TestConnectionLimits(t *testing.T) {
	r := start(t, Options{TCP: "127.0.0.1:0", MaxConns: 1, IdleTimeout: 200 * time.Millisecond})
	_, addr, _ := r.s.Addrs()
	first := dial(t, "tcp", addr)
	gauge := r.s.m.conns.WithLabelValues("tcp")
	eventually(t, "first connection open", func() bool { return testutil.ToFloat64(gauge) == 1 })
	second := dial(t, "tcp", addr)
	_ = second.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := second.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("second connection over MaxConns not closed: %v", err)
	}
	if n := testutil.ToFloat64(r.s.m.refused.WithLabelValues("tcp", "max_conns")); n != 1 {
		t.Fatalf("refused %v", n)
	}
	// The first one is closed once idle.
	_ = first.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := first.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("idle connection not closed: %v", err)
	}
	eventually(t, "gauge back to 0", func() bool { return testutil.ToFloat64(gauge) == 0 })
}

func TestOptionsValidate(t *testing.T) {
	app := &memAppender{}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no address", Options{Appender: app}, "no listen address"},
		{"tls without config", Options{TLS: ":0", Appender: app}, "without a TLS config"},
		{"no appender", Options{UDP: ":0"}, "no appender"},
		{"huge max", Options{UDP: ":0", Appender: app, MaxMessage: 1 << 30}, "max message"},
		{"negative", Options{UDP: ":0", Appender: app, BatchSize: -1}, "negative"},
	}
	for _, tt := range tests {
		_, err := New(tt.opts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestListenError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := New(Options{TCP: l.Addr().String(), Appender: &memAppender{}})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "listening on tcp") {
		t.Fatalf("Run on a busy port: %v", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("error does not wrap the listen error: %v", err)
	}
}
