package rewrite

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// refEdit is an edit of the reference model, in offsets from the stream's
// first sequence number (no wrap-around to worry about).
type refEdit struct {
	start, end int64
	repl       []byte
}

// refModel is a deliberately naive model of an Adjuster: offsets are int64
// distances from isn, and every query walks all edits from the beginning.
type refModel struct {
	isn   Seq
	edits []refEdit
}

func (m *refModel) seq(off int64) Seq { return m.isn.Add(int(off)) }
func (m *refModel) off(s Seq) int64   { return int64(s.Diff(m.isn)) }

func (m *refModel) mapOff(x int64) int64 {
	var d int64
	for _, e := range m.edits {
		if x <= e.start {
			return x + d
		}
		if x < e.end {
			if int64(len(e.repl)) == e.end-e.start {
				return x + d // an edit that keeps the length maps one to one
			}
			return e.start + d
		}
		d += int64(len(e.repl)) - (e.end - e.start)
	}
	return x + d
}

// unmapOff maps an output offset back; inside a replacement it rounds down
// to the edit's start or, with up, up to its end.
func (m *refModel) unmapOff(o int64, up bool) int64 {
	var d int64
	for _, e := range m.edits {
		os := e.start + d
		oe := os + int64(len(e.repl))
		if o <= os {
			return o - d
		}
		if o < oe {
			if oe-os == e.end-e.start {
				return o - d
			}
			if up {
				return e.end
			}
			return e.start
		}
		d += int64(len(e.repl)) - (e.end - e.start)
	}
	return o - d
}

// inside reports whether x is strictly inside an edit.
func (m *refModel) inside(x int64) bool {
	for _, e := range m.edits {
		if e.start < x && x < e.end {
			return true
		}
	}
	return false
}

// edited applies the edits to stream (which starts at offset 0).
func (m *refModel) edited(stream []byte) []byte {
	var out []byte
	var c int64
	for _, e := range m.edits {
		out = append(out, stream[c:e.start]...)
		out = append(out, e.repl...)
		c = e.end
	}
	return append(out, stream[c:]...)
}

func (m *refModel) adjuster(tb testing.TB) *Adjuster {
	tb.Helper()
	a := new(Adjuster)
	for _, e := range m.edits {
		if err := a.Add(m.seq(e.start), m.seq(e.end), e.repl); err != nil {
			tb.Fatalf("Add(%d, %d): %v", e.start, e.end, err)
		}
	}
	return a
}

func repl(n int) []byte { return bytes.Repeat([]byte{'R'}, n) }

