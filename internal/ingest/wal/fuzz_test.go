package wal

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/ingest"
)

// FuzzSegment writes arbitrary bytes as the only segment: Open must not
// panic, must keep only a prefix of whole frames with valid CRCs, and the log
// must take appends and reads after it.
func FuzzSegment(f *testing.F) {
	recs := []ingest.Record{
		{Source: "s", Format: "zeek", Context: []byte("#fields a"), Data: []byte("1"), Received: time.Unix(5, 6)},
		{Source: "s", Format: "zeek", Context: []byte("#fields a"), Data: []byte("2")},
		{Data: bytes.Repeat([]byte("z"), 300)},
	}
	valid := appendFrames(appendHeader(nil, 1), 1, recs)
	f.Add(valid)
	f.Add(valid[:len(valid)-7])
	f.Add(appendHeader(nil, 1))
	f.Add([]byte{})
	f.Add([]byte("VGWALSG1garbage garbage garbage"))
	flipped := bytes.Clone(valid)
	flipped[headerSize+20] ^= 1
	f.Add(flipped)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, segmentName(1))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		w, err := Open(Options{Dir: dir, NoSync: true, MaxRecord: 1 << 16})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer w.Close()
		got := readAll(t, w, 1)
		if uint64(len(got)) != w.Last() {
			t.Fatalf("read %d entries, last %d", len(got), w.Last())
		}
		if len(got) > 0 { // what was kept is a prefix of the input, frame by frame valid
			kept, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, kept) {
				t.Fatal("recovery changed bytes it kept")
			}
			p := kept[headerSize:]
			for i := range got {
				if len(p) < frameHead {
					t.Fatalf("frame %d missing", i)
				}
				n := binary.LittleEndian.Uint32(p)
				body := p[frameHead : frameHead+int(n)]
				if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(p[4:]) {
					t.Fatalf("frame %d kept with a bad CRC", i)
				}
				p = p[frameHead+int(n):]
			}
			if len(p) != 0 {
				t.Fatalf("%d bytes kept after the last frame", len(p))
			}
		}
		r := ingest.Record{Source: "after", Data: []byte("fuzz")}
		if err := w.Append(context.Background(), []ingest.Record{r, r}); err != nil {
			t.Fatalf("Append after recovery: %v", err)
		}
		es, err := w.Read(context.Background(), uint64(len(got))+1, 10, 0)
		if err != nil || len(es) != 2 || es[1].Seq != uint64(len(got))+2 || !sameRecord(es[1].Record, r) {
			t.Fatalf("Read after recovery: %+v %v", es, err)
		}
	})
}

// FuzzFrameBody gives the decoder arbitrary record bodies behind a valid
// length and CRC, which FuzzSegment rarely produces: the decoder must not
// panic, and what it accepts must encode and decode back to itself.
func FuzzFrameBody(f *testing.F) {
	for _, r := range []ingest.Record{{}, {Source: "s", Format: "f", Context: []byte("c"), Data: []byte("d"), Received: time.Unix(1, 2)}} {
		fr := appendFrames(nil, 1, []ingest.Record{r})
		f.Add(fr[frameHead:], false)
	}
	two := appendFrames(nil, 1, []ingest.Record{{Context: []byte("c")}, {Context: []byte("c")}})
	f.Add(two[len(two)-minBody-2:], true)
	f.Fuzz(func(t *testing.T, body []byte, afterOne bool) {
		seg := appendHeader(nil, 1)
		next := uint64(1)
		if afterOne {
			seg = appendFrames(seg, 1, []ingest.Record{{Context: []byte("ctx")}})
			next = 2
		}
		seg = binary.LittleEndian.AppendUint32(seg, uint32(len(body)))
		seg = binary.LittleEndian.AppendUint32(seg, crc32.Checksum(body, castagnoli))
		seg = append(seg, body...)
		if len(body) >= 8 { // give it the right seq often enough
			binary.LittleEndian.PutUint64(seg[len(seg)-len(body):], next)
			binary.LittleEndian.PutUint32(seg[len(seg)-len(body)-4:], crc32.Checksum(seg[len(seg)-len(body):], castagnoli))
		}
		d := newDecoder(bufioReader(seg[headerSize:]), int64(len(seg)-headerSize), 1)
		var last Entry
		for {
			e, _, err := d.decode()
			if err != nil {
				return
			}
			last = e
			if e.Seq != next {
				continue
			}
			re := appendFrames(nil, e.Seq, []ingest.Record{e.Record})
			d2 := newDecoder(bufioReader(re), int64(len(re)), e.Seq)
			e2, _, err := d2.decode()
			if err != nil || !sameRecord(e2.Record, last.Record) {
				t.Fatalf("accepted %+v, re-decoded %+v, %v", e.Record, e2.Record, err)
			}
		}
	})
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }
