package gateway

// Reload (SIGHUP): apply a new configuration to the running engine
// without dropping sessions or pinholes. What can change live: log.level
// (through Engine.Level), control_ports with their TLS policy (the table
// is rebuilt with its pins; the Trackers take the new ports), pinhole.timeout,
// every policy key (limits, timeouts, violation) and memory_limit (applied
// by the caller, ApplyMemoryLimit). Everything else is
// bound to what the kernel holds (table, hooks, queues, marks) or to how
// the process was set up (log format, status socket): a change to it is
// refused, with the key, and the old configuration stays.

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/ftpalg/ftpalg/config"
	"github.com/ftpalg/ftpalg/conntrack"
)

// immutableKeys are the configuration keys a reload cannot change, each
// with whether old and new differ in it, in the order of the file.
var immutableKeys = []struct {
	key     string
	why     string
	changed func(a, b *config.Config) bool
}{
	{"log.format", "the log handler is set up at start", func(a, b *config.Config) bool { return a.Log.Format != b.Log.Format }},
	{"queue.num", "the queues are bound at start", func(a, b *config.Config) bool { return a.Queue.Num != b.Queue.Num }},
	{"queue.count", "the queues are bound at start", func(a, b *config.Config) bool { return a.Queue.Count != b.Queue.Count }},
	{"queue.fail_open", "the queues and divert rules are set up at start", func(a, b *config.Config) bool { return a.Queue.FailOpen != b.Queue.FailOpen }},
	{"queue.max_len", "the queues are bound at start", func(a, b *config.Config) bool { return a.Queue.MaxLen != b.Queue.MaxLen }},
	{"hooks", "the table's chains are built at start", func(a, b *config.Config) bool { return !slices.Equal(a.Hooks, b.Hooks) }},
	{"table", "the table is created at start", func(a, b *config.Config) bool { return a.Table != b.Table }},
	{"pinhole.mark", "admitted connections in conntrack carry it", func(a, b *config.Config) bool { return a.Pinhole.Mark != b.Pinhole.Mark }},
	{"divert.resized_mark", "resized connections in conntrack carry it", func(a, b *config.Config) bool { return a.Divert.ResizedMark != b.Divert.ResizedMark }},
	{"status.socket", "the socket is created at start", func(a, b *config.Config) bool { return a.Status.Socket != b.Status.Socket }},
	{"metrics.listen", "the metrics server is bound at start", func(a, b *config.Config) bool { return a.Metrics.Listen != b.Metrics.Listen }},
	{"metrics.pprof", "the metrics server's handlers are set at start", func(a, b *config.Config) bool { return a.Metrics.Pprof != b.Metrics.Pprof }},
}

// ReloadError is a refused reload: which key and why.
type ReloadError struct {
	Key string
	Err error
}

func (e *ReloadError) Error() string {
	if e.Key == "" {
		return "reload refused: " + e.Err.Error()
	}
	return "reload refused: " + e.Key + ": " + e.Err.Error()
}

func (e *ReloadError) Unwrap() error { return e.Err }

// checkReload reports whether next can replace cur live: nil, or a
// *ReloadError naming the first key that fails validation or cannot
// change while ftpalg runs.
func checkReload(cur, next config.Config) error {
	if err := next.Validate(); err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return &ReloadError{Key: ce.Key, Err: ce.Err}
		}
		return &ReloadError{Err: err}
	}
	for _, k := range immutableKeys {
		if k.changed(&cur, &next) {
			return &ReloadError{Key: k.key, Err: fmt.Errorf("cannot change while ftpalg runs (%s); restart ftpalg to change it", k.why)}
		}
	}
	// Whatever else differs is a key added later and not listed above:
	// refused by its field's name.
	same := next
	same.Log.Level = cur.Log.Level
	same.ControlPorts, same.TLS = cur.ControlPorts, cur.TLS
	same.Pinhole.Timeout = cur.Pinhole.Timeout
	same.Policy = cur.Policy
	same.MemoryLimit = cur.MemoryLimit
	a, b := reflect.ValueOf(cur), reflect.ValueOf(same)
	for i := 0; i < a.NumField(); i++ {
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			return &ReloadError{Key: strings.ToLower(a.Type().Field(i).Name), Err: errors.New("cannot change while ftpalg runs; restart ftpalg to change it")}
		}
	}
	return nil
}

