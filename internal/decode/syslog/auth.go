package syslog

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// Raw keys set by ParseAuthMessage. The names are stable: rules address them.
var (
	keySSHAuthMethod     = event.MakeKey("ssh.auth_method")
	keySSHUser           = event.MakeKey("ssh.user")
	keySSHInvalidUser    = event.MakeKey("ssh.invalid_user")
	keySSHUserState      = event.MakeKey("ssh.user_state")
	keySSHSourceIP       = event.MakeKey("ssh.source_ip")
	keySSHSourcePort     = event.MakeKey("ssh.source_port")
	keySSHDestIP         = event.MakeKey("ssh.destination_ip")
	keySSHDestPort       = event.MakeKey("ssh.destination_port")
	keySSHProtocol       = event.MakeKey("ssh.protocol")
	keySSHKeyType        = event.MakeKey("ssh.key_type")
	keySSHKeyFingerprint = event.MakeKey("ssh.key_fingerprint")
	keySSHPreauth        = event.MakeKey("ssh.preauth")
	keySSHReason         = event.MakeKey("ssh.reason")
	keySSHDisconnectCode = event.MakeKey("ssh.disconnect_code")

	keyPAMModule       = event.MakeKey("pam.module")
	keyPAMService      = event.MakeKey("pam.service")
	keyPAMType         = event.MakeKey("pam.type")
	keyPAMMessage      = event.MakeKey("pam.message")
	keyPAMUser         = event.MakeKey("pam.user")
	keyPAMUID          = event.MakeKey("pam.uid")
	keyPAMByUser       = event.MakeKey("pam.by_user")
	keyPAMByUID        = event.MakeKey("pam.by_uid")
	keyPAMLogname      = event.MakeKey("pam.logname")
	keyPAMEUID         = event.MakeKey("pam.euid")
	keyPAMTTY          = event.MakeKey("pam.tty")
	keyPAMRuser        = event.MakeKey("pam.ruser")
	keyPAMRhost        = event.MakeKey("pam.rhost")
	keyPAMMoreFailures = event.MakeKey("pam.more_failures")

	keySudoUser       = event.MakeKey("sudo.user")
	keySudoTTY        = event.MakeKey("sudo.tty")
	keySudoPWD        = event.MakeKey("sudo.pwd")
	keySudoRunasUser  = event.MakeKey("sudo.runas_user")
	keySudoRunasGroup = event.MakeKey("sudo.runas_group")
	keySudoEnv        = event.MakeKey("sudo.env")
	keySudoTSID       = event.MakeKey("sudo.tsid")
	keySudoCommand    = event.MakeKey("sudo.command")
	keySudoError      = event.MakeKey("sudo.error")

	keySuUser       = event.MakeKey("su.user")
	keySuTargetUser = event.MakeKey("su.target_user")
	keySuTTY        = event.MakeKey("su.tty")

	keyIAMUserName    = event.MakeKey("iam.user.name")
	keyIAMUserUID     = event.MakeKey("iam.user.uid")
	keyIAMUserGID     = event.MakeKey("iam.user.gid")
	keyIAMUserNewName = event.MakeKey("iam.user.new_name")
	keyIAMGroupName   = event.MakeKey("iam.group.name")
	keyIAMGroupGID    = event.MakeKey("iam.group.gid")
	keyIAMHome        = event.MakeKey("iam.home")
	keyIAMShell       = event.MakeKey("iam.shell")
	keyIAMFrom        = event.MakeKey("iam.from")
	keyIAMFile        = event.MakeKey("iam.file")
	keyIAMByUser      = event.MakeKey("iam.by_user")
	keyIAMChangeField = event.MakeKey("iam.change.field")
	keyIAMChangeOld   = event.MakeKey("iam.change.old")
	keyIAMChangeNew   = event.MakeKey("iam.change.new")

	keyLogindSessionID = event.MakeKey("logind.session_id")
	keyLogindUser      = event.MakeKey("logind.user")

	keyCronUser    = event.MakeKey("cron.user")
	keyCronCommand = event.MakeKey("cron.command")
)

// Outcomes.
const (
	outSuccess = "success"
	outFailure = "failure"
	outUnknown = "unknown"
)

