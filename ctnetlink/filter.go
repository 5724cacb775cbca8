package ctnetlink

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// Filter is what ftpalg needs from the conntrack event stream. Every
// other event is dropped in the kernel by a classic BPF socket filter on
// the event socket (SO_ATTACH_FILTER), so that a gateway's other traffic
// does not wake ftpalg. The filter only acts on ftpalg's own socket:
// conntrackd and any other listener still get every event.
type Filter struct {
	// ControlPorts: every event of a TCP connection whose reply tuple's
	// source port (the server's port, after DNAT) is one of these.
	ControlPorts []uint16
	// Mark: NEW events of TCP connections whose ct mark has all of these
	// bits (the data connections a pinhole admitted). 0 passes every NEW
	// event.
	Mark uint32
}

// The verdicts of the program: the number of bytes of the message to
// keep.
const (
	filterPass = 0xffffffff
	filterDrop = 0
)

// filterMaxAttrs bounds the walk over the attributes that follow the two
// tuples. The kernel (6.18, ctnetlink_conntrack_event) puts at most
// 14 there; a message with more is passed.
const filterMaxAttrs = 24

// maxFilterInsns is BPF_MAXINSNS, the kernel's limit for a classic
// program.
const maxFilterInsns = 4096

// Scratch memory slots of the program.
const (
	mEnd   = iota // nlmsg_len: where the attributes end
	mSkb          // the datagram's length
	mCur          // offset of the attribute being looked at
	mRoom         // mEnd - mCur
	mLen          // nla_len of the attribute at mCur
	mBase         // offset of a nested attribute being looked at
	mTmp          // byte-order conversion
	mIPLen        // nla_len of a tuple's CTA_TUPLE_IP
	mPLen         // nla_len of a tuple's CTA_TUPLE_PROTO
	mNew          // 1: IPCTNL_MSG_CT_NEW, 0: IPCTNL_MSG_CT_DELETE
	mProto        // the original tuple's CTA_PROTO_NUM
	mSlots        // how many slots are used
)

// nlaTypeMask clears NLA_F_NESTED and NLA_F_NET_BYTEORDER, as the decoder
// does.
const nlaTypeMask = 0x3fff

// Program returns the classic BPF program that passes what f asks for.
// order is the byte order of the host that runs it: netlink headers
// (nlmsghdr, nlattr) are in host order, while the ports and the mark
// inside the attributes are big-endian (classic BPF loads read
// big-endian).
//
// Each event is one datagram holding one netlink message: nlmsghdr,
// nfgenmsg, then CTA_TUPLE_ORIG and CTA_TUPLE_REPLY (each: CTA_TUPLE_IP,
// then CTA_TUPLE_PROTO with CTA_PROTO_NUM and up to three more
// attributes, and optionally CTA_TUPLE_ZONE), then other attributes, CTA_MARK among
// them. The program checks every header it relies on. It drops only a
// message it has read completely and found to be neither
//   - an event of a TCP connection whose reply source port is a control
//     port, nor
//   - a NEW event of a TCP connection with (ct mark & Mark) == Mark;
//
// anything else it does not recognise (another message type, family or
// layout, a truncated message, a second tuple, more than filterMaxAttrs
// attributes) is passed, for the decoder to judge.
func (f Filter) Program(order binary.ByteOrder) ([]bpf.Instruction, error) {
	a := &assembler{little: order.Uint16([]byte{1, 0}) == 1}
	a.header()
	// The original tuple decides the protocol; the reply tuple's source
	// port whether this is a control connection.
	a.ldxConst(20)
	a.tuple(ctaTupleOrig, "orig")
	a.ld(mProto)
	a.jumpIf(bpf.JumpEqual, protoTCP, "tcp", "")
	a.jump("walk")
	a.label("tcp")
	a.tuple(ctaTupleReply, "reply")
	// A holds the reply tuple's source port.
	for _, p := range f.ControlPorts {
		a.passIf(bpf.JumpEqual, uint32(p))
	}
	if f.Mark == 0 {
		a.ld(mNew)
		a.passIf(bpf.JumpNotEqual, 0)
	}
	a.label("walk")
	// X = mCur: the attribute after the last tuple looked at.
	for i := range filterMaxAttrs {
		a.walkStep(i, f.Mark)
	}
	a.emit(bpf.RetConstant{Val: filterPass}) // too many attributes
	a.label("end")
	a.emit(bpf.RetConstant{Val: filterDrop})
	prog, err := a.assemble()
	if err != nil {
		return nil, err
	}
	if len(prog) > maxFilterInsns {
		return nil, fmt.Errorf("ctnetlink: event filter for %d control ports has %d instructions, more than the kernel's %d", len(f.ControlPorts), len(prog), maxFilterInsns)
	}
	return prog, nil
}

