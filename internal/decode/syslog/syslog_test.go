package syslog

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/vigilsec/vigil/internal/cputime"
	"github.com/vigilsec/vigil/internal/decode"
	"github.com/vigilsec/vigil/internal/decode/decodetest"
	"github.com/vigilsec/vigil/internal/event"
)

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		file string
		opts Options
	}{
		{"auth.log", Options{Year: 2023}},
		{"secure", Options{Year: 2024}},
		{"auth-iso.log", Options{}},
		{"rfc5424.log", Options{}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			s, err := decodetest.DecodeFile(t, New(tc.opts), filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			decodetest.Golden(t, tc.file, s.JSONL())
		})
	}
}

// TestAuthLogFacts asserts known facts of testdata/auth.log, independent of the golden file.
func TestAuthLogFacts(t *testing.T) {
	s, err := decodetest.DecodeFile(t, New(Options{Year: 2023}), "testdata/auth.log")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rejects) != 0 || len(s.Events) != 56 {
		t.Fatalf("got %d events, %d rejects (%v); want 56, 0", len(s.Events), len(s.Rejects), s.Rejects)
	}
	first, last := s.Events[0], s.Events[len(s.Events)-1]
	if got := first.Timestamp.Format(time.RFC3339); got != "2023-12-31T23:50:01Z" {
		t.Errorf("first timestamp %s", got)
	}
	if got := last.Timestamp.Format(time.RFC3339); got != "2024-01-01T00:30:00Z" {
		t.Errorf("last timestamp %s (the Dec 31 -> Jan 1 rollover must move to 2024)", got)
	}
	unparsed := 0
	for _, e := range s.Events {
		if e.Str(event.EventAction) == "" {
			unparsed++
			if !strings.Contains(e.Str(event.Message), "Received signal 15") {
				t.Errorf("line %d not parsed into an action: %q", e.Origin.Line, e.Str(event.Message))
			}
		}
		if e.Str(event.HostName) != "bastion" || e.Origin.Format != FormatRFC3164 {
			t.Errorf("line %d: host %q format %q", e.Origin.Line, e.Str(event.HostName), e.Origin.Format)
		}
	}
	if unparsed != 1 {
		t.Errorf("%d lines without an action, want 1", unparsed)
	}
	failures := 0
	for _, e := range s.Events {
		if e.Str(event.EventOutcome) == "failure" && e.IP(event.SourceIP).String() == "198.51.100.23" {
			failures++
		}
	}
	if failures != 6 { // pam failure, 2 Failed password, max attempts, Disconnecting, PAM 5 more
		t.Errorf("%d failures from 198.51.100.23, want 6", failures)
	}
}

type authWant struct {
	action, outcome, user, target, ip string
	port                              int64
	cat                               event.Category
	raw                               map[string]string
}

