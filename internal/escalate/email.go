package escalate

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// EmailSender mails notifications through an SMTP relay with net/smtp. It uses
// STARTTLS when the relay offers it, and PLAIN authentication when a username is
// configured (net/smtp refuses it over plain text except to localhost). The
// idempotency key is the Message-ID, which mail systems deduplicate by. A 5xx
// reply is permanent; anything else is retried.
type EmailSender struct {
	Secret SecretFunc
	// TLSConfig is used for STARTTLS; nil means verify the relay's host name.
	TLSConfig *tls.Config
	// Hello is the name given in EHLO; empty means "localhost".
	Hello string
}

// Send implements Sender.
func (s *EmailSender) Send(ctx context.Context, n *Notification) error {
	a := n.Action
	host, _, err := net.SplitHostPort(a.SMTP)
	if err != nil {
		return Permanent(fmt.Errorf("action %s: smtp address %q: %w", a.ID, a.SMTP, err))
	}
	var auth smtp.Auth
	if a.Username != "" {
		pw, err := secret(s.Secret, a)
		if err != nil {
			return err
		}
		auth = smtp.PlainAuth("", a.Username, pw, host)
	}
	msg := emailMessage(n)

	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", a.SMTP)
	if err != nil {
		return fmt.Errorf("connecting to smtp relay %s: %w", a.SMTP, err)
	}
	defer func() { _ = conn.Close() }() // the outcome is known from the write
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl) // a failed deadline only loses the timeout; the send still reports errors
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return smtpErr("greeting", err)
	}
	defer func() { _ = c.Close() }() // after QUIT this only closes the socket again
	hello := s.Hello
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		return smtpErr("EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := s.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return smtpErr("STARTTLS", err)
		}
	}
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return smtpErr("AUTH", err)
		}
	}
	if err := c.Mail(a.mailFrom); err != nil {
		return smtpErr("MAIL FROM", err)
	}
	for _, to := range a.rcpt {
		if err := c.Rcpt(to); err != nil {
			return smtpErr("RCPT TO", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpErr("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return smtpErr("writing message", err)
	}
	if err := w.Close(); err != nil {
		return smtpErr("ending message", err)
	}
	if err := c.Quit(); err != nil {
		// The relay accepted the message at "." already; a failed QUIT loses nothing.
		return nil //nolint:nilerr // delivered: the 250 after DATA is what counts
	}
	return nil
}

func smtpErr(step string, err error) error {
	err = fmt.Errorf("smtp %s: %w", step, err)
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return Permanent(err)
	}
	return err
}

// emailMessage renders the RFC 5322 message.
func emailMessage(n *Notification) []byte {
	inc := &n.Incident
	clean := strings.NewReplacer("\r", " ", "\n", " ")
	subject := clean.Replace(fmt.Sprintf("[Vigil %s] %s", inc.Severity, inc.Title))
	var b bytes.Buffer
	hdr := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	hdr("From", n.Action.From)
	hdr("To", strings.Join(n.Action.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject))
	hdr("Date", n.Now.UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+n.Key+"@vigil>")
	hdr("X-Vigil-Incident", clean.Replace(inc.ID))
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `text/plain; charset="utf-8"`)
	hdr("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	fmt.Fprintf(qp, "%s\r\n\r\nIncident:   %s (version %d)\r\nSeverity:   %s\r\nRisk:       %.1f\r\nConfidence: %.2f\r\nStatus:     %s\r\nSeen:       %s to %s\r\nSignals:    %d\r\n",
		inc.Title, inc.ID, inc.Version, inc.Severity, inc.Risk, inc.Confidence, inc.Status,
		inc.FirstSeen.UTC().Format(time.RFC3339), inc.LastSeen.UTC().Format(time.RFC3339), inc.SignalCount)
	if len(inc.Tactics) > 0 {
		fmt.Fprintf(qp, "Tactics:    %s\r\n", strings.Join(inc.Tactics, ", "))
	}
	for _, e := range inc.Entities {
		fmt.Fprintf(qp, "Entity:     %s %s\r\n", e.Kind, e.Value)
	}
	if inc.Summary != "" {
		fmt.Fprintf(qp, "\r\n%s\r\n", inc.Summary)
	}
	fmt.Fprintf(qp, "\r\nNotification key: %s\r\n", n.Key)
	_ = qp.Close() // writes to a bytes.Buffer cannot fail
	return b.Bytes()
}
