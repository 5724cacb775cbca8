package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
)

// Divert says how control packets reach NFQUEUE.
type Divert int

const (
	// DivertAuto picks DivertNative if the kernel has the nft queue
	// expression, DivertCompat otherwise (decided once, in Open).
	DivertAuto Divert = iota
	// DivertNative uses the nftables queue expression (CONFIG_NFT_QUEUE).
	DivertNative
	// DivertCompat uses the xtables NFQUEUE target (revision 3) through
	// nft_compat.
	DivertCompat
)

func (d Divert) String() string {
	switch d {
	case DivertAuto:
		return "auto"
	case DivertNative:
		return "native"
	case DivertCompat:
		return "compat"
	}
	return fmt.Sprintf("divert(%d)", int(d))
}

// Hook names a Spec may list.
const (
	HookForward = "forward"
	HookInput   = "input"
	HookOutput  = "output"
)

// Spec describes the table ftpalg owns.
type Spec struct {
	Table        string   // table name in family inet, e.g. "ftpalg"
	Hooks        []string // any non-empty subset of "forward", "input", "output"
	ControlPorts []uint16 // e.g. [21]
	QueueNum     uint16
	QueueCount   uint16 // >= 1; > 1 spreads flows over QueueNum..QueueNum+QueueCount-1 (both directions of a flow on the same queue)
	FailOpen     bool   // BYPASS: packets pass when no program listens on the queue
	Mark         uint32 // ct mark bits OR-ed into a data connection admitted by a pinhole; must not be 0
	// ResizedMark: ct mark bits ftpalg sets (over ctnetlink) on a control
	// connection whose stream length it changed. Every packet of such a
	// connection is queued; of other control connections only segments
	// that carry data or SYN, FIN or RST. Non-zero, no bit shared with
	// Mark.
	ResizedMark uint32
	Divert      Divert
}

// TCP flags the divert rules look at (the TCP header's 13th byte).
const (
	TCPFlagFIN = 0x01
	TCPFlagSYN = 0x02
	TCPFlagRST = 0x04
)

// Queued is the divert chain's decision for a TCP segment to or from a
// control port, not in a reset set, as the kernel takes it: whether it
// goes to ftpalg's queue. flags is the TCP flags byte, payload the
// length of the TCP payload, ctMark the connection's ct mark. A
// connection marked resized is queued whole; of others, only segments
// that carry data or SYN, FIN or RST are queued, and pure ACKs (window
// updates, duplicate ACKs, keepalives without data) stay in the kernel.
// This is the model the tests check the table and the daemon against.
func (s Spec) Queued(flags uint8, payload int, ctMark uint32) bool {
	return ctMark&s.ResizedMark == s.ResizedMark || payload > 0 || flags&(TCPFlagFIN|TCPFlagSYN|TCPFlagRST) != 0
}

// maxNameLen is the longest table name the kernel takes (NFT_NAME_MAXLEN
// is 256 with the terminating NUL).
const maxNameLen = 255

