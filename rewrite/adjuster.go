package rewrite

import "errors"

// MaxEdits is the largest number of live (not yet released) edits an
// Adjuster holds. An FTP control connection has at most a few commands in
// flight, so reaching the limit means the receiver stopped acknowledging.
const MaxEdits = 32

// maxReplacement bounds the length of one replacement, far above anything
// the gateway writes, so that offsets stay well inside 31 bits.
const maxReplacement = 1 << 20

// replBufKeep is the largest replacement buffer kept for reuse when an edit
// is released; bigger ones are dropped so a long-lived Adjuster stays small.
const replBufKeep = 512

var (
	// ErrEditEmpty reports an edit whose original range is empty or inverted
	// (end not after start) or whose replacement is empty.
	ErrEditEmpty = errors.New("rewrite: adjuster: empty edit")
	// ErrEditOrder reports an edit that starts before the end of the previous
	// edit (edits are added in stream order and never overlap) or before the
	// point already released.
	ErrEditOrder = errors.New("rewrite: adjuster: edit out of order")
	// ErrTooManyEdits reports an Add while MaxEdits edits are live.
	ErrTooManyEdits = errors.New("rewrite: adjuster: too many live edits")
	// ErrEditTooLong reports a replacement longer than 1 MiB.
	ErrEditTooLong = errors.New("rewrite: adjuster: replacement too long")
)

// edit is one live edit: original bytes [start, end) stand on output as repl.
type edit struct {
	start, end Seq
	// delta is the offset, modulo 2^32, from original to output space for
	// positions at or before start: output = original + delta.
	delta uint32
	repl  []byte
}

// outStart is the output-space position of the edit's first output byte.
func (e *edit) outStart() Seq { return e.start + Seq(e.delta) }

// inPlace reports whether the edit keeps the length of what it replaces:
// its bytes then stand byte for byte where the original ones did, so
// positions inside it map one to one (Map, Unmap) and a segment carries
// exactly the replacement bytes of the original bytes it covers (Output).
func (e *edit) inPlace() bool { return int64(len(e.repl)) == int64(e.end.Diff(e.start)) }

// outEnd is the output-space position just after the edit's replacement.
func (e *edit) outEnd() Seq { return e.outStart().Add(len(e.repl)) }

// after is the offset for positions at or after the edit's end.
func (e *edit) after() uint32 {
	return e.delta + uint32(len(e.repl)) - uint32(e.end-e.start)
}

// Adjuster records, for ONE direction of a TCP connection, the edits made to
// that direction's byte stream: original bytes [start, end) replaced on output
// by a replacement. It maps sequence numbers between the original space (the
// sender's) and the output space (the receiver's).
//
// Live edits are kept in stream order. Edits the receiver has acknowledged
// are folded by Release into a base offset, so the memory an Adjuster uses is
// bounded by MaxEdits. The zero value is the identity. An Adjuster is not
// safe for concurrent use.
type Adjuster struct {
	edits []edit // live edits in stream order, len <= MaxEdits
	// base is the offset for positions before the first live edit (or for
	// every position when none is live): the net length change of all
	// released edits, modulo 2^32.
	base uint32
	// floor is the end of the most recent edit or the latest released
	// point, whichever is later; the next edit may not start before it.
	floor   Seq
	touched bool // floor is meaningful
}

// Add records that the original bytes [start, end) stand on output as repl.
// Edits are added in stream order: start must not be before the end of the
// previous edit (adjacent edits are fine), nor before the latest point passed
// to Release. end must be after start, and repl must hold 1 to 1 MiB bytes;
// it is copied. At most MaxEdits edits may be live. On error the Adjuster is
// unchanged; the error wraps ErrEditEmpty, ErrEditOrder, ErrTooManyEdits or
// ErrEditTooLong.
func (a *Adjuster) Add(start, end Seq, repl []byte) error {
	switch {
	case !start.LessThan(end):
		return errorf(ErrEditEmpty, "rewrite: adjuster: edit [%d, %d) has an empty or inverted original range", start, end)
	case len(repl) == 0:
		return errorf(ErrEditEmpty, "rewrite: adjuster: edit [%d, %d) has an empty replacement (at least one byte is required)", start, end)
	case len(repl) > maxReplacement:
		return errorf(ErrEditTooLong, "rewrite: adjuster: edit [%d, %d) has a replacement of %d bytes, more than %d", start, end, len(repl), maxReplacement)
	case a.touched && start.LessThan(a.floor):
		return errorf(ErrEditOrder, "rewrite: adjuster: edit [%d, %d) starts before %d, the end of the previous edit or the released point", start, end, a.floor)
	case len(a.edits) >= MaxEdits:
		return errorf(ErrTooManyEdits, "rewrite: adjuster: edit [%d, %d) refused: %d edits are live (maximum %d), none acknowledged", start, end, len(a.edits), MaxEdits)
	}
	delta := a.tail()
	n := len(a.edits)
	if n < cap(a.edits) {
		a.edits = a.edits[:n+1]
	} else {
		a.edits = append(a.edits, edit{})
	}
	e := &a.edits[n]
	e.start, e.end, e.delta = start, end, delta
	e.repl = append(e.repl[:0], repl...)
	a.floor, a.touched = end, true
	return nil
}

