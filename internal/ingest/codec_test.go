package ingest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRecordRoundTrip(t *testing.T) {
	recv := time.Date(2026, 11, 26, 7, 0, 0, 123456789, time.UTC)
	tests := []struct {
		name string
		rec  Record
	}{
		{"ndjson", Record{Source: "http:ndjson", Data: []byte(`{"EventID":4624}`), Received: recv}},
		{"with format and context", Record{Source: "tail:/var/log/zeek/conn.log", Format: "zeek", Context: []byte("#fields\tts\tuid"), Data: []byte("1\tC1"), Received: recv}},
		{"zero time, empty data", Record{Source: "syslog:udp"}},
		{"binary data", Record{Source: "hec:fluent", Data: []byte{0, 1, 0xff, '\n'}, Received: recv}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendRecord([]byte("prefix"), &tt.rec)
			got, err := DecodeRecord(b[len("prefix"):])
			if err != nil {
				t.Fatal(err)
			}
			if got.Source != tt.rec.Source || got.Format != tt.rec.Format || !bytes.Equal(got.Context, tt.rec.Context) ||
				!bytes.Equal(got.Data, tt.rec.Data) || !got.Received.Equal(tt.rec.Received) {
				t.Errorf("decoded %+v, want %+v", got, tt.rec)
			}
		})
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	good := AppendRecord(nil, &Record{Source: "http:ndjson", Data: []byte("x"), Received: time.Unix(1, 0)})
	tests := []struct {
		name, want string
		b          []byte
	}{
		{"empty", "empty", nil},
		{"version", "version 9", append([]byte{9}, good[1:]...)},
		{"truncated", "received time", good[:len(good)-1]},
		{"trailing", "after the record", append(append([]byte{}, good...), 0)},
		{"data past the end", "data of", func() []byte {
			b := AppendRecord(nil, &Record{Source: "s", Data: []byte("abcdef")})
			return b[:len(b)-4]
		}()},
		{"huge source", "source of", append([]byte{1}, 0xff, 0xff, 0x7f)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRecord(tt.b)
			if !errors.Is(err, ErrRecordEncoding) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want ErrRecordEncoding naming %q", err, tt.want)
			}
		})
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(AppendRecord(nil, &Record{Source: "http:ndjson", Format: "json", Context: []byte("h"), Data: []byte(`{"a":1}`), Received: time.Unix(5, 6)}))
	f.Add([]byte{1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		// what decodes encodes back to the same bytes (one form per record)
		if again := AppendRecord(nil, &r); !bytes.Equal(again, b) {
			t.Fatalf("re-encoded %x, decoded from %x", again, b)
		}
	})
}

func TestDecodeRecordRefusesOverlongVarints(t *testing.T) {
	for _, b := range [][]byte{
		{1, 0x80, 0x00, 0, 0, 0, 0},       // source length 0 as two bytes
		{1, 0, 0, 0, 0, 0x80, 0x80, 0x00}, // received 0 as three bytes
	} {
		if _, err := DecodeRecord(b); !errors.Is(err, ErrRecordEncoding) || !strings.Contains(err.Error(), "overlong") {
			t.Errorf("%x: %v, want an overlong varint refused", b, err)
		}
	}
}
