package rewrite

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode. Decode must not panic; on
// error the error wraps one of the three kinds. On success the view is
// consistent, Rebuild with the same values gives back the same bytes (which
// decode identically), and Rebuild with other values gives a packet that
// decodes to them with the checksum errors (if any) unchanged.
func FuzzDecode(f *testing.F) {
	f.Add(benchPacket(f))
	f.Add(pktSpec{v6: true, ext: []uint8{0, 43, 61}, seq: 0xffffffff, ack: 1, payload: []byte("227 Entering Passive Mode (1,2,3,4,5,6)\r\n")}.build(f))
	f.Add(pktSpec{ipOpts: []byte{148, 4, 0, 0}, tcpOpts: sackOpt([2]uint32{1, 2}, [2]uint32{3, 4}), trailer: []byte{0, 0}}.build(f))
	f.Add(pktSpec{frag: 0x2000}.build(f))
	f.Add(pktSpec{v6: true, ext: []uint8{44}}.build(f))
	f.Add([]byte{0x45})
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Packet
		if err := Decode(data, &p); err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrFragment) && !errors.Is(err, ErrNotTCP) {
				t.Fatalf("error %v wraps no known kind", err)
			}
			return
		}
		hdr := p.IPHdrLen + p.TCPHdrLen
		if len(p.B) > len(data) || &p.B[0] != &data[0] || hdr > len(p.B) || len(p.Payload) != len(p.B)-hdr {
			t.Fatalf("inconsistent view: len(data) %d len(B) %d hdr %d len(Payload) %d", len(data), len(p.B), hdr, len(p.Payload))
		}
		if p.TCPHdrLen < 20 || p.TCPHdrLen%4 != 0 || p.TCPHdrLen > 60 {
			t.Fatalf("TCP header length %d", p.TCPHdrLen)
		}
		_ = p.SACKBlocks(nil)
		orig := append([]byte(nil), p.B...)
		tcpSum := onesResidual(oracleTCPSum(orig, p.IPHdrLen))
		var ipSum uint16
		if p.Version == 4 {
			ipSum = onesResidual(oracleIPv4Sum(orig))
		}

		// Same values: byte-identical, decodes identically.
		same := Rebuild(nil, &p, p.Seq, p.Ack, nil, p.Payload)
		if !bytes.Equal(same, p.B) {
			t.Fatalf("rebuild with the same values changed the packet:\n% x\n% x", same, p.B)
		}
		var q Packet
		if err := Decode(same, &q); err != nil {
			t.Fatalf("rebuilt packet does not decode: %v", err)
		}
		if !sameView(&p, &q) {
			t.Fatalf("rebuilt packet decodes differently:\n%+v\n%+v", p, q)
		}

		// Other values: a new payload derived from the data, SACK through an
		// adjuster, both in a fresh buffer and in place.
		newPayload := append(bytes.ToUpper(p.Payload), data[:len(data)%23]...)
		sack := sackAdjuster(t)
		for _, inPlace := range []bool{false, true} {
			var dst []byte
			pp := p
			if inPlace {
				dst = make([]byte, len(orig), len(orig)+32)
				copy(dst, orig)
				if err := Decode(dst, &pp); err != nil {
					t.Fatal(err)
				}
			}
			out, err := RebuildChecked(dst, &pp, p.Seq.Add(12345), p.Ack.Add(-7), sack, newPayload)
			if len(newPayload) > p.MaxPayload() {
				if !errors.Is(err, ErrTooLong) {
					t.Fatalf("payload of %d bytes over MaxPayload %d: err %v", len(newPayload), p.MaxPayload(), err)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			var r Packet
			if err := Decode(out, &r); err != nil {
				t.Fatalf("rebuilt packet does not decode: %v", err)
			}
			if r.Seq != p.Seq.Add(12345) || r.Ack != p.Ack.Add(-7) || !bytes.Equal(r.Payload, newPayload) ||
				r.IPHdrLen != p.IPHdrLen || r.TCPHdrLen != p.TCPHdrLen || r.Flags != p.Flags ||
				r.Src != p.Src || r.Dst != p.Dst || r.SrcPort != p.SrcPort || r.DstPort != p.DstPort {
				t.Fatalf("rebuilt packet has other values:\n%+v\n%+v", p, r)
			}
			if got := onesResidual(oracleTCPSum(out, r.IPHdrLen)); got != tcpSum {
				t.Fatalf("TCP checksum error %#04x became %#04x", tcpSum, got)
			}
			if p.Version == 4 {
				if got := onesResidual(oracleIPv4Sum(out)); got != ipSum {
					t.Fatalf("IPv4 header checksum error %#04x became %#04x", ipSum, got)
				}
			}
			// SACK blocks went through UnmapSACK.
			before, after := sackBlocksIn(&p, orig), r.SACKBlocks(nil)
			if len(before) != len(after) {
				t.Fatalf("SACK blocks %v became %v", before, after)
			}
			for i, bl := range before {
				l, rr := sack.UnmapSACK(bl[0], bl[1])
				if !l.LessThan(rr) {
					l, rr = r.Ack, r.Ack
				}
				if after[i] != [2]Seq{l, rr} {
					t.Fatalf("SACK block %v became %v, want %v", bl, after[i], [2]Seq{l, rr})
				}
			}
		}
	})
}

// sackBlocksIn returns the SACK blocks at p's option offsets in buf, a copy
// of p.B taken before p.B was overwritten.
func sackBlocksIn(p *Packet, buf []byte) [][2]Seq {
	q := *p
	q.B = buf
	return q.SACKBlocks(nil)
}

