package rules

import (
	"net/netip"
	"sort"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
)

// Entry is one element of the in-memory table: a pinhole (with its NAT
// mapping), a passive range or a reset flow.
type Entry struct {
	ID      uint64
	Kind    PinKind
	Session uint64 // not known to the table; callers may fill it in
	Pinhole conntrack.Pinhole
	Mapping conntrack.Mapping
	HasMap  bool
	Range   conntrack.PortRange
	Flow    conntrack.Flow
	Opened  time.Time
	Expires time.Time

	// pinUsed: a connection was admitted by the pinhole (its pin4/pin6
	// element is gone); mapUsed: a connection was translated by the
	// mapping (its dnat element is gone). The entry goes when nothing of
	// it is left.
	pinUsed, mapUsed bool
}

// Memory is an in-memory table with the semantics of ftpalg's nftables
// table: a pinhole admits the first matching TCP connection and is
// consumed by it; its NAT mapping translates the first new connection to
// the public address and port and is consumed by it (Translate), and
// goes with the pinhole when the data connection is admitted; a passive
// range admits every connection from its client to its server's ports
// until it is removed, and its published address translates all of them;
// a reset flow's packets are rejected; every element disappears by itself
// at its timeout. It takes the same Changes as Table (Interface), with
// the time set by At. It is not safe for concurrent use.
type Memory struct {
	now     time.Time
	entries map[uint64]*Entry
}

var _ Interface = (*Memory)(nil)

// NewMemory returns an empty table.
func NewMemory() *Memory { return &Memory{entries: make(map[uint64]*Entry)} }

// At sets the table's clock: what Apply and Rebuild do happens at now.
func (m *Memory) At(now time.Time) *Memory {
	m.now = now
	return m
}

// Apply forgets, removes, then adds, as Table does in one batch. Adding
// an ID again replaces what that ID had; removing one that is gone is not
// an error (the kernel may have consumed or expired it). Forget says the
// kernel consumed an ID's elements: whatever the table still holds for it
// goes (nothing, when its connection went through Translate and Admit).
func (m *Memory) Apply(ch Change) error {
	for _, id := range ch.Forget {
		delete(m.entries, id)
	}
	for _, p := range ch.Remove {
		delete(m.entries, p.ID)
	}
	for _, p := range ch.Add {
		if err := validPin(p); err != nil {
			return err
		}
		m.entries[p.ID] = &Entry{ID: p.ID, Kind: p.Kind, Pinhole: p.Pinhole, Mapping: p.Mapping, HasMap: p.HasMap,
			Range: p.Range, Flow: p.Flow, Opened: m.now, Expires: m.now.Add(p.Timeout)}
	}
	return nil
}

// validPin reports a Pin the kernel table would refuse.
func validPin(p Pin) error {
	switch {
	case p.ID == 0:
		return errorf("rules: pin without an ID")
	case p.Timeout < MinTimeout:
		return errorf("rules: pin %d: timeout %v below %v", p.ID, p.Timeout, MinTimeout)
	case !p.described():
		return errorf("rules: pin %d says nothing to install", p.ID)
	}
	return nil
}

// Present reports true: an in-memory table cannot be flushed from outside.
func (m *Memory) Present() (bool, error) { return true, nil }

// Rebuild replaces the contents by pins.
func (m *Memory) Rebuild(pins []Pin) error {
	clear(m.entries)
	return m.Apply(Change{Add: pins})
}

