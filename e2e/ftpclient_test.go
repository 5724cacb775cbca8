package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A small FTP client for exact control over the control channel: every
// command and reply is visible, every step has a deadline, and the test
// can stop between an announcement and the data connection.

// Mode is how the data connection is set up.
type Mode string

const (
	PASV Mode = "PASV"
	EPSV Mode = "EPSV"
	PORT Mode = "PORT"
	EPRT Mode = "EPRT"
)

var allModes = []Mode{PASV, EPSV, PORT, EPRT}

func (m Mode) Active() bool { return m == PORT || m == EPRT }

// FTPClient is one control connection, opened from a namespace.
type FTPClient struct {
	ns      *Netns
	local   netip.Addr // source address for control and data (zero: kernel's choice)
	conn    net.Conn
	r       *bufio.Reader
	Timeout time.Duration // per reply
	DataTO  time.Duration // data connection set-up and transfer
	// ConnectTO bounds a passive data connection's connect.
	ConnectTO time.Duration
	Greet     string
	// AnyPasvAddr accepts a 227 whose address is not the control
	// connection's peer (used where no rewrite is expected to happen).
	AnyPasvAddr bool

	mu         sync.Mutex
	transcript strings.Builder
}

// DialFTP connects, reads the greeting, and logs in anonymously.
func DialFTP(ns *Netns, local netip.Addr, server netip.AddrPort) (*FTPClient, error) {
	conn, err := ns.Dial(local, server, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("control connection to %v: %w", server, err)
	}
	c := &FTPClient{ns: ns, local: local, conn: conn, r: bufio.NewReader(conn),
		Timeout: 10 * time.Second, DataTO: 20 * time.Second, ConnectTO: 5 * time.Second}
	c.logf("# control %v -> %v", conn.LocalAddr(), conn.RemoteAddr())
	code, text, err := c.Reply()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	if code != 220 {
		conn.Close()
		return nil, fmt.Errorf("greeting: %d %s", code, text)
	}
	c.Greet = text
	if err := c.login(); err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := c.Expect("TYPE I", 200); err != nil {
		conn.Close()
		return nil, err
	}
	return c, nil
}

func (c *FTPClient) logf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fmt.Fprintf(&c.transcript, time.Now().Format("15:04:05.000 ")+format+"\n", args...)
}

// Transcript is every line sent and received, with times.
func (c *FTPClient) Transcript() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.transcript.String()
}

func (c *FTPClient) login() error {
	code, text, err := c.Cmd("USER anonymous")
	if err != nil {
		return err
	}
	switch code {
	case 230: // logged in straight after USER (pure-ftpd does this)
		return nil
	case 331:
	default:
		return fmt.Errorf("USER: %d %s", code, text)
	}
	_, err = c.Expect("PASS e2e@example.com", 230)
	return err
}

// ControlLocal and ControlRemote are the control connection's endpoints
// as this client sees them.
func (c *FTPClient) ControlLocal() netip.AddrPort {
	return c.conn.LocalAddr().(*net.TCPAddr).AddrPort()
}

func (c *FTPClient) ControlRemote() netip.AddrPort {
	return c.conn.RemoteAddr().(*net.TCPAddr).AddrPort()
}

// Reply reads one (possibly multi-line, RFC 959 4.2) reply.
func (c *FTPClient) Reply() (int, string, error) {
	c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	line, err := c.readLine()
	if err != nil {
		return 0, "", err
	}
	if len(line) < 4 || !isDigits(line[:3]) || (line[3] != ' ' && line[3] != '-') {
		return 0, line, fmt.Errorf("malformed reply %q", line)
	}
	code, _ := strconv.Atoi(line[:3])
	text := line[4:]
	if line[3] == '-' {
		end := line[:3] + " "
		for {
			l, err := c.readLine()
			if err != nil {
				return 0, text, err
			}
			text += "\n" + l
			if strings.HasPrefix(l, end) {
				break
			}
		}
	}
	return code, text, nil
}

func (c *FTPClient) readLine() (string, error) {
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.logf("< (read error after %q: %v)", line, err)
		return "", fmt.Errorf("reading reply: %w (partial %q)", err, line)
	}
	line = strings.TrimRight(line, "\r\n")
	c.logf("< %s", line)
	return line, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Send writes one command line.
