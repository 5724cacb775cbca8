package gateway

// The status socket: "ftpalg status" asks the running daemon for its
// sessions, pinholes and counters.
//
// Protocol: a client connects to the unix stream socket (config key
// status.socket, default /run/ftpalg/ftpalg.sock), writes one JSON object
// on one line, {"cmd":"status"}, and reads one JSON object, a
// StatusReply, after which the daemon closes the connection. An unknown
// command, or a caller that is not root (SO_PEERCRED uid 0), gets a reply
// with only "error" set. The socket is mode 0600; its directory is created
// (0700) if missing. A stale socket file (nobody answers) is replaced; a
// live one (another ftpalg) stops this one from starting.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/ftpalg/ftpalg/conntrack"
	"github.com/ftpalg/ftpalg/nfq"
)

// StatusRequest is what a client sends.
type StatusRequest struct {
	Cmd string `json:"cmd"` // "status"
}

// StatusReply is the daemon's answer.
type StatusReply struct {
	Error     string          `json:"error,omitempty"`
	Time      time.Time       `json:"time"`
	Table     string          `json:"table,omitempty"`
	Sessions  []SessionStatus `json:"sessions"`
	Totals    StatusTotals    `json:"totals"`
	Queues    []QueueStatus   `json:"queues"`
	Conntrack struct {
		Events   uint64 `json:"events"`
		Overruns uint64 `json:"overruns"`
		Errors   uint64 `json:"errors"`
		Cached   int    `json:"cached"`
	} `json:"conntrack"`
}

// SessionStatus is one control session.
type SessionStatus struct {
	Queue  uint16         `json:"queue"`
	ID     uint64         `json:"id"`
	Client netip.AddrPort `json:"client"`
	Server netip.AddrPort `json:"server"`
	// Orig and Reply are the conntrack tuples the session uses (the
	// client's and the server's view through NAT); NATKnown is false
	// until conntrack was asked (then they are the untranslated flow).
	Orig        conntrack.Tuple `json:"orig"`
	Reply       conntrack.Tuple `json:"reply"`
	NATKnown    bool            `json:"nat_known"`
	State       []string        `json:"state"`
	TLS         string          `json:"tls"`
	Rewrites    uint64          `json:"rewrites"`
	Refusals    uint64          `json:"refusals"`
	IdleSeconds float64         `json:"idle_seconds"`
	Pinholes    []PinholeStatus `json:"pinholes"`
	Range       *RangeStatus    `json:"range,omitempty"`
}

// PinholeStatus is one open pinhole of a session.
type PinholeStatus struct {
	ID               uint64             `json:"id"`
	Src              netip.Addr         `json:"src"`
	Dst              netip.AddrPort     `json:"dst"`
	Mapping          *conntrack.Mapping `json:"mapping,omitempty"`
	RemainingSeconds float64            `json:"remaining_seconds"`
	Attached         bool               `json:"attached"` // a transfer command uses it
}

// RangeStatus is the passive-range pinhole of a TLS session.
type RangeStatus struct {
	ID    uint64              `json:"id"`
	Range conntrack.PortRange `json:"range"`
}

// StatusTotals sums the queues.
type StatusTotals struct {
	Sessions        int    `json:"sessions"`
	Pinholes        int    `json:"pinholes"`
	Ranges          int    `json:"ranges"`
	SessionsStarted uint64 `json:"sessions_started"`
	SessionsEnded   uint64 `json:"sessions_ended"`
	Rewrites        uint64 `json:"rewrites"`
	Refusals        uint64 `json:"refusals"`
	PinholesOpened  uint64 `json:"pinholes_opened"`
	PinholesClosed  uint64 `json:"pinholes_closed"`
	Resized         uint64 `json:"resized"`
}

