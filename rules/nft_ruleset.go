//go:build linux

package rules

import (
	"encoding/binary"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// This file builds the ruleset. Chains hold only static rules; everything
// that changes at run time is a set or map element (STYLE.md section 7).
// The encodings match what nft 1.0.6 generates for the same rules (checked
// with "nft --debug=netlink").

// Chain names. Not "dnat"/"snat": those are keywords of the nft grammar,
// so "nft list chain inet ftpalg dnat" would be a syntax error.
const (
	chainDNAT    = "nat-pre"
	chainSNAT    = "nat-post"
	chainDNATOut = "nat-output"
)

// Chain priorities.
const (
	prioDivert  = -10  // filter hooks: queue control packets
	prioPinhole = -5   // filter hooks: consume pinholes, set the ct mark
	prioDNAT    = -110 // before the usual dstnat (-100): our exact mapping wins
	prioSNAT    = 90   // before the usual srcnat (100)
)

// Registers (enum nft_registers): NFT_REG_1..3 are 16 bytes wide,
// NFT_REG32_xx are 4-byte slots; NFT_REG_1 covers NFT_REG32_00..03 (8..11).
const (
	reg1    = 1
	reg2    = 2
	reg3    = 3
	reg32_1 = 9  // NFT_REG32_01
	reg32_2 = 10 // NFT_REG32_02
	reg32_3 = 11 // NFT_REG32_03
	reg32_5 = 13 // NFT_REG32_05, the second 4-byte slot of NFT_REG_2
	reg32_9 = 17 // NFT_REG32_09, right after NFT_REG_3 (16-19 as 32-bit slots: 16 only here)
	reg32_d = 21 // NFT_REG32_13
)

// payloadBaseInner is NFT_PAYLOAD_INNER_HEADER (the transport payload),
// which google/nftables does not name.
const payloadBaseInner expr.PayloadBase = 3

// dynsetOpDelete is NFT_DYNSET_OP_DELETE, which x/sys/unix does not name.
const dynsetOpDelete = 2

// xt_NFQUEUE flags (linux/netfilter/xt_NFQUEUE.h).
const (
	nfqFlagBypass    = 0x01
	nfqFlagCPUFanout = 0x02 // never set: we spread by flow, not by CPU
)

// family holds what differs between the IPv4 and IPv6 halves of the
// ruleset.
type family struct {
	nfproto  byte
	addrLen  uint32
	saddrOff uint32
	daddrOff uint32
	keyRegs  [3]uint32 // registers of saddr, daddr, dport in a concatenated key
	flowRegs [4]uint32 // registers of saddr, daddr, sport, dport in a flow key
	// dataReg and dataPortReg: where a consuming NAT rule (natRule) looks
	// up the map data ("addr . port", or the address alone), clear of the
	// key, which the dynset delete reads after the lookup. IPv4: the key
	// fills NFT_REG32_00..02 (12 bytes); the data goes to NFT_REG_2
	// (NFT_REG32_04, the port in NFT_REG32_05), where nft 1.0.6 itself
	// loads the data of "delete @dnat4 { key : ip daddr . tcp dport }".
	// IPv6: the key fills NFT_REG32_00..08 (16+16+4 bytes); the data goes
	// to NFT_REG32_09..12, the port to NFT_REG32_13.
	dataReg     uint32
	dataPortReg uint32
	addrType    nftables.SetDatatype
	pin         string
	dnat        string
	snat        string
	rng         string
	rdnat       string
	reset       string
}

var families = [2]family{
	{
		nfproto: unix.NFPROTO_IPV4, addrLen: 4, saddrOff: 12, daddrOff: 16,
		keyRegs: [3]uint32{reg1, reg32_1, reg32_2}, flowRegs: [4]uint32{reg1, reg32_1, reg32_2, reg32_3},
		dataReg: reg2, dataPortReg: reg32_5,
		addrType: nftables.TypeIPAddr, pin: setPin4, dnat: mapDNAT4, snat: mapSNAT4,
		rng: setRange4, rdnat: mapRDNAT4, reset: setReset4,
	},
	{
		nfproto: unix.NFPROTO_IPV6, addrLen: 16, saddrOff: 8, daddrOff: 24,
		keyRegs: [3]uint32{reg1, reg2, reg3}, flowRegs: [4]uint32{reg1, reg2, reg3, reg32_9},
		dataReg: reg32_9, dataPortReg: reg32_d,
		addrType: nftables.TypeIP6Addr, pin: setPin6, dnat: mapDNAT6, snat: mapSNAT6,
		rng: setRange6, rdnat: mapRDNAT6, reset: setReset6,
	},
}

func (f family) keyType() nftables.SetDatatype {
	return nftables.MustConcatSetType(f.addrType, f.addrType, nftables.TypeInetService)
}

func (f family) flowType() nftables.SetDatatype {
	return nftables.MustConcatSetType(f.addrType, f.addrType, nftables.TypeInetService, nftables.TypeInetService)
}

// sets returns fresh descriptors of all our sets and maps. The library
// stores a transaction ID in a *Set when it is added, so each batch that
// creates the sets takes new ones.
func sets(tb *nftables.Table) map[string]*nftables.Set {
	m := map[string]*nftables.Set{
		setCtlPorts: {Table: tb, Name: setCtlPorts, Constant: true, KeyType: nftables.TypeInetService, KeyByteOrder: binaryutil.BigEndian},
	}
	for _, f := range families {
		m[f.pin] = &nftables.Set{Table: tb, Name: f.pin, HasTimeout: true, Dynamic: true,
			KeyType: f.keyType(), KeyByteOrder: binaryutil.BigEndian}
		m[f.dnat] = &nftables.Set{Table: tb, Name: f.dnat, HasTimeout: true, IsMap: true,
			KeyType: f.keyType(), KeyByteOrder: binaryutil.BigEndian,
			DataType: nftables.MustConcatSetType(f.addrType, nftables.TypeInetService)}
		m[f.snat] = &nftables.Set{Table: tb, Name: f.snat, HasTimeout: true, IsMap: true,
			KeyType: f.keyType(), KeyByteOrder: binaryutil.BigEndian, DataType: f.addrType}
		m[f.rng] = &nftables.Set{Table: tb, Name: f.rng, HasTimeout: true, Interval: true, Concatenation: true,
			KeyType: f.keyType(), KeyByteOrder: binaryutil.BigEndian}
		m[f.rdnat] = &nftables.Set{Table: tb, Name: f.rdnat, HasTimeout: true, IsMap: true, Interval: true, Concatenation: true,
			KeyType: f.keyType(), KeyByteOrder: binaryutil.BigEndian, DataType: f.addrType}
		m[f.reset] = &nftables.Set{Table: tb, Name: f.reset, HasTimeout: true,
			KeyType: f.flowType(), KeyByteOrder: binaryutil.BigEndian}
	}
	return m
}

// setOrder is the order in which sets are created and listed.
var setOrder = []string{setCtlPorts, setPin4, setPin6, mapDNAT4, mapDNAT6, mapSNAT4, mapSNAT6,
	setRange4, setRange6, mapRDNAT4, mapRDNAT6, setReset4, setReset6}

// chainDef is one base chain and its static rules.
type chainDef struct {
	name  string
	typ   nftables.ChainType
	hook  *nftables.ChainHook
	prio  int32
	rules [][]expr.Any
}

var hookNums = map[string]*nftables.ChainHook{
	HookForward: nftables.ChainHookForward,
	HookInput:   nftables.ChainHookInput,
	HookOutput:  nftables.ChainHookOutput,
}

// chainDefs is the whole ruleset for spec s with divert mode d. The sets
// are needed for their transaction IDs.
func chainDefs(s Spec, d Divert, st map[string]*nftables.Set) []chainDef {
	var out []chainDef
	hasOutput := false
	for _, h := range s.Hooks {
		hasOutput = hasOutput || h == HookOutput
		out = append(out, chainDef{
			name: "divert-" + h, typ: nftables.ChainTypeFilter, hook: hookNums[h], prio: prioDivert,
			rules: [][]expr.Any{
				resetRule(families[0], st[setReset4]), resetRule(families[1], st[setReset6]),
			},
		})
		for _, off := range []uint32{2, 0} {
			for _, m := range divertMatches {
				out[len(out)-1].rules = append(out[len(out)-1].rules, divertRule(s, d, st[setCtlPorts], off, m))
			}
		}
		out = append(out, chainDef{
			name: "pinhole-" + h, typ: nftables.ChainTypeFilter, hook: hookNums[h], prio: prioPinhole,
			rules: [][]expr.Any{
				pinholeRule(families[0], s.Mark, st[setPin4]), pinholeRule(families[1], s.Mark, st[setPin6]),
				rangeRule(families[0], s.Mark, st[setRange4]), rangeRule(families[1], s.Mark, st[setRange6]),
			},
		})
	}
	return append(out, natChains(hasOutput, st)...)
}

// natChains are the NAT chains, which do not depend on the hooks but for
// nat-output.
func natChains(hasOutput bool, st map[string]*nftables.Set) []chainDef {
	var out []chainDef
	dnat := [][]expr.Any{
		natRule(families[0], expr.NATTypeDestNAT, st[mapDNAT4]), natRule(families[1], expr.NATTypeDestNAT, st[mapDNAT6]),
		rangeNATRule(families[0], st[mapRDNAT4]), rangeNATRule(families[1], st[mapRDNAT6]),
	}
	out = append(out, chainDef{name: chainDNAT, typ: nftables.ChainTypeNAT, hook: nftables.ChainHookPrerouting, prio: prioDNAT, rules: dnat})
	out = append(out, chainDef{name: chainSNAT, typ: nftables.ChainTypeNAT, hook: nftables.ChainHookPostrouting, prio: prioSNAT,
		rules: [][]expr.Any{natRule(families[0], expr.NATTypeSourceNAT, st[mapSNAT4]), natRule(families[1], expr.NATTypeSourceNAT, st[mapSNAT6])}})
	if hasOutput {
		dnat := [][]expr.Any{
			natRule(families[0], expr.NATTypeDestNAT, st[mapDNAT4]), natRule(families[1], expr.NATTypeDestNAT, st[mapDNAT6]),
			rangeNATRule(families[0], st[mapRDNAT4]), rangeNATRule(families[1], st[mapRDNAT6]),
		}
		out = append(out, chainDef{name: chainDNATOut, typ: nftables.ChainTypeNAT, hook: nftables.ChainHookOutput, prio: prioDNAT, rules: dnat})
	}
	return out
}

// queueBuild adds the whole table to c's batch: "add table; delete table;
// add table" (so an existing table of that name, say from a previous run,
// goes in the same batch, and a missing one is no error), then sets,
// chains, rules and the elements of pins.
func queueBuild(c *nftables.Conn, s Spec, d Divert, els []elem) error {
	tb := &nftables.Table{Family: nftables.TableFamilyINet, Name: s.Table}
	c.AddTable(tb)
	c.DelTable(tb)
	c.AddTable(tb)
	st := sets(tb)
	for _, name := range setOrder {
		var initial []nftables.SetElement
		if name == setCtlPorts {
			for _, p := range s.ControlPorts {
				initial = append(initial, nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(p)})
			}
		}
		if err := c.AddSet(st[name], initial); err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
	}
	policy := nftables.ChainPolicyAccept
	for _, cd := range chainDefs(s, d, st) {
		ch := c.AddChain(&nftables.Chain{Name: cd.name, Table: tb, Type: cd.typ, Hooknum: cd.hook,
			Priority: nftables.ChainPriorityRef(nftables.ChainPriority(cd.prio)), Policy: &policy})
		for _, r := range cd.rules {
			c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: r})
		}
	}
	return queueAdd(c, st, els)
}