// header checks the netlink and nfgenmsg headers: one ctnetlink NEW or
// DELETE message, AF_INET or AF_INET6, filling the datagram.
func (a *assembler) header() {
	// Every slot is written before it is read (the kernel's checker
	// insists).
	a.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: 0})
	for s := range mSlots {
		a.st(s)
	}
	a.emit(bpf.LoadExtension{Num: bpf.ExtLen})
	a.passIf(bpf.JumpLessThan, 20) // nlmsghdr + nfgenmsg
	a.st(mSkb)
	a.loadU32(0) // nlmsg_len
	a.passIf(bpf.JumpLessThan, 20)
	a.st(mEnd)
	a.ldx(mSkb)
	a.passIfX(bpf.JumpGreaterThan) // nlmsg_len beyond the datagram
	// A second message would need 16 more bytes after this one's
	// aligned end: then the datagram is not one event.
	a.emit(
		bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 3 + 16},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: ^uint32(3)},
		bpf.TAX{},
	)
	a.ld(mSkb)
	a.emit(
		bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 3},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: ^uint32(3)},
	)
	a.passIfX(bpf.JumpGreaterOrEqual)
	// nlmsg_type: subsystem CTNETLINK, IPCTNL_MSG_CT_NEW or _DELETE.
	a.loadU16(4, -1)
	a.jumpIf(bpf.JumpEqual, subsysCT<<8|msgCTDelete, "family", "")
	a.passIf(bpf.JumpNotEqual, subsysCT<<8|msgCTNew)
	a.emit(bpf.LoadConstant{Dst: bpf.RegA, Val: 1})
	a.st(mNew)
	a.label("family")
	a.emit(bpf.LoadAbsolute{Off: 16, Size: 1}) // nfgen_family
	a.jumpIf(bpf.JumpEqual, 2, "families", "")
	a.passIf(bpf.JumpNotEqual, 10)
	a.label("families")
}

// attr checks the header of the attribute at X (== mCur): it must lie
// within the message. It leaves its nla_len in mLen and its type,
// flags cleared, in A.
func (a *assembler) attr() {
	a.ld(mEnd)
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpSub})
	a.passIf(bpf.JumpLessThan, 4)
	a.st(mRoom)
	a.loadU16(0, mCur)
	a.passIf(bpf.JumpLessThan, 4)
	a.st(mLen)
	a.ldx(mRoom)
	a.passIfX(bpf.JumpGreaterThan)
	a.ldx(mCur)
	a.loadU16(2, mCur)
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: nlaTypeMask})
}

// next moves X and mCur past the attribute at mCur; it passes if the
// aligned length runs past the message.
func (a *assembler) next() {
	a.ld(mLen)
	a.emit(
		bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 3},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: ^uint32(3)},
		bpf.ALUOpX{Op: bpf.ALUOpAdd},
	)
	a.ldx(mEnd)
	a.passIfX(bpf.JumpGreaterThan)
	a.st(mCur)
	a.emit(bpf.TAX{})
}

