package gateway

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/config"
	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/ctnetlink"
	"github.com/ftpalg/ftpalg/nfq"
	"github.com/ftpalg/ftpalg/rewrite"
	"github.com/ftpalg/ftpalg/rules"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// recorder is the fake kernel: every call lands in one ordered log, so a
// test can check what happened before what.
type recorder struct {
	calls    []string
	resolved *ctnetlink.Info // what Resolve answers; nil: not found
	applyErr error
	pins     map[uint64]rules.Pin
	out      map[uint32][]byte // modified packets by ID
	entries  []ctnetlink.Info  // the conntrack table Dump lists
	missing  bool              // Present reports the table gone (once)
	rebuilt  []rules.Pin       // what the last Rebuild installed
}

func (r *recorder) Apply(ch rules.Change) error {
	for _, id := range ch.Forget {
		// Consumed in the kernel: gone whether or not a batch fails.
		r.calls = append(r.calls, fmt.Sprintf("forget %d", id))
		delete(r.pins, id)
	}
	for _, p := range ch.Remove {
		r.calls = append(r.calls, fmt.Sprintf("remove %d", p.ID))
	}
	for _, p := range ch.Add {
		r.calls = append(r.calls, fmt.Sprintf("add %d %v", p.ID, p.Pinhole))
	}
	if r.applyErr != nil {
		return r.applyErr
	}
	for _, p := range ch.Remove {
		delete(r.pins, p.ID)
	}
	for _, p := range ch.Add {
		r.pins[p.ID] = p
	}
	return nil
}
func (r *recorder) Present() (bool, error) {
	gone := r.missing
	r.missing = false
	return !gone, nil
}
func (r *recorder) Rebuild(pins []rules.Pin) error {
	r.calls = append(r.calls, fmt.Sprintf("rebuild %d", len(pins)))
	r.rebuilt = pins
	clear(r.pins)
	for _, p := range pins {
		r.pins[p.ID] = p
	}
	return nil
}
func (r *recorder) Live() []rules.Pin {
	out := make([]rules.Pin, 0, len(r.pins))
	for _, p := range r.pins {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b rules.Pin) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

var _ rules.Interface = (*recorder)(nil)

func (r *recorder) Dump(family uint8, keep func(ctnetlink.Info) bool) ([]ctnetlink.Info, error) {
	r.calls = append(r.calls, fmt.Sprintf("dump %d", family))
	var out []ctnetlink.Info
	for _, e := range r.entries {
		if e.Orig.Src.Addr().Is4() == (family == 2) && keep(e) {
			out = append(out, e)
		}
	}
	return out, nil
}
func (r *recorder) Resolve(f conntrack.Flow) (ctnetlink.Info, error) {
	r.calls = append(r.calls, "resolve")
	if r.resolved == nil {
		return ctnetlink.Info{}, ctnetlink.ErrNotFound
	}
	return *r.resolved, nil
}
func (r *recorder) SetResized(orig conntrack.Tuple, mark uint32) error {
	r.calls = append(r.calls, fmt.Sprintf("resized %v %v %#x", orig.Src, orig.Dst, mark))
	return nil
}
func (r *recorder) Accept(id uint32) error {
	r.calls = append(r.calls, fmt.Sprintf("accept %d", id))
	return nil
}
func (r *recorder) AcceptModified(id uint32, b []byte) error {
	r.calls = append(r.calls, fmt.Sprintf("modified %d", id))
	r.out[id] = append([]byte(nil), b...)
	return nil
}
func (r *recorder) Drop(id uint32) error {
	r.calls = append(r.calls, fmt.Sprintf("drop %d", id))
	return nil
}

// take returns the calls since the last take.
func (r *recorder) take() string {
	s := strings.Join(r.calls, "; ")
	r.calls = r.calls[:0]
	return s
}

var (
	client   = netip.MustParseAddrPort("198.51.100.10:40000")
	server   = netip.MustParseAddrPort("10.0.0.2:21")
	public   = netip.MustParseAddrPort("203.0.113.1:21")
	testFlow = conntrack.Flow{Client: client, Server: server}
)

func newTestWorker(t testing.TB, logs io.Writer) (*worker, *recorder) {
	t.Helper()
	rec := &recorder{pins: map[uint64]rules.Pin{}, out: map[uint32][]byte{}}
	cfg := config.Default()
	d := &Engine{
		cfg:    cfg,
		log:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		table:  rec,
		ct:     rec,
		cache:  ctnetlink.NewCache(1 << 16),
		ports:  conntrack.NewPortRegistry(),
		budget: conntrack.NewBudget(),
		pins:   pinIndex{byID: map[uint64]pinRec{}, byKey: map[conntrack.Pinhole]uint64{}},
	}
	w, err := newWorker(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.q = rec
	d.workers = []*worker{w}
	return w, rec
}

// tcp builds a control-connection packet as the forward hook sees it.
func tcp(t testing.TB, fromClient bool, seq, ack uint32, syn bool, payload string) []byte {
	t.Helper()
	src, dst := client, server
	if !fromClient {
		src, dst = server, client
	}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
		SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
	tc := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Ack: ack, SYN: syn, ACK: ack != 0, PSH: payload != "", Window: 65535}
	tc.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ip, tc, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestDecisionOrder checks the wiring promise: the pinhole and its NAT
// mapping are in the kernel, and the control connection is marked resized
// (be_liberal and the ct mark bit),
// before the verdict that lets the announcing packet go; and a consumed
// pinhole's mapping is removed when its data connection shows up.
func TestDecisionOrder(t *testing.T) {
	var logs bytes.Buffer
	w, rec := newTestWorker(t, &logs)
	// The conntrack listener saw the control connection: DNAT of
	// 203.0.113.1:21 to 10.0.0.2:21.
	w.d.cache.Put(ctnetlink.Info{Proto: 6,
		Orig:  conntrack.Tuple{Src: client, Dst: public},
		Reply: conntrack.Tuple{Src: server, Dst: client}})

	const c0, s0 = 1000, 5000
	greeting := "220 ready\r\n"
	pasv := "PASV\r\n"
	// No free text before the address, and a port (1025) whose digits
	// cannot shrink: the rewrite cannot keep the line's length, so the
	// session is resized.
	reply := "227 (10,0,0,2,4,1).\r\n"
	steps := []struct {
		id   uint32
		pkt  []byte
		want string
	}{
		{1, tcp(t, true, c0, 0, true, ""), "accept 1"},
		{2, tcp(t, false, s0, c0+1, true, ""), "accept 2"},
		{3, tcp(t, true, c0+1, s0+1, false, ""), "accept 3"},
		{4, tcp(t, false, s0+1, c0+1, false, greeting), "accept 4"},
		{5, tcp(t, true, c0+1, s0+1+uint32(len(greeting)), false, pasv), "accept 5"},
		{6, tcp(t, false, s0+1+uint32(len(greeting)), c0+1+uint32(len(pasv)), false, reply),
			"add 1 198.51.100.10 -> 10.0.0.2:1025; resized 198.51.100.10:40000 203.0.113.1:21 0x4000; modified 6"},
	}
	for _, st := range steps {
		w.packet(nfq.Packet{ID: st.id, Data: st.pkt})
		if got := rec.take(); got != st.want {
			t.Fatalf("packet %d: calls %q, want %q\nlogs:\n%s", st.id, got, st.want, logs.String())
		}
	}
	var p rewrite.Packet
	if err := rewrite.Decode(rec.out[6], &p); err != nil {
		t.Fatal(err)
	}
	pin := rec.pins[1]
	pub := pin.Mapping.Dst
	if !pin.HasMap || pub.Addr() != public.Addr() || pin.Mapping.ToDst != netip.MustParseAddrPort("10.0.0.2:1025") {
		t.Fatalf("mapping %+v", pin.Mapping)
	}
	want227 := fmt.Sprintf("227 (203,0,113,1,%d,%d).\r\n", pub.Port()>>8, pub.Port()&0xff)
	if string(p.Payload) != want227 {
		t.Fatalf("227 went out as %q, want %q", p.Payload, want227)
	}

	// The client's ACK of the longer 227 is shifted back into the
	// server's sequence space; the session is not marked resized twice.
	grown := len(want227) - len(reply)
	ackOut := s0 + 1 + uint32(len(greeting)+len(reply)+grown)
	w.packet(nfq.Packet{ID: 7, Data: tcp(t, true, c0+1+uint32(len(pasv)), ackOut, false, "")})
	if got := rec.take(); got != "modified 7" {
		t.Fatalf("ACK: calls %q", got)
	}
	if err := rewrite.Decode(rec.out[7], &p); err != nil {
		t.Fatal(err)
	}
	if want := ackOut - uint32(grown); uint32(p.Ack) != want {
		t.Fatalf("ACK went out as %d, want %d", uint32(p.Ack), want)
	}

	// The data connection's conntrack NEW event carries the mark: the
	// pinhole is used, and its mapping with it, both consumed in the
	// kernel: forgotten, nothing removed. The worker is busy (a packet
	// of its queue holds it), so the message waits in its inbox.
	used := ctnetlink.Event{Type: ctnetlink.EventNew, Info: ctnetlink.Info{Proto: 6, Mark: 0x2000,
		Orig:  conntrack.Tuple{Src: netip.MustParseAddrPort("198.51.100.10:50000"), Dst: pub},
		Reply: conntrack.Tuple{Src: netip.MustParseAddrPort("10.0.0.2:1025"), Dst: netip.MustParseAddrPort("198.51.100.10:50000")}}}
	w.busy.Lock()
	w.d.ctEvent(used)
	w.busy.Unlock()
	msgs := w.ctl.take(nil)
	if len(msgs) != 1 {
		t.Fatalf("the marked data connection was routed to the pinhole's worker %d times, want once", len(msgs))
	}
	if got := rec.take(); got != "" {
		t.Fatalf("a busy worker's message was carried out at once: calls %q", got)
	}
	w.control(msgs[0], time.Now())
	if got := rec.take(); got != "forget 1" {
		t.Fatalf("used: calls %q, want only the pin forgotten", got)
	}
	if w.d.pins.len() != 0 || len(rec.pins) != 0 {
		t.Fatalf("pinhole left behind: index %d, kernel %v", w.d.pins.len(), rec.pins)
	}
	if st := w.tr.Stats; st.Rewrites != 1 || st.PinholesOpened != 1 || st.PinholesClosed != 1 || st.Refusals != 0 {
		t.Errorf("tracker stats %+v: want 1 rewrite, 1 pinhole opened and closed, no refusal", st)
	}
	for _, msg := range []string{`msg="session start"`, `msg="pinhole open"`, `msg=rewrite`, `msg="pinhole close"`, "reason=used"} {
		if !strings.Contains(logs.String(), msg) {
			t.Errorf("log lacks %s:\n%s", msg, logs.String())
		}
	}
}

// TestFailedBatch: when the kernel refuses the batch, the announcing packet
// still gets its verdict (the transfer will fail, not the session), the
// error is logged, and the pinhole is not remembered as installed.
func TestFailedBatch(t *testing.T) {
	var logs bytes.Buffer
	w, rec := newTestWorker(t, &logs)
	rec.applyErr = errors.New("netlink: no buffer space")
	w.packet(nfq.Packet{ID: 1, Data: tcp(t, true, 1000, 0, true, "")})
	w.packet(nfq.Packet{ID: 2, Data: tcp(t, false, 5000, 1001, true, "")})
	w.packet(nfq.Packet{ID: 3, Data: tcp(t, false, 5001, 1001, false, "220 ready\r\n")})
	w.packet(nfq.Packet{ID: 4, Data: tcp(t, true, 1001, 5012, false, "PASV\r\n")})
	rec.take()
	first := "227 Entering Passive Mode (10,0,0,2,117,48).\r\n"
	w.packet(nfq.Packet{ID: 5, Data: tcp(t, false, 5012, 1007, false, first)})
	got := rec.take()
	if !strings.HasSuffix(got, "accept 5") || !strings.Contains(got, "add ") {
		t.Fatalf("calls %q: want the batch attempted, then the verdict", got)
	}
	if w.d.pins.len() != 0 {
		t.Fatal("a pinhole the kernel refused is indexed as installed")
	}
	if !strings.Contains(logs.String(), "nftables batch failed") {
		t.Fatalf("no error logged:\n%s", logs.String())
	}
}

// nopQueue takes verdicts and does nothing, for benchmarks.
type nopQueue struct{}

func (nopQueue) Accept(uint32) error                 { return nil }
func (nopQueue) AcceptModified(uint32, []byte) error { return nil }
func (nopQueue) Drop(uint32) error                   { return nil }

// BenchmarkWorkerSteadyPacket is the daemon's userspace cost for one
// control packet on an established session with nothing to announce:
// flow check, Tracker, verdict (the netlink send itself is not included).
func BenchmarkWorkerSteadyPacket(b *testing.B) {
	t := b
	w, _ := newTestWorker(t, io.Discard)
	w.q = nopQueue{}
	w.d.cache.Put(ctnetlink.Info{Proto: 6, Orig: conntrack.Tuple{Src: client, Dst: server}, Reply: conntrack.Tuple{Src: server, Dst: client}})
	w.packet(nfq.Packet{ID: 1, Data: tcp(t, true, 1000, 0, true, "")})
	w.packet(nfq.Packet{ID: 2, Data: tcp(t, false, 5000, 1001, true, "")})
	greeting := tcp(t, false, 5001, 1001, false, "220 ready\r\n")
	w.packet(nfq.Packet{ID: 3, Data: greeting})
	// The same pure ACK again and again: a duplicate ACK, inspected in full.
	ack := tcp(t, true, 1001, 5012, false, "")
	pkt := make([]byte, len(ack))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		copy(pkt, ack)
		w.packet(nfq.Packet{ID: uint32(i), Data: pkt})
	}
}

// TestLookupOnAnnouncement: when no conntrack event filled the cache, the
// kernel is asked once, when the first announcement needs the tuples, and
// never for the packets before it.
func TestLookupOnAnnouncement(t *testing.T) {
	var logs bytes.Buffer
	w, rec := newTestWorker(t, &logs)
	rec.resolved = &ctnetlink.Info{Proto: 6,
		Orig:  conntrack.Tuple{Src: client, Dst: public},
		Reply: conntrack.Tuple{Src: server, Dst: client}}
	w.packet(nfq.Packet{ID: 1, Data: tcp(t, true, 1000, 0, true, "")})
	w.packet(nfq.Packet{ID: 2, Data: tcp(t, false, 5000, 1001, true, "")})
	w.packet(nfq.Packet{ID: 3, Data: tcp(t, false, 5001, 1001, false, "220 ready\r\n")})
	w.packet(nfq.Packet{ID: 4, Data: tcp(t, true, 1001, 5012, false, "PASV\r\n")})
	if got := rec.take(); got != "accept 1; accept 2; accept 3; accept 4" {
		t.Fatalf("before the announcement: calls %q", got)
	}
	first := "227 (10,0,0,2,4,1).\r\n"
	w.packet(nfq.Packet{ID: 5, Data: tcp(t, false, 5012, 1007, false, first)})
	want := "resolve; add 1 198.51.100.10 -> 10.0.0.2:1025; resized 198.51.100.10:40000 203.0.113.1:21 0x4000; modified 5"
	if got := rec.take(); got != want {
		t.Fatalf("announcement: calls %q, want %q\nlogs:\n%s", got, want, logs.String())
	}
	w.packet(nfq.Packet{ID: 6, Data: tcp(t, true, 1007, 5012, false, "PASV\r\n")})
	w.packet(nfq.Packet{ID: 7, Data: tcp(t, false, 5012+uint32(len(first)), 1013, false, "227 Entering Passive Mode (10,0,0,2,117,49).\r\n")})
	if got := rec.take(); strings.Contains(got, "resolve") || !strings.Contains(got, "add 2 198.51.100.10 -> 10.0.0.2:30001") {
		t.Fatalf("second announcement: calls %q; want its pinhole and no second kernel query", got)
	}
}

// TestResetOrder: under violation: reset, the reset flow is in nftables
// before the refused line's packet leaves as a RST, and later packets of
// the flow are dropped.
func TestResetOrder(t *testing.T) {
	var logs bytes.Buffer
	w, rec := newTestWorker(t, &logs)
	pol := w.d.cfg.Policy
	pol.Violation = conntrack.ViolationReset
	tr, err := conntrack.NewTracker(conntrack.Config{Policy: pol, ControlPorts: []uint16{21}, NAT: workerNAT{w}, Ports: w.d.ports, Budget: w.d.budget})
	if err != nil {
		t.Fatal(err)
	}
	w.tr = tr
	const c0, s0 = 1000, 5000
	greeting := "220 ready\r\n"
	port := "PORT 192,0,2,1,19,137\r\n"
	for id, pkt := range [][]byte{
		tcp(t, true, c0, 0, true, ""),
		tcp(t, false, s0, c0+1, true, ""),
		tcp(t, true, c0+1, s0+1, false, ""),
		tcp(t, false, s0+1, c0+1, false, greeting),
	} {
		w.packet(nfq.Packet{ID: uint32(id + 1), Data: pkt})
	}
	rec.take()
	w.packet(nfq.Packet{ID: 5, Data: tcp(t, true, c0+1, s0+1+uint32(len(greeting)), false, port)})
	want := fmt.Sprintf("resolve; add %d invalid IP -> invalid AddrPort; modified 5", rules.ResetID(1))
	if got := rec.take(); got != want {
		t.Fatalf("calls %q, want %q\nlogs:\n%s", got, want, logs.String())
	}
	p := rec.pins[rules.ResetID(1)]
	if p.Kind != rules.KindReset || p.Flow != testFlow {
		t.Fatalf("reset pin %+v, want the flow %v", p, testFlow)
	}
	var out rewrite.Packet
	if err := rewrite.Decode(rec.out[5], &out); err != nil {
		t.Fatal(err)
	}
	if out.Flags != rewrite.FlagRST|rewrite.FlagACK || uint32(out.Seq) != c0+1 || len(out.Payload) != 0 {
		t.Fatalf("refused PORT went out as flags %#x seq %d payload %q, want RST|ACK at %d", out.Flags, out.Seq, out.Payload, c0+1)
	}
	if !strings.Contains(logs.String(), "msg=reset") || !strings.Contains(logs.String(), "reason=bounce") {
		t.Fatalf("no reset log line:\n%s", logs.String())
	}
	w.packet(nfq.Packet{ID: 6, Data: tcp(t, false, s0+1+uint32(len(greeting)), c0+1, false, "200 ok\r\n")})
	if got := rec.take(); got != "drop 6" {
		t.Fatalf("packet after the reset: calls %q, want drop", got)
	}
}

// Reset flows are never closed one by one: the index forgets them, like
// any record, once their kernel timeout has passed.
func TestPinIndexForgetsExpired(t *testing.T) {
	x := pinIndex{byID: map[uint64]pinRec{}, byKey: map[conntrack.Pinhole]uint64{}}
	t0 := time.Unix(1_700_000_000, 0)
	x.add(nil, rules.Pin{ID: rules.ResetID(1), Kind: rules.KindReset, Flow: testFlow, Timeout: 2 * time.Second}, t0)
	x.add(nil, rules.Pin{ID: 7, Pinhole: conntrack.Pinhole{Src: client.Addr(), Dst: server}, Timeout: time.Minute}, t0.Add(time.Second))
	if x.len() != 2 {
		t.Fatalf("%d records, want 2", x.len())
	}
	x.add(nil, rules.Pin{ID: 8, Pinhole: conntrack.Pinhole{Src: client.Addr(), Dst: public}, Timeout: time.Minute}, t0.Add(15*time.Second))
	if _, ok := x.byID[rules.ResetID(1)]; ok || x.len() != 2 {
		t.Fatalf("expired reset flow still indexed: %d records", x.len())
	}
}

// TestUnresizedSessionIsNotMarked: a session whose 227 needs no rewrite
// (no NAT), or a rewrite of the same length, never changes length: no
// conntrack update, no be_liberal, no resized mark. One whose 227 must
// grow is marked once, before the 227 leaves.
func TestUnresizedSessionIsNotMarked(t *testing.T) {
	var logs bytes.Buffer
	w, rec := newTestWorker(t, &logs)
	reply := "227 Entering Passive Mode (10,0,0,2,117,48).\r\n"
	pasvExchange(t, w, server, reply, true)
	got := rec.take()
	if strings.Contains(got, "resized") || strings.Contains(got, "modified") || !strings.Contains(got, "add 1 ") {
		t.Fatalf("calls %q: want the pinhole, no modified packet and no resized mark", got)
	}
	if w.markedResized.Load() != 0 || w.tr.Stats.Resized != 0 || strings.Contains(logs.String(), "session resized") {
		t.Fatalf("an unresized session was counted or logged as resized:\n%s", logs.String())
	}

	// DNAT: the 227's address grows by 3 bytes, and its free text
	// shrinks by as much: rewritten, but the same length, so not
	// resized either.
	w1, rec1 := newTestWorker(t, &logs)
	pasvExchange(t, w1, public, reply, false)
	if got := rec1.take(); strings.Contains(got, "resized") || !strings.Contains(got, "modified 5") {
		t.Fatalf("calls %q: want the 227 rewritten and no resized mark", got)
	}
	if w1.markedResized.Load() != 0 || strings.Contains(logs.String(), "session resized") {
		t.Fatalf("a same-length rewrite marked the session resized:\n%s", logs.String())
	}

	// DNAT, and a 227 without free text whose port's digits cannot
	// shrink: the line must grow, the session is resized, once.
	reply = "227 (10,0,0,2,4,1)\r\n"
	w2, rec2 := newTestWorker(t, &logs)
	pasvExchange(t, w2, public, reply, false,
		tcp(t, true, exC0+1+uint32(len(exPASV)), exS0+1+uint32(len(exGreeting)), false, exPASV))
	if got := rec2.take(); strings.Count(got, "resized ") != 1 || strings.Index(got, "resized ") > strings.Index(got, "modified 5") {
		t.Fatalf("calls %q: want the session marked resized exactly once", got)
	}
	if w2.markedResized.Load() != 1 || w2.tr.Stats.Resized != 1 || !strings.Contains(logs.String(), `msg="session resized"`) {
		t.Fatalf("resized session: marked %d, tracker %d; logs:\n%s", w2.markedResized.Load(), w2.tr.Stats.Resized, logs.String())
	}
}

// TestEarlierResizedSessionsReset: control connections that carry the
// resized mark but are no session of this process were resized by an
// earlier run: they get reset pins (both directions), at start-up and
// when the table is rebuilt, and lose them when conntrack destroys them.
// Closed entries, unmarked ones, other ports and this run's own resized
// sessions are left alone.
func TestEarlierResizedSessionsReset(t *testing.T) {
	var logs bytes.Buffer
	w, rec := newTestWorker(t, &logs)
	d := w.d
	entry := func(cli, srv, pub string, mark uint32, state uint8) ctnetlink.Info {
		c, s := netip.MustParseAddrPort(cli), netip.MustParseAddrPort(srv)
		return ctnetlink.Info{Proto: 6, Mark: mark, TCPState: state,
			Orig:  conntrack.Tuple{Src: c, Dst: netip.MustParseAddrPort(pub)},
			Reply: conntrack.Tuple{Src: s, Dst: c}}
	}
	earlier4 := entry("198.51.100.10:40001", "10.0.0.2:21", "203.0.113.1:21", 0x4000|0x1, 3)
	earlier6 := entry("[2001:db8::10]:40002", "[fd00::2]:21", "[2001:db8:ffff::1]:21", 0x4000, 3)
	ours := entry("198.51.100.10:40003", "10.0.0.2:21", "203.0.113.1:21", 0x4000, 3)
	rec.entries = []ctnetlink.Info{
		earlier4, earlier6, ours,
		entry("198.51.100.10:40004", "10.0.0.2:21", "203.0.113.1:21", 0x4000, ctnetlink.TCPStateTimeWait), // closed
		entry("198.51.100.10:40005", "10.0.0.2:21", "203.0.113.1:21", 0x2000, 3),                          // not resized
		entry("198.51.100.10:40006", "10.0.0.2:2121", "203.0.113.1:2121", 0x4000, 3),                      // not a control port
	}
	d.resized.add(ours.Flow())

	t0 := time.Now()
	pins := d.resetEarlier(t0)
	if len(pins) != 2 || pins[0].Flow != earlier4.Flow() || pins[1].Flow != earlier6.Flow() {
		t.Fatalf("reset pins %+v, want the two earlier-run connections", pins)
	}
	for _, p := range pins {
		if p.Kind != rules.KindReset || p.ID&earlierPinBase != earlierPinBase || p.Timeout != d.cfg.Policy.SessionIdle {
			t.Errorf("pin %+v: want a reset pin with an earlier-run ID and timeout session_idle", p)
		}
		d.pins.add(w, p, t0) // as Run does once the table is open
	}
	if n := strings.Count(logs.String(), `msg="resized session from an earlier run: reset"`); n != 2 {
		t.Fatalf("%d reset log lines, want 2:\n%s", n, logs.String())
	}
	if again := d.resetEarlier(t0); len(again) != 0 {
		t.Fatalf("the same connections reset twice: %+v", again)
	}

	// The table goes missing; meanwhile another marked connection shows
	// up. The rebuild puts back the resets and adds the new one.
	later := entry("198.51.100.12:40007", "10.0.0.2:21", "203.0.113.1:21", 0x4000, 3)
	rec.entries = append(rec.entries, later)
	rec.missing = true
	rec.take()
	d.watchdog()
	if got := rec.take(); got != "dump 2; dump 10; rebuild 3" {
		t.Fatalf("watchdog: calls %q", got)
	}
	flows := map[conntrack.Flow]bool{}
	for _, p := range rec.rebuilt {
		flows[p.Flow] = true
	}
	if len(flows) != 3 || !flows[later.Flow()] || !flows[earlier4.Flow()] || !flows[earlier6.Flow()] {
		t.Fatalf("rebuilt with %+v", rec.rebuilt)
	}

	// conntrack destroys an earlier connection: its reset pin goes.
	d.ctEvent(ctnetlink.Event{Type: ctnetlink.EventDestroy, Info: earlier4})
	for _, m := range w.ctl.take(nil) {
		w.control(m, time.Now())
	}
	id := pins[0].ID
	if got := rec.take(); !strings.Contains(got, fmt.Sprintf("remove %d", id)) {
		t.Fatalf("destroy of an earlier resized connection: calls %q, want its reset pin removed", got)
	}
	if _, ok := rec.pins[id]; ok || d.pins.len() != 2 {
		t.Fatalf("reset pin still there: kernel %v, index %d", rec.pins, d.pins.len())
	}
	if live, total := d.earlier.counts(); live != 2 || total != 3 {
		t.Fatalf("earlier resets: %d live, %d in all; want 2 and 3", live, total)
	}
}

// TestSendOrder: a control message to an idle worker with an empty inbox
// is carried out at once on the sender's goroutine; one to a busy worker,
// or to one whose inbox holds messages, waits behind them.
func TestSendOrder(t *testing.T) {
	w, _ := newTestWorker(t, io.Discard)
	var order []int
	run := func(n int) ctlMsg {
		return ctlMsg{kind: ctlRun, run: func(*worker, time.Time) { order = append(order, n) }}
	}
	w.send(run(1))
	if len(order) != 1 || len(w.ctl.take(nil)) != 0 {
		t.Fatalf("idle worker: ran %v, want [1] at once and an empty inbox", order)
	}
	w.busy.Lock()
	w.send(run(2))
	w.busy.Unlock()
	w.send(run(3)) // idle, but 2 waits: 3 must not overtake it
	if len(order) != 1 {
		t.Fatalf("ran %v while 2 waited in the inbox, want only [1]", order)
	}
	for _, m := range w.ctl.take(nil) {
		w.control(m, time.Now())
	}
	if want := []int{1, 2, 3}; !slices.Equal(order, want) {
		t.Fatalf("ran %v, want %v", order, want)
	}
}
