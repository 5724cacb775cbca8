package rules

import (
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
)

// Translator turns the effects of one conntrack.Result into the one Change
// the table must apply before that Result's verdicts: pinholes with their
// NAT mappings, passive ranges, and reset flows. The daemon and "ftpalg
// replay" share it, so that both model the same table. Reuse one per
// goroutine: it keeps its buffers. The zero value is ready to use.
type Translator struct {
	// ResetTimeout is how long the elements of a reset flow live (the
	// session's linger time; at least MinTimeout).
	ResetTimeout time.Duration

	opening map[uint64]int // ID -> index in all, for the Result being translated
	all     []Pin          // every element the Result opened, in order; ID 0 if it also closed it
	change  Change
}

// Translate returns the Change for effs. It is valid until the next call.
// What the same Result opens and closes (an announcement superseded at
// once) is never installed. A pinhole closed because its data connection
// used it (conntrack.ReasonUsed) goes to Forget: the kernel consumed its
// elements, pin and mappings alike. Every other close (expired,
// transfer-done, superseded, withdrawn, session end, refusal) is a
// Remove, since its elements may still be there.
func (tr *Translator) Translate(effs []conntrack.Effect) Change {
	if len(effs) == 0 && len(tr.all) == 0 {
		// Most packets change nothing: nothing to clear either.
		tr.change = Change{Add: tr.change.Add[:0], Remove: tr.change.Remove[:0], Forget: tr.change.Forget[:0]}
		return tr.change
	}
	if tr.opening == nil {
		tr.opening = make(map[uint64]int)
	}
	clear(tr.opening)
	tr.all = tr.all[:0]
	rm, forget := tr.change.Remove[:0], tr.change.Forget[:0]
	for i := range effs {
		e := &effs[i]
		switch e.Kind {
		case conntrack.EffOpenPinhole:
			tr.opening[e.ID] = len(tr.all)
			tr.all = append(tr.all, Pin{ID: e.ID, Pinhole: e.Pinhole, Timeout: e.Timeout})
		case conntrack.EffMapData:
			if j, ok := tr.opening[e.ID]; ok {
				tr.all[j].Mapping, tr.all[j].HasMap = e.Mapping, true
			}
		case conntrack.EffClosePinhole:
			if j, ok := tr.opening[e.ID]; ok {
				tr.all[j].ID = 0
				continue
			}
			if e.Reason == conntrack.ReasonUsed {
				// Its data connection consumed the pin element and, in
				// the NAT chains, the mapping's: nothing to remove.
				forget = append(forget, e.ID)
				continue
			}
			rm = append(rm, Pin{ID: e.ID, Pinhole: e.Pinhole, Mapping: e.Mapping, HasMap: e.HasMap})
		case conntrack.EffOpenRange:
			tr.opening[e.ID] = len(tr.all)
			tr.all = append(tr.all, Pin{ID: e.ID, Kind: KindRange, Range: e.Range, Timeout: e.Timeout})
		case conntrack.EffCloseRange:
			if j, ok := tr.opening[e.ID]; ok {
				tr.all[j].ID = 0
				continue
			}
			rm = append(rm, Pin{ID: e.ID, Kind: KindRange, Range: e.Range})
		case conntrack.EffReset:
			// Further packets of the flow, both ways, are rejected with
			// resets for as long as the session lingers.
			tr.all = append(tr.all, Pin{ID: ResetID(e.Session), Kind: KindReset, Flow: e.Flow,
				Timeout: max(tr.ResetTimeout, MinTimeout)})
		}
	}
	add := tr.change.Add[:0]
	for _, p := range tr.all {
		if p.ID != 0 {
			add = append(add, p)
		}
	}
	tr.change = Change{Add: add, Remove: rm, Forget: forget}
	return tr.change
}

// Opened returns the element the last Translate opened for ID, with its
// mapping (for log lines), and whether there was one.
func (tr *Translator) Opened(id uint64) (Pin, bool) {
	j, ok := tr.opening[id]
	if !ok || j >= len(tr.all) {
		return Pin{}, false
	}
	return tr.all[j], true
}

// ResetID is the table ID of the reset elements of a session: session IDs
// are unique across a daemon's workers, and pinhole IDs never reach bit 63.
func ResetID(session uint64) uint64 { return 1<<63 | session }
