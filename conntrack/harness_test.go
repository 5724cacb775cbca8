package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/internal/pktfuzz"
	"github.com/ftpalg/ftpalg/rewrite"
)

// buildPacket makes an IPv4 or IPv6 TCP packet with correct checksums.
// sack, if not nil, adds one SACK option block per pair.
func buildPacket(src, dst netip.AddrPort, seq, ack uint32, flags uint8, payload []byte, sack ...[2]uint32) []byte {
	return pktfuzz.Build(src, dst, seq, ack, flags, payload, sack...)
}

// verifyChecksums checks a packet's IPv4 header and TCP checksums.
func verifyChecksums(t *testing.T, b []byte) {
	t.Helper()
	var p rewrite.Packet
	if err := rewrite.Decode(b, &p); err != nil {
		t.Fatalf("delivered packet does not decode: %v", err)
	}
	tcp := p.B[p.IPHdrLen:]
	var pseudo uint32
	if p.Version == 4 {
		if rewrite.Checksum(p.B[:p.IPHdrLen], 0) != 0xffff {
			t.Fatalf("bad IPv4 header checksum")
		}
		pseudo = uint32(rewrite.Checksum(p.B[12:20], 6+uint32(len(tcp))))
	} else {
		pseudo = uint32(rewrite.Checksum(p.B[8:40], 6+uint32(len(tcp))))
	}
	if rewrite.Checksum(tcp, pseudo) != 0xffff {
		t.Fatalf("bad TCP checksum")
	}
}

// fakeNAT answers every lookup with fixed tuples.
type fakeNAT struct{ t Tuples }

func (f fakeNAT) Lookup(Flow) (Tuples, bool) { return f.t, true }

// endpoint is one side of a test connection, with what it has sent (in its
// own sequence space) and what it has received (as delivered).
type endpoint struct {
	addr   netip.AddrPort
	isn    uint32
	sndNxt uint32 // next original sequence number to send
	rcv    []byte // in-order bytes delivered to this endpoint
	rcvISN uint32 // peer's ISN as seen on delivered packets
	rcvNxt uint32 // next delivered sequence number expected (output space)
	acked  uint32 // highest ack delivered to this endpoint (its own space)
	// resets counts RSTs delivered with exactly the expected sequence
	// number (RFC 5961: the only ones a real stack accepts at once);
	// badResets those with any other.
	resets, badResets int
}

// lab runs a control connection through a Tracker packet by packet.
type lab struct {
	t       *testing.T
	tr      *Tracker
	ep      [2]*endpoint // FromClient: client, FromServer: server
	now     time.Time
	res     Result
	held    map[uint64][]byte
	token   uint64
	Effects []Effect
	Events  []Event
}

func newLab(t *testing.T, cfg Config, client, server netip.AddrPort) *lab {
	t.Helper()
	if cfg.Policy == (Policy{}) {
		cfg.Policy = DefaultPolicy()
	}
	tr, err := NewTracker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &lab{t: t, tr: tr, now: time.Unix(1_700_000_000, 0),
		ep:   [2]*endpoint{{addr: client, isn: 1000, sndNxt: 1000}, {addr: server, isn: 0xfffffff0, sndNxt: 0xfffffff0}},
		held: map[uint64][]byte{}}
}

// handshake runs SYN, SYN-ACK, ACK.
func (l *lab) handshake() {
	c, s := l.ep[FromClient], l.ep[FromServer]
	l.deliver(FromClient, buildPacket(c.addr, s.addr, c.sndNxt, 0, rewrite.FlagSYN, nil))
	c.sndNxt++
	l.deliver(FromServer, buildPacket(s.addr, c.addr, s.sndNxt, c.sndNxt, rewrite.FlagSYN|rewrite.FlagACK, nil))
	s.sndNxt++
	l.deliver(FromClient, buildPacket(c.addr, s.addr, c.sndNxt, s.sndNxt, rewrite.FlagACK, nil))
}

// send sends payload from dir in one segment with the next sequence number
// and an ack of everything this side has received.
func (l *lab) send(dir Dir, payload string) []byte {
	e, o := l.ep[dir], l.ep[1-dir]
	b := buildPacket(e.addr, o.addr, e.sndNxt, e.rcvNxt, rewrite.FlagACK|rewrite.FlagPSH, []byte(payload))
	e.sndNxt += uint32(len(payload))
	l.deliver(dir, b)
	return b
}

