package conntrack

// Scale benchmarks (issue 12): memory per tracked session, the cost of a
// packet when traffic is spread over many sessions, and the cost of a
// Tick in a large table. scripts/test runs every benchmark once
// (-benchtime=1x), so each one builds its table in well under a few
// seconds.

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/rewrite"
)

// scaleSizes are the table sizes of the memory benchmark.
var scaleSizes = []int{1_000, 10_000, 100_000}

// scaleTable drives many control sessions through one Tracker. Session i
// runs from client 10.1.x.y:port (scaleClient) to srvAddr; its packets are
// templates whose addresses, ports, sequence numbers and checksums are
// patched in place, so driving it allocates nothing of its own.
type scaleTable struct {
	tr   *Tracker
	now  time.Time
	res  Result
	n    int
	cseq []uint32 // next client sequence number per session
	sseq []uint32 // next server sequence number per session

	syn, synack, greet, cmd, rep []byte
}

const (
	scaleClientISN = 1000
	scaleServerISN = 0xfffffff0
	scaleGreeting  = "220 ready\r\n"
	scaleCmd       = "NOOP\r\n"
	scaleReply     = "200 NOOP ok.\r\n"
)

func newScaleTable(tb testing.TB, n int, pol Policy) *scaleTable {
	tb.Helper()
	pol.MaxSessions = n
	tr, err := NewTracker(Config{Policy: pol})
	if err != nil {
		tb.Fatal(err)
	}
	cli, srv := cliAddr, srvAddr // patched per session (packet)
	return &scaleTable{
		tr: tr, now: time.Unix(1_700_000_000, 0), n: n,
		cseq:   make([]uint32, n),
		sseq:   make([]uint32, n),
		syn:    buildPacket(cli, srv, 0, 0, rewrite.FlagSYN, nil),
		synack: buildPacket(srv, cli, 0, 0, rewrite.FlagSYN|rewrite.FlagACK, nil),
		greet:  buildPacket(srv, cli, 0, 0, rewrite.FlagACK|rewrite.FlagPSH, []byte(scaleGreeting)),
		cmd:    buildPacket(cli, srv, 0, 0, rewrite.FlagACK|rewrite.FlagPSH, []byte(scaleCmd)),
		rep:    buildPacket(srv, cli, 0, 0, rewrite.FlagACK|rewrite.FlagPSH, []byte(scaleReply)),
	}
}

// scaleClient is the client end of session i: 40,000 ports per address.
func scaleClient(i int) [6]byte {
	a := 10<<24 | 1<<16 | uint32(i/40_000)
	var b [6]byte
	binary.BigEndian.PutUint32(b[:4], a)
	binary.BigEndian.PutUint16(b[4:], uint16(20_000+i%40_000))
	return b
}

// clientAP is the client end of session i as an address and port.
func (st *scaleTable) clientAP(i int) netip.AddrPort {
	c := scaleClient(i)
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(c[:4])), binary.BigEndian.Uint16(c[4:]))
}

// packet patches template b (IPv4, 20-byte header) for session i in
// direction dir, with seq and ack, and fixes both checksums.
func (st *scaleTable) packet(b []byte, i int, dir Dir, seq, ack uint32) []byte {
	c := scaleClient(i)
	ipOff, portOff := 12, 20 // source address and port
	if dir == FromServer {
		ipOff, portOff = 16, 22
	}
	copy(b[ipOff:ipOff+4], c[:4])
	copy(b[portOff:portOff+2], c[4:])
	b[10], b[11] = 0, 0
	binary.BigEndian.PutUint16(b[10:], ^rewrite.Checksum(b[:20], 0))
	setSeqAck(b, seq, ack)
	return b
}

// open starts session i at st.now and has the server greet it: SYN,
// SYN-ACK, 220.
func (st *scaleTable) open(i int) {
	cs, ss := uint32(scaleClientISN), uint32(scaleServerISN)
	st.tr.Process(st.packet(st.syn, i, FromClient, cs, 0), 1, st.now, &st.res)
	cs++
	st.tr.Process(st.packet(st.synack, i, FromServer, ss, cs), 2, st.now, &st.res)
	ss++
	st.tr.Process(st.packet(st.greet, i, FromServer, ss, cs), 3, st.now, &st.res)
	ss += uint32(len(scaleGreeting))
	st.cseq[i], st.sseq[i] = cs, ss
}

// fill opens sessions 0..n-1.
func (st *scaleTable) fill(tb testing.TB) {
	for i := 0; i < st.n; i++ {
		st.open(i)
	}
	if got := st.tr.Sessions(); got != st.n {
		tb.Fatalf("%d sessions tracked, want %d", got, st.n)
	}
}

