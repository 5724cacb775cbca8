package conntrack

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ftpalg/ftpalg/rewrite"
)

// Config configures a Tracker.
type Config struct {
	Policy Policy
	// ControlPorts are the server ports that carry FTP control
	// connections (default: 21).
	ControlPorts []uint16
	// NAT reports the kernel's tuples of a control connection; nil means
	// no NAT is in the path.
	NAT NATLookup
	// Ports is the registry of public data ports, shared by every Tracker
	// that installs NAT mappings in the same table; nil gives the Tracker
	// its own.
	Ports *PortRegistry
	// DryRun makes every decision and reports it, but never changes a
	// packet: edits are not applied and refusals are not written into the
	// stream. "ftpalg replay" uses it, because the captured peers never
	// saw ftpalg's changes.
	DryRun bool
	// CaptureChecksums reads checksums as a capture holds them. Live, a
	// packet whose checksum does not verify is discarded by its receiver,
	// so the Tracker never reads it (NFQUEUE hands over packets with
	// their checksums filled in). A capture taken on a sending host holds
	// that host's packets before its NIC filled their checksums in: with
	// CaptureChecksums, each direction of a session is judged by its
	// first segment with data. If that one's checksum verified, a later
	// bad checksum means a corrupt packet, not read; otherwise the
	// direction's checksums are taken as offloaded and not checked.
	// "ftpalg replay" sets it.
	CaptureChecksums bool
	// FirstSession numbers this Tracker's sessions and pinholes from
	// here, so that several Trackers (one per queue) keep their IDs apart.
	FirstSession uint64
	// Budget enforces the client and total pinhole limits; Trackers of
	// one table share it. nil gives the Tracker its own.
	Budget *Budget
	// TLS is the FTPS policy per control port; ports not listed allow
	// AUTH and treat the channel as opaque (TLSAllow).
	TLS map[uint16]TLSRule
}

// TLSMode is what a control port does when a client starts TLS (AUTH,
// RFC 4217), which hides the announcements from the inspector.
type TLSMode uint8

const (
	// TLSAllow lets AUTH through; the channel is opaque and no pinhole
	// opens while it is (the admin's ruleset must admit data connections).
	TLSAllow TLSMode = iota
	// TLSBlock refuses AUTH: its argument is rewritten so the server
	// answers 504, and clients fall back to plain FTP or fail. A server
	// that still accepts AUTH gets its session reset.
	TLSBlock
	// TLSPassthroughRange lets AUTH through and, while the channel is
	// TLS, admits connections from that client to that server on the
	// server's configured passive ports.
	TLSPassthroughRange
)

var tlsModeNames = [...]string{TLSAllow: "allow", TLSBlock: "block", TLSPassthroughRange: "passthrough-range"}

func (m TLSMode) String() string {
	if int(m) < len(tlsModeNames) {
		return tlsModeNames[m]
	}
	return fmt.Sprintf("tls-mode(%d)", uint8(m))
}

// TLSRule is the FTPS policy of one control port.
type TLSRule struct {
	Mode TLSMode
	// PassiveLo..PassiveHi is the server's passive port range
	// (TLSPassthroughRange only).
	PassiveLo, PassiveHi uint16
}

// Validate reports what is wrong with r.
func (r TLSRule) Validate() error {
	switch r.Mode {
	case TLSAllow, TLSBlock:
		return nil
	case TLSPassthroughRange:
		if r.PassiveLo == 0 || r.PassiveHi < r.PassiveLo {
			return fmt.Errorf("passive ports %d-%d: want 1 <= low <= high", r.PassiveLo, r.PassiveHi)
		}
		return nil
	}
	return fmt.Errorf("unknown TLS mode %d", uint8(r.Mode))
}

// Tracker follows every control session seen on one queue. It is not safe
// for concurrent use: one goroutine feeds it, in packet order.
type Tracker struct {
	sessionEnv // what its sessions share

	ctl      []uint16
	capCsum  bool
	tls      map[uint16]TLSRule
	sessions map[Flow]*Session
	nextID   uint64

	pkt     rewrite.Packet
	out     []byte // scratch for the current packet's rebuilt bytes
	payload []byte // scratch for Output
	sacks   [][2]rewrite.Seq

	holding map[*Session]struct{} // sessions with held packets

	Stats Stats
}