// QueueStatus is one queue's counters: the queue's (nfq), its worker's
// and its Tracker's.
type QueueStatus struct {
	Queue         uint16 `json:"queue"`
	Error         string `json:"error,omitempty"` // the worker did not answer
	Received      uint64 `json:"received"`
	Lost          uint64 `json:"lost"`
	Overruns      uint64 `json:"overruns"`
	RecvErrors    uint64 `json:"recv_errors"`
	Verdicts      uint64 `json:"verdicts"`
	VerdictErrors uint64 `json:"verdict_errors"`
	// The Tracker's counters (conntrack.Stats).
	Packets         uint64 `json:"packets"`
	Modified        uint64 `json:"modified"`
	Held            uint64 `json:"held"`
	Dropped         uint64 `json:"dropped"`
	Undecodable     uint64 `json:"undecodable"`
	NotTracked      uint64 `json:"not_tracked"`
	BadChecksum     uint64 `json:"bad_checksum"`
	SessionsStarted uint64 `json:"sessions_started"`
	SessionsEnded   uint64 `json:"sessions_ended"`
	Rewrites        uint64 `json:"rewrites"`
	Refusals        uint64 `json:"refusals"`
	PinholesOpened  uint64 `json:"pinholes_opened"`
	PinholesClosed  uint64 `json:"pinholes_closed"`
	Resized         uint64 `json:"resized"`
	// Sessions and Pinholes are what the Tracker holds now.
	Sessions int `json:"sessions"`
	Pinholes int `json:"pinholes"`
}

func (q *QueueStatus) addTracker(s conntrack.Stats) {
	q.Packets, q.Modified, q.Held, q.Dropped = s.Packets, s.Modified, s.Held, s.Dropped
	q.Undecodable, q.NotTracked, q.BadChecksum = s.Undecodable, s.NotTracked, s.BadChecksum
	q.SessionsStarted, q.SessionsEnded, q.Rewrites, q.Refusals = s.SessionsStarted, s.SessionsEnded, s.Rewrites, s.Refusals
	q.PinholesOpened, q.PinholesClosed, q.Resized = s.PinholesOpened, s.PinholesClosed, s.Resized
}

// workerStatus is what a worker answers, built on its goroutine.
type workerStatus struct {
	sessions []conntrack.SessionInfo
	stats    conntrack.Stats
	pinholes int
}

// statusWait bounds how long a status request waits for a worker.
const statusWait = 2 * time.Second

// Status asks every worker for a snapshot, through its control inbox (the
// Tracker is read only under its worker's busy mutex), and sums them up.
func (d *Engine) Status() StatusReply {
	now := time.Now()
	r := StatusReply{Time: now, Table: "inet " + d.cfg.Table, Sessions: []SessionStatus{}, Queues: []QueueStatus{}}
	if !d.running.Load() {
		r.Error = "ftpalg is not running yet"
		return r
	}
	replies := make([]chan workerStatus, len(d.workers))
	for i, w := range d.workers {
		ch := make(chan workerStatus, 1) // a late worker never blocks
		replies[i] = ch
		w.send(ctlMsg{kind: ctlRun, run: func(w *worker, now time.Time) {
			ch <- workerStatus{sessions: w.tr.Snapshot(now, nil), stats: w.tr.Stats, pinholes: w.tr.Pinholes()}
		}})
	}
	deadline := time.NewTimer(statusWait)
	defer deadline.Stop()
	for i, w := range d.workers {
		q := QueueStatus{Queue: d.cfg.Queue.Num + uint16(w.idx)}
		if w.queue != nil {
			q.addQueue(w.queue.Stats())
		}
		var ws workerStatus
		select {
		case ws = <-replies[i]:
		case <-deadline.C:
			q.Error = "worker did not answer within " + statusWait.String()
			r.Queues = append(r.Queues, q)
			continue
		}
		q.addTracker(ws.stats)
		q.Sessions, q.Pinholes = len(ws.sessions), ws.pinholes
		r.Queues = append(r.Queues, q)
		t := &r.Totals
		t.Sessions += len(ws.sessions)
		t.Pinholes += ws.pinholes
		t.SessionsStarted += ws.stats.SessionsStarted
		t.SessionsEnded += ws.stats.SessionsEnded
		t.Rewrites += ws.stats.Rewrites
		t.Refusals += ws.stats.Refusals
		t.PinholesOpened += ws.stats.PinholesOpened
		t.PinholesClosed += ws.stats.PinholesClosed
		t.Resized += ws.stats.Resized
		for _, s := range ws.sessions {
			if s.Range != nil {
				t.Ranges++
			}
			r.Sessions = append(r.Sessions, sessionStatus(q.Queue, s))
		}
	}
	r.Conntrack.Events = d.ctStats.Events.Load()
	r.Conntrack.Overruns = d.ctStats.Overruns.Load()
	r.Conntrack.Errors = d.ctStats.Errors.Load()
	r.Conntrack.Cached = d.cache.Len()
	return r
}

