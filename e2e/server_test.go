package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// FTP servers in the server namespace: Debian's vsftpd and pyftpdlib, both
// anonymous, with files to download under /pub and an upload directory
// /upload.

// Test content: random, generated once per run.
var content struct {
	sync.Once
	small, big []byte
}

func testFiles() (small, big []byte) {
	content.Do(func() {
		content.small = make([]byte, 256<<10)
		content.big = make([]byte, 2<<20+12345)
		rand.Read(content.small)
		rand.Read(content.big)
	})
	return content.small, content.big
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:8])
}

// FTPServer is a running FTP server with a populated anonymous root.
type FTPServer struct {
	Kind  string
	Addr  netip.AddrPort // where it listens (inside the server namespace)
	Root  string         // anonymous root on disk
	Files map[string][]byte
	Proc  *Proc
	Log   func() string
	ns    *Netns
}

// Download paths offered by every server.
const (
	smallPath = "/pub/small.bin"
	bigPath   = "/pub/big.bin"
)

func populateRoot(t testing.TB, root string) map[string][]byte {
	t.Helper()
	small, big := testFiles()
	files := map[string][]byte{smallPath: small, bigPath: big}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "pub"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "upload"), 0o777))
	must(os.Chmod(root, 0o755))
	must(os.Chmod(filepath.Join(root, "upload"), 0o777))
	for p, b := range files {
		must(os.WriteFile(filepath.Join(root, p), b, 0o644))
	}
	return files
}

// Uploaded returns the content of an uploaded file (path like /upload/x),
// waiting briefly for the server to finish writing it.
func (s *FTPServer) CheckUpload(t testing.TB, path string, want []byte) {
	t.Helper()
	disk := filepath.Join(s.Root, path)
	var got []byte
	ok := eventually(3*time.Second, func() bool {
		got, _ = os.ReadFile(disk)
		return bytes.Equal(got, want)
	})
	if !ok {
		t.Errorf("upload %s on %s: server has %d bytes (sha256 %s), sent %d bytes (sha256 %s)",
			path, s.Kind, len(got), digest(got), len(want), digest(want))
	}
}

type serverOpts struct {
	IPv6             bool // listen on IPv6 (vsftpd: listen_ipv6=YES)
	PasvMin, PasvMax int  // passive port range
	// Extra is appended to vsftpd's config (TLS settings, pasv_address).
	Extra string
	// Bare227 makes pyftpdlib answer PASV with "227 =h1,h2,h3,h4,p1,p2":
	// one byte of free text. With passive ports whose p1,p2 is already
	// as short as a data port's can be (1025-1033: "4,1"), a rewrite
	// whose address needs 2 more digits must grow the line (a resized
	// session).
	Bare227 bool
}

func (o *serverOpts) defaults() {
	if o.PasvMin == 0 {
		o.PasvMin, o.PasvMax = 30000, 30999
	}
}