// queueAdd adds elements, grouped into one message per set.
func queueAdd(c *nftables.Conn, st map[string]*nftables.Set, els []elem) error {
	bySet := map[string][]nftables.SetElement{}
	for _, e := range els {
		bySet[e.set] = append(bySet[e.set], nftables.SetElement{Key: e.key, KeyEnd: e.keyEnd, Val: e.val, Timeout: e.timeout})
	}
	for _, name := range setOrder {
		if len(bySet[name]) == 0 {
			continue
		}
		if err := c.SetAddElements(st[name], bySet[name]); err != nil {
			return fmt.Errorf("add to %s: %w", name, err)
		}
	}
	return nil
}

// queueDestroy destroys elements (no error for one that is gone).
func queueDestroy(c *nftables.Conn, st map[string]*nftables.Set, els []elem) error {
	bySet := map[string][]nftables.SetElement{}
	for _, e := range els {
		bySet[e.set] = append(bySet[e.set], nftables.SetElement{Key: e.key, KeyEnd: e.keyEnd})
	}
	for _, name := range setOrder {
		if len(bySet[name]) == 0 {
			continue
		}
		if err := c.SetDestroyElements(st[name], bySet[name]); err != nil {
			return fmt.Errorf("destroy in %s: %w", name, err)
		}
	}
	return nil
}