// ParseAuthMessage parses the message of a program that writes the Linux
// authentication log (sshd, sudo, su, useradd and the other shadow tools, passwd,
// chpasswd, systemd-logind, cron, and any program's PAM lines) into e: event.action,
// event.category, event.type, event.outcome, event.reason, user.* (the acting user)
// and user.target.* (the user acted upon), user.effective.name, source.ip/port,
// related.*, and raw fields named by the program's own terms:
//
//	ssh.auth_method ssh.user ssh.invalid_user ssh.user_state ssh.source_ip
//	ssh.source_port ssh.destination_ip ssh.destination_port ssh.protocol ssh.key_type
//	ssh.key_fingerprint ssh.preauth ssh.reason ssh.disconnect_code
//	pam.module pam.service pam.type pam.message pam.user pam.uid pam.by_user
//	pam.by_uid pam.logname pam.euid pam.tty pam.ruser pam.rhost pam.more_failures
//	sudo.user sudo.tty sudo.pwd sudo.runas_user sudo.runas_group sudo.env sudo.tsid
//	sudo.command sudo.error
//	su.user su.target_user su.tty
//	iam.user.name iam.user.uid iam.user.gid iam.user.new_name iam.group.name
//	iam.group.gid iam.home iam.shell iam.from iam.file iam.by_user
//	iam.change.field iam.change.old iam.change.new
//	logind.session_id logind.user cron.user cron.command
//
// program is the syslog tag or journald SYSLOG_IDENTIFIER ("sshd", "sudo"; a path
// is reduced to its base name). Every value set is a slice of msg, so msg must
// outlive e. It reports whether the message was recognised; when it was not, e may
// still have gained raw fields of a recognised prefix (a PAM module and service).
func ParseAuthMessage(e *event.Event, program, msg string) bool {
	switch baseName(program) {
	case "sshd", "sshd-session", "sshd-auth":
		return parseSSHD(e, msg)
	case "sudo":
		return parseSudo(e, msg)
	case "su":
		return parseSu(e, msg)
	case "useradd", "usermod", "userdel", "groupadd", "groupdel", "groupmod", "gpasswd",
		"passwd", "chpasswd", "chage", "newusers", "chsh", "chfn":
		return parseShadow(e, msg)
	case "systemd-logind":
		return parseLogind(e, msg)
	case "CRON", "cron", "crond":
		return parseCron(e, msg)
	}
	if strings.HasPrefix(msg, "pam_") {
		return parsePAM(e, msg)
	}
	return false
}

func setAction(e *event.Event, action string, cat event.Category, typ event.Type, outcome string) {
	e.SetStr(event.EventAction, action)
	e.Category |= cat
	e.Type |= typ
	if outcome != "" {
		e.SetStr(event.EventOutcome, outcome)
	}
}

func setUser(e *event.Event, k event.Key, name string) {
	if name == "" {
		return
	}
	if k != (event.Key{}) {
		e.AddRaw(k, name)
	}
	e.SetUser(event.ParseUser(name))
}

func setTarget(e *event.Event, k event.Key, name string) {
	if name == "" {
		return
	}
	if k != (event.Key{}) {
		e.AddRaw(k, name)
	}
	e.SetTargetUser(event.ParseUser(name))
}

// setEffective sets the target user of a privilege change (sudo, su), who is also
// the effective user of what runs.
func setEffective(e *event.Event, k event.Key, name string) {
	setTarget(e, k, name)
	e.SetStr(event.UserEffectiveName, e.Str(event.UserTargetName))
}

// setSource sets source.ip (or source.address and source.domain for a host name) and
// source.port, with their raw fields.
func setSource(e *event.Event, kip, kport event.Key, host, port string) {
	if host != "" {
		e.AddRaw(kip, host)
		if ip := event.ParseIP(host); ip.IsValid() {
			e.SetIP(event.SourceIP, ip)
		} else if host != "UNKNOWN" {
			e.SetStr(event.SourceAddress, host)
			e.SetStr(event.SourceDomain, host)
		}
	}
	if port != "" {
		e.AddRaw(kport, port)
		if n, ok := atoi(port); ok && n <= 65535 {
			e.SetNum(event.SourcePort, int64(n))
		}
	}
}

func setReason(e *event.Event, k event.Key, reason string) {
	if reason == "" {
		return
	}
	e.AddRaw(k, reason)
	e.SetStr(event.EventReason, reason)
}

// ---- sshd ----

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

// ---- PAM ----