// tuple checks that the attribute at X is the tuple typ with exactly
// the layout the decoder reads unambiguously, and leaves X and mCur
// after it. For the original tuple it stores CTA_PROTO_NUM in mProto;
// for the reply tuple (of TCP) it leaves the source port in A.
//
//	+0  nlattr typ
//	+4  CTA_TUPLE_IP, ipLen bytes (aligned; its content is the decoder's)
//	+4+ipLen  CTA_TUPLE_PROTO, pLen bytes:
//	     +4  CTA_PROTO_NUM, nla_len 5
//	     +12, +20, +28  attributes of nla_len 5..8 (ports, ICMP id,
//	         type, code): reply of TCP: pLen 28, CTA_PROTO_SRC_PORT
//	         (nla_len 6) at +12
//	[+4+ipLen+pLen  CTA_TUPLE_ZONE, nla_len 6]
func (a *assembler) tuple(typ uint16, name string) {
	orig := typ == ctaTupleOrig
	a.emit(bpf.StoreScratch{Src: bpf.RegX, N: mCur}) // X holds the tuple's offset
	a.attr()
	a.passIf(bpf.JumpNotEqual, uint32(typ))
	// CTA_TUPLE_IP
	a.ld(mLen)
	a.passIf(bpf.JumpLessThan, 4+4+12)
	a.loadU16(4, mCur)
	a.passIf(bpf.JumpLessThan, 4)
	a.passIf(bpf.JumpBitsSet, 3)
	a.st(mIPLen)
	a.loadU16(6, mCur)
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: nlaTypeMask})
	a.passIf(bpf.JumpNotEqual, ctaTupleIP)
	// CTA_TUPLE_PROTO's header must lie within the tuple.
	a.ld(mIPLen)
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 4 + 4})
	a.ldx(mLen)
	a.passIfX(bpf.JumpGreaterThan)
	a.protoBase()
	a.loadU16(0, mBase)
	a.st(mPLen)
	if orig {
		a.passIf(bpf.JumpLessThan, 12)
		a.passIf(bpf.JumpGreaterThan, 36)
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpSub, Val: 12})
		a.passIf(bpf.JumpBitsSet, 7)
	} else {
		a.passIf(bpf.JumpNotEqual, 28)
	}
	a.loadU16(2, mBase)
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: nlaTypeMask})
	a.passIf(bpf.JumpNotEqual, ctaTupleProto)
	// The tuple holds CTA_TUPLE_IP, CTA_TUPLE_PROTO and perhaps a zone.
	a.ld(mIPLen)
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 4})
	a.ldx(mPLen)
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	a.ldx(mLen)
	a.jumpIfX(bpf.JumpEqual, name+".proto", "")
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 8})
	a.passIfX(bpf.JumpNotEqual)
	// CTA_TUPLE_ZONE, the tuple's last 8 bytes
	a.ld(mCur)
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd}) // + tuple length
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpSub, Val: 8})
	a.st(mBase)
	a.emit(bpf.TAX{})
	a.loadU16(0, mBase)
	a.passIf(bpf.JumpNotEqual, 6)
	a.loadU16(2, mBase)
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: nlaTypeMask})
	a.passIf(bpf.JumpNotEqual, 3) // CTA_TUPLE_ZONE
	a.label(name + ".proto")
	// Everything read below lies within the tuple.
	a.protoBase()
	a.loadU16(4, mBase)
	a.passIf(bpf.JumpNotEqual, 5)
	a.loadU16(6, mBase)
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: nlaTypeMask})
	a.passIf(bpf.JumpNotEqual, ctaProtoNum)
	// The others: each 5..8 bytes long, so that the decoder finds them
	// where this program looks, and none may repeat what is read here.
	offs := []uint32{12, 20}
	if orig {
		offs = append(offs, 28)
	}
	for _, off := range offs {
		if orig {
			a.ld(mPLen)
			a.jumpIf(bpf.JumpLessOrEqual, off, name+".kids", "")
		}
		a.loadU16(off, mBase)
		a.passIf(bpf.JumpLessThan, 5)
		a.passIf(bpf.JumpGreaterThan, 8)
		a.loadU16(off+2, mBase)
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: nlaTypeMask})
		switch {
		case orig:
			a.passIf(bpf.JumpEqual, ctaProtoNum)
		case off == 12:
			a.passIf(bpf.JumpNotEqual, ctaProtoSrcPort)
		default:
			a.passIf(bpf.JumpEqual, ctaProtoSrcPort)
		}
	}
	if orig {
		a.label(name + ".kids")
		a.emit(bpf.LoadIndirect{Off: 8, Size: 1})
		a.st(mProto)
	} else {
		// The first of them is CTA_PROTO_SRC_PORT (the loop made sure
		// the second is not); its value is 2 bytes.
		a.loadU16(12, mBase)
		a.passIf(bpf.JumpNotEqual, 6)
	}
	a.ldx(mCur)
	a.next()
	if !orig {
		a.ld(mBase)
		a.emit(bpf.TAX{})
		a.emit(bpf.LoadIndirect{Off: 16, Size: 2}) // big-endian
		a.ldx(mCur)
	}
}

