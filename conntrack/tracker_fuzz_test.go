package conntrack

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/internal/pktfuzz"
	"github.com/ftpalg/ftpalg/rewrite"
)

// FuzzTracker runs raw packets through a Tracker: prog is a pktfuzz
// program (framed packets of up to four control connections, IPv4 and
// IPv6, packets with wrong lengths or checksums, verbatim bytes, time
// steps, pinholes used, flows ended); setup picks the NAT and the policy
// (see trackerSetup). Whatever the input, every verdict is valid; every
// held packet is released exactly once, the current packet's token only
// when it was held; every packet that leaves modified is a well-formed
// IP + TCP packet with the same endpoints and flags, consistent lengths and
// the checksum residuals it arrived with; pinholes open once and close once,
// always from the peer to the announcer's own address on a port of at
// least MinDataPort; no pinhole of a session is open once a sign of TLS
// (a 234 reply line, a TLS record where a line starts) has reached the
// receiver, until the session reports the channel clear again (tlsOracle);
// and once time has passed every timeout, nothing is left: no session, no
// pinhole, no held packet, no reserved public port.
func FuzzTracker(f *testing.F) {
	for _, s := range trackerSeeds() {
		f.Add(s.setup, s.prog)
	}
	f.Fuzz(func(t *testing.T, setup uint16, prog []byte) {
		if len(prog) > 1<<14 {
			return
		}
		h := newTrackerHarness(t, setup)
		r := pktfuzz.NewReader(prog, h.conns)
		h.r = r
		for range 2000 {
			op, ok := r.Next()
			if !ok {
				break
			}
			h.step(op)
		}
		h.drain()
	})
}

// Connections of the fuzz programs, as the inspector sees their packets
// (after DNAT, before SNAT): two from one client, one over IPv6, one on a
// second control port.
var fuzzConns = []pktfuzz.Conn{
	{Client: mustAP("198.51.100.10:40000"), Server: mustAP("10.0.0.2:21"), ISN: [2]uint32{1000, 0xfffffff0}},
	{Client: mustAP("198.51.100.10:40001"), Server: mustAP("10.0.0.2:21"), ISN: [2]uint32{0x7ffffff0, 5000}},
	{Client: mustAP("[2001:db8:1::10]:40002"), Server: mustAP("[fd00::2]:21"), ISN: [2]uint32{1, 0x80000000}},
	{Client: mustAP("198.51.100.11:40003"), Server: mustAP("10.0.0.3:2121"), ISN: [2]uint32{0xffffff00, 77}},
}

// Setup bits of FuzzTracker.
const (
	setupDNAT       = 1 << 0 // the server is published at a public address
	setupMasq       = 1 << 1 // the client's source is translated
	setupLookupFail = 1 << 2 // the NAT lookup cannot tell
	setupTight      = 1 << 3 // one pinhole, two held segments, short lines, two sessions
	setupNoMid      = 1 << 4 // no midstream pickup
	setupDryRun     = 1 << 5
	setupNoBounce   = 1 << 6 // bounce check off
	setupHighPort   = 1 << 7 // MinDataPort 20000
	setupReset      = 1 << 8 // violations reset the session
	setupBudget     = 1 << 9 // two pinholes per client, three in total
	// Bits 10-11: TLS mode of port 21 (0 allow, 1 block, 2 and 3
	// passthrough-range 30000-30100); port 2121 gets the next mode.
	setupTLSShift = 10
)

// tlsRules are the TLS policies of the control ports under setup.
func tlsRules(setup uint16) map[uint16]TLSRule {
	modes := []TLSMode{TLSAllow, TLSBlock, TLSPassthroughRange, TLSPassthroughRange}
	m := int(setup>>setupTLSShift) & 3
	rule := func(mode TLSMode) TLSRule {
		if mode == TLSPassthroughRange {
			return TLSRule{Mode: mode, PassiveLo: 30000, PassiveHi: 30100}
		}
		return TLSRule{Mode: mode}
	}
	return map[uint16]TLSRule{21: rule(modes[m]), 2121: rule(modes[(m+1)%3])}
}

// fuzzNAT answers with the tuples of the fuzz connections under the
// setup's NAT; any other flow is unknown to it.
type fuzzNAT struct {
	tuples map[Flow]Tuples
	fail   bool
}

func (n *fuzzNAT) Lookup(f Flow) (Tuples, bool) {
	if n.fail {
		return Tuples{}, false
	}
	t, ok := n.tuples[f]
	return t, ok
}

// natTuples are connection i's tuples under the setup's NAT.
func natTuples(c pktfuzz.Conn, i int, setup uint16) Tuples {
	t := IdentityTuples(Flow{Client: c.Client, Server: c.Server})
	pubSrv, pubCli := mustA("203.0.113.1"), mustA("203.0.113.254")
	if c.Client.Addr().Is6() {
		pubSrv, pubCli = mustA("2001:db8:ffff::1"), mustA("2001:db8:ffff::fe")
	}
	if setup&setupDNAT != 0 {
		t.Orig.Dst = netip.AddrPortFrom(pubSrv, c.Server.Port())
	}
	if setup&setupMasq != 0 {
		t.Reply.Dst = netip.AddrPortFrom(pubCli, uint16(60000+i))
	}
	return t
}

type trackerHarness struct {
	t      *testing.T
	setup  uint16
	tr     *Tracker
	pol    Policy
	tls    map[uint16]TLSRule
	nat    *fuzzNAT
	ports  *PortRegistry
	budget *Budget
	conns  []pktfuzz.Conn
	r      *pktfuzz.Reader
	now    time.Time
	res    Result
	token  uint64

	held     map[uint64][]byte       // token -> the packet as it arrived
	done     map[uint64]bool         // tokens that got their verdict
	open     map[uint64]Effect       // outstanding pinholes by ID
	everOpen map[uint64]bool         // every pinhole ID ever opened
	sessions map[uint64]bool         // started sessions: true once ended
	log      []string                // what happened, for failure messages
	tuples   map[Flow]Tuples         // expected tuples per flow (identity if absent)
	flows    map[uint64]Flow         // session ID -> flow
	mapped   map[netip.AddrPort]bool // public ports of outstanding mappings
	ranges   map[uint64]Effect       // open passive-range pinholes by ID
	killed   map[uint64]bool         // sessions reset
	// The sequence ranges delivered per direction, the directions
	// edited (whose sequence numbers no longer match), and the packets
	// dropped in the current step.
	stream     map[[2]netip.AddrPort]*seqSet
	editedDirs map[[2]netip.AddrPort]bool
	base       map[[2]netip.AddrPort]uint32 // where inspection of a direction began
	dropped    []droppedPkt
	// What each receiver has read in order since the session began
	// (tlsOracle), and the flows whose channel a sign of TLS reached.
	rcv     map[[2]netip.AddrPort]*rcvStream
	tlsSeen map[Flow]bool
	cleared map[Flow]bool
	resized map[Flow]bool // flows whose session reported EffResized
}