// escalation lists the PAM services where "session opened for user X by Y" means Y
// became X.
func escalation(service string) bool {
	switch service {
	case "su", "su-l", "sudo", "sudo-i", "runuser", "runuser-l", "pkexec", "doas":
		return true
	}
	return false
}

// parsePAM parses "MODULE(SERVICE:TYPE): TEXT".
func parsePAM(e *event.Event, m string) bool {
	open := strings.IndexByte(m, '(')
	end := strings.Index(m, "): ")
	if open <= 0 || end < open {
		return false
	}
	svc, typ, _ := strings.Cut(m[open+1:end], ":")
	text := m[end+3:]
	e.AddRaw(keyPAMModule, m[:open])
	e.AddRaw(keyPAMService, svc)
	if typ != "" {
		e.AddRaw(keyPAMType, typ)
	}
	e.AddRaw(keyPAMMessage, text)
	if rest, ok := strings.CutPrefix(text, "session opened for user "); ok {
		pamSessionOpened(e, rest, svc)
		return true
	}
	if rest, ok := strings.CutPrefix(text, "session closed for user "); ok {
		setAction(e, "session_closed", event.CatSession, event.TypeEnd, outSuccess)
		if escalation(svc) {
			setEffective(e, keyPAMUser, rest)
		} else {
			setUser(e, keyPAMUser, rest)
		}
		return true
	}
	if rest, ok := strings.CutPrefix(text, "authentication failure; "); ok {
		setAction(e, "authentication_failure", event.CatAuthentication, event.TypeStart, outFailure)
		pamKV(e, rest, svc)
		return true
	}
	if rest, ok := strings.CutPrefix(text, "authentication success; "); ok {
		setAction(e, "authentication_success", event.CatAuthentication, event.TypeStart, outSuccess)
		pamKV(e, rest, svc)
		return true
	}
	if rest, ok := strings.CutPrefix(text, "password changed for "); ok {
		setAction(e, "password_changed", event.CatIAM, event.TypeUser|event.TypeChange, outSuccess)
		setTarget(e, keyPAMUser, rest)
		return true
	}
	if rest, ok := strings.CutPrefix(text, "auth could not identify password for ["); ok {
		setAction(e, "authentication_failure", event.CatAuthentication, event.TypeStart, outFailure)
		setUser(e, keyPAMUser, strings.TrimSuffix(rest, "]"))
		return true
	}
	if text == "check pass; user unknown" {
		setAction(e, "authentication_failure", event.CatAuthentication, event.TypeStart, outFailure)
		e.SetStr(event.EventReason, "user unknown")
		return true
	}
	return false
}

// pamSessionOpened parses "X(uid=N) by Y(uid=M)" and its variants without uids.
func pamSessionOpened(e *event.Event, s, svc string) {
	setAction(e, "session_opened", event.CatSession, event.TypeStart, outSuccess)
	target, by, _ := cutLast(s, " by ")
	name, uid := userUID(target)
	byName, byUID := userUID(by)
	if byName != "" {
		e.AddRaw(keyPAMByUser, byName)
	}
	if byUID != "" {
		e.AddRaw(keyPAMByUID, byUID)
	}
	if uid != "" {
		e.AddRaw(keyPAMUID, uid)
	}
	if escalation(svc) && byName != "" {
		setUser(e, event.Key{}, byName)
		e.SetStr(event.UserID, byUID)
		setEffective(e, keyPAMUser, name)
		e.SetStr(event.UserTargetID, uid)
		return
	}
	setUser(e, keyPAMUser, name)
	e.SetStr(event.UserID, uid)
}

// userUID splits "alice(uid=1000)" into "alice" and "1000"; "(uid=0)" gives "", "0".
func userUID(s string) (name, uid string) {
	i := strings.LastIndex(s, "(uid=")
	if i < 0 || !strings.HasSuffix(s, ")") {
		return s, ""
	}
	return s[:i], s[i+len("(uid=") : len(s)-1]
}

