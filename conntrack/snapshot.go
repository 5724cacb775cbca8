package conntrack

// A read-only view of a Tracker's sessions, for "ftpalg status". It is
// built on the Tracker's goroutine (the Tracker is not safe for concurrent
// use) and holds copies only: nothing in it aliases the Tracker.

import (
	"cmp"
	"slices"
	"time"
)

// SessionInfo is one session as Snapshot saw it.
type SessionInfo struct {
	ID   uint64
	Flow Flow
	// Tuples are the conntrack original and reply tuples the session
	// uses; NATKnown is false while the NAT lookup has not answered (the
	// session then uses IdentityTuples(Flow)).
	Tuples   Tuples
	NATKnown bool
	// State lists the session's conditions (the State* constants), in
	// the order of their declaration.
	State    []string
	TLS      TLSMode
	Rewrites uint64 // announcements rewritten
	Refusals uint64 // violations (refused announcements and lines)
	Idle     time.Duration
	Pinholes []PinholeInfo
	// Range is the passive-range pinhole of a TLS session
	// (TLSPassthroughRange), if open.
	Range *RangeInfo
}

// PinholeInfo is one outstanding pinhole of a session.
type PinholeInfo struct {
	ID      uint64
	Pinhole Pinhole
	// Mapping is the data connection's NAT, if HasMap.
	Mapping   Mapping
	HasMap    bool
	Remaining time.Duration // until it expires, never negative
	// Attached: a transfer command is using it.
	Attached bool
}

// RangeInfo is an open passive-range pinhole.
type RangeInfo struct {
	ID    uint64
	Range PortRange
}

// The session states Snapshot reports, in the order it lists them.
const (
	StateNew         = "new"          // no 220 greeting yet
	StateGreeted     = "greeted"      // 220 seen, or picked up mid-stream
	StateMidstream   = "midstream"    // handshake not seen
	StateAuthPending = "auth-pending" // AUTH sent, its reply outstanding
	StateOpaque      = "opaque"       // the control channel is TLS
	StateEPSVAll     = "epsv-all"     // EPSV ALL sent
	StateQuit        = "quit-sent"    // QUIT sent, its reply outstanding
	StateClosing     = "closing"      // 221/421 seen: no new pinholes
	StateResized     = "resized"      // an edit changed the stream's length
	StateHolding     = "holding"      // segments held
	StateKilled      = "reset"        // reset by the policy
	StateEnded       = "ended"        // ended, lingering for late segments
)

// Snapshot appends a copy of every session to dst (reused) as of now,
// sorted by ID, and returns it. It changes nothing.
func (t *Tracker) Snapshot(now time.Time, dst []SessionInfo) []SessionInfo {
	dst = dst[:0]
	for _, s := range t.sessions {
		dst = append(dst, s.info(now, t.holding))
	}
	slices.SortFunc(dst, func(a, b SessionInfo) int { return cmp.Compare(a.ID, b.ID) })
	return dst
}

func (s *Session) info(now time.Time, holding map[*Session]struct{}) SessionInfo {
	in := SessionInfo{
		ID:       s.id,
		Flow:     s.flow,
		Tuples:   s.tuples(),
		NATKnown: s.natTup != nil,
		TLS:      s.tls.Mode,
		Rewrites: s.rewrites,
		Refusals: s.refusals,
		Idle:     max(now.Sub(s.lastSeen), 0),
	}
	flag := func(on bool, name string) {
		if on {
			in.State = append(in.State, name)
		}
	}
	flag(!s.greeted, StateNew)
	flag(s.greeted, StateGreeted)
	flag(s.midstream, StateMidstream)
	flag(s.authPending, StateAuthPending)
	flag(s.opaque, StateOpaque)
	flag(s.epsvAll, StateEPSVAll)
	flag(s.quitSent, StateQuit)
	flag(s.closing, StateClosing)
	flag(s.resized, StateResized)
	_, held := holding[s]
	flag(held, StateHolding)
	flag(s.killed, StateKilled)
	flag(s.ended, StateEnded)
	if s.npins > 0 {
		in.Pinholes = make([]PinholeInfo, s.npins)
		for i := 0; i < s.npins; i++ {
			p := &s.pins[i]
			in.Pinholes[i] = PinholeInfo{
				ID: p.id, Pinhole: p.ph, Mapping: p.m, HasMap: p.hasMap,
				Remaining: max(p.expires.Sub(now), 0), Attached: p.attached != 0,
			}
		}
	}
	if s.rng != nil {
		in.Range = &RangeInfo{ID: s.rng.id, Range: s.rng.r}
	}
	return in
}
