package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
)

// Config is ftpalg's complete configuration. Start from Default, or get
// one from Parse or Load, which start from Default and validate.
type Config struct {
	Log   Log
	Queue Queue
	// ControlPorts are the TCP ports of FTP control connections.
	ControlPorts []uint16
	// TLS is the FTPS policy of control ports; a port without an entry
	// has DefaultTLS.
	TLS map[uint16]conntrack.TLSRule
	// Hooks are the netfilter hooks whose traffic is inspected: "forward"
	// on a gateway, "input" and "output" on the FTP host itself.
	Hooks []string
	// Table is the name of ftpalg's nftables table in family inet.
	Table   string
	Pinhole Pinhole
	Divert  Divert
	// Policy is what the inspector enforces. Policy.PinholeTimeout must
	// equal Pinhole.Timeout; Parse keeps the two in step.
	Policy conntrack.Policy
	// Status is where the daemon answers "ftpalg status".
	Status Status
	// Metrics is the Prometheus endpoint, off unless Metrics.Listen is set.
	Metrics Metrics
}

// Status is the daemon's status socket.
type Status struct {
	// Socket is the path of the unix socket "ftpalg status" asks; only
	// root may use it (mode 0600, peer credentials checked).
	Socket string
}

// DefaultStatusSocket is the status socket's default path.
const DefaultStatusSocket = "/run/ftpalg/ftpalg.sock"

// maxSocketPath is the longest unix socket path (sun_path holds 108
// bytes with its terminating NUL).
const maxSocketPath = 107

// Log is how ftpalg logs.
type Log struct {
	Level  slog.Level // one of slog.LevelDebug, LevelInfo, LevelWarn, LevelError
	Format string     // "text" or "json"
}

// Queue is the range of NFQUEUE numbers ftpalg reads.
type Queue struct {
	Num   uint16 // first queue number
	Count uint16 // number of queues, Num..Num+Count-1
	// FailOpen lets packets pass uninspected when a queue is full or no
	// process is bound to it; without it they are dropped.
	FailOpen bool
	// MaxLen is how many packets each queue holds waiting for a verdict.
	MaxLen uint32
}

// DefaultTLS is the FTPS policy of a control port the file gives none:
// AUTH is refused, so nothing passes that ftpalg cannot read.
var DefaultTLS = conntrack.TLSRule{Mode: conntrack.TLSBlock}

// TLSRule returns the FTPS policy of control port port.
func (c Config) TLSRule(port uint16) conntrack.TLSRule {
	if r, ok := c.TLS[port]; ok {
		return r
	}
	return DefaultTLS
}

// Pinhole is how admitted data connections are handled.
type Pinhole struct {
	// Timeout is how long an announced but unused pinhole stays open.
	Timeout time.Duration
	// Mark is the conntrack mark bit(s) set on admitted data connections,
	// for the rest of the ruleset to accept them by.
	Mark uint32
}

// Divert is what the divert rules send to ftpalg.
type Divert struct {
	// ResizedMark is the conntrack mark bit(s) ftpalg sets on a control
	// connection whose stream length it changed (a rewrite that grew or
	// shrank a line). Every packet of such a connection is queued, since
	// ftpalg must shift its sequence numbers; of the others only segments
	// with data, SYN, FIN or RST are. At start-up, connections that carry
	// it from an earlier run are reset. Must not share bits with
	// Pinhole.Mark.
	ResizedMark uint32
}

// Metrics is where ftpalg serves its Prometheus metrics.
type Metrics struct {
	// Listen is the TCP address host:port of the HTTP server that serves
	// /metrics, e.g. "127.0.0.1:9127". Empty (the default) serves nothing.
	Listen string
	// Pprof also serves Go's profiler (/debug/pprof/) on Listen, for
	// profiling a live gateway. Off by default; needs Listen.
	Pprof bool
}

// Limits of settings that are ftpalg's own (the policy's are checked by
// conntrack.Policy.Validate).
const (
	maxQueueCount  = 64
	minQueueLen    = 16
	maxQueueLen    = 1 << 20
	maxPinholeIdle = time.Hour
	maxTableName   = 64
)

// Hook names accepted in Config.Hooks.
var hookNames = []string{"forward", "input", "output"}

// Level names accepted in log.level, in order of verbosity.
var levelNames = []struct {
	name  string
	level slog.Level
}{
	{"debug", slog.LevelDebug},
	{"info", slog.LevelInfo},
	{"warn", slog.LevelWarn},
	{"error", slog.LevelError},
}