// pamKV parses "logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root".
// For escalation services the requesting user (ruser, else logname) acts on user.
func pamKV(e *event.Event, s, svc string) {
	var ruser, logname, user string
	for s != "" {
		s = strings.TrimLeft(s, " ")
		k, rest, ok := strings.Cut(s, "=")
		if !ok || strings.IndexByte(k, ' ') >= 0 {
			break
		}
		var v string
		if k == "user" {
			v, s = rest, "" // the last pair; a name may hold spaces
		} else {
			v, s, _ = strings.Cut(rest, " ")
		}
		switch k {
		case "logname":
			logname = v
			addNonEmpty(e, keyPAMLogname, v)
		case "uid":
			addNonEmpty(e, keyPAMUID, v)
		case "euid":
			addNonEmpty(e, keyPAMEUID, v)
		case "tty":
			addNonEmpty(e, keyPAMTTY, v)
		case "ruser":
			ruser = v
			addNonEmpty(e, keyPAMRuser, v)
		case "rhost":
			if v != "" {
				setSource(e, keyPAMRhost, event.Key{}, v, "")
			}
		case "user":
			user = v
		}
	}
	actor := ruser
	if actor == "" {
		actor = logname
	}
	if escalation(svc) && actor != "" && actor != user {
		setUser(e, event.Key{}, actor)
		setEffective(e, keyPAMUser, user)
		return
	}
	setUser(e, keyPAMUser, user)
}

func addNonEmpty(e *event.Event, k event.Key, v string) {
	if v != "" {
		e.AddRaw(k, v)
	}
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// ---- sudo ----

// parseSudo parses "USER : [ERROR ; ]TTY=pts/0 ; PWD=/x ; USER=root ; COMMAND=/bin/x args".
func parseSudo(e *event.Event, m string) bool {
	m = strings.TrimLeft(m, " ")
	if strings.HasPrefix(m, "pam_") {
		return parsePAM(e, m)
	}
	user, rest, ok := strings.Cut(m, " : ")
	if !ok || user == "" || strings.IndexByte(user, ' ') >= 0 {
		return false
	}
	var errText, runas string
	seen := false
	for rest != "" {
		if cmd, ok := strings.CutPrefix(rest, "COMMAND="); ok {
			e.AddRaw(keySudoCommand, cmd)
			seen = true
			break
		}
		seg, more, _ := strings.Cut(rest, " ; ")
		rest = more
		k, v, isKV := strings.Cut(seg, "=")
		if !isKV || !isUpperWord(k) {
			if errText == "" {
				errText = seg
			}
			continue
		}
		seen = true
		switch k {
		case "TTY":
			e.AddRaw(keySudoTTY, v)
		case "PWD":
			e.AddRaw(keySudoPWD, v)
			e.SetStr(event.ProcessWorkingDirectory, v)
		case "USER":
			runas = v
		case "GROUP":
			e.AddRaw(keySudoRunasGroup, v)
		case "ENV":
			e.AddRaw(keySudoEnv, v)
		case "TSID":
			e.AddRaw(keySudoTSID, v)
		}
	}
	if !seen {
		return false
	}
	setUser(e, keySudoUser, user)
	setEffective(e, keySudoRunasUser, runas)
	if errText == "" {
		setAction(e, "sudo_command", event.CatProcess, event.TypeStart|event.TypeAllowed, outSuccess)
		return true
	}
	cat := event.CatProcess
	if strings.Contains(errText, "password") {
		cat |= event.CatAuthentication
	}
	setAction(e, "sudo_command", cat, event.TypeStart|event.TypeDenied, outFailure)
	setReason(e, keySudoError, errText)
	return true
}

func isUpperWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 'A' || s[i] > 'Z') && s[i] != '_' {
			return false
		}
	}
	return true
}

// ---- su ----

// parseSu parses util-linux su ("(to root) alice on pts/0", "FAILED SU (to root)
// alice on pts/0") and shadow su ("+ pts/0 alice:root", "Successful su for root by
// alice", "FAILED su for root by alice").
func parseSu(e *event.Event, m string) bool {
	if strings.HasPrefix(m, "pam_") {
		return parsePAM(e, m)
	}
	outcome := outSuccess
	if rest, ok := strings.CutPrefix(m, "FAILED SU "); ok {
		m, outcome = rest, outFailure
	}
	if rest, ok := strings.CutPrefix(m, "(to "); ok {
		target, rest, ok := strings.Cut(rest, ") ")
		if !ok {
			return false
		}
		user, tty, _ := strings.Cut(rest, " on ")
		suEvent(e, user, target, tty, outcome)
		return true
	}
	if len(m) > 2 && (m[0] == '+' || m[0] == '-') && m[1] == ' ' {
		tty, pair, ok := strings.Cut(m[2:], " ")
		user, target, ok2 := strings.Cut(pair, ":")
		if !ok || !ok2 {
			return false
		}
		if m[0] == '-' {
			outcome = outFailure
		}
		suEvent(e, user, target, tty, outcome)
		return true
	}
	for _, p := range [...]struct{ prefix, outcome string }{{"Successful su for ", outSuccess}, {"FAILED su for ", outFailure}} {
		if rest, ok := strings.CutPrefix(m, p.prefix); ok {
			target, user, ok := strings.Cut(rest, " by ")
			if !ok {
				return false
			}
			suEvent(e, user, target, "", p.outcome)
			return true
		}
	}
	return false
}

