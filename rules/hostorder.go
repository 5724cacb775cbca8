//go:build linux

package rules

import (
	"encoding/binary"

	"github.com/google/nftables/expr"
)

// Host byte order. Most of what ftpalg hands to the kernel is in network
// order: set and map keys (addresses and ports as loaded from the packet),
// NAT map data, the control-port set, and every ctnetlink attribute value
// (ctnetlink/codec.go sets BigEndian on its encoders and decoders). Netlink
// and nfgenmsg headers, element timeouts and expression attributes are
// encoded by google/nftables, mdlayher/netlink and go-nfqueue.
//
// A few values are in the kernel's own (host) byte order instead, and those
// are encoded here, each by a function that takes the order, so the tests
// can check both orders against literal bytes on any machine (and under
// qemu-user on a big-endian one); production passes hostOrder:
//   - struct xt_NFQ_info_v3, the info of the xtables NFQUEUE target, which
//     nft_compat hands to the target as it is;
//   - the 32-bit register words of "ct mark" and "ct state" (nft_ct stores
//     ct->mark and the state bits as host u32s), and so the mask, xor and
//     comparison data of the bitwise and cmp expressions that act on them.

// hostOrder is the byte order of the machine ftpalg runs on, which is the
// kernel's.
var hostOrder binary.ByteOrder = binary.NativeEndian

// hostWord is v as a 32-bit register word in order o.
func hostWord(o binary.ByteOrder, v uint32) []byte {
	b := make([]byte, 4)
	o.PutUint32(b, v)
	return b
}

// nfqInfoV3 encodes struct xt_NFQ_info_v3 {__u16 queuenum; __u16
// queues_total; __u16 flags;} in order o, padded to 8 bytes (XT_ALIGN) as
// nft_compat requires.
func nfqInfoV3(o binary.ByteOrder, num, total, flags uint16) []byte {
	b := make([]byte, 8)
	o.PutUint16(b[0:], num)
	o.PutUint16(b[2:], total)
	o.PutUint16(b[4:], flags)
	return b
}

// ctMarkHas is "ct mark & bits == bits", the register words in order o.
func ctMarkHas(o binary.ByteOrder, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: hostWord(o, bits), Xor: hostWord(o, 0)},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: hostWord(o, bits)},
	}
}

// ctStateNew is "ct state new", the register words in order o.
func ctStateNew(o binary.ByteOrder) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: hostWord(o, expr.CtStateBitNEW), Xor: hostWord(o, 0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: hostWord(o, 0)},
	}
}

// setMark is "ct mark set ct mark | mark", the register words in order o.
func setMark(o binary.ByteOrder, mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: hostWord(o, ^mark), Xor: hostWord(o, mark)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1, SourceRegister: true},
	}
}
