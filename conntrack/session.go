package conntrack

import (
	"github.com/ftpalg/ftpalg/conntrack/ftp"
	"net/netip"
	"strconv"
	"time"

	"github.com/ftpalg/ftpalg/rewrite"
)

// Session is one FTP control connection: two half-streams and the FTP
// state that pairs commands with replies. mu: none; a Session belongs to
// one Tracker, which is used by one goroutine.
type Session struct {
	id     uint64
	flow   Flow
	env    *sessionEnv
	natTup *Tuples // the kernel's tuples, once the NAT lookup answered (tuples)
	half   [2]half

	// pending is a ring of the commands awaiting replies (pairing.go):
	// nil until the first command, grown on demand up to pendingCap.
	pending []pendingCmd
	pHead   int
	pLen    int
	overrun int // commands seen while pending was full, not queued
	ord     uint64

	multi int // code of the multi-line reply in progress, 0 if none

	// pins are the outstanding pinholes, pins[:npins]: nil until the
	// first announcement opens one, then grown on demand (pinbook.go).
	pins  []pin
	npins int

	rng *rangeOpen // the passive-range pinhole while the channel is TLS; nil if none

	lastSeen time.Time
	endedAt  time.Time

	// rewrites and refusals count the session's rewritten announcements
	// and its violations, for Snapshot.
	rewrites, refusals uint64

	// timer is the session's place in the Tracker's expiry heap, plus
	// one; 0 when it is not in it (timers.go).
	timer int32

	// reopenISN: a SYN with another sequence number arrived while the
	// session was live (reopen); a SYN-ACK acknowledging it replaces the
	// session (Tracker.reopen).
	reopenISN rewrite.Seq

	tls TLSRule // FTPS policy of the session's control port

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

	multiAnnounced bool // the multi-line reply's announcement was already handled

	// resetting: a refusal under ViolationReset (or an AUTH the policy
	// blocks but the server accepted) asked for a reset, which the
	// Tracker carries out when the current packet's lines are done.
	resetting   bool
	resetDir    Dir
	resetReason Reason
	killed      bool // reset done: every further packet is dropped

	reopen bool

	// resized: an edit changed the stream's length (EffResized).
	resized bool
}

// ID is the session's number, unique within its Tracker.
func (s *Session) ID() uint64 { return s.id }

// Flow is the session's control connection.
func (s *Session) Flow() Flow { return s.flow }

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
	st := s.env.stats
	switch e.Kind {
	case EffOpenPinhole:
		st.PinholesOpened++
	case EffClosePinhole:
		st.PinholesClosed++
	case EffViolation:
		st.Refusals++
		s.refusals++
	}
	res.Effects = append(res.Effects, e)
}

func (s *Session) violation(c *lineCtx, reason Reason, detail string) {
	s.effect(c.res, Effect{Kind: EffViolation, Reason: reason, Detail: detail})
}

// ensureTuples asks the NAT lookup once per session for the kernel's view.
func (s *Session) ensureTuples() {
	if s.natTup != nil || s.env.nat == nil {
		return
	}
	if t, ok := s.env.nat.Lookup(s.flow); ok {
		s.natTup = &t
	}
}

// tuples are the conntrack tuples the session uses: the kernel's, once
// the NAT lookup answered, else IdentityTuples(s.flow).
func (s *Session) tuples() Tuples {
	if s.natTup != nil {
		return *s.natTup
	}
	return IdentityTuples(s.flow)
}

func (s *Session) clientLine(c *lineCtx) {
	verb, arg := ftp.SplitCommand(c.line)
	kind := ftp.Classify(verb, arg)
	// The server has the command once it has its terminator: pairing
	// waits for an ACK of c.end.
	ord := s.push(kind, c.end, c)
	switch kind {
	case ftp.PORT, ftp.EPRT:
		if c.long {
			// Discarded (tooLong logged it): the server may still
			// accept it, but no pinhole opens for it.
			return
		}
		s.clientAnnounce(c, kind, arg, ord)
	case ftp.PASV:
		if s.epsvAll {
			// The server must refuse it (RFC 2428 section 4); its 227 will
			// be refused too. Log here where the client broke the rule.
			s.event(c, "ignore", ReasonEPSVAll, "PASV after EPSV ALL")
		}
	case ftp.QUIT:
		s.quitSent = true
	case ftp.AUTH:
		s.authPending = true
		if s.tls.Mode == TLSBlock && !c.long {
			s.blockAUTH(c, arg)
		}
	case ftp.Transfer:
		// The transfer uses the newest announcement not yet used.
		for i := s.npins - 1; i >= 0; i-- {
			if s.pins[i].attached == 0 {
				s.pins[i].attached = ord
				break
			}
		}
	}
}

func (s *Session) clientAnnounce(c *lineCtx, kind ftp.Kind, arg []byte, ord uint64) {
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
	if kind == ftp.PORT {
		ap, err = ftp.ParsePORT(arg)
	} else {
		grammar = "EPRT"
		ap, delim, err = ftp.ParseEPRT(arg)
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
	p := planActive(s.tuples(), ap)
	newArg := func(a netip.AddrPort) []byte {
		if kind == ftp.PORT {
			return ftp.AppendPORT(s.env.scratch[:0], a)
		}
		return ftp.AppendEPRT(s.env.scratch[:0], delim, a)
	}
	s.open(c, p, ord, span{off: argOff, n: len(arg)}, ap, newArg)
}

// serverAnnounce handles a 227/229 reply text; cmd is the command it
// answers (nil if none).
func (s *Session) serverAnnounce(c *lineCtx, code int, text []byte, cmd *pendingCmd) {
	s.ensureTuples()
	want := ftp.PASV
	if code == 229 {
		want = ftp.EPSV
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
		ap, start, end, err = ftp.Parse227(text)
	} else {
		var port uint16
		port, start, end, err = ftp.Parse229(text)
		// 229 names no address: the data connection goes to the server
		// address the client already uses.
		ap = netip.AddrPortFrom(s.tuples().Reply.Src.Addr(), port)
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
	p := planPassive(s.tuples(), ap)
	if code == 229 {
		// The client keeps the address it uses; only the port can change.
		ap = netip.AddrPortFrom(p.announce.Addr(), ap.Port())
	}
	format := func(a netip.AddrPort) []byte {
		if code == 227 {
			return ftp.AppendPORT(s.env.scratch[:0], a)
		}
		return strconv.AppendUint(s.env.scratch[:0], uint64(a.Port()), 10)
	}
	s.open(c, p, cmd.ord, replySpan(c.line, textOff, start, end), ap, format)
}