// Validate reports the first thing wrong with s, naming the field.
func (s Spec) Validate() error {
	if err := validName(s.Table); err != nil {
		return fmt.Errorf("rules: spec: table %q: %w", s.Table, err)
	}
	if len(s.Hooks) == 0 {
		return errors.New("rules: spec: hooks: none given (want forward, input and/or output)")
	}
	seen := map[string]bool{}
	for i, h := range s.Hooks {
		switch h {
		case HookForward, HookInput, HookOutput:
		default:
			return fmt.Errorf("rules: spec: hooks[%d]: %q is not forward, input or output", i, h)
		}
		if seen[h] {
			return fmt.Errorf("rules: spec: hooks[%d]: %q listed twice", i, h)
		}
		seen[h] = true
	}
	if len(s.ControlPorts) == 0 {
		return errors.New("rules: spec: control ports: none given")
	}
	ports := map[uint16]bool{}
	for i, p := range s.ControlPorts {
		if p == 0 {
			return fmt.Errorf("rules: spec: control ports[%d]: port 0", i)
		}
		if ports[p] {
			return fmt.Errorf("rules: spec: control ports[%d]: port %d listed twice", i, p)
		}
		ports[p] = true
	}
	if s.QueueCount == 0 {
		return errors.New("rules: spec: queue count 0: must be at least 1")
	}
	if last := int(s.QueueNum) + int(s.QueueCount) - 1; last > 0xffff {
		return fmt.Errorf("rules: spec: queues %d..%d: beyond queue 65535", s.QueueNum, last)
	}
	if s.Mark == 0 {
		return errors.New("rules: spec: mark 0: pinholes need non-zero ct mark bits for the admin's ruleset to admit the connection by")
	}
	if s.ResizedMark == 0 {
		return errors.New("rules: spec: resized mark 0: resized control connections need non-zero ct mark bits to be diverted whole by")
	}
	if s.ResizedMark&s.Mark != 0 {
		return fmt.Errorf("rules: spec: resized mark %#x shares bits with the pinhole mark %#x", s.ResizedMark, s.Mark)
	}
	switch s.Divert {
	case DivertAuto, DivertNative, DivertCompat:
	default:
		return fmt.Errorf("rules: spec: divert: unknown mode %d", int(s.Divert))
	}
	return nil
}

// validName accepts what the nft command line can name without quotes: a
// letter, '_' or '.', then letters, digits and "/-_.".
func validName(n string) error {
	if n == "" {
		return errors.New("empty name")
	}
	if len(n) > maxNameLen {
		return fmt.Errorf("longer than %d bytes", maxNameLen)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == '.':
		case i > 0 && (c >= '0' && c <= '9' || c == '/' || c == '-'):
		default:
			return fmt.Errorf("character %q at %d: names start with a letter, '_' or '.' and go on with letters, digits, '/', '-', '_' or '.'", c, i)
		}
	}
	return nil
}

// PinKind is what a Pin stands for.
type PinKind uint8

const (
	// KindPinhole: a one-shot pinhole (Pinhole) and, if HasMap, its NAT
	// mapping (sets pin4/pin6, maps dnat4/6 and snat4/6).
	KindPinhole PinKind = iota
	// KindRange: a passive-range pinhole (Range) for a TLS session, which
	// admits every connection it matches while it lasts (sets
	// range4/range6) and, with Range.Public, translates them (maps
	// rdnat4/rdnat6).
	KindRange
	// KindReset: a control connection ftpalg reset (Flow): its packets,
	// both ways, are rejected with TCP resets (sets reset4/reset6).
	KindReset
)

// Pin is one element group of the table, by Kind: a pinhole and, if
// HasMap, its NAT mapping; a passive-range pinhole; or a reset flow.
type Pin struct {
	ID      uint64
	Kind    PinKind
	Pinhole conntrack.Pinhole
	Mapping conntrack.Mapping
	HasMap  bool
	Range   conntrack.PortRange // KindRange
	Flow    conntrack.Flow      // KindReset: the connection as the filter hooks see it
	// Timeout is the element timeout in the kernel: at least 1s, sent in
	// whole milliseconds (rounded up).
	Timeout time.Duration
}

// described reports whether p says which elements it stands for (a Pin
// with only an ID does not).
func (p Pin) described() bool {
	switch p.Kind {
	case KindRange:
		return p.Range.Src.IsValid()
	case KindReset:
		return p.Flow.Client.IsValid()
	}
	return p.Pinhole.Src.IsValid() || p.Pinhole.Dst.IsValid()
}

// Change is everything one decision changes. Table.Apply sends it as one
// netlink batch: all of it happens, or none of it.
type Change struct {
	Add, Remove []Pin
	// Forget lists pins whose elements the kernel consumed itself: a
	// pinhole used by its data connection took its pin4/pin6 element and
	// its dnat and snat elements with it (pinholeRule, natRule). Their
	// bookkeeping goes; nothing is sent for them. A Change with only
	// Forget costs no netlink batch (Sends).
	Forget []uint64
}

// Sends reports whether Table.Apply sends a netlink batch for c: false
// for a Change that only forgets.
func (c Change) Sends() bool { return len(c.Add)+len(c.Remove) > 0 }

