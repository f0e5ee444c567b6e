package k8s

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/scan"
)

// corpus returns a folder of /work/shared/corpora (../shared/corpora from the
// repository root), skipping the test when it is absent unless
// VIGIL_REQUIRE_CORPORA=1.
func corpus(t testing.TB, parts ...string) string {
	t.Helper()
	dir := filepath.Join(append([]string{"..", "..", "..", "..", "..", "shared", "corpora"}, parts...)...)
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("VIGIL_REQUIRE_CORPORA") == "1" {
			t.Fatalf("%s: corpora required: %v", dir, err)
		}
		t.Skipf("%s: corpora not found", dir)
	}
	return dir
}

// TestBadPods is the known answer on BishopFox's badPods: every manifest of
// a folder gets exactly the privilege findings the folder is named after
// (privileged, hostPath, hostPID, hostNetwork, hostIPC or all of them), in
// each of the eight kinds that create pods, and the nothing-allowed pods get
// none of the privilege checks.
func TestBadPods(t *testing.T) {
	root := corpus(t, "k8s", "badpods", "manifests")
	const (
		priv = "VGL-K8S-001" // Privileged
		hp   = "VGL-K8S-007" // hostPath of / (a sensitive path)
		net  = "VGL-K8S-008"
		pid  = "VGL-K8S-009"
		ipc  = "VGL-K8S-010"
	)
	folders := map[string][]string{
		"everything-allowed": {priv, hp, net, pid, ipc},
		"priv-and-hostpid":   {priv, pid},
		"priv":               {priv},
		"hostpath":           {hp},
		"hostpid":            {pid},
		"hostnetwork":        {net},
		"hostipc":            {ipc},
		"nothing-allowed":    nil,
	}
	// upstream's hostipc revshell DaemonSet also sets hostNetwork and hostPID
	// (a copy of everything-allowed's): those findings are right.
	extra := map[string][]string{"hostipc/deamonset/hostipc-revshell-deamonset.yaml": {net, pid}}
	privilege := map[string]bool{}
	for _, r := range PrivilegeRules() {
		privilege[r.ID] = true
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, e := range entries {
		if e.IsDir() {
			seen = append(seen, e.Name())
		}
	}
	if len(seen) != len(folders) {
		t.Fatalf("folders %v, want the %d of the table", seen, len(folders))
	}
	total := 0
	for folder, want := range folders {
		t.Run(folder, func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(root, folder, "*", "*.yaml"))
			if len(files) != 16 {
				t.Fatalf("%d manifests, want 16 (8 kinds x exec/revshell)", len(files))
			}
			kinds := map[string]bool{}
			for _, f := range files {
				data, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				objs, errs := Load(data)
				if len(errs) > 0 {
					t.Fatalf("%s: %v", f, errs)
				}
				got := map[string]bool{}
				workloads := 0
				for i := range objs {
					if s, _, _ := podSpec(&objs[i]); s != nil {
						workloads++
						kinds[objs[i].Kind] = true
					}
					Check(f, &objs[i], func(fd scan.Finding) {
						if privilege[fd.RuleID] {
							got[fd.RuleID] = true
						}
						if fd.Location.StartLine <= 0 {
							t.Errorf("%s: %s without a line", f, fd.RuleID)
						}
					})
				}
				if workloads != 1 {
					t.Errorf("%s: %d workloads, want 1", f, workloads)
				}
				var ids []string
				for id := range got {
					ids = append(ids, id)
				}
				slices.Sort(ids)
				rel := filepath.ToSlash(strings.TrimPrefix(f, root+string(filepath.Separator)))
				w := append(slices.Clone(want), extra[rel]...)
				slices.Sort(w)
				if !slices.Equal(ids, w) {
					t.Errorf("%s: privilege findings %v, want %v", rel, ids, w)
				}
				total++
			}
			if len(kinds) != 8 {
				t.Errorf("kinds %v, want the eight that create pods", kinds)
			}
		})
	}
	if total != 128 && !t.Failed() {
		t.Errorf("%d manifests checked, want 128", total)
	}
}
