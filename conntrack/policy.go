package conntrack

import (
	"fmt"
	"time"
)

// Reason is why a pinhole was refused or closed, or why a line was not
// acted on. Its String is stable and meant for log lines and JSON.
type Reason uint8

const (
	ReasonNone Reason = iota
	// Refusals of announcements.
	ReasonSyntax          // announcement did not parse
	ReasonBounce          // announced address is not the announcer's own (RFC 2577)
	ReasonFamily          // address family differs from the control connection
	ReasonLowPort         // data port below the policy minimum
	ReasonTooMany         // session already holds the maximum of outstanding pinholes
	ReasonUnsolicited     // 227/229 without a PASV/EPSV outstanding
	ReasonWrongCommand    // 227/229 answering some other command
	ReasonBeforeGreeting  // announcement before the 220 greeting
	ReasonEPSVAll         // PORT/EPRT/PASV after EPSV ALL
	ReasonClosing         // announcement after QUIT/221 or 421
	ReasonSplitForwarded  // announcement split across segments, part already forwarded
	ReasonNoPublicPort    // no free public port for the NAT mapping
	ReasonEditTableFull   // too many rewrites in flight
	ReasonPipelineOverrun // too many commands without replies
	ReasonNotTracked      // session table full: packet passed uninspected
	// Stream conditions.
	ReasonLineTooLong // line over the limit discarded
	ReasonGap         // bytes missing: resynchronised at the next line
	ReasonHoldTimeout // held segments released unchanged
	// Closing reasons.
	ReasonWithdrawn    // non-2xx reply to PORT/EPRT
	ReasonSuperseded   // a newer announcement replaced it
	ReasonTransferDone // transfer command got its final reply
	ReasonExpired      // timeout
	ReasonUsed         // the data connection consumed it
	ReasonSessionEnd   // control session ended
	ReasonReinitialize // REIN
	ReasonQuit         // QUIT/221 or 421
	ReasonReset        // RST
	ReasonOpaque       // channel became opaque
	// Added with the pinhole budget, the violation policy and FTPS.
	ReasonClientLimit // the client already holds its maximum of pinholes
	ReasonTotalLimit  // all sessions together hold the maximum of pinholes
	ReasonTLSBlocked  // AUTH refused by the control port's TLS policy
	ReasonCleared     // TLS ended (CCC): the passive-range pinhole closes
	// Added with the second hostile-input round.
	ReasonTLSUnpaired // a side started TLS without an AUTH the server accepted in order
	ReasonTLSPending  // announcement while an AUTH awaits its reply
	ReasonAmbiguous   // 227/229 ending another reply's multi-line text: clients disagree
	ReasonAfterFIN    // data after the sender's FIN: the receiver discards it
	ReasonBadChecksum // checksum does not verify: the receiver discards it
)

