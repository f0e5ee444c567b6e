package weblog

import (
	"os"
	"testing"

	"github.com/vigilsec/vigil/internal/decode/decodetest"
)

// seeds adds the fixtures and a few hand-picked edge cases to f.
func seeds(f *testing.F, files []string, extra []string) {
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

func FuzzDecodeW3C(f *testing.F) {
	seeds(f, []string{"testdata/iis_fields_change.log"}, []string{
		"#Fields: date time c-ip\n2019-09-03 10:13:36 10.0.2.17\n",
		"#Date: 2024-02-29 00:00:00\n#Fields: time cs(User-Agent) x\n12:00:01.5 a+b \"q \"\" r\"\n",
		"#Fields: date time cs-uri\n2019-09-03 10:13:36 http://[::1]:80/a?b\n",
		"#Fields:\n\n-\n",
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, NewW3CDecoder(), data)
	})
}

func FuzzDecodeAccessLog(f *testing.F) {
	seeds(f, []string{"testdata/nginx_combined.log", "testdata/vhost_combined.log", "testdata/common.log"}, []string{
		`a:1 b - x y [11/Jul/2018:08:41:28 +0300] "GET /\" \" 200 1 "\"" "\" ""` + "\n",
		`::1 - - [11/Jul/2018:08:41:28.5 -0000] "GET http://u@h:1/p?q#f HTTP/1.1" - -` + "\n",
		`1 - - [] "`,
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		decodetest.Fuzz(t, NewAccessDecoder(), data)
	})
}
