package syslog

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
)

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