// sessionEnv is what the sessions of one Tracker share: the policy, the
// NAT lookup, the public-port registry and pinhole budget (shared further
// with other Trackers), pinhole numbering and ownership, counters and
// scratch space. A Session reaches nothing else of its Tracker.
type sessionEnv struct {
	pol      Policy
	nat      NATLookup
	dryRun   bool
	ports    *PortRegistry
	budget   *Budget
	stats    *Stats              // the Tracker's
	nextPin  uint64              // the last pinhole ID handed out
	pinOwner map[uint64]*Session // outstanding pinhole ID -> its session
	scratch  []byte              // formatting announcements
	scratch2 []byte              // the replacement text of a rewrite
	timers   timers              // every session, by when it is next due (timers.go)
}

// Stats counts what a Tracker has seen. Read it from the Tracker's
// goroutine.
type Stats struct {
	Packets, Modified, Held, Dropped uint64
	Undecodable, NotTracked          uint64
	SessionsStarted, SessionsEnded   uint64
	Rewrites, Refusals               uint64
	BadChecksum                      uint64
	Resized                          uint64 // sessions whose stream length an edit changed
	PinholesOpened, PinholesClosed   uint64
}

// NewTracker returns a Tracker, or an error naming the bad setting.
func NewTracker(cfg Config) (*Tracker, error) {
	if err := cfg.Policy.Validate(); err != nil {
		return nil, err
	}
	ctl := cfg.ControlPorts
	if len(ctl) == 0 {
		ctl = []uint16{21}
	}
	for _, p := range ctl {
		if p == 0 {
			return nil, errors.New("conntrack: control port 0")
		}
	}
	ports := cfg.Ports
	if ports == nil {
		ports = NewPortRegistry()
	}
	budget := cfg.Budget
	if budget == nil {
		budget = NewBudget()
	}
	tls := make(map[uint16]TLSRule, len(cfg.TLS))
	for port, r := range cfg.TLS {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("conntrack: TLS policy of control port %d: %w", port, err)
		}
		tls[port] = r
	}
	t := &Tracker{
		sessionEnv: sessionEnv{
			pol:      cfg.Policy,
			nat:      cfg.NAT,
			dryRun:   cfg.DryRun,
			ports:    ports,
			budget:   budget,
			nextPin:  cfg.FirstSession,
			pinOwner: make(map[uint64]*Session),
			scratch:  make([]byte, 0, 128),
			scratch2: make([]byte, 0, 256),
		},
		ctl:      append([]uint16(nil), ctl...),
		capCsum:  cfg.CaptureChecksums,
		tls:      tls,
		sessions: make(map[Flow]*Session),
		nextID:   cfg.FirstSession,
		out:      make([]byte, 0, 65536),
		payload:  make([]byte, 0, 65536),
		sacks:    make([][2]rewrite.Seq, 0, 4),
		holding:  make(map[*Session]struct{}),
	}
	t.stats = &t.Stats
	return t, nil
}

// Sessions is the number of sessions in the table.
func (t *Tracker) Sessions() int { return len(t.sessions) }

// Pinholes is the number of outstanding pinholes over all sessions.
func (t *Tracker) Pinholes() int { return len(t.pinOwner) }

func (t *Tracker) isControl(port uint16) bool {
	for _, p := range t.ctl {
		if p == port {
			return true
		}
	}
	return false
}

