// Package weblog decodes web server access logs: the W3C Extended Log File Format
// that IIS (and some proxies and firewalls) write, format id "w3c", and the Apache
// and nginx access log formats (Common, Combined, vhost_combined and nginx's
// default "combined"), format id "access-log".
//
// Both decoders fill the ECS core the way Elastic's IIS and Apache integrations do
// (source.ip, url.*, http.*, user_agent.original, event.outcome from the status) and
// keep the producer's fields raw: W3C columns under their W3C names (cs-uri-query,
// cs(User-Agent), ...), access-log fields under plain names (client, request, status,
// ...). Both also carry the field names of Sigma's "webserver" taxonomy (c-ip,
// cs-method, cs-uri-query, cs-user-agent, ...) so the generic Sigma web rules apply
// to either format without a mapping; see the format files for the exact aliases.
//
// The whole line is kept in message, for full-text searches (Sigma "keywords").
//
// A value of "-" means "no value" in both formats: it is not kept as a raw field and
// sets no ECS field.
package weblog

import (
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/event"
)

// Format ids.
const (
	FormatW3C       = "w3c"
	FormatAccessLog = "access-log"
)

// Formats lists the formats this package decodes.
func Formats() []decode.Format {
	return []decode.Format{
		{
			ID:          FormatW3C,
			Description: "W3C Extended Log File Format (IIS W3SVC logs, proxies) with #Fields directives",
			Sniff:       SniffW3C,
			New:         func() decode.Decoder { return NewW3CDecoder() },
		},
		{
			ID:          FormatAccessLog,
			Description: "Apache/nginx access logs: Common, Combined, vhost_combined, nginx combined",
			Sniff:       SniffAccessLog,
			New:         func() decode.Decoder { return NewAccessDecoder() },
		},
	}
}

// ctxCheckEvery is how many lines are read between checks of the context.
const ctxCheckEvery = 256

// setOutcome sets http.response.status_code and event.outcome from an HTTP status:
// below 400 is a success, as Elastic's web server integrations do.
func setOutcome(e *event.Event, status int64) {
	e.SetNum(event.HTTPResponseStatusCode, status)
	if status < 400 {
		e.SetStr(event.EventOutcome, "success")
	} else {
		e.SetStr(event.EventOutcome, "failure")
	}
}

// atoi parses a non-negative decimal of at most 18 digits; ok is false otherwise.
func atoi(s string) (n int64, ok bool) {
	if len(s) == 0 || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// isHTTPToken reports whether s is a non-empty RFC 9110 token, the syntax of a method.
func isHTTPToken(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '!' || c == '#' || c == '$' || c == '%' ||
			c == '&' || c == '\'' || c == '*' || c == '+' || c == '^' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}

// setURL sets url.original, url.path, url.query (and url.scheme/url.domain for the
// absolute form a proxy receives) from a request target.
func setURL(e *event.Event, target string) {
	if target == "" {
		return
	}
	e.SetStr(event.URLOriginal, target)
	rest := target
	if i := indexScheme(rest); i > 0 {
		e.SetStr(event.URLScheme, rest[:i])
		rest = rest[i+3:]
		end := len(rest)
		for j := 0; j < len(rest); j++ {
			if c := rest[j]; c == '/' || c == '?' || c == '#' {
				end = j
				break
			}
		}
		e.SetStr(event.URLDomain, hostOnly(rest[:end]))
		rest = rest[end:]
	}
	path, query := rest, ""
	for j := 0; j < len(rest); j++ {
		if rest[j] == '?' {
			path, query = rest[:j], rest[j+1:]
			break
		}
	}
	if path != "" {
		e.SetStr(event.URLPath, path)
	}
	if query != "" {
		e.SetStr(event.URLQuery, query)
	}
}

// indexScheme returns the index of "://" when s starts with a URL scheme, else -1.
func indexScheme(s string) int {
	for i := 0; i < len(s) && i < 16; i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case c == ':' && i > 0:
			if len(s) >= i+3 && s[i+1] == '/' && s[i+2] == '/' {
				return i
			}
			return -1
		default:
			return -1
		}
	}
	return -1
}

// hostOnly strips userinfo and a port from an authority.
func hostOnly(a string) string {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == '@' {
			a = a[i+1:]
			break
		}
	}
	if len(a) > 0 && a[0] == '[' {
		for i := 1; i < len(a); i++ {
			if a[i] == ']' {
				return a[1:i]
			}
		}
		return a
	}
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == ':' {
			return a[:i]
		}
		if a[i] < '0' || a[i] > '9' {
			break
		}
	}
	return a
}

// setClient sets source.address, and source.ip or source.domain, from a client field
// that is an address or (with HostnameLookups on) a host name.
func setClient(e *event.Event, client string) {
	if client == "" || client == "-" {
		return
	}
	e.SetStr(event.SourceAddress, client)
	if ip := event.ParseIP(client); ip.IsValid() {
		e.SetIP(event.SourceIP, ip)
		return
	}
	e.SetStr(event.SourceDomain, client)
}

// entityCache remembers the last host and user a stream canonicalized: web logs
// repeat them on line after line, and canonicalizing allocates (case folding, the
// failed address parse of a host name, the identity key). It sets the same fields
// as event.SetHost and event.SetUser.
type entityCache struct {
	hostIn  string
	host    event.HostRef
	userIn  string
	user    event.UserRef
	userKey string
}

// setHost is e.SetHost(name), cached.
func (c *entityCache) setHost(e *event.Event, name string) {
	if name != c.hostIn || c.hostIn == "" {
		c.hostIn, c.host = name, event.CanonicalHost(name)
	}
	if c.host.FQDN == "" {
		return
	}
	e.SetStr(event.HostName, c.host.FQDN)
	e.SetStr(event.HostHostname, c.host.Short)
	e.AddRelatedHost(c.host.FQDN)
}

// setUser is e.SetUser(event.ParseUser(name)), cached.
func (c *entityCache) setUser(e *event.Event, name string) {
	if name != c.userIn || c.userIn == "" {
		c.userIn, c.user = name, event.ParseUser(name)
		c.userKey = c.user.Key()
	}
	if c.user.Name == "" {
		return
	}
	e.SetStr(event.UserName, c.user.Name)
	if c.user.Domain != "" {
		e.SetStr(event.UserDomain, c.user.Domain)
	}
	e.AddRelatedUser(c.userKey)
}