// rcvStream is the tlsOracle's copy of what one receiver has read in
// order: its own reading of lines, independent of the inspector's.
type rcvStream struct {
	base   uint32 // sequence number of data[0]
	data   []byte
	server bool // the server's direction (234 replies count)
	done   bool // blind from here: a gap at the receiver, a FIN, an RST
	scan   int  // next position that may start a sign
	pend   int  // start of a 234 line not yet ended, -1 if none
}

type droppedPkt struct {
	tok uint64
	in  []byte
}

func newTrackerHarness(t *testing.T, setup uint16) *trackerHarness {
	pol := DefaultPolicy()
	if setup&setupTight != 0 {
		pol.MaxPinholes, pol.MaxHeldSegments, pol.MaxLine, pol.MaxHeldBytes, pol.MaxSessions = 1, 2, 64, 64, 2
	}
	pol.Midstream = setup&setupNoMid == 0
	pol.BounceCheck = setup&setupNoBounce == 0
	if setup&setupHighPort != 0 {
		pol.MinDataPort = 20000
	}
	if setup&setupReset != 0 {
		pol.Violation = ViolationReset
	}
	if setup&setupBudget != 0 {
		pol.MaxClientPinholes, pol.MaxTotalPinholes = 2, 3
	}
	h := &trackerHarness{t: t, setup: setup, pol: pol, conns: fuzzConns, now: time.Unix(1_700_000_000, 0),
		ports: NewPortRegistry(), held: map[uint64][]byte{}, done: map[uint64]bool{}, open: map[uint64]Effect{},
		everOpen: map[uint64]bool{}, sessions: map[uint64]bool{}, tuples: map[Flow]Tuples{}, flows: map[uint64]Flow{},
		mapped: map[netip.AddrPort]bool{}, ranges: map[uint64]Effect{}, killed: map[uint64]bool{},
		budget: NewBudget(), tls: tlsRules(setup), stream: map[[2]netip.AddrPort]*seqSet{}, editedDirs: map[[2]netip.AddrPort]bool{}, base: map[[2]netip.AddrPort]uint32{},
		rcv: map[[2]netip.AddrPort]*rcvStream{}, tlsSeen: map[Flow]bool{}, cleared: map[Flow]bool{}, resized: map[Flow]bool{}}
	cfg := Config{Policy: pol, ControlPorts: []uint16{21, 2121}, Ports: h.ports, DryRun: setup&setupDryRun != 0,
		Budget: h.budget, TLS: h.tls}
	if setup&(setupDNAT|setupMasq) != 0 {
		h.nat = &fuzzNAT{tuples: map[Flow]Tuples{}, fail: setup&setupLookupFail != 0}
		for i, c := range fuzzConns {
			f := Flow{Client: c.Client, Server: c.Server}
			h.nat.tuples[f] = natTuples(c, i, setup)
			if !h.nat.fail {
				h.tuples[f] = h.nat.tuples[f]
			}
		}
		cfg.NAT = h.nat
	}
	tr, err := NewTracker(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.tr = tr
	return h
}

func (h *trackerHarness) fail(format string, args ...any) {
	h.t.Helper()
	tail := h.log[max(0, len(h.log)-40):]
	h.t.Fatalf("%s\nsetup %#04x, last steps:\n  %s", fmt.Sprintf(format, args...), h.setup, joinLines(tail))
}

func joinLines(l []string) string {
	s := ""
	for i, x := range l {
		if i > 0 {
			s += "\n  "
		}
		s += x
	}
	return s
}

func (h *trackerHarness) step(op pktfuzz.Op) {
	switch op.Kind {
	case pktfuzz.Packet:
		h.token++
		tok := h.token
		in := append([]byte(nil), op.Packet...)
		h.log = append(h.log, fmt.Sprintf("packet %d raw=%v % x", tok, op.Raw, in[:min(len(in), 80)]))
		h.tr.Process(op.Packet, tok, h.now, &h.res)
		h.check(tok, in)
	case pktfuzz.Tick:
		h.tick(op.Advance)
	case pktfuzz.Used:
		ids := h.openIDs()
		id := uint64(1 << 50) // unknown: must be refused
		if op.Index < len(ids) {
			id = ids[op.Index]
		}
		h.log = append(h.log, fmt.Sprintf("used %d", id))
		ok := h.tr.PinholeUsed(id, &h.res)
		if _, outstanding := h.open[id]; ok != outstanding {
			h.fail("PinholeUsed(%d) = %v, pinhole outstanding %v", id, ok, outstanding)
		}
		h.check(0, nil)
		if _, still := h.open[id]; still {
			h.fail("pinhole %d still outstanding after PinholeUsed", id)
		}
	case pktfuzz.EndFlow:
		c := h.conns[op.Conn]
		h.log = append(h.log, fmt.Sprintf("end flow %d", op.Conn))
		h.tr.EndFlow(Flow{Client: c.Client, Server: c.Server}, h.now, &h.res)
		h.check(0, nil)
	}
}

func (h *trackerHarness) tick(d time.Duration) {
	h.now = h.now.Add(d)
	h.log = append(h.log, fmt.Sprintf("tick +%v", d))
	h.tr.Tick(h.now, &h.res)
	h.check(0, nil)
}

func (h *trackerHarness) openIDs() []uint64 {
	ids := make([]uint64, 0, len(h.open))
	for id := range h.open {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// check verifies one Result; tok and in are the current packet (0, nil
// after Tick, PinholeUsed and EndFlow).
func (h *trackerHarness) check(tok uint64, in []byte) {
	h.t.Helper()
	res := &h.res
	wasKilled := h.killed[res.Session]
	h.effects(res.Effects)
	if v, ok := pktfuzz.View(in); ok && res.Session != 0 {
		// Inspection of this direction starts here: bytes before it
		// passed before the session existed.
		k := [2]netip.AddrPort{v.Src, v.Dst}
		if _, ok := h.base[k]; !ok {
			h.base[k], _ = payloadRange(v)
		}
	}
	if tok != 0 && wasKilled && res.Verdict != Drop {
		h.fail("packet %d of session %d, reset earlier, got %v", tok, res.Session, res.Verdict)
	}
	if tok != 0 {
		h.log = append(h.log, fmt.Sprintf("  -> %v, %d released", res.Verdict, len(res.Released)))
		if res.Verdict == Hold {
			h.held[tok] = in
		}
	} else if res.Verdict != Accept || res.Packet != nil {
		h.fail("no current packet, yet verdict %v packet %d bytes", res.Verdict, len(res.Packet))
	}
	h.dropped = h.dropped[:0]
	// Released packets carry the stream up to the current packet, which
	// follows them.
	for _, rl := range res.Released {
		orig, ok := h.held[rl.Token]
		if !ok {
			h.fail("release of token %d, which is not held (done before: %v)", rl.Token, h.done[rl.Token])
		}
		delete(h.held, rl.Token)
		h.log = append(h.log, fmt.Sprintf("  release %d: %v", rl.Token, rl.Verdict))
		switch rl.Verdict {
		case Accept:
			h.deliver(rl.Token, rl.Session, orig, orig)
		case AcceptModified:
			h.checkOut(rl.Token, orig, rl.Packet)
			h.deliver(rl.Token, rl.Session, orig, rl.Packet)
		case Drop:
			h.deliver(rl.Token, rl.Session, orig, nil)
		default:
			h.fail("release of token %d with verdict %v", rl.Token, rl.Verdict)
		}
	}
	if tok != 0 {
		switch res.Verdict {
		case Accept:
			h.deliver(tok, res.Session, in, in)
		case AcceptModified:
			h.checkOut(tok, in, res.Packet)
			h.deliver(tok, res.Session, in, res.Packet)
		case Drop:
			h.deliver(tok, res.Session, in, nil)
		case Hold:
		default:
			h.fail("packet %d: verdict %v", tok, res.Verdict)
		}
	}
	h.checkDropped()
	if got := h.tr.Pinholes(); got != len(h.open) {
		h.fail("tracker has %d pinholes, effects left %d open", got, len(h.open))
	}
	if st := h.tr.Stats; st.PinholesOpened-st.PinholesClosed != uint64(len(h.open)) {
		h.fail("stats: %d opened - %d closed, %d open", st.PinholesOpened, st.PinholesClosed, len(h.open))
	}
	if got, want := h.ports.Len(), len(h.mapped); got != want {
		h.fail("port registry holds %d public ports, outstanding DNAT mappings %d", got, want)
	}
	h.checkBudget()
	for _, e := range h.open {
		if h.tlsSeen[e.Flow] && !h.cleared[e.Flow] {
			h.fail("pinhole %d (%v) of %v open after a sign of TLS reached the receiver", e.ID, e.Pinhole, e.Flow)
		}
	}
	if h.setup&setupDryRun == 0 {
		for _, e := range res.Effects {
			if e.Kind == EffReset && !h.sessions[e.Session] {
				h.fail("session %d reset, yet not ended by the end of the step", e.Session)
			}
		}
	}
}

// checkBudget: the shared budget counts exactly the outstanding pinholes
// and ranges, per client and in total, within the limits.
func (h *trackerHarness) checkBudget() {
	h.t.Helper()
	per := map[netip.Addr]int{}
	for _, e := range h.open {
		per[e.Flow.Client.Addr()]++
	}
	for _, e := range h.ranges {
		per[e.Flow.Client.Addr()]++
	}
	total := 0
	for a, n := range per {
		total += n
		if mine, _ := h.budget.Held(a); mine != n {
			h.fail("budget: client %v holds %d, effects say %d", a, mine, n)
		}
		if n > h.pol.MaxClientPinholes {
			h.fail("client %v holds %d pinholes, limit %d", a, n, h.pol.MaxClientPinholes)
		}
	}
	if _, got := h.budget.Held(netip.Addr{}); got != total || h.budget.Clients() != len(per) {
		h.fail("budget: %d held by %d clients, effects say %d by %d", got, h.budget.Clients(), total, len(per))
	}
	if total > h.pol.MaxTotalPinholes {
		h.fail("%d pinholes held in total, limit %d", total, h.pol.MaxTotalPinholes)
	}
}

// deliver records the verdict of token tok, which arrived as in and leaves
// as out (nil: dropped).
func (h *trackerHarness) deliver(tok, sess uint64, in, out []byte) {
	h.t.Helper()
	if h.done[tok] {
		h.fail("token %d got a second verdict", tok)
	}
	h.done[tok] = true
	if out != nil {
		h.r.Delivered(out)
		h.tlsOracle(out)
	}
	// Until a direction is edited its sequence numbers stay the sender's:
	// track which bytes of it reached the receiver.
	if out == nil {
		if !h.killed[sess] {
			h.dropped = append(h.dropped, droppedPkt{tok, in})
		}
		return
	}
	if v, ok := pktfuzz.View(out); ok {
		start, n := payloadRange(v)
		h.sent(v).add(start, n)
	}
}

// flowOf names the fuzz connection v belongs to.
func (h *trackerHarness) flowOf(v pktfuzz.V) (Flow, bool) {
	for _, c := range h.conns {
		switch {
		case c.Client == v.Src && c.Server == v.Dst, c.Client == v.Dst && c.Server == v.Src:
			return Flow{Client: c.Client, Server: c.Server}, true
		}
	}
	return Flow{}, false
}

// tlsOracle follows what the receiver of a delivered packet reads in
// order, from where the session began to inspect that direction, and
// notes the first sign of TLS at a line start (the start of the stream or
// after CRLF): a record header (content type 20-24, major version 3) in
// either direction, or a complete "234" reply line from the server. It
// reads packets only as a receiver keeps them (good checksum, in order, up
// to a FIN or RST); where it cannot follow (a gap at the receiver) it stops
// for that direction, never guessing.
func (h *trackerHarness) tlsOracle(out []byte) {
	var p rewrite.Packet
	if rewrite.Decode(out, &p) != nil || !p.ChecksumOK() {
		return
	}
	src, dst := netip.AddrPortFrom(p.Src, p.SrcPort), netip.AddrPortFrom(p.Dst, p.DstPort)
	var flow Flow
	server := false
	for _, c := range h.conns {
		switch {
		case c.Client == src && c.Server == dst:
			flow = Flow{Client: src, Server: dst}
		case c.Client == dst && c.Server == src:
			flow, server = Flow{Client: dst, Server: src}, true
		}
	}
	k := [2]netip.AddrPort{src, dst}
	base, ok := h.base[k]
	if !flow.Client.IsValid() || !ok {
		return
	}
	st := h.rcv[k]
	if st == nil {
		st = &rcvStream{base: base, server: server, pend: -1}
		h.rcv[k] = st
	}
	if st.done {
		return
	}
	start := uint32(p.Seq)
	if p.Flags&0x02 != 0 {
		start++
	}
	end := st.base + uint32(len(st.data))
	pl := p.Payload
	if d := int32(end - start); d < 0 && len(pl) > 0 {
		st.done = true // bytes beyond a gap: the receiver reads them later, if ever
		return
	} else if d > 0 {
		if int(d) >= len(pl) {
			pl = nil
		} else {
			pl = pl[d:]
		}
	}
	st.data = append(st.data, pl...)
	if p.Flags&0x05 != 0 { // FIN or RST: nothing after it is read
		st.done = true
	}
	for st.scan < len(st.data) {
		i := st.scan
		if i == 0 || i >= 2 && st.data[i-2] == '\r' && st.data[i-1] == '\n' {
			if i+1 >= len(st.data) {
				break
			}
			if b := st.data[i]; b >= 20 && b <= 24 && st.data[i+1] == 3 {
				h.tlsSeen[flow] = true
			}
			if st.server && st.data[i] == '2' {
				if i+3 >= len(st.data) {
					break
				}
				if st.data[i+1] == '3' && st.data[i+2] == '4' && (st.data[i+3] < '0' || st.data[i+3] > '9') && st.pend < 0 {
					st.pend = i
				}
			}
		}
		st.scan++
	}
	if st.pend >= 0 && bytes.IndexByte(st.data[st.pend:], '\n') >= 0 {
		h.tlsSeen[flow] = true
	}
}

// payloadRange is the sequence range of v's payload.
func payloadRange(v pktfuzz.V) (uint32, int) {
	if v.Flags&0x02 != 0 {
		return v.Seq + 1, len(v.Payload)
	}
	return v.Seq, len(v.Payload)
}

// edited reports whether ftpalg edited the direction of v.
func (h *trackerHarness) edited(v pktfuzz.V) bool {
	return h.editedDirs[[2]netip.AddrPort{v.Src, v.Dst}]
}

func (h *trackerHarness) sent(v pktfuzz.V) *seqSet {
	k := [2]netip.AddrPort{v.Src, v.Dst}
	if h.stream[k] == nil {
		h.stream[k] = &seqSet{}
	}
	return h.stream[k]
}

// checkDropped: in a direction never edited, a packet is dropped only
// for bytes the receiver already got, or that a held packet still
// carries.
func (h *trackerHarness) checkDropped() {
	h.t.Helper()
	for _, d := range h.dropped {
		v, ok := pktfuzz.View(d.in)
		if !ok || h.edited(v) {
			continue
		}
		start, n := h.inspected(v)
		cover := append(seqSet(nil), *h.sent(v)...)
		for _, b := range h.held {
			if w, ok := pktfuzz.View(b); ok && w.Src == v.Src && w.Dst == v.Dst {
				cover.add(payloadRange(w))
			}
		}
		if !cover.covers(start, n) {
			h.fail("dropped token %d, whose bytes %d+%d were neither delivered nor held", d.tok, start, n)
		}
	}
}

// inspected is the part of v's payload at or after the point where the
// session began to inspect its direction (n <= 0: none).
func (h *trackerHarness) inspected(v pktfuzz.V) (uint32, int) {
	start, n := payloadRange(v)
	base, ok := h.base[[2]netip.AddrPort{v.Src, v.Dst}]
	if !ok {
		return start, 0
	}
	if d := int32(base - start); d > 0 {
		return base, n - int(d)
	}
	return start, n
}

// seqSet is a set of sequence ranges [start, start+n).
type seqSet [][2]uint32

func (s *seqSet) add(start uint32, n int) {
	if n <= 0 {
		return
	}
	if l := len(*s); l > 0 && (*s)[l-1][1] == start {
		(*s)[l-1][1] += uint32(n)
		return
	}
	*s = append(*s, [2]uint32{start, start + uint32(n)})
}

// covers reports whether every byte of [start, start+n) is in the set.
func (s seqSet) covers(start uint32, n int) bool {
	if n <= 0 {
		return true
	}
	pos, end := start, start+uint32(n)
	for pos != end {
		found := false
		for _, r := range s {
			if pos-r[0] < r[1]-r[0] {
				if end-pos <= r[1]-pos {
					return true
				}
				pos, found = r[1], true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// checkOut verifies a modified packet against the packet as it arrived.
func (h *trackerHarness) checkOut(tok uint64, in, out []byte) {
	h.t.Helper()
	vi, ok := pktfuzz.View(in)
	if !ok {
		h.fail("token %d: a packet the independent parser rejects was modified: % x", tok, in)
	}
	vo, ok := pktfuzz.View(out)
	if !ok {
		h.fail("token %d: modified packet does not parse: % x", tok, out)
	}
	if vo.IPLen != len(out) {
		h.fail("token %d: modified packet is %d bytes, its IP header says %d", tok, len(out), vo.IPLen)
	}
	if vo.Version == vi.Version && vo.Src == vi.Src && vo.Dst == vi.Dst && vo.Flags&^0x10 == 0x04 && vo.Flags != vi.Flags {
		h.checkReset(tok, vi, out, vo)
		return
	}
	if vo.Version != vi.Version || vo.Src != vi.Src || vo.Dst != vi.Dst || vo.Flags != vi.Flags || vo.TCPOff != vi.TCPOff {
		h.fail("token %d: modified packet changed its header: %+v -> %+v", tok, vi, vo)
	}
	ii, it := pktfuzz.Residuals(in, vi)
	oi, ot := pktfuzz.Residuals(out, vo)
	if ii != oi || it != ot {
		h.fail("token %d: checksum residuals IP %#x TCP %#x on arrival, IP %#x TCP %#x modified\nin  % x\nout % x", tok, ii, it, oi, ot, in, out)
	}
	// Unless it is an edit, a change of payload only trims bytes the
	// receiver already got (a retransmitted or overlapping part).
	k := len(vi.Payload) - len(vo.Payload)
	si, _ := payloadRange(vi)
	so, _ := payloadRange(vo)
	trim := k >= 0 && bytes.Equal(vo.Payload, vi.Payload[k:]) && so == si+uint32(k)
	if trim {
		si, k = h.inspected(pktfuzz.V{Src: vi.Src, Dst: vi.Dst, Seq: si, Payload: vi.Payload[:k]})
	}
	// A session whose length never changed keeps every sequence and
	// acknowledgment number as its peers sent them: only bytes change in
	// place (a same-length rewrite, maybe carried in the segment where it
	// starts) or a prefix the receiver already got is trimmed.
	if f, ok := h.flowOf(vi); ok && !h.resized[f] {
		if vo.Ack != vi.Ack || !trim && so != si {
			h.fail("token %d: session of %v never resized, yet seq %d -> %d, ack %d -> %d", tok, f, si, so, vi.Ack, vo.Ack)
		}
	}
	switch {
	case h.edited(vi):
	case !trim && h.setup&setupDryRun != 0:
		h.fail("token %d: a dry run changed the payload:\nin  % x\nout % x", tok, in, out)
	case !trim:
		h.editedDirs[[2]netip.AddrPort{vi.Src, vi.Dst}] = true
	case !h.sent(vi).covers(si, k):
		h.fail("token %d: trimmed bytes %d+%d the receiver never got", tok, si, k)
	}
}

// checkReset verifies a packet turned into a RST by a reset: only in a
// step that reset a session, a bare header with right checksums, no
// payload.
func (h *trackerHarness) checkReset(tok uint64, vi pktfuzz.V, out []byte, vo pktfuzz.V) {
	h.t.Helper()
	reset := false
	for _, e := range h.res.Effects {
		reset = reset || e.Kind == EffReset
	}
	if !reset || h.setup&setupDryRun != 0 {
		h.fail("token %d became a RST (flags %#x -> %#x) in a step without a reset", tok, vi.Flags, vo.Flags)
	}
	hdr := 20
	if vo.Version == 6 {
		hdr = 40
	}
	if vo.TCPOff != hdr || len(out) != hdr+20 || len(vo.Payload) != 0 {
		h.fail("token %d: RST of %d bytes, TCP at %d, payload %d", tok, len(out), vo.TCPOff, len(vo.Payload))
	}
	if ipr, tcpr := pktfuzz.Residuals(out, vo); ipr != 0 || tcpr != 0 {
		h.fail("token %d: RST with checksum residuals IP %#x TCP %#x", tok, ipr, tcpr)
	}
}

// tuplesOf is what the session of flow f knows of its NAT.
func (h *trackerHarness) tuplesOf(f Flow) Tuples {
	if t, ok := h.tuples[f]; ok {
		return t
	}
	return IdentityTuples(f)
}

func (h *trackerHarness) effects(effs []Effect) {
	h.t.Helper()
	for _, e := range effs {
		h.log = append(h.log, fmt.Sprintf("  effect %v id %d %v %v", e.Kind, e.ID, e.Pinhole, e.Reason))
		switch e.Kind {
		case EffSessionStart:
			if _, seen := h.sessions[e.Session]; seen {
				h.fail("session %d started twice", e.Session)
			}
			for _, k := range [][2]netip.AddrPort{{e.Flow.Client, e.Flow.Server}, {e.Flow.Server, e.Flow.Client}} {
				delete(h.base, k)
				delete(h.stream, k)
				delete(h.editedDirs, k)
				delete(h.rcv, k)
			}
			delete(h.tlsSeen, e.Flow)
			delete(h.cleared, e.Flow)
			delete(h.resized, e.Flow)
			h.sessions[e.Session] = false
			h.flows[e.Session] = e.Flow
		case EffSessionEnd:
			if ended, seen := h.sessions[e.Session]; !seen || ended {
				h.fail("session %d ended (started %v, ended before %v)", e.Session, seen, ended)
			}
			h.sessions[e.Session] = true
		case EffOpenPinhole:
			if h.everOpen[e.ID] {
				h.fail("pinhole ID %d opened twice", e.ID)
			}
			if ended, ok := h.sessions[e.Session]; !ok || ended || h.flows[e.Session] != e.Flow {
				h.fail("pinhole %d opened by session %d (%v), which is not live", e.ID, e.Session, e.Flow)
			}
			h.everOpen[e.ID] = true
			h.open[e.ID] = e
			h.checkPinhole(e)
			if e.HasMap && e.Mapping.Dst != e.Mapping.ToDst {
				h.mapped[e.Mapping.Dst] = true
			}
		case EffMapData:
			o, ok := h.open[e.ID]
			if !ok || !o.HasMap || !e.HasMap || o.Mapping != e.Mapping || o.Pinhole != e.Pinhole {
				h.fail("mapping %d (%v) does not match its pinhole (open %v: %v)", e.ID, e.Mapping, ok, o.Mapping)
			}
		case EffClosePinhole:
			o, ok := h.open[e.ID]
			if !ok {
				h.fail("close of pinhole %d, which is not open (ever opened %v)", e.ID, h.everOpen[e.ID])
			}
			if o.Pinhole != e.Pinhole || o.HasMap != e.HasMap || o.Mapping != e.Mapping {
				h.fail("close of pinhole %d names %v %v, it opened as %v %v", e.ID, e.Pinhole, e.Mapping, o.Pinhole, o.Mapping)
			}
			delete(h.open, e.ID)
			if o.HasMap && o.Mapping.Dst != o.Mapping.ToDst {
				delete(h.mapped, o.Mapping.Dst)
			}
		case EffReset:
			if ended, ok := h.sessions[e.Session]; !ok || ended || h.killed[e.Session] {
				h.fail("reset of session %d (started %v, ended %v, reset before %v)", e.Session, ok, ended, h.killed[e.Session])
			}
			if h.setup&setupDryRun == 0 {
				h.killed[e.Session] = true
			}
		case EffOpenRange:
			if h.everOpen[e.ID] {
				h.fail("range ID %d opened twice", e.ID)
			}
			if ended, ok := h.sessions[e.Session]; !ok || ended {
				h.fail("range %d opened by session %d, which is not live", e.ID, e.Session)
			}
			h.everOpen[e.ID] = true
			h.ranges[e.ID] = e
			h.checkRange(e)
		case EffCloseRange:
			o, ok := h.ranges[e.ID]
			if !ok || o.Range != e.Range || o.Session != e.Session {
				h.fail("close of range %d %v, open %v as %v", e.ID, e.Range, ok, o.Range)
			}
			delete(h.ranges, e.ID)
		case EffClear:
			h.cleared[e.Flow] = true
		case EffResized:
			if h.resized[e.Flow] {
				h.fail("session %d (%v) reported resized twice", e.Session, e.Flow)
			}
			h.resized[e.Flow] = true
		case EffOpaque, EffViolation:
		default:
			h.fail("unknown effect kind %v", e.Kind)
		}
	}
}

// checkRange: a passive range goes from the client's own address to the
// server's own address on the control port's passive ports, published at
// the server's public address when it has one.
func (h *trackerHarness) checkRange(e Effect) {
	h.t.Helper()
	tu := h.tuplesOf(e.Flow)
	rule := h.tls[e.Flow.Server.Port()]
	r := e.Range
	if rule.Mode != TLSPassthroughRange || r.Src != e.Flow.Client.Addr() || r.Dst != tu.Reply.Src.Addr() ||
		r.Lo != rule.PassiveLo || r.Hi != rule.PassiveHi || e.Timeout <= 0 {
		h.fail("range %v (timeout %v) for %v under %+v (tuples %+v)", r, e.Timeout, e.Flow, rule, tu)
	}
	if pub := tu.Orig.Dst.Addr(); pub != r.Dst && r.Public != pub || pub == r.Dst && r.Public.IsValid() {
		h.fail("range %v: published address, tuples %+v", r, tu)
	}
}

// checkPinhole: the data connection goes from one end of the control
// connection to the other end's own address (bounce check), on a port of
// at least MinDataPort, and its NAT mapping matches the tuples.
func (h *trackerHarness) checkPinhole(e Effect) {
	h.t.Helper()
	tu := h.tuplesOf(e.Flow)
	client, server := tu.Orig.Src.Addr(), tu.Reply.Src.Addr()
	var seen netip.Addr // the listener's address as the initiator knows it
	var initSeen netip.Addr
	switch {
	case e.Pinhole.Src == client && e.Pinhole.Dst.Addr() == server: // passive
		seen, initSeen = tu.Orig.Dst.Addr(), tu.Reply.Dst.Addr()
	case e.Pinhole.Src == server && e.Pinhole.Dst.Addr() == client: // active
		seen, initSeen = tu.Reply.Dst.Addr(), tu.Orig.Dst.Addr()
	default:
		h.fail("pinhole %v is not between the ends of %v (tuples %+v)", e.Pinhole, e.Flow, tu)
	}
	if e.Pinhole.Dst.Port() < h.pol.MinDataPort {
		h.fail("pinhole %v below MinDataPort %d", e.Pinhole, h.pol.MinDataPort)
	}
	if e.Timeout <= 0 {
		h.fail("pinhole %v with timeout %v", e.Pinhole, e.Timeout)
	}
	wantMap := seen != e.Pinhole.Dst.Addr() || initSeen != e.Pinhole.Src
	if e.HasMap != wantMap {
		h.fail("pinhole %v has mapping %v, want one %v (tuples %+v)", e.Pinhole, e.HasMap, wantMap, tu)
	}
	if !e.HasMap {
		return
	}
	m := e.Mapping
	if m.Src != e.Pinhole.Src || m.ToDst != e.Pinhole.Dst || m.Dst.Addr() != seen || m.Dst.Port() < h.pol.MinDataPort {
		h.fail("mapping %v of pinhole %v (tuples %+v)", m, e.Pinhole, tu)
	}
	if wantSrc := initSeen != e.Pinhole.Src; m.ToSrc.IsValid() != wantSrc || wantSrc && m.ToSrc != initSeen {
		h.fail("mapping %v: source translation, want %v", m, initSeen)
	}
}

// drain lets time pass beyond every timeout and checks that nothing is
// left.
func (h *trackerHarness) drain() {
	h.t.Helper()
	h.tick(h.pol.HoldTimeout + time.Millisecond)
	h.tick(h.pol.PinholeTimeout + time.Second)
	h.tick(h.pol.ClosedLinger + time.Second)
	h.tick(h.pol.SessionIdle + time.Second)
	switch {
	case h.tr.Sessions() != 0:
		h.fail("%d sessions left after every timeout", h.tr.Sessions())
	case h.tr.Pinholes() != 0 || len(h.open) != 0:
		h.fail("pinholes left: tracker %d, effects %v", h.tr.Pinholes(), h.openIDs())
	case len(h.held) != 0:
		h.fail("%d packets never released", len(h.held))
	case h.ports.Len() != 0:
		h.fail("%d public ports still reserved", h.ports.Len())
	case len(h.ranges) != 0:
		h.fail("%d passive ranges left open", len(h.ranges))
	}
	for id, ended := range h.sessions {
		if !ended {
			h.fail("session %d removed without an end effect", id)
		}
	}
	for tok := uint64(1); tok <= h.token; tok++ {
		if !h.done[tok] {
			h.fail("packet %d never got a verdict", tok)
		}
	}
}

type trackerSeed struct {
	setup uint16
	prog  []byte
}

// trackerSeeds are realistic sessions to start from deep states.
func trackerSeeds() []trackerSeed {
	const ack, psh, rst = 0x10, 0x08, 0x04
	vsftpdPASV := func() *pktfuzz.Builder {
		b := new(pktfuzz.Builder)
		return b.Handshake(0).Dialog(0,
			"S: 220 (vsFTPd 3.0.3)",
			"C: USER anonymous", "S: 331 Please specify the password.",
			"C: PASS guest", "S: 230 Login successful.",
			"C: SYST", "S: 215 UNIX Type: L8",
			"C: TYPE I", "S: 200 Switching to Binary mode.",
			"C: PASV", "S: 227 Entering Passive Mode (10,0,0,2,117,48).",
			"C: RETR hello.txt", "S: 150 Opening BINARY mode data connection for hello.txt (6 bytes).").
			Used(0).Dialog(0,
			"S: 226 Transfer complete.",
			"C: QUIT", "S: 221 Goodbye.").Close(0)
	}
	portSession := func() *pktfuzz.Builder {
		b := new(pktfuzz.Builder)
		return b.Handshake(1).Dialog(1,
			"S: 220 (vsFTPd 2.2.2)",
			"C: USER ftpuser", "S: 331 Please specify the password.",
			"C: PASS secret", "S: 230 Login successful.",
			"C: PORT 198,51,100,10,195,80", "S: 200 PORT command successful. Consider using PASV.",
			"C: LIST", "S: 150 Here comes the directory listing.").
			Used(0).Dialog(1,
			"S: 226 Directory send OK.",
			"C: EPRT |1|198.51.100.10|50001|", "S: 200 EPRT command successful. Consider using EPSV.",
			"C: NLST", "S: 425 Failed to establish connection.",
			"C: QUIT", "S: 221 Goodbye.").Close(1)
	}
	v6Session := func() *pktfuzz.Builder {
		b := new(pktfuzz.Builder)
		return b.Handshake(2).Dialog(2,
			"S: 220 ProFTPD Server ready.",
			"C: USER u", "S: 331 Password required for u",
			"C: PASS p", "S: 230 User u logged in",
			"C: EPSV", "S: 229 Entering Extended Passive Mode (|||50000|)",
			"C: STOR up.bin", "S: 150 Opening BINARY mode data connection for up.bin").
			Used(0).Dialog(2,
			"S: 226 Transfer complete",
			"C: EPRT |2|2001:db8:1::10|50001|", "S: 200 EPRT command successful",
			"C: RETR up.bin", "S: 150 Opening BINARY mode data connection",
			"S: 226 Transfer complete",
			"C: EPSV ALL", "S: 200 EPSV ALL command successful",
			"C: QUIT", "S: 221 Goodbye.").Close(2)
	}
	// Reordered and split announcements, SACK, hold timeout, a second
	// session on port 2121, TLS, REIN, a multi-line 227 and a reset.
	rough := func() *pktfuzz.Builder {
		b := new(pktfuzz.Builder)
		b.Handshake(0).Handshake(3).Dialog(0, "S: 220 ready", "C: USER a", "S: 230 ok")
		b.Dialog(3, "S: 220-welcome", "S: 220 port 2121")
		// PASV split in two, the 227 split in three with the middle late.
		b.Packet(0, 0, ack|psh, "PA").Packet(0, 0, ack|psh, "SV\r\n").Packet(0, 1, ack, "")
		b.Packet(0, 1, ack|psh, "227 Entering Passive ").
			PacketAt(0, 1, ack|psh, 11, "0,2,117,49).\r\n").
			SACK(0, 0, 11, 14).
			PacketAt(0, 1, ack|psh, -25, "Mode (10,0,").
			Packet(0, 0, ack, "")
		b.Packet(3, 0, ack|psh, "PORT 198,51,100,11,200,1").Tick(7).Packet(3, 0, ack|psh, "0\r\n").Packet(3, 1, ack, "")
		b.Dialog(3, "S: 200 ok", "C: PASV", "S: 227-Entering Passive Mode (10,0,0,3,117,50)", "S: 227 done")
		b.Resend(2).Tick(10).Tick(11)
		b.Dialog(0, "C: AUTH TLS", "S: 234 AUTH TLS successful")
		b.Packet(0, 0, ack|psh, "\x16\x03\x01\x00\x05hello").Packet(0, 1, ack|psh, "\x15\x03\x03\x00\x02\x01\x00")
		b.Packet(0, 0, ack|psh, "\x15\x03\x03\x00\x02\x01\x00CCC\r\n").Packet(0, 1, ack|psh, "200 CCC ok\r\n")
		b.Dialog(0, "C: REIN", "S: 220 again", "C: PASV", "S: 227 Entering Passive Mode (10,0,0,2,117,51)")
		b.Packet(3, 1, rst|ack, "").EndFlow(0).Tick(15)
		return b
	}
	// Damaged packets: a 227 whose checksum is wrong, one cut short, one
	// whose IP length is wrong, and a verbatim IPv6 packet with a
	// hop-by-hop header.
	damaged := func() *pktfuzz.Builder {
		b := new(pktfuzz.Builder)
		b.Handshake(0).Dialog(0, "S: 220 x", "C: PASV")
		b.Corrupt(0, 1, ack|psh, "227 Entering Passive Mode (10,0,0,2,117,52).\r\n", 53, 0x20)
		b.Dialog(0, "C: PASV").Corrupt(0, 1, ack|psh, "227 (10,0,0,2,117,53)\r\n", 50, 0)
		b.Corrupt(0, 1, ack|psh, "227 (10,0,0,2,117,54)\r\n", 3, 0x10)
		c := fuzzConns[2]
		p := pktfuzz.Build(c.Server, c.Client, 0x80000001+7, 2+6, ack|psh, []byte("229 (|||50002|)\r\n"))
		hbh := append(append(append([]byte(nil), p[:40]...), 6, 0, 1, 4, 0, 0, 0, 0), p[40:]...)
		hbh[6] = 0
		hbh[5] += 8
		b.Handshake(2).Dialog(2, "S: 220 x", "C: EPSV").Raw(hbh)
		return b
	}
	// FTPS: AUTH, TLS records, CCC with close_notify from both sides,
	// then clear text again; conn 3 (port 2121) tries AUTH too.
	ftps := func() *pktfuzz.Builder {
		b := new(pktfuzz.Builder)
		b.Handshake(0).Handshake(3).Dialog(0, "S: 220 FTPS ready", "C: AUTH TLS", "S: 234 Proceed with negotiation.")
		b.Dialog(3, "S: 220 x", "C: AUTH TLS", "S: 504 Unknown AUTH type.", "C: PASV", "S: 227 (10,0,0,3,117,60)")
		b.Packet(0, 0, ack|psh, "\x16\x03\x01\x00\x04abcd").Packet(0, 1, ack|psh, "\x16\x03\x03\x00\x03xyz\x17\x03\x03\x00\x01q")
		b.Packet(0, 0, ack|psh, "\x17\x03\x03\x00\x02zz\x15\x03\x03\x00\x02\x01\x00")
		b.Packet(0, 1, ack|psh, "\x15\x03\x03\x00\x02\x01\x00")
		b.Dialog(0, "C: PASV", "S: 227 Entering Passive Mode (10,0,0,2,117,61).", "C: QUIT", "S: 221 bye").Close(0)
		return b
	}
	// Violations: a bounce PORT, a low port EPRT, a 227 to a third host,
	// an unsolicited 229, then more data on the same connections.
	violations := func() *pktfuzz.Builder {
		b := new(pktfuzz.Builder)
		b.Handshake(0).Handshake(1).Dialog(0, "S: 220 x", "C: PORT 192,0,2,1,195,80", "S: 501 no")
		b.Dialog(1, "S: 220 y", "C: EPRT |1|198.51.100.10|25|", "S: 501 no", "C: PASV", "S: 227 (192,0,2,1,195,80)")
		b.Dialog(0, "C: NOOP", "S: 229 Entering Extended Passive Mode (|||50000|)", "C: PASV", "S: 227 (10,0,0,2,117,62)")
		b.Handshake(0).Dialog(0, "S: 220 again", "C: PORT 198,51,100,10,200,3", "S: 200 ok")
		return b
	}
	// Issue 9 F1: a 234 that ends another reply's multi-line text (the
	// client starts TLS, pairing does not say so), then a ClientHello
	// whose session ticket, chosen by the server, plants a PORT and an
	// EPRT to the client's own address.
	tlsSlip := func() *pktfuzz.Builder {
		b := new(pktfuzz.Builder)
		b.Handshake(0).Dialog(0, "S: 220 x", "C: USER a", "S: 230 ok", "C: PASV", "S: 227 Entering Passive Mode (10,0,0,2,117,70).",
			"C: AUTH TLS", "S: 200-x", "S: 234 Proceed")
		b.Packet(0, 0, ack|psh, "\x16\x03\x01\x00\x48\x01\x00\x00\x44ticket\r\nPORT 198,51,100,10,200,10\r\nEPRT |1|198.51.100.10|51300|\r\n")
		b.Dialog(0, "S: 200 ok")
		return b
	}
	return []trackerSeed{
		{0, tlsSlip().Bytes()},
		{1 << setupTLSShift, tlsSlip().Bytes()},
		{setupDNAT | setupMasq, tlsSlip().Bytes()},
		{0, ftps().Bytes()},
		{1 << setupTLSShift, ftps().Bytes()},
		{setupDNAT | 2<<setupTLSShift, ftps().Bytes()},
		{setupReset | 2<<setupTLSShift | setupBudget, ftps().Bytes()},
		{setupReset, violations().Bytes()},
		{setupReset | setupDNAT | setupMasq, violations().Bytes()},
		{0, violations().Bytes()},
		{setupBudget | setupDNAT, append(append(portSession().Bytes(), v6Session().Bytes()...), vsftpdPASV().Bytes()...)},
		{0, vsftpdPASV().Bytes()},
		{setupDNAT, vsftpdPASV().Bytes()},
		{setupDNAT | setupMasq, portSession().Bytes()},
		{setupMasq, portSession().Bytes()},
		{setupDNAT, v6Session().Bytes()},
		{0, v6Session().Bytes()},
		{setupDNAT, rough().Bytes()},
		{setupTight | setupHighPort, rough().Bytes()},
		{setupDNAT, damaged().Bytes()},
		{setupDNAT | setupDryRun, damaged().Bytes()},
		{setupDNAT | setupLookupFail | setupNoMid | setupNoBounce, append(vsftpdPASV().Bytes(), rough().Bytes()...)},
	}
}

// TestTrackerSeeds runs FuzzTracker's seeds and checks that they reach the
// states they were written for, so that the fuzzer starts deep: every seed
// opens a pinhole, and the seeds as a whole rewrite, hold, go opaque and
// clear again, and decode a packet with a wrong checksum.
func TestTrackerSeeds(t *testing.T) {
	var total Stats
	kinds := map[EffectKind]bool{}
	for i, s := range trackerSeeds() {
		h := newTrackerHarness(t, s.setup)
		h.r = pktfuzz.NewReader(s.prog, h.conns)
		for {
			op, ok := h.r.Next()
			if !ok {
				break
			}
			h.step(op)
			for _, e := range h.res.Effects {
				kinds[e.Kind] = true
			}
		}
		h.drain()
		st := h.tr.Stats
		if st.PinholesOpened == 0 {
			t.Errorf("seed %d (setup %#04x) opened no pinhole: %+v", i, s.setup, st)
		}
		total.Rewrites += st.Rewrites
		total.Held += st.Held
		total.Undecodable += st.Undecodable
		total.Modified += st.Modified
	}
	if total.Rewrites == 0 || total.Held == 0 || total.Undecodable == 0 || total.Modified == 0 {
		t.Errorf("seeds never rewrite, hold, modify or meet an undecodable packet: %+v", total)
	}
	for _, k := range []EffectKind{EffOpaque, EffClear, EffMapData, EffReset, EffOpenRange, EffCloseRange} {
		if !kinds[k] {
			t.Errorf("no seed produces a %v effect", k)
		}
	}
}
