package rules

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
)

// Entry is one pinhole in the table.
type Entry struct {
	ID      uint64
	Session uint64
	Pinhole conntrack.Pinhole
	Mapping conntrack.Mapping
	HasMap  bool
	Opened  time.Time
	Expires time.Time
}

// Memory is an in-memory pinhole table with the semantics of ftpalg's
// nftables sets: an element admits the first matching TCP connection and
// is consumed by it, and it disappears by itself at its timeout. It is not
// safe for concurrent use.
type Memory struct {
	entries map[uint64]*Entry
}

// NewMemory returns an empty table.
func NewMemory() *Memory { return &Memory{entries: make(map[uint64]*Entry)} }

// Apply carries out one effect at time now. Effects other than pinhole
// and mapping effects are ignored. It returns an error for an effect that
// would be refused by the kernel (a duplicate ID, say).
func (m *Memory) Apply(e conntrack.Effect, now time.Time) error {
	switch e.Kind {
	case conntrack.EffOpenPinhole:
		if _, dup := m.entries[e.ID]; dup {
			return fmt.Errorf("rules: pinhole %d already open", e.ID)
		}
		m.entries[e.ID] = &Entry{ID: e.ID, Session: e.Session, Pinhole: e.Pinhole, Opened: now, Expires: now.Add(e.Timeout)}
	case conntrack.EffMapData:
		en, ok := m.entries[e.ID]
		if !ok {
			return fmt.Errorf("rules: mapping for unknown pinhole %d", e.ID)
		}
		en.Mapping, en.HasMap = e.Mapping, true
	case conntrack.EffClosePinhole:
		delete(m.entries, e.ID)
	}
	return nil
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
// the filter sees it (after DNAT). A match consumes the entry, which is
// returned.
func (m *Memory) Admit(src netip.Addr, dst netip.AddrPort, now time.Time) (Entry, bool) {
	var best *Entry
	for _, en := range m.entries {
		if en.Pinhole.Src == src && en.Pinhole.Dst == dst && now.Before(en.Expires) {
			if best == nil || en.ID < best.ID {
				best = en
			}
		}
	}
	if best == nil {
		return Entry{}, false
	}
	delete(m.entries, best.ID)
	return *best, true
}

// Translate returns where a new connection from src to dst (before DNAT)
// goes according to the mappings: the destination after DNAT. Without a
// mapping it is dst itself.
func (m *Memory) Translate(src netip.Addr, dst netip.AddrPort, now time.Time) netip.AddrPort {
	for _, en := range m.entries {
		if en.HasMap && en.Mapping.Src == src && en.Mapping.Dst == dst && now.Before(en.Expires) {
			return en.Mapping.ToDst
		}
	}
	return dst
}

// Len is the number of live entries.
func (m *Memory) Len() int { return len(m.entries) }

// Entries lists the live entries by ID.
func (m *Memory) Entries() []Entry {
	out := make([]Entry, 0, len(m.entries))
	for _, en := range m.entries {
		out = append(out, *en)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