// sendAt sends payload with an explicit sequence number (retransmissions,
// out-of-order segments); it does not move sndNxt.
func (l *lab) sendAt(dir Dir, seq uint32, payload string) {
	e, o := l.ep[dir], l.ep[1-dir]
	l.deliver(dir, buildPacket(e.addr, o.addr, seq, e.rcvNxt, rewrite.FlagACK|rewrite.FlagPSH, []byte(payload)))
}

// ack sends a bare ACK from dir for what it has received.
func (l *lab) ack(dir Dir, sack ...[2]uint32) {
	e, o := l.ep[dir], l.ep[1-dir]
	l.deliver(dir, buildPacket(e.addr, o.addr, e.sndNxt, e.rcvNxt, rewrite.FlagACK, nil, sack...))
}

// deliver passes a packet through the Tracker and delivers what comes out.
func (l *lab) deliver(dir Dir, b []byte) Verdict {
	l.token++
	tok := l.token
	in := append([]byte(nil), b...)
	l.tr.Process(in, tok, l.now, &l.res)
	return l.collect(dir, tok, in)
}

func (l *lab) tick(d time.Duration) {
	l.now = l.now.Add(d)
	l.tr.Tick(l.now, &l.res)
	l.collect(FromClient, 0, nil)
}

func (l *lab) collect(dir Dir, tok uint64, in []byte) Verdict {
	l.Effects = append(l.Effects, l.res.Effects...)
	l.Events = append(l.Events, l.res.Events...)
	for _, r := range l.res.Released {
		orig, ok := l.held[r.Token]
		if !ok && r.Token == tok {
			orig, ok = in, true
		}
		if !ok {
			l.t.Fatalf("release of unknown token %d", r.Token)
		}
		delete(l.held, r.Token)
		switch r.Verdict {
		case Accept:
			l.arrive(orig)
		case AcceptModified:
			l.arrive(r.Packet)
		}
	}
	if tok == 0 {
		return Accept
	}
	v := l.res.Verdict
	switch v {
	case Accept:
		l.arrive(in)
	case AcceptModified:
		l.arrive(l.res.Packet)
	case Hold:
		if !l.released(tok) {
			l.held[tok] = in
		}
	}
	return v
}

func (l *lab) released(tok uint64) bool {
	for _, r := range l.res.Released {
		if r.Token == tok {
			return true
		}
	}
	return false
}

// arrive hands a packet to its receiver.
func (l *lab) arrive(b []byte) {
	l.t.Helper()
	verifyChecksums(l.t, b)
	var p rewrite.Packet
	if err := rewrite.Decode(b, &p); err != nil {
		l.t.Fatal(err)
	}
	dir := FromServer // the receiver
	if netip.AddrPortFrom(p.Dst, p.DstPort) == l.ep[FromClient].addr {
		dir = FromClient
	}
	e := l.ep[dir]
	seq := uint32(p.Seq)
	if p.Flags&rewrite.FlagRST != 0 {
		if seq == e.rcvNxt {
			e.resets++
		} else {
			e.badResets++
		}
		return
	}
	if p.Flags&rewrite.FlagSYN != 0 {
		e.rcvISN = seq
		e.rcvNxt = seq + 1
		return
	}
	if p.Flags&rewrite.FlagACK != 0 && int32(uint32(p.Ack)-e.acked) > 0 {
		e.acked = uint32(p.Ack)
	}
	n := uint32(len(p.Payload))
	if n == 0 {
		return
	}
	if int32(seq-e.rcvNxt) <= 0 && int32(seq+n-e.rcvNxt) > 0 {
		e.rcv = append(e.rcv, p.Payload[e.rcvNxt-seq:]...)
		e.rcvNxt = seq + n
	}
}

func (l *lab) effects(kind EffectKind) []Effect {
	var out []Effect
	for _, e := range l.Effects {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (l *lab) clearLog() { l.Effects, l.Events = nil, nil }

func mustAP(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
func mustA(s string) netip.Addr      { return netip.MustParseAddr(s) }