// protoBase sets X and mBase to the offset of the tuple's
// CTA_TUPLE_PROTO: mCur + 4 + mIPLen.
func (a *assembler) protoBase() {
	a.ld(mCur)
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 4})
	a.ldx(mIPLen)
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	a.st(mBase)
	a.emit(bpf.TAX{})
}

// walkStep looks at one attribute after the tuples: at the end of the
// message it drops; a second tuple passes; a CTA_MARK with the mark's
// bits passes a NEW event of a TCP connection.
func (a *assembler) walkStep(i int, mark uint32) {
	next := fmt.Sprintf("walk%d.next", i)
	markLabel := fmt.Sprintf("walk%d.mark", i)
	a.ld(mEnd)
	a.jumpIfX(bpf.JumpEqual, fmt.Sprintf("walk%d.end", i), "")
	a.attr()
	a.passIf(bpf.JumpEqual, ctaTupleOrig)
	a.jumpIf(bpf.JumpEqual, ctaMark, markLabel, "")
	a.jumpIf(bpf.JumpNotEqual, ctaTupleReply, next, "")
	// A reply tuple matters only for TCP (the first one was read).
	a.ld(mProto)
	a.passIf(bpf.JumpEqual, protoTCP)
	a.jump(next)
	a.label(markLabel)
	if mark != 0 {
		a.ld(mProto)
		a.jumpIf(bpf.JumpNotEqual, protoTCP, next, "")
		a.ld(mNew)
		a.jumpIf(bpf.JumpEqual, 0, next, "")
		a.ld(mLen)
		a.jumpIf(bpf.JumpNotEqual, 8, next, "")
		a.emit(bpf.LoadIndirect{Off: 4, Size: 4}) // big-endian
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mark})
		a.passIf(bpf.JumpEqual, mark)
	}
	a.label(next)
	a.next()
	a.jump(fmt.Sprintf("walk%d", i+1))
	a.label(fmt.Sprintf("walk%d.end", i))
	a.jump("end")
	a.label(fmt.Sprintf("walk%d", i+1))
}

// assembler builds a program with forward jumps to labels.
type assembler struct {
	little bool
	ins    []bpf.Instruction
	labels map[string]int
	refs   []jumpRef
	err    error
}

// jumpRef is a jump at ins[at] to labels (empty: the next instruction).
type jumpRef struct {
	at          int
	true, false string
}

func (a *assembler) emit(ins ...bpf.Instruction) { a.ins = append(a.ins, ins...) }

func (a *assembler) label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	if _, dup := a.labels[name]; dup {
		a.fail(fmt.Errorf("label %q twice", name))
	}
	a.labels[name] = len(a.ins)
}

func (a *assembler) fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

func (a *assembler) st(slot int)  { a.emit(bpf.StoreScratch{Src: bpf.RegA, N: slot}) }
func (a *assembler) ld(slot int)  { a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: slot}) }
func (a *assembler) ldx(slot int) { a.emit(bpf.LoadScratch{Dst: bpf.RegX, N: slot}) }

func (a *assembler) ldxConst(v uint32) { a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: v}) }

func (a *assembler) jumpIf(cond bpf.JumpTest, val uint32, t, f string) {
	a.refs = append(a.refs, jumpRef{at: len(a.ins), true: t, false: f})
	a.emit(bpf.JumpIf{Cond: cond, Val: val})
}

