package winevt

import "github.com/vigilsec/vigil/internal/event"

// security normalizes Security log events (auditing, and 1102 from the Eventlog provider).
func (n *Normalizer) security(e winEvent, id int64, prov string) {
	if id == 1102 && prov == provEventlog {
		classify(e, event.CatConfiguration, event.TypeDeletion, "audit-log-cleared")
		n.setUser(e, get(e, kSubjectUserName), get(e, kSubjectDomainName))
		return
	}
	switch id {
	case 4624, 4625:
		n.logon(e, id)
	case 4634, 4647:
		classify(e, event.CatAuthentication|event.CatSession, event.TypeEnd, "logged-out")
		n.setUserAndID(e, get(e, kTargetUserName), get(e, kTargetDomainName), kTargetUserSid)
		setStr(e, event.WinlogLogonID, kTargetLogonID)
		if lt := logonTypeName(get(e, kLogonType)); lt != "" {
			e.SetStr(event.WinlogLogonType, lt)
		}
	case 4648:
		classify(e, event.CatAuthentication, event.TypeStart, "logged-in-explicit")
		n.subject(e)
		n.setTargetUser(e, get(e, kTargetUserName), get(e, kTargetDomainName))
		setExecutable(e, val(e, kProcessName))
		setPID(e, event.ProcessPID, kProcessID)
		setSource(e, kIPAddress, kIPPort)
		setStr(e, event.DestinationDomain, kTargetServerName)
	case 4672:
		classify(e, event.CatIAM, event.TypeAdmin, "logged-in-special")
		n.subject(e)
	case 4688:
		classify(e, event.CatProcess, event.TypeStart, "process-created")
		n.subject(e)
		n.setTargetUser(e, get(e, kTargetUserName), get(e, kTargetDomainName))
		setExecutable(e, val(e, kNewProcessName))
		setPID(e, event.ProcessPID, kNewProcessID)
		setStr(e, event.ProcessCommandLine, kCommandLine)
		setParentExecutable(e, val(e, kParentProcessName))
		setPID(e, event.ProcessParentPID, kProcessID)
		if il := integrityLevel(get(e, kMandatoryLabel)); il != "" {
			e.SetStr(event.ProcessIntegrityLevel, il)
		}
	case 4689:
		classify(e, event.CatProcess, event.TypeEnd, "process-terminated")
		n.subject(e)
		setExecutable(e, val(e, kProcessName))
		setPID(e, event.ProcessPID, kProcessID)
	case 4697:
		classify(e, event.CatIAM|event.CatConfiguration, event.TypeAdmin|event.TypeChange, "service-installed")
		n.subject(e)
		setStr(e, event.ServiceName, kServiceName)
	case 4698:
		n.scheduledTask(e, event.TypeCreation, "scheduled-task-created")
	case 4699:
		n.scheduledTask(e, event.TypeDeletion, "scheduled-task-deleted")
	case 4700:
		n.scheduledTask(e, event.TypeChange, "scheduled-task-enabled")
	case 4701:
		n.scheduledTask(e, event.TypeChange, "scheduled-task-disabled")
	case 4702:
		n.scheduledTask(e, event.TypeChange, "scheduled-task-updated")
	case 4720:
		n.account(e, event.TypeCreation, "added-user-account")
	case 4722:
		n.account(e, event.TypeChange, "enabled-user-account")
	case 4723:
		n.account(e, event.TypeChange, "changed-password")
	case 4724:
		n.account(e, event.TypeChange, "reset-password")
	case 4725:
		n.account(e, event.TypeChange, "disabled-user-account")
	case 4726:
		n.account(e, event.TypeDeletion, "deleted-user-account")
	case 4738:
		n.account(e, event.TypeChange, "modified-user-account")
	case 4740:
		// TargetDomainName of 4740 is the caller computer, not a domain.
		classify(e, event.CatIAM, event.TypeUser|event.TypeChange, "locked-out-user-account")
		n.subject(e)
		n.setTargetUser(e, get(e, kTargetUserName), "")
		setStr(e, event.UserTargetID, kTargetSid)
		setStr(e, event.SourceDomain, kTargetDomainName)
	case 4728, 4732, 4756:
		n.groupMember(e, event.TypeChange, "added-member-to-group")
	case 4729, 4733, 4757:
		n.groupMember(e, event.TypeChange, "removed-member-from-group")
	case 4768:
		n.kerberos(e, "kerberos-authentication-ticket-requested")
	case 4769:
		n.kerberos(e, "kerberos-service-ticket-requested")
	case 4771:
		n.kerberos(e, "kerberos-preauth-failed")
		e.SetStr(event.EventOutcome, "failure")
	case 4776:
		classify(e, event.CatAuthentication, event.TypeStart, "credential-validated")
		n.setUser(e, get(e, kTargetUserName), "")
		setStr(e, event.SourceDomain, kWorkstation)
		statusOutcome(e, logonFailureReason)
	case 5140:
		classify(e, event.CatNetwork|event.CatFile, event.TypeInfo|event.TypeAccess, "network-share-object-accessed")
		n.subject(e)
		setSource(e, kIPAddress, kIPPort)
		setStr(e, event.FilePath, kShareLocalPath)
	case 5145:
		classify(e, event.CatNetwork|event.CatFile, event.TypeInfo|event.TypeAccess, "network-share-object-access-checked")
		n.subject(e)
		setSource(e, kIPAddress, kIPPort)
		setFile(e, val(e, kRelativeTargetName))
		setStr(e, event.FileDirectory, kShareLocalPath)
	}
}

