package conntrack

// Refusals: what a refused announcement or a blocked AUTH does to the
// stream (same-length rewrites, see samelen.go) or to the session (reset),
// and the start of TLS.

import (
	"github.com/ftpalg/ftpalg/conntrack/ftp"
	"github.com/ftpalg/ftpalg/rewrite"
)

// refuseClient refuses a PORT/EPRT. Under ViolationRefuse the argument is
// replaced by text the server rejects (501), so the client gets an error
// and the session goes on; under ViolationReset the session is reset.
func (s *Session) refuseClient(c *lineCtx, arg []byte, argOff int, r Reason, detail string) {
	ev := s.event(c, "refuse", r, detail)
	s.violation(c, r, detail)
	if s.env.pol.Violation == ViolationReset {
		s.reset(c, r, detail)
		return
	}
	s.replaceArg(c, ev, arg, argOff)
}

// replaceArg rewrites a command's argument (at argOff in the line) to
// refusedArg and records the new line on ev; an empty argument is left.
func (s *Session) replaceArg(c *lineCtx, ev *Event, arg []byte, argOff int) {
	if len(arg) == 0 {
		return
	}
	start := c.start.Add(argOff)
	repl := appendRefusal(s.env.scratch[:0], len(arg))
	if s.edit(c, start, start.Add(len(arg)), repl) {
		ev.Rewrite = splicedText(c.line, argOff, len(arg), repl)
	}
}

// A refused PORT/EPRT argument is replaced by as many bytes of
// refusedFill (appendRefusal): servers answer 501. So is the argument of
// an AUTH the TLS policy blocks: servers answer 504 (unknown security
// mechanism). The line keeps its length.

// blockAUTH refuses an AUTH command on a port whose TLS policy is block.
func (s *Session) blockAUTH(c *lineCtx, arg []byte) {
	const detail = "TLS is blocked on this control port"
	ev := s.event(c, "refuse", ReasonTLSBlocked, detail)
	s.violation(c, ReasonTLSBlocked, detail)
	// A bare AUTH is a syntax error (501) anyway.
	s.replaceArg(c, ev, arg, len(c.line)-len(arg)-trailingBlanks(c.line))
}

// reset asks the Tracker to reset the session once the current packet's
// lines are processed (Tracker.resetSession). Replay (DryRun) only logs.
func (s *Session) reset(c *lineCtx, r Reason, detail string) {
	if s.resetting || s.killed {
		return
	}
	s.event(c, "reset", r, detail)
	s.effect(c.res, Effect{Kind: EffReset, Reason: r, Detail: detail})
	if s.env.dryRun {
		return
	}
	s.resetting, s.resetDir, s.resetReason = true, c.dir, r
}

func trailingBlanks(line []byte) int {
	n := 0
	for n < len(line) && ftp.IsSpace(line[len(line)-1-n]) {
		n++
	}
	return n
}

// splicedText renders line with n bytes at off replaced by repl, for a
// log line (sanitised, one allocation).
func splicedText(line []byte, off, n int, repl []byte) string {
	b := make([]byte, 0, len(line)-n+len(repl)+16)
	b = appendSanitized(b, line[:off])
	b = appendSanitized(b, repl)
	b = appendSanitized(b, line[off+n:])
	return string(b)
}

// refuseAfterCheck refuses an announcement that passed the checks but
// could not be carried out.
func (s *Session) refuseAfterCheck(c *lineCtx, spanOff, spanLen int) {
	if c.dir == FromClient {
		start := c.start.Add(spanOff)
		s.edit(c, start, start.Add(spanLen), appendRefusal(s.env.scratch[:0], spanLen))
		return
	}
	s.refuseReplyEdit(c)
}

// edit records a rewrite of original bytes [start, end) of c's direction.
// It fails (with a violation) when part of the range was already
// forwarded or too many rewrites are in flight.
func (s *Session) edit(c *lineCtx, start, end rewrite.Seq, repl []byte) bool {
	if start.LessThan(c.release) {
		s.event(c, "refuse", ReasonSplitForwarded, "announcement began in a segment already forwarded")
		s.violation(c, ReasonSplitForwarded, "")
		return false
	}
	if s.env.dryRun {
		return true
	}
	if err := s.half[c.dir].adj.Add(start, end, repl); err != nil {
		s.event(c, "refuse", ReasonEditTableFull, err.Error())
		s.violation(c, ReasonEditTableFull, err.Error())
		return false
	}
	if !s.resized && int(end.Diff(start)) != len(repl) {
		s.resized = true
		s.env.stats.Resized++
		s.effect(c.res, Effect{Kind: EffResized})
		s.event(c, "resized", ReasonNone, "the stream's length changed: sequence numbers are adjusted until the session ends")
	}
	return true
}

// startTLS makes the session opaque: a side has shown a sign of TLS (a
// 234 line, or a TLS record where a line starts). From here nothing is
// parsed until TLS ends (CCC, see tlsWalk), and every pinhole closes.
// Unless the sign is the server's paired answer to AUTH (or the session
// was picked up mid-stream, where the AUTH may have gone by unseen), it is
// a violation: refused (opaque, logged) or reset by the policy. A port
// whose policy blocks TLS resets the session either way.
func (s *Session) startTLS(c *lineCtx, paired bool, detail string) {
	s.authPending = false
	legit := paired || s.midstream
	switch {
	case s.tls.Mode == TLSBlock && !s.midstream:
		d := detail + ": TLS is blocked on this control port"
		s.event(c, "refuse", ReasonTLSBlocked, d)
		s.violation(c, ReasonTLSBlocked, d)
		s.reset(c, ReasonTLSBlocked, d)
	case !legit:
		d := detail + " without an AUTH the server accepted in order"
		s.event(c, "refuse", ReasonTLSUnpaired, d)
		s.violation(c, ReasonTLSUnpaired, d)
		if s.env.pol.Violation == ViolationReset {
			s.reset(c, ReasonTLSUnpaired, d)
		}
	}
	s.opaque = true
	s.closeAll(c.res, ReasonOpaque)
	s.effect(c.res, Effect{Kind: EffOpaque})
	s.event(c, "opaque", ReasonNone, detail+": control channel is TLS")
	s.goOpaque()
	if legit && s.tls.Mode == TLSPassthroughRange {
		s.openRange(c)
	}
}

// refuseReply refuses a server announcement. Under ViolationRefuse a
// single-line reply is rewritten to "425" so that the client fails at once
// instead of waiting for a connection the firewall blocks; under
// ViolationReset the session is reset.
func (s *Session) refuseReply(c *lineCtx, r Reason, detail string) {
	ev := s.event(c, "refuse", r, detail)
	s.violation(c, r, detail)
	if s.env.pol.Violation == ViolationReset {
		s.reset(c, r, detail)
		return
	}
	if s.refuseReplyEdit(c) {
		ev.Rewrite = "425 " + refusedReplyText(c.line)
	}
}

func (s *Session) refuseReplyEdit(c *lineCtx) bool {
	if c.multiLine || c.long || len(c.line) < 3 || c.line[0] != '2' {
		return false // multi-line: leave the framing alone; no pinhole either way
	}
	return s.edit(c, c.start, c.start.Add(3), []byte("425"))
}

func refusedReplyText(line []byte) string {
	if len(line) > 4 {
		return sanitize(line[4:], 156)
	}
	return ""
}
