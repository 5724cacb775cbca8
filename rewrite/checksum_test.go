package rewrite

import (
	"math/rand/v2"
	"testing"

	"github.com/gopacket/gopacket"
)

func TestChecksumRFC1071Example(t *testing.T) {
	// RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
	b := []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}
	if got := Checksum(b, 0); got != 0xddf2 {
		t.Errorf("Checksum = %#04x, want 0xddf2", got)
	}
	// Byte-swapped input gives the byte-swapped sum (RFC 1071 §2(B)).
	sw := []byte{0x01, 0x00, 0x03, 0xf2, 0xf5, 0xf4, 0xf7, 0xf6}
	if got := Checksum(sw, 0); got != 0xf2dd {
		t.Errorf("swapped Checksum = %#04x, want 0xf2dd", got)
	}
}

func TestChecksumTable(t *testing.T) {
	tests := []struct {
		name    string
		b       []byte
		initial uint32
		want    uint16
	}{
		{"empty", nil, 0, 0},
		{"empty with initial", nil, 0x1234, 0x1234},
		{"initial folds", nil, 0x1ffff, 0x0001},
		{"odd byte padded", []byte{0xab}, 0, 0xab00},
		{"odd tail", []byte{0x12, 0x34, 0x56}, 0, 0x1234 + 0x5600},
		{"carry wraps", []byte{0xff, 0xff, 0x00, 0x01}, 0, 0x0001},
		{"all ones", []byte{0xff, 0xff, 0xff, 0xff}, 0, 0xffff},
		{"zeros", make([]byte, 33), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Checksum(tt.b, tt.initial); got != tt.want {
				t.Errorf("Checksum(% x, %#x) = %#04x, want %#04x", tt.b, tt.initial, got, tt.want)
			}
		})
	}
}

// TestChecksumMatchesGopacket compares Checksum with gopacket's
// implementation on random data of every length up to 300 bytes.
func TestChecksumMatchesGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 300; n++ {
		for k := 0; k < 5; k++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			if k == 4 {
				for i := range b {
					b[i] = 0xff
				}
			}
			init := r.Uint32() >> 8
			want := ^gopacket.FoldChecksum(gopacket.ComputeChecksum(b, init))
			if n == 0 && init == 0 {
				want = 0
			}
			if got := Checksum(b, init); got != want {
				t.Fatalf("len %d: Checksum = %#04x, gopacket %#04x", n, got, want)
			}
		}
	}
}

func TestChecksumChains(t *testing.T) {
	b := []byte("the quick brown fox jumps over the lazy dog!")
	for cut := 0; cut <= len(b); cut += 2 {
		if got, want := Checksum(b[cut:], uint32(Checksum(b[:cut], 0))), Checksum(b, 0); got != want {
			t.Errorf("cut at %d: chained %#04x, whole %#04x", cut, got, want)
		}
	}
}

// TestCsumDeltaMatchesRecompute changes random 16-bit-aligned spans of a
// buffer and checks that the incremental update gives the same checksum as a
// full recomputation (RFC 1624 eqn. 3 yields the canonical form).
func TestCsumDeltaMatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := 0; iter < 20000; iter++ {
		n := 2 + 2*r.IntN(40)
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if iter%7 == 0 {
			clear(b[2:]) // small sums, exercise the zero representations
		}
		// Checksum field at 0.
		b[0], b[1] = 0, 0
		hc := ^Checksum(b, 0)
		b[0], b[1] = byte(hc>>8), byte(hc)
		lo := 2 + 2*r.IntN((n-2)/2+1)
		hi := lo + 2*r.IntN((n-lo)/2+1)
		var d csumDelta
		d.sub(Checksum(b[lo:hi], 0))
		for i := lo; i < hi; i++ {
			if r.IntN(3) > 0 {
				b[i] = byte(r.Uint32())
			}
		}
		d.add(Checksum(b[lo:hi], 0))
		got := d.apply(hc)
		b[0], b[1] = 0, 0
		want := ^Checksum(b, 0)
		if got != want {
			t.Fatalf("iter %d: incremental %#04x, recomputed %#04x", iter, got, want)
		}
	}
}

func TestCsumDeltaNoChangeKeepsField(t *testing.T) {
	for _, hc := range []uint16{0, 1, 0x1234, 0xfffe, 0xffff} {
		var d csumDelta
		d.sub(0x1234)
		d.add(0x1234)
		if got := d.apply(hc); got != hc {
			t.Errorf("no-op delta changed checksum %#04x to %#04x", hc, got)
		}
		var z csumDelta
		z.sub(0)
		z.add(0xffff) // +0 -> -0: no change in ones-complement
		if got := z.apply(hc); got != hc {
			t.Errorf("zero-valued delta changed checksum %#04x to %#04x", hc, got)
		}
	}
}