func TestParseAuthMessage(t *testing.T) {
	auth, sess, iam, netw, proc := event.CatAuthentication, event.CatSession, event.CatIAM, event.CatNetwork, event.CatProcess
	for _, tc := range []struct {
		prog, msg string
		want      authWant
	}{
		{"sshd", "Accepted password for alice from 10.0.0.5 port 50022 ssh2",
			authWant{action: "ssh_login", outcome: "success", user: "alice", ip: "10.0.0.5", port: 50022, cat: auth | sess,
				raw: map[string]string{"ssh.auth_method": "password", "ssh.protocol": "ssh2"}}},
		{"sshd", "Accepted publickey for alice from 10.0.0.5 port 50022 ssh2: RSA SHA256:abcDEF123",
			authWant{action: "ssh_login", outcome: "success", user: "alice", ip: "10.0.0.5", port: 50022, cat: auth | sess,
				raw: map[string]string{"ssh.auth_method": "publickey", "ssh.key_type": "RSA", "ssh.key_fingerprint": "SHA256:abcDEF123"}}},
		{"sshd", "Accepted publickey for alice from 10.0.0.5 port 50022 ssh2: RSA-CERT SHA256:xyz ID alice@corp (serial 7) CA ED25519 SHA256:caFP",
			authWant{action: "ssh_login", outcome: "success", user: "alice", ip: "10.0.0.5", port: 50022, cat: auth | sess,
				raw: map[string]string{"ssh.key_type": "RSA-CERT", "ssh.key_fingerprint": "SHA256:xyz"}}},
		{"sshd", "Accepted keyboard-interactive/pam for bob from 2001:db8::1 port 4000 ssh2",
			authWant{action: "ssh_login", outcome: "success", user: "bob", ip: "2001:db8::1", port: 4000, cat: auth | sess,
				raw: map[string]string{"ssh.auth_method": "keyboard-interactive/pam"}}},
		{"sshd-session", "Accepted gssapi-with-mic for carol from 10.0.0.7 port 4001 ssh2",
			authWant{action: "ssh_login", outcome: "success", user: "carol", ip: "10.0.0.7", port: 4001, cat: auth | sess,
				raw: map[string]string{"ssh.auth_method": "gssapi-with-mic"}}},
		{"sshd", "Failed password for root from 1.2.3.4 port 4444 ssh2",
			authWant{action: "ssh_login", outcome: "failure", user: "root", ip: "1.2.3.4", port: 4444, cat: auth}},
		{"sshd", "Failed password for invalid user admin from 1.2.3.4 port 4444 ssh2",
			authWant{action: "ssh_login", outcome: "failure", user: "admin", ip: "1.2.3.4", port: 4444, cat: auth,
				raw: map[string]string{"ssh.invalid_user": "true"}}},
		{"sshd", "Failed password for invalid user a from b from 1.2.3.4 port 4444 ssh2",
			authWant{action: "ssh_login", outcome: "failure", user: "a from b", ip: "1.2.3.4", port: 4444, cat: auth}},
		{"sshd", "Failed none for invalid user  from 1.2.3.4 port 4444 ssh2",
			authWant{action: "ssh_login", outcome: "failure", ip: "1.2.3.4", port: 4444, cat: auth}},
		{"sshd", "Invalid user admin from 1.2.3.4 port 4444",
			authWant{action: "ssh_invalid_user", outcome: "failure", user: "admin", ip: "1.2.3.4", port: 4444, cat: auth}},
		{"sshd", "Invalid user oracle from 1.2.3.4",
			authWant{action: "ssh_invalid_user", outcome: "failure", user: "oracle", ip: "1.2.3.4", cat: auth}},
		{"sshd", "Connection closed by authenticating user root 1.2.3.4 port 4444 [preauth]",
			authWant{action: "ssh_connection_closed", outcome: "failure", user: "root", ip: "1.2.3.4", port: 4444, cat: auth | netw,
				raw: map[string]string{"ssh.user_state": "authenticating", "ssh.preauth": "true"}}},
		{"sshd", "Connection closed by invalid user admin 1.2.3.4 port 4444 [preauth]",
			authWant{action: "ssh_connection_closed", outcome: "failure", user: "admin", ip: "1.2.3.4", port: 4444, cat: auth | netw,
				raw: map[string]string{"ssh.invalid_user": "true"}}},
		{"sshd", "Connection closed by invalid user x port 22 1.2.3.4 port 4444 [preauth]",
			authWant{action: "ssh_connection_closed", outcome: "failure", user: "x port 22", ip: "1.2.3.4", port: 4444, cat: auth | netw}},
		{"sshd", "Connection closed by 1.2.3.4 port 4444",
			authWant{action: "ssh_connection_closed", outcome: "unknown", ip: "1.2.3.4", port: 4444, cat: netw}},
		{"sshd", "Disconnected from user alice 10.0.0.5 port 50022",
			authWant{action: "ssh_disconnected", outcome: "success", user: "alice", ip: "10.0.0.5", port: 50022, cat: sess | netw}},
		{"sshd", "Disconnected from authenticating user root 1.2.3.4 port 4444 [preauth]",
			authWant{action: "ssh_disconnected", outcome: "failure", user: "root", ip: "1.2.3.4", port: 4444, cat: auth | netw}},
		{"sshd", "Disconnecting authenticating user root 1.2.3.4 port 4444: Too many authentication failures [preauth]",
			authWant{action: "ssh_disconnecting", outcome: "failure", user: "root", ip: "1.2.3.4", port: 4444, cat: auth,
				raw: map[string]string{"ssh.reason": "Too many authentication failures"}}},
		{"sshd", "Received disconnect from 10.0.0.5 port 50022:11: disconnected by user",
			authWant{action: "ssh_received_disconnect", outcome: "unknown", ip: "10.0.0.5", port: 50022, cat: netw,
				raw: map[string]string{"ssh.disconnect_code": "11", "ssh.reason": "disconnected by user"}}},
		{"sshd", "error: maximum authentication attempts exceeded for root from 1.2.3.4 port 4444 ssh2 [preauth]",
			authWant{action: "ssh_max_auth_attempts", outcome: "failure", user: "root", ip: "1.2.3.4", port: 4444, cat: auth}},
		{"sshd", "error: maximum authentication attempts exceeded for invalid user support from 1.2.3.4 port 4444 ssh2 [preauth]",
			authWant{action: "ssh_max_auth_attempts", outcome: "failure", user: "support", ip: "1.2.3.4", port: 4444, cat: auth,
				raw: map[string]string{"ssh.invalid_user": "true"}}},
		{"sshd", "Did not receive identification string from 1.2.3.4 port 4444",
			authWant{action: "ssh_no_identification", outcome: "failure", ip: "1.2.3.4", port: 4444, cat: netw}},
		{"sshd", "error: kex_exchange_identification: Connection closed by remote host",
			authWant{action: "ssh_kex_identification_error", outcome: "failure", cat: netw,
				raw: map[string]string{"ssh.reason": "Connection closed by remote host"}}},
		{"sshd", "banner exchange: Connection from 1.2.3.4 port 4444: invalid format",
			authWant{action: "ssh_banner_exchange_error", outcome: "failure", ip: "1.2.3.4", port: 4444, cat: netw,
				raw: map[string]string{"ssh.reason": "invalid format"}}},
		{"sshd", "Unable to negotiate with 1.2.3.4 port 4444: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]",
			authWant{action: "ssh_negotiation_failed", outcome: "failure", ip: "1.2.3.4", port: 4444, cat: netw}},
		{"sshd", "Connection from 1.2.3.4 port 4444 on 10.0.0.1 port 22 rdomain \"\"",
			authWant{action: "ssh_connection", ip: "1.2.3.4", port: 4444, cat: netw,
				raw: map[string]string{"ssh.destination_ip": "10.0.0.1", "ssh.destination_port": "22"}}},
		{"sshd", "fatal: Timeout before authentication for 1.2.3.4 port 4444",
			authWant{action: "ssh_auth_timeout", outcome: "failure", ip: "1.2.3.4", port: 4444, cat: netw}},
		{"sshd", "User root from 1.2.3.4 not allowed because not listed in AllowUsers",
			authWant{action: "ssh_login", outcome: "failure", user: "root", ip: "1.2.3.4", cat: auth}},
		{"sshd", "PAM 2 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root",
			authWant{action: "authentication_failure", outcome: "failure", user: "root", ip: "1.2.3.4", cat: auth,
				raw: map[string]string{"pam.more_failures": "2", "pam.tty": "ssh"}}},
		{"sshd", "pam_unix(sshd:session): session opened for user alice(uid=1000) by (uid=0)",
			authWant{action: "session_opened", outcome: "success", user: "alice", cat: sess,
				raw: map[string]string{"pam.module": "pam_unix", "pam.service": "sshd", "pam.type": "session", "pam.uid": "1000", "pam.by_uid": "0"}}},
		{"sshd", "pam_unix(sshd:session): session opened for user ubuntu(uid=1000) by ubuntu(uid=0)",
			authWant{action: "session_opened", outcome: "success", user: "ubuntu", cat: sess}},
		{"sshd", "pam_unix(sshd:session): session closed for user alice",
			authWant{action: "session_closed", outcome: "success", user: "alice", cat: sess}},
		{"sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root",
			authWant{action: "authentication_failure", outcome: "failure", user: "root", ip: "1.2.3.4", cat: auth,
				raw: map[string]string{"pam.rhost": "1.2.3.4", "pam.uid": "0", "pam.user": "root"}}},
		{"sshd", "pam_unix(sshd:auth): check pass; user unknown",
			authWant{action: "authentication_failure", outcome: "failure", cat: auth}},
		{"sshd", "pam_sss(sshd:auth): authentication success; logname= uid=0 euid=0 tty=ssh ruser= rhost=10.1.1.1 user=alice",
			authWant{action: "authentication_success", outcome: "success", user: "alice", ip: "10.1.1.1", cat: auth,
				raw: map[string]string{"pam.module": "pam_sss"}}},
		{"sudo", "    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/cat /etc/shadow",
			authWant{action: "sudo_command", outcome: "success", user: "alice", target: "root", cat: proc,
				raw: map[string]string{"sudo.command": "/bin/cat /etc/shadow", "sudo.tty": "pts/0", "sudo.pwd": "/home/alice", "sudo.runas_user": "root"}}},
		{"sudo", "alice : TTY=pts/0 ; PWD=/tmp ; USER=root ; ENV=A=b ; COMMAND=/usr/bin/env x ; y",
			authWant{action: "sudo_command", outcome: "success", user: "alice", target: "root", cat: proc,
				raw: map[string]string{"sudo.command": "/usr/bin/env x ; y", "sudo.env": "A=b"}}},
		{"sudo", "     bob : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/bob ; USER=root ; COMMAND=/usr/bin/id",
			authWant{action: "sudo_command", outcome: "failure", user: "bob", target: "root", cat: proc,
				raw: map[string]string{"sudo.error": "user NOT in sudoers"}}},
		{"sudo", "   alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/bash",
			authWant{action: "sudo_command", outcome: "failure", user: "alice", target: "root", cat: proc | auth,
				raw: map[string]string{"sudo.error": "3 incorrect password attempts"}}},
		{"sudo", "pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice",
			authWant{action: "authentication_failure", outcome: "failure", user: "alice", cat: auth,
				raw: map[string]string{"pam.logname": "alice", "pam.ruser": "alice"}}},
		{"sudo", "pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)",
			authWant{action: "session_opened", outcome: "success", user: "alice", target: "root", cat: sess,
				raw: map[string]string{"pam.by_user": "alice", "pam.by_uid": "1000"}}},
		{"sudo", "pam_unix(sudo:auth): auth could not identify password for [alice]",
			authWant{action: "authentication_failure", outcome: "failure", user: "alice", cat: auth}},
		{"su", "(to root) alice on pts/0",
			authWant{action: "su", outcome: "success", user: "alice", target: "root", cat: auth, raw: map[string]string{"su.tty": "pts/0"}}},
		{"su", "FAILED SU (to root) bob on pts/1",
			authWant{action: "su", outcome: "failure", user: "bob", target: "root", cat: auth}},
		{"su", "+ /dev/pts/2 carol:root",
			authWant{action: "su", outcome: "success", user: "carol", target: "root", cat: auth}},
		{"su", "FAILED su for root by dave",
			authWant{action: "su", outcome: "failure", user: "dave", target: "root", cat: auth}},
		{"su", "pam_unix(su:auth): authentication failure; logname=bob uid=1001 euid=0 tty=/dev/pts/1 ruser=bob rhost=  user=root",
			authWant{action: "authentication_failure", outcome: "failure", user: "bob", target: "root", cat: auth}},
		{"su", "pam_unix(su-l:session): session opened for user root by alice(uid=1000)",
			authWant{action: "session_opened", outcome: "success", user: "alice", target: "root", cat: sess}},
		{"useradd", "new user: name=bob, UID=1001, GID=1001, home=/home/bob, shell=/bin/bash, from=/dev/pts/0",
			authWant{action: "user_created", outcome: "success", target: "bob", cat: iam,
				raw: map[string]string{"iam.user.uid": "1001", "iam.user.gid": "1001", "iam.home": "/home/bob", "iam.shell": "/bin/bash", "iam.from": "/dev/pts/0"}}},
		{"useradd", "new group: name=bob, GID=1001",
			authWant{action: "group_created", outcome: "success", cat: iam, raw: map[string]string{"iam.group.name": "bob", "iam.group.gid": "1001"}}},
		{"groupadd", "group added to /etc/group: name=devs, GID=1002",
			authWant{action: "group_created", outcome: "success", cat: iam, raw: map[string]string{"iam.group.name": "devs", "iam.file": "/etc/group"}}},
		{"usermod", "add 'bob' to group 'sudo'",
			authWant{action: "user_added_to_group", outcome: "success", target: "bob", cat: iam, raw: map[string]string{"iam.group.name": "sudo"}}},
		{"usermod", "add 'bob' to shadow group 'sudo'",
			authWant{action: "user_added_to_group", outcome: "success", target: "bob", cat: iam, raw: map[string]string{"iam.file": "/etc/gshadow"}}},
		{"usermod", "change user 'bob' password",
			authWant{action: "password_changed", outcome: "success", target: "bob", cat: iam}},
		{"usermod", "change user name 'bob' to 'robert'",
			authWant{action: "user_modified", outcome: "success", target: "bob", cat: iam, raw: map[string]string{"iam.user.new_name": "robert"}}},
		{"usermod", "change user 'bob' UID from '1001' to '0'",
			authWant{action: "user_modified", outcome: "success", target: "bob", cat: iam,
				raw: map[string]string{"iam.change.field": "UID", "iam.change.old": "1001", "iam.change.new": "0"}}},
		{"usermod", "lock user 'bob' password",
			authWant{action: "user_locked", outcome: "success", target: "bob", cat: iam}},
		{"gpasswd", "user bob added by root to group docker",
			authWant{action: "user_added_to_group", outcome: "success", user: "root", target: "bob", cat: iam, raw: map[string]string{"iam.group.name": "docker"}}},
		{"gpasswd", "user bob removed by root from group docker",
			authWant{action: "user_removed_from_group", outcome: "success", user: "root", target: "bob", cat: iam}},
		{"userdel", "delete user 'bob'",
			authWant{action: "user_deleted", outcome: "success", target: "bob", cat: iam}},
		{"userdel", "delete 'bob' from group 'sudo'",
			authWant{action: "user_removed_from_group", outcome: "success", target: "bob", cat: iam, raw: map[string]string{"iam.group.name": "sudo"}}},
		{"userdel", "removed group 'bob' owned by 'bob'",
			authWant{action: "group_deleted", outcome: "success", target: "bob", cat: iam, raw: map[string]string{"iam.group.name": "bob"}}},
		{"groupdel", "group 'devs' removed from /etc/group",
			authWant{action: "group_deleted", outcome: "success", cat: iam, raw: map[string]string{"iam.group.name": "devs", "iam.file": "/etc/group"}}},
		{"passwd", "pam_unix(passwd:chauthtok): password changed for bob",
			authWant{action: "password_changed", outcome: "success", target: "bob", cat: iam, raw: map[string]string{"pam.type": "chauthtok"}}},
		{"passwd", "password for 'bob' changed by 'root'",
			authWant{action: "password_changed", outcome: "success", user: "root", target: "bob", cat: iam}},
		{"chpasswd", "pam_unix(chpasswd:chauthtok): password changed for bob",
			authWant{action: "password_changed", outcome: "success", target: "bob", cat: iam}},
		{"chage", "changed password expiry for bob",
			authWant{action: "user_modified", outcome: "success", target: "bob", cat: iam}},
		{"systemd-logind", "New session 12 of user alice.",
			authWant{action: "new_session", outcome: "success", user: "alice", cat: sess, raw: map[string]string{"logind.session_id": "12"}}},
		{"systemd-logind", "Removed session 12.",
			authWant{action: "removed_session", outcome: "success", cat: sess, raw: map[string]string{"logind.session_id": "12"}}},
		{"systemd-logind", "Session c3 logged out. Waiting for processes to exit.",
			authWant{action: "session_logged_out", outcome: "success", cat: sess, raw: map[string]string{"logind.session_id": "c3"}}},
		{"CRON", "(root) CMD (cd / && run-parts --report /etc/cron.hourly)",
			authWant{action: "cron_command", outcome: "success", user: "root", cat: proc,
				raw: map[string]string{"cron.command": "cd / && run-parts --report /etc/cron.hourly"}}},
		{"CRON", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
			authWant{action: "session_opened", outcome: "success", user: "root", cat: sess}},
		{"login", "pam_unix(login:session): session opened for user alice(uid=1000) by LOGIN(uid=0)",
			authWant{action: "session_opened", outcome: "success", user: "alice", cat: sess}},
		{"/usr/sbin/sshd", "Accepted password for Alice from 10.0.0.5 port 1 ssh2",
			authWant{action: "ssh_login", outcome: "success", user: "alice", ip: "10.0.0.5", port: 1, cat: auth | sess}},
	} {
		t.Run(tc.prog+" "+clip(tc.msg), func(t *testing.T) {
			var e event.Event
			if !ParseAuthMessage(&e, tc.prog, tc.msg) {
				t.Fatalf("not recognised")
			}
			checkAuth(t, &e, tc.want)
		})
	}
}