// tcp is "meta l4proto tcp".
func tcp() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.IPPROTO_TCP}},
	}
}

// divertMatch is what, besides the control port, makes a divert rule
// queue a segment. A control connection's segment is queued if any of
// the three matches (Spec.Queued is the model).
type divertMatch uint8

const (
	// matchResized: "ct mark & R == R", R being Spec.ResizedMark: a
	// connection ftpalg resized is queued whole (its sequence and ack
	// numbers need shifting, pure ACKs included).
	matchResized divertMatch = iota
	// matchPayload: "@ih,0,8 & 0x0 == 0x0". A load of the payload's
	// first byte fails on an empty payload, which ends the rule; the
	// comparison itself always holds. So it matches exactly the segments
	// that carry data.
	matchPayload
	// matchFlags: "tcp flags & (fin|syn|rst) != 0": the handshake and
	// the end of a connection, which the inspector must see.
	matchFlags
)

// divertMatches is the order of the rules per port direction: the
// resized ones first, then data, then the flags.
var divertMatches = []divertMatch{matchResized, matchPayload, matchFlags}

// divertRule is "meta l4proto tcp tcp dport|sport @ctlports MATCH counter
// queue ..." with portOff 2 (dport) or 0 (sport) and MATCH by m.
func divertRule(s Spec, d Divert, ctl *nftables.Set, portOff uint32, m divertMatch) []expr.Any {
	r := append(tcp(),
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: portOff, Len: 2},
		&expr.Lookup{SourceRegister: reg1, SetName: ctl.Name, SetID: ctl.ID},
	)
	switch m {
	case matchResized:
		r = append(r,
			&expr.Ct{Key: expr.CtKeyMARK, Register: reg1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
				Mask: binaryutil.NativeEndian.PutUint32(s.ResizedMark), Xor: binaryutil.NativeEndian.PutUint32(0)},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(s.ResizedMark)},
		)
	case matchPayload:
		r = append(r,
			&expr.Payload{DestRegister: reg1, Base: payloadBaseInner, Offset: 0, Len: 1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 1, Mask: []byte{0}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{0}},
		)
	case matchFlags:
		r = append(r,
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 1,
				Mask: []byte{TCPFlagFIN | TCPFlagSYN | TCPFlagRST}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{0}},
		)
	}
	return append(r, &expr.Counter{}, queueExpr(d, s.QueueNum, s.QueueCount, s.FailOpen))
}

