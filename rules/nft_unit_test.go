//go:build linux

package rules

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
)

// Unit tests: no root, no kernel.

func TestQueueExpr(t *testing.T) {
	tg, ok := queueExpr(DivertCompat, 10, 4, true).(*expr.Target)
	if !ok || tg.Name != "NFQUEUE" || tg.Rev != 3 {
		t.Fatalf("compat: %#v", queueExpr(DivertCompat, 10, 4, true))
	}
	if info := tg.Info.(*xt.Unknown); !bytes.Equal(*info, nfqInfoV3(hostOrder, 10, 4, nfqFlagBypass)) {
		t.Errorf("compat info % x", *info)
	}
	tg = queueExpr(DivertCompat, 10, 1, false).(*expr.Target)
	if info := tg.Info.(*xt.Unknown); (*info)[4]&(nfqFlagBypass|nfqFlagCPUFanout) != 0 {
		t.Errorf("compat without FailOpen has flags % x", *info)
	}
	q, ok := queueExpr(DivertNative, 10, 4, true).(*expr.Queue)
	if !ok || q.Num != 10 || q.Total != 4 || q.Flag != expr.QueueFlagBypass {
		t.Errorf("native: %#v", queueExpr(DivertNative, 10, 4, true))
	}
	if q := queueExpr(DivertNative, 1, 1, false).(*expr.Queue); q.Flag != 0 {
		t.Errorf("native without FailOpen: flags %v (no fanout, no bypass wanted)", q.Flag)
	}
}

func TestDivertString(t *testing.T) {
	for d, want := range map[Divert]string{DivertAuto: "auto", DivertNative: "native", DivertCompat: "compat", Divert(7): "divert(7)"} {
		if d.String() != want {
			t.Errorf("%d: %q, want %q", int(d), d.String(), want)
		}
	}
}

