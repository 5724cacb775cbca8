package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The daemon under test: ftpalg run -config FILE in a namespace, with its
// JSON log parsed line by line.

// DaemonConfig is what the tests vary in ftpalg's configuration.
type DaemonConfig struct {
	LogLevel    string   // debug in the tests: a line per FTP command and reply
	Hooks       []string // [forward] on a gateway, [input, output] on the FTP host
	Timeout     string   // pinhole timeout
	Mark        uint32
	MaxPinholes int
	Queue       int // the first queue number
	Queues      int // queue.count
	FailOpen    bool
	Table       string

	// Settings rendered only when set, so that a zero DaemonConfig
	// renders exactly what the daemon's defaults would give.
	Violation      string // policy.violation: refuse | reset
	ClientPinholes int    // policy.max_client_pinholes
	TotalPinholes  int    // policy.max_pinholes_total
	// ControlPorts is the control_ports value as YAML (default "[21]"),
	// e.g. "[{port: 21, tls: passthrough-range, passive_ports: 30000-30100}]".
	ControlPorts string
	// PolicyExtra is more policy settings as YAML flow-mapping entries,
	// e.g. "closed_linger: 10s".
	PolicyExtra string
	// StatusSocket is status.socket; startDaemon puts it in the lab's
	// directory (beside the config) when empty, so that daemons of
	// parallel tests never share one.
	StatusSocket string
	// MinDataPort is policy.min_data_port (0: 1024).
	MinDataPort int
	// MetricsListen is metrics.listen, e.g. "127.0.0.1:9127".
	MetricsListen string
	// Pprof is metrics.pprof (needs MetricsListen).
	Pprof bool
	// Binary, if set, is the ftpalg to run instead of this tree's (the
	// load benchmark's "before" build); the config then leaves out the
	// keys it may not know (metrics.pprof unless set).
	Binary string
}

func gatewayConfig() DaemonConfig {
	return DaemonConfig{
		LogLevel:    "debug",
		Hooks:       []string{"forward"},
		Timeout:     "30s",
		Mark:        0x2000,
		MaxPinholes: 4,
		Queues:      1,
		FailOpen:    true,
		Table:       "ftpalg",
	}
}

func hostConfig() DaemonConfig {
	c := gatewayConfig()
	c.Hooks = []string{"input", "output"}
	return c
}

func (c DaemonConfig) YAML() string {
	ports := c.ControlPorts
	if ports == "" {
		ports = "[21]"
	}
	var extra string
	if c.Violation != "" {
		extra += ", violation: " + c.Violation
	}
	if c.ClientPinholes != 0 {
		extra += fmt.Sprintf(", max_client_pinholes: %d", c.ClientPinholes)
	}
	if c.TotalPinholes != 0 {
		extra += fmt.Sprintf(", max_pinholes_total: %d", c.TotalPinholes)
	}
	if c.PolicyExtra != "" {
		extra += ", " + c.PolicyExtra
	}
	var metrics string
	if c.MetricsListen != "" {
		metrics = fmt.Sprintf("metrics: {listen: %q}\n", c.MetricsListen)
		if c.Pprof {
			metrics = fmt.Sprintf("metrics: {listen: %q, pprof: true}\n", c.MetricsListen)
		}
	}
	minPort := c.MinDataPort
	if minPort == 0 {
		minPort = 1024
	}
	status := ""
	if c.StatusSocket != "" {
		status = "status: {socket: " + c.StatusSocket + "}\n"
	}
	return status + fmt.Sprintf(`log: {level: %s, format: json}
queue: {num: %d, count: %d, fail_open: %v}
control_ports: %s
hooks: [%s]
table: %s
pinhole: {timeout: %s, mark: 0x%x}
policy: {min_data_port: %d, bounce_check: true, max_pinholes: %d%s}
`, c.LogLevel, c.Queue, c.Queues, c.FailOpen, ports, strings.Join(c.Hooks, ", "), c.Table, c.Timeout, c.Mark, minPort, c.MaxPinholes, extra) + metrics
}

// LogEntry is one line of ftpalg's log.
type LogEntry struct {
	Raw    string
	Msg    string
	Fields map[string]any
}