// queueExpr sends the packet to queue num (or spreads flows over num ..
// num+total-1), with BYPASS if failOpen. Native: the nft queue
// expression. Compat: the xtables NFQUEUE target, revision 3.
func queueExpr(d Divert, num, total uint16, failOpen bool) expr.Any {
	if d == DivertNative {
		q := &expr.Queue{Num: num, Total: total}
		if failOpen {
			q.Flag |= expr.QueueFlagBypass
		}
		return q
	}
	var flags uint16
	if failOpen {
		flags |= nfqFlagBypass
	}
	info := xt.Unknown(nfqInfoV3(num, total, flags))
	return &expr.Target{Name: "NFQUEUE", Rev: 3, Info: &info}
}

// nfqInfoV3 encodes struct xt_NFQ_info_v3 {__u16 queuenum; __u16
// queues_total; __u16 flags;} in host byte order, padded to 8 bytes
// (XT_ALIGN) as nft_compat requires.
func nfqInfoV3(num, total, flags uint16) []byte {
	b := make([]byte, 8)
	binary.NativeEndian.PutUint16(b[0:], num)
	binary.NativeEndian.PutUint16(b[2:], total)
	binary.NativeEndian.PutUint16(b[4:], flags)
	return b
}

// nfproto is "meta nfproto ipv4|ipv6": an inet chain sees both, and the
// payload offsets below are only right for one.
func nfproto(f family) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{f.nfproto}},
	}
}