// Empty reports whether c changes nothing, bookkeeping included.
func (c Change) Empty() bool { return !c.Sends() && len(c.Forget) == 0 }

// MinTimeout is the shortest element timeout Apply accepts.
const MinTimeout = time.Second

// kernelTimeout rounds d up to the millisecond resolution of
// NFTA_SET_ELEM_TIMEOUT.
func kernelTimeout(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1).Truncate(time.Millisecond)
}

// Set and map names: fixed, the tests, README and e2e harness use them.
const (
	setCtlPorts = "ctlports"
	setPin4     = "pin4"
	setPin6     = "pin6"
	mapDNAT4    = "dnat4"
	mapDNAT6    = "dnat6"
	mapSNAT4    = "snat4"
	mapSNAT6    = "snat6"
	setRange4   = "range4"
	setRange6   = "range6"
	mapRDNAT4   = "rdnat4"
	mapRDNAT6   = "rdnat6"
	setReset4   = "reset4"
	setReset6   = "reset6"
)

// elem is one element of one of our sets or maps, in kernel byte layout.
type elem struct {
	set     string
	key     []byte
	keyEnd  []byte        // interval sets: the last key of the range
	val     []byte        // nil for a set element
	timeout time.Duration // kernelTimeout(Pin.Timeout)
}

// ref identifies an element's key across pins.
func (e elem) ref() string { return e.set + "\x00" + string(e.key) + "\x00" + string(e.keyEnd) }

// pinElems validates p and returns the elements it stands for: the
// pinhole, and with HasMap the DNAT element (if the destination changes)
// and the SNAT element (if ToSrc is valid). Addresses are unmapped
// (::ffff:a.b.c.d is IPv4) and zones dropped. withTimeout also checks the
// timeout (not needed to remove a pin).
func pinElems(p Pin, withTimeout bool) ([]elem, error) {
	if withTimeout && p.Timeout < MinTimeout {
		return nil, fmt.Errorf("pin %d: timeout %v is below the minimum of %v", p.ID, p.Timeout, MinTimeout)
	}
	switch p.Kind {
	case KindPinhole:
	case KindRange:
		return rangeElems(p)
	case KindReset:
		return resetElems(p)
	default:
		return nil, fmt.Errorf("pin %d: unknown kind %d", p.ID, p.Kind)
	}
	src, dst, err := addrPair(p.Pinhole.Src, p.Pinhole.Dst)
	if err != nil {
		return nil, fmt.Errorf("pin %d: pinhole %v: %w", p.ID, p.Pinhole, err)
	}
	v4 := src.Is4()
	to := kernelTimeout(p.Timeout)
	out := []elem{{set: pick(v4, setPin4, setPin6), key: concatKey(src, dst), timeout: to}}
	if !p.HasMap {
		return out, nil
	}
	m := p.Mapping
	msrc, mdst, err := addrPair(m.Src, m.Dst)
	if err != nil {
		return nil, fmt.Errorf("pin %d: mapping %v: %w", p.ID, m, err)
	}
	_, todst, err := addrPair(m.Src, m.ToDst)
	if err != nil {
		return nil, fmt.Errorf("pin %d: mapping %v: destination after DNAT: %w", p.ID, m, err)
	}
	if msrc.Is4() != v4 {
		return nil, fmt.Errorf("pin %d: mapping %v and pinhole %v are of different address families", p.ID, m, p.Pinhole)
	}
	if mdst != todst {
		out = append(out, elem{set: pick(v4, mapDNAT4, mapDNAT6), key: concatKey(msrc, mdst), val: addrPortVal(todst), timeout: to})
	}
	if m.ToSrc.IsValid() {
		tosrc := m.ToSrc.Unmap().WithZone("")
		if tosrc.Is4() != v4 {
			return nil, fmt.Errorf("pin %d: mapping %v: source %v is of another address family", p.ID, m, m.ToSrc)
		}
		out = append(out, elem{set: pick(v4, mapSNAT4, mapSNAT6), key: concatKey(msrc, todst), val: tosrc.AsSlice(), timeout: to})
	}
	return out, nil
}