// Process inspects one control-connection packet (a whole IPv4 or IPv6
// packet) and fills res with its verdict, the verdicts of held packets it
// releases, and the effects. token is the caller's handle for the packet,
// returned in res.Released if the packet is held. res.Packet aliases
// either pkt (modified in place) or a buffer of the Tracker, valid until
// the next call. Effects must be carried out before any verdict in res.
func (t *Tracker) Process(pkt []byte, token uint64, now time.Time, res *Result) {
	res.reset()
	t.Stats.Packets++
	p := &t.pkt
	if err := rewrite.Decode(pkt, p); err != nil {
		t.Stats.Undecodable++
		return
	}
	dir, flow, s, ok := t.direction(p)
	if !ok {
		return
	}
	if !t.checksumOK(p, s, dir) {
		// The receiver discards it: nothing in it counts (data, ACK,
		// SYN, FIN, RST). It still gets the session's sequence
		// adjustment; the incremental checksum update keeps it bad.
		t.Stats.BadChecksum++
		if s != nil && !s.killed {
			res.Session = s.id
			c := lineCtx{dir: dir, now: now, res: res}
			s.event(&c, "ignore", ReasonBadChecksum, "TCP or IP checksum does not verify")
			seq := p.Seq
			if p.Flags&rewrite.FlagSYN != 0 {
				seq = seq.Add(1)
			}
			t.emit(s, dir, res, seq)
		}
		return
	}
	syn := p.Flags&rewrite.FlagSYN != 0
	if syn && dir == FromClient && p.Flags&rewrite.FlagACK == 0 {
		// A SYN starts a new session only where the old one has ended
		// (a reused client port). On a live session it is a
		// retransmission, forged, or a new connection from a client that
		// lost the old one: like the kernel's conntrack, which ignores
		// such a SYN but lets it through, the Tracker only notes its
		// sequence number; the session is replaced only when the server
		// answers it with a SYN-ACK (Tracker.reopen). A forged SYN gets a
		// challenge ACK, never that.
		if s != nil && !s.ended && s.half[FromClient].synced && s.half[FromClient].next != p.Seq.Add(1) {
			s.reopenISN, s.reopen = p.Seq, true
		}
		if s != nil && s.ended {
			t.remove(s, now, res, ReasonSessionEnd)
			s = nil
		}
		if s == nil {
			s = t.create(flow, now, res, false)
			if s == nil {
				return
			}
		}
	}
	if syn && dir == FromServer && p.Flags&rewrite.FlagACK != 0 && s != nil && s.reopen && p.Ack == s.reopenISN.Add(1) {
		s = t.reopen(s, now, res)
		if s == nil {
			return
		}
	}
	if s != nil && s.killed {
		// Reset by ftpalg: nothing of it passes any more (the caller's
		// reject rule answers the peers with resets). A new SYN on the
		// same ports started a new session above.
		res.Session = s.id
		res.Verdict = Drop
		t.Stats.Dropped++
		return
	}
	if s == nil {
		// Pick up a session mid-stream only from a segment with data.
		if !t.pol.Midstream || len(p.Payload) == 0 || p.Flags&(rewrite.FlagSYN|rewrite.FlagRST|rewrite.FlagFIN) != 0 {
			return
		}
		if s = t.create(flow, now, res, true); s == nil {
			return
		}
	}
	res.Session = s.id
	if now.Before(s.lastSeen) {
		// The clock went back: the idle timeout moves earlier.
		t.timers.notBefore(s, now.Add(t.pol.SessionIdle))
	}
	s.lastSeen = now
	t.segment(s, dir, token, now, res)
}

// Checksum judgement of a direction under CaptureChecksums.
const (
	csumUnknown uint8 = iota
	csumVerified
	csumOffloaded
)

// checksumOK reports whether p's checksums verify, or, with
// CaptureChecksums, whether a bad one is a capture's offload (s may be nil).
func (t *Tracker) checksumOK(p *rewrite.Packet, s *Session, dir Dir) bool {
	ok := p.ChecksumOK()
	if !t.capCsum {
		return ok
	}
	if s == nil {
		return true // nothing known of the direction yet
	}
	h := &s.half[dir]
	if h.csum == csumUnknown && len(p.Payload) > 0 {
		h.csum = csumOffloaded
		if ok {
			h.csum = csumVerified
		}
	}
	return ok || h.csum != csumVerified
}

// direction decides which side sent p and names its control connection.
// Like conntrack, it asks who opened the connection: a session already
// tracked in either orientation, else the SYN's sender (the client) or
// the SYN-ACK's sender (the server), else, when both ports are control
// ports (a client using source port 21), the kernel's original tuple.
// Only when none of these tells does the port decide. It returns the
// flow's session too (nil if none), so that a packet costs one lookup.
func (t *Tracker) direction(p *rewrite.Packet) (Dir, Flow, *Session, bool) {
	src, dst := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
	toCtl, fromCtl := t.isControl(p.DstPort), t.isControl(p.SrcPort)
	asClient := Flow{Client: src, Server: dst}
	asServer := Flow{Client: dst, Server: src}
	if !toCtl && !fromCtl {
		return 0, Flow{}, nil, false
	}
	if toCtl {
		if s := t.sessions[asClient]; s != nil {
			return FromClient, asClient, s, true
		}
	}
	if fromCtl {
		if s := t.sessions[asServer]; s != nil {
			return FromServer, asServer, s, true
		}
	}
	// No session either way: a new connection, or one picked up.
	if p.Flags&rewrite.FlagSYN != 0 {
		if p.Flags&rewrite.FlagACK == 0 {
			// The sender opens the connection: it is the client.
			return FromClient, asClient, nil, toCtl
		}
		return FromServer, asServer, nil, fromCtl
	}
	if toCtl && fromCtl && t.nat != nil {
		if tu, ok := t.nat.Lookup(asClient); ok && tu.Orig.Src == dst {
			return FromServer, asServer, nil, true
		}
	}
	if toCtl {
		return FromClient, asClient, nil, true
	}
	return FromServer, asServer, nil, true
}

