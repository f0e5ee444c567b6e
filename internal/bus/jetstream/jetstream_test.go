package jetstream

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/bus"
	"github.com/vigilsec/vigil/internal/bus/bustest"
	"github.com/vigilsec/vigil/internal/bus/jetstream/natstest"
)

func TestConformance(t *testing.T) {
	u := natstest.URL(t)
	bustest.Run(t, func(t *testing.T, leaseTTL time.Duration) bus.Bus {
		return open(t, Options{URL: u, Prefix: natstest.Prefix(t, u), LeaseTTL: leaseTTL})
	})
}

func open(t testing.TB, o Options) *Bus {
	t.Helper()
	b, err := Open(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func messages(ids ...string) []bus.Message {
	out := make([]bus.Message, len(ids))
	for i, id := range ids {
		out[i] = bus.Message{ID: id, Data: []byte("data of " + id)}
	}
	return out
}

func seqIDs(ms []bus.Message) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%d:%s:%s ", m.Seq, m.ID, m.Data)
	}
	return strings.TrimSpace(b.String())
}

// TestReopen: topics, messages, positions, deduplication and leases outlive
// the connection.
func TestReopen(t *testing.T) {
	u := natstest.URL(t)
	o := Options{URL: u, Prefix: natstest.Prefix(t, u), LeaseTTL: time.Minute}
	ctx := t.Context()
	b := open(t, o)
	must(t, b.Ensure(ctx, bus.Topic{Name: "events", Partitions: 3}))
	must(t, b.Publish(ctx, "events", 2, messages("a", "b", "c")))
	must(t, b.Trim(ctx, "events", 2, 2))
	if ok, err := b.Acquire(ctx, "partition/events/2", "worker-1"); err != nil || !ok {
		t.Fatalf("Acquire: %v, %v", ok, err)
	}
	if _, err := b.Read(ctx, "events", 2, 1, 1, 0); err != nil { // leaves a cached reader
		t.Fatal(err)
	}
	must(t, b.Close())

	b = open(t, o)
	defer b.Close()
	// A new node learns the topic from the server, without Ensure.
	if n, err := b.Last(ctx, "events", 2); err != nil || n != 3 {
		t.Errorf("Last after reopening = %d, %v; want 3", n, err)
	}
	got, err := b.Read(ctx, "events", 2, 1, 10, 0)
	must(t, err)
	if s := seqIDs(got); s != "2:b:data of b 3:c:data of c" {
		t.Errorf("after reopening: %s", s)
	}
	if err := b.Ensure(ctx, bus.Topic{Name: "events", Partitions: 4}); !errors.Is(err, bus.ErrInvalid) {
		t.Errorf("Ensure with another partition count after reopening: %v, want ErrInvalid", err)
	}
	must(t, b.Ensure(ctx, bus.Topic{Name: "events", Partitions: 3}))
	must(t, b.Publish(ctx, "events", 2, messages("b", "c", "d"))) // b and c held, within the duplicate window
	if n, err := b.Last(ctx, "events", 2); err != nil || n != 4 {
		t.Errorf("Last after republishing = %d, %v; want 4", n, err)
	}
	leases, err := b.Leases(ctx, "")
	must(t, err)
	if len(leases) != 1 || leases["partition/events/2"] != "worker-1" {
		t.Errorf("leases after reopening: %v", leases)
	}
	if ok, err := b.Acquire(ctx, "partition/events/2", "worker-2"); err != nil || ok {
		t.Errorf("Acquire by another owner after reopening: %v, %v", ok, err)
	}
}