func suEvent(e *event.Event, user, target, tty, outcome string) {
	setAction(e, "su", event.CatAuthentication, event.TypeStart, outcome)
	setUser(e, keySuUser, user)
	setEffective(e, keySuTargetUser, target)
	addNonEmpty(e, keySuTTY, tty)
}

// ---- shadow-utils: useradd, usermod, userdel, groupadd, groupdel, gpasswd, passwd, chage ----

func parseShadow(e *event.Event, m string) bool {
	if strings.HasPrefix(m, "pam_") {
		return parsePAM(e, m)
	}
	switch {
	case strings.HasPrefix(m, "new user: "):
		setAction(e, "user_created", event.CatIAM, event.TypeUser|event.TypeCreation, outSuccess)
		shadowKV(e, m[len("new user: "):])
		return true
	case strings.HasPrefix(m, "new group: "):
		setAction(e, "group_created", event.CatIAM, event.TypeGroup|event.TypeCreation, outSuccess)
		shadowKV(e, m[len("new group: "):])
		return true
	case strings.HasPrefix(m, "group added to "):
		file, kv, ok := strings.Cut(m[len("group added to "):], ": ")
		if !ok {
			return false
		}
		setAction(e, "group_created", event.CatIAM, event.TypeGroup|event.TypeCreation, outSuccess)
		e.AddRaw(keyIAMFile, file)
		shadowKV(e, kv)
		return true
	}
	if rest, ok := strings.CutPrefix(m, "add "); ok {
		return groupMembership(e, rest, " to ", "user_added_to_group")
	}
	if rest, ok := strings.CutPrefix(m, "delete user "); ok {
		user, _, ok := quoted(rest)
		if !ok {
			return false
		}
		setAction(e, "user_deleted", event.CatIAM, event.TypeUser|event.TypeDeletion, outSuccess)
		setTarget(e, keyIAMUserName, user)
		return true
	}
	if rest, ok := strings.CutPrefix(m, "delete "); ok {
		return groupMembership(e, rest, " from ", "user_removed_from_group")
	}
	if rest, ok := strings.CutPrefix(m, "removed "); ok {
		return removedGroup(e, rest)
	}
	if rest, ok := strings.CutPrefix(m, "group "); ok {
		return groupRemoved(e, rest)
	}
	if rest, ok := strings.CutPrefix(m, "change user "); ok {
		return changeUser(e, rest)
	}
	if rest, ok := strings.CutPrefix(m, "lock user "); ok {
		return lockUser(e, rest, "user_locked")
	}
	if rest, ok := strings.CutPrefix(m, "unlock user "); ok {
		return lockUser(e, rest, "user_unlocked")
	}
	if rest, ok := strings.CutPrefix(m, "user "); ok {
		return gpasswdMember(e, rest)
	}
	if rest, ok := strings.CutPrefix(m, "password for "); ok {
		// passwd: "password for 'bob' changed by 'root'"
		user, rest, ok := quoted(rest)
		by, _, ok2 := quoted(strings.TrimPrefix(rest, " changed by "))
		if !ok || !ok2 {
			return false
		}
		setAction(e, "password_changed", event.CatIAM, event.TypeUser|event.TypeChange, outSuccess)
		setUser(e, keyIAMByUser, by)
		setTarget(e, keyIAMUserName, user)
		return true
	}
	if rest, ok := strings.CutPrefix(m, "changed password expiry for "); ok {
		setAction(e, "user_modified", event.CatIAM, event.TypeUser|event.TypeChange, outSuccess)
		e.AddRaw(keyIAMChangeField, "password expiry")
		setTarget(e, keyIAMUserName, rest)
		return true
	}
	return false
}

