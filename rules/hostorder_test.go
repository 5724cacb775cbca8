//go:build linux

package rules

import (
	"bytes"
	"encoding/binary"
	"testing"
	"unsafe"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

// The TestHostOrder tests are pure: no root, no kernel, so scripts/cross
// also runs them under qemu-user on big-endian MIPS and on ARM.

var orders = []struct {
	name string
	o    binary.ByteOrder
}{{"little", binary.LittleEndian}, {"big", binary.BigEndian}}

func TestHostOrderNFQInfoV3(t *testing.T) {
	for _, tc := range []struct {
		num, total, flags uint16
		little, big       []byte
	}{
		{0, 1, 0,
			[]byte{0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00},
			[]byte{0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}},
		{0x0203, 4, nfqFlagBypass,
			[]byte{0x03, 0x02, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00},
			[]byte{0x02, 0x03, 0x00, 0x04, 0x00, 0x01, 0x00, 0x00}},
		{65534, 0x0102, nfqFlagBypass | nfqFlagCPUFanout,
			[]byte{0xfe, 0xff, 0x02, 0x01, 0x03, 0x00, 0x00, 0x00},
			[]byte{0xff, 0xfe, 0x01, 0x02, 0x00, 0x03, 0x00, 0x00}},
	} {
		if got := nfqInfoV3(binary.LittleEndian, tc.num, tc.total, tc.flags); !bytes.Equal(got, tc.little) {
			t.Errorf("nfqInfoV3(little, %#x, %d, %d) = % x, want % x", tc.num, tc.total, tc.flags, got, tc.little)
		}
		if got := nfqInfoV3(binary.BigEndian, tc.num, tc.total, tc.flags); !bytes.Equal(got, tc.big) {
			t.Errorf("nfqInfoV3(big, %#x, %d, %d) = % x, want % x", tc.num, tc.total, tc.flags, got, tc.big)
		}
	}
}

// words picks the data of the bitwise and cmp expressions out of a
// register-word expression list: mask, xor, cmp (nil where absent).
func words(t *testing.T, es []expr.Any) (mask, xor, cmp []byte) {
	t.Helper()
	for _, e := range es {
		switch e := e.(type) {
		case *expr.Bitwise:
			mask, xor = e.Mask, e.Xor
		case *expr.Cmp:
			cmp = e.Data
		}
	}
	return mask, xor, cmp
}

func TestHostOrderRegisterWords(t *testing.T) {
	type want struct{ mask, xor, cmp []byte }
	for _, tc := range []struct {
		what        string
		build       func(binary.ByteOrder) []expr.Any
		little, big want
	}{
		{"ct mark & 0x4000 == 0x4000", func(o binary.ByteOrder) []expr.Any { return ctMarkHas(o, 0x4000) },
			want{[]byte{0x00, 0x40, 0x00, 0x00}, []byte{0, 0, 0, 0}, []byte{0x00, 0x40, 0x00, 0x00}},
			want{[]byte{0x00, 0x00, 0x40, 0x00}, []byte{0, 0, 0, 0}, []byte{0x00, 0x00, 0x40, 0x00}}},
		{"ct mark & 0x12345678 == 0x12345678", func(o binary.ByteOrder) []expr.Any { return ctMarkHas(o, 0x12345678) },
			want{[]byte{0x78, 0x56, 0x34, 0x12}, []byte{0, 0, 0, 0}, []byte{0x78, 0x56, 0x34, 0x12}},
			want{[]byte{0x12, 0x34, 0x56, 0x78}, []byte{0, 0, 0, 0}, []byte{0x12, 0x34, 0x56, 0x78}}},
		{"ct state new", ctStateNew,
			want{[]byte{0x08, 0x00, 0x00, 0x00}, []byte{0, 0, 0, 0}, []byte{0, 0, 0, 0}},
			want{[]byte{0x00, 0x00, 0x00, 0x08}, []byte{0, 0, 0, 0}, []byte{0, 0, 0, 0}}},
		{"ct mark set ct mark | 0x2000", func(o binary.ByteOrder) []expr.Any { return setMark(o, 0x2000) },
			want{[]byte{0xff, 0xdf, 0xff, 0xff}, []byte{0x00, 0x20, 0x00, 0x00}, nil},
			want{[]byte{0xff, 0xff, 0xdf, 0xff}, []byte{0x00, 0x00, 0x20, 0x00}, nil}},
		{"ct mark set ct mark | 0x80000001", func(o binary.ByteOrder) []expr.Any { return setMark(o, 0x80000001) },
			want{[]byte{0xfe, 0xff, 0xff, 0x7f}, []byte{0x01, 0x00, 0x00, 0x80}, nil},
			want{[]byte{0x7f, 0xff, 0xff, 0xfe}, []byte{0x80, 0x00, 0x00, 0x01}, nil}},
	} {
		for _, ord := range orders {
			w := tc.little
			if ord.name == "big" {
				w = tc.big
			}
			mask, xor, cmp := words(t, tc.build(ord.o))
			if !bytes.Equal(mask, w.mask) || !bytes.Equal(xor, w.xor) || !bytes.Equal(cmp, w.cmp) {
				t.Errorf("%s, %s-endian: mask % x xor % x cmp % x, want mask % x xor % x cmp % x",
					tc.what, ord.name, mask, xor, cmp, w.mask, w.xor, w.cmp)
			}
		}
	}
}

// memory returns the bytes of *p as this machine lays them out: the
// kernel's view of the same value, found without encoding/binary.
func memory[T any](p *T) []byte {
	return bytes.Clone(unsafe.Slice((*byte)(unsafe.Pointer(p)), unsafe.Sizeof(*p)))
}

// TestHostOrderIsTheMachines checks that what the ruleset sends is laid
// out as the C structs and u32 registers are in this machine's memory
// (little-endian on amd64 and arm, big-endian on mips), so on each
// architecture the production path picks the right one of the orders the
// table tests above check.
func TestHostOrderIsTheMachines(t *testing.T) {
	word := uint32(0x01020304)
	if got, want := hostWord(hostOrder, word), memory(&word); !bytes.Equal(got, want) {
		t.Fatalf("hostOrder puts %#x as % x, this machine stores it as % x", word, got, want)
	}

	// struct xt_NFQ_info_v3 {__u16 queuenum; __u16 queues_total; __u16
	// flags;}, padded to 8 bytes.
	type xtNFQInfoV3 struct{ queuenum, queuesTotal, flags, pad uint16 }
	info := xtNFQInfoV3{queuenum: 0x0203, queuesTotal: 4, flags: nfqFlagBypass}
	tg := queueExpr(DivertCompat, 0x0203, 4, true).(*expr.Target)
	if got, want := []byte(*tg.Info.(*xt.Unknown)), memory(&info); !bytes.Equal(got, want) {
		t.Errorf("NFQUEUE info % x, this machine's struct is % x", got, want)
	}

	spec := testSpec()
	spec.ResizedMark = 0x00c04000
	mark := spec.ResizedMark
	mask, _, cmp := words(t, divertRule(spec, DivertCompat, &nftables.Set{Name: setCtlPorts}, 2, matchResized))
	if !bytes.Equal(mask, memory(&mark)) || !bytes.Equal(cmp, memory(&mark)) {
		t.Errorf("resized divert rule: mask % x cmp % x, this machine's u32 %#x is % x", mask, cmp, mark, memory(&mark))
	}

	pinMark := uint32(0x00012000)
	notMark := ^pinMark
	es := pinholeRule(families[0], pinMark, &nftables.Set{Name: setPin4})
	var bws []*expr.Bitwise
	for _, e := range es {
		if b, ok := e.(*expr.Bitwise); ok {
			bws = append(bws, b)
		}
	}
	if len(bws) != 2 {
		t.Fatalf("pinhole rule has %d bitwise expressions, want 2 (ct state, ct mark)", len(bws))
	}
	newBit := expr.CtStateBitNEW
	if !bytes.Equal(bws[0].Mask, memory(&newBit)) {
		t.Errorf("pinhole rule: ct state mask % x, this machine's u32 %#x is % x", bws[0].Mask, newBit, memory(&newBit))
	}
	if !bytes.Equal(bws[1].Mask, memory(&notMark)) || !bytes.Equal(bws[1].Xor, memory(&pinMark)) {
		t.Errorf("pinhole rule: ct mark mask % x xor % x, want % x and % x", bws[1].Mask, bws[1].Xor, memory(&notMark), memory(&pinMark))
	}
}