func (c *FTPClient) Send(line string) error {
	c.logf("> %s", line)
	c.conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	_, err := io.WriteString(c.conn, line+"\r\n")
	return err
}

// Cmd sends a command and reads its reply.
func (c *FTPClient) Cmd(line string) (int, string, error) {
	if err := c.Send(line); err != nil {
		return 0, "", err
	}
	return c.Reply()
}

// Expect sends a command and requires one of the given reply codes.
func (c *FTPClient) Expect(line string, codes ...int) (string, error) {
	code, text, err := c.Cmd(line)
	if err != nil {
		return text, fmt.Errorf("%s: %w", line, err)
	}
	for _, want := range codes {
		if code == want {
			return text, nil
		}
	}
	return text, fmt.Errorf("%s: got %d %s, want %v", line, code, text, codes)
}

// Pasv sends PASV and returns the announced endpoint (from the 227).
func (c *FTPClient) Pasv() (netip.AddrPort, error) {
	text, err := c.Expect("PASV", 227)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return parse227(text)
}

// Epsv sends EPSV and returns the control peer's address with the
// announced port (RFC 2428).
func (c *FTPClient) Epsv() (netip.AddrPort, error) {
	text, err := c.Expect("EPSV", 229)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := parse229(text)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(c.ControlRemote().Addr(), port), nil
}

func parse227(text string) (netip.AddrPort, error) {
	i := strings.IndexAny(text, "0123456789")
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("227 without numbers: %q", text)
	}
	s := text[i:]
	if j := strings.IndexFunc(s, func(r rune) bool { return r != ',' && (r < '0' || r > '9') }); j >= 0 {
		s = s[:j]
	}
	parts := strings.Split(s, ",")
	if len(parts) != 6 {
		return netip.AddrPort{}, fmt.Errorf("227 %q: want 6 numbers", text)
	}
	var n [6]byte
	for k, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v > 255 {
			return netip.AddrPort{}, fmt.Errorf("227 %q: bad number %q", text, p)
		}
		n[k] = byte(v)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(n[:4])), uint16(n[4])<<8|uint16(n[5])), nil
}

func parse229(text string) (uint16, error) {
	i := strings.IndexByte(text, '(')
	j := strings.LastIndexByte(text, ')')
	if i < 0 || j < i+5 {
		return 0, fmt.Errorf("229 %q: no (|||port|)", text)
	}
	inner := text[i+1 : j]
	d := inner[0]
	fields := strings.Split(inner, string(d))
	if len(fields) != 5 || fields[1] != "" || fields[2] != "" || fields[4] != "" {
		return 0, fmt.Errorf("229 %q: bad fields", text)
	}
	p, err := strconv.ParseUint(fields[3], 10, 16)
	if err != nil || p == 0 {
		return 0, fmt.Errorf("229 %q: bad port", text)
	}
	return uint16(p), nil
}

// FormatPORT and FormatEPRT build the active-mode commands.
func FormatPORT(ap netip.AddrPort) string {
	a := ap.Addr().As4()
	return fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], ap.Port()>>8, ap.Port()&0xff)
}

func FormatEPRT(ap netip.AddrPort) string {
	af := 1
	if ap.Addr().Is6() && !ap.Addr().Is4In6() {
		af = 2
	}
	return fmt.Sprintf("EPRT |%d|%s|%d|", af, ap.Addr().Unmap(), ap.Port())
}

// dataSetup is a negotiated data connection: passive (the announced
// endpoint, not yet dialled) or active (a listener the server will reach).
type dataSetup struct {
	mode      Mode
	announced netip.AddrPort // passive: where to connect
	ln        *net.TCPListener
}