// rangeElems: the range4/range6 interval element "src . dst . lo-hi" and,
// with Range.Public, the rdnat4/rdnat6 element "src . public . lo-hi" ->
// dst.
func rangeElems(p Pin) ([]elem, error) {
	r := p.Range
	if r.Lo == 0 || r.Hi < r.Lo {
		return nil, fmt.Errorf("pin %d: range %v: ports must be 1 <= low <= high", p.ID, r)
	}
	src, lo, err := addrPair(r.Src, netip.AddrPortFrom(r.Dst, r.Lo))
	if err != nil {
		return nil, fmt.Errorf("pin %d: range %v: %w", p.ID, r, err)
	}
	hi := netip.AddrPortFrom(lo.Addr(), r.Hi)
	to := kernelTimeout(p.Timeout)
	v4 := src.Is4()
	out := []elem{{set: pick(v4, setRange4, setRange6), key: concatKey(src, lo), keyEnd: concatKey(src, hi), timeout: to}}
	if r.Public.IsValid() {
		pub := r.Public.Unmap().WithZone("")
		if pub.Is4() != v4 {
			return nil, fmt.Errorf("pin %d: range %v: published address of another family", p.ID, r)
		}
		out = append(out, elem{set: pick(v4, mapRDNAT4, mapRDNAT6),
			key: concatKey(src, netip.AddrPortFrom(pub, r.Lo)), keyEnd: concatKey(src, netip.AddrPortFrom(pub, r.Hi)),
			val: lo.Addr().AsSlice(), timeout: to})
	}
	return out, nil
}

// resetElems: the reset4/reset6 elements "saddr . daddr . sport . dport"
// of both directions of p.Flow.
func resetElems(p Pin) ([]elem, error) {
	c, s := p.Flow.Client, p.Flow.Server
	ca, sa := c.Addr().Unmap().WithZone(""), s.Addr().Unmap().WithZone("")
	if !ca.IsValid() || !sa.IsValid() || ca.Is4() != sa.Is4() || c.Port() == 0 || s.Port() == 0 {
		return nil, fmt.Errorf("pin %d: reset flow %v: want two addresses of one family and non-zero ports", p.ID, p.Flow)
	}
	set := pick(ca.Is4(), setReset4, setReset6)
	to := kernelTimeout(p.Timeout)
	key := func(a netip.Addr, ap uint16, b netip.Addr, bp uint16) []byte {
		k := append(append([]byte(nil), a.AsSlice()...), b.AsSlice()...)
		return appendPort(appendPort(k, ap), bp)
	}
	return []elem{
		{set: set, key: key(ca, c.Port(), sa, s.Port()), timeout: to},
		{set: set, key: key(sa, s.Port(), ca, c.Port()), timeout: to},
	}, nil
}

// addrPair checks a source address and a destination endpoint: both
// valid, of one family, destination port not 0.
func addrPair(src netip.Addr, dst netip.AddrPort) (netip.Addr, netip.AddrPort, error) {
	if !src.IsValid() {
		return src, dst, errors.New("no source address")
	}
	if !dst.Addr().IsValid() {
		return src, dst, errors.New("no destination address")
	}
	if dst.Port() == 0 {
		return src, dst, errors.New("destination port 0")
	}
	s := src.Unmap().WithZone("")
	d := netip.AddrPortFrom(dst.Addr().Unmap().WithZone(""), dst.Port())
	if s.Is4() != d.Addr().Is4() {
		return src, dst, errors.New("source and destination are of different address families")
	}
	return s, d, nil
}

func pick(v4 bool, a, b string) string {
	if v4 {
		return a
	}
	return b
}

// concatKey is the key "saddr . daddr . dport" as nftables lays out a
// concatenation: each field padded to a 4-byte register, the port in
// network byte order. 12 bytes for IPv4, 36 for IPv6.
func concatKey(src netip.Addr, dst netip.AddrPort) []byte {
	b := make([]byte, 0, 36)
	b = append(b, src.AsSlice()...)
	b = append(b, dst.Addr().AsSlice()...)
	return appendPort(b, dst.Port())
}