// startVsftpd runs Debian's vsftpd in the namespace, listening on port 21
// of every address (IPv4, or IPv6 with opts.IPv6).
func startVsftpd(t testing.TB, ns *Netns, probe netip.Addr, opts serverOpts) *FTPServer {
	t.Helper()
	needLab(t, "vsftpd")
	opts.defaults()
	dir, err := os.MkdirTemp(ns.lab.dir, "vsftpd-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	root := filepath.Join(dir, "root")
	empty := filepath.Join(dir, "empty")
	for _, d := range []string{root, empty} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := populateRoot(t, root)
	logFile := filepath.Join(dir, "vsftpd.log")
	listen := "listen=YES\nlisten_ipv6=NO\n"
	if opts.IPv6 {
		listen = "listen=NO\nlisten_ipv6=YES\n"
	}
	conf := listen + fmt.Sprintf(`background=NO
listen_port=21
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=%s
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=NO
anon_other_write_enable=NO
anon_umask=022
pasv_enable=YES
pasv_min_port=%d
pasv_max_port=%d
port_enable=YES
connect_from_port_20=NO
seccomp_sandbox=NO
isolate=NO
isolate_network=NO
secure_chroot_dir=%s
xferlog_enable=YES
xferlog_std_format=NO
log_ftp_protocol=YES
vsftpd_log_file=%s
syslog_enable=NO
connect_timeout=3
accept_timeout=10
data_connection_timeout=30
idle_session_timeout=120
max_clients=0
max_per_ip=0
use_localtime=NO
`, root, opts.PasvMin, opts.PasvMax, empty, logFile) + opts.Extra
	confPath := filepath.Join(dir, "vsftpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := ns.Start("vsftpd", nil, "vsftpd", confPath)
	if err != nil {
		t.Fatal(err)
	}
	s := &FTPServer{Kind: "vsftpd", Root: root, Files: files, Proc: p, ns: ns,
		Addr: netip.AddrPortFrom(probe, 21),
		Log: func() string {
			b, _ := os.ReadFile(logFile)
			return string(b)
		}}
	ns.lab.AddDiag("vsftpd log ("+ns.Role+")", s.Log)
	s.waitReady(t)
	return s
}

const pyftpdScript = `
import logging, sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
root, addr, pmin, pmax = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
bare227 = len(sys.argv) > 5 and sys.argv[5] == "bare227"
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(asctime)s %(message)s")
auth = DummyAuthorizer()
import warnings
warnings.simplefilter("ignore")
auth.add_anonymous(root, perm="elradfmwMT")
class Handler(FTPHandler):
    def respond(self, resp, *args, **kwargs):
        if bare227 and resp.startswith("227 ") and "(" in resp:
            resp = "227 =" + resp[resp.index("(") + 1:resp.rindex(")")]
        FTPHandler.respond(self, resp, *args, **kwargs)
Handler.authorizer = auth
Handler.passive_ports = range(pmin, pmax + 1)
Handler.timeout = 120
server = FTPServer((addr, 21), Handler)
server.serve_forever()
`

// startPyftpdlib runs pyftpdlib (Debian's python3-pyftpdlib) in the
// namespace, anonymous with write permission.
func startPyftpdlib(t testing.TB, ns *Netns, listen netip.Addr, opts serverOpts) *FTPServer {
	t.Helper()
	needPyftpdlib(t)
	opts.defaults()
	dir, err := os.MkdirTemp(ns.lab.dir, "pyftpdlib-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	root := filepath.Join(dir, "root")
	files := populateRoot(t, root)
	script := filepath.Join(dir, "server.py")
	if err := os.WriteFile(script, []byte(pyftpdScript), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{pyPath, script, root, listen.String(), fmt.Sprint(opts.PasvMin), fmt.Sprint(opts.PasvMax)}
	if opts.Bare227 {
		args = append(args, "bare227")
	}
	p, err := ns.Start("pyftpdlib", nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	s := &FTPServer{Kind: "pyftpdlib", Root: root, Files: files, Proc: p, ns: ns,
		Addr: netip.AddrPortFrom(listen, 21), Log: p.Output}
	s.waitReady(t)
	return s
}

// waitReady waits until the server answers with its 220 greeting.
func (s *FTPServer) waitReady(t testing.TB) {
	t.Helper()
	var lastErr error
	ok := eventually(10*time.Second, func() bool {
		if s.Proc.Exited() {
			return true
		}
		c, err := s.ns.Dial(netip.Addr{}, s.Addr, time.Second)
		if err != nil {
			lastErr = err
			return false
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 512)
		n, err := c.Read(buf)
		if err != nil || !strings.HasPrefix(string(buf[:n]), "220") {
			lastErr = fmt.Errorf("greeting %q: %v", buf[:n], err)
			return false
		}
		return true
	})
	if s.Proc.Exited() {
		t.Fatalf("%s exited at start-up:\n%s\n%s", s.Kind, s.Proc.Output(), s.Log())
	}
	if !ok {
		t.Fatalf("%s not answering on %v: %v\n%s", s.Kind, s.Addr, lastErr, s.Proc.Output())
	}
}
