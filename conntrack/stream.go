package conntrack

import (
	"bytes"
	"github.com/ftpalg/ftpalg/conntrack/ftp"
	"sort"
	"time"

	"github.com/ftpalg/ftpalg/rewrite"
)

// Line-ending modes of a half-stream. RFC 959 lines end in CRLF. A peer
// whose first line ends in a bare LF is taken to use bare LF throughout;
// on a CRLF stream a bare LF is line content, so text after it is never
// read as a command or reply (it is not at a line start).
const (
	eolUnknown uint8 = iota
	eolCRLF
	eolLF
)

// half is one direction of a control connection.
//
// Its fields are ordered to pack (a session has two, issue 12).
type half struct {
	synced bool
	// rcvAckSet: rcvAck is known (see rcvAck, below).
	rcvAckSet bool
	next      rewrite.Seq // next original byte to inspect
	released  rewrite.Seq // bytes before this have been handed out in order
	fin       bool        // the sender's FIN was seen in order, at finSeq
	csum      uint8       // CaptureChecksums: how this direction's checksums are read
	finSeq    rewrite.Seq

	// rcvAck is the highest acknowledgment (original space) the receiver
	// of this half has sent. Beyond next, it proves that bytes reached the
	// receiver without passing the inspector (a bypassed queue): only then
	// is a gap real. A spoofed segment ahead of the stream is never
	// acknowledged, so it is never inspected.
	rcvAck rewrite.Seq

	line      []byte // the incomplete line so far (bounded by MaxLine)
	lineStart rewrite.Seq
	discard   bool // skipping to the end of an over-long line, or after a gap
	prevCR    bool // the last inspected byte was CR
	eol       uint8

	// long: the line being discarded is over MaxLine; it still counts
	// as one command or reply when it ends, read from its first bytes
	// (longHead), so that pairing stays in step.
	long      bool
	longHead  [longHeadLen]byte
	longHeadN int

	// sig holds the first bytes after the last LF, sigN how many
	// (sigOff: not looking until the next LF). Any LF counts, bare or
	// not: FTP clients split replies at LF, so a reader may see a line
	// start there even where the inspector's CRLF framing does not.
	// Signs of TLS are looked for there (signs).
	sig  [4]byte
	sigN int8
	// tlsAtLF: a 234 line from the server started TLS; the rest of that
	// line is text, and the record walk starts after its LF.
	tlsAtLF bool

	adj rewrite.Adjuster

	held      []heldPkt // inspected packets held, in sequence order
	ooo       []heldPkt // out-of-order packets, not yet inspected
	heldBytes int
	holdSince time.Time

	opaque   bool // TLS: bytes are skipped record by record
	tlsAlert bool // an alert record (close_notify before CCC) was sent
	tlsApp   bool // an application-data record was sent (the handshake is over)
	tlsLost  bool // not TLS framing and no alert before it: stay opaque
	tlsHdr   [5]byte
	tlsNeed  int32 // bytes left of the current TLS record (at most 2^16-1)
	tlsHdrN  int32 // bytes of tlsHdr read
}

type heldPkt struct {
	token uint64
	b     []byte // the whole packet, copied
	seq   rewrite.Seq
	n     int
	flags uint8
}

func (h *half) sync(seq rewrite.Seq) {
	if h.synced {
		return
	}
	h.synced = true
	h.next, h.released, h.lineStart = seq, seq, seq
}

func (h *half) noteReleased(seq rewrite.Seq, n int, flags uint8) {
	if flags&rewrite.FlagSYN != 0 {
		seq = seq.Add(1)
	}
	if end := seq.Add(n); h.released.LessThan(end) && !h.released.LessThan(seq) {
		h.released = end
	}
}

// longHeadLen is how much of an over-long line is kept to classify it:
// enough for a verb and a short argument ("EPSV ALL") or a reply code.
const longHeadLen = 16

