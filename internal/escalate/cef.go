package escalate

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/detect"
)

// SyslogCEFSender sends a CEF event in an RFC 5424 syslog message, over UDP (one
// datagram) or TCP (octet-counted framing, RFC 6587). The idempotency key is the
// CEF externalId.
type SyslogCEFSender struct {
	// Version is the device version in the CEF header; empty means "dev".
	Version string
	// Hostname is the syslog HOSTNAME; empty means os.Hostname.
	Hostname string
}

// Send implements Sender.
func (s *SyslogCEFSender) Send(ctx context.Context, n *Notification) error {
	a := n.Action
	msg := s.Message(n)
	var d net.Dialer
	conn, err := d.DialContext(ctx, a.Network, a.Address)
	if err != nil {
		return fmt.Errorf("connecting to syslog %s %s: %w", a.Network, a.Address, err)
	}
	defer func() { _ = conn.Close() }() // the outcome is known from the write
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl) // without it the write only loses its timeout
	}
	if a.Network == "tcp" {
		msg = append([]byte(strconv.Itoa(len(msg))+" "), msg...)
	}
	if _, err := conn.Write(msg); err != nil {
		return fmt.Errorf("writing to syslog %s %s: %w", a.Network, a.Address, err)
	}
	return nil
}

// Message renders the RFC 5424 message carrying the CEF event.
func (s *SyslogCEFSender) Message(n *Notification) []byte {
	host := s.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	host = syslogField(host, 255)
	pri := n.Action.Facility*8 + syslogSeverity(n.Incident.Severity)
	return fmt.Appendf(nil, "<%d>1 %s %s vigil - incident - %s", pri, n.Now.UTC().Format("2006-01-02T15:04:05.000000Z"), host, s.CEF(n))
}

// syslogField makes s a valid RFC 5424 header field: printable US-ASCII without
// spaces, at most max characters, "-" when empty.
func syslogField(s string, maxLen int) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < maxLen; i++ {
		if c := s[i]; c > 32 && c < 127 {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}

func syslogSeverity(s detect.Severity) int {
	switch {
	case s >= detect.SeverityCritical:
		return 2 // critical
	case s == detect.SeverityHigh:
		return 3 // error
	case s == detect.SeverityMedium:
		return 4 // warning
	case s == detect.SeverityLow:
		return 5 // notice
	}
	return 6 // informational
}

// CEFSeverity maps a severity onto CEF's 0..10.
func CEFSeverity(s detect.Severity) int {
	return [...]int{1, 3, 5, 8, 10}[min(int(s), 4)]
}

// CEF renders the event: CEF:0|Vigil|Vigil|version|signature|name|severity|ext.
// The signature id is the policy name; the extension carries the idempotency key
// as externalId.
func (s *SyslogCEFSender) CEF(n *Notification) string {
	inc := &n.Incident
	version := s.Version
	if version == "" {
		version = "dev"
	}
	policy, _, _ := strings.Cut(n.Action.ID, "/")
	var b strings.Builder
	b.WriteString("CEF:0|Vigil|Vigil|")
	for _, h := range []string{version, policy, inc.Title} {
		b.WriteString(CEFHeaderEscape(h))
		b.WriteByte('|')
	}
	b.WriteString(strconv.Itoa(CEFSeverity(inc.Severity)))
	b.WriteByte('|')
	ext := [][2]string{
		{"externalId", n.Key},
		{"cs1Label", "incidentId"}, {"cs1", inc.ID},
		{"cn1Label", "incidentVersion"}, {"cn1", strconv.FormatInt(inc.Version, 10)},
		{"cfp1Label", "risk"}, {"cfp1", strconv.FormatFloat(inc.Risk, 'f', 2, 64)},
		{"cfp2Label", "confidence"}, {"cfp2", strconv.FormatFloat(inc.Confidence, 'f', 3, 64)},
		{"cs2Label", "status"}, {"cs2", string(inc.Status)},
		{"start", strconv.FormatInt(inc.FirstSeen.UnixMilli(), 10)},
		{"end", strconv.FormatInt(inc.LastSeen.UnixMilli(), 10)},
		{"rt", strconv.FormatInt(n.Now.UnixMilli(), 10)},
	}
	if len(inc.Tactics) > 0 {
		ext = append(ext, [2]string{"cat", strings.Join(inc.Tactics, ",")})
	}
	for _, e := range inc.Entities {
		switch e.Kind {
		case detect.EntityUser:
			ext = appendOnce(ext, "suser", e.Value)
		case detect.EntityHost:
			ext = appendOnce(ext, "dhost", e.Value)
		case detect.EntityIP:
			ext = appendOnce(ext, "src", e.Value)
		}
	}
	if inc.Summary != "" {
		sum := inc.Summary
		if len(sum) > 1023 {
			sum = strings.ToValidUTF8(sum[:1023], "")
		}
		ext = append(ext, [2]string{"msg", sum})
	}
	for i, kv := range ext {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(kv[0])
		b.WriteByte('=')
		b.WriteString(CEFExtEscape(kv[1]))
	}
	return b.String()
}

func appendOnce(ext [][2]string, key, v string) [][2]string {
	for _, kv := range ext {
		if kv[0] == key {
			return ext
		}
	}
	return append(ext, [2]string{key, v})
}

// CEFHeaderEscape escapes a header field: backslash and pipe are escaped with a
// backslash; line breaks, which headers cannot hold, become spaces.
func CEFHeaderEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `|`, `\|`, "\r\n", " ", "\r", " ", "\n", " ").Replace(s)
}

// CEFExtEscape escapes an extension value: backslash and equals sign are escaped
// with a backslash, line breaks written as \n and \r.
func CEFExtEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `=`, `\=`, "\r\n", `\n`, "\n", `\n`, "\r", `\r`).Replace(s)
}