// reopen replaces session s by a new one for the connection whose SYN
// (at s.reopenISN) the server just accepted: the client reused the port
// of a connection the Tracker still held as live.
func (t *Tracker) reopen(s *Session, now time.Time, res *Result) *Session {
	isn := s.reopenISN
	t.remove(s, now, res, ReasonSessionEnd)
	n := t.create(s.flow, now, res, false)
	if n != nil {
		n.half[FromClient].sync(isn.Add(1))
	}
	return n
}

// create starts a session, or counts the packet as not tracked when the
// table is full.
func (t *Tracker) create(flow Flow, now time.Time, res *Result, midstream bool) *Session {
	if len(t.sessions) >= t.pol.MaxSessions {
		t.Stats.NotTracked++
		res.Effects = append(res.Effects, Effect{Kind: EffViolation, Flow: flow, Reason: ReasonNotTracked, Detail: fmt.Sprintf("session table full (%d)", t.pol.MaxSessions)})
		return nil
	}
	t.nextID++
	// The halves' line buffers are allocated when a line first spans
	// segments (partial), its pinholes and pending commands when it has
	// some.
	s := &Session{id: t.nextID, flow: flow, env: &t.sessionEnv, midstream: midstream, greeted: midstream, lastSeen: now,
		tls: t.tls[flow.Server.Port()]}
	t.sessions[flow] = s
	t.timers.add(s, s.deadline(&t.pol))
	t.Stats.SessionsStarted++
	s.effect(res, Effect{Kind: EffSessionStart})
	return s
}

// end closes a session's pinholes; the entry stays for ClosedLinger so
// late segments are still sequence-adjusted.
func (t *Tracker) end(s *Session, now time.Time, res *Result, r Reason) {
	if s.ended {
		return
	}
	s.ended = true
	s.endedAt = now
	t.timers.notBefore(s, now.Add(t.pol.ClosedLinger))
	s.closeAll(res, r)
	t.Stats.SessionsEnded++
	s.effect(res, Effect{Kind: EffSessionEnd, Reason: r})
}

// remove ends a session and forgets it, releasing what it holds.
func (t *Tracker) remove(s *Session, now time.Time, res *Result, r Reason) {
	t.end(s, now, res, r)
	for d := range s.half {
		t.releaseHeld(s, Dir(d), res, false)
	}
	delete(t.holding, s)
	delete(t.sessions, s.flow)
	t.timers.drop(s)
}

