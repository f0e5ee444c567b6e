package syslog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigilsec/vigil/internal/ingest"
)

// oneByteReader returns one byte per Read, to split frames everywhere.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) { return o.r.Read(p[:min(1, len(p))]) }

// FuzzOctetFraming runs the TCP framer over arbitrary bytes: it must not panic,
// every message it yields is at most MaxMessage bytes, an octet-counted frame
// yields exactly its declared length; and messages encoded with octet counting
// come back unchanged, however the reads split them.
func FuzzOctetFraming(f *testing.F) {
	f.Add([]byte("5 hello3 abc"), uint16(16))
	f.Add([]byte("<1>a\n<2>b\r\n<3>c\x00"+"12 twelve bytes"), uint16(64))
	f.Add([]byte("99999999999999 x"), uint16(100))
	f.Add([]byte("07 leading\n"), uint16(8))
	f.Add([]byte("4 a\nb\n\n\n10 short"), uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, maxMsg uint16) {
		limit := int(maxMsg%4096) + 1
		for _, split := range []bool{false, true} {
			var r io.Reader = bytes.NewReader(data)
			if split {
				r = oneByteReader{r}
			}
			fr := newFramer(r, limit)
			for range len(data) + 1 {
				msg, err := fr.Next()
				if err != nil {
					break
				}
				if len(msg) > limit {
					t.Fatalf("message of %d bytes over %d", len(msg), limit)
				}
				if fr.lastLen >= 0 && fr.lastLen != len(msg) {
					t.Fatalf("octet frame declared %d bytes, yielded %d", fr.lastLen, len(msg))
				}
				if len(msg) == 0 && fr.lastLen < 0 {
					t.Fatal("empty non-transparent frame yielded")
				}
			}
		}
		// Round trip: data cut into messages of at most limit bytes.
		var wire bytes.Buffer
		var want [][]byte
		for rest := data; len(rest) > 0; {
			n := min(len(rest), int(rest[0])%limit+1)
			want = append(want, rest[:n])
			fmt.Fprintf(&wire, "%d %s", n, rest[:n])
			rest = rest[n:]
		}
		fr := newFramer(oneByteReader{&wire}, limit)
		for i, w := range want {
			msg, err := fr.Next()
			if err != nil || !bytes.Equal(msg, w) {
				t.Fatalf("message %d: %q, %v; want %q", i, msg, err, w)
			}
		}
		if _, err := fr.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("after the last message: %v, want EOF", err)
		}
	})
}

type nopAppender struct{}

func (nopAppender) Append(context.Context, []ingest.Record) error { return nil }

// BenchmarkTCP measures messages per second through one loopback TCP
// connection, octet-counted, into an Appender that does nothing.
func BenchmarkTCP(b *testing.B) {
	s, err := New(Options{TCP: "127.0.0.1:0", Appender: nopAppender{}, Registerer: prometheus.NewRegistry()})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-s.Ready()
	_, addr, _ := s.Addrs()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	frame := []byte(octet(msg3164))
	chunk := bytes.Repeat(frame, 512)
	counter := s.m.messages.WithLabelValues("tcp")
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; sent += 512 {
		n := min(512, b.N-sent)
		if _, err := c.Write(chunk[:n*len(frame)]); err != nil {
			b.Fatal(err)
		}
	}
	for testutil.ToFloat64(counter) < float64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
}