func TestSpecValidate(t *testing.T) {
	good := Spec{Table: "ftpalg", Hooks: []string{"forward", "output"}, ControlPorts: []uint16{21}, QueueNum: 0, QueueCount: 1, Mark: 0x10, ResizedMark: 0x20}
	if err := good.Validate(); err != nil {
		t.Fatalf("good spec: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Spec)
		want string
	}{
		{"no table", func(s *Spec) { s.Table = "" }, `table "": empty name`},
		{"table with space", func(s *Spec) { s.Table = "ftp alg" }, `table "ftp alg": character ' ' at 3`},
		{"table starts with digit", func(s *Spec) { s.Table = "1ftp" }, `table "1ftp"`},
		{"table too long", func(s *Spec) { s.Table = strings.Repeat("a", 256) }, "longer than 255 bytes"},
		{"no hooks", func(s *Spec) { s.Hooks = nil }, "hooks: none given"},
		{"bad hook", func(s *Spec) { s.Hooks = []string{"forward", "prerouting"} }, `hooks[1]: "prerouting" is not forward, input or output`},
		{"hook twice", func(s *Spec) { s.Hooks = []string{"input", "input"} }, `hooks[1]: "input" listed twice`},
		{"no ports", func(s *Spec) { s.ControlPorts = nil }, "control ports: none given"},
		{"port 0", func(s *Spec) { s.ControlPorts = []uint16{21, 0} }, "control ports[1]: port 0"},
		{"port twice", func(s *Spec) { s.ControlPorts = []uint16{21, 21} }, "control ports[1]: port 21 listed twice"},
		{"queue count 0", func(s *Spec) { s.QueueCount = 0 }, "queue count 0"},
		{"queue range overflows", func(s *Spec) { s.QueueNum, s.QueueCount = 65535, 2 }, "queues 65535..65536"},
		{"mark 0", func(s *Spec) { s.Mark = 0 }, "mark 0"},
		{"resized mark 0", func(s *Spec) { s.ResizedMark = 0 }, "resized mark 0"},
		{"resized mark overlaps", func(s *Spec) { s.ResizedMark = 0x30 }, "resized mark 0x30 shares bits with the pinhole mark 0x10"},
		{"bad divert", func(s *Spec) { s.Divert = 9 }, "divert: unknown mode 9"},
	} {
		s := good
		s.Hooks = append([]string(nil), good.Hooks...)
		tc.edit(&s)
		err := s.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "rules: spec: ") {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	edge := good
	edge.QueueNum, edge.QueueCount, edge.Table = 65534, 2, "_ftp.alg-2/x"
	if err := edge.Validate(); err != nil {
		t.Errorf("queues 65534..65535, table %q: %v", edge.Table, err)
	}
}

func TestPinElems(t *testing.T) {
	cli := netip.MustParseAddr("198.51.100.7")
	srv := netip.MustParseAddrPort("10.0.0.5:50000")
	pub := netip.MustParseAddrPort("203.0.113.10:50001")
	p := Pin{ID: 1, Pinhole: conntrack.Pinhole{Src: cli, Dst: srv}, HasMap: true, Timeout: 1500*time.Millisecond + 1,
		Mapping: conntrack.Mapping{Src: cli, Dst: pub, ToDst: srv, ToSrc: netip.MustParseAddr("10.0.0.1")}}
	els, err := pinElems(p, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []elem{
		{set: "pin4", key: []byte{198, 51, 100, 7, 10, 0, 0, 5, 0xc3, 0x50, 0, 0}},
		{set: "dnat4", key: []byte{198, 51, 100, 7, 203, 0, 113, 10, 0xc3, 0x51, 0, 0}, val: []byte{10, 0, 0, 5, 0xc3, 0x50, 0, 0}},
		{set: "snat4", key: []byte{198, 51, 100, 7, 10, 0, 0, 5, 0xc3, 0x50, 0, 0}, val: []byte{10, 0, 0, 1}},
	}
	if len(els) != len(want) {
		t.Fatalf("%d elements, want %d: %+v", len(els), len(want), els)
	}
	for i := range want {
		if els[i].set != want[i].set || !bytes.Equal(els[i].key, want[i].key) || !bytes.Equal(els[i].val, want[i].val) {
			t.Errorf("element %d: %+v, want %+v", i, els[i], want[i])
		}
		if els[i].timeout != 1501*time.Millisecond {
			t.Errorf("element %d: timeout %v, want 1.501s (rounded up to whole ms)", i, els[i].timeout)
		}
	}

	// No DNAT element when the destination does not change; no SNAT
	// without ToSrc.
	p.Mapping.Dst, p.Mapping.ToSrc = srv, netip.Addr{}
	if els, _ := pinElems(p, true); len(els) != 1 {
		t.Errorf("identity mapping: %+v", els)
	}

	// IPv6, and an IPv4-mapped address counts as IPv4.
	p6 := Pin{ID: 2, Timeout: time.Second, Pinhole: conntrack.Pinhole{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddrPort("[2001:db8::2]:21")}}
	if els, err := pinElems(p6, true); err != nil || els[0].set != "pin6" || len(els[0].key) != 36 {
		t.Errorf("ipv6: %+v %v", els, err)
	}
	mapped := Pin{ID: 3, Timeout: time.Second, Pinhole: conntrack.Pinhole{Src: netip.MustParseAddr("::ffff:198.51.100.7"), Dst: srv}}
	if els, err := pinElems(mapped, true); err != nil || els[0].set != "pin4" || !bytes.Equal(els[0].key, want[0].key) {
		t.Errorf("v4-mapped: %+v %v", els, err)
	}

	for _, tc := range []struct {
		name string
		p    Pin
		want string
	}{
		{"short timeout", Pin{ID: 4, Timeout: 999 * time.Millisecond, Pinhole: conntrack.Pinhole{Src: cli, Dst: srv}}, "pin 4: timeout 999ms is below the minimum of 1s"},
		{"no timeout", Pin{ID: 5, Pinhole: conntrack.Pinhole{Src: cli, Dst: srv}}, "pin 5: timeout 0s"},
		{"no source", Pin{ID: 6, Timeout: time.Second, Pinhole: conntrack.Pinhole{Dst: srv}}, "pin 6: pinhole"},
		{"port 0", Pin{ID: 7, Timeout: time.Second, Pinhole: conntrack.Pinhole{Src: cli, Dst: netip.AddrPortFrom(srv.Addr(), 0)}}, "destination port 0"},
		{"mixed", Pin{ID: 8, Timeout: time.Second, Pinhole: conntrack.Pinhole{Src: cli, Dst: netip.MustParseAddrPort("[2001:db8::2]:21")}}, "different address families"},
		{"mapping of the other family", Pin{ID: 9, Timeout: time.Second, Pinhole: conntrack.Pinhole{Src: cli, Dst: srv}, HasMap: true,
			Mapping: conntrack.Mapping{Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddrPort("[2001:db8::2]:21"), ToDst: netip.MustParseAddrPort("[2001:db8::3]:21")}}, "pin 9: mapping"},
		{"snat of the other family", Pin{ID: 10, Timeout: time.Second, Pinhole: conntrack.Pinhole{Src: cli, Dst: srv}, HasMap: true,
			Mapping: conntrack.Mapping{Src: cli, Dst: pub, ToDst: srv, ToSrc: netip.MustParseAddr("2001:db8::1")}}, "pin 10: mapping"},
	} {
		if _, err := pinElems(tc.p, true); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	// Removing needs no timeout.
	if _, err := pinElems(Pin{ID: 11, Pinhole: conntrack.Pinhole{Src: cli, Dst: srv}}, false); err != nil {
		t.Errorf("remove without timeout: %v", err)
	}
}

func TestKeyRoundTrip(t *testing.T) {
	for _, tc := range []struct{ src, dst string }{
		{"198.51.100.7", "10.0.0.5:65535"},
		{"2001:db8::1", "[2001:db8::ffff]:1"},
	} {
		src, dst := netip.MustParseAddr(tc.src), netip.MustParseAddrPort(tc.dst)
		s, d, err := decodeKey(concatKey(src, dst))
		if err != nil || s != src || d != dst {
			t.Errorf("%v %v: decoded %v %v %v", src, dst, s, d, err)
		}
		ap, err := decodeAddrPort(addrPortVal(dst))
		if err != nil || ap != dst {
			t.Errorf("%v: decoded %v %v", dst, ap, err)
		}
	}
	if _, _, err := decodeKey(make([]byte, 13)); err == nil {
		t.Error("13-byte key decoded")
	}
}

// Spec.Queued, the model of the divert chain: a resized connection whole,
// otherwise data, SYN, FIN and RST, never a pure ACK.
func TestQueuedModel(t *testing.T) {
	s := Spec{Mark: 0x2000, ResizedMark: 0x4000}
	const ack, psh, urg = 0x10, 0x08, 0x20
	for _, tc := range []struct {
		flags   uint8
		payload int
		mark    uint32
		want    bool
	}{
		{ack, 0, 0, false},                  // pure ACK
		{ack | urg | psh, 0, 0x2001, false}, // other flags and mark bits change nothing
		{ack, 0, 0x4000, true},              // resized: everything
		{ack, 0, 0x6001, true},
		{ack | psh, 1, 0, true}, // data
		{TCPFlagSYN, 0, 0, true},
		{TCPFlagSYN | ack, 0, 0, true},
		{TCPFlagFIN | ack, 0, 0, true},
		{TCPFlagRST, 0, 0, true},
	} {
		if got := s.Queued(tc.flags, tc.payload, tc.mark); got != tc.want {
			t.Errorf("flags %#x payload %d mark %#x: queued %v, want %v", tc.flags, tc.payload, tc.mark, got, tc.want)
		}
	}
}