var reasonNames = [...]string{
	ReasonNone:            "",
	ReasonSyntax:          "syntax",
	ReasonBounce:          "bounce",
	ReasonFamily:          "address-family",
	ReasonLowPort:         "low-port",
	ReasonTooMany:         "too-many-pinholes",
	ReasonUnsolicited:     "unsolicited",
	ReasonWrongCommand:    "wrong-command",
	ReasonBeforeGreeting:  "before-greeting",
	ReasonEPSVAll:         "after-epsv-all",
	ReasonClosing:         "session-closing",
	ReasonSplitForwarded:  "split-forwarded",
	ReasonNoPublicPort:    "no-public-port",
	ReasonEditTableFull:   "edit-table-full",
	ReasonPipelineOverrun: "pipeline-overrun",
	ReasonNotTracked:      "not-tracked",
	ReasonLineTooLong:     "line-too-long",
	ReasonGap:             "gap",
	ReasonHoldTimeout:     "hold-timeout",
	ReasonWithdrawn:       "withdrawn",
	ReasonSuperseded:      "superseded",
	ReasonTransferDone:    "transfer-done",
	ReasonExpired:         "expired",
	ReasonUsed:            "used",
	ReasonSessionEnd:      "session-end",
	ReasonReinitialize:    "reinitialize",
	ReasonQuit:            "quit",
	ReasonReset:           "reset",
	ReasonOpaque:          "opaque",
	ReasonClientLimit:     "client-pinhole-limit",
	ReasonTotalLimit:      "total-pinhole-limit",
	ReasonTLSBlocked:      "tls-blocked",
	ReasonCleared:         "tls-cleared",
	ReasonTLSUnpaired:     "tls-unpaired",
	ReasonTLSPending:      "tls-pending",
	ReasonAmbiguous:       "ambiguous-reply",
	ReasonAfterFIN:        "after-fin",
	ReasonBadChecksum:     "bad-checksum",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// MarshalText makes reasons print as their names in JSON.
func (r Reason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// Violation is what happens to a session whose announcement is refused.
type Violation uint8

const (
	// ViolationRefuse rewrites the refused line so that its receiver
	// rejects it (a PORT/EPRT argument the server answers 501 to, a
	// 227/229 turned into 425); the session goes on.
	ViolationRefuse Violation = iota
	// ViolationReset resets the session: the packet completing the
	// refused line becomes a TCP RST to its receiver, held segments are
	// dropped, and EffReset asks the caller to reject the flow's further
	// packets with resets.
	ViolationReset
)

func (v Violation) String() string {
	if v == ViolationReset {
		return "reset"
	}
	return "refuse"
}

// Policy is what the inspector enforces. The zero value is not useful;
// start from DefaultPolicy.
type Policy struct {
	// MinDataPort: announced data ports below it are refused.
	MinDataPort uint16
	// BounceCheck: the announced address must be the announcer's own
	// address on the control connection (RFC 2577).
	BounceCheck bool
	// MaxPinholes is the most outstanding pinholes one session may hold.
	MaxPinholes int
	// MaxClientPinholes and MaxTotalPinholes bound the pinholes of one
	// client address over all its sessions, and of all sessions. They are
	// enforced by the Budget the Trackers share.
	MaxClientPinholes int
	MaxTotalPinholes  int
	// Violation is what a refused announcement does to its session.
	Violation Violation
	// PinholeTimeout is how long an unused pinhole lives.
	PinholeTimeout time.Duration
	// MaxLine is the longest control line inspected; longer lines are
	// discarded with ReasonLineTooLong.
	MaxLine int
	// HoldTimeout bounds how long segments of an incomplete
	// announcement line (or out-of-order segments) are held.
	HoldTimeout time.Duration
	// MaxHeldSegments and MaxHeldBytes bound what one direction holds.
	MaxHeldSegments int
	MaxHeldBytes    int
	// Midstream allows picking up sessions whose handshake was not seen.
	Midstream bool
	// MaxSessions bounds the session table of one Tracker.
	MaxSessions int
	// SessionIdle removes sessions that saw no packet for this long.
	SessionIdle time.Duration
	// ClosedLinger keeps ended sessions so late retransmissions and the
	// final ACKs are still sequence-adjusted.
	ClosedLinger time.Duration
}

// DefaultPolicy returns the defaults documented in the README.
func DefaultPolicy() Policy {
	return Policy{
		MinDataPort:       1024,
		BounceCheck:       true,
		MaxPinholes:       4,
		MaxClientPinholes: 64,
		MaxTotalPinholes:  4096,
		PinholeTimeout:    30 * time.Second,
		MaxLine:           1024,
		HoldTimeout:       250 * time.Millisecond,
		MaxHeldSegments:   64,
		MaxHeldBytes:      4096,
		Midstream:         true,
		MaxSessions:       65536,
		SessionIdle:       2 * time.Hour,
		ClosedLinger:      2 * time.Minute,
	}
}

// Validate reports the first setting that cannot work.
func (p Policy) Validate() error {
	switch {
	case p.MaxPinholes < 1 || p.MaxPinholes > maxPinholesCap:
		return fmt.Errorf("policy: max pinholes %d out of range 1-%d", p.MaxPinholes, maxPinholesCap)
	case p.MaxClientPinholes < 1 || p.MaxClientPinholes > maxBudget:
		return fmt.Errorf("policy: max client pinholes %d out of range 1-%d", p.MaxClientPinholes, maxBudget)
	case p.MaxTotalPinholes < 1 || p.MaxTotalPinholes > maxBudget:
		return fmt.Errorf("policy: max total pinholes %d out of range 1-%d", p.MaxTotalPinholes, maxBudget)
	case p.Violation > ViolationReset:
		return fmt.Errorf("policy: violation %d is not refuse or reset", p.Violation)
	case p.PinholeTimeout <= 0:
		return fmt.Errorf("policy: pinhole timeout %v must be positive", p.PinholeTimeout)
	case p.MaxLine < 64 || p.MaxLine > 65536:
		return fmt.Errorf("policy: max line %d out of range 64-65536", p.MaxLine)
	case p.HoldTimeout <= 0:
		return fmt.Errorf("policy: hold timeout %v must be positive", p.HoldTimeout)
	case p.MaxHeldSegments < 1:
		return fmt.Errorf("policy: max held segments %d must be at least 1", p.MaxHeldSegments)
	case p.MaxHeldBytes < p.MaxLine:
		return fmt.Errorf("policy: max held bytes %d below max line %d", p.MaxHeldBytes, p.MaxLine)
	case p.MaxSessions < 1:
		return fmt.Errorf("policy: max sessions %d must be at least 1", p.MaxSessions)
	case p.SessionIdle <= 0 || p.ClosedLinger <= 0:
		return fmt.Errorf("policy: session idle %v and closed linger %v must be positive", p.SessionIdle, p.ClosedLinger)
	}
	return nil
}

// maxBudget bounds the client and total pinhole limits.
const maxBudget = 1 << 20

// maxPinholesCap is the size of a session's fixed pinhole array.
const maxPinholesCap = 64
