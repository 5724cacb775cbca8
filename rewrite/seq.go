package rewrite

// Seq is a TCP sequence number; comparisons use wrapping arithmetic
// (RFC 9293 §3.4): s is before o when the signed 32-bit distance s-o is
// negative. Comparisons are meaningful only for numbers less than 2^31 apart.
type Seq uint32

// Add returns s + n modulo 2^32 (n may be negative).
func (s Seq) Add(n int) Seq { return s + Seq(uint32(n)) }

// Diff returns the signed distance s - o.
func (s Seq) Diff(o Seq) int32 { return int32(uint32(s) - uint32(o)) }

// LessThan reports whether s is before o: int32(s-o) < 0.
func (s Seq) LessThan(o Seq) bool { return s.Diff(o) < 0 }

// LessThanEq reports whether s is before or equal to o.
func (s Seq) LessThanEq(o Seq) bool { return s.Diff(o) <= 0 }

// InRange reports whether lo <= s < hi, both comparisons in wrapping
// arithmetic. An empty (lo == hi) or inverted (hi before lo) range contains
// nothing.
func (s Seq) InRange(lo, hi Seq) bool { return lo.LessThanEq(s) && s.LessThan(hi) }

// max returns the later of s and o.
func (s Seq) max(o Seq) Seq {
	if s.LessThan(o) {
		return o
	}
	return s
}

// min returns the earlier of s and o.
func (s Seq) min(o Seq) Seq {
	if o.LessThan(s) {
		return o
	}
	return s
}
