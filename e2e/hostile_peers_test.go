package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"time"
)

// Scripted peers for the hostile suite: the test holds both ends of a
// control connection (a Go client in the client namespace, a Go server in
// the server namespace, or a real FTP server) and plays a script of exact
// bytes with exact segmentation through the gateway, recording what each
// end received.

// side is one end of a control connection.
type side int

const (
	fromClient side = iota
	fromServer
)

func (s side) String() string {
	if s == fromClient {
		return "client"
	}
	return "server"
}

// step is one move of a script.
type step struct {
	from side
	// segs are written one by one (TCP_NODELAY, segPause between them),
	// so that each is its own TCP segment.
	segs []string
	// pause between segments; 0 means segPause.
	pause time.Duration
	// dial, when set, makes the step a data-connection attempt instead:
	// from the side's namespace to dial, with a listener on listen (in
	// the other side's namespace) so that only the firewall can stop it.
	dial, listen netip.AddrPort
	wantConnect  bool
	// raw, when set, runs a raw-segment step on the raw server (see
	// rawtcp_test.go) instead of writing to a socket.
	raw func(r *rawConn) error
	// expectReply (real servers only): read until a final reply line.
	// Set automatically for client steps against a real server.
}

const segPause = 15 * time.Millisecond

// C and S are a client's or server's segments; CL and SL one line (CRLF
// added) in one segment.
func C(segs ...string) step { return step{from: fromClient, segs: segs} }
func S(segs ...string) step { return step{from: fromServer, segs: segs} }
func CL(line string) step   { return C(line + "\r\n") }
func SL(line string) step   { return S(line + "\r\n") }

// bytewise splits s into one-byte segments.
func bytewise(from side, s string) step {
	segs := make([]string, len(s))
	for i := range s {
		segs[i] = s[i : i+1]
	}
	return step{from: from, segs: segs, pause: 3 * time.Millisecond}
}

// probe is a data-connection attempt that the firewall must stop
// (want=false) or let through (want=true).
func probe(from side, dial, listen netip.AddrPort, want bool) step {
	return step{from: from, dial: dial, listen: listen, wantConnect: want}
}

// login is the usual opening of a scripted session.
func login() []step {
	return []step{
		SL("220 hostile-ftp ready"),
		CL("USER anonymous"), SL("331 password please"),
		CL("PASS e2e@example.com"), SL("230 logged in"),
	}
}

// tail of every script: the session still works, then ends.
func noopQuit() []step {
	return []step{CL("NOOP"), SL("200 NOOP ok"), CL("QUIT"), SL("221 bye")}
}

