package rewrite

import (
	"strconv"
	"testing"
)

func TestSeqAdd(t *testing.T) {
	tests := []struct {
		s    Seq
		n    int
		want Seq
	}{
		{0, 0, 0},
		{0, 1, 1},
		{0xffffffff, 1, 0},
		{0xffffffff, 2, 1},
		{0xfffffff0, 0x20, 0x10},
		{0, -1, 0xffffffff},
		{5, -10, 0xfffffffb},
		{0x10, -0x20, 0xfffffff0},
		{0x7fffffff, 1, 0x80000000},
	}
	for _, tt := range tests {
		if got := tt.s.Add(tt.n); got != tt.want {
			t.Errorf("Seq(%#x).Add(%d) = %#x, want %#x", uint32(tt.s), tt.n, uint32(got), uint32(tt.want))
		}
	}
}

// TestSeqAddWide: on 64-bit targets an int can be 2^32 or more, and Add
// takes it modulo 2^32. On 32-bit targets no int is that large, so there is
// nothing to check (the values are int64 variables, so the file still builds
// there).
func TestSeqAddWide(t *testing.T) {
	if strconv.IntSize < 64 {
		t.Skip("int has 32 bits: no n beyond 2^32 exists")
	}
	tests := []struct {
		s    Seq
		n    int64
		want Seq
	}{
		{1, 1 << 32, 1},
		{1, 1<<32 + 5, 6},
		{1, -(1 << 32) - 1, 0},
		{0xfffffffe, 3 << 32, 0xfffffffe},
	}
	for _, tt := range tests {
		if got := tt.s.Add(int(tt.n)); got != tt.want {
			t.Errorf("Seq(%#x).Add(%d) = %#x, want %#x", uint32(tt.s), tt.n, uint32(got), uint32(tt.want))
		}
	}
}

func TestSeqCompare(t *testing.T) {
	tests := []struct {
		a, b Seq
		diff int32
		less bool
		leq  bool
	}{
		{0, 0, 0, false, true},
		{1, 2, -1, true, true},
		{2, 1, 1, false, false},
		{0xffffffff, 0, -1, true, true},
		{0, 0xffffffff, 1, false, false},
		{0xfffffff0, 0x10, -0x20, true, true},
		{0x10, 0xfffffff0, 0x20, false, false},
		{0, 0x7fffffff, -0x7fffffff, true, true},
		{0x7fffffff, 0, 0x7fffffff, false, false},
		// Exactly half the space apart: int32 distance is -2^31, so a is
		// before b and b is before a (the ambiguous point of RFC 9293 §3.4).
		{0, 0x80000000, -0x80000000, true, true},
		{0x80000000, 0, -0x80000000, true, true},
	}
	for _, tt := range tests {
		if got := tt.a.Diff(tt.b); got != tt.diff {
			t.Errorf("Seq(%#x).Diff(%#x) = %d, want %d", uint32(tt.a), uint32(tt.b), got, tt.diff)
		}
		if got := tt.a.LessThan(tt.b); got != tt.less {
			t.Errorf("Seq(%#x).LessThan(%#x) = %t, want %t", uint32(tt.a), uint32(tt.b), got, tt.less)
		}
		if got := tt.a.LessThanEq(tt.b); got != tt.leq {
			t.Errorf("Seq(%#x).LessThanEq(%#x) = %t, want %t", uint32(tt.a), uint32(tt.b), got, tt.leq)
		}
	}
}

func TestSeqInRange(t *testing.T) {
	tests := []struct {
		s, lo, hi Seq
		want      bool
	}{
		{5, 5, 10, true},
		{9, 5, 10, true},
		{10, 5, 10, false},
		{4, 5, 10, false},
		{5, 5, 5, false},  // empty
		{7, 10, 5, false}, // inverted
		{0xffffffff, 0xfffffff0, 0x10, true},
		{0, 0xfffffff0, 0x10, true},
		{0xf, 0xfffffff0, 0x10, true},
		{0x10, 0xfffffff0, 0x10, false},
		{0xffffffef, 0xfffffff0, 0x10, false},
		{0xfffffff0, 0xfffffff0, 0, true},
		{0, 0xfffffff0, 0, false},
	}
	for _, tt := range tests {
		if got := tt.s.InRange(tt.lo, tt.hi); got != tt.want {
			t.Errorf("Seq(%#x).InRange(%#x, %#x) = %t, want %t", uint32(tt.s), uint32(tt.lo), uint32(tt.hi), got, tt.want)
		}
	}
}

func TestSeqMinMax(t *testing.T) {
	if got := Seq(0xfffffff0).max(0x10); got != 0x10 {
		t.Errorf("max across wrap = %#x, want 0x10", uint32(got))
	}
	if got := Seq(0xfffffff0).min(0x10); got != 0xfffffff0 {
		t.Errorf("min across wrap = %#x, want 0xfffffff0", uint32(got))
	}
}