// addrPortVal is the map data "addr . port": 8 bytes for IPv4, 20 for IPv6.
func addrPortVal(ap netip.AddrPort) []byte {
	b := make([]byte, 0, 20)
	b = append(b, ap.Addr().AsSlice()...)
	return appendPort(b, ap.Port())
}

func appendPort(b []byte, p uint16) []byte { return append(b, byte(p>>8), byte(p), 0, 0) }

// decodeKey is the inverse of concatKey.
func decodeKey(b []byte) (netip.Addr, netip.AddrPort, error) {
	var n int
	switch len(b) {
	case 12:
		n = 4
	case 36:
		n = 16
	default:
		return netip.Addr{}, netip.AddrPort{}, fmt.Errorf("key of %d bytes, want 12 or 36", len(b))
	}
	src, _ := netip.AddrFromSlice(b[:n])
	dst, _ := netip.AddrFromSlice(b[n : 2*n])
	port := uint16(b[2*n])<<8 | uint16(b[2*n+1])
	return src, netip.AddrPortFrom(dst, port), nil
}

// decodeAddrPort is the inverse of addrPortVal.
func decodeAddrPort(b []byte) (netip.AddrPort, error) {
	if len(b) != 8 && len(b) != 20 {
		return netip.AddrPort{}, fmt.Errorf("address and port of %d bytes, want 8 or 20", len(b))
	}
	n := len(b) - 4
	a, _ := netip.AddrFromSlice(b[:n])
	return netip.AddrPortFrom(a, uint16(b[n])<<8|uint16(b[n+1])), nil
}

// decodeAddr decodes a bare address of 4 or 16 bytes.
func decodeAddr(b []byte) (netip.Addr, error) {
	a, ok := netip.AddrFromSlice(b)
	if !ok {
		return netip.Addr{}, fmt.Errorf("address of %d bytes, want 4 or 16", len(b))
	}
	return a, nil
}

// Elements is what the table's sets and maps hold at one moment.
type Elements struct {
	Pinholes []PinElem   // pin4 and pin6
	DNAT     []DNATElem  // dnat4 and dnat6
	SNAT     []SNATElem  // snat4 and snat6
	Ranges   []RangeElem // range4/range6, with their rdnat4/rdnat6 translation
	Resets   []ResetElem // reset4 and reset6
}

// RangeElem is one passive-range element: connections from Src to Dst on
// ports Lo..Hi; or, from the rdnat maps, to Dst (the published address)
// translated to ToDst.
type RangeElem struct {
	Src    netip.Addr
	Dst    netip.Addr
	Lo, Hi uint16
	ToDst  netip.Addr // valid for rdnat elements
	Life
}

// ResetElem is one reset4/reset6 element: packets from Src to Dst are
// rejected with a TCP reset.
type ResetElem struct {
	Src, Dst netip.AddrPort
	Life
}

// Life is an element's timeout and what is left of it.
type Life struct {
	Timeout   time.Duration // as set
	Remaining time.Duration // until the kernel removes the element
}

// PinElem is one pinhole element: admits one TCP connection from
// Pinhole.Src to Pinhole.Dst.
type PinElem struct {
	Pinhole conntrack.Pinhole
	Life
}

// DNATElem is one dnat4/dnat6 element: a new connection from Src to Dst
// goes to ToDst.
type DNATElem struct {
	Src   netip.Addr
	Dst   netip.AddrPort
	ToDst netip.AddrPort
	Life
}

// SNATElem is one snat4/snat6 element: a new connection from Src to Dst
// (Dst as it is after DNAT) leaves with source address ToSrc.
type SNATElem struct {
	Src   netip.Addr
	Dst   netip.AddrPort
	ToSrc netip.Addr
	Life
}

// lessKey orders elements by source address, then destination.
func lessKey(as netip.Addr, ad netip.AddrPort, bs netip.Addr, bd netip.AddrPort) bool {
	if c := as.Compare(bs); c != 0 {
		return c < 0
	}
	return ad.Compare(bd) < 0
}