func checkAuth(t *testing.T, e *event.Event, w authWant) {
	t.Helper()
	got := func(f event.StrField) string { return e.Str(f) }
	if got(event.EventAction) != w.action || got(event.EventOutcome) != w.outcome {
		t.Errorf("action/outcome = %q/%q, want %q/%q", got(event.EventAction), got(event.EventOutcome), w.action, w.outcome)
	}
	if got(event.UserName) != w.user || got(event.UserTargetName) != w.target {
		t.Errorf("user/target = %q/%q, want %q/%q", got(event.UserName), got(event.UserTargetName), w.user, w.target)
	}
	var ip string
	if a := e.IP(event.SourceIP); a.IsValid() {
		ip = a.String()
	}
	if ip != w.ip {
		t.Errorf("source.ip = %q, want %q", ip, w.ip)
	}
	if p, _ := e.Num(event.SourcePort); p != w.port {
		t.Errorf("source.port = %d, want %d", p, w.port)
	}
	if e.Category != w.cat {
		t.Errorf("category = %v, want %v", e.Category.Names(), w.cat.Names())
	}
	for k, v := range w.raw {
		if g, ok := e.RawValue(event.MakeKey(k)); !ok || g != v {
			t.Errorf("raw %s = %q (present %v), want %q", k, g, ok, v)
		}
	}
}

