package rewrite

import "testing"

// benchPacket is an IPv4 FTP control packet with timestamps and a SACK
// block, as the gateway sees them.
func benchPacket(tb testing.TB) []byte {
	opts := append([]byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, sackOpt([2]uint32{5000, 5015})...)
	return pktSpec{sport: 40000, dport: 21, seq: 0xfffffff0, ack: 7005, flags: FlagACK | FlagPSH,
		window: 502, tcpOpts: opts, payload: []byte("PORT 10,0,0,1,4,1\r\n")}.build(tb)
}

// benchAdjuster has three live edits, one straddling 2^32.
func benchAdjuster(tb testing.TB) *Adjuster {
	a := new(Adjuster)
	for _, e := range []struct {
		s, e Seq
		n    int
	}{{0xfffffff0, 0x3, 27}, {100, 119, 14}, {300, 320, 25}} {
		if err := a.Add(e.s, e.e, repl(e.n)); err != nil {
			tb.Fatal(err)
		}
	}
	return a
}

func TestZeroAllocs(t *testing.T) {
	b := benchPacket(t)
	p := mustDecode(t, b)
	a := benchAdjuster(t)
	sack := sackAdjuster(t)
	payload := []byte("PORT 10,0,0,1,4,1\r\n")
	grown := []byte("PORT 203,0,113,200,250,13\r\n")
	dst := make([]byte, 0, 2048)
	blocks := make([][2]Seq, 0, 4)
	var sink Seq
	var q Packet
	tests := []struct {
		name string
		f    func()
	}{
		{"Decode", func() { _ = Decode(b, &q) }},
		{"Map", func() { sink += a.Map(200) + a.Map(0xfffffff5) }},
		{"MapEnd", func() { sink += a.MapEnd(305) }},
		{"Unmap", func() { sink += a.Unmap(200) }},
		{"UnmapSACK", func() { l, r := a.UnmapSACK(90, 400); sink += l + r }},
		{"Identity", func() {
			if a.Identity() {
				sink++
			}
		}},
		{"Output with edits", func() { s, _ := a.Output(dst, 0xffffffe0, make40(payload), 0xffffffe0); sink += s }},
		{"Output no edit", func() { s, _ := a.Output(dst, 1000, payload, 1000); sink += s }},
		{"Output trimmed", func() { s, _ := a.Output(dst, 1000, payload, 1003); sink += s }},
		{"Rebuild same length", func() { _ = Rebuild(dst, p, 1, 2, sack, payload) }},
		{"Rebuild grow", func() { _ = Rebuild(dst, p, 1, 2, sack, grown) }},
		{"Rebuild kept payload", func() { _ = Rebuild(dst, p, 1, 2, nil, p.Payload) }},
		{"SACKBlocks", func() { blocks = p.SACKBlocks(blocks[:0]) }},
		{"Checksum", func() { sink += Seq(Checksum(b, 0)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := testing.AllocsPerRun(100, tt.f); n != 0 {
				t.Errorf("%s allocates %v times per run", tt.name, n)
			}
		})
	}
	_ = sink
}

var payload40 [40]byte

// make40 returns a 40-byte payload without allocating.
func make40(p []byte) []byte {
	copy(payload40[:], p)
	return payload40[:]
}

func BenchmarkDecode(b *testing.B) {
	pkt := benchPacket(b)
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := Decode(pkt, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeIPv6(b *testing.B) {
	pkt := pktSpec{v6: true, ext: []uint8{0, 60}, seq: 1, ack: 2, payload: []byte("PORT 10,0,0,1,4,1\r\n")}.build(b)
	var p Packet
	b.ReportAllocs()
	for b.Loop() {
		if err := Decode(pkt, &p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMapUnmap(b *testing.B) {
	a := benchAdjuster(b)
	var sink Seq
	b.ReportAllocs()
	for b.Loop() {
		sink += a.Unmap(a.Map(250))
	}
	_ = sink
}

func BenchmarkMapUnmapIdentity(b *testing.B) {
	var a Adjuster
	var sink Seq
	b.ReportAllocs()
	for b.Loop() {
		if !a.Identity() {
			sink += a.Unmap(a.Map(250))
		}
	}
	_ = sink
}

func BenchmarkOutput(b *testing.B) {
	a := benchAdjuster(b)
	payload := make([]byte, 1400)
	dst := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		_, out := a.Output(dst, 0xffffffe0, payload, 0xffffffe0)
		dst = out[:0]
	}
}

func BenchmarkRebuildSameLength(b *testing.B) {
	pkt := benchPacket(b)
	p := mustDecode(b, pkt)
	sack := sackAdjuster(b)
	payload := []byte("PORT 10,0,0,9,4,1\r\n")
	dst := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		if Rebuild(dst, p, 1, 2, sack, payload) == nil {
			b.Fatal("Rebuild failed")
		}
	}
}

func BenchmarkRebuildGrow(b *testing.B) {
	pkt := benchPacket(b)
	p := mustDecode(b, pkt)
	sack := sackAdjuster(b)
	payload := []byte("PORT 203,0,113,200,250,13\r\n")
	dst := make([]byte, 0, 2048)
	b.ReportAllocs()
	for b.Loop() {
		if Rebuild(dst, p, 1, 2, sack, payload) == nil {
			b.Fatal("Rebuild failed")
		}
	}
}