// shadowKV parses "name=bob, UID=1001, GID=1001, home=/home/bob, shell=/bin/bash, from=/dev/pts/0".
func shadowKV(e *event.Event, s string) {
	user := e.Str(event.EventAction) == "user_created"
	for s != "" {
		var pair string
		pair, s, _ = strings.Cut(s, ", ")
		k, v, _ := strings.Cut(pair, "=")
		switch k {
		case "name":
			if user {
				setTarget(e, keyIAMUserName, v)
			} else {
				e.AddRaw(keyIAMGroupName, v)
			}
		case "UID":
			e.AddRaw(keyIAMUserUID, v)
			e.SetStr(event.UserTargetID, v)
		case "GID":
			if user {
				e.AddRaw(keyIAMUserGID, v)
			} else {
				e.AddRaw(keyIAMGroupGID, v)
			}
		case "home":
			e.AddRaw(keyIAMHome, v)
		case "shell":
			e.AddRaw(keyIAMShell, v)
		case "from":
			e.AddRaw(keyIAMFrom, v)
		}
	}
}

// groupMembership parses "'bob' to group 'sudo'" / "'bob' from shadow group 'sudo'".
func groupMembership(e *event.Event, s, prep, action string) bool {
	user, rest, ok := quoted(s)
	if !ok {
		return false
	}
	rest, ok = strings.CutPrefix(rest, prep)
	if !ok {
		return false
	}
	shadow := false
	if r, ok := strings.CutPrefix(rest, "shadow "); ok {
		rest, shadow = r, true
	}
	group, _, ok := quoted(strings.TrimPrefix(rest, "group "))
	if !ok {
		return false
	}
	setAction(e, action, event.CatIAM, event.TypeGroup|event.TypeChange, outSuccess)
	setTarget(e, keyIAMUserName, user)
	e.AddRaw(keyIAMGroupName, group)
	if shadow {
		e.AddRaw(keyIAMFile, "/etc/gshadow")
	} else {
		e.AddRaw(keyIAMFile, "/etc/group")
	}
	return true
}

// removedGroup parses userdel's "group 'bob' owned by 'bob'" / "shadow group ...".
func removedGroup(e *event.Event, s string) bool {
	file := "/etc/group"
	if r, ok := strings.CutPrefix(s, "shadow "); ok {
		s, file = r, "/etc/gshadow"
	}
	group, rest, ok := quoted(strings.TrimPrefix(s, "group "))
	if !ok {
		return false
	}
	setAction(e, "group_deleted", event.CatIAM, event.TypeGroup|event.TypeDeletion, outSuccess)
	e.AddRaw(keyIAMGroupName, group)
	e.AddRaw(keyIAMFile, file)
	if owner, _, ok := quoted(strings.TrimPrefix(rest, " owned by ")); ok {
		setTarget(e, keyIAMUserName, owner)
	}
	return true
}

// groupRemoved parses groupdel's "'devs' removed[ from /etc/group]".
func groupRemoved(e *event.Event, s string) bool {
	group, rest, ok := quoted(s)
	if !ok || !strings.HasPrefix(rest, " removed") {
		return false
	}
	setAction(e, "group_deleted", event.CatIAM, event.TypeGroup|event.TypeDeletion, outSuccess)
	e.AddRaw(keyIAMGroupName, group)
	if file, ok := strings.CutPrefix(rest, " removed from "); ok {
		e.AddRaw(keyIAMFile, file)
	}
	return true
}

