package syslog

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// sshd messages (OpenSSH; "sshd-session" since OpenSSH 9.8).

func parseSSHD(e *event.Event, m string) bool {
	if rest, ok := strings.CutPrefix(m, "Accepted "); ok {
		return sshAuth(e, rest, outSuccess)
	}
	if rest, ok := strings.CutPrefix(m, "Failed "); ok {
		return sshAuth(e, rest, outFailure)
	}
	if rest, ok := strings.CutPrefix(m, "Invalid user "); ok {
		return sshInvalidUser(e, rest)
	}
	if rest, ok := strings.CutPrefix(m, "error: maximum authentication attempts exceeded for "); ok {
		return sshMaxAuth(e, rest)
	}
	if rest, ok := strings.CutPrefix(m, "Connection closed by "); ok {
		return sshUserConn(e, rest, "ssh_connection_closed")
	}
	if rest, ok := strings.CutPrefix(m, "Disconnected from "); ok {
		return sshUserConn(e, rest, "ssh_disconnected")
	}
	if rest, ok := strings.CutPrefix(m, "Disconnecting "); ok {
		return sshUserConn(e, rest, "ssh_disconnecting")
	}
	if rest, ok := strings.CutPrefix(m, "Received disconnect from "); ok {
		return sshUserConn(e, rest, "ssh_received_disconnect")
	}
	if rest, ok := strings.CutPrefix(m, "Did not receive identification string from "); ok {
		return sshNetwork(e, rest, "ssh_no_identification", outFailure)
	}
	if rest, ok := strings.CutPrefix(m, "banner exchange: Connection from "); ok {
		return sshNetwork(e, rest, "ssh_banner_exchange_error", outFailure)
	}
	if rest, ok := strings.CutPrefix(m, "Unable to negotiate with "); ok {
		return sshNetwork(e, rest, "ssh_negotiation_failed", outFailure)
	}
	if rest, ok := strings.CutPrefix(m, "Connection from "); ok {
		return sshConnection(e, rest)
	}
	if rest, ok := strings.CutPrefix(m, "error: kex_exchange_identification: "); ok {
		setAction(e, "ssh_kex_identification_error", event.CatNetwork, event.TypeConnection|event.TypeError, outFailure)
		setReason(e, keySSHReason, rest)
		return true
	}
	if rest, ok := cutTimeout(m); ok {
		return sshNetwork(e, rest, "ssh_auth_timeout", outFailure)
	}
	if rest, ok := strings.CutPrefix(m, "PAM "); ok {
		return pamMoreFailures(e, rest)
	}
	if rest, ok := strings.CutPrefix(m, "User "); ok {
		return sshNotAllowed(e, rest)
	}
	if strings.HasPrefix(m, "pam_") {
		return parsePAM(e, m)
	}
	return false
}

func cutTimeout(m string) (string, bool) {
	m = strings.TrimPrefix(m, "fatal: ")
	return strings.CutPrefix(m, "Timeout before authentication for ")
}

// sshAuth parses what follows "Accepted " / "Failed ":
// "METHOD for [invalid user ]USER from IP port N ssh2[: KEYTYPE FINGERPRINT]".
func sshAuth(e *event.Event, s, outcome string) bool {
	method, rest, ok := strings.Cut(s, " for ")
	if !ok || method == "" || strings.IndexByte(method, ' ') >= 0 {
		return false
	}
	i := strings.LastIndex(rest, " from ")
	if i < 0 {
		return false
	}
	user, tail := rest[:i], rest[i+len(" from "):]
	setAction(e, "ssh_login", loginCategory(outcome), event.TypeStart, outcome)
	e.AddRaw(keySSHAuthMethod, method)
	sshUser(e, user)
	ip, port, after := ipPort(tail)
	setSource(e, keySSHSourceIP, keySSHSourcePort, ip, port)
	after = strings.TrimPrefix(after, " ")
	proto, key, _ := strings.Cut(after, ": ")
	if proto != "" {
		e.AddRaw(keySSHProtocol, proto)
	}
	if key != "" {
		kt, fp, _ := strings.Cut(key, " ")
		fp, _, _ = strings.Cut(fp, " ") // certificates go on: "ID alice (serial 1) CA ..."
		e.AddRaw(keySSHKeyType, kt)
		if fp != "" {
			e.AddRaw(keySSHKeyFingerprint, fp)
		}
	}
	return true
}

func loginCategory(outcome string) event.Category {
	if outcome == outSuccess {
		return event.CatAuthentication | event.CatSession
	}
	return event.CatAuthentication
}

