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
