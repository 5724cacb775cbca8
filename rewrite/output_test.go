package rewrite

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestOutput(t *testing.T) {
	const isn = Seq(1000)
	stream := []byte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz")
	s := func(lo, hi int) string { return string(stream[lo:hi]) }
	const (
		X = "XXXXXXXX" // [10,15): 5 -> 8, +3
		Y = "Y"        // [30,32): 2 -> 1, -1
		Z = "ZZZZZZZ"  // [50,60): 10 -> 7, -3
		W = "WWWW"     // [60,62): 2 -> 4, +2 (adjacent to Z)
	)
	var a Adjuster
	for _, e := range []struct {
		lo, hi int
		r      string
	}{{10, 15, X}, {30, 32, Y}, {50, 60, Z}, {60, 62, W}} {
		if err := a.Add(isn.Add(e.lo), isn.Add(e.hi), []byte(e.r)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name      string
		lo, hi    int // segment [lo, hi) in offsets from isn
		from      int
		wantOff   int // output sequence number, as an offset from isn
		want      string
		wantAlias bool // the result is payload itself
	}{
		{"wholly before an edit", 0, 10, 0, 0, s(0, 10), true},
		{"ends exactly at an edit", 5, 10, 5, 5, s(5, 10), true},
		{"starts exactly at an edit's end", 15, 20, 15, 18, s(15, 20), true},
		{"between edits", 16, 30, 16, 19, s(16, 30), true},
		{"after all edits", 70, 80, 70, 71, s(70, 80), true},
		{"contains an edit", 5, 20, 5, 5, s(5, 10) + X + s(15, 20), false},
		{"is exactly an edit", 10, 15, 10, 10, X, false},
		{"starts inside an edit", 12, 20, 12, 10, X + s(15, 20), false},
		{"ends inside an edit", 5, 12, 5, 5, s(5, 10) + X, false},
		{"wholly inside an edit", 11, 14, 11, 10, X, false},
		{"one byte inside an edit", 13, 14, 13, 10, X, false},
		{"several edits", 0, 70, 0, 0, s(0, 10) + X + s(15, 30) + Y + s(32, 50) + Z + W + s(62, 70), false},
		{"adjacent edits, starting inside the first", 55, 65, 55, 50 + 2, Z + W + s(62, 65), false},
		{"starts inside one edit, ends inside the next", 31, 61, 31, 30 + 3, Y + s(32, 50) + Z + W, false},
		{"from trims plain bytes", 0, 20, 5, 5, s(5, 10) + X + s(15, 20), false},
		{"from trims into an edit", 0, 20, 12, 10, X + s(15, 20), false},
		{"from at an edit's start", 0, 20, 10, 10, X + s(15, 20), false},
		{"from skips an emitted edit", 12, 20, 15, 18, s(15, 20), false},
		{"from trims, no edit left", 0, 9, 3, 3, s(3, 9), false},
		{"from at the end", 0, 20, 20, 23, "", false},
		{"from beyond the end is clamped", 0, 20, 25, 23, "", false},
		{"from before the start is clamped", 12, 20, 5, 10, X + s(15, 20), false},
		{"from after an edit the segment ends in", 5, 12, 15, 18, "", false},
		{"empty segment", 20, 20, 20, 23, "", false},
		{"empty segment inside an edit", 12, 12, 12, 18, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := append([]byte(nil), stream[tt.lo:tt.hi]...)
			keep := append([]byte(nil), payload...)
			dst := make([]byte, 3, 256)
			seq, out := a.Output(dst, isn.Add(tt.lo), payload, isn.Add(tt.from))
			if seq != isn.Add(tt.wantOff) || string(out) != tt.want {
				t.Errorf("Output = (%d, %q), want (%d, %q)", seq.Diff(isn), out, tt.wantOff, tt.want)
			}
			alias := len(out) > 0 && len(payload) > 0 && &out[0] == &payload[0]
			if alias != tt.wantAlias {
				t.Errorf("result aliases payload: %t, want %t", alias, tt.wantAlias)
			}
			if !tt.wantAlias && len(out) > 0 && &out[0] != &dst[0] {
				t.Errorf("result was not built in dst")
			}
			if !bytes.Equal(payload, keep) {
				t.Errorf("Output modified the payload")
			}
		})
	}
	t.Run("grows a small dst", func(t *testing.T) {
		_, out := a.Output(make([]byte, 0, 2), isn, stream[:40], isn)
		if want := s(0, 10) + X + s(15, 30) + Y + s(32, 40); string(out) != want {
			t.Errorf("Output = %q, want %q", out, want)
		}
	})
	t.Run("identity", func(t *testing.T) {
		var id Adjuster
		seq, out := id.Output(nil, 0xfffffffe, stream[:5], 0xfffffffe)
		if seq != 0xfffffffe || &out[0] != &stream[0] || len(out) != 5 {
			t.Errorf("identity Output = (%#x, %q)", uint32(seq), out)
		}
	})
}

