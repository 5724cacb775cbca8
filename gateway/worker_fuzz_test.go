package gateway

import (
	"fmt"
	"io"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/ctnetlink"
	"github.com/ftpalg/ftpalg/internal/pktfuzz"
	"github.com/ftpalg/ftpalg/nfq"
	"github.com/ftpalg/ftpalg/rules"
)

// FuzzWorker runs raw packets through the daemon's worker with the
// recording fake kernel: prog is a pktfuzz program (framed packets of four
// control connections, one on a port that is not a control port, packets
// with wrong lengths or checksums, verbatim bytes, time steps, data
// connections reported by conntrack events, control connections
// destroyed); setup picks what the kernel knows (see the workerSetup
// bits). Whatever the input: no panic; every queued packet gets exactly
// one verdict, and by the end every one has its verdict; within each step
// the nftables batch, the conntrack queries and the resized mark (with
// be_liberal) all come before
// the first verdict, so a pinhole is in the kernel before the packet
// announcing it leaves; modified packets parse and keep their checksum
// residuals; the fake kernel holds exactly the tracker's outstanding
// pinholes (when batches succeed), and nothing once every timeout passed.
func FuzzWorker(f *testing.F) {
	for _, s := range workerSeeds() {
		f.Add(s.setup, s.prog)
	}
	f.Fuzz(func(t *testing.T, setup byte, prog []byte) {
		if len(prog) > 1<<14 {
			return
		}
		h := newWorkerHarness(t, setup)
		r := pktfuzz.NewReader(prog, fuzzConns)
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

// Connections of the fuzz programs as the forward hook sees them; the
// last one is on port 2121, not a control port of the default config.
var fuzzConns = []pktfuzz.Conn{
	{Client: client, Server: server, ISN: [2]uint32{1000, 5000}},
	{Client: netip.MustParseAddrPort("198.51.100.10:40001"), Server: server, ISN: [2]uint32{0xfffffff0, 0x7ffffff0}},
	{Client: netip.MustParseAddrPort("[2001:db8:1::10]:40002"), Server: netip.MustParseAddrPort("[fd00::2]:21"), ISN: [2]uint32{1, 2}},
	{Client: netip.MustParseAddrPort("198.51.100.11:40003"), Server: netip.MustParseAddrPort("10.0.0.3:2121"), ISN: [2]uint32{3, 4}},
}

// Setup bits of FuzzWorker.
const (
	workerCached   = 1 << 0 // conntrack events put the DNAT tuples in the cache
	workerResolves = 1 << 1 // a kernel query answers with the DNAT tuples
	workerApplyErr = 1 << 2 // every nftables batch fails
	workerReset    = 1 << 3 // policy.violation: reset
	workerBudget   = 1 << 4 // two pinholes per client, three in total
	// Bits 5-6: FTPS policy of port 21 (0 block, the default; 1 allow;
	// 2 and 3 passthrough-range 30000-30100); 2121 becomes a control
	// port with the next policy.
	workerTLSShift = 5
)

// workerTLS returns the FTPS policies of ports 21 and 2121 under setup.
func workerTLS(setup byte) map[uint16]conntrack.TLSRule {
	modes := []conntrack.TLSMode{conntrack.TLSBlock, conntrack.TLSAllow, conntrack.TLSPassthroughRange, conntrack.TLSPassthroughRange}
	m := int(setup>>workerTLSShift) & 3
	rule := func(mode conntrack.TLSMode) conntrack.TLSRule {
		if mode == conntrack.TLSPassthroughRange {
			return conntrack.TLSRule{Mode: mode, PassiveLo: 30000, PassiveHi: 30100}
		}
		return conntrack.TLSRule{Mode: mode}
	}
	return map[uint16]conntrack.TLSRule{21: rule(modes[m]), 2121: rule(modes[(m+1)%3])}
}

// dnatInfo is connection c's conntrack entry with the server published at
// 203.0.113.1 (2001:db8:ffff::1 for IPv6).
func dnatInfo(c pktfuzz.Conn) ctnetlink.Info {
	pub := netip.MustParseAddr("203.0.113.1")
	if c.Server.Addr().Is6() {
		pub = netip.MustParseAddr("2001:db8:ffff::1")
	}
	return ctnetlink.Info{Proto: 6,
		Orig:  conntrack.Tuple{Src: c.Client, Dst: netip.AddrPortFrom(pub, c.Server.Port())},
		Reply: conntrack.Tuple{Src: c.Server, Dst: c.Client}}
}

type workerHarness struct {
	t     *testing.T
	setup byte
	w     *worker
	rec   *recorder
	r     *pktfuzz.Reader
	now   time.Time
	id    uint32
	in    map[uint32][]byte // queued packets as they arrived
	done  map[uint32]string // verdicts given
	log   []string
	verbs map[string]int         // calls to the fake kernel by verb
	late  int                    // verdicts given in a later step than their packet's
	cur   uint32                 // the packet of the current step, 0 if none
	kinds map[rules.PinKind]bool // kinds of kernel elements seen
}

func newWorkerHarness(t *testing.T, setup byte) *workerHarness {
	w, rec := newTestWorker(t, io.Discard)
	if setup&(workerReset|workerBudget|3<<workerTLSShift) != 0 {
		// The worker again, as newWorker makes it from this config.
		cfg := &w.d.cfg
		if setup&workerReset != 0 {
			cfg.Policy.Violation = conntrack.ViolationReset
		}
		if setup&workerBudget != 0 {
			cfg.Policy.MaxClientPinholes, cfg.Policy.MaxTotalPinholes = 2, 3
		}
		cfg.ControlPorts = []uint16{21, 2121}
		cfg.TLS = workerTLS(setup)
		nw, err := newWorker(w.d, 0)
		if err != nil {
			t.Fatal(err)
		}
		nw.q = rec
		w.d.workers = []*worker{nw}
		w = nw
	}
	h := &workerHarness{t: t, setup: setup, w: w, rec: rec, now: time.Unix(1_700_000_000, 0),
		in: map[uint32][]byte{}, done: map[uint32]string{}, verbs: map[string]int{}, kinds: map[rules.PinKind]bool{}}
	if setup&workerCached != 0 {
		for _, c := range fuzzConns {
			w.d.cache.Put(dnatInfo(c))
		}
	}
	if setup&workerResolves != 0 {
		// The kernel knows connection 0 only; other lookups miss.
		info := dnatInfo(fuzzConns[0])
		rec.resolved = &info
	}
	if setup&workerApplyErr != 0 {
		rec.applyErr = fmt.Errorf("netlink: no buffer space")
	}
	return h
}

func (h *workerHarness) fail(format string, args ...any) {
	h.t.Helper()
	tail := h.log[max(0, len(h.log)-30):]
	h.t.Fatalf("%s\nsetup %#02x, last steps:\n  %s", fmt.Sprintf(format, args...), h.setup, strings.Join(tail, "\n  "))
}

func (h *workerHarness) step(op pktfuzz.Op) {
	switch op.Kind {
	case pktfuzz.Packet:
		h.id++
		h.in[h.id] = append([]byte(nil), op.Packet...)
		h.log = append(h.log, fmt.Sprintf("packet %d raw=%v % x", h.id, op.Raw, op.Packet[:min(len(op.Packet), 64)]))
		h.cur = h.id
		h.w.packetAt(nfq.Packet{ID: h.id, Data: op.Packet}, h.now)
		h.check()
		h.cur = 0
	case pktfuzz.Tick:
		h.tick(op.Advance)
	case pktfuzz.Used:
		// The data connection of an installed pinhole shows up: its
		// conntrack NEW event carries the mark.
		ids := make([]uint64, 0, len(h.rec.pins))
		for id, p := range h.rec.pins {
			if p.Kind == rules.KindPinhole {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			return
		}
		slices.Sort(ids)
		p := h.rec.pins[ids[op.Index%len(ids)]]
		h.log = append(h.log, fmt.Sprintf("used %d %v", p.ID, p.Pinhole))
		src := netip.AddrPortFrom(p.Pinhole.Src, 50000)
		h.w.d.ctEvent(ctnetlink.Event{Type: ctnetlink.EventNew, Info: ctnetlink.Info{Proto: 6, Mark: h.w.d.cfg.Pinhole.Mark,
			Orig:  conntrack.Tuple{Src: src, Dst: p.Pinhole.Dst},
			Reply: conntrack.Tuple{Src: p.Pinhole.Dst, Dst: src}}})
		h.control()
		if _, still := h.rec.pins[p.ID]; still {
			h.fail("pinhole %d still in the kernel after its data connection started", p.ID)
		}
	case pktfuzz.EndFlow:
		c := fuzzConns[op.Conn]
		h.log = append(h.log, fmt.Sprintf("destroy %d", op.Conn))
		h.w.d.ctEvent(ctnetlink.Event{Type: ctnetlink.EventDestroy, Info: dnatInfo(c)})
		h.control()
	}
}

// control carries out the messages conntrack events routed to the worker.
func (h *workerHarness) control() {
	for _, m := range h.w.ctl.take(nil) {
		h.w.control(m, h.now)
		h.check()
	}
}

func (h *workerHarness) tick(d time.Duration) {
	h.now = h.now.Add(d)
	h.log = append(h.log, fmt.Sprintf("tick +%v", d))
	h.w.tick(h.now)
	h.check()
}

// check reads the calls of one step from the fake kernel.
func (h *workerHarness) check() {
	h.t.Helper()
	calls := h.rec.take()
	if calls == "" {
		return
	}
	h.log = append(h.log, "  "+calls)
	verdicts, resetAdded := false, false
	for _, c := range strings.Split(calls, "; ") {
		verb, arg, _ := strings.Cut(c, " ")
		h.verbs[verb]++
		switch verb {
		case "accept", "modified", "drop":
			verdicts = true
			n, err := strconv.ParseUint(arg, 10, 32)
			if err != nil {
				h.fail("verdict call %q", c)
			}
			id := uint32(n)
			if _, queued := h.in[id]; !queued {
				h.fail("verdict %q for packet %d, which was never queued", verb, id)
			}
			if prev, ok := h.done[id]; ok {
				h.fail("packet %d: second verdict %q after %q", id, verb, prev)
			}
			h.done[id] = verb
			if id != h.cur {
				h.late++
			}
			var out []byte
			switch verb {
			case "accept":
				out = h.in[id]
			case "modified":
				out = h.rec.out[id]
				h.checkOut(id, out, resetAdded)
			}
			if out != nil {
				h.r.Delivered(out)
			}
		default:
			// Batches, conntrack queries, the resized mark: whatever the
			// kernel is asked must be done before a packet leaves.
			if verdicts {
				h.fail("%q after a verdict in the same step: %s", c, calls)
			}
			if id, _, ok := strings.Cut(arg, " "); verb == "add" && ok {
				n, _ := strconv.ParseUint(id, 10, 64)
				resetAdded = resetAdded || n == rules.ResetID(n&^(1<<63))
			}
		}
	}
	for _, p := range h.rec.pins {
		h.kinds[p.Kind] = true
	}
	if h.rec.applyErr == nil {
		if got, want := h.kernelPins(rules.KindPinhole), h.w.tr.Pinholes(); got != want {
			h.fail("kernel holds %d pinholes, the tracker %d", got, want)
		}
		if got, want := h.w.d.pins.len(), len(h.rec.pins); got != want {
			h.fail("pinhole index holds %d, the kernel %d", got, want)
		}
		h.checkIndex(false)
	} else if len(h.rec.pins) != 0 || h.w.d.pins.len() != 0 {
		h.fail("failed batches installed pinholes: kernel %d, index %d", len(h.rec.pins), h.w.d.pins.len())
	}
}

// kernelPins counts the fake kernel's elements of one kind.
func (h *workerHarness) kernelPins(kind rules.PinKind) int {
	n := 0
	for _, p := range h.rec.pins {
		if p.Kind == kind {
			n++
		}
	}
	return n
}

func (h *workerHarness) checkOut(id uint32, out []byte, reset bool) {
	h.t.Helper()
	in := h.in[id]
	vi, ok := pktfuzz.View(in)
	if !ok {
		h.fail("packet %d: modified, yet the independent parser rejects it: % x", id, in)
	}
	vo, ok := pktfuzz.View(out)
	if !ok || vo.IPLen != len(out) {
		h.fail("packet %d: modified packet malformed (parses %v, %d bytes, IP length %d): % x", id, ok, len(out), vo.IPLen, out)
	}
	if vo.Flags&^0x10 == 0x04 && vo.Flags != vi.Flags {
		// Turned into a RST by a reset: only after the reset flow went
		// to the kernel, with right checksums.
		if !reset {
			h.fail("packet %d became a RST without a reset flow added before it", id)
		}
		if ipr, tcpr := pktfuzz.Residuals(out, vo); ipr != 0 || tcpr != 0 || len(vo.Payload) != 0 || vo.Src != vi.Src || vo.Dst != vi.Dst {
			h.fail("packet %d: RST %+v with residuals %#x %#x", id, vo, ipr, tcpr)
		}
		return
	}
	if vo.Src != vi.Src || vo.Dst != vi.Dst || vo.Flags != vi.Flags {
		h.fail("packet %d: modified packet changed its header: %+v -> %+v", id, vi, vo)
	}
	ii, it := pktfuzz.Residuals(in, vi)
	oi, ot := pktfuzz.Residuals(out, vo)
	if ii != oi || it != ot {
		h.fail("packet %d: checksum residuals IP %#x TCP %#x in, IP %#x TCP %#x out", id, ii, it, oi, ot)
	}
}

// drain lets every timeout pass and checks that every packet got its
// verdict and nothing is left in the kernel.
func (h *workerHarness) drain() {
	h.t.Helper()
	pol := h.w.d.cfg.Policy
	for _, d := range []time.Duration{pol.HoldTimeout + time.Millisecond, pol.PinholeTimeout + time.Second,
		pol.ClosedLinger + time.Second, pol.SessionIdle + time.Second} {
		h.tick(d)
	}
	for id := uint32(1); id <= h.id; id++ {
		if _, ok := h.done[id]; !ok {
			h.fail("packet %d never got a verdict", id)
		}
	}
	// Reset flows stay in the kernel until their own timeout, which the
	// fake does not model; pinholes and ranges must be gone.
	pins, ranges := h.kernelPins(rules.KindPinhole), h.kernelPins(rules.KindRange)
	if pins+ranges != 0 || h.w.tr.Sessions() != 0 {
		h.fail("left after every timeout: kernel pinholes %d, ranges %d, sessions %d", pins, ranges, h.w.tr.Sessions())
	}
	h.checkIndex(true)
}

// checkIndex holds the daemon's pinhole index to what it promises
// (daemon.go, pinIndex: "knows every pinhole in the kernel ... and what to
// put back if the table is rebuilt"), after every step: each record is an
// element the fake kernel holds, with the same content (a rebuild puts
// back exactly that), owned by the worker; the by-key index points only at
// one-shot pinhole records of that key. At the end, once every timeout
// has passed, no pinhole or range record is left, and snapshot, what a
// rebuild would install now, is empty. A failed batch installs nothing,
// so then the kernel and the index stay empty.
func (h *workerHarness) checkIndex(end bool) {
	h.t.Helper()
	x := &h.w.d.pins
	x.mu.Lock()
	byID, byKey := maps.Clone(x.byID), maps.Clone(x.byKey)
	x.mu.Unlock()
	for id, r := range byID {
		k, ok := h.rec.pins[id]
		switch {
		case !ok:
			h.fail("pinhole index holds %d (%+v), which the kernel does not", id, r.pin)
		case !reflect.DeepEqual(k, r.pin):
			h.fail("pinhole index record %d is %+v, the kernel element %+v", id, r.pin, k)
		case end && r.pin.Kind != rules.KindReset:
			h.fail("pinhole index still holds %d of kind %d after every timeout", id, r.pin.Kind)
		}
		if r.owner != h.w {
			h.fail("pinhole index record %d owned by %p, not the worker %p", id, r.owner, h.w)
		}
	}
	for key, id := range byKey {
		if r, ok := byID[id]; !ok || r.pin.Kind != rules.KindPinhole || r.pin.Pinhole != key {
			h.fail("pinhole index by key: %v -> %d, record %+v (present %v)", key, id, r.pin, ok)
		}
	}
	if !end {
		return
	}
	if snap := x.snapshot(h.now); len(snap) != 0 {
		h.fail("after every timeout a table rebuild would put back %d elements: %+v", len(snap), snap)
	}
}

type workerSeed struct {
	setup byte
	prog  []byte
}

// workerSeeds are realistic sessions: vsftpd PASV behind DNAT with the
// tuples from conntrack events, a PORT session whose tuples come from a
// kernel query, IPv6 EPSV/EPRT, a split announcement held and released by
// time, a destroyed control connection and damaged packets.
func workerSeeds() []workerSeed {
	const ack, psh = 0x10, 0x08
	pasv := new(pktfuzz.Builder).Handshake(0).Dialog(0,
		"S: 220 (vsFTPd 3.0.3)",
		"C: USER anonymous", "S: 331 Please specify the password.",
		"C: PASS guest", "S: 230 Login successful.",
		"C: TYPE I", "S: 200 Switching to Binary mode.",
		"C: PASV", "S: 227 Entering Passive Mode (10,0,0,2,117,48).",
		"C: RETR hello.txt", "S: 150 Opening BINARY mode data connection for hello.txt (6 bytes).").
		Used(0).Dialog(0, "S: 226 Transfer complete.", "C: QUIT", "S: 221 Goodbye.").Close(0)
	// A 227 without free text: the rewritten address cannot keep the
	// line's length, so the session is resized.
	bare := new(pktfuzz.Builder).Handshake(0).Dialog(0,
		"S: 220 x", "C: PASV", "S: 227 (10,0,0,2,4,2)", "C: RETR a").
		Used(0).Dialog(0, "S: 226 ok", "C: NOOP", "S: 200 ok", "C: QUIT", "S: 221 bye").Close(0)
	port := new(pktfuzz.Builder).Handshake(0).Dialog(0,
		"S: 220 (vsFTPd 2.2.2)",
		"C: PORT 198,51,100,10,195,80", "S: 200 PORT command successful. Consider using PASV.",
		"C: LIST", "S: 150 Here comes the directory listing.").
		Used(0).Dialog(0, "S: 226 Directory send OK.",
		"C: EPRT |1|198.51.100.10|50001|", "S: 500 Illegal EPRT command.").
		EndFlow(0).Tick(8)
	v6 := new(pktfuzz.Builder).Handshake(2).Dialog(2,
		"S: 220 ProFTPD Server ready.",
		"C: EPSV", "S: 229 Entering Extended Passive Mode (|||50000|)",
		"C: STOR up.bin", "S: 150 Opening BINARY mode data connection for up.bin").
		Used(0).Dialog(2, "S: 226 Transfer complete",
		"C: EPRT |2|2001:db8:1::10|50001|", "S: 200 EPRT command successful").Close(2)
	rough := new(pktfuzz.Builder).Handshake(1).Handshake(3).Dialog(1, "S: 220 x", "C: PASV").
		Packet(1, 1, ack|psh, "227 Entering Passive ").Tick(3).
		PacketAt(1, 1, ack|psh, 11, "0,2,117,49).\r\n").
		PacketAt(1, 1, ack|psh, -25, "Mode (10,0,").Tick(7).
		Dialog(3, "S: 220 y", "C: PASV", "S: 227 (10,0,0,3,200,1)").
		Dialog(1, "C: PASV").Corrupt(1, 1, ack|psh, "227 Entering Passive Mode (10,0,0,2,117,50).\r\n", 53, 0x20).
		Resend(0).Tick(11)
	ftps := new(pktfuzz.Builder).Handshake(0).Handshake(3).
		Dialog(0, "S: 220 FTPS", "C: AUTH TLS", "S: 234 Proceed with negotiation.").
		Dialog(3, "S: 220 x", "C: AUTH TLS", "S: 504 Unknown AUTH type.", "C: PASV", "S: 227 (10,0,0,3,117,60)").
		Packet(0, 0, ack|psh, "\x16\x03\x01\x00\x04abcd").Packet(0, 1, ack|psh, "\x15\x03\x03\x00\x02\x01\x00").
		Packet(0, 0, ack|psh, "\x15\x03\x03\x00\x02\x01\x00").
		Dialog(0, "C: PASV", "S: 227 Entering Passive Mode (10,0,0,2,117,61).", "C: QUIT", "S: 221 bye").Close(0)
	bounce := new(pktfuzz.Builder).Handshake(0).Handshake(1).
		Dialog(0, "S: 220 x", "C: PORT 192,0,2,1,195,80", "S: 501 no").
		Dialog(1, "S: 220 y", "C: PASV", "S: 227 (10,0,0,2,117,63)", "C: PASV", "S: 227 (192,0,2,1,195,80)").
		Handshake(0).Dialog(0, "S: 220 again", "C: PORT 198,51,100,10,200,3", "S: 200 ok")
	return []workerSeed{
		{workerCached, bare.Bytes()},
		{workerCached, ftps.Bytes()},
		{workerCached | 1<<workerTLSShift, ftps.Bytes()},
		{workerCached | 2<<workerTLSShift | workerBudget, ftps.Bytes()},
		{workerReset | workerCached, bounce.Bytes()},
		{workerReset, bounce.Bytes()},
		{workerCached, pasv.Bytes()},
		{workerResolves, port.Bytes()},
		{workerCached, v6.Bytes()},
		{0, v6.Bytes()},
		{workerCached, rough.Bytes()},
		{workerCached | workerApplyErr, pasv.Bytes()},
	}
}

// TestWorkerSeeds runs FuzzWorker's seeds and checks that together they
// reach what they were written for: pinholes added and removed, packets
// modified and sessions marked resized, the kernel queried, packets held and
// released later, failed batches.
func TestWorkerSeeds(t *testing.T) {
	verbs := map[string]int{}
	kinds := map[rules.PinKind]bool{}
	late := 0
	for _, s := range workerSeeds() {
		h := newWorkerHarness(t, s.setup)
		h.r = pktfuzz.NewReader(s.prog, fuzzConns)
		for {
			op, ok := h.r.Next()
			if !ok {
				break
			}
			h.step(op)
		}
		h.drain()
		for v, n := range h.verbs {
			verbs[v] += n
		}
		late += h.late
		for k := range h.kinds {
			kinds[k] = true
		}
	}
	for _, k := range []rules.PinKind{rules.KindPinhole, rules.KindRange, rules.KindReset} {
		if !kinds[k] {
			t.Errorf("no seed puts a kernel element of kind %d in", k)
		}
	}
	for _, v := range []string{"add", "remove", "modified", "resized", "resolve", "accept"} {
		if verbs[v] == 0 {
			t.Errorf("no seed makes a %q call (calls %v)", v, verbs)
		}
	}
	if late == 0 {
		t.Errorf("no seed holds a packet past its own step")
	}
}
