package docker

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/vigilsec/vigil/internal/scan"
	"github.com/vigilsec/vigil/internal/scan/config/rule"
)

// References: CIS Docker Benchmark v1.6.0, section 4 (Container Images and
// Build File Configuration), and Docker's build best practices.
const (
	cis       = "CIS Docker Benchmark v1.6.0 "
	practices = "https://docs.docker.com/build/building/best-practices/"
)

var (
	rRootUser = rule.Rule{ID: "VGL-DOCKER-001", Severity: scan.SeverityHigh,
		Title:       "Image runs as root",
		Remediation: "Create an unprivileged user and switch to it with USER in the final stage (USER 10001 or a named user).",
		References:  []string{cis + "4.1", practices + "#user", "CWE-250"}}
	rNoUser = rule.Rule{ID: "VGL-DOCKER-002", Severity: scan.SeverityMedium,
		Title:       "Image has no USER",
		Remediation: "Add a USER instruction with an unprivileged user to the final stage; without one the container runs as the base image's user, root unless the base image sets another.",
		References:  []string{cis + "4.1", practices + "#user", "CWE-250"}}
	rAddLocal = rule.Rule{ID: "VGL-DOCKER-003", Severity: scan.SeverityLow,
		Title:       "ADD used where COPY would do",
		Remediation: "Use COPY for local files; ADD also extracts archives and fetches URLs, which surprises.",
		References:  []string{cis + "4.9", practices + "#add-or-copy"}}
	rAddRemote = rule.Rule{ID: "VGL-DOCKER-004", Severity: scan.SeverityMedium,
		Title:       "ADD of a remote URL",
		Remediation: "Download with a pinned checksum (ADD --checksum=sha256:... or curl and sha256sum -c in RUN), or COPY a vetted file.",
		References:  []string{cis + "4.9", practices + "#add-or-copy", "CWE-494"}}
	rSecretEnv = rule.Rule{ID: "VGL-DOCKER-005", Severity: scan.SeverityHigh,
		Title:       "Secret in ENV",
		Remediation: "Do not bake credentials into the image: pass them at run time (environment, mounted secret) or use RUN --mount=type=secret while building.",
		References:  []string{cis + "4.10", "CWE-798"}}
	rSecretArg = rule.Rule{ID: "VGL-DOCKER-006", Severity: scan.SeverityMedium,
		Title:       "Secret as an ARG default",
		Remediation: "Build arguments stay in the image history: use RUN --mount=type=secret (BuildKit secrets) instead of an ARG with a credential.",
		References:  []string{cis + "4.10", "CWE-798"}}
	rMutableBase = rule.Rule{ID: "VGL-DOCKER-007", Severity: scan.SeverityMedium,
		Title:       "Base image without a pinned tag",
		Remediation: "Pin the base image to a version tag, or better a digest (FROM image:1.2@sha256:...).",
		References:  []string{practices + "#from"}}
	rPipeToShell = rule.Rule{ID: "VGL-DOCKER-008", Severity: scan.SeverityMedium,
		Title:       "Remote script piped into a shell",
		Remediation: "Download the script, verify its checksum or signature, then run it; or install from a package repository.",
		References:  []string{"CWE-494", practices + "#run"}}
)

// Rules are the Dockerfile checks, in id order.
func Rules() []rule.Rule {
	return []rule.Rule{rRootUser, rNoUser, rAddLocal, rAddRemote, rSecretEnv, rSecretArg, rMutableBase, rPipeToShell}
}

// BaseImage returns the image the final stage builds on, through stage
// aliases (FROM builder); "" when unknown or scratch.
func (df *Dockerfile) BaseImage() string {
	st := df.Final()
	for hops := 0; st != nil && hops < len(df.Stages); hops++ {
		if prev := df.StageByName(st.Image, st.Index); prev != nil {
			st = prev
			continue
		}
		if !st.Resolved || strings.EqualFold(st.Image, "scratch") {
			return ""
		}
		return st.Image
	}
	return ""
}

