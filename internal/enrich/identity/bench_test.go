package identity

import (
	"bytes"
	"fmt"
	"testing"
)

// adExport writes n AD user records shaped like an ldifde export: folded
// memberOf lines, base64 GUIDs, a manager DN and proxyAddresses.
func adExport(n int) []byte {
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, "dn: CN=User %d,OU=Staff,DC=corp,DC=example\r\nchangetype: add\r\nobjectClass: top\r\n"+
			"objectClass: person\r\nobjectClass: organizationalPerson\r\nobjectClass: user\r\ncn: User %d\r\n"+
			"displayName: User %d\r\nobjectGUID:: AAECAwQFBgcICQoLDA0ODw==\r\nsAMAccountName: user%d\r\n"+
			"userPrincipalName: user%d@corp.example\r\nmail: user.%d@corp.example\r\n"+
			"proxyAddresses: SMTP:user.%d@corp.example\r\nproxyAddresses: smtp:u%d@corp.example\r\n"+
			"department: Dept %d\r\ntitle: Staff\r\nphysicalDeliveryOfficeName: London\r\nuserAccountControl: 512\r\n"+
			"manager: CN=User %d,OU=Staff,DC=corp,DC=example\r\n"+
			"memberOf: CN=Remote Desktop Users With A Long Group Name,OU=Groups,OU=Staff,DC=co\r\n rp,DC=example\r\n"+
			"memberOf: CN=Dept %d Readers,OU=Groups,DC=corp,DC=example\r\n\r\n",
			i, i, i, i, i, i, i, i, i%40, i/10, i%40)
	}
	return b.Bytes()
}

func BenchmarkReadLDIF(b *testing.B) {
	in := adExport(10_000)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		d, rej, err := ReadLDIF(bytes.NewReader(in))
		if err != nil || len(rej) != 0 || d.Len() != 10_000 {
			b.Fatal(d.Len(), rej, err)
		}
	}
	b.ReportMetric(float64(10_000*b.N)/b.Elapsed().Seconds(), "records/s")
}