// Live lists the elements not yet expired, by ID.
func (m *Memory) Live() []Pin {
	out := make([]Pin, 0, len(m.entries))
	for _, en := range m.entries {
		if m.now.Before(en.Expires) {
			out = append(out, Pin{ID: en.ID, Kind: en.Kind, Pinhole: en.Pinhole, Mapping: en.Mapping, HasMap: en.HasMap,
				Range: en.Range, Flow: en.Flow, Timeout: en.Expires.Sub(m.now)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Expire removes entries whose timeout has passed and returns them.
func (m *Memory) Expire(now time.Time) []Entry {
	var out []Entry
	for id, en := range m.entries {
		if !now.Before(en.Expires) {
			out = append(out, *en)
			delete(m.entries, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Admit looks up a new TCP connection from src to dst as it appears where
// the filter sees it (after DNAT): a pinhole matches first and is
// consumed (the lowest ID wins), then a passive range, which stays. The
// element that admitted it is returned. The admitted connection also
// takes the pinhole's SNAT element (postrouting, after the filter); its
// DNAT element stays only if the connection did not come through it
// (Translate), as in the kernel, until it expires or is forgotten.
func (m *Memory) Admit(src netip.Addr, dst netip.AddrPort, now time.Time) (Entry, bool) {
	var best *Entry
	for _, en := range m.entries {
		if en.Kind == KindPinhole && !en.pinUsed && en.Pinhole.Src == src && en.Pinhole.Dst == dst && now.Before(en.Expires) {
			if best == nil || en.ID < best.ID {
				best = en
			}
		}
	}
	if best != nil {
		best.pinUsed = true
		if !best.HasMap || best.mapUsed || best.Mapping.Dst == best.Mapping.ToDst {
			delete(m.entries, best.ID)
		}
		return *best, true
	}
	for _, en := range m.entries {
		if en.Kind == KindRange && inRange(en.Range, src, dst.Addr(), dst.Port()) && now.Before(en.Expires) {
			return *en, true
		}
	}
	return Entry{}, false
}

func inRange(r conntrack.PortRange, src, dst netip.Addr, port uint16) bool {
	return r.Src == src && r.Dst == dst && r.Lo <= port && port <= r.Hi
}

// Translate returns where a new connection from src to dst (before DNAT)
// goes according to the mappings and the ranges' published addresses: the
// destination after DNAT. Without a mapping it is dst itself. Call it
// once per new connection, for its first packet, as the kernel's NAT
// chain sees it: a pinhole's mapping is consumed by the first connection
// it translates (the lowest ID wins), admitted or not; a range's
// published address stays.
func (m *Memory) Translate(src netip.Addr, dst netip.AddrPort, now time.Time) netip.AddrPort {
	var best *Entry
	for _, en := range m.entries {
		if en.Kind == KindPinhole && en.HasMap && !en.mapUsed && en.Mapping.Dst != en.Mapping.ToDst &&
			en.Mapping.Src == src && en.Mapping.Dst == dst && now.Before(en.Expires) {
			if best == nil || en.ID < best.ID {
				best = en
			}
		}
	}
	if best != nil {
		best.mapUsed = true
		if best.pinUsed {
			delete(m.entries, best.ID)
		}
		return best.Mapping.ToDst
	}
	for _, en := range m.entries {
		if en.Kind == KindRange && en.Range.Public.IsValid() && now.Before(en.Expires) &&
			inRange(conntrack.PortRange{Src: en.Range.Src, Dst: en.Range.Public, Lo: en.Range.Lo, Hi: en.Range.Hi}, src, dst.Addr(), dst.Port()) {
			return netip.AddrPortFrom(en.Range.Dst, dst.Port())
		}
	}
	return dst
}

// Rejected reports whether the packets of flow are rejected with resets
// (the flow of a session ftpalg reset).
func (m *Memory) Rejected(flow conntrack.Flow, now time.Time) bool {
	for _, en := range m.entries {
		if en.Kind == KindReset && en.Flow == flow && now.Before(en.Expires) {
			return true
		}
	}
	return false
}

// Len is the number of entries, expired ones not yet removed included.
func (m *Memory) Len() int { return len(m.entries) }

// Entries lists the entries by ID.
func (m *Memory) Entries() []Entry {
	out := make([]Entry, 0, len(m.entries))
	for _, en := range m.entries {
		out = append(out, *en)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