// sameView compares two decoded packets field by field, slices by content.
func sameView(p, q *Packet) bool {
	return bytes.Equal(p.B, q.B) && bytes.Equal(p.Payload, q.Payload) &&
		p.Version == q.Version && p.Src == q.Src && p.Dst == q.Dst &&
		p.SrcPort == q.SrcPort && p.DstPort == q.DstPort && p.Seq == q.Seq && p.Ack == q.Ack &&
		p.Flags == q.Flags && p.Window == q.Window && p.IPHdrLen == q.IPHdrLen && p.TCPHdrLen == q.TCPHdrLen
}

// fuzzModel turns fuzz bytes into an edit list: each edit takes three bytes
// (gap before it, original length, replacement length), at most MaxEdits.
func fuzzModel(isn uint32, spec []byte, maxEdits int) (m *refModel, rest []byte) {
	m = &refModel{isn: Seq(isn)}
	var c int64
	for len(spec) >= 3 && len(m.edits) < maxEdits {
		gap, ol, rl := spec[0], spec[1], spec[2]
		spec = spec[3:]
		c += int64(gap % 64)
		l := int64(ol%32) + 1
		r := make([]byte, int(rl%40)+1)
		for i := range r {
			r[i] = 'A' + byte(len(m.edits)%26)
		}
		m.edits = append(m.edits, refEdit{c, c + l, r})
		c += l
	}
	return m, spec
}

// FuzzAdjuster checks Map, Unmap, UnmapSACK and Release on arbitrary edit
// lists against the naive model: Unmap(Map(x)) == x outside edits, Map is
// monotonic, SACK edges outside edits move with the data they name, and
// Release keeps the mapping of later positions.
func FuzzAdjuster(f *testing.F) {
	f.Add(uint32(1000), []byte{10, 5, 8})
	f.Add(uint32(0xfffffff0), []byte{10, 9, 20, 0, 3, 1, 5, 1, 1, 7})
	f.Add(uint32(0xffffffff), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 200})
	f.Add(uint32(7), bytes.Repeat([]byte{3, 7, 2}, 40))
	f.Fuzz(func(t *testing.T, isn uint32, spec []byte) {
		m, rest := fuzzModel(isn, spec, MaxEdits)
		a := m.adjuster(t)
		hi := m.streamLen() + 20
		checkAgainstModel(t, m, a, -20, hi)
		// SACK blocks whose edges lie outside edits come back unchanged.
		var outside []int64
		for x := int64(-5); x < hi; x++ {
			if !m.inside(x) {
				outside = append(outside, x)
			}
		}
		for i := 0; i+1 < len(outside); i += 1 + i%3 {
			for _, j := range []int{i + 1, i + 7, len(outside) - 1} {
				if j >= len(outside) || j <= i {
					continue
				}
				l, r := m.seq(outside[i]), m.seq(outside[j])
				if gl, gr := a.UnmapSACK(a.Map(l), a.Map(r)); gl != l || gr != r {
					t.Fatalf("UnmapSACK(Map(%d), Map(%d)) = (%d, %d)", outside[i], outside[j], gl.Diff(m.isn), gr.Diff(m.isn))
				}
			}
		}
		// Release at a point chosen by the data.
		if len(rest) == 0 {
			return
		}
		acked := int64(rest[0]) * hi / 256
		type img struct{ mx, ux Seq }
		var before []img
		for x := acked; x < hi; x++ {
			before = append(before, img{a.Map(m.seq(x)), a.Unmap(m.seq(m.mapOff(x)))})
		}
		liveBefore := a.Live()
		a.Release(m.seq(acked))
		folded := 0
		for _, e := range m.edits {
			if e.end <= acked {
				folded++
			}
		}
		if a.Live() != liveBefore-folded {
			t.Fatalf("Release(%d): %d live, want %d", acked, a.Live(), liveBefore-folded)
		}
		for i, x := 0, acked; x < hi; i, x = i+1, x+1 {
			if a.Map(m.seq(x)) != before[i].mx || a.Unmap(m.seq(m.mapOff(x))) != before[i].ux {
				t.Fatalf("Release(%d) changed the mapping of %d", acked, x)
			}
		}
		ma := a.Map(m.seq(acked))
		for x := int64(-20); x < acked; x++ {
			if !a.Map(m.seq(x)).LessThanEq(ma) {
				t.Fatalf("after Release(%d), Map(%d) is beyond Map(acked)", acked, x)
			}
		}
	})
}

// FuzzOutput cuts an arbitrary stream with arbitrary edits into arbitrary
// contiguous segments and checks that the concatenated Output is exactly the
// edited stream (see segmentAndCheck).
func FuzzOutput(f *testing.F) {
	f.Add(uint32(1000), []byte{1, 10, 5, 8}, []byte{3, 4, 5, 6, 7})
	f.Add(uint32(0xfffffffa), []byte{3, 2, 9, 20, 0, 3, 1, 0, 1, 7}, []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1})
	f.Add(uint32(0), []byte{0}, []byte{10, 10})
	f.Fuzz(func(t *testing.T, isn uint32, spec []byte, cuts []byte) {
		if len(spec) == 0 {
			return
		}
		extra := int(spec[0] % 32)
		m, _ := fuzzModel(isn, spec[1:], 12)
		n := int(m.streamLen()) + extra
		stream := make([]byte, n)
		for i := range stream {
			stream[i] = 'a' + byte((i*7+i/26)%26)
		}
		var cutAt []int
		c := 0
		for _, b := range cuts {
			c += int(b % 24)
			if c > n {
				break
			}
			cutAt = append(cutAt, c)
		}
		segmentAndCheck(t, m, m.adjuster(t), stream, cutAt)
	})
}
