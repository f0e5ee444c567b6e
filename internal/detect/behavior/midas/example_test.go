package midas_test

import (
	"fmt"
	"net/netip"

	"github.com/vigilsec/vigil/internal/detect/behavior/midas"
)

// An edge seen twice a minute for ten minutes, then 57 times in a minute.
func ExampleModel_Observe() {
	m, err := midas.New(midas.DefaultConfig())
	if err != nil {
		panic(err)
	}
	src, dst := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("10.0.0.9")
	s, d := midas.HashAddr(src), midas.HashAddr(dst)
	minute := int64(29_000_000) // Unix minutes: any non-decreasing clock works
	for i := range int64(10) {
		m.Score(s, d, minute+i)
		m.Score(s, d, minute+i)
	}
	var r midas.Result
	for range 57 {
		r = m.Observe(s, d, minute+10)
	}
	p := r.Part(r.Driver)
	fmt.Printf("%v %v→%v seen %.0f times this minute; %.1f per minute on average before (score %.0f)\n",
		r.Driver, src, dst, p.Count, p.MeanBefore, r.Score)
	// Output: edge 10.0.0.5→10.0.0.9 seen 57 times this minute; 2.0 per minute on average before (score 852)
}