// round sends a NOOP and its reply on session i.
func (st *scaleTable) round(i int) {
	st.tr.Process(st.packet(st.cmd, i, FromClient, st.cseq[i], st.sseq[i]), 1, st.now, &st.res)
	st.cseq[i] += uint32(len(scaleCmd))
	st.tr.Process(st.packet(st.rep, i, FromServer, st.sseq[i], st.cseq[i]), 2, st.now, &st.res)
	st.sseq[i] += uint32(len(scaleReply))
}

func TestScaleTable(t *testing.T) {
	st := newScaleTable(t, 100, DefaultPolicy())
	st.fill(t)
	for i := 0; i < 100; i++ {
		st.round(i)
		if st.res.Verdict != Accept {
			t.Fatalf("session %d: reply verdict %v", i, st.res.Verdict)
		}
	}
	for _, in := range st.tr.Snapshot(st.now, nil) {
		if len(in.State) != 1 || in.State[0] != StateGreeted {
			t.Fatalf("session %d: state %v, want greeted", in.ID, in.State)
		}
	}
	if st.tr.Stats.Refusals != 0 || st.tr.Stats.BadChecksum != 0 {
		t.Fatalf("stats %+v", st.tr.Stats)
	}
}

// BenchmarkScaleMemory is the heap one greeted, idle session costs (its
// Session, buffers and table entry), measured over a table of N.
func BenchmarkScaleMemory(b *testing.B) {
	for _, n := range scaleSizes {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			var total uint64
			for i := 0; i < b.N; i++ {
				st := newScaleTable(b, n, DefaultPolicy())
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				st.fill(b)
				runtime.GC()
				runtime.ReadMemStats(&after)
				total += after.HeapAlloc - before.HeapAlloc
				runtime.KeepAlive(st)
			}
			b.ReportMetric(float64(total)/float64(b.N*n), "bytes/session")
		})
	}
}

// BenchmarkScalePacket is a NOOP and its reply on one session after
// another, round robin over a table of N (N=1: always the same one).
func BenchmarkScalePacket(b *testing.B) {
	for _, n := range []int{1, 100_000} {
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			st := newScaleTable(b, n, DefaultPolicy())
			st.fill(b)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				st.round(i % n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/packet")
		})
	}
}

// BenchmarkScaleTick is one Tick a second over 100,000 sessions: with
// nothing expiring (the idle timeout far away), and with 1% of the
// sessions going idle at each Tick (each group of 1,000 is opened again,
// off the clock, once it has been removed). worst-ns/tick is the slowest
// Tick seen.
func BenchmarkScaleTick(b *testing.B) {
	const n = 100_000
	b.Run("expiring=none", func(b *testing.B) {
		pol := DefaultPolicy()
		pol.SessionIdle = 100 * 365 * 24 * time.Hour
		st := newScaleTable(b, n, pol)
		st.fill(b)
		var worst time.Duration
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			st.now = st.now.Add(time.Second)
			t0 := time.Now()
			st.tr.Tick(st.now, &st.res)
			worst = max(worst, time.Since(t0))
		}
		b.StopTimer()
		if st.tr.Sessions() != n {
			b.Fatalf("%d sessions left, want %d", st.tr.Sessions(), n)
		}
		b.ReportMetric(float64(worst.Nanoseconds()), "worst-ns/tick")
	})
	b.Run("expiring=1%", func(b *testing.B) {
		const groups = 100 // of n/groups sessions, one expiring per Tick
		pol := DefaultPolicy()
		pol.SessionIdle = groups * time.Second
		st := newScaleTable(b, n, pol)
		// Group g (sessions g, g+groups, ...) is opened at second g.
		base := st.now
		for g := 0; g < groups; g++ {
			st.now = base.Add(time.Duration(g) * time.Second)
			for i := g; i < n; i += groups {
				st.open(i)
			}
		}
		st.tr.Tick(st.now, &st.res)
		var worst time.Duration
		b.ResetTimer()
		for k := 0; k < b.N; k++ {
			// At second groups-1+k+1, group k%groups has been idle for
			// SessionIdle: the Tick removes it.
			st.now = st.now.Add(time.Second)
			t0 := time.Now()
			st.tr.Tick(st.now, &st.res)
			worst = max(worst, time.Since(t0))
			b.StopTimer()
			if got := st.tr.Sessions(); got != n-n/groups {
				b.Fatalf("tick %d: %d sessions left, want %d", k, got, n-n/groups)
			}
			for i := k % groups; i < n; i += groups {
				st.open(i)
			}
			b.StartTimer()
		}
		b.StopTimer()
		b.ReportMetric(float64(worst.Nanoseconds()), "worst-ns/tick")
	})
}