func TestParseAuthMessageUnrecognised(t *testing.T) {
	for _, tc := range []struct{ prog, msg string }{
		{"sshd", "Server listening on 0.0.0.0 port 22."},
		{"sshd", "Accepted"},
		{"sshd", "Failed password for root"},
		{"sshd", "Connection closed by"},
		{"sshd", "Disconnected from somewhere"},
		{"sudo", "unable to resolve host web01: Name or service not known"},
		{"sudo", "alice : nothing here"},
		{"su", "(to root"},
		{"useradd", "new user"},
		{"usermod", "add 'bob"},
		{"systemd-logind", "New seat seat0."},
		{"CRON", "(root) CMD (unterminated"},
		{"kernel", "pam_unix no parens"},
		{"nginx", "GET / HTTP/1.1"},
	} {
		var e event.Event
		if ParseAuthMessage(&e, tc.prog, tc.msg) {
			t.Errorf("%s %q recognised as %q", tc.prog, tc.msg, e.Str(event.EventAction))
		}
	}
}

func decodeString(t testing.TB, opts Options, s string) *decodetest.Sink {
	t.Helper()
	sink, err := decodetest.Decode(t, New(opts), "test.log", []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return sink
}

func stamps(s *decodetest.Sink) []string {
	var out []string
	for _, e := range s.Events {
		out = append(out, e.Timestamp.Format("2006-01-02T15:04:05"))
	}
	return out
}

func TestYears(t *testing.T) {
	const rollover = "Dec 31 23:59:58 h p: a\nJan  1 00:00:01 h p: b\nDec 31 23:59:59 h p: late\nJan  2 00:00:00 h p: c\n"
	for _, tc := range []struct {
		name string
		opts Options
		in   string
		want []string
	}{
		{"explicit year with rollover and a late line", Options{Year: 2023}, rollover,
			[]string{"2023-12-31T23:59:58", "2024-01-01T00:00:01", "2023-12-31T23:59:59", "2024-01-02T00:00:00"}},
		{"fallback year", Options{}, rollover,
			[]string{"1972-12-31T23:59:58", "1973-01-01T00:00:01", "1972-12-31T23:59:59", "1973-01-02T00:00:00"}},
		{"anchor later in the head", Options{},
			"Dec 30 10:00:00 h p: a\nJan  1 00:00:01 h p: b\n2025-01-01T00:00:02Z h p: iso\nJan  1 00:00:03 h p: c\n",
			[]string{"2024-12-30T10:00:00", "2025-01-01T00:00:01", "2025-01-01T00:00:02", "2025-01-01T00:00:03"}},
		{"anchor from an RFC 5424 line", Options{},
			"<13>1 2021-06-01T00:00:00Z h p - - - x\nJun  2 00:00:00 h p: a\n",
			[]string{"2021-06-01T00:00:00", "2021-06-02T00:00:00"}},
		{"explicit year wins over anchors", Options{Year: 2019},
			"2025-06-01T00:00:00Z h p: iso\nJun  2 00:00:00 h p: a\n",
			[]string{"2025-06-01T00:00:00", "2019-06-02T00:00:00"}},
		{"leap day in a leap fallback year", Options{}, "Feb 29 12:00:00 h p: a\n",
			[]string{"1972-02-29T12:00:00"}},
		{"fraction and unpadded day", Options{Year: 2024}, "Mar 1 12:00:00.250 h p: a\n",
			[]string{"2024-03-01T12:00:00"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := decodeString(t, tc.opts, tc.in)
			if len(s.Rejects) != 0 {
				t.Fatalf("rejects: %v", s.Rejects)
			}
			if got := stamps(s); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestLocation(t *testing.T) {
	loc := time.FixedZone("UTC+2", 2*3600)
	s := decodeString(t, Options{Year: 2024, Location: loc}, "Mar  1 12:00:00 h p: a\n2024-03-01T12:00:00 h p: b\n2024-03-01T12:00:00-05:00 h p: c\n")
	want := []string{"2024-03-01T10:00:00", "2024-03-01T10:00:00", "2024-03-01T17:00:00"}
	if got := stamps(s); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestBadInput(t *testing.T) {
	good := "Mar  1 12:00:00 web01 sshd[1]: Accepted password for alice from 10.0.0.1 port 22 ssh2\n"
	huge := "Mar  1 12:00:00 web01 app: " + strings.Repeat("A", 10<<20) + "\n"
	for _, tc := range []struct {
		name, line string
		reason     string
	}{
		{"garbage", "\x00\x01garbage that is not syslog\n", decode.ReasonMalformed},
		{"json", `{"a":1}` + "\n", decode.ReasonMalformed},
		{"10 MB line", huge, decode.ReasonLineTooLong},
		{"PRI out of range", "<192>Mar  1 12:00:00 web01 app: x\n", decode.ReasonMalformed},
		{"PRI not a number", "<ab>Mar  1 12:00:00 web01 app: x\n", decode.ReasonMalformed},
		{"PRI unterminated", "<13Mar  1 12:00:00 web01 app: x\n", decode.ReasonMalformed},
		{"PRI too long", "<0013>Mar  1 12:00:00 web01 app: x\n", decode.ReasonMalformed},
		{"day 32", "Mar 32 12:00:00 web01 app: x\n", decode.ReasonBadTimestamp},
		{"Feb 30", "Feb 30 12:00:00 web01 app: x\n", decode.ReasonBadTimestamp},
		{"hour 25", "Mar  1 25:00:00 web01 app: x\n", decode.ReasonBadTimestamp},
		{"cut time", "Mar  1 12:0\n", decode.ReasonBadTimestamp},
		{"month only", "Mar\n", decode.ReasonBadTimestamp},
		{"ISO month 13", "2024-13-01T00:00:00Z web01 app: x\n", decode.ReasonBadTimestamp},
		{"ISO Feb 30", "2024-02-30T00:00:00Z web01 app: x\n", decode.ReasonBadTimestamp},
		{"ISO bad zone", "2024-02-01T00:00:00+2500 web01 app: x\n", decode.ReasonBadTimestamp},
		{"ISO before 1970", "1969-12-31T23:59:59Z web01 app: x\n", decode.ReasonBadTimestamp},
		{"5424 NILVALUE timestamp", "<14>1 - web01 app - - - x\n", decode.ReasonBadTimestamp},
		{"5424 truncated header", "<14>1 2024-03-01T00:00:00Z web01 app\n", decode.ReasonTruncated},
		{"5424 unterminated SD", "<14>1 2024-03-01T00:00:00Z web01 app - - [x a=\"b\n", decode.ReasonMalformed},
		{"5424 SD without quotes", "<14>1 2024-03-01T00:00:00Z web01 app - - [x a=b] m\n", decode.ReasonMalformed},
		{"5424 no space after SD", "<14>1 2024-03-01T00:00:00Z web01 app - - [x a=\"b\"]m\n", decode.ReasonMalformed},
		{"5424 bad SD start", "<14>1 2024-03-01T00:00:00Z web01 app - - x\n", decode.ReasonMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := decodeString(t, Options{Year: 2024}, good+tc.line+good)
			if len(s.Rejects) != 1 || s.Rejects[0].Reason != tc.reason {
				t.Fatalf("rejects %v, want one %s", s.Rejects, tc.reason)
			}
			r := s.Rejects[0]
			if r.Line != 2 || r.Offset != int64(len(good)) || r.Source != "test.log" || r.Err == nil {
				t.Errorf("reject location %+v", r)
			}
			if len(s.Events) != 2 || s.Events[1].Origin.Line != 3 || s.Events[1].Str(event.EventAction) != "ssh_login" {
				t.Errorf("good lines around the bad one: %d events", len(s.Events))
			}
		})
	}
}

func TestEmptyAndBlank(t *testing.T) {
	s := decodeString(t, Options{}, "")
	if len(s.Events)+len(s.Rejects) != 0 {
		t.Fatal("empty input produced output")
	}
	s = decodeString(t, Options{Year: 2024}, "\n\r\n  \nMar  1 12:00:00 h p: x\r\n")
	if len(s.Events) != 1 || len(s.Rejects) != 0 || s.Events[0].Str(event.Message) != "x" {
		t.Fatalf("blank lines: %d events %v", len(s.Events), s.Rejects)
	}
}

func TestHeaderVariants(t *testing.T) {
	for _, tc := range []struct {
		line                   string
		host, app, pid, msg    string
		facility, severityName string
	}{
		{"<86>Mar  1 12:00:00 web01 sudo: hello", "web01", "sudo", "", "hello", "10", "info"},
		{"Mar  1 12:00:00 web01 kernel: [  12.5] eth0 up", "web01", "kernel", "", "[  12.5] eth0 up", "", ""},
		{"Mar  1 12:00:00 web01 -- MARK --", "web01", "", "", "-- MARK --", "", ""},
		{"Mar  1 12:00:00 sshd[42]: no host", "", "sshd", "42", "no host", "", ""},
		{"Mar  1 12:00:00 web01 postfix/smtpd[99]: connect from x", "web01", "postfix/smtpd", "99", "connect from x", "", ""},
		{"Mar  1 12:00:00 web01 app[]:", "web01", "app", "", "", "", ""},
		{"Mar  1 12:00:00", "", "", "", "", "", ""},
	} {
		s := decodeString(t, Options{Year: 2024}, tc.line+"\n")
		if len(s.Events) != 1 {
			t.Errorf("%q: %v", tc.line, s.Rejects)
			continue
		}
		e := s.Events[0]
		raw := func(k string) string { v, _ := e.RawValue(event.MakeKey(k)); return v }
		if raw("syslog.hostname") != tc.host || raw("syslog.appname") != tc.app || raw("syslog.procid") != tc.pid ||
			e.Str(event.Message) != tc.msg || raw("syslog.facility") != tc.facility || e.Str(event.LogLevel) != tc.severityName {
			t.Errorf("%q: host %q app %q pid %q msg %q facility %q level %q", tc.line, raw("syslog.hostname"), raw("syslog.appname"),
				raw("syslog.procid"), e.Str(event.Message), raw("syslog.facility"), e.Str(event.LogLevel))
		}
	}
}

func TestRFC5424StructuredData(t *testing.T) {
	s := decodeString(t, Options{}, `<13>1 2024-03-01T13:00:00.5+01:00 web01 app 4242 ID1 [origin ip="10.0.0.8"][esc@1 q="a \"quoted\" \] value \\ done \x"] `+"\xef\xbb\xbfhello\n")
	if len(s.Events) != 1 {
		t.Fatalf("rejects %v", s.Rejects)
	}
	e := s.Events[0]
	for k, want := range map[string]string{
		"syslog.sd.origin.ip": "10.0.0.8", "syslog.sd.esc@1.q": `a "quoted" ] value \ done \x`,
		"syslog.msgid": "ID1", "syslog.version": "1", "syslog.procid": "4242", "syslog.appname": "app",
		"syslog.facility_name": "user", "syslog.severity_name": "notice",
	} {
		if got, _ := e.RawValue(event.MakeKey(k)); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if e.Str(event.Message) != "hello" || e.Timestamp.Format(time.RFC3339Nano) != "2024-03-01T12:00:00.5Z" {
		t.Errorf("message %q time %s", e.Str(event.Message), e.Timestamp.Format(time.RFC3339Nano))
	}
	if pid, _ := e.Num(event.ProcessPID); pid != 4242 || e.Origin.Format != FormatRFC5424 {
		t.Errorf("pid %d format %s", pid, e.Origin.Format)
	}
}

func TestSniff(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name       string
		head       []byte
		bsd, r5424 int
	}{
		{"auth.log", read("auth.log"), 70, 0},
		{"secure", read("secure"), 70, 0},
		{"auth-iso.log", read("auth-iso.log"), 65, 0},
		{"rfc5424.log", read("rfc5424.log"), 0, 90},
		{"with PRI", []byte("<38>Mar  1 12:00:00 h sshd[1]: x\n<38>Mar  1 12:00:01 h sshd[1]: y\n"), 70, 0},
		{"zeek tsv", []byte("#separator \\x09\n#set_separator\t,\n#fields\tts\tuid\n1700000000.1\tCabc\n"), 0, 0},
		{"ndjson", []byte(`{"ts":"2024-03-01T12:00:00Z","host":"a","msg":"x: y"}` + "\n"), 0, 0},
		{"app log with ISO time", []byte("2024-03-01T12:00:00Z INFO starting server\n2024-03-01T12:00:01Z WARN slow: 5s\n"), 0, 0},
		{"csv", []byte("time,src,dst\n2024-03-01,1.2.3.4,5.6.7.8\n"), 0, 0},
		{"empty", nil, 0, 0},
		{"truncated last line", []byte("Mar  1 12:00:00 h sshd[1]: x\nMar  1 12:0"), 70, 0},
	} {
		if got := SniffRFC3164(tc.head); got != tc.bsd {
			t.Errorf("%s: SniffRFC3164 = %d, want %d", tc.name, got, tc.bsd)
		}
		if got := SniffRFC5424(tc.head); got != tc.r5424 {
			t.Errorf("%s: SniffRFC5424 = %d, want %d", tc.name, got, tc.r5424)
		}
	}
}

func TestFormats(t *testing.T) {
	fs := Formats()
	if len(fs) != 2 || fs[0].ID != FormatRFC3164 || fs[1].ID != FormatRFC5424 {
		t.Fatalf("formats %+v", fs)
	}
	for _, f := range fs {
		if f.New() == nil || f.Sniff == nil || f.Description == "" {
			t.Errorf("%s incomplete", f.ID)
		}
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := New(Options{}).Decode(ctx, decode.Input{R: strings.NewReader("Mar  1 12:00:00 h p: x\n"), Source: "x"}, &decodetest.Sink{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"auth.log", "secure", "auth-iso.log", "rfc5424.log"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		for _, l := range bytes.Split(b, []byte("\n")) {
			f.Add(l)
		}
	}
	f.Add([]byte("<999>1 x"))
	f.Add([]byte("Feb 29 00:00:00 h p: x\nDec 31 00:00:00 h p: x\n"))
	d := New(Options{})
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, d, data)
	})
}

func FuzzParseAuthMessage(f *testing.F) {
	b, err := os.ReadFile("testdata/auth.log")
	if err != nil {
		f.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		var h header
		if l == "" {
			continue
		}
		if _, err := parseHeader(&h, l, time.UTC); err == nil {
			f.Add(h.app, h.msg)
		}
	}
	f.Fuzz(func(t *testing.T, prog, msg string) {
		var e event.Event
		ParseAuthMessage(&e, prog, msg)
		_ = e.AppendJSON(nil)
	})
}

// recycleSink reuses one event, as the pipeline's pool does.
type recycleSink struct {
	e       event.Event
	n       int
	rejects int
}

func (s *recycleSink) Alloc() *event.Event        { s.e.Reset(); return &s.e }
func (s *recycleSink) Emit(*event.Event)          { s.n++ }
func (s *recycleSink) Reject(*decode.RecordError) { s.rejects++ }

func benchDecode(b *testing.B, data []byte) {
	d := New(Options{Year: 2024})
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	events := 0
	cpu0 := cputime.Process()
	for b.Loop() {
		s := &recycleSink{}
		if err := d.Decode(context.Background(), decode.Input{R: bytes.NewReader(data), Source: "bench"}, s); err != nil {
			b.Fatal(err)
		}
		if s.rejects != 0 {
			b.Fatalf("%d rejects", s.rejects)
		}
		events += s.n
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	// The machine may be oversubscribed: events per second of this process's CPU
	// time is the figure that does not depend on the neighbours.
	if cpu := (cputime.Process() - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(float64(events)/cpu, "events/cpu-s")
	}
}

// benchData repeats a fixture to about 4 MB.
func benchData(b *testing.B, name string) []byte {
	one, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	for buf.Len() < 4<<20 {
		buf.Write(one)
	}
	return buf.Bytes()
}

func BenchmarkDecodeAuthLog(b *testing.B) { benchDecode(b, benchData(b, "auth.log")) }

func BenchmarkDecodeISO(b *testing.B) { benchDecode(b, benchData(b, "auth-iso.log")) }

func BenchmarkDecodeRFC5424(b *testing.B) {
	// Drop the fixture's deliberately bad NILVALUE line.
	data := benchData(b, "rfc5424.log")
	data = bytes.ReplaceAll(data, []byte("<14>1 - web01 app - - - nil timestamp\n"), nil)
	benchDecode(b, data)
}

func TestRejectFormatFollowsFormatID(t *testing.T) {
	in := "<13>1 2024-03-01T00:00:00Z h a - - - " + strings.Repeat("x", 5000) + "\n"
	for _, f := range Formats() {
		s := &decodetest.Sink{}
		err := f.New().Decode(context.Background(), decode.Input{R: strings.NewReader(in), Source: "x",
			Limits: decode.Limits{MaxLine: 1024}}, s)
		if err != nil || len(s.Rejects) != 1 || s.Rejects[0].Format != f.ID || s.Rejects[0].Reason != decode.ReasonLineTooLong {
			t.Errorf("%s: err %v rejects %v", f.ID, err, s.Rejects)
		}
	}
}

// TestSlowReader checks that a reader returning one byte per call (a live stream)
// decodes the same events: the decoder never waits for more than one read up front.
func TestSlowReader(t *testing.T) {
	b, err := os.ReadFile("testdata/auth.log")
	if err != nil {
		t.Fatal(err)
	}
	fast, _ := decodetest.Decode(t, New(Options{Year: 2023}), "a", b)
	slow := &decodetest.Sink{}
	err = New(Options{Year: 2023}).Decode(context.Background(), decode.Input{R: iotest.OneByteReader(bytes.NewReader(b)), Source: "a"}, slow)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fast.JSONL(), slow.JSONL()) {
		t.Error("one-byte reads decode differently")
	}
}

// readHead returns up to decode.SniffSize decompressed bytes of a corpus file.
func readHead(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	head, err := io.ReadAll(io.LimitReader(r, decode.SniffSize))
	if err != nil {
		t.Fatal(err)
	}
	return head
}

// TestSniffCorporaNegative: real Zeek TSV (gzip) and Zeek JSON logs are not syslog.
func TestSniffCorporaNegative(t *testing.T) {
	var files []string
	for _, dir := range []string{"zeek/rita-missing-host/2024-04-19", "zeek/apt29/day1"} {
		names, err := filepath.Glob(filepath.Join(decodetest.Corpora(t, dir), "*"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, names...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d corpus files", len(files))
	}
	for _, p := range files {
		head := readHead(t, p)
		if len(head) == 0 {
			continue
		}
		if a, b := SniffRFC3164(head), SniffRFC5424(head); a != 0 || b != 0 {
			t.Errorf("%s sniffed as syslog: %d %d", p, a, b)
		}
	}
}
