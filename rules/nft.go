//go:build linux

package rules

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// Table is ftpalg's live nftables table (family inet): see doc.go for the
// ruleset. Its methods are safe for concurrent use.
//
// A Table holds one lasting netlink socket (nftables.AsLasting), opened by
// Open in the network namespace of the calling thread: later calls work
// on that namespace from any goroutine, and the watchdog's frequent
// Present calls cost no socket setup.
type Table struct {
	spec   Spec   // validated; never changes
	divert Divert // DivertNative or DivertCompat; never changes
	where  string // "table inet NAME", for errors

	// mu guards everything below: the netlink conn (the library buffers
	// batch messages in it, and requests on the one socket must not
	// interleave), the bookkeeping of installed pins, the Present cache
	// and closed.
	mu     sync.Mutex
	conn   *nftables.Conn
	live   map[uint64]livePin   // pins added and neither removed nor (by our clock) expired
	keys   map[string]*keyState // elem.ref() -> the element the kernel has for that key, and who holds it
	pruned time.Time            // last time live was pruned
	okGen  uint32               // ruleset generation at which Present last found everything
	okSet  bool                 // okGen is valid
	// elemSets are the set descriptors of element batches (Apply), made
	// once: never used to create the sets, so they carry no transaction ID.
	elemSets map[string]*nftables.Set
	stale    int // batches sent again because the kernel had an element Apply did not know of
	closed   bool
}

// livePin is what Apply installed for one pin ID.
type livePin struct {
	pin      Pin // as added
	elems    []elem
	deadline time.Time // when the kernel will have removed the elements at the latest
}

// Open validates spec, opens the netlink connection, picks the divert
// mode (probing the kernel for DivertAuto) and builds the table, with
// the elements of pins in the same batch (as Rebuild: each pin gets its
// full Timeout), so that they are there from the first packet the table
// diverts. A table of the same name (say, from a previous run) is
// replaced in the same batch. The table stays until Close; if the
// process dies, the pinholes still expire by their timeouts.
func Open(spec Spec, pins ...Pin) (*Table, error) { return openWith(spec, pins) }

// open is Open without pins and with extra connection options (tests
// pass nftables.WithNetNSFd).
func open(spec Spec, opts ...nftables.ConnOption) (*Table, error) {
	return openWith(spec, nil, opts...)
}

