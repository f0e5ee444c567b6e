package assets

import (
	"strings"
	"testing"
)

// TestYAMLSharedRules pins what the inventory reader takes from listfile and
// identity's reader does alike: null list items are left out, an anchored top
// level is refused.
func TestYAMLSharedRules(t *testing.T) {
	inv, rej, err := ReadYAML(strings.NewReader("- host: a\n  ips: [~, 10.0.0.1, null]\n  tags: [~, web]\n"), "n.yaml")
	if err != nil || len(rej) != 0 || inv.Len() != 1 {
		t.Fatalf("nulls in lists: %v %v %v", inv, rej, err)
	}
	if a := inv.Lookup("a").Asset; a == nil || len(a.IPs) != 1 || len(a.Tags) != 1 || a.Tags[0] != "web" {
		t.Errorf("a = %+v, want one ip and the tag web", a)
	}
	if _, _, err := ReadYAML(strings.NewReader("&top\n- host: a\n"), "t.yaml"); err == nil || err.Error() != "t.yaml:1: anchors and aliases are not supported" {
		t.Errorf("anchored top level: error %v", err)
	}
}
