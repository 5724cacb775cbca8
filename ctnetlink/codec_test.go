package ctnetlink

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/mdlayher/netlink"
)

// entry encodes a conntrack entry as the kernel sends it in an event.
func entry(t testing.TB, orig, reply conntrack.Tuple, mark uint32, helper string) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	encodeTuple(ae, ctaTupleOrig, orig)
	encodeTuple(ae, ctaTupleReply, reply)
	ae.Uint32(ctaStatus, 0x0e)
	if mark != 0 {
		ae.Uint32(ctaMark, mark)
	}
	if helper != "" {
		ae.Nested(ctaHelp, func(nae *netlink.AttributeEncoder) error {
			nae.String(ctaHelpName, helper)
			return nil
		})
	}
	ae.Uint32(ctaID, 1234)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tup(src, dst string) conntrack.Tuple {
	return conntrack.Tuple{Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst)}
}

func TestDecodeInfo(t *testing.T) {
	tests := []struct {
		name        string
		orig, reply conntrack.Tuple
		mark        uint32
		helper      string
		flow        conntrack.Flow
	}{
		{
			name:  "dnat server",
			orig:  tup("198.51.100.10:40000", "203.0.113.1:21"),
			reply: tup("10.0.0.2:21", "198.51.100.10:40000"),
			flow:  conntrack.Flow{Client: netip.MustParseAddrPort("198.51.100.10:40000"), Server: netip.MustParseAddrPort("10.0.0.2:21")},
		},
		{
			name:  "masqueraded client with mark",
			orig:  tup("10.0.1.2:40000", "198.51.100.20:21"),
			reply: tup("198.51.100.20:21", "203.0.113.1:40000"),
			mark:  0x2000,
			flow:  conntrack.Flow{Client: netip.MustParseAddrPort("10.0.1.2:40000"), Server: netip.MustParseAddrPort("198.51.100.20:21")},
		},
		{
			name:   "ipv6 with helper",
			orig:   tup("[2001:db8:1::10]:40000", "[2001:db8:2::20]:21"),
			reply:  tup("[2001:db8:2::20]:21", "[2001:db8:1::10]:40000"),
			helper: "ftp",
			flow:   conntrack.Flow{Client: netip.MustParseAddrPort("[2001:db8:1::10]:40000"), Server: netip.MustParseAddrPort("[2001:db8:2::20]:21")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := DecodeInfo(entry(t, tt.orig, tt.reply, tt.mark, tt.helper))
			if err != nil {
				t.Fatal(err)
			}
			if info.Orig != tt.orig || info.Reply != tt.reply || info.Mark != tt.mark || info.Helper != tt.helper || info.Proto != protoTCP {
				t.Fatalf("decoded %+v", info)
			}
			if info.Flow() != tt.flow {
				t.Fatalf("flow %v, want %v", info.Flow(), tt.flow)
			}
		})
	}
}

func TestDecodeEventTypes(t *testing.T) {
	b := entry(t, tup("198.51.100.10:1", "203.0.113.1:21"), tup("203.0.113.1:21", "198.51.100.10:1"), 0, "")
	data := append([]byte{2, 0, 0, 0}, b...)
	tests := []struct {
		typ   uint16
		flags netlink.HeaderFlags
		want  EventType
	}{
		{msgCTNew, netlink.Create | netlink.Excl, EventNew},
		{msgCTNew, 0, EventUpdate},
		{msgCTDelete, 0, EventDestroy},
	}
	for _, tt := range tests {
		m := netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(subsysCT<<8 | tt.typ), Flags: tt.flags}, Data: data}
		got, _, err := DecodeEvent(m)
		if err != nil || got != tt.want {
			t.Errorf("type %d flags %v: got %v, %v; want %v", tt.typ, tt.flags, got, err, tt.want)
		}
	}
	if _, _, err := DecodeEvent(netlink.Message{Header: netlink.Header{Type: 2<<8 | 0}, Data: data}); err == nil {
		t.Error("a non-ctnetlink message decoded")
	}
	if _, _, err := DecodeEvent(netlink.Message{Header: netlink.Header{Type: subsysCT<<8 | msgCTNew}, Data: []byte{2}}); err == nil {
		t.Error("a truncated message decoded")
	}
}