func TestAdjusterMapUnmap(t *testing.T) {
	type edit struct {
		start, end Seq
		n          int // replacement length
	}
	type pair struct{ in, out Seq }
	type sack struct{ l, r, wl, wr Seq }
	tests := []struct {
		name  string
		edits []edit
		maps  []pair // Map(in) == out
		unmap []pair // Unmap(in) == out
		sacks []sack // UnmapSACK(l, r) == (wl, wr)
	}{
		{
			name:  "identity",
			maps:  []pair{{0, 0}, {0xffffffff, 0xffffffff}, {12345, 12345}},
			unmap: []pair{{0, 0}, {0xffffffff, 0xffffffff}},
			sacks: []sack{{10, 20, 10, 20}},
		},
		{
			name:  "one edit growing by 5",
			edits: []edit{{100, 110, 15}},
			maps:  []pair{{50, 50}, {99, 99}, {100, 100}, {101, 100}, {109, 100}, {110, 115}, {111, 116}, {200, 205}},
			unmap: []pair{{50, 50}, {100, 100}, {101, 100}, {114, 100}, {115, 110}, {116, 111}, {205, 200}},
			sacks: []sack{
				{100, 115, 100, 110}, // whole replacement: whole original
				{101, 114, 110, 100}, // strictly inside: empty
				{90, 105, 90, 100},   // right edge inside rounds down
				{105, 120, 110, 115}, // left edge inside rounds up
				{115, 130, 110, 125}, // after the edit
				{10, 20, 10, 20},     // before the edit
			},
		},
		{
			name:  "one edit shrinking by 7",
			edits: []edit{{100, 110, 3}},
			maps:  []pair{{100, 100}, {105, 100}, {110, 103}, {200, 193}},
			unmap: []pair{{100, 100}, {101, 100}, {102, 100}, {103, 110}, {193, 200}},
			sacks: []sack{{101, 103, 110, 110}, {100, 103, 100, 110}, {100, 102, 100, 100}},
		},
		{
			// An edit that keeps the length maps one to one, inside too.
			name:  "same length edit",
			edits: []edit{{100, 110, 10}},
			maps:  []pair{{99, 99}, {105, 105}, {110, 110}},
			unmap: []pair{{99, 99}, {105, 105}, {110, 110}},
		},
		{
			name: "several edits in flight, two adjacent",
			edits: []edit{
				{100, 110, 15}, // +5: output [100,115)
				{200, 203, 1},  // -2: output [205,206)
				{203, 210, 10}, // +3: output [206,216)
			},
			maps:  []pair{{150, 155}, {200, 205}, {201, 205}, {203, 206}, {205, 206}, {210, 216}, {300, 306}},
			unmap: []pair{{155, 150}, {205, 200}, {206, 203}, {207, 203}, {215, 203}, {216, 210}, {306, 300}},
			sacks: []sack{{205, 216, 200, 210}, {206, 216, 203, 210}, {207, 216, 210, 210}, {100, 206, 100, 203}},
		},
		{
			name:  "edit straddling 2^32",
			edits: []edit{{0xfffffffa, 0x4, 20}}, // 10 bytes -> 20: output [0xfffffffa, 0xe)
			maps:  []pair{{0xfffffff0, 0xfffffff0}, {0xfffffffa, 0xfffffffa}, {0xfffffffb, 0xfffffffa}, {0x3, 0xfffffffa}, {0x4, 0xe}, {100, 110}},
			unmap: []pair{{0xfffffff0, 0xfffffff0}, {0xfffffffa, 0xfffffffa}, {0xffffffff, 0xfffffffa}, {0x5, 0xfffffffa}, {0xd, 0xfffffffa}, {0xe, 0x4}, {110, 100}},
			sacks: []sack{{0xfffffffa, 0xe, 0xfffffffa, 0x4}, {0x0, 0x20, 0x4, 0x16}},
		},
		{
			name:  "edits after the wrap",
			edits: []edit{{0xfffffff0, 0xfffffff8, 3}, {0x8, 0xa, 6}}, // -5, +4
			maps:  []pair{{0xfffffff8, 0xfffffff3}, {0x0, 0xfffffffb}, {0x8, 0x3}, {0x9, 0x3}, {0xa, 0x9}},
			unmap: []pair{{0xfffffff3, 0xfffffff8}, {0xfffffffb, 0}, {0x3, 0x8}, {0x4, 0x8}, {0x9, 0xa}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Adjuster
			for _, e := range tt.edits {
				if err := a.Add(e.start, e.end, repl(e.n)); err != nil {
					t.Fatalf("Add: %v", err)
				}
			}
			if a.Live() != len(tt.edits) {
				t.Errorf("Live = %d, want %d", a.Live(), len(tt.edits))
			}
			if got := a.Identity(); got != (len(tt.edits) == 0) {
				t.Errorf("Identity = %t", got)
			}
			for _, m := range tt.maps {
				if got := a.Map(m.in); got != m.out {
					t.Errorf("Map(%#x) = %#x, want %#x", uint32(m.in), uint32(got), uint32(m.out))
				}
			}
			for _, m := range tt.unmap {
				if got := a.Unmap(m.in); got != m.out {
					t.Errorf("Unmap(%#x) = %#x, want %#x", uint32(m.in), uint32(got), uint32(m.out))
				}
			}
			for _, s := range tt.sacks {
				if l, r := a.UnmapSACK(s.l, s.r); l != s.wl || r != s.wr {
					t.Errorf("UnmapSACK(%#x, %#x) = (%#x, %#x), want (%#x, %#x)",
						uint32(s.l), uint32(s.r), uint32(l), uint32(r), uint32(s.wl), uint32(s.wr))
				}
			}
		})
	}
}