func openWith(spec Spec, pins []Pin, opts ...nftables.ConnOption) (*Table, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	all, perPin, err := rebuildElems(pins)
	if err != nil {
		return nil, fmt.Errorf("rules: create table inet %s: %w", spec.Table, err)
	}
	spec.Hooks = append([]string(nil), spec.Hooks...)
	spec.ControlPorts = append([]uint16(nil), spec.ControlPorts...)
	t := &Table{spec: spec, divert: spec.Divert, where: "table inet " + spec.Table,
		live: map[uint64]livePin{}, keys: map[string]*keyState{}}
	c, err := nftables.New(append([]nftables.ConnOption{nftables.AsLasting()}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("rules: open netlink connection for %s: %w", t.where, err)
	}
	t.conn = c
	if t.divert == DivertAuto {
		if t.divert, err = detectDivert(c, probeName()); err != nil {
			c.CloseLasting()
			return nil, err
		}
	}
	if err := queueBuild(c, spec, t.divert, all); err != nil {
		discard(c)
		c.CloseLasting()
		return nil, fmt.Errorf("rules: create %s: %w", t.where, err)
	}
	if err := c.Flush(); err != nil {
		c.CloseLasting()
		return nil, fmt.Errorf("rules: create %s (divert %v): %w", t.where, t.divert, err)
	}
	t.track(pins, perPin, time.Now())
	return t, nil
}

// rebuildElems returns the elements of pins, all of them (one per key,
// the last pin's) and per pin.
func rebuildElems(pins []Pin) ([]elem, [][]elem, error) {
	var all orderedElems
	perPin := make([][]elem, len(pins))
	for i, p := range pins {
		els, err := pinElems(p, true)
		if err != nil {
			return nil, nil, err
		}
		perPin[i] = els
		for _, e := range els {
			all.put(e)
		}
	}
	return all.list, perPin, nil
}

// track replaces the bookkeeping with pins, just installed with
// elements perPin. t.mu must be held (or t not yet shared).
func (t *Table) track(pins []Pin, perPin [][]elem, now time.Time) {
	t.live, t.keys, t.okSet = map[uint64]livePin{}, map[string]*keyState{}, false
	for i, p := range pins {
		t.release(nil, p.ID) // a repeated ID: the last one counts
		t.acquire(nil, p.ID, livePin{pin: p, elems: perPin[i], deadline: now.Add(kernelTimeout(p.Timeout))})
	}
}

// probeName is the name of the throwaway table detectDivert uses.
func probeName() string { return fmt.Sprintf("ftpalg-probe-%d", os.Getpid()) }

// detectDivert finds out which divert mode the kernel supports: native
// if a batch with an nft queue expression goes through, else compat if
// one with the xt NFQUEUE target does. Both probes create and delete a
// table named probe in one batch, so nothing is left behind.
func detectDivert(c *nftables.Conn, probe string) (Divert, error) {
	queueProbe(c, probe, DivertNative)
	nativeErr := c.Flush()
	if nativeErr == nil {
		return DivertNative, nil
	}
	queueProbe(c, probe, DivertCompat)
	compatErr := c.Flush()
	if compatErr == nil {
		return DivertCompat, nil
	}
	return DivertAuto, fmt.Errorf("rules: detect divert mode: native queue expression: %v; xt NFQUEUE target: %w", nativeErr, compatErr)
}

// Divert is the divert mode in use: DivertNative or DivertCompat.
func (t *Table) Divert() Divert { return t.divert }

// Spec is the validated spec the table was opened with.
func (t *Table) Spec() Spec {
	s := t.spec
	s.Hooks = append([]string(nil), s.Hooks...)
	s.ControlPorts = append([]uint16(nil), s.ControlPorts...)
	return s
}

var errClosed = errors.New("closed")

// Apply carries out ch in one netlink batch: nothing changes if it fails.
//
// Remove destroys the elements of each pin (no error if the kernel
// already consumed or expired them). If the pin ID is one Apply added,
// the elements it installed are meant, whatever the Pin says; otherwise
// those the Pin describes (a Pin with only an ID is then a no-op). An
// element stays while another live pin holds the same element (same key
// and value).
//
// Add installs the elements of each pin with the pin's Timeout. The
// kernel keeps one element per key: an element with the same key is
// replaced (destroyed and added in the same batch), so the last pin wins,
// its timeout starts afresh, and a pin whose element was replaced by a
// different value no longer holds it. Adding an ID again replaces what
// that ID had.
//
// Forget drops the bookkeeping of pins whose elements the kernel
// consumed (a used pinhole and its mappings), before the rest and
// whether or not the batch goes through: it records what already
// happened in the kernel, and sends nothing. A Change with only Forget
// costs no netlink round trip.
func (t *Table) Apply(ch Change) error {
	if ch.Empty() {
		return nil
	}
	addEls := make([][]elem, len(ch.Add))
	for i, p := range ch.Add {
		els, err := pinElems(p, true)
		if err != nil {
			return fmt.Errorf("rules: apply to %s: add %w", t.where, err)
		}
		addEls[i] = els
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("rules: apply to %s: %w", t.where, errClosed)
	}
	removeEls := make([][]elem, len(ch.Remove))
	for i, p := range ch.Remove {
		if _, ok := t.live[p.ID]; ok {
			continue
		}
		if !p.described() {
			continue // by ID only, and not (any more) ours: nothing to destroy
		}
		els, err := pinElems(p, false)
		if err != nil {
			return fmt.Errorf("rules: apply to %s: remove %w", t.where, err)
		}
		removeEls[i] = els
	}
	now := time.Now()
	t.prune(now)
	t.forget(ch.Forget)

	// An added element whose key no live pin holds has no element in the
	// kernel as far as Apply knows (never added, removed, consumed and
	// forgotten, or expired), so it is added without a destroy first:
	// half the messages of an announcement's batch. Should the kernel
	// still have one after all (a mapping a connection left unconsumed by
	// going to the private address directly, then forgotten), the add
	// fails (EBUSY: other data; the same data is no error) and the batch
	// is sent again with every destroy.
	//
	// Bookkeeping first, journaled, so that a failed batch can be undone.
	j := &journal{}
	var destroy, add, destroyAll orderedElems
	for i, p := range ch.Remove {
		if _, ok := t.live[p.ID]; ok {
			for _, e := range t.release(j, p.ID) {
				destroy.put(e)
			}
			continue
		}
		for _, e := range removeEls[i] { // not ours (any more): destroy unless held
			if t.keys[e.ref()] == nil {
				destroy.put(e)
			}
		}
	}
	for i, p := range ch.Add {
		for _, e := range addEls[i] {
			if t.keys[e.ref()] != nil { // held (by this ID too): the kernel has an element
				destroy.put(e)
			}
		}
		for _, e := range t.release(j, p.ID) {
			destroy.put(e)
		}
		t.acquire(j, p.ID, livePin{pin: p, elems: addEls[i], deadline: now.Add(kernelTimeout(p.Timeout))})
		for _, e := range addEls[i] {
			add.put(e)
		}
	}

	err := t.send(destroy.list, add.list)
	if err != nil && (errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EEXIST)) && len(add.list) > 0 {
		for _, e := range destroy.list {
			destroyAll.put(e)
		}
		for _, e := range add.list {
			destroyAll.put(e)
		}
		t.stale++
		err = t.send(destroyAll.list, add.list)
	}
	if err != nil {
		t.undo(j)
		return fmt.Errorf("rules: apply to %s: %w", t.where, err)
	}
	return nil
}

