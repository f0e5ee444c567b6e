package syslog

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

// PAM messages, written by any program: "MODULE(SERVICE:TYPE): TEXT".

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
