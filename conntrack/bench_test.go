package conntrack

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/rewrite"
)

// steady sets up an established session and returns two packets (a
// command and its reply) whose sequence numbers it advances on each call.
type steady struct {
	tr       *Tracker
	cmd, rep []byte
	cseq     uint32
	sseq     uint32
	res      Result
	now      time.Time
}

func newSteady(tb testing.TB, nat bool) *steady {
	cfg := Config{Policy: DefaultPolicy()}
	srv := srvAddr
	if nat {
		srv = mustAP("10.0.0.5:21")
		cfg.NAT = fakeNAT{Tuples{Orig: Tuple{Src: cliAddr, Dst: srvAddr}, Reply: Tuple{Src: srv, Dst: cliAddr}}}
	}
	l := newLab(tb.(*testing.T), cfg, cliAddr, srv)
	login(l)
	s := &steady{tr: l.tr, now: l.now,
		cmd: buildPacket(cliAddr, srv, 0, 0, 0x18, []byte("NOOP\r\n")),
		rep: buildPacket(srv, cliAddr, 0, 0, 0x18, []byte("200 NOOP ok.\r\n")),
	}
	s.cseq, s.sseq = l.ep[FromClient].sndNxt, l.ep[FromServer].sndNxt
	return s
}

func (s *steady) round() {
	setSeqAck(s.cmd, s.cseq, s.sseq)
	s.tr.Process(s.cmd, 1, s.now, &s.res)
	s.cseq += 6
	setSeqAck(s.rep, s.sseq, s.cseq)
	s.tr.Process(s.rep, 2, s.now, &s.res)
	s.sseq += 14
}

func TestSteadyPathDoesNotAllocate(t *testing.T) {
	s := newSteady(t, false)
	s.round()
	if n := testing.AllocsPerRun(1000, s.round); n != 0 {
		t.Fatalf("%v allocations per command/reply round, want 0", n)
	}
	if s.res.Verdict != Accept {
		t.Fatalf("verdict %v", s.res.Verdict)
	}
}

func BenchmarkSteadyPath(b *testing.B) {
	s := newSteady(&testing.T{}, false)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.round()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/packet")
}

// BenchmarkPASVRewrite is a PASV/227 round behind DNAT, with the 227
// rewritten (the line grows) and the client's ACK unmapped: three packets.
func BenchmarkPASVRewrite(b *testing.B) {
	t := &testing.T{}
	srv := mustAP("10.0.0.5:21")
	l := newLab(t, Config{NAT: fakeNAT{Tuples{Orig: Tuple{Src: cliAddr, Dst: srvAddr}, Reply: Tuple{Src: srv, Dst: cliAddr}}}}, cliAddr, srv)
	login(l)
	tr := l.tr
	cseq, sseq := l.ep[FromClient].sndNxt, l.ep[FromServer].sndNxt
	oseq := sseq // the client's view of the server stream
	pasv := buildPacket(cliAddr, srv, 0, 0, 0x18, []byte("PASV\r\n"))
	lines := make([][]byte, 256)
	for i := range lines {
		lines[i] = buildPacket(srv, cliAddr, 0, 0, 0x18, []byte(fmt.Sprintf("227 Entering Passive Mode (10,0,0,5,%d,%d).\r\n", 4+i%200, i)))
	}
	ack := buildPacket(cliAddr, srv, 0, 0, 0x10, nil)
	scratch := make([]byte, 0, 128)
	var res Result
	var rewriteTime time.Duration // the rewritten 227 alone, timed with two clock reads
	now := l.now
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		setSeqAck(pasv, cseq, oseq)
		tr.Process(pasv, 1, now, &res)
		cseq += 6
		// A same-length rewrite edits the packet in place: work on a copy.
		rep := append(scratch[:0], lines[i%len(lines)]...)
		setSeqAck(rep, sseq, cseq)
		t0 := time.Now()
		tr.Process(rep, 2, now, &res)
		rewriteTime += time.Since(t0)
		if res.Verdict != AcceptModified {
			b.Fatalf("227 not rewritten: %v", res.Verdict)
		}
		n := uint32(len(rep) - 40)
		sseq += n
		oseq += n // 10,0,0,5 became 203,0,113,10 at the same length
		setSeqAck(ack, cseq, oseq)
		tr.Process(ack, 3, now, &res)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(3*b.N), "ns/packet")
	b.ReportMetric(float64(rewriteTime.Nanoseconds())/float64(b.N), "ns/rewritten-227")
}

// setSeqAck rewrites an IPv4 TCP packet's (20-byte IP header) sequence and
// acknowledgment numbers and its TCP checksum in place, without
// allocating: a packet whose checksum does not verify is not inspected.
func setSeqAck(b []byte, seq, ack uint32) {
	binary.BigEndian.PutUint32(b[24:], seq)
	binary.BigEndian.PutUint32(b[28:], ack)
	b[36], b[37] = 0, 0
	tcp := b[20:]
	pseudo := uint32(rewrite.Checksum(b[12:20], 6+uint32(len(tcp))))
	binary.BigEndian.PutUint16(b[36:], ^rewrite.Checksum(tcp, pseudo))
}
