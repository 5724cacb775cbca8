package conntrack

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/ftpalg/ftpalg/rewrite"
)

// pendingCap bounds the commands a session tracks while their replies are
// outstanding. Clients do not pipeline more than a handful.
const pendingCap = 32

type pendingCmd struct {
	kind cmdKind
	end  rewrite.Seq // client-stream sequence number just after the command line
	ord  uint64      // command ordinal in the session
}

// pin is one outstanding pinhole of a session.
type pin struct {
	id       uint64
	ph       Pinhole
	m        Mapping
	hasMap   bool
	dnat     bool // m.Dst is reserved in the port registry
	expires  time.Time
	cmdOrd   uint64 // the PORT/EPRT or PASV/EPSV command that announced it
	attached uint64 // the transfer command using it, 0 if none yet
}

// Session is one FTP control connection: two half-streams and the FTP
// state that pairs commands with replies. mu: none; a Session belongs to
// one Tracker, which is used by one goroutine.
type Session struct {
	id       uint64
	flow     Flow
	tuples   Tuples
	natKnown bool
	tr       *Tracker
	half     [2]half

	greeted   bool // 220 seen (or picked up mid-stream)
	midstream bool // handshake not seen: replies may answer unseen commands
	closing   bool // QUIT/221 or 421 seen: no new pinholes
	quitSent  bool // QUIT sent, its reply outstanding: no new pinholes
	// authPending: AUTH sent, its reply outstanding. The client starts
	// TLS as soon as the 234 comes, so nothing it pipelined after the
	// AUTH may open a pinhole.
	authPending bool
	epsvAll     bool
	opaque      bool
	ended       bool

	pending [pendingCap]pendingCmd
	pHead   int
	pLen    int
	overrun int // commands seen while pending was full, not queued
	ord     uint64

	multi          int  // code of the multi-line reply in progress, 0 if none
	multiAnnounced bool // its announcement was already handled

	pins  [maxPinholesCap]pin
	npins int

	tls TLSRule   // FTPS policy of the session's control port
	rng rangeOpen // the passive-range pinhole while the channel is TLS

	// resetting: a refusal under ViolationReset (or an AUTH the policy
	// blocks but the server accepted) asked for a reset, which the
	// Tracker carries out when the current packet's lines are done.
	resetting   bool
	resetDir    Dir
	resetReason Reason
	killed      bool // reset done: every further packet is dropped

	lastSeen time.Time
	endedAt  time.Time

	// reopen: a SYN with another sequence number (reopenISN) arrived
	// while the session was live; a SYN-ACK acknowledging it replaces
	// the session (Tracker.reopen).
	reopen    bool
	reopenISN rewrite.Seq

	// resized: an edit changed the stream's length (EffResized).
	resized bool
}

// ID is the session's number, unique within its Tracker.
func (s *Session) ID() uint64 { return s.id }

// Flow is the session's control connection.
func (s *Session) Flow() Flow { return s.flow }

// rangeOpen is an open passive-range pinhole.
type rangeOpen struct {
	id   uint64
	r    PortRange
	open bool
}

// lineCtx is one complete line handed up by the stream layer.
type lineCtx struct {
	dir   Dir
	line  []byte      // without line ending
	start rewrite.Seq // original sequence number of line[0]
	end   rewrite.Seq // original sequence number just after the line's terminator
	// long: the line was over MaxLine; line holds only its first bytes.
	// It counts in pairing but announces nothing and is never edited.
	long    bool
	ack     rewrite.Seq // ack of the segment completing the line, in the other direction's original space
	hasAck  bool
	now     time.Time
	res     *Result
	release rewrite.Seq // bytes before this were already forwarded in this direction
	// multiLine: the line belongs to a multi-line reply.
	multiLine bool
	// announced is the parsed endpoint of the announcement being decided.
	announced netip.AddrPort
}

func (s *Session) event(c *lineCtx, decision string, reason Reason, detail string) *Event {
	c.res.Events = append(c.res.Events, Event{
		Time: c.now, Session: s.id, Flow: s.flow, Dir: c.dir,
		Line: sanitize(c.line, 160), Decision: decision, Reason: reason, Detail: detail,
		Announced: c.announced,
	})
	return &c.res.Events[len(c.res.Events)-1]
}

