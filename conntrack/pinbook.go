package conntrack

// The pinhole book of a session: the policy check of an announcement,
// its pinholes and NAT mappings, the passive range, their expiry.

import (
	"net/netip"
	"strconv"
	"time"
)

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

// rangeOpen is an open passive-range pinhole.
type rangeOpen struct {
	id uint64
	r  PortRange
}

// check applies the policy to an announced endpoint from side dir.
func (s *Session) check(dir Dir, ap netip.AddrPort) (Reason, string) {
	pol := &s.env.pol
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
	tu := s.tuples()
	own, seen := tu.Orig.Src.Addr(), tu.Reply.Dst.Addr()
	if dir == FromServer {
		own, seen = tu.Reply.Src.Addr(), tu.Orig.Dst.Addr()
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
	if r := s.env.budget.take(s.flow.Client.Addr(), s.npins-busy, pol); r != ReasonNone {
		return r, s.limitDetail(r)
	}
	return ReasonNone, ""
}

// limitDetail says which budget limit refused a pinhole.
func (s *Session) limitDetail(r Reason) string {
	mine, total := s.env.budget.Held(s.flow.Client.Addr())
	if r == ReasonClientLimit {
		return "client " + s.flow.Client.Addr().String() + " holds " + strconv.Itoa(mine) + " pinholes (limit " + strconv.Itoa(s.env.pol.MaxClientPinholes) + ")"
	}
	return strconv.Itoa(total) + " pinholes held in total (limit " + strconv.Itoa(s.env.pol.MaxTotalPinholes) + ")"
}

// open carries out an accepted announcement: it reserves a public port if
// the data connection is translated, rewrites the announcement if the
// peer must be told something else, and emits the pinhole and mapping.
// spanOff/spanLen locate the text to replace in the line; format renders
// the replacement for an endpoint.
func (s *Session) open(c *lineCtx, p plan, ord uint64, sp span, announced netip.AddrPort, format func(netip.AddrPort) []byte) bool {
	s.env.nextPin++
	id := s.env.nextPin
	if p.dnat {
		// The public port is ftpalg's choice: prefer one whose text keeps
		// the line's length (samelen.go).
		addr := p.announce.Addr()
		fit := func(port uint16) bool { return sp.keeps(len(format(netip.AddrPortFrom(addr, port)))) }
		port, ok := s.env.ports.ReserveFit(addr, p.announce.Port(), s.env.pol.MinDataPort, id, fit)
		if !ok {
			s.env.budget.give(s.flow.Client.Addr())
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
		repl, from, n, same := sameLength(s.env.scratch2[:0], c.line, sp, field)
		if !same || c.start.Add(from).LessThan(c.release) {
			// Nothing keeps the length (or the free text already left):
			// the field alone is replaced and the session is resized.
			repl, from, n = append(s.env.scratch2[:0], field...), sp.off, sp.n
		}
		s.env.scratch2 = repl[:0]
		start := c.start.Add(from)
		if !s.edit(c, start, start.Add(n), repl) {
			if p.dnat {
				s.env.ports.Release(p.mapping.Dst, id)
			}
			s.env.budget.give(s.flow.Client.Addr())
			return false
		}
		decision = "rewrite"
		s.env.stats.Rewrites++
		s.rewrites++
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
	if s.npins == maxPinholesCap {
		s.closePin(c.res, 0, ReasonTooMany)
	}
	if s.npins == len(s.pins) {
		s.growPins()
	}
	timeout := s.env.pol.PinholeTimeout
	s.env.pinOwner[id] = s
	s.pins[s.npins] = pin{id: id, ph: p.pinhole, m: p.mapping, hasMap: p.hasMap, dnat: p.dnat, expires: c.now.Add(timeout), cmdOrd: ord}
	s.npins++
	s.env.timers.notBefore(s, c.now.Add(timeout))
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

// growPins makes room for one more pinhole: a session holds none until
// its first announcement opens one, then room for twice as many each
// time it is full (most sessions use one at a time), at most
// maxPinholesCap (open never holds more).
func (s *Session) growPins() {
	n := min(max(2*len(s.pins), 1), maxPinholesCap)
	pins := make([]pin, n)
	copy(pins, s.pins[:s.npins])
	s.pins = pins
}

// closePin removes pinhole i and emits its close effect.
func (s *Session) closePin(res *Result, i int, r Reason) {
	p := s.pins[i]
	if p.dnat {
		s.env.ports.Release(p.m.Dst, p.id)
	}
	copy(s.pins[i:s.npins], s.pins[i+1:s.npins])
	s.npins--
	s.pins[s.npins] = pin{}
	delete(s.env.pinOwner, p.id)
	s.env.budget.give(s.flow.Client.Addr())
	s.effect(res, Effect{Kind: EffClosePinhole, ID: p.id, Pinhole: p.ph, Mapping: p.m, HasMap: p.hasMap, Reason: r})
}

func (s *Session) closeAll(res *Result, r Reason) {
	for s.npins > 0 {
		s.closePin(res, s.npins-1, r)
	}
	s.pins = nil // QUIT, REIN, TLS, the end: the next announcement, if any, allocates again
	s.closeRange(res, r)
}

// openRange opens the passive-range pinhole of a TLS session
// (TLSPassthroughRange): from the client to the server's passive ports,
// translated from the published address when the server is behind DNAT.
func (s *Session) openRange(c *lineCtx) {
	if s.rng != nil {
		return
	}
	s.ensureTuples()
	client := s.flow.Client.Addr()
	tu := s.tuples()
	r := PortRange{Src: client, Dst: tu.Reply.Src.Addr(), Lo: s.tls.PassiveLo, Hi: s.tls.PassiveHi}
	if pub := tu.Orig.Dst.Addr(); pub != r.Dst {
		r.Public = pub
	}
	if reason := s.env.budget.take(client, 0, &s.env.pol); reason != ReasonNone {
		detail := s.limitDetail(reason)
		s.event(c, "refuse", reason, "passive range: "+detail)
		s.violation(c, reason, "passive range: "+detail)
		return
	}
	s.env.nextPin++
	s.rng = &rangeOpen{id: s.env.nextPin, r: r}
	s.effect(c.res, Effect{Kind: EffOpenRange, ID: s.rng.id, Range: r, Timeout: s.env.pol.SessionIdle})
	s.event(c, "range-open", ReasonNone, r.String())
}

// closeRange closes the passive-range pinhole if it is open.
func (s *Session) closeRange(res *Result, r Reason) {
	if s.rng == nil {
		return
	}
	rng := s.rng
	s.rng = nil
	s.env.budget.give(s.flow.Client.Addr())
	s.effect(res, Effect{Kind: EffCloseRange, ID: rng.id, Range: rng.r, Reason: r})
}

// ---- server lines ----

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