// segmentAndCheck cuts the original stream (starting at m.isn) at cuts,
// calls Output for each segment with from = max(segment start, end of what
// was already emitted in original space), and checks that concatenating the
// results gives exactly the edited stream, that each result sits at the
// output position where the previous one ended, and that every result (also
// for from == segment start, as for a retransmission) equals the edited
// stream at the position Output returns.
func segmentAndCheck(t testing.TB, m *refModel, a *Adjuster, stream []byte, cuts []int) {
	t.Helper()
	want := m.edited(stream)
	var got []byte
	emitted := m.isn                    // original space: everything before it is on output
	next := m.isn.Add(int(m.mapOff(0))) // output position of the next byte
	dst := make([]byte, 0, 64)
	lo := 0
	for i := 0; i <= len(cuts); i++ {
		hi := len(stream)
		if i < len(cuts) {
			hi = cuts[i]
		}
		seq := m.isn.Add(lo)
		payload := stream[lo:hi]
		from := seq.max(emitted)
		oseq, out := a.Output(dst, seq, payload, from)
		if len(out) > 0 {
			if oseq != next {
				t.Fatalf("segment [%d,%d) from %d: output at %d, previous output ended at %d",
					lo, hi, from.Diff(m.isn), oseq.Diff(m.isn), next.Diff(m.isn))
			}
			got = append(got, out...)
			next = oseq.Add(len(out))
			emitted = emitted.max(a.Unmap(next))
		}
		// Whole segment, as a retransmission: consistent with the stream.
		rseq, rout := a.Output(dst, seq, payload, seq)
		ro := int(rseq.Diff(m.isn))
		if ro < 0 || ro+len(rout) > len(want) || !bytes.Equal(rout, want[ro:ro+len(rout)]) {
			t.Fatalf("segment [%d,%d): retransmission output %q at %d does not match the edited stream", lo, hi, rout, ro)
		}
		if lo < hi && len(rout) == 0 {
			t.Fatalf("segment [%d,%d): non-empty segment gave empty output", lo, hi)
		}
		lo = hi
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("concatenated output\n%q\nwant\n%q", got, want)
	}
}

func TestOutputSegmentation(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for iter := 0; iter < 2000; iter++ {
		m := randomModel(r, r.IntN(8), 40)
		n := int(m.streamLen()) + r.IntN(20)
		stream := make([]byte, n)
		for i := range stream {
			stream[i] = 'a' + byte(r.IntN(26))
		}
		a := m.adjuster(t)
		var cuts []int
		for c := 0; c < n; {
			c += r.IntN(15)
			if c < n {
				cuts = append(cuts, c)
			}
		}
		segmentAndCheck(t, m, a, stream, cuts)
	}
}

func TestOutputEveryCut(t *testing.T) {
	// Every pair of cut points over a stream with adjacent edits, one of
	// them straddling 2^32.
	m := &refModel{isn: 0xfffffff8, edits: []refEdit{
		{3, 6, []byte("ABCDEFG")},
		{6, 9, []byte("h")},
		{14, 20, []byte("IJ")},
	}}
	stream := []byte("0123456789abcdefghijklmn")
	a := m.adjuster(t)
	for i := 0; i <= len(stream); i++ {
		for j := i; j <= len(stream); j++ {
			segmentAndCheck(t, m, a, stream, []int{i, j})
		}
	}
}