// Check runs the Dockerfile checks on the file at path and reports each
// finding through emit, in line order per check.
func Check(path string, df *Dockerfile, emit func(scan.Finding)) {
	image := df.BaseImage()
	report := func(r rule.Rule, line int, key, msg string) {
		f := r.Finding(path, line, key, msg)
		f.Subject = scan.Subject{Image: image}
		emit(f)
	}
	for _, a := range df.Args {
		secretArgs(report, a)
	}
	for i := range df.Stages {
		st := &df.Stages[i]
		fromImage(report, df, st)
		for _, in := range st.Instructions {
			switch in.Cmd {
			case "ADD":
				addChecks(report, st, in)
			case "ENV":
				for _, kv := range envPairs(in) {
					if rule.SecretName(kv[0]) && rule.LiteralSecret(kv[1]) {
						report(rSecretEnv, in.Line, "ENV stage "+stageName(st)+" "+kv[0],
							fmt.Sprintf("ENV %s in stage %s holds a literal value; it looks like a secret and stays in the image.", kv[0], stageName(st)))
					}
				}
			case "ARG":
				secretArgs(report, in)
			case "RUN":
				if pipeToShell(in) {
					report(rPipeToShell, in.Line, fmt.Sprintf("RUN stage %s %s", stageName(st), strings.Join(in.Args, " ")),
						fmt.Sprintf("RUN in stage %s pipes a downloaded script into a shell.", stageName(st)))
				}
			}
		}
	}
	finalUser(report, df)
}

func stageName(st *Stage) string {
	if st.Name != "" {
		return st.Name
	}
	return fmt.Sprint(st.Index)
}

func secretArgs(report func(rule.Rule, int, string, string), in Instruction) {
	for _, w := range in.Args {
		k, v, ok := strings.Cut(w, "=")
		if ok && rule.SecretName(k) && rule.LiteralSecret(v) {
			report(rSecretArg, in.Line, "ARG "+k, fmt.Sprintf("ARG %s has a literal default; it looks like a secret and stays in the image history.", k))
		}
	}
}