func (q *QueueStatus) addQueue(s nfq.Stats) {
	q.Received, q.Lost, q.Overruns, q.RecvErrors, q.Verdicts, q.VerdictErrors =
		s.Received, s.Lost, s.Overruns, s.RecvErrors, s.Verdicts, s.VerdictErrors
}

func sessionStatus(queue uint16, s conntrack.SessionInfo) SessionStatus {
	out := SessionStatus{
		Queue: queue, ID: s.ID, Client: s.Flow.Client, Server: s.Flow.Server,
		Orig: s.Tuples.Orig, Reply: s.Tuples.Reply, NATKnown: s.NATKnown,
		State: s.State, TLS: s.TLS.String(), Rewrites: s.Rewrites, Refusals: s.Refusals,
		IdleSeconds: seconds(s.Idle), Pinholes: []PinholeStatus{},
	}
	if out.State == nil {
		out.State = []string{}
	}
	for _, p := range s.Pinholes {
		ps := PinholeStatus{ID: p.ID, Src: p.Pinhole.Src, Dst: p.Pinhole.Dst, RemainingSeconds: seconds(p.Remaining), Attached: p.Attached}
		if p.HasMap {
			m := p.Mapping
			ps.Mapping = &m
		}
		out.Pinholes = append(out.Pinholes, ps)
	}
	if s.Range != nil {
		out.Range = &RangeStatus{ID: s.Range.ID, Range: s.Range.Range}
	}
	return out
}

// seconds rounds d to milliseconds, in seconds.
func seconds(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}

// statusServer serves the status socket.
type statusServer struct {
	d    *Engine
	ln   *net.UnixListener
	path string
	wg   sync.WaitGroup
}

// listenStatus creates the status socket at path.
func listenStatus(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("status socket %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("status socket %s: another process answers on it (another ftpalg? set status.socket)", path)
		}
		os.Remove(path) // stale: its process is gone
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	ln.SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	return ln, nil
}

// serveStatus serves the status socket until ctx is done; the returned
// function waits for it to stop.
func (d *Engine) serveStatus(ctx context.Context, path string) (func(), error) {
	ln, err := listenStatus(path)
	if err != nil {
		return nil, err
	}
	s := &statusServer{d: d, ln: ln, path: path}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-ctx.Done()
		ln.Close()
	}()
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.accept() }()
	return func() { ln.Close(); s.wg.Wait() }, nil
}

func (s *statusServer) accept() {
	var tempDelay time.Duration
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: wait, then go on.
			tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
			s.d.log.Warn("status socket accept failed", "err", err)
			time.Sleep(tempDelay)
			continue
		}
		tempDelay = 0
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.serve(c) }()
	}
}

// serve answers one request.
func (s *statusServer) serve(c *net.UnixConn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	enc := json.NewEncoder(c)
	enc.SetEscapeHTML(false)
	uid, err := peerUID(c)
	if err != nil || uid != 0 {
		s.d.log.Warn("status socket: caller refused", "uid", uid, "err", err)
		enc.Encode(StatusReply{Error: "permission denied: only root may ask ftpalg's status", Time: time.Now()})
		return
	}
	var req StatusRequest
	line, err := bufio.NewReaderSize(io.LimitReader(c, 4096), 4096).ReadBytes('\n')
	if err == nil || (errors.Is(err, io.EOF) && len(line) > 0) {
		err = json.Unmarshal(line, &req)
	}
	if err != nil {
		enc.Encode(StatusReply{Error: "bad request: " + err.Error(), Time: time.Now()})
		return
	}
	if req.Cmd != "status" {
		enc.Encode(StatusReply{Error: fmt.Sprintf("unknown command %q (known: status)", req.Cmd), Time: time.Now()})
		return
	}
	enc.Encode(s.d.Status())
}

// peerUID is the uid of the process at the other end of c (SO_PEERCRED).
func peerUID(c *net.UnixConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return -1, err
	}
	if cerr != nil {
		return -1, cerr
	}
	return int(cred.Uid), nil
}

// AskStatus sends a status request to the daemon at path and returns its
// reply (for "ftpalg status").
func AskStatus(path string, timeout time.Duration) (StatusReply, error) {
	var r StatusReply
	c, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return r, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(`{"cmd":"status"}` + "\n")); err != nil {
		return r, err
	}
	if err := json.NewDecoder(c).Decode(&r); err != nil {
		return r, fmt.Errorf("reading the reply: %w", err)
	}
	if r.Error != "" {
		return r, errors.New(r.Error)
	}
	return r, nil
}
