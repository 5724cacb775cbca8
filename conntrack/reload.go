package conntrack

// Changing a running Tracker's policy and control ports (ftpalg's reload
// on SIGHUP). Existing sessions keep running with their state, pinholes
// and sequence adjustments; what they do next is judged by the new
// settings.

import (
	"errors"
	"fmt"
	"slices"
)

// Policy returns the Tracker's policy.
func (t *Tracker) Policy() Policy { return t.pol }

// SetPolicy replaces the policy, or returns an error (and changes
// nothing) if p is not valid. Every session sees it from its next
// decision on: the next announcement is checked against the new limits,
// the next pinhole gets the new timeout, and the next Tick applies the
// new idle and linger times. Pinholes already open keep their expiry,
// and sessions over a lowered MaxSessions are not removed (new ones are
// refused until the table is below it).
func (t *Tracker) SetPolicy(p Policy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	t.pol = p
	t.timers.rekeyAll(&t.pol) // the idle and linger times may have changed
	return nil
}

// ControlPorts returns the Tracker's control ports.
func (t *Tracker) ControlPorts() []uint16 { return slices.Clone(t.ctl) }

// SetControl replaces the control ports and their FTPS policy (ports
// without an entry in tls get TLSAllow, as in Config), or returns an
// error and changes nothing. New sessions start on the new ports with
// the new rules. A session already tracked keeps its state; it takes the
// new rule of its port for its next AUTH, unless its channel is TLS or an
// AUTH awaits its reply (it then keeps the rule it started TLS under). A
// session whose port is no longer a control port is no longer inspected:
// its packets are not taken for control packets (the table no longer
// diverts them either) and it goes at SessionIdle.
func (t *Tracker) SetControl(ports []uint16, tls map[uint16]TLSRule) error {
	if len(ports) == 0 {
		return errors.New("conntrack: no control port")
	}
	for i, p := range ports {
		if p == 0 {
			return errors.New("conntrack: control port 0")
		}
		if slices.Contains(ports[:i], p) {
			return fmt.Errorf("conntrack: control port %d listed twice", p)
		}
	}
	rules := make(map[uint16]TLSRule, len(tls))
	for port, r := range tls {
		if err := r.Validate(); err != nil {
			return fmt.Errorf("conntrack: TLS policy of control port %d: %w", port, err)
		}
		rules[port] = r
	}
	t.ctl = slices.Clone(ports)
	t.tls = rules
	for flow, s := range t.sessions {
		if s.opaque || s.authPending || !t.isControl(flow.Server.Port()) {
			continue
		}
		s.tls = rules[flow.Server.Port()]
	}
	return nil
}