// feed inspects data, which starts at original sequence number pos ==
// h.next, splitting it into lines for the session.
func (t *Tracker) feed(s *Session, c *lineCtx, data []byte, pos rewrite.Seq) {
	h := &s.half[c.dir]
	for len(data) > 0 {
		if h.opaque {
			n := t.tlsWalk(s, c, h, data, pos)
			data, pos = data[n:], pos.Add(n)
			h.next = pos
			continue
		}
		if h.tlsAtLF {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				h.next = pos.Add(len(data))
				return
			}
			data, pos = data[i+1:], pos.Add(i+1)
			h.next = pos
			h.tlsAtLF, h.opaque = false, true
			h.line, h.lineStart, h.discard = h.line[:0], pos, false
			continue
		}
		if h.sigN >= 0 && h.sigN < int8(len(h.sig)) && t.signs(s, c, h, data, pos) {
			continue
		}
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			t.partial(s, c, h, data)
			h.prevCR = data[len(data)-1] == '\r'
			pos = pos.Add(len(data))
			h.next = pos
			return
		}
		crlf := i > 0 && data[i-1] == '\r' || i == 0 && h.prevCR
		if h.eol == eolUnknown && !h.discard {
			h.eol = eolCRLF
			if !crlf {
				h.eol = eolLF
			}
		}
		if !crlf && h.eol == eolCRLF {
			// A bare LF inside a CRLF line: content, not a line end.
			t.partial(s, c, h, data[:i+1])
			h.prevCR = false
			data, pos = data[i+1:], pos.Add(i+1)
			h.next = pos
			h.sigN = 0
			continue
		}
		chunk := data[:i]
		data, pos = data[i+1:], pos.Add(i+1)
		h.next = pos
		h.prevCR = false
		h.sigN = 0
		if h.discard {
			h.discard = false
			if h.long {
				h.long = false
				t.longLine(s, c, h, h.longHead[:h.longHeadN], pos)
			}
			h.line = h.line[:0]
			h.lineStart = pos
			continue
		}
		if n := len(h.line) + len(chunk); n > t.pol.MaxLine && !(n == t.pol.MaxLine+1 && crlf) {
			// MaxLine counts the line without its ending: the CR of a
			// CRLF does not count.
			t.tooLong(s, c, h, chunk)
			t.longLine(s, c, h, h.longHead[:h.longHeadN], pos)
			h.line = h.line[:0]
			h.lineStart = pos
			continue
		}
		line := chunk // a line wholly in this segment is not copied
		if len(h.line) > 0 {
			h.line = append(h.line, chunk...)
			line = h.line
		}
		t.dispatch(s, c, h, line, pos, false)
		h.line = h.line[:0]
		h.lineStart = pos
	}
}

// partial adds bytes of an incomplete line, enforcing MaxLine.
func (t *Tracker) partial(s *Session, c *lineCtx, h *half, b []byte) {
	if h.discard {
		return
	}
	limit := t.pol.MaxLine
	if b[len(b)-1] == '\r' {
		limit++ // it may be the CR of the line's CRLF, which does not count
	}
	if len(h.line)+len(b) > limit {
		t.tooLong(s, c, h, b)
		h.line = h.line[:0]
		h.discard = true
		h.long = true
		return
	}
	h.line = append(h.line, b...)
}

// tooLong logs an over-long line and keeps its first bytes (the line so
// far, then more) in h.longHead.
func (t *Tracker) tooLong(s *Session, c *lineCtx, h *half, more []byte) {
	n := copy(h.longHead[:], h.line)
	n += copy(h.longHead[n:], more)
	h.longHeadN = n
	c.line = h.line
	if len(c.line) > 40 {
		c.line = c.line[:40]
	}
	s.event(c, "discard", ReasonLineTooLong, "line longer than the limit")
	s.violation(c, ReasonLineTooLong, "")
}

// longLine hands an over-long line that has ended to the session as one
// command or reply, read from its first bytes: a discarded line still
// takes its place in command/reply pairing, but announces nothing.
func (t *Tracker) longLine(s *Session, c *lineCtx, h *half, head []byte, end rewrite.Seq) {
	t.dispatch(s, c, h, head, end, true)
	c.long = false
}

// dispatch hands a line that ended at end (its CR, if any, still on it)
// to the session; long: only its first bytes, of a line over MaxLine.
func (t *Tracker) dispatch(s *Session, c *lineCtx, h *half, line []byte, end rewrite.Seq, long bool) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	c.line = line
	c.start = h.lineStart
	c.end = end
	c.long = long
	c.multiLine = false
	c.release = h.released
	if c.dir == FromClient {
		s.clientLine(c)
	} else {
		s.serverLine(c)
	}
}

const sigOff = -1

