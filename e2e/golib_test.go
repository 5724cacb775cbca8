package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"
)

// A third-party Go FTP client, github.com/jlaffaye/ftp, run in-process:
// its dial function opens the control and data connections from inside
// the client namespace. The control connection is wrapped so that its
// raw stream (commands and replies, not the data) is the trace. v0.2.0
// connects to the address a 227 announces as it is.

// syncBuf is a bytes.Buffer safe for concurrent use.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// teeConn copies what is read from and written to a connection into w.
type teeConn struct {
	net.Conn
	w io.Writer
}

func (c teeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.w.Write(p[:n])
	return n, err
}

func (c teeConn) Write(p []byte) (int, error) {
	c.w.Write(p)
	return c.Conn.Write(p)
}

// golibTransfer runs one PASV or EPSV transfer with jlaffaye/ftp from ns
// (source address local) against server:21.
func golibTransfer(t *testing.T, ns *Netns, local, server netip.Addr, mode Mode, upload bool, remote string, data []byte) error {
	t.Helper()
	if mode != PASV && mode != EPSV {
		t.Fatalf("jlaffaye/ftp: passive modes only, not %s", mode)
	}
	trace := &syncBuf{}
	n := cliSeq.Add(1)
	ns.lab.AddDiag(fmt.Sprintf("jlaffaye #%d %s %s control stream", n, mode, remote), trace.String)
	first := true
	dial := func(network, address string) (net.Conn, error) {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return nil, err
		}
		c, err := ns.Dial(local, ap, 5*time.Second)
		if err != nil {
			return nil, err
		}
		if first { // the control connection
			first = false
			return teeConn{Conn: c, w: trace}, nil
		}
		return c, nil
	}
	err := func() error {
		c, err := ftp.Dial(netip.AddrPortFrom(server, 21).String(),
			ftp.DialWithDialFunc(dial),
			ftp.DialWithTimeout(10*time.Second),
			// PASV mode: no EPSV first (by default it tries EPSV and
			// falls back to PASV).
			ftp.DialWithDisabledEPSV(mode == PASV))
		if err != nil {
			return fmt.Errorf("dial: %w", err)
		}
		defer c.Quit()
		if err := c.Login("anonymous", "e2e@example.com"); err != nil {
			return fmt.Errorf("login: %w", err)
		}
		if upload {
			if err := c.Stor(remote, bytes.NewReader(data)); err != nil {
				return fmt.Errorf("STOR %s: %w", remote, err)
			}
			return nil
		}
		r, err := c.Retr(remote)
		if err != nil {
			return fmt.Errorf("RETR %s: %w", remote, err)
		}
		got, err := io.ReadAll(r)
		if cerr := r.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("RETR %s: %w", remote, err)
		}
		if !bytes.Equal(got, data) {
			return fmt.Errorf("%s download %s: got %d bytes (sha256 %s), want %d bytes (sha256 %s)",
				mode, remote, len(got), digest(got), len(data), digest(data))
		}
		return nil
	}()
	out := trace.String()
	if ann := announcements(out); len(ann) > 0 {
		t.Logf("%s %s %s: the client received %s", GoLib, mode, map[bool]string{true: "upload", false: "download"}[upload], strings.Join(quoteAll(ann), ", "))
	}
	if err != nil {
		return fmt.Errorf("jlaffaye/ftp %s: %v\n%s", mode, err, tail(out, 30))
	}
	if err := checkTraceMode(GoLib, mode, out); err != nil {
		return fmt.Errorf("jlaffaye/ftp: %v\n%s", err, tail(out, 30))
	}
	if mode == PASV {
		if err := checkTrace227(out, server); err != nil {
			return fmt.Errorf("jlaffaye/ftp: %v\n%s", err, tail(out, 30))
		}
	}
	return nil
}