// Default returns the configuration ftpalg runs with when the file sets
// nothing: one queue (0, fail-open), control port 21 on the forward hook,
// table "ftpalg", 30 s pinholes marked 0x2000, resized control
// connections marked 0x4000, and the default policy.
func Default() Config {
	pol := conntrack.DefaultPolicy()
	return Config{
		Log:          Log{Level: slog.LevelInfo, Format: "text"},
		Queue:        Queue{Num: 0, Count: 1, FailOpen: true, MaxLen: 4096},
		ControlPorts: []uint16{21},
		Hooks:        []string{"forward"},
		Table:        "ftpalg",
		Pinhole:      Pinhole{Timeout: pol.PinholeTimeout, Mark: 0x2000},
		Divert:       Divert{ResizedMark: 0x4000},
		Policy:       pol,
		Status:       Status{Socket: DefaultStatusSocket},
	}
}

// Error is a configuration error: what is wrong and where.
type Error struct {
	// Line is the 1-based line in the file, or 0 when the setting is not
	// in the file (a default, or a Config built in code).
	Line int
	// Key is the dotted key path, like "pinhole.mark" or
	// "control_ports[1]"; empty for errors about the document as a whole.
	Key string
	Err error
}

func (e *Error) Error() string {
	s := "config: "
	if e.Line > 0 {
		s += "line " + strconv.Itoa(e.Line) + ": "
	}
	if e.Key != "" {
		s += e.Key + ": "
	}
	return s + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// lines maps dotted key paths to the line that set them. A nil lines
// (a Config built in code) gives line 0 everywhere.
type lines map[string]int

func (l lines) errorf(key, format string, args ...any) error {
	return &Error{Line: l[key], Key: key, Err: fmt.Errorf(format, args...)}
}

// Validate reports the first setting that cannot work, including those
// of the policy (conntrack.Policy.Validate).
func (c Config) Validate() error { return c.validate(nil) }

// validate checks c in the order of the file's sections; at gives the
// lines of the keys the file set.
func (c Config) validate(at lines) error {
	switch c.Log.Level {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
	default:
		return at.errorf("log.level", "level %v is not one of debug, info, warn, error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		return at.errorf("log.format", "format %q is not one of text, json", c.Log.Format)
	}

	if c.Queue.Count < 1 || c.Queue.Count > maxQueueCount {
		return at.errorf("queue.count", "count %d out of range 1-%d", c.Queue.Count, maxQueueCount)
	}
	if last := int(c.Queue.Num) + int(c.Queue.Count) - 1; last > 65535 {
		key := "queue.count"
		if _, ok := at[key]; !ok {
			key = "queue.num"
		}
		return at.errorf(key, "queues %d-%d run past 65535 (num + count - 1 must be at most 65535)", c.Queue.Num, last)
	}

	if c.Queue.MaxLen < minQueueLen || c.Queue.MaxLen > maxQueueLen {
		return at.errorf("queue.max_len", "max_len %d out of range %d-%d", c.Queue.MaxLen, minQueueLen, maxQueueLen)
	}

	if len(c.ControlPorts) == 0 {
		return at.errorf("control_ports", "at least one control port is needed")
	}
	first := make(map[uint16]int, len(c.ControlPorts))
	for i, p := range c.ControlPorts {
		key := "control_ports[" + strconv.Itoa(i) + "]"
		if p == 0 {
			return at.errorf(key, "port 0 out of range 1-65535")
		}
		if j, dup := first[p]; dup {
			return at.errorf(key, "port %d listed twice (also control_ports[%d])", p, j)
		}
		first[p] = i
		r := c.TLSRule(p)
		if err := r.Validate(); err != nil {
			return at.errorf(key+".passive_ports", "%v", err)
		}
		if r.Mode != conntrack.TLSPassthroughRange && r.PassiveLo != 0 {
			return at.errorf(key+".passive_ports", "passive ports apply only to tls: passthrough-range (this port has tls: %v)", r.Mode)
		}
	}
	for p := range c.TLS {
		if _, ok := first[p]; !ok {
			return at.errorf("control_ports", "TLS policy for port %d, which is not a control port", p)
		}
	}

	if len(c.Hooks) == 0 {
		return at.errorf("hooks", "at least one hook is needed (forward on a gateway; input, output on the FTP host)")
	}
	for i, h := range c.Hooks {
		key := "hooks[" + strconv.Itoa(i) + "]"
		if !isHook(h) {
			return at.errorf(key, "hook %q is not one of forward, input, output", h)
		}
		for j, g := range c.Hooks[:i] {
			if h == g {
				return at.errorf(key, "hook %q listed twice (also hooks[%d])", h, j)
			}
		}
	}

	if err := checkTableName(c.Table); err != nil {
		return at.errorf("table", "%v", err)
	}

	if c.Pinhole.Timeout <= 0 || c.Pinhole.Timeout > maxPinholeIdle {
		return at.errorf("pinhole.timeout", "timeout %s out of range (must be above 0 and at most %s)", formatDuration(c.Pinhole.Timeout), formatDuration(maxPinholeIdle))
	}
	if c.Pinhole.Mark == 0 {
		return at.errorf("pinhole.mark", "value 0 must be non-zero")
	}
	if c.Divert.ResizedMark == 0 {
		return at.errorf("divert.resized_mark", "value 0 must be non-zero")
	}
	if both := c.Divert.ResizedMark & c.Pinhole.Mark; both != 0 {
		if _, set := at["divert.resized_mark"]; !set && at["pinhole.mark"] > 0 {
			return at.errorf("pinhole.mark", "%#x shares bits %#x with divert.resized_mark %#x (its default): choose other bits, or set divert.resized_mark to bits of the ct mark nothing else uses", c.Pinhole.Mark, both, c.Divert.ResizedMark)
		}
		return at.errorf("divert.resized_mark", "%#x shares bits %#x with pinhole.mark %#x: the two marks must be distinct bits", c.Divert.ResizedMark, both, c.Pinhole.Mark)
	}
	if c.Policy.PinholeTimeout != c.Pinhole.Timeout {
		return at.errorf("pinhole.timeout", "timeout %s differs from Policy.PinholeTimeout %s", formatDuration(c.Pinhole.Timeout), formatDuration(c.Policy.PinholeTimeout))
	}

	if err := c.Policy.Validate(); err != nil {
		key := policyCulprit(c, at, err)
		return &Error{Line: at[key], Key: key, Err: err}
	}

	if s := c.Status.Socket; !strings.HasPrefix(s, "/") || len(s) > maxSocketPath || strings.ContainsRune(s, 0) || strings.HasSuffix(s, "/") {
		return at.errorf("status.socket", "%q must be an absolute file path of at most %d bytes", s, maxSocketPath)
	}

	if c.Metrics.Pprof && c.Metrics.Listen == "" {
		return at.errorf("metrics.pprof", "needs metrics.listen (the profiler is served on the metrics server)")
	}
	if c.Metrics.Listen != "" {
		if err := checkListen(c.Metrics.Listen); err != nil {
			return at.errorf("metrics.listen", "%v", err)
		}
	}
	return nil
}

// checkListen checks a TCP listen address host:port: the host is empty
// (every address), an IP address or a host name; the port is a number
// 1-65535.
func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port, like 127.0.0.1:9127 or [::1]:9127", clip(s))
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || port[0] == '0' {
		return fmt.Errorf("port %q in %q is not a number 1-65535", clip(port), clip(s))
	}
	if host == "" {
		return nil
	}
	if strings.Contains(host, "%") {
		return fmt.Errorf("host %q in %q: zones are not supported", clip(host), clip(s))
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if len(host) > 253 {
		return fmt.Errorf("host name in %q is longer than 253 characters", clip(s))
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("host %q in %q is neither an IP address nor a host name", clip(host), clip(s))
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("host %q in %q is neither an IP address nor a host name", clip(host), clip(s))
			}
		}
	}
	return nil
}