// signs looks at the first bytes after an LF (h.sig, completed from data,
// which starts at pos) for a sign that a side has started TLS, whatever
// the pairing of AUTH and 234 says: a TLS record header from either side
// (tlsSign), or a "234" reply line from the server. On a sign the session
// turns opaque (startTLS) and signs reports true: data is then walked as
// TLS records from where the record starts, or after the 234 line.
func (t *Tracker) signs(s *Session, c *lineCtx, h *half, data []byte, pos rewrite.Seq) bool {
	before := int(h.sigN) // sign bytes in earlier segments
	h.sigN += int8(copy(h.sig[before:], data))
	b := h.sig[:h.sigN]
	switch {
	case tlsSign(b):
		t.tlsStarted(s, c, h, before)
		return true
	case c.dir == FromServer && len(b) == 4 && b[0] == '2' && b[1] == '3' && b[2] == '4' && !ftp.IsDigit(b[3]):
		t.server234(s, c, h, before, pos)
		return true
	}
	if len(b) == len(h.sig) || !(b[0] >= 20 && b[0] <= 24 || c.dir == FromServer && ftp.MayStartWith(b, "234")) {
		h.sigN = sigOff
	}
	return false
}

// tlsSign reports whether b starts like a TLS record (RFC 8446 section
// 5.1): a content type of 20-24 (change_cipher_spec, alert, handshake,
// application_data, heartbeat) and a major version of 3. No FTP command
// or reply starts with such a control byte.
func tlsSign(b []byte) bool {
	return len(b) >= 2 && b[0] >= 20 && b[0] <= 24 && b[1] == 3
}

// tlsStarted makes the session opaque because this half sent a TLS record
// after an LF; its first before bytes came in earlier segments (h.sig),
// the rest is the data being fed.
func (t *Tracker) tlsStarted(s *Session, c *lineCtx, h *half, before int) {
	var hdr [len(h.sig)]byte
	copy(hdr[:], h.sig[:before])
	c.line = nil
	c.start = h.lineStart
	c.release = h.released
	s.startTLS(c, false, c.dir.String()+" sent a TLS record")
	// This half's walk starts at the record's first byte.
	h.opaque = true
	h.line = h.line[:0]
	h.discard, h.long = false, false
	copy(h.tlsHdr[:], hdr[:before])
	h.tlsHdrN = int32(before)
	h.tlsNeed = 0
}

// server234 handles a 234 line from the server, seen from its first four
// bytes: the client starts TLS as soon as it reads it, however the
// inspector pairs it. Only a 234 at a line start of the inspector's own
// framing, ending no other reply and answering an AUTH the server had
// received, is the legitimate start (Session.reply234).
func (t *Tracker) server234(s *Session, c *lineCtx, h *half, before int, pos rewrite.Seq) {
	c.line = h.sig[:h.sigN]
	c.start = pos.Add(-before)
	c.release = h.released
	framed := !h.discard && len(h.line) == before
	s.reply234(c, framed)
	// The rest of the 234 line is text; the server's records follow it.
	h.opaque, h.tlsAtLF = false, true
	h.line = h.line[:0]
	h.discard, h.long = false, false
	h.sigN = sigOff
}

// holdable reports whether h may hold one more packet of n payload bytes.
func (t *Tracker) holdable(h *half, n int, now time.Time) bool {
	if len(h.held)+len(h.ooo) >= t.pol.MaxHeldSegments || h.heldBytes+n > t.pol.MaxHeldBytes {
		return false
	}
	return len(h.held)+len(h.ooo) == 0 || now.Sub(h.holdSince) < t.pol.HoldTimeout
}

// hold keeps a copy of the current packet.
func (t *Tracker) hold(s *Session, dir Dir, token uint64, seq rewrite.Seq, inspected bool, now time.Time) {
	h := &s.half[dir]
	p := &t.pkt
	if len(h.held)+len(h.ooo) == 0 {
		h.holdSince = now
	}
	hp := heldPkt{token: token, b: append([]byte(nil), p.B...), seq: seq, n: len(p.Payload), flags: p.Flags}
	if inspected {
		h.held = insertSorted(h.held, hp)
	} else {
		h.ooo = insertSorted(h.ooo, hp)
	}
	h.heldBytes += hp.n
	t.holding[s] = struct{}{}
	t.Stats.Held++
}

func insertSorted(l []heldPkt, hp heldPkt) []heldPkt {
	i := sort.Search(len(l), func(i int) bool { return hp.seq.LessThan(l[i].seq) })
	l = append(l, heldPkt{})
	copy(l[i+1:], l[i:])
	l[i] = hp
	return l
}