func (a *assembler) jumpIfX(cond bpf.JumpTest, t, f string) {
	a.refs = append(a.refs, jumpRef{at: len(a.ins), true: t, false: f})
	a.emit(bpf.JumpIfX{Cond: cond})
}

func (a *assembler) jump(to string) {
	a.refs = append(a.refs, jumpRef{at: len(a.ins), true: to})
	a.emit(bpf.Jump{})
}

// passIf passes the message if A cond val holds. The verdict sits next
// to the test, so that no conditional jump is long.
func (a *assembler) passIf(cond bpf.JumpTest, val uint32) {
	a.emit(bpf.JumpIf{Cond: cond, Val: val, SkipFalse: 1}, bpf.RetConstant{Val: filterPass})
}

// passIfX is passIf comparing A with X.
func (a *assembler) passIfX(cond bpf.JumpTest) {
	a.emit(bpf.JumpIfX{Cond: cond, SkipFalse: 1}, bpf.RetConstant{Val: filterPass})
}

// loadU16 loads the host-order 16-bit value at off (base -1) or at
// X+off, where X equals scratch slot base, into A. X is kept.
func (a *assembler) loadU16(off uint32, base int) {
	load := func(off uint32, size int) bpf.Instruction {
		if base < 0 {
			return bpf.LoadAbsolute{Off: off, Size: size}
		}
		return bpf.LoadIndirect{Off: off, Size: size}
	}
	if !a.little {
		a.emit(load(off, 2))
		return
	}
	a.emit(load(off, 1))
	a.st(mTmp)
	a.emit(load(off+1, 1), bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 8})
	a.ldx(mTmp)
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpOr})
	if base >= 0 {
		a.ldx(base)
	}
}

// loadU32 loads the host-order 32-bit value at the absolute offset off
// into A; X is overwritten.
func (a *assembler) loadU32(off uint32) {
	if !a.little {
		a.emit(bpf.LoadAbsolute{Off: off, Size: 4})
		return
	}
	a.emit(bpf.LoadAbsolute{Off: off + 3, Size: 1})
	for i := 2; i >= 0; i-- {
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 8})
		a.st(mTmp)
		a.emit(bpf.LoadAbsolute{Off: off + uint32(i), Size: 1})
		a.ldx(mTmp)
		a.emit(bpf.ALUOpX{Op: bpf.ALUOpOr})
	}
}

// assemble resolves the jumps. Jumps only go forward; a conditional
// one reaches at most 255 instructions.
func (a *assembler) assemble() ([]bpf.Instruction, error) {
	if a.err != nil {
		return nil, a.err
	}
	skip := func(from int, to string) (uint32, error) {
		if to == "" {
			return 0, nil
		}
		at, ok := a.labels[to]
		if !ok {
			return 0, fmt.Errorf("no label %q", to)
		}
		if at <= from {
			return 0, fmt.Errorf("jump from %d back to %q", from, to)
		}
		return uint32(at - from - 1), nil
	}
	out := append([]bpf.Instruction(nil), a.ins...)
	for _, r := range a.refs {
		t, err := skip(r.at, r.true)
		if err != nil {
			return nil, err
		}
		f, err := skip(r.at, r.false)
		if err != nil {
			return nil, err
		}
		switch ins := out[r.at].(type) {
		case bpf.Jump:
			ins.Skip = t
			out[r.at] = ins
		case bpf.JumpIf:
			if t > 255 || f > 255 {
				return nil, errors.New("ctnetlink: event filter: conditional jump too long")
			}
			ins.SkipTrue, ins.SkipFalse = uint8(t), uint8(f)
			out[r.at] = ins
		case bpf.JumpIfX:
			if t > 255 || f > 255 {
				return nil, errors.New("ctnetlink: event filter: conditional jump too long")
			}
			ins.SkipTrue, ins.SkipFalse = uint8(t), uint8(f)
			out[r.at] = ins
		}
	}
	return out, nil
}