// changeUser parses usermod's "'bob' password", "name 'bob' to 'robert'" and
// "'bob' FIELD from 'OLD' to 'NEW'".
func changeUser(e *event.Event, s string) bool {
	if rest, ok := strings.CutPrefix(s, "name "); ok {
		old, rest, ok := quoted(rest)
		nu, _, ok2 := quoted(strings.TrimPrefix(rest, " to "))
		if !ok || !ok2 {
			return false
		}
		setAction(e, "user_modified", event.CatIAM, event.TypeUser|event.TypeChange, outSuccess)
		setTarget(e, keyIAMUserName, old)
		e.AddRaw(keyIAMUserNewName, nu)
		e.AddRaw(keyIAMChangeField, "name")
		e.AddRaw(keyIAMChangeOld, old)
		e.AddRaw(keyIAMChangeNew, nu)
		return true
	}
	user, rest, ok := quoted(s)
	if !ok {
		return false
	}
	if rest == " password" {
		setAction(e, "password_changed", event.CatIAM, event.TypeUser|event.TypeChange, outSuccess)
		setTarget(e, keyIAMUserName, user)
		return true
	}
	field, rest, ok := strings.Cut(strings.TrimPrefix(rest, " "), " from ")
	if !ok || field == "" {
		return false
	}
	old, rest, ok := quoted(rest)
	nu, _, ok2 := quoted(strings.TrimPrefix(rest, " to "))
	if !ok || !ok2 {
		return false
	}
	setAction(e, "user_modified", event.CatIAM, event.TypeUser|event.TypeChange, outSuccess)
	setTarget(e, keyIAMUserName, user)
	e.AddRaw(keyIAMChangeField, field)
	e.AddRaw(keyIAMChangeOld, old)
	e.AddRaw(keyIAMChangeNew, nu)
	return true
}

func lockUser(e *event.Event, s, action string) bool {
	user, _, ok := quoted(s)
	if !ok {
		return false
	}
	setAction(e, action, event.CatIAM, event.TypeUser|event.TypeChange, outSuccess)
	setTarget(e, keyIAMUserName, user)
	return true
}

// gpasswdMember parses gpasswd's "bob added by root to group sudo" and
// "bob removed by root from group sudo".
func gpasswdMember(e *event.Event, s string) bool {
	for _, p := range [...]struct{ verb, prep, action string }{
		{" added by ", " to group ", "user_added_to_group"},
		{" removed by ", " from group ", "user_removed_from_group"},
	} {
		user, rest, ok := strings.Cut(s, p.verb)
		if !ok {
			continue
		}
		by, group, ok := strings.Cut(rest, p.prep)
		if !ok {
			return false
		}
		setAction(e, p.action, event.CatIAM, event.TypeGroup|event.TypeChange, outSuccess)
		setUser(e, keyIAMByUser, by)
		setTarget(e, keyIAMUserName, user)
		e.AddRaw(keyIAMGroupName, group)
		return true
	}
	return false
}

// quoted parses "'value'" at the start of s and returns the value and what follows.
func quoted(s string) (v, rest string, ok bool) {
	if len(s) < 2 || s[0] != '\'' {
		return "", s, false
	}
	i := strings.IndexByte(s[1:], '\'')
	if i < 0 {
		return "", s, false
	}
	return s[1 : i+1], s[i+2:], true
}

// ---- systemd-logind ----

func parseLogind(e *event.Event, m string) bool {
	if rest, ok := strings.CutPrefix(m, "New session "); ok {
		id, user, ok := strings.Cut(rest, " of user ")
		if !ok {
			return false
		}
		setAction(e, "new_session", event.CatSession, event.TypeStart, outSuccess)
		e.AddRaw(keyLogindSessionID, id)
		setUser(e, keyLogindUser, strings.TrimSuffix(user, "."))
		return true
	}
	if rest, ok := strings.CutPrefix(m, "Removed session "); ok {
		setAction(e, "removed_session", event.CatSession, event.TypeEnd, outSuccess)
		e.AddRaw(keyLogindSessionID, strings.TrimSuffix(rest, "."))
		return true
	}
	if rest, ok := strings.CutPrefix(m, "Session "); ok {
		id, tail, ok := strings.Cut(rest, " ")
		if !ok || !strings.HasPrefix(tail, "logged out.") {
			return false
		}
		setAction(e, "session_logged_out", event.CatSession, event.TypeEnd, outSuccess)
		e.AddRaw(keyLogindSessionID, id)
		return true
	}
	return false
}

// ---- cron ----

// parseCron parses "(root) CMD (command)" and cron's PAM lines.
func parseCron(e *event.Event, m string) bool {
	if strings.HasPrefix(m, "pam_") {
		return parsePAM(e, m)
	}
	if len(m) < 2 || m[0] != '(' {
		return false
	}
	user, rest, ok := strings.Cut(m[1:], ") CMD (")
	if !ok || !strings.HasSuffix(rest, ")") {
		return false
	}
	setAction(e, "cron_command", event.CatProcess, event.TypeStart, outSuccess)
	setUser(e, keyCronUser, user)
	e.AddRaw(keyCronCommand, rest[:len(rest)-1])
	return true
}