// drainOOO inspects out-of-order packets that are now in sequence and
// moves them to the held list. It reports whether any moved.
func (t *Tracker) drainOOO(s *Session, dir Dir, now time.Time, res *Result) bool {
	h := &s.half[dir]
	moved := false
	for len(h.ooo) > 0 && !h.next.LessThan(h.ooo[0].seq) {
		hp := h.ooo[0]
		h.ooo = h.ooo[1:]
		var q rewrite.Packet
		if rewrite.Decode(hp.b, &q) == nil {
			end := hp.seq.Add(hp.n)
			switch {
			case !h.next.LessThan(end):
			case s.ended || h.fin:
				// An ended session inspects nothing more (as in
				// segment): a pinhole it opened would never close.
				// Nor are bytes after the sender's FIN inspected.
				h.next = end
				h.line = h.line[:0]
				h.discard = true
			default:
				c := lineCtx{dir: dir, ack: s.half[1-dir].adj.Unmap(q.Ack), hasAck: q.Flags&rewrite.FlagACK != 0, now: now, res: res}
				off := h.next.Diff(hp.seq)
				t.feed(s, &c, q.Payload[off:], h.next)
			}
		}
		h.held = insertSorted(h.held, hp)
		moved = true
	}
	return moved
}

// bypassProven reports whether acked, an acknowledgment of this half's
// bytes sent by its receiver, covers bytes the inspector never saw, by a
// plausible amount (at most one maximal window): the receiver got them
// past ftpalg. A blind forger would have to guess it within that range.
func (h *half) bypassProven(acked rewrite.Seq) bool {
	if !h.synced || h.fin {
		return false
	}
	d := acked.Diff(h.next)
	return d > 0 && d <= 1<<16
}

// gapConfirmed reports whether the receiver acknowledged bytes the
// inspector has not seen. After the sender's FIN there are none: the
// receiver's ACK of the FIN covers its sequence number, not data.
func (h *half) gapConfirmed() bool { return !h.fin && h.rcvAckSet && h.next.LessThan(h.rcvAck) }

// rstAcceptable reports whether the receiver of this half accepts an RST
// with sequence number seq at once. RFC 5961 section 3.2 (and Linux):
// only an RST at exactly the next expected sequence number resets the
// connection; any other in-window RST gets a challenge ACK and the
// connection goes on. The receiver's expectation is one of: what the
// inspector saw the sender send (next, plus one for a FIN), what was
// handed out in order, or what the receiver acknowledged.
func (h *half) rstAcceptable(seq rewrite.Seq) bool {
	switch {
	case !h.synced:
		return true // an answer to a SYN: nothing to check it against
	case seq == h.next, seq == h.released:
		return true
	case h.fin && seq == h.finSeq.Add(1):
		return true
	}
	return h.rcvAckSet && seq == h.rcvAck
}

// passUninspected releases the out-of-order packets of a direction, sequence-adjusted but
// not inspected, leaving h.next where it is: bytes beyond a gap that the
// receiver has not acknowledged may be forged (a segment injected ahead of
// the window), so they must not be parsed, and they must not wedge the
// session either. The receiver's TCP decides what to make of them.
func (t *Tracker) passUninspected(s *Session, dir Dir, now time.Time, res *Result) {
	h := &s.half[dir]
	t.releaseHeld(s, dir, res, true) // the inspected, in-order ones first
	if len(h.ooo) == 0 {
		return
	}
	c := lineCtx{dir: dir, now: now, res: res}
	s.event(&c, "skip", ReasonGap, "segments beyond a gap the receiver has not acknowledged: passed uninspected")
	released := h.released
	h.held, h.ooo = h.ooo, nil
	t.releaseHeld(s, dir, res, true)
	h.released = released
}