// loadKey loads "saddr . daddr . tcp dport" into the key registers.
func loadKey(f family) []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: f.keyRegs[0], Base: expr.PayloadBaseNetworkHeader, Offset: f.saddrOff, Len: f.addrLen},
		&expr.Payload{DestRegister: f.keyRegs[1], Base: expr.PayloadBaseNetworkHeader, Offset: f.daddrOff, Len: f.addrLen},
		&expr.Payload{DestRegister: f.keyRegs[2], Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
	}
}

// pinholeRule is "ct state new meta nfproto F meta l4proto tcp saddr .
// daddr . tcp dport @pinF delete @pinF { saddr . daddr . tcp dport }
// counter ct mark set ct mark | mark". The lookup leaves the key
// registers alone, so the dynset reuses them.
func pinholeRule(f family, mark uint32, pin *nftables.Set) []expr.Any {
	r := append(newTCP(f), loadKey(f)...)
	r = append(r,
		&expr.Lookup{SourceRegister: reg1, SetName: pin.Name, SetID: pin.ID},
		&expr.Dynset{SrcRegKey: reg1, SetName: pin.Name, SetID: pin.ID, Operation: dynsetOpDelete},
		&expr.Counter{},
	)
	return append(r, setMark(mark)...)
}

// newTCP is "ct state new" followed by "meta nfproto F meta l4proto tcp".
func newTCP(f family) []expr.Any {
	r := []expr.Any{
		&expr.Ct{Key: expr.CtKeySTATE, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitNEW), Xor: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
	r = append(r, nfproto(f)...)
	return append(r, tcp()...)
}

// setMark is "ct mark set ct mark | mark".
func setMark(mark uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(^mark), Xor: binaryutil.NativeEndian.PutUint32(mark)},
		&expr.Ct{Key: expr.CtKeyMARK, Register: reg1, SourceRegister: true},
	}
}

// rangeRule is "ct state new meta nfproto F meta l4proto tcp saddr .
// daddr . tcp dport @rangeF counter ct mark set ct mark | mark": unlike
// a pinhole, the element stays, for every data connection of the TLS
// session.
func rangeRule(f family, mark uint32, rng *nftables.Set) []expr.Any {
	r := append(newTCP(f), loadKey(f)...)
	r = append(r, &expr.Lookup{SourceRegister: reg1, SetName: rng.Name, SetID: rng.ID}, &expr.Counter{})
	return append(r, setMark(mark)...)
}

// rangeNATRule is "meta nfproto F meta l4proto tcp dnat F to saddr .
// daddr . tcp dport map @rdnatF": the address alone, the port stays.
func rangeNATRule(f family, m *nftables.Set) []expr.Any {
	r := append(nfproto(f), tcp()...)
	r = append(r, loadKey(f)...)
	return append(r,
		&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: m.Name, SetID: m.ID},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: uint32(f.nfproto), RegAddrMin: reg1},
	)
}