func TestAdjusterMapEnd(t *testing.T) {
	var a Adjuster
	if err := a.Add(100, 110, repl(15)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ in, want Seq }{{99, 99}, {100, 100}, {101, 115}, {109, 115}, {110, 115}, {120, 125}} {
		if got := a.MapEnd(c.in); got != c.want {
			t.Errorf("MapEnd(%d) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestAdjusterAddErrors(t *testing.T) {
	tests := []struct {
		name       string
		start, end Seq
		n          int
		kind       error
		msg        string
	}{
		{"empty range", 300, 300, 3, ErrEditEmpty, "edit [300, 300) has an empty or inverted original range"},
		{"inverted range", 310, 300, 3, ErrEditEmpty, "empty or inverted"},
		{"empty replacement", 300, 310, 0, ErrEditEmpty, "empty replacement"},
		{"overlaps previous", 205, 230, 3, ErrEditOrder, "edit [205, 230) starts before 210"},
		{"before previous", 10, 20, 3, ErrEditOrder, "starts before 210"},
		{"replacement too long", 300, 310, maxReplacement + 1, ErrEditTooLong, "replacement of 1048577 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a Adjuster
			if err := a.Add(200, 210, repl(4)); err != nil {
				t.Fatal(err)
			}
			before := a.Map(1000)
			err := a.Add(tt.start, tt.end, repl(tt.n))
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Add = %v, want %v", err, tt.kind)
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.HasPrefix(err.Error(), "rewrite: adjuster: ") {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if a.Live() != 1 || a.Map(1000) != before {
				t.Errorf("failed Add changed the adjuster")
			}
		})
	}
	t.Run("adjacent is fine", func(t *testing.T) {
		var a Adjuster
		if err := a.Add(200, 210, repl(4)); err != nil {
			t.Fatal(err)
		}
		if err := a.Add(210, 211, repl(1)); err != nil {
			t.Fatalf("adjacent edit refused: %v", err)
		}
	})
	t.Run("repl is copied", func(t *testing.T) {
		var a Adjuster
		r := []byte("abc")
		if err := a.Add(0, 3, r); err != nil {
			t.Fatal(err)
		}
		r[0] = 'X'
		_, out := a.Output(nil, 0, []byte("xyz"), 0)
		if string(out) != "abc" {
			t.Errorf("Output = %q after the caller changed its replacement slice", out)
		}
	})
}

func TestAdjusterMaxEdits(t *testing.T) {
	var a Adjuster
	for i := 0; i < MaxEdits; i++ {
		s := Seq(0xffffff00).Add(10 * i) // crosses 2^32 along the way
		if err := a.Add(s, s.Add(5), repl(7)); err != nil {
			t.Fatalf("edit %d: %v", i, err)
		}
	}
	if a.Live() != MaxEdits {
		t.Fatalf("Live = %d", a.Live())
	}
	next := Seq(0xffffff00).Add(10 * MaxEdits)
	err := a.Add(next, next.Add(5), repl(7))
	if !errors.Is(err, ErrTooManyEdits) || !strings.Contains(err.Error(), "32 edits are live") {
		t.Fatalf("Add beyond MaxEdits = %v", err)
	}
	if got, want := a.Map(next), next.Add(2*MaxEdits); got != want {
		t.Errorf("Map after the refused edit = %#x, want %#x", uint32(got), uint32(want))
	}
	// Acknowledging the first edit makes room for one more.
	a.Release(Seq(0xffffff05))
	if a.Live() != MaxEdits-1 {
		t.Fatalf("Live after Release = %d", a.Live())
	}
	if err := a.Add(next, next.Add(5), repl(7)); err != nil {
		t.Fatalf("Add after Release: %v", err)
	}
	if got, want := a.Map(next.Add(5)), next.Add(5+2*(MaxEdits+1)); got != want {
		t.Errorf("Map after the last edit = %#x, want %#x", uint32(got), uint32(want))
	}
}

func TestAdjusterRelease(t *testing.T) {
	isn := Seq(0xfffffe00)
	m := &refModel{isn: isn, edits: []refEdit{
		{100, 110, repl(15)},
		{200, 203, repl(1)},
		{203, 210, repl(12)},
		{400, 450, repl(3)},
		{500, 501, repl(30)},
	}}
	tests := []struct {
		name  string
		acked int64
		live  int
	}{
		{"before all", 50, 5},
		{"at first start", 100, 5},
		{"inside first", 105, 5},
		{"at first end", 110, 4},
		{"between", 150, 4},
		{"inside the second of an adjacent pair", 205, 3},
		{"at the adjacent end", 210, 2},
		{"inside the fourth", 420, 2},
		{"after all", 600, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := m.adjuster(t)
			acked := m.seq(tt.acked)
			lo := tt.acked
			// Positions at or after acked, and their output images.
			type snap struct{ x, mx, ux, ml, mr Seq }
			var before []snap
			for x := lo; x < 700; x++ {
				s := m.seq(x)
				l, r := a.UnmapSACK(a.Map(s), a.Map(s).Add(3))
				before = append(before, snap{s, a.Map(s), a.Unmap(a.Map(s)), l, r})
			}
			a.Release(acked)
			if a.Live() != tt.live {
				t.Errorf("Live = %d, want %d", a.Live(), tt.live)
			}
			for _, b := range before {
				l, r := a.UnmapSACK(b.mx, b.mx.Add(3))
				if a.Map(b.x) != b.mx || a.Unmap(b.mx) != b.ux || l != b.ml || r != b.mr {
					t.Fatalf("position %#x changed after Release(%#x)", uint32(b.x), uint32(acked))
				}
			}
			// Output images of positions before acked stay below Map(acked),
			// so retransmissions of acknowledged bytes stay old on output.
			for x := int64(0); x < lo; x++ {
				if mx := a.Map(m.seq(x)); !mx.LessThanEq(a.Map(acked)) {
					t.Fatalf("Map(%d) = %#x is beyond Map(acked) = %#x", x, uint32(mx), uint32(a.Map(acked)))
				}
			}
			// Releasing again, or an older point, changes nothing.
			a.Release(acked)
			a.Release(m.seq(lo - 30))
			if a.Live() != tt.live {
				t.Errorf("Live after repeated Release = %d", a.Live())
			}
			// New edits may not start before the released point.
			if tt.acked > 501 {
				if err := a.Add(m.seq(tt.acked-1), m.seq(tt.acked+1), repl(1)); !errors.Is(err, ErrEditOrder) {
					t.Errorf("Add before the released point = %v, want ErrEditOrder", err)
				}
				if err := a.Add(m.seq(tt.acked), m.seq(tt.acked+1), repl(1)); err != nil {
					t.Errorf("Add at the released point: %v", err)
				}
			}
		})
	}
}

func TestAdjusterIdentity(t *testing.T) {
	var a Adjuster
	if !a.Identity() {
		t.Fatal("zero Adjuster is not the identity")
	}
	if err := a.Add(10, 20, repl(10)); err != nil {
		t.Fatal(err)
	}
	if a.Identity() {
		t.Error("Identity with a live same-length edit")
	}
	a.Release(20)
	if !a.Identity() {
		t.Error("not Identity after releasing a same-length edit")
	}
	if err := a.Add(30, 40, repl(15)); err != nil {
		t.Fatal(err)
	}
	a.Release(40)
	if a.Identity() {
		t.Error("Identity after releasing a growing edit")
	}
	if err := a.Add(50, 60, repl(5)); err != nil {
		t.Fatal(err)
	}
	a.Release(60)
	if !a.Identity() {
		t.Error("not Identity after edits that cancel out (+5, -5)")
	}
	a.Reset()
	if !a.Identity() || a.Live() != 0 {
		t.Error("not Identity after Reset")
	}
	if err := a.Add(0, 1, repl(1)); err != nil {
		t.Errorf("Add after Reset: %v", err)
	}
}

// TestAdjusterAgainstModel compares Map, Unmap and UnmapSACK with the naive
// model on random edit lists, including ones that straddle 2^32, and checks
// the round-trip and monotonicity properties.
func TestAdjusterAgainstModel(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for iter := 0; iter < 300; iter++ {
		m := randomModel(r, 1+r.IntN(MaxEdits), 400)
		a := m.adjuster(t)
		checkAgainstModel(t, m, a, -20, m.streamLen()+20)
	}
}

func (m *refModel) streamLen() int64 {
	if len(m.edits) == 0 {
		return 0
	}
	return m.edits[len(m.edits)-1].end + 10
}

func randomModel(r *rand.Rand, n int, maxGap int) *refModel {
	isn := Seq(r.Uint32())
	if r.IntN(2) == 0 {
		isn = Seq(0xffffffff - uint32(r.IntN(300))) // straddle 2^32
	}
	m := &refModel{isn: isn}
	var c int64
	for i := 0; i < n; i++ {
		if r.IntN(4) != 0 { // else adjacent to the previous edit
			c += int64(r.IntN(maxGap))
		}
		l := int64(1 + r.IntN(30))
		m.edits = append(m.edits, refEdit{c, c + l, repl(1 + r.IntN(40))})
		c += l
	}
	return m
}

func checkAgainstModel(t *testing.T, m *refModel, a *Adjuster, lo, hi int64) {
	t.Helper()
	outHi := m.mapOff(hi)
	for x := lo; x < hi; x++ {
		s := m.seq(x)
		if got, want := a.Map(s), m.seq(m.mapOff(x)); got != want {
			t.Fatalf("Map(%d) = %#x, model %#x", x, uint32(got), uint32(want))
		}
		if !m.inside(x) {
			if got := a.Unmap(a.Map(s)); got != s {
				t.Fatalf("Unmap(Map(%d)) = %#x, want %#x", x, uint32(got), uint32(s))
			}
		}
		if x > lo && a.Map(s).LessThan(a.Map(s.Add(-1))) {
			t.Fatalf("Map not monotonic at %d", x)
		}
	}
	for o := m.mapOff(lo); o < outHi; o++ {
		s := m.seq(o)
		if got, want := a.Unmap(s), m.seq(m.unmapOff(o, false)); got != want {
			t.Fatalf("Unmap(out %d) = %#x, model %#x", o, uint32(got), uint32(want))
		}
		l, rr := a.UnmapSACK(s, s.Add(7))
		if wl, wr := m.seq(m.unmapOff(o, true)), m.seq(m.unmapOff(o+7, false)); l != wl || rr != wr {
			t.Fatalf("UnmapSACK(out %d, +7) = (%#x, %#x), model (%#x, %#x)", o, uint32(l), uint32(rr), uint32(wl), uint32(wr))
		}
	}
}

// TestOutputInPlace: an edit that keeps the length is carried byte for
// byte: each segment keeps its own sequence number and length and carries
// the replacement of exactly the original bytes it covers.
func TestOutputInPlace(t *testing.T) {
	var a Adjuster
	if err := a.Add(1004, 1014, []byte("ABCDEFGHIJ")); err != nil {
		t.Fatal(err)
	}
	stream := []byte("0123456789abcdefghij")
	for _, tc := range []struct {
		seq      Seq
		n        int
		from     Seq
		wantSeq  Seq
		wantText string
	}{
		{1000, 8, 1000, 1000, "0123ABCD"},
		{1008, 8, 1008, 1008, "EFGHIJef"},
		{1006, 4, 1006, 1006, "CDEF"},
		{1000, 20, 1000, 1000, "0123ABCDEFGHIJefghij"},
		{1008, 8, 1010, 1010, "GHIJef"},
	} {
		off := tc.seq.Diff(1000)
		seq, out := a.Output(nil, tc.seq, stream[off:int(off)+tc.n], tc.from)
		if seq != tc.wantSeq || string(out) != tc.wantText {
			t.Errorf("Output(%d+%d from %d) = %d %q, want %d %q", tc.seq, tc.n, tc.from, seq, out, tc.wantSeq, tc.wantText)
		}
	}
}