func (s *Session) effect(res *Result, e Effect) {
	e.Session = s.id
	e.Flow = s.flow
	st := &s.tr.Stats
	switch e.Kind {
	case EffOpenPinhole:
		st.PinholesOpened++
	case EffClosePinhole:
		st.PinholesClosed++
	case EffViolation:
		st.Refusals++
	}
	res.Effects = append(res.Effects, e)
}

func (s *Session) violation(c *lineCtx, reason Reason, detail string) {
	s.effect(c.res, Effect{Kind: EffViolation, Reason: reason, Detail: detail})
}

// ensureTuples asks the NAT lookup once per session for the kernel's view.
func (s *Session) ensureTuples() {
	if s.natKnown || s.tr.nat == nil {
		return
	}
	if t, ok := s.tr.nat.Lookup(s.flow); ok {
		s.tuples = t
		s.natKnown = true
	}
}

// ---- client lines ----

func (s *Session) clientLine(c *lineCtx) {
	verb, arg := splitCommand(c.line)
	kind := classify(verb, arg)
	// The server has the command once it has its terminator: pairing
	// waits for an ACK of c.end.
	ord := s.push(kind, c.end, c)
	switch kind {
	case cmdPORT, cmdEPRT:
		if c.long {
			// Discarded (tooLong logged it): the server may still
			// accept it, but no pinhole opens for it.
			return
		}
		s.clientAnnounce(c, kind, arg, ord)
	case cmdPASV:
		if s.epsvAll {
			// The server must refuse it (RFC 2428 section 4); its 227 will
			// be refused too. Log here where the client broke the rule.
			s.event(c, "ignore", ReasonEPSVAll, "PASV after EPSV ALL")
		}
	case cmdQUIT:
		s.quitSent = true
	case cmdAUTH:
		s.authPending = true
		if s.tls.Mode == TLSBlock && !c.long {
			s.blockAUTH(c, arg)
		}
	case cmdTransfer:
		// The transfer uses the newest announcement not yet used.
		for i := s.npins - 1; i >= 0; i-- {
			if s.pins[i].attached == 0 {
				s.pins[i].attached = ord
				break
			}
		}
	}
}

// push queues a command for pairing and returns its ordinal (0 when it
// could not be queued).
func (s *Session) push(kind cmdKind, end rewrite.Seq, c *lineCtx) uint64 {
	s.ord++
	if s.overrun > 0 || s.pLen == pendingCap {
		if s.overrun == 0 {
			s.violation(c, ReasonPipelineOverrun, "more than "+strconv.Itoa(pendingCap)+" commands without replies")
		}
		s.overrun++
		return 0
	}
	s.pending[(s.pHead+s.pLen)%pendingCap] = pendingCmd{kind: kind, end: end, ord: s.ord}
	s.pLen++
	return s.ord
}

func (s *Session) clientAnnounce(c *lineCtx, kind cmdKind, arg []byte, ord uint64) {
	s.ensureTuples()
	if s.epsvAll {
		argOff := len(c.line) - len(arg) - trailingBlanks(c.line)
		s.refuseClient(c, arg, argOff, ReasonEPSVAll, "client sent EPSV ALL")
		return
	}
	grammar := "PORT"
	var ap netip.AddrPort
	var delim byte = '|'
	var err error
	if kind == cmdPORT {
		ap, err = ParsePORT(arg)
	} else {
		grammar = "EPRT"
		ap, delim, err = ParseEPRT(arg)
	}
	argOff := len(c.line) - len(arg) - trailingBlanks(c.line)
	if err != nil {
		s.refuseClient(c, arg, argOff, ReasonSyntax, err.Error())
		return
	}
	if ord == 0 {
		s.refuseClient(c, arg, argOff, ReasonPipelineOverrun, grammar+" not paired")
		return
	}
	c.announced = ap
	if r, d := s.check(FromClient, ap); r != ReasonNone {
		s.refuseClient(c, arg, argOff, r, d)
		return
	}
	p := planActive(s.tuples, ap)
	newArg := func(a netip.AddrPort) []byte {
		if kind == cmdPORT {
			return AppendPORT(s.tr.scratch[:0], a)
		}
		return AppendEPRT(s.tr.scratch[:0], delim, a)
	}
	s.open(c, p, ord, span{off: argOff, n: len(arg)}, ap, newArg)
}

