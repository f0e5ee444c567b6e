package escalate

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/correlate"
	"github.com/vigilsec/vigil/internal/detect"
)

// Notification is one outbox item ready to send.
type Notification struct {
	Key      string // idempotency key; receivers deduplicate by it
	Action   *Action
	Incident correlate.Incident
	Attempt  int       // 1 for the first attempt
	Now      time.Time // the dispatcher's clock
}

// Sender delivers notifications of one kind. Send returns nil once the receiver
// has accepted the notification, an error wrapped by Permanent when retrying
// cannot help, and any other error for a failure worth retrying. Errors must not
// contain secrets (they are logged and stored).
type Sender interface {
	Send(ctx context.Context, n *Notification) error
}

// SecretFunc looks up the value of an environment variable named by secret_env.
type SecretFunc func(name string) (string, bool)

// PermanentError marks a failure that retrying cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError.
func Permanent(err error) error { return &PermanentError{Err: err} }

// IsPermanent reports whether err is marked permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

func secret(get SecretFunc, a *Action) (string, error) {
	v, ok := get(a.SecretEnv)
	if !ok || v == "" {
		return "", fmt.Errorf("action %s: environment variable %s is not set", a.ID, a.SecretEnv)
	}
	return v, nil
}

// httpPost posts body and classifies the answer: 2xx delivered; 408, 429 and 5xx
// worth retrying; any other status permanent. Transport errors are retried; the
// URL is left out of errors (a Slack webhook URL is a secret).
func httpPost(ctx context.Context, client *http.Client, target string, header http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return Permanent(errors.New("building request: invalid URL"))
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil-escalate")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("posting to %s: %w", req.URL.Host, err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("posting to %s: status %d: %s", req.URL.Host, resp.StatusCode, strings.TrimSpace(string(snippet)))
	if resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return err
	}
	return Permanent(err)
}

// WebhookSender posts Standard Webhooks (https://www.standardwebhooks.com): the
// body is {"type","timestamp","data"}, and the headers webhook-id (the
// idempotency key), webhook-timestamp (Unix seconds) and webhook-signature
// ("v1," + base64 HMAC-SHA256 over "id.timestamp.body" keyed with the decoded
// whsec_ secret).
type WebhookSender struct {
	Client *http.Client
	Secret SecretFunc
}

// WebhookBody is the JSON a webhook receiver gets.
type WebhookBody struct {
	Type      string             `json:"type"`
	Timestamp time.Time          `json:"timestamp"`
	Data      correlate.Incident `json:"data"`
}

// Send implements Sender.
func (s *WebhookSender) Send(ctx context.Context, n *Notification) error {
	sec, err := secret(s.Secret, n.Action)
	if err != nil {
		return err
	}
	key, err := DecodeWebhookSecret(sec)
	if err != nil {
		return Permanent(fmt.Errorf("action %s: secret in %s: %w", n.Action.ID, n.Action.SecretEnv, err))
	}
	body, err := json.Marshal(WebhookBody{Type: "incident.escalated", Timestamp: n.Now.UTC(), Data: n.Incident})
	if err != nil {
		return Permanent(fmt.Errorf("encoding webhook body: %w", err))
	}
	ts := strconv.FormatInt(n.Now.Unix(), 10)
	h := http.Header{}
	h.Set("webhook-id", n.Key)
	h.Set("webhook-timestamp", ts)
	h.Set("webhook-signature", SignWebhook(key, n.Key, ts, body))
	return httpPost(ctx, s.Client, n.Action.URL, h, body)
}

// DecodeWebhookSecret decodes a "whsec_<base64>" secret into the HMAC key.
func DecodeWebhookSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, errors.New("not a whsec_ secret")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) < 16 {
		return nil, errors.New("whsec_ secret is not base64 of at least 16 bytes")
	}
	return key, nil
}

// SignWebhook returns the webhook-signature header value.
func SignWebhook(key []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a Standard Webhooks request's signature and that its
// timestamp lies within tolerance of now; it is what a receiver (and the tests)
// run. The signature header may carry several space-separated signatures.
func VerifyWebhook(key []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("malformed webhook-timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook-timestamp outside tolerance")
	}
	want := SignWebhook(key, id, ts, body)
	for sig := range strings.FieldsSeq(sigs) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no matching signature")
}

