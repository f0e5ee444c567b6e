// Package rulepack is the Sigma rule pack shipped inside the binary: Vigil's own
// rules (not copies of SigmaHQ's) for the behaviours every deployment should see
// out of the box, across the sources Vigil reads: password spraying and its
// success, PsExec, LSASS dumping, staging, inhibiting recovery and mass encryption
// on Windows; Kubernetes exec, privileged and hostPath pods, secrets read by
// service accounts from outside the cluster; AWS IAM escalation and bulk S3 reads;
// MFA fatigue at the identity provider; DNS tunnelling-shaped queries.
//
// vigil hunt loads it unless --builtin-rules=false; rules given with --rules are
// loaded after it. Each rule carries ATT&CK tags, a level and its known false
// positives; building blocks of correlations are level informational and do not
// produce signals of their own (Sigma's correlation generate: false).
package rulepack

import (
	"embed"
	"io/fs"
)

//go:embed rules
var files embed.FS

// FS is the pack's rule files (*.yml, in folders by source).
func FS() fs.FS {
	sub, err := fs.Sub(files, "rules")
	if err != nil { // cannot happen: the directory is embedded
		panic(err)
	}
	return sub
}