// segment runs one decoded packet through its session.
func (t *Tracker) segment(s *Session, dir Dir, token uint64, now time.Time, res *Result) {
	p := &t.pkt
	h := &s.half[dir]
	o := &s.half[1-dir]
	seq := p.Seq
	if p.Flags&rewrite.FlagSYN != 0 {
		seq = seq.Add(1)
		h.sync(seq)
	}
	if p.Flags&rewrite.FlagACK != 0 && o.synced {
		// Only acknowledgements of bytes the other side really sent may
		// fold its edits; a forged ACK ahead of the data must not.
		acked := o.adj.Unmap(p.Ack)
		if !o.next.LessThan(acked) {
			o.adj.Release(acked)
		}
		if !o.rcvAckSet || o.rcvAck.LessThan(acked) {
			o.rcvAck, o.rcvAckSet = acked, true
		}
	}
	if p.Flags&rewrite.FlagRST != 0 {
		if h.rstAcceptable(seq) {
			t.end(s, now, res, ReasonReset)
			t.releaseAll(s, res)
		}
		t.emit(s, dir, res, seq)
		return
	}
	n := len(p.Payload)
	if !h.synced {
		h.sync(seq)
	}
	end := seq.Add(n)
	hold, heldNow := false, false
	switch {
	case n > 0 && h.fin && h.finSeq.LessThan(end):
		// Bytes after the sender's FIN: the receiver discards them
		// (RFC 9293 section 3.10.7.4), so they are never inspected.
		c := lineCtx{dir: dir, now: now, res: res}
		s.event(&c, "ignore", ReasonAfterFIN, "data after the sender's FIN")
	case n == 0 || s.ended:
		// Nothing to inspect.
		if n > 0 && h.next.LessThan(end) {
			h.next = end
			h.line = h.line[:0]
			h.discard = true
		}
	case !h.next.LessThan(end):
		// Pure retransmission: bytes already inspected. If some of them
		// are still held, the held copy goes out; drop this one.
		if len(h.held) > 0 && h.released.LessThan(end) {
			res.Verdict = Drop
			t.Stats.Dropped++
			return
		}
	case h.next.LessThan(seq):
		// Out of order: hold until the gap fills, bounded.
		if t.sameStart(s, h, seq, end, res) {
			return
		}
		// The gap is real when the receiver acknowledged bytes the
		// inspector never saw, or when this segment acknowledges bytes of
		// the other direction the inspector never saw: either way packets
		// crossed the gateway without ftpalg (a flushed table, a queue that
		// overflowed with fail_open), and nothing will fill the hole.
		real := h.gapConfirmed() || p.Flags&rewrite.FlagACK != 0 && !h.fin && o.bypassProven(o.adj.Unmap(p.Ack))
		if !real && t.holdable(h, n, now) {
			t.hold(s, dir, token, seq, false, now)
			res.Verdict = Hold
			return
		}
		if !real {
			// Bytes beyond a gap nobody acknowledged: pass, never parse.
			t.passUninspected(s, dir, now, res)
			t.emit(s, dir, res, seq)
			return
		}
		t.gap(s, dir, seq, now, res)
		fallthrough
	default:
		c := lineCtx{dir: dir, ack: s.half[1-dir].adj.Unmap(p.Ack), hasAck: p.Flags&rewrite.FlagACK != 0, now: now, res: res}
		off := h.next.Diff(seq)
		t.feed(s, &c, p.Payload[off:], h.next)
		if len(h.ooo) > 0 && !h.next.LessThan(h.ooo[0].seq) {
			// Out-of-order packets now follow in sequence: this packet
			// must leave before them, so it joins the held list.
			t.hold(s, dir, token, seq, true, now)
			heldNow = true
			t.drainOOO(s, dir, now, res)
		}
		hold = !h.opaque && !h.discard && len(h.line) > 0 && s.mayEdit(dir, h.line) && t.holdable(h, n, now)
	}
	if s.resetting {
		t.resetSession(s, token, true, now, res)
		return
	}
	if p.Flags&rewrite.FlagFIN != 0 && end == h.next && !h.fin {
		h.fin = true
		h.finSeq = end
		if o.fin || dir == FromServer && s.closing {
			t.end(s, now, res, ReasonSessionEnd)
		}
	}
	if hold || heldNow {
		if !heldNow {
			t.hold(s, dir, token, seq, true, now)
		}
		res.Verdict = Hold
		if hold {
			return
		}
	}
	high, released := t.releaseHeld(s, dir, res, true)
	if heldNow {
		return
	}
	from := seq
	if released && seq.LessThan(high) {
		from = high
		if end.LessThan(from) {
			from = end
		}
	}
	t.emit(s, dir, res, from)
}

// sameStart applies Linux's rule for an out-of-order segment that starts
// where a held one does (tcp_data_queue_ofo): if the held one covers it,
// it is dropped (reported true: its verdict is in res); if it covers the
// held one, it replaces it (the held one is dropped) and is held in its
// place. So the bytes inspected when the gap fills are the ones the
// receiver keeps. Other overlaps keep the earlier segment's bytes, as
// both Linux and the in-order walk do.
func (t *Tracker) sameStart(s *Session, h *half, seq, end rewrite.Seq, res *Result) bool {
	for i := range h.ooo {
		if h.ooo[i].seq != seq {
			continue
		}
		if !h.ooo[i].seq.Add(h.ooo[i].n).LessThan(end) {
			res.Verdict = Drop
			t.Stats.Dropped++
			return true
		}
		res.Released = append(res.Released, Release{Token: h.ooo[i].token, Session: s.id, Verdict: Drop})
		t.Stats.Dropped++
		h.heldBytes -= h.ooo[i].n
		h.ooo = append(h.ooo[:i], h.ooo[i+1:]...)
		return false
	}
	return false
}