// logon normalizes 4624 (success) and 4625 (failure). As Elastic does, the account
// logging on is user.*; the subject (who requested the logon) stays in the raw
// Subject* fields and in related.user.
func (n *Normalizer) logon(e winEvent, id int64) {
	if id == 4624 {
		classify(e, event.CatAuthentication|event.CatSession, event.TypeStart, "logged-in")
		e.SetStr(event.EventOutcome, "success")
	} else {
		classify(e, event.CatAuthentication, event.TypeStart, "logon-failed")
		e.SetStr(event.EventOutcome, "failure")
		st, _ := parseUint(get(e, kStatus))
		if sub, ok := parseUint(get(e, kSubStatus)); ok && sub != 0 {
			st = sub
		}
		if r := logonFailureReason(st); r != "" {
			e.SetStr(event.EventReason, r)
		}
	}
	n.setUserAndID(e, get(e, kTargetUserName), get(e, kTargetDomainName), kTargetUserSid)
	n.relatedUser(e, get(e, kSubjectUserName), get(e, kSubjectDomainName))
	if lt := logonTypeName(get(e, kLogonType)); lt != "" {
		e.SetStr(event.WinlogLogonType, lt)
	}
	setStr(e, event.WinlogLogonID, kTargetLogonID)
	setSource(e, kIPAddress, kIPPort)
	setStr(e, event.SourceDomain, kWorkstationName)
	setExecutable(e, val(e, kProcessName))
	setPID(e, event.ProcessPID, kProcessID)
}

func (n *Normalizer) scheduledTask(e winEvent, t event.Type, action string) {
	classify(e, event.CatIAM|event.CatConfiguration, event.TypeAdmin|t, action)
	n.subject(e)
}

func (n *Normalizer) account(e winEvent, t event.Type, action string) {
	classify(e, event.CatIAM, event.TypeUser|t, action)
	n.subject(e)
	n.setTargetUser(e, get(e, kTargetUserName), get(e, kTargetDomainName))
	setStr(e, event.UserTargetID, kTargetSid)
}

// groupMember normalizes group membership changes: the group is TargetUserName
// (kept raw), the member is MemberName (a DN) / MemberSid.
func (n *Normalizer) groupMember(e winEvent, t event.Type, action string) {
	classify(e, event.CatIAM, event.TypeGroup|t, action)
	n.subject(e)
	if m := val(e, kMemberName); m != "" {
		n.setTargetUser(e, firstCN(m), "")
	}
	setStr(e, event.UserTargetID, kMemberSid)
}

func (n *Normalizer) kerberos(e winEvent, action string) {
	classify(e, event.CatAuthentication, event.TypeStart, action)
	n.setUserAndID(e, get(e, kTargetUserName), get(e, kTargetDomainName), kTargetSid)
	setSource(e, kIPAddress, kIPPort)
	setStr(e, event.ServiceName, kServiceName)
	statusOutcome(e, kerberosFailureReason)
}

// statusOutcome sets event.outcome from a Status field (0 is success) and the
// failure reason from reason.
func statusOutcome(e winEvent, reason func(uint64) string) {
	st, ok := parseUint(get(e, kStatus))
	if !ok {
		return
	}
	if st == 0 {
		e.SetStr(event.EventOutcome, "success")
		return
	}
	e.SetStr(event.EventOutcome, "failure")
	if r := reason(st); r != "" {
		e.SetStr(event.EventReason, r)
	}
}

// subject sets user.* from the Subject* fields and the subject's logon id.
func (n *Normalizer) subject(e winEvent) {
	n.setUserAndID(e, get(e, kSubjectUserName), get(e, kSubjectDomainName), kSubjectUserSid)
	setStr(e, event.WinlogLogonID, kSubjectLogonID)
}

// setUserAndID sets user.* to CanonicalUser(name, domain) and user.id from the SID
// field sid (the NULL SID S-1-0-0 of failed logons is skipped).
func (n *Normalizer) setUserAndID(e winEvent, name, domain string, sid event.Key) {
	u := n.setUser(e, name, domain)
	if s := val(e, sid); s != "" && s != "S-1-0-0" && u.Name != "" {
		e.SetStr(event.UserID, s)
	}
}