// tail is the offset for positions after every live edit.
func (a *Adjuster) tail() uint32 {
	if n := len(a.edits); n > 0 {
		return a.edits[n-1].after()
	}
	return a.base
}

// Identity reports whether the Adjuster maps every position to itself: no
// edit is live and the released edits changed no sequence number (their
// length changes add up to zero). Callers then skip all work.
func (a *Adjuster) Identity() bool { return len(a.edits) == 0 && a.base == 0 }

// Live returns the number of live edits.
func (a *Adjuster) Live() int { return len(a.edits) }

// Reset returns the Adjuster to the identity, keeping its buffers.
func (a *Adjuster) Reset() {
	for i := range a.edits {
		a.edits[i] = edit{repl: a.edits[i].repl[:0]}
	}
	a.edits = a.edits[:0]
	a.base, a.floor, a.touched = 0, 0, false
}

// Map translates s from original to output space. A position strictly inside
// an edit (start < s < end) maps to the output position of the edit's start
// (inside an edit that keeps the length: one to one); an edit's start and
// end map to the first and one-past-the-last output positions of its
// replacement.
func (a *Adjuster) Map(s Seq) Seq {
	for i := range a.edits {
		e := &a.edits[i]
		if s.LessThanEq(e.start) {
			return s + Seq(e.delta)
		}
		if s.LessThan(e.end) {
			if e.inPlace() {
				return s + Seq(e.delta)
			}
			return e.outStart()
		}
	}
	return s + Seq(a.tail())
}

// MapEnd is Map, except that a position strictly inside an edit maps to the
// output position just after the edit's replacement. It is the output
// position that follows original bytes up to s once the edit has been
// emitted whole, as Output does: use it for the sequence number of a
// zero-length segment whose sequence number falls inside an edit.
func (a *Adjuster) MapEnd(s Seq) Seq {
	for i := range a.edits {
		e := &a.edits[i]
		if s.LessThanEq(e.start) {
			return s + Seq(e.delta)
		}
		if s.LessThan(e.end) {
			if e.inPlace() {
				return s + Seq(e.delta)
			}
			return e.outEnd()
		}
	}
	return s + Seq(a.tail())
}

// Unmap translates s from output to original space; it is used for the
// acknowledgment numbers the receiver sends back. A position strictly inside
// an edit's replacement (after its first output byte, before the position
// just after its last) maps to the edit's original start, so the sender is
// never told that original bytes were received before the receiver has the
// whole replacement. Positions at or after the replacement's end map to
// end + (s - replacement end). Inside an edit that keeps the length,
// positions map one to one.
func (a *Adjuster) Unmap(s Seq) Seq { return a.unmap(s, false) }

// UnmapSACK translates a SACK block [left, right) from output to original
// space. It is Unmap for both edges, except that a left edge strictly inside
// a replacement rounds up to the edit's original end and a right edge
// strictly inside rounds down to the edit's original start, so the block
// only names original bytes whose whole replacement the receiver holds. The
// result may be empty (left >= right); callers then neutralise the block.
func (a *Adjuster) UnmapSACK(left, right Seq) (Seq, Seq) {
	return a.unmap(left, true), a.unmap(right, false)
}

func (a *Adjuster) unmap(s Seq, roundUp bool) Seq {
	for i := range a.edits {
		e := &a.edits[i]
		os := e.outStart()
		if s.LessThanEq(os) {
			return s - Seq(e.delta)
		}
		if s.LessThan(e.outEnd()) {
			if e.inPlace() {
				return s - Seq(e.delta)
			}
			if roundUp {
				return e.end
			}
			return e.start
		}
	}
	return s - Seq(a.tail())
}

