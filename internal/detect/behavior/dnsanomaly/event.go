package dnsanomaly

import "github.com/vigilsec/vigil/internal/event"

// FromEvent builds a Query from a normalised DNS event (dns.question.name,
// dns.question.type, dns.response_code; the client is source.ip, else host.name).
// It reports false when the event carries no question name or no client. The
// event id is the event's stable origin id (event.Event.ID).
func FromEvent(e *event.Event) (Query, bool) {
	name := e.Str(event.DNSQuestionName)
	if name == "" {
		return Query{}, false
	}
	client := ""
	if a := e.IP(event.SourceIP); a.IsValid() {
		client = a.String()
	} else {
		client = e.Str(event.HostName)
	}
	if client == "" {
		return Query{}, false
	}
	return Query{
		Time: e.Timestamp, Client: client, Name: name,
		QType: e.Str(event.DNSQuestionType), RCode: e.Str(event.DNSResponseCode),
		EventID: e.ID(),
	}, true
}