// emit rebuilds the current packet for output and sets its verdict.
func (t *Tracker) emit(s *Session, dir Dir, res *Result, from rewrite.Seq) {
	p := &t.pkt
	h := &s.half[dir]
	o := &s.half[1-dir]
	if h.adj.Identity() && o.adj.Identity() {
		h.noteReleased(p.Seq, len(p.Payload), p.Flags)
		return
	}
	seq := p.Seq
	if p.Flags&rewrite.FlagSYN != 0 {
		seq = seq.Add(1)
	}
	if from.LessThan(seq) {
		from = seq
	}
	outSeq, payload := h.adj.Output(t.payload, seq, p.Payload, from)
	h.noteReleased(seq, len(p.Payload), 0)
	if p.Flags&rewrite.FlagSYN != 0 {
		outSeq = outSeq.Add(-1)
	}
	ack := p.Ack
	if p.Flags&rewrite.FlagACK != 0 {
		ack = o.adj.Unmap(p.Ack)
	}
	if len(payload) == 0 && len(p.Payload) > 0 && p.Flags&(rewrite.FlagFIN|rewrite.FlagRST) == 0 {
		// Its bytes went out in held packets released just now.
		res.Verdict = Drop
		t.Stats.Dropped++
		return
	}
	if outSeq == p.Seq && ack == p.Ack && bytes.Equal(payload, p.Payload) && !t.sackNeedsChange(o) {
		return
	}
	var b []byte
	if len(payload) == len(p.Payload) {
		b = rewrite.Rebuild(p.B, p, outSeq, ack, &o.adj, payload)
	} else {
		b = rewrite.Rebuild(t.out[:0], p, outSeq, ack, &o.adj, payload)
	}
	if b == nil {
		// The rewritten packet would exceed 65535 bytes.
		res.Verdict = Drop
		t.Stats.Dropped++
		return
	}
	res.Verdict = AcceptModified
	res.Packet = b
	t.Stats.Modified++
}

// sackNeedsChange reports whether the current packet has SACK blocks that
// unmapping through o would change.
func (t *Tracker) sackNeedsChange(o *half) bool {
	if o.adj.Identity() || t.pkt.TCPHdrLen <= 20 {
		return false
	}
	t.sacks = t.pkt.SACKBlocks(t.sacks[:0])
	for _, b := range t.sacks {
		l, r := o.adj.UnmapSACK(b[0], b[1])
		if l != b[0] || r != b[1] {
			return true
		}
	}
	return false
}

// Tick releases packets held longer than the hold timeout, expires
// pinholes and forgets idle and ended sessions. Call it regularly (every
// 50-100 ms) with the current time; it fills res like Process, without a
// current packet.
func (t *Tracker) Tick(now time.Time, res *Result) {
	res.reset()
	for s := range t.holding {
		for d := range s.half {
			h := &s.half[d]
			if len(h.held)+len(h.ooo) == 0 || now.Sub(h.holdSince) < t.pol.HoldTimeout {
				continue
			}
			c := lineCtx{dir: Dir(d), now: now, res: res, line: h.line}
			s.event(&c, "release", ReasonHoldTimeout, "held segments released unchanged")
			if len(h.ooo) > 0 && h.next.LessThan(h.ooo[0].seq) {
				if !h.gapConfirmed() {
					t.passUninspected(s, Dir(d), now, res)
					continue
				}
				t.gap(s, Dir(d), h.ooo[0].seq, now, res)
			}
			t.drainOOO(s, Dir(d), now, res)
			if s.resetting {
				t.resetSession(s, 0, false, now, res)
				break
			}
			t.releaseHeld(s, Dir(d), res, true)
		}
	}
	// Only the sessions whose key has passed: something is due, or their
	// deadline moved later since they were keyed (timers.go). Each is
	// looked at once at most.
	for n := len(t.timers.h); n > 0; n-- {
		s := t.timers.due(now)
		if s == nil {
			break
		}
		s.expire(now, res)
		switch {
		case s.ended && now.Sub(s.endedAt) >= t.pol.ClosedLinger,
			now.Sub(s.lastSeen) >= t.pol.SessionIdle:
			t.remove(s, now, res, ReasonExpired)
			continue
		}
		t.timers.move(s, s.deadline(&t.pol), now)
	}
}

