package gateway

import (
	"encoding/binary"
	"os"

	"github.com/ftpalg/ftpalg/ctnetlink"
)

// unfilteredEnv, set to 1, makes ftpalg receive every conntrack event
// (no socket filter). Only the background-traffic benchmark sets it, to
// measure what the filter saves; nothing in production should.
const unfilteredEnv = "FTPALG_TEST_UNFILTERED_CT_EVENTS"

// eventFilter is the conntrack event socket's filter for the control
// ports: every event of a control connection and the NEW events of
// connections with the pinhole mark (ctEvent needs no others). nil, for
// every event, under unfilteredEnv or if the program cannot be built
// (more control ports than fit into the kernel's limit).
func (d *Engine) eventFilter(ports []uint16) *ctnetlink.Filter {
	if os.Getenv(unfilteredEnv) == "1" {
		d.log.Warn("conntrack events unfiltered: every event in the namespace reaches ftpalg", "env", unfilteredEnv)
		return nil
	}
	f := &ctnetlink.Filter{ControlPorts: ports, Mark: d.cfg.Pinhole.Mark}
	if _, err := f.Program(binary.NativeEndian); err != nil {
		d.log.Warn("conntrack events unfiltered: every event in the namespace reaches ftpalg", "err", err)
		return nil
	}
	return f
}

// subscribe subscribes to the conntrack events of the current namespace
// with the filter for ports. Should the kernel refuse the filter, it
// subscribes without one (every event: more CPU, nothing missed).
func (d *Engine) subscribe(ports []uint16) (*ctnetlink.Events, error) {
	f := d.eventFilter(ports)
	sub, err := ctnetlink.Subscribe(0, f)
	if err != nil && f != nil {
		d.log.Warn("conntrack events unfiltered: every event in the namespace reaches ftpalg", "err", err)
		sub, err = ctnetlink.Subscribe(0, nil)
	}
	if err != nil {
		return nil, err
	}
	d.events = sub
	return sub, nil
}

// refilter replaces the event socket's filter after the control ports
// changed. If that fails, the filter is removed: ftpalg then receives
// every event, which costs CPU but misses nothing.
func (d *Engine) refilter(ports []uint16) {
	if d.events == nil {
		return
	}
	if err := d.events.SetFilter(d.eventFilter(ports)); err != nil {
		d.log.Error("conntrack event filter not replaced: receiving every event", "err", err)
		if err := d.events.SetFilter(nil); err != nil {
			d.log.Error("conntrack event filter not removed: events of the new control ports may be missed", "err", err)
		}
	}
}