// envPairs returns ENV's key/value pairs: ENV k=v k2="v 2", or the legacy
// ENV k some value.
func envPairs(in Instruction) [][2]string {
	if len(in.Args) == 0 {
		return nil
	}
	if !strings.Contains(in.Args[0], "=") {
		return [][2]string{{in.Args[0], strings.Join(in.Args[1:], " ")}}
	}
	var out [][2]string
	for _, w := range in.Args {
		if k, v, ok := strings.Cut(w, "="); ok {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

func fromImage(report func(rule.Rule, int, string, string), df *Dockerfile, st *Stage) {
	img := st.Image
	if img == "" || !st.Resolved || strings.EqualFold(img, "scratch") || df.StageByName(img, st.Index) != nil {
		return
	}
	tag, digest := splitImage(img)
	key := "FROM " + stageName(st)
	switch {
	case digest:
	case tag == "":
		report(rMutableBase, st.From.Line, key, fmt.Sprintf("FROM %s has no tag: whatever latest is at build time is used.", img))
	case tag == "latest":
		report(rMutableBase, st.From.Line, key, fmt.Sprintf("FROM %s: the latest tag moves between builds.", img))
	}
}

// splitImage returns a reference's tag and whether it has a digest; a
// registry's port (host:5000/img) is not a tag.
func splitImage(ref string) (tag string, digest bool) {
	if strings.Contains(ref, "@") {
		return "", true
	}
	last := ref[strings.LastIndexByte(ref, '/')+1:]
	if i := strings.LastIndexByte(last, ':'); i >= 0 {
		return last[i+1:], false
	}
	return "", false
}

// archiveExt are the extensions ADD extracts (tar, optionally compressed):
// ADD is the right instruction for them.
var archiveExt = []string{".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".tzst", ".tar.lz", ".tar.lzma"}

func isRemote(src string) bool {
	s := strings.ToLower(src)
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") ||
		strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "git://")
}

func addChecks(report func(rule.Rule, int, string, string), st *Stage, in Instruction) {
	srcs := in.Args
	if len(srcs) > 0 {
		srcs = srcs[:len(srcs)-1] // the last argument is the destination
	}
	if len(in.Heredocs) > 0 && len(srcs) == len(in.Heredocs) {
		report(rAddLocal, in.Line, fmt.Sprintf("ADD stage %s heredoc", stageName(st)), "ADD of a heredoc: COPY does the same.")
		return
	}
	_, checksum := in.Flags["checksum"]
	for _, src := range srcs {
		switch {
		case strings.Contains(src, "$"):
			continue // unknown until build time
		case isRemote(src):
			if !checksum {
				report(rAddRemote, in.Line, "ADD stage "+stageName(st)+" "+src, fmt.Sprintf("ADD fetches %s without a checksum.", src))
			}
		case isArchive(src):
		default:
			report(rAddLocal, in.Line, "ADD stage "+stageName(st)+" "+src, fmt.Sprintf("ADD %s copies a local file: COPY does the same without ADD's archive extraction.", src))
		}
	}
}

func isArchive(src string) bool {
	s := strings.ToLower(path.Base(src))
	for _, e := range archiveExt {
		if strings.HasSuffix(s, e) {
			return true
		}
	}
	return strings.ContainsAny(s, "*?[") // a glob may match archives
}

var pipeRe = []*regexp.Regexp{
	// curl ... | sh, wget -O- ... | sudo bash
	regexp.MustCompile(`\b(curl|wget)\b[^|;&\n]*\|\s*(sudo\s+(-\S+\s+)*)?(env\s+\S+=\S*\s+)*(/usr)?(/bin/)?(ba|z|k|da|a|fi)?sh\b`),
	// bash <(curl ...), sh -c "$(curl ...)"
	regexp.MustCompile(`\b(ba|z|k|da)?sh\s+(-c\s+)?["']?(<\(|\$\()\s*(curl|wget)\b`),
}

// pipeToShell reports whether a RUN downloads a script and runs it in a
// shell without looking at it.
func pipeToShell(in Instruction) bool {
	texts := []string{strings.Join(in.Args, " ")}
	for _, h := range in.Heredocs {
		texts = append(texts, h.Body)
	}
	for _, t := range texts {
		for _, re := range pipeRe {
			if re.MatchString(t) {
				return true
			}
		}
	}
	return false
}

// finalUser reports the final stage running as root: its last USER (or the
// last USER of the stage it builds on) is root or 0, or no stage in its
// chain sets one.
func finalUser(report func(rule.Rule, int, string, string), df *Dockerfile) {
	st := df.Final()
	if st == nil || strings.EqualFold(st.Image, "scratch") && len(st.Instructions) == 0 {
		return
	}
	for hops := 0; st != nil && hops <= len(df.Stages); hops++ {
		for j := len(st.Instructions) - 1; j >= 0; j-- {
			in := st.Instructions[j]
			if in.Cmd != "USER" || len(in.Args) == 0 {
				continue
			}
			u, _, _ := strings.Cut(in.Args[0], ":")
			if strings.Contains(u, "$") {
				return // a variable: unknown
			}
			if u == "root" || u == "0" {
				report(rRootUser, in.Line, "USER", fmt.Sprintf("The final stage runs as %s (USER %s).", u, in.Args[0]))
			}
			return
		}
		st = df.StageByName(st.Image, st.Index)
	}
	final := df.Final()
	report(rNoUser, max(final.From.Line, 1), "USER",
		fmt.Sprintf("The final stage (FROM %s) sets no USER: the container runs as the base image's user, root unless it sets another.", final.Image))
}