// refuseClient refuses a PORT/EPRT. Under ViolationRefuse the argument is
// replaced by text the server rejects (501), so the client gets an error
// and the session goes on; under ViolationReset the session is reset.
func (s *Session) refuseClient(c *lineCtx, arg []byte, argOff int, r Reason, detail string) {
	ev := s.event(c, "refuse", r, detail)
	s.violation(c, r, detail)
	if s.tr.pol.Violation == ViolationReset {
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
	repl := appendRefusal(s.tr.scratch[:0], len(arg))
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
	if s.tr.dryRun {
		return
	}
	s.resetting, s.resetDir, s.resetReason = true, c.dir, r
}

func trailingBlanks(line []byte) int {
	n := 0
	for n < len(line) && isSpace(line[len(line)-1-n]) {
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

// check applies the policy to an announced endpoint from side dir.
func (s *Session) check(dir Dir, ap netip.AddrPort) (Reason, string) {
	pol := &s.tr.pol
	switch {
	case s.closing:
		return ReasonClosing, "session is closing"
	case s.quitSent:
		return ReasonClosing, "client sent QUIT"
	case !s.greeted:
		return ReasonBeforeGreeting, "no 220 greeting yet"
	case s.opaque:
		return ReasonOpaque, "control channel is TLS"
	case s.authPending:
		return ReasonTLSPending, "AUTH awaits its reply"
	}
	own, seen := s.tuples.Orig.Src.Addr(), s.tuples.Reply.Dst.Addr()
	if dir == FromServer {
		own, seen = s.tuples.Reply.Src.Addr(), s.tuples.Orig.Dst.Addr()
	}
	a := ap.Addr()
	if a.Is4() != own.Is4() {
		return ReasonFamily, "announced " + a.String() + " on a control connection from " + own.String()
	}
	if pol.BounceCheck && a != own && a != seen {
		return ReasonBounce, "announced " + a.String() + ", " + dir.String() + " is " + own.String()
	}
	if ap.Port() < pol.MinDataPort {
		return ReasonLowPort, "port " + strconv.Itoa(int(ap.Port())) + " below " + strconv.Itoa(int(pol.MinDataPort))
	}
	// Unused announcements are superseded by this one, so count only
	// the pinholes that transfers are using.
	busy := 0
	for i := 0; i < s.npins; i++ {
		if s.pins[i].attached != 0 {
			busy++
		}
	}
	if busy >= pol.MaxPinholes {
		return ReasonTooMany, strconv.Itoa(busy) + " pinholes outstanding"
	}
	// The unused announcements this one supersedes give their share of
	// the budget back when it opens.
	if r := s.tr.budget.take(s.flow.Client.Addr(), s.npins-busy, pol); r != ReasonNone {
		return r, s.limitDetail(r)
	}
	return ReasonNone, ""
}

// limitDetail says which budget limit refused a pinhole.
func (s *Session) limitDetail(r Reason) string {
	mine, total := s.tr.budget.Held(s.flow.Client.Addr())
	if r == ReasonClientLimit {
		return "client " + s.flow.Client.Addr().String() + " holds " + strconv.Itoa(mine) + " pinholes (limit " + strconv.Itoa(s.tr.pol.MaxClientPinholes) + ")"
	}
	return strconv.Itoa(total) + " pinholes held in total (limit " + strconv.Itoa(s.tr.pol.MaxTotalPinholes) + ")"
}

// open carries out an accepted announcement: it reserves a public port if
// the data connection is translated, rewrites the announcement if the
// peer must be told something else, and emits the pinhole and mapping.
// spanOff/spanLen locate the text to replace in the line; format renders
// the replacement for an endpoint.
func (s *Session) open(c *lineCtx, p plan, ord uint64, sp span, announced netip.AddrPort, format func(netip.AddrPort) []byte) bool {
	s.tr.nextPin++
	id := s.tr.nextPin
	if p.dnat {
		// The public port is ftpalg's choice: prefer one whose text keeps
		// the line's length (samelen.go).
		addr := p.announce.Addr()
		fit := func(port uint16) bool { return sp.keeps(len(format(netip.AddrPortFrom(addr, port)))) }
		port, ok := s.tr.ports.ReserveFit(addr, p.announce.Port(), s.tr.pol.MinDataPort, id, fit)
		if !ok {
			s.tr.budget.give(s.flow.Client.Addr())
			s.event(c, "refuse", ReasonNoPublicPort, "no free port on "+p.announce.Addr().String())
			s.violation(c, ReasonNoPublicPort, p.announce.Addr().String())
			s.refuseAfterCheck(c, sp.off, sp.n)
			return false
		}
		p.announce = netip.AddrPortFrom(addr, port)
		p.mapping.Dst = p.announce
	}
	decision := "open"
	var rewritten string
	if p.announce != announced {
		field := format(p.announce)
		repl, from, n, same := sameLength(s.tr.scratch2[:0], c.line, sp, field)
		if !same || c.start.Add(from).LessThan(c.release) {
			// Nothing keeps the length (or the free text already left):
			// the field alone is replaced and the session is resized.
			repl, from, n = append(s.tr.scratch2[:0], field...), sp.off, sp.n
		}
		s.tr.scratch2 = repl[:0]
		start := c.start.Add(from)
		if !s.edit(c, start, start.Add(n), repl) {
			if p.dnat {
				s.tr.ports.Release(p.mapping.Dst, id)
			}
			s.tr.budget.give(s.flow.Client.Addr())
			return false
		}
		decision = "rewrite"
		s.tr.Stats.Rewrites++
		rewritten = splicedText(c.line, from, n, repl)
	}
	// A newer announcement supersedes the unused ones (the server only
	// listens on the latest PASV port; the latest PORT wins).
	for i := 0; i < s.npins; {
		if s.pins[i].attached == 0 {
			s.closePin(c.res, i, ReasonSuperseded)
			continue
		}
		i++
	}
	if s.npins == len(s.pins) {
		s.closePin(c.res, 0, ReasonTooMany)
	}
	timeout := s.tr.pol.PinholeTimeout
	s.tr.pinOwner[id] = s
	s.pins[s.npins] = pin{id: id, ph: p.pinhole, m: p.mapping, hasMap: p.hasMap, dnat: p.dnat, expires: c.now.Add(timeout), cmdOrd: ord}
	s.npins++
	s.effect(c.res, Effect{Kind: EffOpenPinhole, ID: id, Pinhole: p.pinhole, Mapping: p.mapping, HasMap: p.hasMap, Timeout: timeout})
	if p.hasMap {
		s.effect(c.res, Effect{Kind: EffMapData, ID: id, Pinhole: p.pinhole, Mapping: p.mapping, HasMap: true, Timeout: timeout})
	}
	ev := s.event(c, decision, ReasonNone, "")
	ev.Pinhole = p.pinhole
	if p.hasMap {
		ev.Mapping = p.mapping
	}
	ev.Rewrite = rewritten
	return true
}

// refuseAfterCheck refuses an announcement that passed the checks but
// could not be carried out.
func (s *Session) refuseAfterCheck(c *lineCtx, spanOff, spanLen int) {
	if c.dir == FromClient {
		start := c.start.Add(spanOff)
		s.edit(c, start, start.Add(spanLen), appendRefusal(s.tr.scratch[:0], spanLen))
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
	if s.tr.dryRun {
		return true
	}
	if err := s.half[c.dir].adj.Add(start, end, repl); err != nil {
		s.event(c, "refuse", ReasonEditTableFull, err.Error())
		s.violation(c, ReasonEditTableFull, err.Error())
		return false
	}
	if !s.resized && int(end.Diff(start)) != len(repl) {
		s.resized = true
		s.tr.Stats.Resized++
		s.effect(c.res, Effect{Kind: EffResized})
		s.event(c, "resized", ReasonNone, "the stream's length changed: sequence numbers are adjusted until the session ends")
	}
	return true
}

// closePin removes pinhole i and emits its close effect.
func (s *Session) closePin(res *Result, i int, r Reason) {
	p := s.pins[i]
	if p.dnat {
		s.tr.ports.Release(p.m.Dst, p.id)
	}
	copy(s.pins[i:s.npins], s.pins[i+1:s.npins])
	s.npins--
	delete(s.tr.pinOwner, p.id)
	s.tr.budget.give(s.flow.Client.Addr())
	s.effect(res, Effect{Kind: EffClosePinhole, ID: p.id, Pinhole: p.ph, Mapping: p.m, HasMap: p.hasMap, Reason: r})
}

func (s *Session) closeAll(res *Result, r Reason) {
	for s.npins > 0 {
		s.closePin(res, s.npins-1, r)
	}
	s.closeRange(res, r)
}

// openRange opens the passive-range pinhole of a TLS session
// (TLSPassthroughRange): from the client to the server's passive ports,
// translated from the published address when the server is behind DNAT.
func (s *Session) openRange(c *lineCtx) {
	if s.rng.open {
		return
	}
	s.ensureTuples()
	client := s.flow.Client.Addr()
	r := PortRange{Src: client, Dst: s.tuples.Reply.Src.Addr(), Lo: s.tls.PassiveLo, Hi: s.tls.PassiveHi}
	if pub := s.tuples.Orig.Dst.Addr(); pub != r.Dst {
		r.Public = pub
	}
	if reason := s.tr.budget.take(client, 0, &s.tr.pol); reason != ReasonNone {
		detail := s.limitDetail(reason)
		s.event(c, "refuse", reason, "passive range: "+detail)
		s.violation(c, reason, "passive range: "+detail)
		return
	}
	s.tr.nextPin++
	s.rng = rangeOpen{id: s.tr.nextPin, r: r, open: true}
	s.effect(c.res, Effect{Kind: EffOpenRange, ID: s.rng.id, Range: r, Timeout: s.tr.pol.SessionIdle})
	s.event(c, "range-open", ReasonNone, r.String())
}

// closeRange closes the passive-range pinhole if it is open.
func (s *Session) closeRange(res *Result, r Reason) {
	if !s.rng.open {
		return
	}
	s.rng.open = false
	s.tr.budget.give(s.flow.Client.Addr())
	s.effect(res, Effect{Kind: EffCloseRange, ID: s.rng.id, Range: s.rng.r, Reason: r})
}

// ---- server lines ----

func (s *Session) serverLine(c *lineCtx) {
	r := parseReply(c.line)
	if r.code == 234 {
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
		if r.code == 0 || r.multi {
			return
		}
		code, announced := s.multi, s.multiAnnounced
		s.multi, s.multiAnnounced = 0, false
		c.multiLine = true
		if r.code != code {
			if (r.code == 227 || r.code == 229) && !announced {
				s.refuseReply(c, ReasonAmbiguous, strconv.Itoa(r.code)+" inside a multi-line "+strconv.Itoa(code)+" reply")
			}
			code, announced = r.code, true
		}
		s.finalReply(c, code, r.text, announced)
		return
	}
	if r.code == 0 {
		return // not a reply line: nothing to pair
	}
	if r.multi {
		s.multi = r.code
		if r.code == 227 || r.code == 229 {
			// The first line carries the address when it has one.
			if hasTuple(r.code, r.text) {
				s.multiAnnounced = true
				c.multiLine = true
				h, _ := s.head(c) // popped when the reply ends
				s.serverAnnounce(c, r.code, r.text, h)
			}
		}
		return
	}
	s.finalReply(c, r.code, r.text, false)
}

// hasTuple reports whether a 227/229 text has something to parse.
func hasTuple(code int, text []byte) bool {
	for _, b := range text {
		if code == 227 && isDigit(b) || code == 229 && b == '(' {
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

func (s *Session) pop() {
	s.pHead = (s.pHead + 1) % pendingCap
	s.pLen--
	if s.pLen == 0 && s.overrun > 0 {
		// The replies now answer commands that were never queued.
		s.overrun--
	}
}

// plausible reports whether code can be the final reply to kind; used only
// for sessions picked up mid-stream, whose first replies may answer
// commands sent before the pickup.
func plausible(kind cmdKind, code int) bool {
	if code >= 400 {
		return true
	}
	switch kind {
	case cmdPASV:
		return code == 227
	case cmdEPSV:
		return code == 229
	case cmdPORT, cmdEPRT, cmdEPSVAll:
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
	if h, ok := s.head(c); ok {
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
	case cmdPORT, cmdEPRT:
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
	case cmdEPSVAll:
		if code/100 == 2 {
			s.epsvAll = true
			s.event(c, "epsv-all", ReasonNone, "")
		}
	case cmdAUTH:
		// Refused (a 234 never gets here: reply234): clear text goes on.
		s.authPending = false
	case cmdREIN:
		if code == 220 {
			s.closeAll(c.res, ReasonReinitialize)
			s.epsvAll = false
			s.event(c, "reinitialize", ReasonNone, "")
		}
	case cmdQUIT:
		if code == 221 {
			s.quit(c)
		} else {
			s.quitSent = false
		}
	case cmdTransfer:
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
			paired = h.kind == cmdAUTH
			s.pop()
		}
	}
	s.multi, s.multiAnnounced = 0, false
	s.startTLS(c, paired, "server sent 234")
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
		if s.tr.pol.Violation == ViolationReset {
			s.reset(c, ReasonTLSUnpaired, d)
		}
	}
	s.opaque = true
	s.closeAll(c.res, ReasonOpaque)
	s.effect(c.res, Effect{Kind: EffOpaque})
	s.event(c, "opaque", ReasonNone, detail+": control channel is TLS")
	s.tr.goOpaque(s, c)
	if legit && s.tls.Mode == TLSPassthroughRange {
		s.openRange(c)
	}
}

func (s *Session) quit(c *lineCtx) {
	if s.closing {
		return
	}
	s.closing = true
	s.closeAll(c.res, ReasonQuit)
	s.event(c, "closing", ReasonQuit, "")
}

// serverAnnounce handles a 227/229 reply text; cmd is the command it
// answers (nil if none).
func (s *Session) serverAnnounce(c *lineCtx, code int, text []byte, cmd *pendingCmd) {
	s.ensureTuples()
	want := cmdPASV
	if code == 229 {
		want = cmdEPSV
	}
	switch {
	case cmd == nil:
		s.refuseReply(c, ReasonUnsolicited, strconv.Itoa(code)+" without an outstanding "+want.String())
		return
	case cmd.kind != want:
		s.refuseReply(c, ReasonWrongCommand, strconv.Itoa(code)+" answers "+cmd.kind.String())
		return
	}
	switch {
	case c.long:
		s.refuseReply(c, ReasonLineTooLong, strconv.Itoa(code)+" in a line over the limit")
		return
	case code == 227 && s.epsvAll:
		// RFC 2428 section 4: after EPSV ALL only EPSV may ask for a
		// data connection.
		s.refuseReply(c, ReasonEPSVAll, "227 after EPSV ALL")
		return
	}
	textOff := len(c.line) - len(text)
	var ap netip.AddrPort
	var start, end int
	var err error
	if code == 227 {
		ap, start, end, err = Parse227(text)
	} else {
		var port uint16
		port, start, end, err = Parse229(text)
		// 229 names no address: the data connection goes to the server
		// address the client already uses.
		ap = netip.AddrPortFrom(s.tuples.Reply.Src.Addr(), port)
	}
	if err != nil {
		s.refuseReply(c, ReasonSyntax, err.Error())
		return
	}
	c.announced = ap
	if r, d := s.check(FromServer, ap); r != ReasonNone {
		s.refuseReply(c, r, d)
		return
	}
	p := planPassive(s.tuples, ap)
	if code == 229 {
		// The client keeps the address it uses; only the port can change.
		ap = netip.AddrPortFrom(p.announce.Addr(), ap.Port())
	}
	format := func(a netip.AddrPort) []byte {
		if code == 227 {
			return AppendPORT(s.tr.scratch[:0], a)
		}
		return strconv.AppendUint(s.tr.scratch[:0], uint64(a.Port()), 10)
	}
	s.open(c, p, cmd.ord, replySpan(c.line, textOff, start, end), ap, format)
}

// refuseReply refuses a server announcement. Under ViolationRefuse a
// single-line reply is rewritten to "425" so that the client fails at once
// instead of waiting for a connection the firewall blocks; under
// ViolationReset the session is reset.
func (s *Session) refuseReply(c *lineCtx, r Reason, detail string) {
	ev := s.event(c, "refuse", r, detail)
	s.violation(c, r, detail)
	if s.tr.pol.Violation == ViolationReset {
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

// expire closes pinholes whose time is up.
func (s *Session) expire(now time.Time, res *Result) {
	for i := 0; i < s.npins; {
		if !now.Before(s.pins[i].expires) {
			s.closePin(res, i, ReasonExpired)
			continue
		}
		i++
	}
}

// nextExpiry is the earliest pinhole expiry, or the zero time.
func (s *Session) nextExpiry() time.Time {
	var t time.Time
	for i := 0; i < s.npins; i++ {
		if t.IsZero() || s.pins[i].expires.Before(t) {
			t = s.pins[i].expires
		}
	}
	return t
}

// pinholeUsed forgets pinhole id: the kernel consumed it.
func (s *Session) pinholeUsed(id uint64, res *Result) bool {
	for i := 0; i < s.npins; i++ {
		if s.pins[i].id == id {
			s.closePin(res, i, ReasonUsed)
			return true
		}
	}
	return false
}