// gap skips missing bytes up to seq: inspection resumes at the next line
// start after them. Only for a gap the receiver confirmed (gapConfirmed).
func (t *Tracker) gap(s *Session, dir Dir, seq rewrite.Seq, now time.Time, res *Result) {
	h := &s.half[dir]
	c := lineCtx{dir: dir, now: now, res: res}
	s.event(&c, "resync", ReasonGap, "missing bytes; resuming at this segment")
	// Commands or replies went by unseen. The commands still pending stay,
	// but pairing is as for a session picked up mid-stream: a reply that
	// cannot answer the oldest one is not paired with it, and a 227/229
	// pairs with the newest PASV/EPSV the server had received (pairing.go).
	// A multi-line reply may have ended in the hole.
	s.multi, s.multiAnnounced = 0, false
	s.midstream = true
	// Segments that crossed without ftpalg were whole segments, and FTP
	// peers write a line or more per segment: the segment after the hole
	// starts a line, as a segment does where a session is picked up
	// mid-stream.
	h.next = seq
	h.line = h.line[:0]
	h.lineStart = seq
	h.discard, h.long = false, false
	h.prevCR = false
	h.sigN = 0
	// The missing bytes count as handed out, but out-of-order segments
	// held beyond the hole were not: their bytes must still leave.
	to := seq
	if len(h.ooo) > 0 && h.ooo[0].seq.LessThan(to) {
		to = h.ooo[0].seq
	}
	if h.released.LessThan(to) && len(h.held) == 0 {
		h.released = to
	}
}

// releaseHeld hands out every held packet of a direction, in sequence
// order, rewritten with the edits now known. It returns the original
// sequence number up to which the released packets cover the stream.
// Out-of-order packets stay held when keepOOO is set; otherwise they are
// released too (the session is going away).
func (t *Tracker) releaseHeld(s *Session, dir Dir, res *Result, keepOOO bool) (rewrite.Seq, bool) {
	h := &s.half[dir]
	o := &s.half[1-dir]
	high := h.released
	all := h.held
	if len(h.ooo) > 0 && !keepOOO {
		all = append(all, h.ooo...)
		h.ooo = nil
	}
	for _, hp := range all {
		var q rewrite.Packet
		if t.dryRun {
			// Replay: packets are never sent, so they are never changed
			// (not even trimmed of bytes an earlier one carried).
			res.Released = append(res.Released, Release{Token: hp.token, Session: s.id, Verdict: Accept})
			if end := hp.seq.Add(hp.n); high.LessThan(end) {
				high = end
			}
			continue
		}
		if err := rewrite.Decode(hp.b, &q); err != nil {
			res.Released = append(res.Released, Release{Token: hp.token, Session: s.id, Verdict: Accept})
			continue
		}
		from := hp.seq
		if from.LessThan(high) && !high.LessThan(hp.seq.Add(hp.n)) {
			from = hp.seq.Add(hp.n) // wholly covered already
		} else if from.LessThan(high) {
			from = high
		}
		outSeq, payload := h.adj.Output(nil, hp.seq, q.Payload, from)
		covered := h.adj.Unmap(outSeq.Add(len(payload)))
		if high.LessThan(covered) {
			high = covered
		}
		if end := hp.seq.Add(hp.n); high.LessThan(end) {
			high = end
		}
		if len(payload) == 0 && hp.n > 0 && q.Flags&(rewrite.FlagFIN|rewrite.FlagRST) == 0 {
			res.Released = append(res.Released, Release{Token: hp.token, Session: s.id, Verdict: Drop})
			t.Stats.Dropped++
			continue
		}
		ack := q.Ack
		if q.Flags&rewrite.FlagACK != 0 {
			ack = o.adj.Unmap(q.Ack)
		}
		if q.Flags&rewrite.FlagSYN != 0 {
			outSeq = outSeq.Add(-1)
		}
		if outSeq == q.Seq && ack == q.Ack && bytes.Equal(payload, q.Payload) && o.adj.Identity() {
			res.Released = append(res.Released, Release{Token: hp.token, Session: s.id, Verdict: Accept})
			continue
		}
		b := rewrite.Rebuild(make([]byte, 0, len(hp.b)+len(payload)), &q, outSeq, ack, &o.adj, payload)
		if b == nil {
			res.Released = append(res.Released, Release{Token: hp.token, Session: s.id, Verdict: Drop})
			t.Stats.Dropped++
			continue
		}
		res.Released = append(res.Released, Release{Token: hp.token, Session: s.id, Verdict: AcceptModified, Packet: b})
		t.Stats.Modified++
	}
	if len(all) > 0 && h.released.LessThan(high) {
		h.released = high
	}
	h.held = h.held[:0]
	if len(h.ooo) == 0 {
		h.heldBytes = 0
		if len(s.half[1-dir].held)+len(s.half[1-dir].ooo) == 0 {
			delete(t.holding, s)
		}
	}
	return high, len(all) > 0
}