// Release tells the Adjuster that the receiver has acknowledged the original
// bytes before acked (an acknowledgment number already passed through
// Unmap). Edits that end at or before acked are folded into the base offset,
// so Map and Unmap of positions at or after acked (and of their output
// images) do not change. An edit that acked falls inside stays live.
//
// After folding, Map of a position before acked uses the base offset. That
// image is below Map(acked), which the receiver has already acknowledged, so
// a retransmission of acknowledged bytes still lands entirely in output space
// the receiver discards as a duplicate. Release also raises the point before
// which Add refuses new edits to acked. Pass only acknowledgment numbers the
// receiver really sent and that are within the window; a forged future
// acknowledgment would fold edits still in flight.
func (a *Adjuster) Release(acked Seq) {
	k := 0
	for k < len(a.edits) && a.edits[k].end.LessThanEq(acked) {
		k++
	}
	if k > 0 {
		a.base = a.edits[k-1].after()
		var keep [MaxEdits][]byte
		for j := 0; j < k; j++ {
			if cap(a.edits[j].repl) <= replBufKeep {
				keep[j] = a.edits[j].repl[:0]
			}
		}
		n := copy(a.edits, a.edits[k:])
		for j := 0; j < k; j++ {
			a.edits[n+j] = edit{repl: keep[j]}
		}
		a.edits = a.edits[:n]
	}
	if !a.touched || a.floor.LessThan(acked) {
		a.floor, a.touched = acked, true
	}
}

// Output appends to dst[:0] the payload that stands on output for the
// original segment (seq, payload), omitting the original bytes before from,
// and returns the output-space sequence number of its first byte.
//
// from should satisfy seq <= from <= seq+len(payload) (pass seq for the whole
// segment); it is clamped into that range. Bytes outside edits are copied
// from payload. Every edit that overlaps [from, seq+len(payload)) is emitted
// whole, with its full replacement, even when the segment covers only part of
// its original range (an edit that keeps the length is emitted byte for byte
// instead: a segment carries the replacement of exactly the original bytes it
// covers, at their own positions): a segment that starts inside an edit starts on output at
// Map(edit start), and one that ends inside an edit ends with the whole
// replacement (the original bytes after it, when they arrive, should then be
// skipped with from = edit end; Unmap of the returned sequence number plus the
// output length gives that point).
//
// When no edit overlaps and nothing is trimmed (from == seq), Output copies
// nothing and returns payload itself with Map(seq): the caller may pass the
// payload unchanged and rewrite only the sequence number. Otherwise the
// result is built by appending to dst[:0] (growing it only if its capacity is
// too small; dst must not overlap payload) and never aliases payload. When
// from reaches the segment's end the result is dst[:0] and the sequence
// number is MapEnd(from).
func (a *Adjuster) Output(dst []byte, seq Seq, payload []byte, from Seq) (Seq, []byte) {
	end := seq.Add(len(payload))
	if from.LessThan(seq) {
		from = seq
	} else if end.LessThan(from) {
		from = end
	}
	if from == end {
		return a.MapEnd(from), dst[:0]
	}
	// The first edit that ends after from is the first that can overlap.
	i := 0
	for i < len(a.edits) && a.edits[i].end.LessThanEq(from) {
		i++
	}
	if i == len(a.edits) || !a.edits[i].start.LessThan(end) {
		// No edit overlaps: the next edit, if any, starts at or after the
		// segment's end, and from is not inside an edit.
		var delta uint32
		if i == len(a.edits) {
			delta = a.tail()
		} else {
			delta = a.edits[i].delta
		}
		if from == seq {
			return seq + Seq(delta), payload
		}
		return from + Seq(delta), append(dst[:0], payload[from.Diff(seq):]...)
	}
	e := &a.edits[i]
	var outSeq Seq
	if e.start.LessThan(from) && !e.inPlace() {
		outSeq = e.outStart() // the segment starts inside the edit
	} else {
		outSeq = from + Seq(e.delta)
	}
	out := dst[:0]
	c := from // next original byte to emit
	for ; i < len(a.edits); i++ {
		e := &a.edits[i]
		if !e.start.LessThan(end) {
			break
		}
		if c.LessThan(e.start) {
			out = append(out, payload[c.Diff(seq):e.start.Diff(seq)]...)
		}
		if e.inPlace() {
			// Byte for byte: only the replacement of the original bytes
			// this segment covers.
			lo := max(c.Diff(e.start), 0)
			hi := min(end.Diff(e.start), e.end.Diff(e.start))
			out = append(out, e.repl[lo:hi]...)
			c = e.start.Add(int(hi))
		} else {
			out = append(out, e.repl...)
			c = e.end
		}
		if !c.LessThan(end) {
			return outSeq, out
		}
	}
	out = append(out, payload[c.Diff(seq):]...)
	return outSeq, out
}