// Field returns a field as a string ("" when absent).
func (e LogEntry) Field(k string) string {
	v, ok := e.Fields[k]
	if !ok || v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Daemon is a running ftpalg.
type Daemon struct {
	*Proc
	ns  *Netns
	Cfg DaemonConfig
	// ConfigPath is the config file it runs with (rewrite it and send
	// SIGHUP to reload).
	ConfigPath string

	mu      sync.Mutex
	entries []LogEntry
	changed chan struct{} // closed and replaced on every new entry
}

// startDaemon starts ftpalg in ns and waits for its "ready" line.
func startDaemon(t testing.TB, ns *Netns, cfg DaemonConfig) *Daemon {
	t.Helper()
	bin := cfg.Binary
	if bin == "" {
		bin = ftpalgBinary(t)
	}
	path, err := os.CreateTemp(ns.lab.dir, "ftpalg-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StatusSocket == "" {
		cfg.StatusSocket = strings.TrimSuffix(path.Name(), ".yaml") + ".sock"
	}
	path.WriteString(cfg.YAML())
	path.Close()
	d := &Daemon{ns: ns, Cfg: cfg, ConfigPath: path.Name(), changed: make(chan struct{})}
	p, err := ns.Start("ftpalg", d.addLine, bin, "run", "-config", path.Name())
	if err != nil {
		t.Fatal(err)
	}
	d.Proc = p
	ns.lab.AddDiag("ftpalg config", cfg.YAML)
	if _, ok := d.WaitFor(10*time.Second, func(e LogEntry) bool { return e.Msg == "ready" }); !ok {
		code := "still running"
		if p.Exited() {
			code = fmt.Sprintf("exited with %d", p.cmd.ProcessState.ExitCode())
		}
		t.Fatalf("ftpalg did not log \"ready\" within 10s (%s); its output:\n%s", code, tail(p.Output(), 60))
	}
	return d
}

func (d *Daemon) addLine(line string) {
	e := LogEntry{Raw: line}
	var m map[string]any
	if json.Unmarshal([]byte(line), &m) == nil {
		e.Fields = m
		e.Msg, _ = m["msg"].(string)
	}
	d.mu.Lock()
	d.entries = append(d.entries, e)
	close(d.changed)
	d.changed = make(chan struct{})
	d.mu.Unlock()
}

// Entries returns the log so far.
func (d *Daemon) Entries() []LogEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]LogEntry(nil), d.entries...)
}

// Mark returns a position in the log for Since.
func (d *Daemon) Mark() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.entries)
}

// Since returns the entries logged after a Mark.
func (d *Daemon) Since(mark int) []LogEntry {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]LogEntry(nil), d.entries[mark:]...)
}

// WaitFor waits for an entry matching f (anywhere in the log so far).
func (d *Daemon) WaitFor(timeout time.Duration, f func(LogEntry) bool) (LogEntry, bool) {
	return d.WaitSince(0, timeout, f)
}

// WaitSince waits for an entry after mark matching f.
func (d *Daemon) WaitSince(mark int, timeout time.Duration, f func(LogEntry) bool) (LogEntry, bool) {
	deadline := time.After(timeout)
	for {
		d.mu.Lock()
		for _, e := range d.entries[mark:] {
			if f(e) {
				d.mu.Unlock()
				return e, true
			}
		}
		mark = len(d.entries)
		ch := d.changed
		d.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return LogEntry{}, false
		case <-d.done:
			// The process ended: one last look, then give up.
			d.mu.Lock()
			for _, e := range d.entries[mark:] {
				if f(e) {
					d.mu.Unlock()
					return e, true
				}
			}
			d.mu.Unlock()
			return LogEntry{}, false
		}
	}
}

// msg matches a log message, optionally with fields that must contain the
// given substrings (tolerant: "reason" "expired" matches "expired").
func msg(m string, kv ...string) func(LogEntry) bool {
	return func(e LogEntry) bool {
		if e.Msg != m {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if !strings.Contains(e.Field(kv[i]), kv[i+1]) {
				return false
			}
		}
		return true
	}
}

// Count counts entries matching f.
func (d *Daemon) Count(f func(LogEntry) bool) int {
	n := 0
	for _, e := range d.Entries() {
		if f(e) {
			n++
		}
	}
	return n
}

// Errors returns the log entries at level ERROR.
func (d *Daemon) Errors() []LogEntry {
	var out []LogEntry
	for _, e := range d.Entries() {
		if e.Field("level") == "ERROR" {
			out = append(out, e)
		}
	}
	return out
}

// StopClean sends SIGTERM and requires exit code 0.
func (d *Daemon) StopClean(t testing.TB) {
	t.Helper()
	if err := d.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM ftpalg: %v (output:\n%s)", err, tail(d.Output(), 30))
	}
	code, err := d.Wait(10 * time.Second)
	if err != nil {
		t.Fatalf("ftpalg after SIGTERM: %v", err)
	}
	if code != 0 {
		t.Fatalf("ftpalg exit code after SIGTERM = %d, want 0; output:\n%s", code, tail(d.Output(), 30))
	}
}
