package rules

import (
	"fmt"
	"slices"
	"time"
)

// SetControlPorts changes the control ports the divert rules send to the
// queues (ftpalg's reload). Their set is constant in the kernel, so the
// table is rebuilt in one batch, as Rebuild does, with every pin still
// live put back with the time it has left: nothing is diverted differently
// but the ports, and no pinhole, mapping or reset flow is lost. (A
// one-shot pinhole the kernel already consumed is put back too, until
// its removal or timeout, like after a Rebuild.) If the batch fails,
// nothing changes.
func (t *Table) SetControlPorts(ports []uint16) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("rules: set control ports of %s: %w", t.where, errClosed)
	}
	spec := t.spec
	spec.ControlPorts = slices.Clone(ports)
	if err := spec.Validate(); err != nil {
		return err
	}
	now := time.Now()
	pins := t.livePins(now)
	for i := range pins {
		pins[i].Timeout = max(pins[i].Timeout, time.Second)
	}
	all, perPin, err := rebuildElems(pins)
	if err != nil {
		return fmt.Errorf("rules: set control ports of %s: %w", t.where, err)
	}
	if err := queueBuild(t.conn, spec, t.divert, all); err != nil {
		discard(t.conn)
		return fmt.Errorf("rules: set control ports of %s: %w", t.where, err)
	}
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("rules: set control ports of %s: %w", t.where, err)
	}
	t.spec = spec
	t.track(pins, perPin, now)
	return nil
}