// send is one batch: destroy, then add; nothing at all when both are
// empty (a Change that only forgets). t.mu must be held.
func (t *Table) send(destroy, add []elem) error {
	if len(destroy)+len(add) == 0 {
		return nil
	}
	if t.elemSets == nil {
		// Element batches name the sets only (no transaction ID: the
		// sets exist), so one set of descriptors serves every batch.
		t.elemSets = sets(&nftables.Table{Family: nftables.TableFamilyINet, Name: t.spec.Table})
	}
	st := t.elemSets
	err := queueDestroy(t.conn, st, destroy)
	if err == nil {
		err = queueAdd(t.conn, st, add)
	}
	if err != nil {
		discard(t.conn)
		return err
	}
	return t.conn.Flush()
}

// StaleReplaced is how many batches found an element Apply did not know
// of in the kernel and were sent again with destroys.
func (t *Table) StaleReplaced() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stale
}

// orderedElems collects elements by key, keeping the first position and
// the last value: one element per key and batch (two adds of one key in
// a batch would clash).
type orderedElems struct {
	list []elem
	at   map[string]int
}

func (o *orderedElems) put(e elem) {
	if o.at == nil {
		o.at = map[string]int{}
	}
	if i, ok := o.at[e.ref()]; ok {
		o.list[i] = e
		return
	}
	o.at[e.ref()] = len(o.list)
	o.list = append(o.list, e)
}

// keyState is the element the kernel has for one key: its value and the
// live pins that asked for exactly that.
type keyState struct {
	val     []byte
	holders map[uint64]bool
}

// journal records the state before a change: nil for "absent".
type journal struct {
	live map[uint64]*livePin
	keys map[string]*keyState
}

func (j *journal) saveLive(t *Table, id uint64) {
	if j == nil {
		return
	}
	if j.live == nil {
		j.live = map[uint64]*livePin{}
	}
	if _, done := j.live[id]; done {
		return
	}
	if lp, ok := t.live[id]; ok {
		j.live[id] = &lp
	} else {
		j.live[id] = nil
	}
}

func (j *journal) saveKey(t *Table, k string) {
	if j == nil {
		return
	}
	if j.keys == nil {
		j.keys = map[string]*keyState{}
	}
	if _, done := j.keys[k]; done {
		return
	}
	if ks := t.keys[k]; ks != nil {
		c := &keyState{val: ks.val, holders: make(map[uint64]bool, len(ks.holders))}
		for id := range ks.holders {
			c.holders[id] = true
		}
		j.keys[k] = c
	} else {
		j.keys[k] = nil
	}
}

func (t *Table) undo(j *journal) {
	for id, lp := range j.live {
		if lp == nil {
			delete(t.live, id)
		} else {
			t.live[id] = *lp
		}
	}
	for k, ks := range j.keys {
		if ks == nil {
			delete(t.keys, k)
		} else {
			t.keys[k] = ks
		}
	}
}