// TestTwoNodes: two buses on one prefix share topics, messages and leases.
func TestTwoNodes(t *testing.T) {
	u := natstest.URL(t)
	o := Options{URL: u, Prefix: natstest.Prefix(t, u), LeaseTTL: time.Minute}
	ctx := t.Context()
	a, b := open(t, o), open(t, o)
	defer a.Close()
	defer b.Close()
	must(t, a.Ensure(ctx, bus.Topic{Name: "events", Partitions: 2}))
	must(t, b.Publish(ctx, "events", 1, messages("x", "y")))
	got, err := a.Read(ctx, "events", 1, 1, 10, time.Second)
	must(t, err)
	if s := seqIDs(got); s != "1:x:data of x 2:y:data of y" {
		t.Errorf("read by the other node: %s", s)
	}
	if err := b.Ensure(ctx, bus.Topic{Name: "events", Partitions: 1}); !errors.Is(err, bus.ErrInvalid) {
		t.Errorf("Ensure with another partition count on the other node: %v", err)
	}
	if err := b.Publish(ctx, "events", 2, messages("z")); !errors.Is(err, bus.ErrInvalid) {
		t.Errorf("Publish out of range on the other node: %v", err)
	}
	if ok, err := a.Acquire(ctx, "member/a", "a"); err != nil || !ok {
		t.Fatalf("Acquire: %v, %v", ok, err)
	}
	if ok, err := b.Acquire(ctx, "member/a", "b"); err != nil || ok {
		t.Errorf("Acquire of a held lease on the other node: %v, %v", ok, err)
	}
	// A read waiting on one node is woken by a publish on the other.
	done := make(chan []bus.Message, 1)
	go func() {
		got, err := a.Read(ctx, "events", 0, 1, 10, 20*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	time.Sleep(100 * time.Millisecond)
	must(t, b.Publish(ctx, "events", 0, messages("w")))
	select {
	case got := <-done:
		if s := seqIDs(got); s != "1:w:data of w" {
			t.Errorf("woken read: %s", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a read waiting on one node was not woken by a publish on the other")
	}
}

// TestLayout: the names and settings on the server are the documented ones.
func TestLayout(t *testing.T) {
	u := natstest.URL(t)
	prefix := natstest.Prefix(t, u)
	ctx := t.Context()
	b := open(t, Options{URL: u, Prefix: prefix, LeaseTTL: 7 * time.Second, DedupWindow: 90 * time.Second})
	defer b.Close()
	must(t, b.Ensure(ctx, bus.Topic{Name: "events", Partitions: 3, MaxBytes: 1 << 20}))
	for p := range 3 {
		s, err := b.js.Stream(ctx, fmt.Sprintf("%s_events_%03d", prefix, p))
		if err != nil {
			t.Fatalf("stream of partition %d: %v", p, err)
		}
		c := s.CachedInfo().Config
		if want := fmt.Sprintf("%s.events.%d", prefix, p); len(c.Subjects) != 1 || c.Subjects[0] != want {
			t.Errorf("partition %d: subjects %v, want [%s]", p, c.Subjects, want)
		}
		if c.Storage != natsjs.FileStorage || c.Retention != natsjs.LimitsPolicy || c.Discard != natsjs.DiscardOld ||
			c.MaxBytes != 1<<20 || c.Duplicates != 90*time.Second || c.MaxAge != 0 {
			t.Errorf("partition %d: config %+v", p, c)
		}
	}
	must(t, b.Ensure(ctx, bus.Topic{Name: "events", Partitions: 3})) // MaxBytes lifted
	s, err := b.js.Stream(ctx, prefix+"_events_000")
	must(t, err)
	if mb := s.CachedInfo().Config.MaxBytes; mb != -1 {
		t.Errorf("MaxBytes after Ensure without it: %d, want -1 (unlimited)", mb)
	}
	if _, err := b.js.Stream(ctx, prefix+"_events_003"); !errors.Is(err, natsjs.ErrStreamNotFound) {
		t.Errorf("a fourth stream: %v", err)
	}
	st, err := b.leasesKV.Status(ctx)
	must(t, err)
	if st.Bucket() != prefix+"_leases" || st.TTL() != 7*time.Second {
		t.Errorf("leases bucket %s, TTL %v", st.Bucket(), st.TTL())
	}
	e, err := b.topicsKV.Get(ctx, "events")
	must(t, err)
	if string(e.Value()) != `{"partitions":3}` {
		t.Errorf("topic record %s", e.Value())
	}
	for key, stored := range map[string]string{
		"partition/events/3": "partition/events/3",
		"a.b c":              "a=2Eb=20c",
		"x=y":                "x=3Dy",
	} {
		if ok, err := b.Acquire(ctx, key, "o"); err != nil || !ok {
			t.Fatalf("Acquire(%q): %v, %v", key, ok, err)
		}
		if e, err := b.leasesKV.Get(ctx, stored); err != nil || string(e.Value()) != "o" {
			t.Errorf("lease %q stored as %q: %v", key, stored, err)
		}
	}
}

// TestReaderReuse: successive reads continuing one another use one consumer;
// a jump replaces it.
func TestReaderReuse(t *testing.T) {
	u := natstest.URL(t)
	ctx := t.Context()
	b := open(t, Options{URL: u, Prefix: natstest.Prefix(t, u)})
	defer b.Close()
	must(t, b.Ensure(ctx, bus.Topic{Name: "events", Partitions: 1}))
	var ids []string
	for i := range 10 {
		ids = append(ids, fmt.Sprint("m", i+1))
	}
	must(t, b.Publish(ctx, "events", 0, messages(ids...)))
	consumer := func() string {
		t.Helper()
		b.mu.Lock()
		defer b.mu.Unlock()
		r := b.readers[partKey{"events", 0}]
		if r == nil {
			t.Fatal("no cached reader")
		}
		return r.name
	}
	read := func(from uint64, limit int, want string) {
		t.Helper()
		got, err := b.Read(ctx, "events", 0, from, limit, 0)
		must(t, err)
		var s []string
		for _, m := range got {
			s = append(s, fmt.Sprint(m.Seq))
		}
		if strings.Join(s, ",") != want {
			t.Fatalf("Read(%d, %d) = %v, want %s", from, limit, s, want)
		}
	}
	read(1, 3, "1,2,3")
	first := consumer()
	// The server kept every setting of the consumer (2.9 ignores what it does
	// not know, so a setting it lacks would be missing here).
	b.mu.Lock()
	c := b.readers[partKey{"events", 0}].cons.CachedInfo().Config
	b.mu.Unlock()
	if c.DeliverPolicy != natsjs.DeliverByStartSequencePolicy || c.OptStartSeq != 1 || c.AckPolicy != natsjs.AckNonePolicy ||
		!c.MemoryStorage || c.InactiveThreshold != readerInactive || c.Durable != "" {
		t.Errorf("consumer config %+v", c)
	}
	read(4, 3, "4,5,6")
	read(7, 1, "7")
	if c := consumer(); c != first {
		t.Errorf("continuing reads used consumers %s then %s", first, c)
	}
	read(2, 2, "2,3")
	second := consumer()
	if second == first {
		t.Error("a read jumping back kept the consumer")
	}
	read(4, 100, "4,5,6,7,8,9,10")
	read(11, 100, "")
	if c := consumer(); c != second {
		t.Errorf("reads to the end replaced the consumer")
	}
	// Consumers replaced are deleted: one is left on the stream.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := b.js.Stream(ctx, b.streamName("events", 0))
		must(t, err)
		n := s.CachedInfo().State.Consumers
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d consumers on the stream, want 1", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Close deletes the last.
	must(t, b.Close())
	nc, err := nats.Connect(u)
	must(t, err)
	defer nc.Close()
	js, err := natsjs.New(nc)
	must(t, err)
	s, err := js.Stream(ctx, b.streamName("events", 0))
	must(t, err)
	if n := s.CachedInfo().State.Consumers; n != 0 {
		t.Errorf("%d consumers left after Close", n)
	}
}

// TestReadRecoversLostDelivery: when the consumer delivered a message the
// reader never received (to a request given up), the next Read still returns
// it.
func TestReadRecoversLostDelivery(t *testing.T) {
	u := natstest.URL(t)
	ctx := t.Context()
	b := open(t, Options{URL: u, Prefix: natstest.Prefix(t, u)})
	defer b.Close()
	must(t, b.Ensure(ctx, bus.Topic{Name: "events", Partitions: 1}))
	must(t, b.Publish(ctx, "events", 0, messages("a", "b", "c", "d")))
	got, err := b.Read(ctx, "events", 0, 1, 1, 0)
	must(t, err)
	if s := seqIDs(got); s != "1:a:data of a" {
		t.Fatalf("first read: %s", s)
	}
	// Steal the next delivery from the cached reader's consumer.
	b.mu.Lock()
	r := b.readers[partKey{"events", 0}]
	b.mu.Unlock()
	stolen, err := r.cons.Fetch(1, natsjs.FetchMaxWait(time.Second))
	must(t, err)
	for m := range stolen.Messages() {
		if id := m.Headers().Get(natsjs.MsgIDHeader); id != "b" {
			t.Fatalf("stole %s, want b", id)
		}
	}
	got, err = b.Read(ctx, "events", 0, 2, 10, 0)
	must(t, err)
	if s := seqIDs(got); s != "2:b:data of b 3:c:data of c 4:d:data of d" {
		t.Errorf("read after a lost delivery: %s", s)
	}
}

func TestOpenInvalid(t *testing.T) {
	for _, o := range []Options{
		{Prefix: "has_underscore"},
		{Prefix: "has.dot"},
		{Prefix: "has space"},
		{Prefix: strings.Repeat("p", 33)},
		{LeaseTTL: -time.Second},
		{DedupWindow: -time.Second},
		{Replicas: -1},
		{Replicas: 6},
	} {
		if b, err := Open(t.Context(), o); !errors.Is(err, bus.ErrInvalid) {
			if b != nil {
				b.Close()
			}
			t.Errorf("Open(%+v): %v, want ErrInvalid", o, err)
		}
	}
}

// TestOpenUnreachable: a failed connection says where it failed, without the
// credentials of the URL.
func TestOpenUnreachable(t *testing.T) {
	_, err := Open(t.Context(), Options{URL: "nats://vigil:s3cr3t@127.0.0.1:1"})
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if msg := err.Error(); strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "vigil:") || !strings.Contains(msg, "127.0.0.1:1") {
		t.Errorf("error %q should name the server without its credentials", msg)
	}
	// A URL that does not parse is not quoted, credentials and all.
	for _, u := range []string{"nats://vigil:s3cr3t%zz@127.0.0.1:1", "nats://127.0.0.1:1,nats://vigil:s3cr3t@[::1:1"} {
		_, err := Open(t.Context(), Options{URL: u})
		if !errors.Is(err, bus.ErrInvalid) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("Open(%q): %v; want ErrInvalid, without the password", u, err)
		}
	}
}

func TestScrub(t *testing.T) {
	err := scrub(fmt.Errorf("dialing nats://vigil:s3cr3t@h: %w", context.DeadlineExceeded), "nats://vigil:s3cr3t@h, nats://t0k3n@h2")
	if msg := err.Error(); strings.Contains(msg, "s3cr3t") || strings.Contains(msg, "vigil") || msg != "dialing nats://[redacted]@h: context deadline exceeded" {
		t.Errorf("scrubbed error %q", msg)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("scrubbing lost the wrapped error")
	}
	plain := errors.New("nats: no servers available for connection")
	if got := scrub(plain, "nats://t0k3n@h"); got.Error() != plain.Error() || !errors.Is(got, plain) {
		t.Errorf("an error without credentials was changed: %v", got)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"nats://127.0.0.1:4222":                         "nats://127.0.0.1:4222",
		"nats://user:password@host:4222":                "nats://host:4222",
		"nats://s3cr3t-token@host:4222":                 "nats://host:4222",
		"tls://a:b@h1:4222, nats://c@h2:4222,nats://h3": "tls://h1:4222,nats://h2:4222,nats://h3",
		"host:4222":             "nats://host:4222",
		"nats://u:p@[::1]:4222": "nats://[::1]:4222",
		"nats://u:p%zz@host":    "(unparsable URL)",
		"nats://user:pass@host:4222/path?token=x#frag": "nats://host:4222/path?token=x#frag",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// validKey is what nats.go accepts as a key-value key.
var validKey = regexp.MustCompile(`^[-/_=\.a-zA-Z0-9]+$`)

func TestKeyEncoding(t *testing.T) {
	for key, want := range map[string]string{
		"partition/events/3": "partition/events/3",
		"member/worker-1":    "member/worker-1",
		"a.b":                "a=2Eb",
		"x=y":                "x=3Dy",
		"*>":                 "=2A=3E",
		"ü":                  "=C3=BC",
		" \x00":              "=20=00",
	} {
		got := encodeKey(key)
		if got != want {
			t.Errorf("encodeKey(%q) = %q, want %q", key, got, want)
		}
		if back, err := decodeKey(got); err != nil || back != key {
			t.Errorf("decodeKey(%q) = %q, %v", got, back, err)
		}
	}
	for _, bad := range []string{"=", "=4", "=4g", "=4a", "a=", "=ZZ"} {
		if got, err := decodeKey(bad); err == nil {
			t.Errorf("decodeKey(%q) = %q, want an error", bad, got)
		}
	}
}

func TestIDEscaping(t *testing.T) {
	for id, want := range map[string]string{
		"0123abcd-ef":      "0123abcd-ef",
		"file:/var/log:42": "file:/var/log:42",
		"a b":              "a%20b",
		"100%":             "100%25",
		"line\r\nbreak":    "line%0D%0Abreak",
		"é":                "%C3%A9",
	} {
		got := escapeID(id)
		if got != want {
			t.Errorf("escapeID(%q) = %q, want %q", id, got, want)
		}
		if back, err := unescapeID(got); err != nil || back != id {
			t.Errorf("unescapeID(%q) = %q, %v", got, back, err)
		}
	}
}

func FuzzKeyEncoding(f *testing.F) {
	for _, s := range []string{"partition/events/3", "member/w-1", "a.b", "x=y", "=41", "ü", "\x00", " ", "//"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		enc := encodeKey(key)
		if key != "" && !validKey.MatchString(enc) {
			t.Fatalf("encodeKey(%q) = %q, not a valid key", key, enc)
		}
		if strings.ContainsAny(enc, ".*> \t\r\n") {
			t.Fatalf("encodeKey(%q) = %q is not one subject token", key, enc)
		}
		back, err := decodeKey(enc)
		if err != nil || back != key {
			t.Fatalf("decodeKey(encodeKey(%q)) = %q, %v", key, back, err)
		}
		// Decoding anything either fails or gives a key whose encoding
		// decodes to it again.
		if dec, err := decodeKey(key); err == nil {
			if again, err := decodeKey(encodeKey(dec)); err != nil || again != dec {
				t.Fatalf("decodeKey(%q) = %q does not round-trip: %q, %v", key, dec, again, err)
			}
		}
	})
}

func FuzzIDEscaping(f *testing.F) {
	for _, s := range []string{"0123abcd", "a b", "100%", "%41", "line\r\nbreak", "é", "\x00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		enc := escapeID(id)
		for i := 0; i < len(enc); i++ {
			if c := enc[i]; c <= ' ' || c >= 0x7f {
				t.Fatalf("escapeID(%q) = %q has byte %#x", id, enc, c)
			}
		}
		back, err := unescapeID(enc)
		if err != nil || back != id {
			t.Fatalf("unescapeID(escapeID(%q)) = %q, %v", id, back, err)
		}
	})
}

func BenchmarkPublish(b *testing.B) {
	u := natstest.URL(b)
	m := open(b, Options{URL: u, Prefix: natstest.Prefix(b, u)})
	defer m.Close()
	bustest.BenchPublish(b, m)
}

func BenchmarkRead(b *testing.B) {
	u := natstest.URL(b)
	m := open(b, Options{URL: u, Prefix: natstest.Prefix(b, u)})
	defer m.Close()
	bustest.BenchRead(b, m)
}

// TestContextCanceledPublish: a canceled context ends Publish with its error.
func TestContextCanceledPublish(t *testing.T) {
	u := natstest.URL(t)
	b := open(t, Options{URL: u, Prefix: natstest.Prefix(t, u)})
	defer b.Close()
	must(t, b.Ensure(t.Context(), bus.Topic{Name: "events", Partitions: 1}))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Publish(ctx, "events", 0, messages("a")); !errors.Is(err, context.Canceled) {
		t.Errorf("Publish with a canceled context: %v", err)
	}
}