// resetSession carries out a reset the session asked for (Session.reset):
// one packet of the refused line's direction becomes a TCP RST to its
// receiver, every other packet the session holds is dropped, and the
// session ends; its later packets are dropped (Process). With cur, the
// current packet (token) is the carrier and gets its verdict in res;
// otherwise the lowest held packet of that direction is, in res.Released.
func (t *Tracker) resetSession(s *Session, token uint64, cur bool, now time.Time, res *Result) {
	h := &s.half[s.resetDir]
	o := &s.half[1-s.resetDir]
	seq := h.adj.MapEnd(h.released)
	var carrier *rewrite.Packet
	var carrierToken uint64
	if cur {
		carrier = &t.pkt
	} else {
		// held and ooo are each sorted by sequence number.
		var first *heldPkt
		for _, l := range [][]heldPkt{h.held, h.ooo} {
			if len(l) > 0 && (first == nil || l[0].seq.LessThan(first.seq)) {
				first = &l[0]
			}
		}
		var q rewrite.Packet
		if first != nil && rewrite.Decode(first.b, &q) == nil {
			carrier, carrierToken = &q, first.token
		}
	}
	var rst []byte
	if carrier != nil {
		ack := carrier.Ack
		if carrier.Flags&rewrite.FlagACK != 0 {
			ack = o.adj.Unmap(carrier.Ack)
		}
		buf := t.out[:0]
		if !cur {
			buf = make([]byte, 0, 60)
		}
		rst = rewrite.Reset(buf, carrier, seq, ack, carrier.Flags&rewrite.FlagACK != 0)
	}
	if cur {
		res.Verdict = Drop
		if rst != nil {
			res.Verdict = AcceptModified
			res.Packet = rst
			t.Stats.Modified++
		} else {
			t.Stats.Dropped++
		}
	}
	for d := range s.half {
		hd := &s.half[d]
		for _, l := range [][]heldPkt{hd.held, hd.ooo} {
			for _, hp := range l {
				switch {
				case cur && hp.token == token:
					// The current packet, held a moment ago: its verdict is in res.
				case !cur && hp.token == carrierToken && rst != nil:
					res.Released = append(res.Released, Release{Token: hp.token, Session: s.id, Verdict: AcceptModified, Packet: rst})
					t.Stats.Modified++
				default:
					res.Released = append(res.Released, Release{Token: hp.token, Session: s.id, Verdict: Drop})
					t.Stats.Dropped++
				}
			}
		}
		hd.held, hd.ooo, hd.heldBytes = hd.held[:0], nil, 0
	}
	delete(t.holding, s)
	s.resetting = false
	s.killed = true
	t.end(s, now, res, ReasonReset)
}

// PinholeUsed tells the Tracker that the kernel consumed pinhole id (its
// data connection started).
func (t *Tracker) PinholeUsed(id uint64, res *Result) bool {
	res.reset()
	s := t.pinOwner[id]
	return s != nil && s.pinholeUsed(id, res)
}

// EndClosedFlow is EndFlow for a conntrack entry that was destroyed after
// its connection closed (TIME_WAIT, CLOSE): it ends the session only if
// the session saw that close too. A live session with the same addresses
// and ports is a new connection from a reused client port, whose SYN made
// the kernel replace the closed entry; that entry's DESTROY is not its end.
func (t *Tracker) EndClosedFlow(f Flow, now time.Time, res *Result) bool {
	res.reset()
	s := t.sessions[f]
	if s == nil || !s.ended {
		return false
	}
	t.remove(s, now, res, ReasonSessionEnd)
	return true
}

// EndFlow ends the session of a control connection the kernel no longer
// tracks (its conntrack entry was destroyed).
func (t *Tracker) EndFlow(f Flow, now time.Time, res *Result) bool {
	res.reset()
	s := t.sessions[f]
	if s == nil {
		return false
	}
	t.remove(s, now, res, ReasonSessionEnd)
	return true
}