// policyCulprit names the policy key an error of Policy.Validate is
// about, without repeating the policy's rules here. Among the keys the
// file set, it prefers the first (by line) whose return to its default
// makes the policy valid, then the first whose return changes the error.
// If no key qualifies, the error is charged to "policy".
func policyCulprit(c Config, at lines, perr error) string {
	def := Default()
	fixes, changes := "", ""
	for _, f := range policyFields {
		key := "policy." + f.name
		l, ok := at[key]
		if !ok {
			continue
		}
		q := c
		f.reset(&q, &def)
		switch err := q.Policy.Validate(); {
		case err == nil:
			if fixes == "" || l < at[fixes] {
				fixes = key
			}
		case err.Error() != perr.Error():
			if changes == "" || l < at[changes] {
				changes = key
			}
		}
	}
	switch {
	case fixes != "":
		return fixes
	case changes != "":
		return changes
	}
	return "policy"
}

func isHook(h string) bool {
	for _, n := range hookNames {
		if h == n {
			return true
		}
	}
	return false
}

func checkTableName(s string) error {
	if len(s) < 1 || len(s) > maxTableName {
		return fmt.Errorf("table name must be 1-%d characters, got %d", maxTableName, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("table name %q may hold only letters, digits, _ and -", s)
		}
	}
	return nil
}