// resetRule is "meta nfproto F meta l4proto tcp saddr . daddr . tcp
// sport . tcp dport @resetF counter reject with tcp reset": packets of a
// control connection ftpalg reset, both ways, are answered with resets
// before they reach the queue.
func resetRule(f family, reset *nftables.Set) []expr.Any {
	r := append(nfproto(f), tcp()...)
	return append(r,
		&expr.Payload{DestRegister: f.flowRegs[0], Base: expr.PayloadBaseNetworkHeader, Offset: f.saddrOff, Len: f.addrLen},
		&expr.Payload{DestRegister: f.flowRegs[1], Base: expr.PayloadBaseNetworkHeader, Offset: f.daddrOff, Len: f.addrLen},
		&expr.Payload{DestRegister: f.flowRegs[2], Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 2},
		&expr.Payload{DestRegister: f.flowRegs[3], Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Lookup{SourceRegister: reg1, SetName: reset.Name, SetID: reset.ID},
		&expr.Counter{},
		&expr.Reject{Type: unix.NFT_REJECT_TCP_RST},
	)
}

// natRule is the consuming form of "meta nfproto F meta l4proto tcp
// dnat|snat F to saddr . daddr . tcp dport map @m": the lookup writes the
// map data to f.dataReg (for DNAT "addr . port", the port in
// f.dataPortReg; for SNAT the address alone), clear of the key
// registers; a dynset deletes the element; the nat expression then takes
// the address and port from the data registers. The first connection
// through a mapping uses it up, as the pinhole rule does with its
// element, so nothing has to remove it once used. NAT chains see only
// the first packet of a connection: its retransmitted SYN follows the
// translation conntrack keeps.
//
// The dynset of a map needs a data register even to delete (without one
// the kernel answers EINVAL), but a delete does not read it (in
// TestNATMapsConsumed the register holds the public address, not the
// element's value, and the element goes all the same). It names the
// key's own "daddr . dport" (DNAT) or "daddr" (SNAT), which have the
// map data's types: with the lookup's result there instead, nft 1.0.6
// aborts when it lists the rule ("netlink_parse_concat_expr: Assertion
// `consumed > 0' failed"). nft then prints the rule as "delete @m { K :
// daddr . tcp dport } dnat to K map @m", which does not mean the same
// when read back (the delete would run before the lookup): like the
// divert rules, it is not for "nft -f". TestNATConsumeEncodingMatchesNft
// compares the encoding expression by expression with nft's.
func natRule(f family, typ expr.NATType, m *nftables.Set) []expr.Any {
	r := append(nfproto(f), tcp()...)
	r = append(r, loadKey(f)...)
	nat := &expr.NAT{Type: typ, Family: uint32(f.nfproto), RegAddrMin: f.dataReg}
	if typ == expr.NATTypeDestNAT {
		nat.RegProtoMin = f.dataPortReg
	}
	return append(r,
		&expr.Lookup{SourceRegister: reg1, DestRegister: f.dataReg, IsDestRegSet: true, SetName: m.Name, SetID: m.ID},
		&expr.Dynset{SrcRegKey: reg1, SrcRegData: f.keyRegs[1], SetName: m.Name, SetID: m.ID, Operation: dynsetOpDelete},
		nat,
	)
}

// queueProbe adds to c's batch a throwaway table with one rule that
// diverts with mode d, and deletes the table again: the batch fails if
// the kernel lacks the expression, and leaves nothing behind either way.
// The table is created with NLM_F_EXCL, so it never touches a table that
// happens to have the probe's name.
func queueProbe(c *nftables.Conn, name string, d Divert) {
	tb := &nftables.Table{Family: nftables.TableFamilyINet, Name: name}
	c.CreateTable(tb)
	ch := c.AddChain(&nftables.Chain{Name: "probe", Table: tb})
	c.AddRule(&nftables.Rule{Table: tb, Chain: ch, Exprs: append(tcp(), queueExpr(d, 0, 1, true))})
	c.DelTable(tb)
}
