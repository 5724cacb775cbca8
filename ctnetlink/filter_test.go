package ctnetlink

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"syscall"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
)

// The event filter is checked by running its program in x/net/bpf's VM
// over messages encoded as the kernel encodes them, for both byte
// orders; the decoder (DecodeEvent) is the oracle of what ftpalg needs.

// wire encodes netlink messages with headers in one byte order; values
// (addresses, ports, the mark) are big-endian, as in ctnetlink.
type wire struct{ order binary.ByteOrder }

const nlaNested = 0x8000 // NLA_F_NESTED, which the kernel sets on nests

func (w wire) attr(typ uint16, payload []byte) []byte {
	b := make([]byte, 4, 4+len(payload)+3)
	w.order.PutUint16(b[0:], uint16(4+len(payload)))
	w.order.PutUint16(b[2:], typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func (w wire) nest(typ uint16, children ...[]byte) []byte {
	return w.attr(typ|nlaNested, slices.Concat(children...))
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// event describes one conntrack event message.
type event struct {
	msgType   uint16 // subsystem<<8 | message
	flags     uint16
	family    uint8
	proto     uint8
	orig      [2]netip.AddrPort // src, dst
	reply     [2]netip.AddrPort
	mark      uint32 // CTA_MARK, when non-zero
	zone      bool   // CTA_TUPLE_ZONE in both tuples, CTA_ZONE after them
	noNestFlg bool   // nests without NLA_F_NESTED
	after     [][]byte
}

func (w wire) tuple(typ uint16, e event, t [2]netip.AddrPort) []byte {
	nest := w.nest
	if e.noNestFlg {
		nest = func(typ uint16, children ...[]byte) []byte { return w.attr(typ, slices.Concat(children...)) }
	}
	src, dst := uint16(ctaIPv4Src), uint16(ctaIPv4Dst)
	if t[0].Addr().Is6() {
		src, dst = ctaIPv6Src, ctaIPv6Dst
	}
	ip := nest(ctaTupleIP, w.attr(src, t[0].Addr().AsSlice()), w.attr(dst, t[1].Addr().AsSlice()))
	var l4 [][]byte
	switch e.proto {
	case 1, 58: // ICMP, ICMPv6: id, type, code
		base := uint16(4)
		if e.proto == 58 {
			base = 7
		}
		l4 = [][]byte{w.attr(base, be16(t[0].Port())), w.attr(base+1, []byte{8}), w.attr(base+2, []byte{0})}
	default:
		l4 = [][]byte{w.attr(ctaProtoSrcPort, be16(t[0].Port())), w.attr(ctaProtoDstPort, be16(t[1].Port()))}
	}
	proto := nest(ctaTupleProto, append([][]byte{w.attr(ctaProtoNum, []byte{e.proto})}, l4...)...)
	parts := [][]byte{ip, proto}
	if e.zone {
		parts = append(parts, w.attr(3, be16(7))) // CTA_TUPLE_ZONE
	}
	return nest(typ, parts...)
}

// encode builds the message in the kernel's order of attributes
// (ctnetlink_conntrack_event): tuples, [zone], id, status, then timeout
// and protoinfo, then e.after, then the mark.
func (w wire) encode(e event) []byte {
	attrs := [][]byte{w.tuple(ctaTupleOrig, e, e.orig), w.tuple(ctaTupleReply, e, e.reply)}
	if e.zone {
		attrs = append(attrs, w.attr(18, be16(7))) // CTA_ZONE
	}
	attrs = append(attrs,
		w.attr(ctaID, be32(0x12345678)),
		w.attr(ctaStatus, be32(0x18e)),
		w.attr(7, be32(120)), // CTA_TIMEOUT
		w.nest(ctaProtoInfo, w.nest(ctaProtoInfoTCP,
			w.attr(ctaProtoInfoTCPState, []byte{3}),
			w.attr(ctaProtoInfoTCPFlagsOrig, []byte{0x0a, 0}),
			w.attr(ctaProtoInfoTCPFlagsReply, []byte{0x0a, 0}))),
	)
	attrs = append(attrs, e.after...)
	if e.mark != 0 {
		attrs = append(attrs, w.attr(ctaMark, be32(e.mark)))
	}
	return w.message(e.msgType, e.flags, e.family, slices.Concat(attrs...))
}

func (w wire) message(typ, flags uint16, family uint8, attrs []byte) []byte {
	b := make([]byte, 20, 20+len(attrs))
	w.order.PutUint32(b[0:], uint32(20+len(attrs)))
	w.order.PutUint16(b[4:], typ)
	w.order.PutUint16(b[6:], flags)
	w.order.PutUint32(b[8:], 0)           // seq
	w.order.PutUint32(b[12:], 0)          // portid
	b[16], b[17] = family, 0              // nfgen_family, version
	binary.BigEndian.PutUint16(b[18:], 0) // res_id
	return append(b, attrs...)
}

// setLen rewrites nlmsg_len.
func (w wire) setLen(b []byte, n int) []byte {
	c := slices.Clone(b)
	w.order.PutUint32(c[0:], uint32(n))
	return c
}

const (
	typNew    = subsysCT<<8 | msgCTNew
	typDelete = subsysCT<<8 | msgCTDelete
	flagsNew  = 0x400 | 0x200 // NLM_F_CREATE | NLM_F_EXCL
)

var (
	v4client = netip.MustParseAddrPort("198.51.100.10:40000")
	v4pub    = netip.MustParseAddrPort("203.0.113.1:21")
	v4srv    = netip.MustParseAddrPort("10.0.0.2:21")
	v6client = netip.MustParseAddrPort("[2001:db8:1::10]:40000")
	v6srv    = netip.MustParseAddrPort("[2001:db8:2::20]:21")
)

// conn returns an event of a TCP connection from client to server
// (published as pub: DNAT) of family fam.
func conn(newEvent bool, client, pub, server netip.AddrPort, mark uint32) event {
	e := event{msgType: typDelete, family: 2, proto: 6, mark: mark,
		orig: [2]netip.AddrPort{client, pub}, reply: [2]netip.AddrPort{server, client}}
	if newEvent {
		e.msgType, e.flags = typNew, flagsNew
	}
	if client.Addr().Is6() {
		e.family = 10
	}
	return e
}

func withPort(ap netip.AddrPort, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr(), port)
}

var orders = []struct {
	name  string
	order binary.ByteOrder
}{{"le", binary.LittleEndian}, {"be", binary.BigEndian}}

// runFilter runs f's program for order over b: true if it passes b.
func runFilter(t testing.TB, f Filter, order binary.ByteOrder, b []byte) bool {
	t.Helper()
	prog, err := f.Program(order)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatalf("program rejected by the VM: %v", err)
	}
	n, err := vm.Run(b)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 && n < len(b) {
		t.Fatalf("the program keeps %d of %d bytes", n, len(b))
	}
	return n != 0
}

// needed reports whether the decoder, given the datagram b as Events.Run
// gets it from the socket, finds an event that f asks for. It reads the
// headers in the host's order, so it applies to native-order messages
// only.
func needed(b []byte, f Filter) bool {
	buf := make([]byte, (len(b)+3)&^3) // the receive path reads aligned lengths
	copy(buf, b)
	raw, err := syscall.ParseNetlinkMessage(buf)
	if err != nil {
		return false
	}
	for _, r := range raw {
		m := netlink.Message{
			Header: netlink.Header{Length: r.Header.Len, Type: netlink.HeaderType(r.Header.Type),
				Flags: netlink.HeaderFlags(r.Header.Flags), Sequence: r.Header.Seq, PID: r.Header.Pid},
			Data: r.Data,
		}
		typ, info, err := DecodeEvent(m)
		if err != nil || info.Proto != protoTCP {
			continue
		}
		if slices.Contains(f.ControlPorts, info.Reply.Src.Port()) || (typ == EventNew && info.Mark&f.Mark == f.Mark) {
			return true
		}
	}
	return false
}

var isLittle = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

func native(order binary.ByteOrder) bool {
	return (order.Uint16([]byte{1, 0}) == 1) == isLittle
}

var ftpFilter = Filter{ControlPorts: []uint16{21, 2121}, Mark: 0x2000}

func TestFilterEvents(t *testing.T) {
	other := uint16(443)
	type tc struct {
		name string
		e    event
		pass bool
	}
	var cases []tc
	for _, fam := range []struct {
		name                string
		client, pub, server netip.AddrPort
	}{{"v4", v4client, v4pub, v4srv}, {"v6", v6client, v6srv, v6srv}} {
		for _, isNew := range []bool{true, false} {
			kind := map[bool]string{true: "new", false: "destroy"}[isNew]
			for _, mark := range []uint32{0, 0x2000, 0x2001, 0x6000, 0x1000} {
				marked := mark&0x2000 == 0x2000
				// A control connection: every event passes.
				cases = append(cases, tc{fmt.Sprintf("%s %s control mark %#x", fam.name, kind, mark),
					conn(isNew, fam.client, fam.pub, fam.server, mark), true})
				// The second control port, not DNATed.
				cases = append(cases, tc{fmt.Sprintf("%s %s control 2121 mark %#x", fam.name, kind, mark),
					conn(isNew, fam.client, withPort(fam.server, 2121), withPort(fam.server, 2121), mark), true})
				// Another connection: only a NEW with the mark bits.
				e := conn(isNew, fam.client, withPort(fam.pub, other), withPort(fam.server, other), mark)
				cases = append(cases, tc{fmt.Sprintf("%s %s port %d mark %#x", fam.name, kind, other, mark), e, isNew && marked})
				// The client's port is 21: not a control connection.
				e = conn(isNew, withPort(fam.client, 21), withPort(fam.pub, other), withPort(fam.server, other), mark)
				cases = append(cases, tc{fmt.Sprintf("%s %s client port 21 mark %#x", fam.name, kind, mark), e, isNew && marked})
				// Zones add CTA_TUPLE_ZONE in the tuples and CTA_ZONE.
				e = conn(isNew, fam.client, withPort(fam.pub, other), withPort(fam.server, other), mark)
				e.zone = true
				cases = append(cases, tc{fmt.Sprintf("%s %s zone mark %#x", fam.name, kind, mark), e, isNew && marked})
				e = conn(isNew, fam.client, fam.pub, fam.server, mark)
				e.zone = true
				cases = append(cases, tc{fmt.Sprintf("%s %s zone control mark %#x", fam.name, kind, mark), e, true})
				// Nests without NLA_F_NESTED read the same.
				e = conn(isNew, fam.client, withPort(fam.pub, other), withPort(fam.server, other), mark)
				e.noNestFlg = true
				cases = append(cases, tc{fmt.Sprintf("%s %s no nest flag mark %#x", fam.name, kind, mark), e, isNew && marked})
			}
			// Other protocols are never needed, whatever their ports and
			// mark.
			for _, proto := range []uint8{17, 132} {
				e := conn(isNew, fam.client, fam.pub, fam.server, 0x2000)
				e.proto = proto
				cases = append(cases, tc{fmt.Sprintf("%s %s proto %d port 21 marked", fam.name, kind, proto), e, false})
			}
			icmp := uint8(1)
			if fam.name == "v6" {
				icmp = 58
			}
			e := conn(isNew, fam.client, fam.pub, fam.server, 0x2000)
			e.proto = icmp
			cases = append(cases, tc{fmt.Sprintf("%s %s icmp marked", fam.name, kind), e, false})
		}
	}
	// The kernel's other attributes (helper, labels, master tuple, seqadj)
	// before the mark.
	full := conn(true, v4client, withPort(v4pub, 50000), withPort(v4srv, 50000), 0x2000)
	for _, o := range orders {
		w := wire{o.order}
		t.Run(o.name, func(t *testing.T) {
			for _, c := range cases {
				b := w.encode(c.e)
				if got := runFilter(t, ftpFilter, o.order, b); got != c.pass {
					t.Errorf("%s: pass=%v, want %v", c.name, got, c.pass)
				}
				if native(o.order) {
					if n := needed(b, ftpFilter); n != c.pass {
						t.Errorf("%s: the decoder finds it needed=%v, the case says %v", c.name, n, c.pass)
					}
				}
			}
			e := full
			e.after = [][]byte{
				w.nest(ctaHelp, w.attr(ctaHelpName, []byte("ftp\x00"))),
				w.attr(22, make([]byte, 16)), // CTA_LABELS
				w.tuple(7, e, e.orig),        // CTA_TUPLE_MASTER
				w.nest(11, w.attr(1, be32(1)), w.attr(2, be32(0)), w.attr(3, be32(3))),
				w.nest(12, w.attr(1, be32(1)), w.attr(2, be32(0)), w.attr(3, be32(3))),
			}
			if !runFilter(t, ftpFilter, o.order, w.encode(e)) {
				t.Errorf("marked NEW after helper, labels, master, seqadj: dropped")
			}
			e.mark = 0
			if runFilter(t, ftpFilter, o.order, w.encode(e)) {
				t.Errorf("unmarked NEW after helper, labels, master, seqadj: passed")
			}
		})
	}
}

// TestFilterOddMessages: what the program does not recognise, it
// passes; what it can rule out after reading it whole, it drops.
func TestFilterOddMessages(t *testing.T) {
	drop := conn(true, v4client, withPort(v4pub, 443), withPort(v4srv, 443), 0)
	for _, o := range orders {
		w := wire{o.order}
		t.Run(o.name, func(t *testing.T) {
			base := w.encode(drop)
			if runFilter(t, ftpFilter, o.order, base) {
				t.Fatal("the base message (unneeded) passes: the cases below would prove nothing")
			}
			pass := map[string][]byte{}
			// Every truncation of the datagram (nlmsg_len beyond it).
			for n := range len(base) {
				pass[fmt.Sprintf("datagram cut to %d bytes", n)] = base[:n]
			}
			// nlmsg_len inside the tuples or inside an attribute.
			for _, n := range []int{21, 24, 40, 60, len(base) - 2} {
				pass[fmt.Sprintf("nlmsg_len %d", n)] = w.setLen(base, n)
				pass[fmt.Sprintf("nlmsg_len %d, datagram cut there", n)] = w.setLen(base, n)[:n]
			}
			e := drop
			e.family = 7
			pass["family 7"] = w.encode(e)
			e = drop
			e.msgType = subsysCT<<8 | msgCTGet
			pass["IPCTNL_MSG_CT_GET"] = w.encode(e)
			e = drop
			e.msgType = 2<<8 | msgCTNew // expectations
			pass["NFNL_SUBSYS_CTNETLINK_EXP"] = w.encode(e)
			pass["NLMSG_ERROR"] = w.message(2, 0, 2, w.attr(1, be32(0)))
			// A second message in the datagram.
			pass["two messages"] = slices.Concat(base, w.encode(conn(true, v4client, v4pub, v4srv, 0)))
			// A second original or (TCP) reply tuple later on.
			e = drop
			e.after = [][]byte{w.tuple(ctaTupleOrig, e, e.orig)}
			pass["second orig tuple"] = w.encode(e)
			e = drop
			e.after = [][]byte{w.tuple(ctaTupleReply, e, e.reply)}
			pass["second reply tuple"] = w.encode(e)
			e = drop
			e.proto = 17
			e.after = [][]byte{w.tuple(ctaTupleOrig, e, e.orig)}
			pass["udp, second orig tuple"] = w.encode(e)
			// Tuples out of order, or missing.
			pass["reply first"] = w.message(typNew, flagsNew, 2, slices.Concat(w.tuple(ctaTupleReply, drop, drop.reply), w.tuple(ctaTupleOrig, drop, drop.orig)))
			pass["orig only"] = w.message(typNew, flagsNew, 2, w.tuple(ctaTupleOrig, drop, drop.orig))
			pass["no attributes"] = w.message(typNew, flagsNew, 2, nil)
			// An attribute shorter than its header.
			short := w.attr(ctaID, be32(1))
			o.order.PutUint16(short, 2)
			e = drop
			e.after = [][]byte{short}
			pass["nla_len 2"] = w.encode(e)
			// More attributes than the walk looks at.
			e = drop
			for range filterMaxAttrs {
				e.after = append(e.after, w.attr(ctaID, be32(1)))
			}
			pass["too many attributes"] = w.encode(e)
			// Tuple layouts the program does not know.
			odd := func(name string, mod func(tuple []byte)) {
				b := w.encode(drop)
				mod(b[20:])
				pass[name] = b
			}
			odd("orig tuple type 9", func(b []byte) { o.order.PutUint16(b[2:], 9|nlaNested) })
			odd("CTA_TUPLE_IP type 5", func(b []byte) { o.order.PutUint16(b[6:], 5|nlaNested) })
			odd("CTA_PROTO_NUM length 6", func(b []byte) { o.order.PutUint16(b[28:], 6) })
			odd("second CTA_PROTO_NUM", func(b []byte) { o.order.PutUint16(b[38:], ctaProtoNum) })
			odd("CTA_TUPLE_PROTO type 4", func(b []byte) { o.order.PutUint16(b[26:], 4|nlaNested) })
			for name, b := range pass {
				if !runFilter(t, ftpFilter, o.order, b) {
					t.Errorf("%s: dropped", name)
				}
				if native(o.order) && needed(b, ftpFilter) {
					t.Logf("%s: (the decoder needs it)", name)
				}
			}
			// Drops that need the whole walk: the message ends exactly
			// after the tuples, or after one more attribute.
			tuples := slices.Concat(w.tuple(ctaTupleOrig, drop, drop.orig), w.tuple(ctaTupleReply, drop, drop.reply))
			if runFilter(t, ftpFilter, o.order, w.message(typDelete, 0, 2, tuples)) {
				t.Error("destroy with tuples only: passed")
			}
			if runFilter(t, ftpFilter, o.order, w.message(typNew, flagsNew, 2, slices.Concat(tuples, w.attr(ctaMark, be32(0x4000))))) {
				t.Error("new with tuples and another mark: passed")
			}
			if !runFilter(t, ftpFilter, o.order, w.message(typNew, flagsNew, 2, slices.Concat(tuples, w.attr(ctaMark, be32(0x4000)), w.attr(ctaMark, be32(0x2000))))) {
				t.Error("new with a second CTA_MARK that has the bits: dropped")
			}
		})
	}
}

// TestFilterMarkZero: with no mark bits asked for, every NEW event of a
// TCP connection is needed (the decoder's mark 0 has all of none).
func TestFilterMarkZero(t *testing.T) {
	f := Filter{ControlPorts: []uint16{21}}
	for _, o := range orders {
		w := wire{o.order}
		for _, isNew := range []bool{true, false} {
			e := conn(isNew, v4client, withPort(v4pub, 443), withPort(v4srv, 443), 0)
			if got := runFilter(t, f, o.order, w.encode(e)); got != isNew {
				t.Errorf("%s new=%v: pass=%v", o.name, isNew, got)
			}
		}
	}
}

// TestFilterPorts: no control ports, or many; and the kernel's limit.
func TestFilterPorts(t *testing.T) {
	e := conn(false, v4client, withPort(v4pub, 990), withPort(v4srv, 990), 0)
	for _, o := range orders {
		w := wire{o.order}
		b := w.encode(e)
		if runFilter(t, Filter{Mark: 0x2000}, o.order, b) {
			t.Errorf("%s: no control ports: a destroy passed", o.name)
		}
		var many []uint16
		for p := uint16(1000); p < 1500; p++ {
			many = append(many, p)
		}
		if runFilter(t, Filter{ControlPorts: many, Mark: 0x2000}, o.order, b) {
			t.Errorf("%s: 500 ports without 990: passed", o.name)
		}
		many = append(many, 990)
		if !runFilter(t, Filter{ControlPorts: many, Mark: 0x2000}, o.order, b) {
			t.Errorf("%s: 501 ports with 990: dropped", o.name)
		}
		var all []uint16
		for p := range 4096 {
			all = append(all, uint16(p))
		}
		if _, err := (Filter{ControlPorts: all, Mark: 1}).Program(o.order); err == nil {
			t.Errorf("%s: a program for 4096 control ports was built", o.name)
		}
	}
}

// FuzzEventFilter: the filter never drops a datagram in which the
// decoder finds an event ftpalg needs (the host's byte order: the
// decoder reads headers in it).
func FuzzEventFilter(f *testing.F) {
	w := wire{binary.NativeEndian}
	for _, e := range []event{
		conn(true, v4client, v4pub, v4srv, 0),
		conn(false, v4client, v4pub, v4srv, 0x4000),
		conn(true, v4client, withPort(v4pub, 50000), withPort(v4srv, 50000), 0x2000),
		conn(true, v6client, withPort(v6srv, 443), withPort(v6srv, 443), 0x1000),
		conn(false, v6client, v6srv, v6srv, 0),
	} {
		f.Add(w.encode(e), uint16(2121), uint32(0x2000))
		e.zone = true
		f.Add(w.encode(e), uint16(443), uint32(0x2000))
		e.proto = 17
		f.Add(w.encode(e), uint16(21), uint32(0))
	}
	progs := map[[2]uint32]*bpf.VM{}
	f.Fuzz(func(t *testing.T, b []byte, port uint16, mark uint32) {
		flt := Filter{ControlPorts: []uint16{21, port}, Mark: mark}
		key := [2]uint32{uint32(port), mark}
		vm := progs[key]
		if vm == nil {
			prog, err := flt.Program(binary.NativeEndian)
			if err != nil {
				t.Fatal(err)
			}
			if vm, err = bpf.NewVM(prog); err != nil {
				t.Fatal(err)
			}
			if len(progs) < 64 {
				progs[key] = vm
			}
		}
		n, err := vm.Run(b)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && needed(b, flt) {
			t.Fatalf("dropped a needed event (ports %v, mark %#x): % x", flt.ControlPorts, mark, b)
		}
	})
}