// sshUser sets the user of an "[invalid user ]NAME" phrase.
func sshUser(e *event.Event, user string) {
	if u, ok := strings.CutPrefix(user, "invalid user "); ok {
		e.AddRaw(keySSHInvalidUser, "true")
		e.AddRaw(keySSHUserState, "invalid")
		user = u
	}
	setUser(e, keySSHUser, user)
}

// sshInvalidUser parses "USER from IP[ port N]".
func sshInvalidUser(e *event.Event, s string) bool {
	i := strings.LastIndex(s, " from ")
	if i < 0 {
		return false
	}
	setAction(e, "ssh_invalid_user", event.CatAuthentication, event.TypeStart, outFailure)
	e.AddRaw(keySSHInvalidUser, "true")
	e.AddRaw(keySSHUserState, "invalid")
	setUser(e, keySSHUser, s[:i])
	ip, port, _ := ipPort(s[i+len(" from "):])
	setSource(e, keySSHSourceIP, keySSHSourcePort, ip, port)
	return true
}

// sshMaxAuth parses "[invalid user ]USER from IP port N ssh2 [preauth]".
func sshMaxAuth(e *event.Event, s string) bool {
	s, preauth := strings.CutSuffix(s, " [preauth]")
	i := strings.LastIndex(s, " from ")
	if i < 0 {
		return false
	}
	setAction(e, "ssh_max_auth_attempts", event.CatAuthentication, event.TypeStart, outFailure)
	sshUser(e, s[:i])
	ip, port, after := ipPort(s[i+len(" from "):])
	setSource(e, keySSHSourceIP, keySSHSourcePort, ip, port)
	if proto := strings.TrimPrefix(after, " "); proto != "" {
		e.AddRaw(keySSHProtocol, proto)
	}
	if preauth {
		e.AddRaw(keySSHPreauth, "true")
	}
	return true
}

// sshUserConn parses the "[authenticating |invalid ]user NAME IP port N..." or
// "IP port N..." phrases of the connection-ending messages.
func sshUserConn(e *event.Event, s, action string) bool {
	s, preauth := strings.CutSuffix(s, " [preauth]")
	pre, ip, port, post, ok := findIPPort(s)
	if !ok {
		return false
	}
	state, user := "", ""
	switch {
	case strings.HasPrefix(pre, "authenticating user "):
		state, user = "authenticating", pre[len("authenticating user "):]
	case strings.HasPrefix(pre, "invalid user "):
		state, user = "invalid", pre[len("invalid user "):]
		e.AddRaw(keySSHInvalidUser, "true")
	case strings.HasPrefix(pre, "user "):
		state, user = "user", pre[len("user "):]
	case pre != "":
		return false
	}
	if state != "" {
		e.AddRaw(keySSHUserState, state)
	}
	setUser(e, keySSHUser, user)
	setSource(e, keySSHSourceIP, keySSHSourcePort, ip, port)
	if preauth {
		e.AddRaw(keySSHPreauth, "true")
	}
	// post is ":11: Bye Bye" (Received disconnect) or ": Too many ..." (Disconnecting).
	post = strings.TrimPrefix(post, ":")
	if action == "ssh_received_disconnect" {
		if code, reason, ok := strings.Cut(post, ": "); ok {
			if _, isNum := atoi(code); isNum {
				e.AddRaw(keySSHDisconnectCode, code)
				post = reason
			}
		}
	}
	setReason(e, keySSHReason, strings.TrimSpace(post))
	switch {
	case action == "ssh_disconnecting" && strings.Contains(post, "authentication failures"):
		setAction(e, action, event.CatAuthentication, event.TypeEnd, outFailure)
	case action == "ssh_disconnected" && state == "user" && !preauth:
		setAction(e, action, event.CatSession|event.CatNetwork, event.TypeEnd|event.TypeConnection, outSuccess)
	case preauth && state != "":
		setAction(e, action, event.CatAuthentication|event.CatNetwork, event.TypeEnd|event.TypeConnection, outFailure)
	default:
		setAction(e, action, event.CatNetwork, event.TypeEnd|event.TypeConnection, outUnknown)
	}
	return true
}