func script(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func steps(s ...step) []step { return s }

// convResult is what the two ends received, and how they ended.
type convResult struct {
	clientGot, serverGot bytes.Buffer
	clientErr, serverErr error // first read/write error on each end
	probes               []probeResult
	notes                []string
}

type probeResult struct {
	from      side
	to        netip.AddrPort
	connected bool
	err       error
}

func (r *convResult) got(s side) *bytes.Buffer {
	if s == fromClient {
		return &r.clientGot
	}
	return &r.serverGot
}

// reset reports whether an end saw its connection reset.
func (r *convResult) reset(s side) bool {
	err := r.clientErr
	if s == fromServer {
		err = r.serverErr
	}
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// peerEnv is where a conversation runs.
type peerEnv struct {
	client, server *Netns
	// peers: the client's connection, and the server's (nil for a real
	// server, whose replies are read by the client).
	cConn, sConn net.Conn
	raw          *rawConn // raw server, if the script uses one
	realServer   bool
	readTO       time.Duration
	// afterStep, if set, runs after every step (the lab samples the
	// kernel's state there, so short-lived pinholes are not missed).
	afterStep func()
	// stalled: a read already waited readTO in vain; later reads wait
	// only briefly, so a stalled session does not cost readTO per step.
	stalled bool
}

// run plays the steps. A step's bytes are read on the other end until as
// many LFs as were sent have arrived (or readTO passes); steps without
// an LF are read for a short while only.
func (e *peerEnv) run(steps []step) *convResult {
	r := &convResult{}
	if e.realServer {
		// The greeting.
		e.readFinalReply(r)
	}
	for i, st := range steps {
		if e.afterStep != nil && i > 0 {
			e.afterStep()
		}
		switch {
		case st.raw != nil:
			if err := st.raw(e.raw); err != nil {
				r.notes = append(r.notes, fmt.Sprintf("step %d (raw): %v", i, err))
			}
			// What reached the client after the raw segments.
			e.readFor(r, fromClient, 0, 400*time.Millisecond)
		case st.dial.IsValid():
			r.probes = append(r.probes, e.dial(st))
		default:
			if e.write(r, st) {
				continue
			}
			if e.realServer {
				e.readFinalReply(r)
				continue
			}
			lfs := 0
			for _, s := range st.segs {
				lfs += strings.Count(s, "\n")
			}
			to := st.from ^ 1
			if lfs == 0 {
				e.readFor(r, to, 0, 350*time.Millisecond)
			} else {
				e.readFor(r, to, lfs, e.readTO)
			}
		}
	}
	return r
}

// write sends a step's segments; it reports true when the writer's
// connection failed (the error is recorded).
func (e *peerEnv) write(r *convResult, st step) bool {
	conn := e.cConn
	errp := &r.clientErr
	if st.from == fromServer {
		conn, errp = e.sConn, &r.serverErr
	}
	if st.from == fromServer && e.raw != nil {
		for i, s := range st.segs {
			if i > 0 {
				time.Sleep(segPause)
			}
			if err := e.raw.Write(s); err != nil {
				r.serverErr = err
				return true
			}
		}
		return false
	}
	if conn == nil {
		r.notes = append(r.notes, "no "+st.from.String()+" connection to write to")
		return true
	}
	if len(st.segs) == 0 {
		return false // nothing to send: only read on the other end
	}
	if *errp != nil {
		return true
	}
	pause := st.pause
	if pause == 0 {
		pause = segPause
	}
	for i, s := range st.segs {
		if i > 0 {
			time.Sleep(pause)
		}
		conn.SetWriteDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.WriteString(conn, s); err != nil {
			*errp = err
			return true
		}
	}
	return false
}

// readFor reads on side s until lfs LFs arrived (lfs > 0) or d passes.
func (e *peerEnv) readFor(r *convResult, s side, lfs int, d time.Duration) {
	conn := e.cConn
	errp := &r.clientErr
	if s == fromServer {
		conn, errp = e.sConn, &r.serverErr
	}
	if s == fromServer && e.raw != nil {
		have := bytes.Count(r.serverGot.Bytes(), []byte{'\n'})
		if lfs == 0 {
			time.Sleep(d)
		} else {
			if e.stalled {
				d = 300 * time.Millisecond
			}
			if e.raw.waitLFs(have+lfs, d) != nil {
				e.stalled = true
			}
		}
		r.serverGot.Reset()
		r.serverGot.WriteString(e.raw.received())
		e.raw.mu.Lock()
		if e.raw.rst {
			r.serverErr = syscall.ECONNRESET
		}
		e.raw.mu.Unlock()
		return
	}
	if conn == nil || *errp != nil {
		return
	}
	buf := r.got(s)
	seen := 0
	if e.stalled && lfs > 0 {
		d = 300 * time.Millisecond
	}
	deadline := time.Now().Add(d)
	b := make([]byte, 16<<10)
	for lfs == 0 || seen < lfs {
		conn.SetReadDeadline(deadline)
		n, err := conn.Read(b)
		buf.Write(b[:n])
		seen += bytes.Count(b[:n], []byte{'\n'})
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				*errp = err
			} else if lfs > 0 {
				e.stalled = true
			}
			return
		}
	}
}

