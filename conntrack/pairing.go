package conntrack

// Command/reply pairing (RFC 959 section 4.2): the commands a session
// has sent and awaits replies to, and what each final reply means.

import (
	"strconv"

	"github.com/ftpalg/ftpalg/conntrack/ftp"
	"github.com/ftpalg/ftpalg/rewrite"
)

// pendingCap bounds the commands a session tracks while their replies are
// outstanding. Clients do not pipeline more than a handful.
const pendingCap = 32

type pendingCmd struct {
	kind ftp.Kind
	end  rewrite.Seq // client-stream sequence number just after the command line
	ord  uint64      // command ordinal in the session
}

// push queues a command for pairing and returns its ordinal (0 when it
// could not be queued).
func (s *Session) push(kind ftp.Kind, end rewrite.Seq, c *lineCtx) uint64 {
	s.ord++
	if s.overrun > 0 || s.pLen == pendingCap {
		if s.overrun == 0 {
			s.violation(c, ReasonPipelineOverrun, "more than "+strconv.Itoa(pendingCap)+" commands without replies")
		}
		s.overrun++
		return 0
	}
	if s.pLen == len(s.pending) {
		s.growPending()
	}
	s.pending[(s.pHead+s.pLen)%len(s.pending)] = pendingCmd{kind: kind, end: end, ord: s.ord}
	s.pLen++
	return s.ord
}

// growPending doubles the ring of pending commands (from 4, up to
// pendingCap), keeping their order: clients rarely pipeline more than a
// command or two, so most sessions never grow it.
func (s *Session) growPending() {
	n := min(max(2*len(s.pending), 4), pendingCap)
	ring := make([]pendingCmd, n)
	for k := 0; k < s.pLen; k++ {
		ring[k] = *s.pendingAt(k)
	}
	s.pending, s.pHead = ring, 0
}

// pendingAt is the k-th oldest pending command (k < s.pLen).
func (s *Session) pendingAt(k int) *pendingCmd {
	return &s.pending[(s.pHead+k)%len(s.pending)]
}

func (s *Session) serverLine(c *lineCtx) {
	r := ftp.ParseReply(c.line)
	if r.Code == 234 {
		// Normally seen from its first bytes (Tracker.server234).
		s.reply234(c, true)
		return
	}
	if s.multi != 0 {
		// RFC 959 section 4.2: inside a multi-line reply only "ddd "
		// with the same code ends it. curl and old wget end a reply at
		// any "ddd " line, so a reply that never ends with its own code
		// would otherwise freeze reply parsing for the firewall while
		// those clients go on. Pairing follows the lenient reading (the
		// reply ends there), but a 227/229 that ends another code's
		// reply announces nothing: a strict client reads it as text.
		if r.Code == 0 || r.Multi {
			return
		}
		code, announced := s.multi, s.multiAnnounced
		s.multi, s.multiAnnounced = 0, false
		c.multiLine = true
		if r.Code != code {
			if (r.Code == 227 || r.Code == 229) && !announced {
				s.refuseReply(c, ReasonAmbiguous, strconv.Itoa(r.Code)+" inside a multi-line "+strconv.Itoa(code)+" reply")
			}
			code, announced = r.Code, true
		}
		s.finalReply(c, code, r.Text, announced)
		return
	}
	if r.Code == 0 {
		return // not a reply line: nothing to pair
	}
	if r.Multi {
		s.multi = r.Code
		if r.Code == 227 || r.Code == 229 {
			// The first line carries the address when it has one.
			if hasTuple(r.Code, r.Text) {
				s.multiAnnounced = true
				c.multiLine = true
				h, _ := s.head(c) // popped when the reply ends
				s.serverAnnounce(c, r.Code, r.Text, h)
			}
		}
		return
	}
	s.finalReply(c, r.Code, r.Text, false)
}

// hasTuple reports whether a 227/229 text has something to parse.
func hasTuple(code int, text []byte) bool {
	for _, b := range text {
		if code == 227 && ftp.IsDigit(b) || code == 229 && b == '(' {
			return true
		}
	}
	return false
}

// head returns the oldest outstanding command the server can have
// received when it sent this line (its ACK covers the command).
func (s *Session) head(c *lineCtx) (*pendingCmd, bool) {
	if s.pLen == 0 {
		return nil, false
	}
	h := &s.pending[s.pHead]
	if c.hasAck && c.ack.LessThan(h.end) {
		return nil, false
	}
	return h, true
}

// pairAnnouncement finds the newest pending PASV (227) or EPSV (229) the
// server had received (its ACK covers the command), pops it and every
// older command, and returns a copy of it; nil if there is none.
func (s *Session) pairAnnouncement(c *lineCtx, code int) *pendingCmd {
	want := ftp.PASV
	if code == 229 {
		want = ftp.EPSV
	}
	for k := s.pLen - 1; k >= 0; k-- {
		p := *s.pendingAt(k)
		if p.kind != want || c.hasAck && c.ack.LessThan(p.end) {
			continue
		}
		for i := 0; i <= k; i++ {
			s.pop()
		}
		s.midstream = false
		return &p
	}
	return nil
}