// Prepare negotiates a data connection in the given mode.
func (c *FTPClient) Prepare(mode Mode) (*dataSetup, error) {
	d := &dataSetup{mode: mode}
	var err error
	switch mode {
	case PASV:
		d.announced, err = c.Pasv()
		if err == nil && !c.AnyPasvAddr && d.announced.Addr() != c.ControlRemote().Addr() {
			// The lab routes private addresses too: connecting to an
			// unrewritten one could succeed where it must not.
			err = fmt.Errorf("227 announced %v, but the server is %v for this client (not rewritten?)", d.announced, c.ControlRemote().Addr())
		}
	case EPSV:
		d.announced, err = c.Epsv()
	case PORT, EPRT:
		local := c.ControlLocal().Addr()
		d.ln, err = c.ns.Listen(netip.AddrPortFrom(local, 0))
		if err != nil {
			return nil, fmt.Errorf("listen for %s: %w", mode, err)
		}
		ap := d.ln.Addr().(*net.TCPAddr).AddrPort()
		ap = netip.AddrPortFrom(local, ap.Port())
		c.logf("# listening on %v", ap)
		var line string
		if mode == EPRT {
			line = FormatEPRT(ap)
		} else if local.Is4() {
			line = FormatPORT(ap)
		} else {
			d.ln.Close()
			return nil, fmt.Errorf("PORT needs an IPv4 address, have %v", local)
		}
		if _, err = c.Expect(line, 200); err != nil {
			d.ln.Close()
		}
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// connect opens (passive) or accepts (active) the data connection.
func (c *FTPClient) connect(d *dataSetup) (net.Conn, error) {
	if d.mode.Active() {
		defer d.ln.Close()
		d.ln.SetDeadline(time.Now().Add(c.DataTO))
		conn, err := d.ln.Accept()
		if err != nil {
			return nil, fmt.Errorf("%s: server did not connect to %v: %w", d.mode, d.ln.Addr(), err)
		}
		c.logf("# data %v <- %v", conn.LocalAddr(), conn.RemoteAddr())
		return conn, nil
	}
	conn, err := c.ns.Dial(c.local, d.announced, c.ConnectTO)
	if err != nil {
		return nil, fmt.Errorf("%s: connect to announced %v: %w", d.mode, d.announced, err)
	}
	c.logf("# data %v -> %v", conn.LocalAddr(), conn.RemoteAddr())
	return conn, nil
}

// Retr downloads a file in the given mode.
func (c *FTPClient) Retr(mode Mode, path string) ([]byte, error) {
	var got []byte
	err := c.transfer(mode, "RETR "+path, func(conn net.Conn) error {
		var err error
		got, err = io.ReadAll(conn)
		return err
	})
	return got, err
}

// Stor uploads data in the given mode.
func (c *FTPClient) Stor(mode Mode, path string, data []byte) error {
	return c.transfer(mode, "STOR "+path, func(conn net.Conn) error {
		if _, err := io.Copy(conn, bytes.NewReader(data)); err != nil {
			return err
		}
		return conn.(*net.TCPConn).CloseWrite()
	})
}

func (c *FTPClient) transfer(mode Mode, cmd string, move func(net.Conn) error) error {
	d, err := c.Prepare(mode)
	if err != nil {
		return err
	}
	return c.Transfer(d, cmd, move)
}

// Transfer runs a transfer command over a prepared data connection.
func (c *FTPClient) Transfer(d *dataSetup, cmd string, move func(net.Conn) error) error {
	var conn net.Conn
	var err error
	if !d.mode.Active() {
		// Connect first, as curl and lftp do.
		if conn, err = c.connect(d); err != nil {
			return err
		}
		defer conn.Close()
	}
	if err := c.Send(cmd); err != nil {
		if d.ln != nil {
			d.ln.Close()
		}
		return err
	}
	code, text, err := c.Reply()
	if err != nil {
		if d.ln != nil {
			d.ln.Close()
		}
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if code/100 != 1 {
		if d.ln != nil {
			d.ln.Close()
		}
		return fmt.Errorf("%s (%s): %d %s", cmd, d.mode, code, text)
	}
	if d.mode.Active() {
		if conn, err = c.connect(d); err != nil {
			return err
		}
		defer conn.Close()
	}
	conn.SetDeadline(time.Now().Add(c.DataTO))
	if err := move(conn); err != nil {
		return fmt.Errorf("%s (%s): data: %w", cmd, d.mode, err)
	}
	conn.Close()
	code, text, err = c.Reply()
	if err != nil {
		return fmt.Errorf("%s (%s): final reply: %w", cmd, d.mode, err)
	}
	if code/100 != 2 {
		return fmt.Errorf("%s (%s): final reply %d %s", cmd, d.mode, code, text)
	}
	return nil
}

// Quit ends the session politely and closes the connection.
func (c *FTPClient) Quit() error {
	defer c.conn.Close()
	_, err := c.Expect("QUIT", 221)
	return err
}

// Close drops the control connection.
func (c *FTPClient) Close() error { return c.conn.Close() }