// readFinalReply reads from a real server until a final reply line
// ("ddd text") has arrived.
func (e *peerEnv) readFinalReply(r *convResult) {
	deadline := time.Now().Add(e.readTO)
	b := make([]byte, 4096)
	start := r.clientGot.Len()
	for r.clientErr == nil {
		if finalReplyIn(r.clientGot.Bytes()[start:]) {
			return
		}
		e.cConn.SetReadDeadline(deadline)
		n, err := e.cConn.Read(b)
		r.clientGot.Write(b[:n])
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				r.clientErr = err
			}
			return
		}
	}
}

func finalReplyIn(b []byte) bool {
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if strings.HasSuffix(l, "\n") && len(l) >= 4 && isDigits(l[:3]) && l[3] == ' ' {
			return true
		}
	}
	return false
}

// dial runs a data-connection attempt with a listener at the target.
func (e *peerEnv) dial(st step) probeResult {
	res := probeResult{from: st.from, to: st.dial}
	from, at := e.client, e.server
	if st.from == fromServer {
		from, at = e.server, e.client
	}
	if st.listen.IsValid() {
		// The previous probe's listener may not be closed yet (Go closes
		// the socket once its Accept has returned): retry briefly.
		ln, err := at.Listen(st.listen)
		for i := 0; i < 20 && errors.Is(err, syscall.EADDRINUSE); i++ {
			time.Sleep(25 * time.Millisecond)
			ln, err = at.Listen(st.listen)
		}
		if err != nil {
			res.err = fmt.Errorf("listen on %v: %w", st.listen, err)
			return res
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	to := 600 * time.Millisecond
	if st.wantConnect {
		to = 3 * time.Second
	}
	c, err := from.Dial(netip.Addr{}, st.dial, to)
	if err == nil {
		res.connected = true
		c.Close()
	} else {
		res.err = err
	}
	return res
}

// transcript renders what both ends received, for failure messages.
func (r *convResult) transcript() string {
	var b strings.Builder
	fmt.Fprintf(&b, "client received (%d bytes, err %v):\n%s\n", r.clientGot.Len(), r.clientErr, quoteLines(r.clientGot.Bytes()))
	fmt.Fprintf(&b, "server received (%d bytes, err %v):\n%s\n", r.serverGot.Len(), r.serverErr, quoteLines(r.serverGot.Bytes()))
	for _, p := range r.probes {
		fmt.Fprintf(&b, "probe %s -> %v: connected=%v err=%v\n", p.from, p.to, p.connected, p.err)
	}
	for _, n := range r.notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

func quoteLines(b []byte) string {
	var out strings.Builder
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l == "" {
			continue
		}
		if len(l) > 200 {
			l = l[:100] + fmt.Sprintf("...(%d bytes)...", len(l)-200) + l[len(l)-100:]
		}
		fmt.Fprintf(&out, "  %q\n", l)
	}
	return out.String()
}

// scriptedServer accepts control connections in the server namespace.
type scriptedServer struct {
	ln    *net.TCPListener
	conns chan net.Conn
}

func startScriptedServer(ns *Netns, addr netip.AddrPort) (*scriptedServer, error) {
	ln, err := ns.Listen(addr)
	if err != nil {
		return nil, err
	}
	s := &scriptedServer{ln: ln, conns: make(chan net.Conn, 64)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(s.conns)
				return
			}
			c.(*net.TCPConn).SetNoDelay(true)
			s.conns <- c
		}
	}()
	return s, nil
}

func (s *scriptedServer) Close() { s.ln.Close() }

// accept returns the next control connection.
func (s *scriptedServer) accept(d time.Duration) (net.Conn, error) {
	select {
	case c, ok := <-s.conns:
		if !ok {
			return nil, errors.New("scripted server closed")
		}
		return c, nil
	case <-time.After(d):
		return nil, fmt.Errorf("no control connection reached the scripted server within %v", d)
	}
}