// acquire records that pin id installed lp.elems: it now holds each key
// (the previous holders of a key with another value lose it).
func (t *Table) acquire(j *journal, id uint64, lp livePin) {
	j.saveLive(t, id)
	t.live[id] = lp
	for _, e := range lp.elems {
		k := e.ref()
		j.saveKey(t, k)
		ks := t.keys[k]
		if ks == nil || !bytes.Equal(ks.val, e.val) {
			ks = &keyState{val: e.val, holders: map[uint64]bool{}}
			t.keys[k] = ks
		}
		ks.holders[id] = true
	}
}

// release forgets pin id and returns the elements nobody holds any more.
func (t *Table) release(j *journal, id uint64) []elem {
	lp, ok := t.live[id]
	if !ok {
		return nil
	}
	j.saveLive(t, id)
	delete(t.live, id)
	var free []elem
	for _, e := range lp.elems {
		k := e.ref()
		ks := t.keys[k]
		if ks == nil || !ks.holders[id] {
			continue // replaced by another pin's element, or already released
		}
		j.saveKey(t, k)
		delete(ks.holders, id)
		if len(ks.holders) == 0 {
			delete(t.keys, k)
			free = append(free, e)
		}
	}
	return free
}

// forget drops the pins ids, whose elements the kernel consumed: their
// keys are no longer held by them, and nothing is destroyed. t.mu must
// be held.
func (t *Table) forget(ids []uint64) {
	for _, id := range ids {
		t.release(nil, id)
	}
}

// prune forgets pins whose elements the kernel has removed by now; at
// most once a second, as it walks all live pins.
func (t *Table) prune(now time.Time) {
	if now.Sub(t.pruned) < time.Second {
		return
	}
	t.pruned = now
	for id, lp := range t.live {
		if now.After(lp.deadline) {
			t.release(nil, id)
		}
	}
}

// Present reports whether the table is there with all its chains and
// their rules: false after "nft flush ruleset", a deleted table or a
// flushed chain. It is cheap when nothing changed: one request for the
// ruleset generation, compared with the one at the last full check.
// The error is for a failed netlink request, not for a missing table.
func (t *Table) Present() (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false, fmt.Errorf("rules: check %s: %w", t.where, errClosed)
	}
	gen, genErr := t.conn.GetGen()
	if genErr == nil && t.okSet && gen.ID == t.okGen {
		return true, nil
	}
	t.okSet = false
	tb := &nftables.Table{Family: nftables.TableFamilyINet, Name: t.spec.Table}
	for _, cd := range chainDefs(t.spec, t.divert, sets(tb)) {
		rules, err := t.conn.GetRules(tb, &nftables.Chain{Name: cd.name, Table: tb})
		if isNotExist(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("rules: check %s: chain %s: %w", t.where, cd.name, err)
		}
		if len(rules) != len(cd.rules) {
			return false, nil
		}
	}
	if genErr == nil {
		t.okGen, t.okSet = gen.ID, true
	}
	return true, nil
}

