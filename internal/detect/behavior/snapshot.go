package behavior

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"io"
)

// MaxSnapshot bounds the size of one model's snapshot that Restore accepts.
const MaxSnapshot = 4 << 30

// decodeGob decodes one gob value from r after checking the stream's framing: gob
// allocates a message's buffer from its length prefix before reading it, so a
// hostile prefix would cost up to a gigabyte for a few bytes of input. Every
// message must fit in what r actually holds.
func decodeGob(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxSnapshot+1))
	if err != nil {
		return fmt.Errorf("reading snapshot: %w", err)
	}
	if len(b) > MaxSnapshot {
		return fmt.Errorf("snapshot larger than %d bytes", int64(MaxSnapshot))
	}
	for rest := b; len(rest) > 0; {
		n, w, err := gobUint(rest)
		if err != nil {
			return err
		}
		rest = rest[w:]
		if n > uint64(len(rest)) {
			return fmt.Errorf("snapshot message of %d bytes with %d left: truncated or corrupt", n, len(rest))
		}
		rest = rest[n:]
	}
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(v); err != nil {
		return fmt.Errorf("decoding snapshot: %w", err)
	}
	return nil
}

// gobUint reads gob's unsigned integer encoding: one byte below 128, else the
// negated byte count followed by that many big-endian bytes.
func gobUint(b []byte) (v uint64, width int, err error) {
	if len(b) == 0 {
		return 0, 0, errors.New("snapshot: empty length prefix")
	}
	if b[0] < 0x80 {
		return uint64(b[0]), 1, nil
	}
	n := -int(int8(b[0]))
	if n > 8 || n >= len(b) {
		return 0, 0, errors.New("snapshot: bad length prefix")
	}
	for _, c := range b[1 : 1+n] {
		v = v<<8 | uint64(c)
	}
	return v, 1 + n, nil
}
