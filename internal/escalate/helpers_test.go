package escalate

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

// fakeClock is the dispatcher's injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

func testSecret() string { return "whsec_" + base64.StdEncoding.EncodeToString(testKey) }

func secrets(m map[string]string) SecretFunc {
	return func(name string) (string, bool) { v, ok := m[name]; return v, ok }
}

func testIncident(id string, version int64) correlate.Incident {
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	return correlate.Incident{
		ID: id, Title: "Password spray | then = logon \\ on dc-1", Status: correlate.StatusOpen,
		Severity: detect.SeverityCritical, Confidence: 0.9, Risk: 88.5,
		FirstSeen: t0, LastSeen: t0.Add(time.Hour), Tactics: []string{"credential-access", "lateral-movement"},
		Entities: []detect.Entity{{Kind: detect.EntityUser, Value: "alice"}, {Kind: detect.EntityHost, Value: "dc-1"},
			{Kind: detect.EntityIP, Value: "10.0.0.5"}},
		EntityCount: 3, SignalCount: int(version), SignalIDs: []string{"s1"}, Summary: "line one\nline=two", Version: version,
	}
}

// fakeSMTP is a loopback SMTP server that records messages; it answers 550 to
// RCPT TO addresses starting with "reject".
type fakeSMTP struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []smtpMsg
}

type smtpMsg struct {
	from string
	to   []string
	data string
}

func startSMTP(t *testing.T) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeSMTP{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *fakeSMTP) addr() string { return s.ln.Addr().String() }

func (s *fakeSMTP) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(line string) { fmt.Fprintf(c, "%s\r\n", line) }
	say("220 fake ESMTP")
	var m smtpMsg
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		cmd := strings.ToUpper(line)
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250-fake")
			say("250 8BITMIME")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			m = smtpMsg{from: strings.Trim(line[len("MAIL FROM:"):], "<> ")}
			if i := strings.Index(m.from, ">"); i >= 0 {
				m.from = m.from[:i]
			}
			say("250 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			to := strings.Trim(line[len("RCPT TO:"):], "<> ")
			if strings.HasPrefix(to, "reject") {
				say("550 no such user")
				continue
			}
			m.to = append(m.to, to)
			say("250 ok")
		case cmd == "DATA":
			say("354 go ahead")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mu.Lock()
			m.data = b.String()
			s.msgs = append(s.msgs, m)
			s.mu.Unlock()
			say("250 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		case cmd == "RSET", cmd == "NOOP":
			say("250 ok")
		default:
			say("502 not implemented")
		}
	}
}

func (s *fakeSMTP) messages() []smtpMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMsg(nil), s.msgs...)
}