// Rebuild re-creates the whole table and adds pins, in one batch: for
// when it was deleted under us. Each pin gets its full Timeout from now.
// It also replaces a table that is still there.
func (t *Table) Rebuild(pins []Pin) error {
	all, perPin, err := rebuildElems(pins)
	if err != nil {
		return fmt.Errorf("rules: rebuild %s: %w", t.where, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return fmt.Errorf("rules: rebuild %s: %w", t.where, errClosed)
	}
	if err := queueBuild(t.conn, t.spec, t.divert, all); err != nil {
		discard(t.conn)
		return fmt.Errorf("rules: rebuild %s: %w", t.where, err)
	}
	if err := t.conn.Flush(); err != nil {
		return fmt.Errorf("rules: rebuild %s: %w", t.where, err)
	}
	t.track(pins, perPin, time.Now())
	return nil
}

// Elements lists what the sets and maps hold now, with the remaining
// timeouts, sorted by key.
func (t *Table) Elements() (Elements, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out Elements
	if t.closed {
		return out, fmt.Errorf("rules: list %s: %w", t.where, errClosed)
	}
	tb := &nftables.Table{Family: nftables.TableFamilyINet, Name: t.spec.Table}
	for _, name := range setOrder[1:] {
		got, err := t.conn.GetSetElements(&nftables.Set{Table: tb, Name: name})
		if err != nil {
			return Elements{}, fmt.Errorf("rules: list %s: set %s: %w", t.where, name, err)
		}
		for _, se := range got {
			if err := out.add(name, se); err != nil {
				return Elements{}, fmt.Errorf("rules: list %s: set %s: %w", t.where, name, err)
			}
		}
	}
	sort.Slice(out.Pinholes, func(i, j int) bool {
		return lessKey(out.Pinholes[i].Pinhole.Src, out.Pinholes[i].Pinhole.Dst, out.Pinholes[j].Pinhole.Src, out.Pinholes[j].Pinhole.Dst)
	})
	sort.Slice(out.DNAT, func(i, j int) bool {
		return lessKey(out.DNAT[i].Src, out.DNAT[i].Dst, out.DNAT[j].Src, out.DNAT[j].Dst)
	})
	sort.Slice(out.SNAT, func(i, j int) bool {
		return lessKey(out.SNAT[i].Src, out.SNAT[i].Dst, out.SNAT[j].Src, out.SNAT[j].Dst)
	})
	return out, nil
}

func (out *Elements) add(set string, se nftables.SetElement) error {
	life := Life{Timeout: se.Timeout, Remaining: se.Expires}
	switch set {
	case setReset4, setReset6:
		n := (len(se.Key) - 8) / 2
		if len(se.Key) != 16 && len(se.Key) != 40 {
			return fmt.Errorf("reset key of %d bytes, want 16 or 40", len(se.Key))
		}
		a, _ := netip.AddrFromSlice(se.Key[:n])
		b, _ := netip.AddrFromSlice(se.Key[n : 2*n])
		ap := uint16(se.Key[2*n])<<8 | uint16(se.Key[2*n+1])
		bp := uint16(se.Key[2*n+4])<<8 | uint16(se.Key[2*n+5])
		out.Resets = append(out.Resets, ResetElem{Src: netip.AddrPortFrom(a, ap), Dst: netip.AddrPortFrom(b, bp), Life: life})
		return nil
	case setRange4, setRange6, mapRDNAT4, mapRDNAT6:
		src, lo, err := decodeKey(se.Key)
		if err != nil {
			return err
		}
		_, hi, err := decodeKey(se.KeyEnd)
		if err != nil {
			return fmt.Errorf("range end: %w", err)
		}
		re := RangeElem{Src: src, Dst: lo.Addr(), Lo: lo.Port(), Hi: hi.Port(), Life: life}
		if set == mapRDNAT4 || set == mapRDNAT6 {
			if re.ToDst, err = decodeAddr(se.Val); err != nil {
				return err
			}
		}
		out.Ranges = append(out.Ranges, re)
		return nil
	}
	src, dst, err := decodeKey(se.Key)
	if err != nil {
		return err
	}
	switch set {
	case setPin4, setPin6:
		out.Pinholes = append(out.Pinholes, PinElem{Pinhole: conntrack.Pinhole{Src: src, Dst: dst}, Life: life})
	case mapDNAT4, mapDNAT6:
		to, err := decodeAddrPort(se.Val)
		if err != nil {
			return err
		}
		out.DNAT = append(out.DNAT, DNATElem{Src: src, Dst: dst, ToDst: to, Life: life})
	case mapSNAT4, mapSNAT6:
		to, err := decodeAddr(se.Val)
		if err != nil {
			return err
		}
		out.SNAT = append(out.SNAT, SNATElem{Src: src, Dst: dst, ToSrc: to, Life: life})
	}
	return nil
}

// Close deletes the table and closes the netlink connection. A table
// that is already gone is no error; closing twice is a no-op.
func (t *Table) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	tb := &nftables.Table{Family: nftables.TableFamilyINet, Name: t.spec.Table}
	t.conn.AddTable(tb) // so that the delete finds a table in any case
	t.conn.DelTable(tb)
	err := t.conn.Flush()
	if cerr := t.conn.CloseLasting(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("rules: delete %s: %w", t.where, err)
	}
	return nil
}

// discard drops the messages queued on c without sending them. The
// library has no call for that, but Flush sends nothing once a call has
// recorded an error, and adding to an anonymous set always records one.
func discard(c *nftables.Conn) {
	_ = c.SetAddElements(&nftables.Set{Anonymous: true}, nil)
	_ = c.Flush()
}

// isNotExist tells a missing table, chain or set (ENOENT) from other
// errors.
func isNotExist(err error) bool { return errors.Is(err, unix.ENOENT) }