// releaseAll releases everything both directions hold, unchanged but for
// sequence adjustment.
func (t *Tracker) releaseAll(s *Session, res *Result) {
	for d := range s.half {
		t.releaseHeld(s, Dir(d), res, false)
	}
	delete(t.holding, s)
}

// goOpaque is called when the server accepts AUTH: from the end of the
// 234 line (server) and from the next byte (client), the channel is TLS.
func (s *Session) goOpaque() {
	for d := range s.half {
		h := &s.half[d]
		h.opaque = true
		h.tlsAlert, h.tlsLost, h.tlsApp = false, false, false
		h.long, h.tlsAtLF = false, false
		h.sigN = sigOff
		h.tlsNeed, h.tlsHdrN = 0, 0
		h.line = h.line[:0]
		h.discard = false
	}
}

// tlsWalk skips TLS records (RFC 8446 section 5.1 framing: type 20-24,
// version 3.x, length). At a record boundary, bytes that are not a TLS
// record header mean the channel is clear text again (after CCC, RFC 4217
// section 12.3): parsing resumes there. It returns how many bytes of data
// it consumed.
func (t *Tracker) tlsWalk(s *Session, c *lineCtx, h *half, data []byte, pos rewrite.Seq) int {
	if h.tlsLost {
		return len(data)
	}
	n := 0
	for n < len(data) {
		if h.tlsNeed > 0 {
			k := min(int(h.tlsNeed), len(data)-n)
			h.tlsNeed -= int32(k)
			n += k
			continue
		}
		h.tlsHdr[h.tlsHdrN] = data[n]
		h.tlsHdrN++
		n++
		if !validTLSPrefix(h.tlsHdr[:h.tlsHdrN]) {
			o := &s.half[1-c.dir]
			if !h.tlsAlert && !o.tlsAlert || !h.tlsApp || !o.tlsApp || tlsSign(h.tlsHdr[:h.tlsHdrN]) {
				// Not TLS, and neither side closed an established TLS
				// session: the stream cannot be trusted as commands.
				// Stay opaque. (After CCC a client may go on in clear
				// text without a close_notify of its own once the
				// server sent its one, as curl does by default: RFC
				// 4217 section 12.3 lets either side start the
				// shutdown. CCC comes after login, so both sides have
				// sent application data by then; an alert during the
				// handshake ends nothing. Bytes that still look like a
				// TLS record never start a clear-text line.)
				h.tlsLost = true
				c.line = nil
				s.event(c, "ignore", ReasonOpaque, "bytes that are not TLS records on an opaque channel")
				return len(data)
			}
			// Clear text after close_notify (CCC): the header bytes
			// seen so far start a line.
			h.opaque = false
			h.line = append(h.line[:0], h.tlsHdr[:h.tlsHdrN-1]...)
			h.sigN = int8(copy(h.sig[:], h.line))
			h.lineStart = pos.Add(n - int(h.tlsHdrN))
			h.tlsHdrN = 0
			s.cleared(c, h)
			return n - 1
		}
		if h.tlsHdrN == 5 {
			h.tlsAlert = h.tlsAlert || h.tlsHdr[0] == 21
			h.tlsApp = h.tlsApp || h.tlsHdr[0] == 23
			h.tlsNeed = int32(h.tlsHdr[3])<<8 | int32(h.tlsHdr[4])
			h.tlsHdrN = 0
		}
	}
	return n
}

func validTLSPrefix(b []byte) bool {
	if b[0] < 20 || b[0] > 24 {
		return false
	}
	if len(b) > 1 && b[1] != 3 {
		return false
	}
	if len(b) > 2 && b[2] > 4 {
		return false
	}
	if len(b) > 4 && (int(b[3])<<8|int(b[4])) > 1<<14+2048 {
		return false
	}
	return true
}

// cleared notes that one half left TLS; when the other has left it too or
// has at least closed it (sent its alert), the session is clear text again.
func (s *Session) cleared(c *lineCtx, h *half) {
	for d := range s.half {
		if s.half[d].opaque && !s.half[d].tlsAlert || !s.opaque {
			return
		}
	}
	s.opaque = false
	s.pLen, s.overrun, s.multi = 0, 0, 0
	s.closeRange(c.res, ReasonCleared)
	s.effect(c.res, Effect{Kind: EffClear})
	c.line = nil
	s.event(c, "clear", ReasonNone, "TLS ended (CCC): parsing resumes")
}
