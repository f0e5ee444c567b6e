package decode

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/valyala/fastjson"
)

// JSONCtxCheckEvery is how many objects JSONLoop frames between checks of the context.
const JSONCtxCheckEvery = 256

// JSONLoop is the record loop JSON decoders share: it frames in.R's objects with a
// JSONReader, rejects what cannot be framed or parsed (with the offset and line of
// the object), checks the context every JSONCtxCheckEvery objects, and hands each
// parsed value to the decoder. Keep one per decoder so the parser's memory is reused.
type JSONLoop struct {
	Format string // format id used in rejects
	What   string // what one object is, for parse errors: "parsing <What>: ..."
	// Shift is added to offsets: bytes of the stream consumed before in.R.
	Shift  int64
	Parser fastjson.Parser
}

// Run decodes in until EOF, calling fn for each parsed object (any JSON value; fn
// checks its type). v and rec.Bytes are valid until fn returns. A non-nil error from
// fn ends the loop and is returned, as are ctx.Err() and read errors.
func (l *JSONLoop) Run(ctx context.Context, in Input, sink Sink, fn func(rec JSONRecord, v *fastjson.Value) error) error {
	return l.RunRaw(ctx, in, sink, func(rec JSONRecord) error {
		v, err := l.Parser.ParseBytes(rec.Bytes)
		if err != nil {
			l.RejectMalformed(in, sink, rec, err)
			return nil
		}
		return fn(rec, v)
	})
}

// RejectMalformed rejects rec as malformed because parsing it failed with err.
func (l *JSONLoop) RejectMalformed(in Input, sink Sink, rec JSONRecord, err error) {
	Reject(sink, in, l.Format, rec.Offset, rec.Line, ReasonMalformed, fmt.Errorf("parsing %s: %w", l.What, err))
}

// RunRaw is Run without the parse: fn gets each framed object's text (valid until fn
// returns), for decoders that read it with Flattener.FlattenJSON. A decoder that finds
// the text invalid parses it with l.Parser for the parser's error and calls
// RejectMalformed, so rejects read as Run's.
func (l *JSONLoop) RunRaw(ctx context.Context, in Input, sink Sink, fn func(rec JSONRecord) error) error {
	jr := NewJSONReader(in.R, in.Limits)
	defer jr.Release()
	for n := 0; ; n++ {
		if n%JSONCtxCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		rec, err := jr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", in.Source, err)
		}
		if rec.Offset >= 0 {
			rec.Offset += l.Shift
		}
		if rec.Reason != "" {
			Reject(sink, in, l.Format, rec.Offset, rec.Line, rec.Reason, errors.New(rec.Detail))
			continue
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