func TestDecodeRejectsBrokenEntries(t *testing.T) {
	good := entry(t, tup("198.51.100.10:1", "203.0.113.1:21"), tup("203.0.113.1:21", "198.51.100.10:1"), 0, "")
	for _, n := range []int{0, 3, 10, len(good) - 1} {
		if _, err := DecodeInfo(good[:n]); err == nil {
			t.Errorf("prefix of %d bytes decoded", n)
		}
	}
	// A tuple mixing an IPv4 source with an IPv6 destination.
	ae := netlink.NewAttributeEncoder()
	ae.ByteOrder = binary.BigEndian
	ae.Nested(ctaTupleOrig, func(nae *netlink.AttributeEncoder) error {
		nae.Nested(ctaTupleIP, func(iae *netlink.AttributeEncoder) error {
			iae.Bytes(ctaIPv4Src, []byte{10, 0, 0, 1})
			iae.Bytes(ctaIPv6Dst, make([]byte, 16))
			return nil
		})
		return nil
	})
	b, _ := ae.Encode()
	if _, err := DecodeInfo(b); err == nil {
		t.Error("mixed-family tuple decoded")
	}
}

func TestLiberalRequestSetsOnlyTheFlag(t *testing.T) {
	m, err := liberalRequest(tup("10.0.1.2:40000", "198.51.100.20:21"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Type != subsysCT<<8|msgCTNew || m.Header.Flags&(netlink.Create|netlink.Excl) != 0 {
		t.Fatalf("header %+v: must be an update of an existing entry", m.Header)
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		t.Fatal(err)
	}
	var flags [][]byte
	var sawState bool
	for ad.Next() {
		if ad.Type() != ctaProtoInfo {
			continue
		}
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			for nad.Next() {
				nad.Nested(func(tad *netlink.AttributeDecoder) error {
					for tad.Next() {
						switch tad.Type() {
						case ctaProtoInfoTCPFlagsOrig, ctaProtoInfoTCPFlagsReply:
							flags = append(flags, tad.Bytes())
						default:
							sawState = true
						}
					}
					return nil
				})
			}
			return nil
		})
	}
	if sawState {
		t.Error("the update carries TCP state or window scale: it would overwrite the kernel's")
	}
	if len(flags) != 2 {
		t.Fatalf("got %d flag attributes, want 2", len(flags))
	}
	for _, f := range flags {
		if len(f) != 2 || f[0] != tcpFlagBeLiberal || f[1] != tcpFlagBeLiberal {
			t.Errorf("flags %x, want flag and mask 0x08", f)
		}
	}
}

func FuzzDecodeInfo(f *testing.F) {
	f.Add(entry(f, tup("198.51.100.10:1", "203.0.113.1:21"), tup("10.0.0.2:21", "198.51.100.10:1"), 0x2000, "ftp"))
	f.Add(entry(f, tup("[2001:db8::1]:1", "[2001:db8::2]:21"), tup("[2001:db8::2]:21", "[2001:db8::1]:1"), 0, ""))
	f.Add([]byte{4, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := DecodeInfo(b)
		if err != nil {
			return
		}
		if !info.Orig.Src.Addr().IsValid() || !info.Reply.Src.Addr().IsValid() {
			t.Fatalf("decoded an entry without addresses: %+v", info)
		}
	})
}

func TestResizedRequestSetsFlagAndMaskedMark(t *testing.T) {
	if _, err := resizedRequest(tup("10.0.1.2:40000", "198.51.100.20:21"), 0); err == nil {
		t.Error("resized request with mark 0 accepted")
	}
	m, err := resizedRequest(tup("10.0.1.2:40000", "198.51.100.20:21"), 0x4000)
	if err != nil {
		t.Fatal(err)
	}
	if m.Header.Type != subsysCT<<8|msgCTNew || m.Header.Flags&(netlink.Create|netlink.Excl) != 0 {
		t.Fatalf("header %+v: must be an update of an existing entry", m.Header)
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		t.Fatal(err)
	}
	ad.ByteOrder = binary.BigEndian
	got := map[uint16]uint32{}
	proto := false
	for ad.Next() {
		switch ad.Type() {
		case ctaMark, ctaMarkMask:
			got[ad.Type()] = ad.Uint32()
		case ctaProtoInfo:
			proto = true
		}
	}
	if err := ad.Err(); err != nil {
		t.Fatal(err)
	}
	if got[ctaMark] != 0x4000 || got[ctaMarkMask] != 0x4000 {
		t.Errorf("mark %#x mask %#x, want 0x4000 and 0x4000 (only the resized bit changes)", got[ctaMark], got[ctaMarkMask])
	}
	if !proto {
		t.Error("no be_liberal flags in the update")
	}
	// liberalRequest carries no mark at all.
	m, _ = liberalRequest(tup("10.0.1.2:40000", "198.51.100.20:21"))
	ad, _ = netlink.NewAttributeDecoder(m.Data[4:])
	for ad.Next() {
		if ad.Type() == ctaMark || ad.Type() == ctaMarkMask {
			t.Errorf("liberalRequest carries attribute %d", ad.Type())
		}
	}
}