// sshNetwork parses "IP port N[: reason]" of pre-authentication network failures.
func sshNetwork(e *event.Event, s, action, outcome string) bool {
	s, preauth := strings.CutSuffix(s, " [preauth]")
	ip, port, post := ipPort(s)
	if ip == "" {
		return false
	}
	setAction(e, action, event.CatNetwork, event.TypeConnection, outcome)
	setSource(e, keySSHSourceIP, keySSHSourcePort, ip, port)
	if preauth {
		e.AddRaw(keySSHPreauth, "true")
	}
	post = strings.TrimSpace(strings.TrimPrefix(post, ":"))
	setReason(e, keySSHReason, post)
	return true
}

// sshConnection parses "IP port N on IP port N[ rdomain "..."]" (LogLevel VERBOSE).
func sshConnection(e *event.Event, s string) bool {
	ip, port, post := ipPort(s)
	if ip == "" || port == "" {
		return false
	}
	setAction(e, "ssh_connection", event.CatNetwork, event.TypeConnection|event.TypeStart, "")
	setSource(e, keySSHSourceIP, keySSHSourcePort, ip, port)
	if rest, ok := strings.CutPrefix(post, " on "); ok {
		dip, dport, _ := ipPort(rest)
		if dip != "" {
			e.AddRaw(keySSHDestIP, dip)
			e.SetIP(event.DestinationIP, event.ParseIP(dip))
		}
		if dport != "" {
			e.AddRaw(keySSHDestPort, dport)
			if n, ok := atoi(dport); ok && n <= 65535 {
				e.SetNum(event.DestinationPort, int64(n))
			}
		}
	}
	return true
}

// sshNotAllowed parses "USER from HOST not allowed because REASON".
func sshNotAllowed(e *event.Event, s string) bool {
	head, reason, ok := strings.Cut(s, " not allowed because ")
	if !ok {
		return false
	}
	i := strings.LastIndex(head, " from ")
	if i < 0 {
		return false
	}
	setAction(e, "ssh_login", event.CatAuthentication, event.TypeStart, outFailure)
	setUser(e, keySSHUser, head[:i])
	setSource(e, keySSHSourceIP, keySSHSourcePort, head[i+len(" from "):], "")
	setReason(e, keySSHReason, "not allowed because "+reason)
	return true
}

// pamMoreFailures parses sshd's "N more authentication failures; logname= ... user=X".
func pamMoreFailures(e *event.Event, s string) bool {
	n, rest, ok := strings.Cut(s, " more authentication failure")
	if !ok {
		return false
	}
	if _, isNum := atoi(n); !isNum {
		return false
	}
	_, kv, ok := strings.Cut(rest, "; ")
	if !ok {
		return false
	}
	e.AddRaw(keyPAMMoreFailures, n)
	setAction(e, "authentication_failure", event.CatAuthentication, event.TypeStart, outFailure)
	pamKV(e, kv, "sshd")
	return true
}

// ipPort splits "IP port N<rest>" (or "IP<rest>" without a port).
func ipPort(s string) (ip, port, rest string) {
	i := strings.IndexByte(s, ' ')
	if i < 0 {
		return strings.TrimSuffix(s, ":"), "", ""
	}
	ip, rest = s[:i], s[i:]
	if r, ok := strings.CutPrefix(rest, " port "); ok {
		j := 0
		for j < len(r) && isDigit(r[j]) {
			j++
		}
		if j > 0 {
			return ip, r[:j], r[j:]
		}
	}
	return strings.TrimSuffix(ip, ":"), "", rest
}

// findIPPort finds "PRE IP port N POST" in s, preferring a " port " preceded by a
// parseable address (user names are attacker-chosen and may contain " port ").
func findIPPort(s string) (pre, ip, port, post string, ok bool) {
	first, from := -1, 0
	for {
		j := strings.Index(s[from:], " port ")
		if j < 0 {
			break
		}
		j += from
		k := strings.LastIndexByte(s[:j], ' ') + 1
		if event.ParseIP(s[k:j]).IsValid() {
			return splitIPPort(s, k, j)
		}
		if first < 0 {
			first = j
		}
		from = j + len(" port ")
	}
	if first < 0 {
		return "", "", "", "", false
	}
	return splitIPPort(s, strings.LastIndexByte(s[:first], ' ')+1, first)
}

func splitIPPort(s string, k, j int) (pre, ip, port, post string, ok bool) {
	pre = strings.TrimSuffix(s[:k], " ")
	ip = s[k:j]
	r := s[j+len(" port "):]
	n := 0
	for n < len(r) && isDigit(r[n]) {
		n++
	}
	if n == 0 || ip == "" {
		return "", "", "", "", false
	}
	return pre, ip, r[:n], r[n:], true
}