// reloadWait bounds how long Reload waits for each worker.
const reloadWait = 5 * time.Second

// Reload applies cfg to the running engine, or refuses it (returning a
// *ReloadError, with nothing changed) when it fails validation or
// changes a key that cannot change live. Sessions and pinholes stay: the
// new policy applies to each session's next decision. It may be called
// from any goroutine while Run runs.
func (d *Engine) Reload(cfg config.Config) error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if !d.running.Load() {
		return &ReloadError{Err: errors.New("ftpalg is not running yet")}
	}
	cur := d.current()
	if err := checkReload(*cur, cfg); err != nil {
		return err
	}
	next := cfg
	portsChanged := !slices.Equal(cur.ControlPorts, next.ControlPorts)
	if portsChanged {
		setter, ok := d.table.(interface{ SetControlPorts([]uint16) error })
		if !ok {
			return &ReloadError{Key: "control_ports", Err: errors.New("the table cannot change its control ports")}
		}
		if err := setter.SetControlPorts(next.ControlPorts); err != nil {
			return &ReloadError{Key: "control_ports", Err: err}
		}
		d.refilter(next.ControlPorts)
	}
	tls := make(map[uint16]conntrack.TLSRule, len(next.ControlPorts))
	for _, p := range next.ControlPorts {
		tls[p] = next.TLSRule(p)
	}
	// The engine's own readers (the conntrack listener, the watchdog)
	// see the new ports before the workers do: a control connection's
	// events are then never missed.
	d.cur.Store(&next)
	errs := make([]chan error, len(d.workers))
	for i, w := range d.workers {
		ch := make(chan error, 1)
		errs[i] = ch
		w.send(ctlMsg{kind: ctlRun, run: func(w *worker, now time.Time) {
			if err := w.tr.SetPolicy(next.Policy); err != nil {
				ch <- err
				return
			}
			if err := w.tr.SetControl(next.ControlPorts, tls); err != nil {
				ch <- err
				return
			}
			w.trans.ResetTimeout = next.Policy.ClosedLinger
			ch <- nil
		}})
	}
	deadline := time.NewTimer(reloadWait)
	defer deadline.Stop()
	var failed error
	for i, w := range d.workers {
		select {
		case err := <-errs[i]:
			if err != nil {
				// Validate checked what the Tracker checks: not expected.
				failed = errors.Join(failed, fmt.Errorf("queue %d: %w", d.cfg.Queue.Num+uint16(w.idx), err))
			}
		case <-deadline.C:
			failed = errors.Join(failed, fmt.Errorf("queue %d: worker did not answer within %v", d.cfg.Queue.Num+uint16(w.idx), reloadWait))
		}
	}
	if d.Level != nil {
		d.Level.Set(next.Log.Level)
	}
	if failed != nil {
		return fmt.Errorf("reload partly applied: %w", failed)
	}
	d.log.Info("reloaded", "control_ports", next.ControlPorts, "tls", tlsSummary(next), "level", next.Log.Level.String(),
		"violation", next.Policy.Violation.String(), "min_data_port", next.Policy.MinDataPort, "pinhole_timeout", next.Policy.PinholeTimeout.String(),
		"control_ports_changed", portsChanged)
	return nil
}

// current is the configuration in force (the last one Reload applied).
func (d *Engine) current() *config.Config {
	if c := d.cur.Load(); c != nil {
		return c
	}
	return &d.cfg // an Engine built without New (tests)
}