func (s *Session) pop() {
	s.pHead = (s.pHead + 1) % len(s.pending)
	s.pLen--
	if s.pLen == 0 && s.overrun > 0 {
		// The replies now answer commands that were never queued.
		s.overrun--
	}
}

// plausible reports whether code can be the final reply to kind; used only
// for sessions picked up mid-stream, whose first replies may answer
// commands sent before the pickup.
func plausible(kind ftp.Kind, code int) bool {
	if code >= 400 {
		return true
	}
	switch kind {
	case ftp.PASV:
		return code == 227
	case ftp.EPSV:
		return code == 229
	case ftp.PORT, ftp.EPRT, ftp.EPSVAll:
		return code/100 == 2
	}
	return true
}

func (s *Session) finalReply(c *lineCtx, code int, text []byte, announced bool) {
	if code < 200 {
		return // preliminary reply: the command stays outstanding
	}
	if !s.greeted {
		switch {
		case code == 220:
			s.greeted = true
			return
		case code == 421:
			s.quit(c)
			return
		case code == 227 || code == 229:
			if !announced {
				s.refuseReply(c, ReasonBeforeGreeting, "reply "+strconv.Itoa(code)+" before the 220 greeting")
			}
			return
		}
		return
	}
	var cmd *pendingCmd
	announcement := code == 227 || code == 229
	if announcement {
		// A 227/229 answers the newest PASV/EPSV the server had received;
		// everything pending before it was answered, maybe unseen (after
		// a pickup or a gap, or replies lost to a bypassed queue).
		cmd = s.pairAnnouncement(c, code)
	}
	if cmd != nil || announcement && s.midstream {
		// Paired, or no PASV/EPSV after a pickup or a gap: the reply may
		// answer a command never seen; the pending ones stay.
	} else if h, ok := s.head(c); ok {
		if s.midstream && !plausible(h.kind, code) {
			// Answers a command sent before we started watching.
			h = nil
		}
		if h != nil {
			s.midstream = false
			cp := *h
			cmd = &cp
			s.pop()
		}
	} else if s.overrun > 0 && s.pLen == 0 {
		s.overrun--
	}
	if code == 227 || code == 229 {
		if !announced {
			s.serverAnnounce(c, code, text, cmd)
		}
		return
	}
	if cmd == nil {
		if code == 421 {
			s.quit(c)
		}
		return
	}
	switch cmd.kind {
	case ftp.PORT, ftp.EPRT:
		if code/100 != 2 {
			for i := 0; i < s.npins; i++ {
				if s.pins[i].cmdOrd == cmd.ord {
					ev := s.event(c, "withdraw", ReasonWithdrawn, "")
					ev.Pinhole = s.pins[i].ph
					s.closePin(c.res, i, ReasonWithdrawn)
					break
				}
			}
		}
	case ftp.EPSVAll:
		if code/100 == 2 {
			s.epsvAll = true
			s.event(c, "epsv-all", ReasonNone, "")
		}
	case ftp.AUTH:
		// Refused (a 234 never gets here: reply234): clear text goes on.
		s.authPending = false
	case ftp.REIN:
		if code == 220 {
			s.closeAll(c.res, ReasonReinitialize)
			s.epsvAll = false
			s.event(c, "reinitialize", ReasonNone, "")
		}
	case ftp.QUIT:
		if code == 221 {
			s.quit(c)
		} else {
			s.quitSent = false
		}
	case ftp.Transfer:
		for i := 0; i < s.npins; i++ {
			if s.pins[i].attached == cmd.ord {
				s.closePin(c.res, i, ReasonTransferDone)
				break
			}
		}
	}
	if code == 421 {
		s.quit(c)
	}
}

// reply234 handles a 234 line in any position: the server has started
// TLS (RFC 4217), and the client starts it as soon as it reads a 234,
// however ftpalg pairs the line. Only a "234" at a line start of the
// inspector's framing (framed), ending no other reply and answering an
// AUTH the server had received, is the legitimate start.
func (s *Session) reply234(c *lineCtx, framed bool) {
	paired := false
	if framed && s.multi == 0 {
		if h, ok := s.head(c); ok {
			paired = h.kind == ftp.AUTH
			s.pop()
		}
	}
	s.multi, s.multiAnnounced = 0, false
	s.startTLS(c, paired, "server sent 234")
}

func (s *Session) quit(c *lineCtx) {
	if s.closing {
		return
	}
	s.closing = true
	s.closeAll(c.res, ReasonQuit)
	s.event(c, "closing", ReasonQuit, "")
}