// SlackSender posts to a Slack incoming webhook, whose URL is the secret.
// Slack offers no idempotency header: a retried notification after a lost
// response can show twice; the key is in the message text so people can tell.
type SlackSender struct {
	Client *http.Client
	Secret SecretFunc
}

// SlackMessage is the incoming-webhook payload.
type SlackMessage struct {
	Text string `json:"text"`
}

// Send implements Sender.
func (s *SlackSender) Send(ctx context.Context, n *Notification) error {
	hook, err := secret(s.Secret, n.Action)
	if err != nil {
		return err
	}
	inc := &n.Incident
	text := fmt.Sprintf("*[%s] %s*\nIncident `%s` (version %d): risk %.1f, confidence %.2f, %d signals, %s to %s",
		inc.Severity, slackEscape(inc.Title), inc.ID, inc.Version, inc.Risk, inc.Confidence, inc.SignalCount,
		inc.FirstSeen.UTC().Format(time.RFC3339), inc.LastSeen.UTC().Format(time.RFC3339))
	if len(inc.Tactics) > 0 {
		text += "\nTactics: " + slackEscape(strings.Join(inc.Tactics, ", "))
	}
	if len(inc.Entities) > 0 {
		var es []string
		for _, e := range inc.Entities[:min(len(inc.Entities), 5)] {
			es = append(es, string(e.Kind)+":"+e.Value)
		}
		text += "\nEntities: " + slackEscape(strings.Join(es, ", "))
	}
	text += "\n_key " + n.Key + "_"
	body, err := json.Marshal(SlackMessage{Text: text})
	if err != nil {
		return Permanent(fmt.Errorf("encoding slack message: %w", err))
	}
	return httpPost(ctx, s.Client, hook, nil, body)
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// PagerDutySender triggers PagerDuty Events API v2 alerts. dedup_key is the
// incident id, so every version of an incident updates one alert and a
// redelivered trigger is merged by PagerDuty; the notification's idempotency key
// travels in custom_details.
type PagerDutySender struct {
	Client *http.Client
	Secret SecretFunc
}

// PagerDutyEvent is an Events API v2 enqueue body.
type PagerDutyEvent struct {
	RoutingKey  string           `json:"routing_key"`
	EventAction string           `json:"event_action"`
	DedupKey    string           `json:"dedup_key"`
	Payload     PagerDutyPayload `json:"payload"`
	Client      string           `json:"client,omitempty"`
}

// PagerDutyPayload is the event's payload.
type PagerDutyPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// PagerDutySeverity maps a severity to PagerDuty's critical, error, warning, info.
func PagerDutySeverity(s detect.Severity) string {
	switch {
	case s >= detect.SeverityCritical:
		return "critical"
	case s == detect.SeverityHigh:
		return "error"
	case s == detect.SeverityMedium:
		return "warning"
	}
	return "info"
}

// Send implements Sender.
func (s *PagerDutySender) Send(ctx context.Context, n *Notification) error {
	rk, err := secret(s.Secret, n.Action)
	if err != nil {
		return err
	}
	inc := &n.Incident
	summary := fmt.Sprintf("[%s] %s (risk %.1f)", inc.Severity, inc.Title, inc.Risk)
	if len(summary) > 1024 {
		summary = strings.ToValidUTF8(summary[:1024], "")
	}
	ev := PagerDutyEvent{
		RoutingKey: rk, EventAction: "trigger", DedupKey: inc.ID, Client: "Vigil",
		Payload: PagerDutyPayload{
			Summary: summary, Source: "vigil", Severity: PagerDutySeverity(inc.Severity),
			Timestamp: inc.LastSeen.UTC().Format(time.RFC3339Nano), Component: "correlate", Class: "incident",
			CustomDetails: map[string]any{
				"idempotency_key": n.Key, "incident_id": inc.ID, "incident_version": inc.Version,
				"risk": inc.Risk, "confidence": inc.Confidence, "status": inc.Status,
				"tactics": inc.Tactics, "entities": inc.Entities, "signal_count": inc.SignalCount,
			},
		},
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return Permanent(fmt.Errorf("encoding pagerduty event: %w", err))
	}
	return httpPost(ctx, s.Client, n.Action.URL, nil, body)
}
