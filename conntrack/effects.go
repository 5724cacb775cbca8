package conntrack

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
)

// Dir is the direction of a control-connection packet.
type Dir uint8

const (
	// FromClient is client to server: commands.
	FromClient Dir = iota
	// FromServer is server to client: replies.
	FromServer
)

func (d Dir) String() string {
	if d == FromClient {
		return "client"
	}
	return "server"
}

// Verdict is what happens to one packet.
type Verdict uint8

const (
	// Accept lets the packet pass unchanged.
	Accept Verdict = iota
	// AcceptModified lets the packet pass with the bytes in Result.Packet
	// (or Release.Packet).
	AcceptModified
	// Hold keeps the packet: the caller must not give a verdict yet; a
	// later Result (or Tick) releases it by its token.
	Hold
	// Drop discards the packet.
	Drop
)

func (v Verdict) String() string {
	switch v {
	case Accept:
		return "accept"
	case AcceptModified:
		return "accept-modified"
	case Hold:
		return "hold"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("verdict(%d)", uint8(v))
}

// Pinhole admits exactly one data connection: TCP from Src to Dst, as the
// packets look where the filter sees them (after destination NAT, before
// source NAT).
type Pinhole struct {
	Src netip.Addr     `json:"src"`
	Dst netip.AddrPort `json:"dst"`
}

func (p Pinhole) String() string { return p.Src.String() + " -> " + p.Dst.String() }

// Mapping is the NAT a data connection needs: a connection from Src to Dst
// (the announced, public endpoint) is sent to ToDst, and if ToSrc is valid,
// its source is changed to ToSrc.
type Mapping struct {
	Src   netip.Addr     `json:"src"`
	Dst   netip.AddrPort `json:"dst"`
	ToDst netip.AddrPort `json:"to_dst"`
	ToSrc netip.Addr     `json:"to_src,omitzero"`
}

func (m Mapping) String() string {
	s := m.Src.String() + " -> " + m.Dst.String() + " dnat " + m.ToDst.String()
	if m.ToSrc.IsValid() {
		s += " snat " + m.ToSrc.String()
	}
	return s
}

// PortRange admits TCP connections from Src to Dst on any port Lo..Hi, as
// the packets look where the filter sees them. With Public valid, the
// connections arrive addressed to Public (the server's published address)
// and must be translated to Dst, ports unchanged.
type PortRange struct {
	Src    netip.Addr `json:"src"`
	Dst    netip.Addr `json:"dst"`
	Lo     uint16     `json:"lo"`
	Hi     uint16     `json:"hi"`
	Public netip.Addr `json:"public,omitzero"`
}

func (r PortRange) String() string {
	s := r.Src.String() + " -> " + r.Dst.String() + ":" + strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))
	if r.Public.IsValid() {
		s += " (published as " + r.Public.String() + ")"
	}
	return s
}

// EffectKind says what an Effect asks the caller to do.
type EffectKind uint8

const (
	// EffOpenPinhole: install Pinhole (ID) with Timeout before releasing
	// the packet that announced it.
	EffOpenPinhole EffectKind = iota + 1
	// EffMapData: install Mapping (same ID as its pinhole) with Timeout.
	EffMapData
	// EffClosePinhole: remove pinhole ID and its mapping if any.
	EffClosePinhole
	// EffOpaque: the control channel became opaque (TLS).
	EffOpaque
	// EffClear: the channel is clear text again (CCC).
	EffClear
	// EffViolation: a refusal; Reason says why.
	EffViolation
	// EffSessionStart and EffSessionEnd bracket a session's life.
	EffSessionStart
	EffSessionEnd
	// EffReset: the session was reset for Reason; the caller rejects the
	// flow's further packets (both directions) with TCP resets.
	EffReset
	// EffOpenRange: install the passive-range pinhole Range (ID), and its
	// translation if Range.Public is valid, with Timeout, before releasing
	// the packet that triggered it (the server's 234 to AUTH).
	EffOpenRange
	// EffCloseRange: remove range pinhole ID.
	EffCloseRange
	// EffResized: the session's first edit that changes the stream's
	// length. From here its sequence numbers depend on the Tracker until
	// it ends. Before any verdict of this Result, the caller marks the
	// control connection as resized in the kernel (so that every one of
	// its packets is diverted, and a later ftpalg can tell it from an
	// unresized one) and sets be_liberal on it; unresized sessions need
	// neither.
	EffResized
)

var effectNames = [...]string{
	EffOpenPinhole:  "open-pinhole",
	EffMapData:      "map-data",
	EffClosePinhole: "close-pinhole",
	EffOpaque:       "opaque",
	EffClear:        "clear",
	EffViolation:    "violation",
	EffSessionStart: "session-start",
	EffSessionEnd:   "session-end",
	EffReset:        "reset",
	EffOpenRange:    "open-range",
	EffCloseRange:   "close-range",
	EffResized:      "resized",
}

func (k EffectKind) String() string {
	if int(k) < len(effectNames) && effectNames[k] != "" {
		return effectNames[k]
	}
	return fmt.Sprintf("effect(%d)", uint8(k))
}

// Effect is one thing the caller must carry out (or log).
type Effect struct {
	Kind    EffectKind
	Session uint64
	Flow    Flow
	ID      uint64 // pinhole ID for pinhole and mapping effects
	Pinhole Pinhole
	Mapping Mapping
	HasMap  bool // Mapping is meaningful (also on EffClosePinhole)
	Timeout time.Duration
	Range   PortRange // EffOpenRange, EffCloseRange
	Reason  Reason    // EffClosePinhole, EffCloseRange, EffViolation, EffSessionEnd, EffReset
	Detail  string    // free text for the log (violations)
}

// Release is the verdict for a packet held earlier.
type Release struct {
	Token   uint64
	Session uint64 // the session the packet belongs to
	Verdict Verdict
	Packet  []byte // for AcceptModified
}

// Event is one decision about one control line, for logs and for
// "ftpalg replay". Events exist only for lines that matter (announcements,
// their replies, channel-state changes, refusals), never on the steady path.
type Event struct {
	Time     time.Time
	Session  uint64
	Flow     Flow
	Dir      Dir
	Line     string  // the line, sanitised and truncated
	Decision string  // open, rewrite, refuse, withdraw, close, opaque, clear, pair, ignore
	Pinhole  Pinhole // zero unless the decision concerns a pinhole
	Mapping  Mapping // zero unless the data connection is translated
	Rewrite  string  // the new line text when rewritten
	// Announced is the endpoint the line announced, when it parsed.
	Announced netip.AddrPort
	Reason    Reason
	Detail    string
}

// Result is what Tracker.Process returns for one packet. Its slices are
// reused from call to call: the caller must use them before the next call.
type Result struct {
	Session  uint64
	Verdict  Verdict
	Packet   []byte // the packet to send when Verdict is AcceptModified
	Released []Release
	Effects  []Effect
	Events   []Event
}

func (r *Result) reset() {
	r.Session = 0
	r.Verdict = Accept
	r.Packet = nil
	r.Released = r.Released[:0]
	r.Effects = r.Effects[:0]
	r.Events = r.Events[:0]
}
