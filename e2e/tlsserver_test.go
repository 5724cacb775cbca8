package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// FTPS servers in the server namespace: vsftpd with ssl_enable (explicit
// TLS, AUTH TLS on port 21) and proftpd with mod_tls, which unlike vsftpd
// implements CCC. Both use a self-signed certificate made here.

// The certificate: RSA (vsftpd loads rsa_cert_file), self-signed, made
// once per run.
var testCert struct {
	sync.Once
	cert, key []byte
	err       error
}

func makeTestCert() ([]byte, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("test certificate: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("test certificate: serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "ftps.e2e.example", Organization: []string{"ftpalg e2e"}},
		DNSNames:              []string{"ftps.e2e.example"},
		IPAddresses:           []net.IP{serverPubIP.AsSlice(), serverPriv.AsSlice()},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("test certificate: create: %w", err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return cert, keyPEM, nil
}

// writeTestCert writes the run's certificate and key into dir and returns
// their paths (key readable by root only).
func writeTestCert(t testing.TB, dir string) (certPath, keyPath string) {
	t.Helper()
	testCert.Do(func() { testCert.cert, testCert.key, testCert.err = makeTestCert() })
	if testCert.err != nil {
		t.Fatal(testCert.err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, testCert.cert, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, testCert.key, 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// ftpsOpts configures a TLS-capable server.
type ftpsOpts struct {
	// PasvAddr is the address the server announces in 227 (vsftpd
	// pasv_address, proftpd MasqueradeAddress). Inside TLS nobody can
	// rewrite a 227, so behind DNAT the server has to announce the
	// published address itself. Zero: its own address.
	PasvAddr         netip.Addr
	PasvMin, PasvMax int
	// ForceTLS refuses logins and transfers without TLS.
	ForceTLS bool
	// TLS12 caps the server at TLS 1.2 (proftpd only): the close_notify
	// alerts of a CCC are visible only up to TLS 1.2.
	TLS12 bool
}

func (o *ftpsOpts) defaults() {
	if o.PasvMin == 0 {
		o.PasvMin, o.PasvMax = 30000, 30031
	}
}

// startVsftpdTLS runs vsftpd with explicit TLS (AUTH TLS) for anonymous
// users; TLS is optional unless opts.ForceTLS.
func startVsftpdTLS(t testing.TB, ns *Netns, probe netip.Addr, opts ftpsOpts) *FTPServer {
	t.Helper()
	opts.defaults()
	dir, err := os.MkdirTemp(ns.lab.dir, "vsftpd-tls-")
	if err != nil {
		t.Fatal(err)
	}
	cert, key := writeTestCert(t, dir)
	yn := map[bool]string{true: "YES", false: "NO"}
	extra := fmt.Sprintf(`ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=%[1]s
force_anon_data_ssl=%[1]s
ssl_sslv2=NO
ssl_sslv3=NO
ssl_tlsv1=YES
require_ssl_reuse=NO
ssl_ciphers=HIGH
rsa_cert_file=%[2]s
rsa_private_key_file=%[3]s
debug_ssl=YES
`, yn[opts.ForceTLS], cert, key)
	if opts.PasvAddr.IsValid() {
		extra += "pasv_addr_resolve=NO\npasv_address=" + opts.PasvAddr.String() + "\n"
	}
	s := startVsftpd(t, ns, probe, serverOpts{PasvMin: opts.PasvMin, PasvMax: opts.PasvMax, Extra: extra})
	s.Kind = "vsftpd-tls"
	return s
}

// proftpdDir is where scripts/proftpd unpacked proftpd and its libraries.
func proftpdDir() string {
	if d := os.Getenv("FTPALG_E2E_PROFTPD"); d != "" {
		return d
	}
	return "/opt/ftpalg-e2e/proftpd"
}

// needProftpd checks for the unpacked proftpd with mod_tls.
func needProftpd(t testing.TB) string {
	t.Helper()
	needLab(t)
	dir := proftpdDir()
	for _, f := range []string{"usr/sbin/proftpd", "usr/lib/proftpd/mod_tls.so"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing(t, "proftpd with mod_tls unpacked in %s (run scripts/proftpd, or set FTPALG_E2E_PROFTPD): %v", dir, err)
		}
	}
	return dir
}

// startProftpdTLS runs proftpd with mod_tls in the namespace: anonymous
// with uploads, explicit TLS, CCC allowed. proftpd's own logs (system,
// TLS, transfers) are diagnostics.
func startProftpdTLS(t testing.TB, ns *Netns, probe netip.Addr, opts ftpsOpts) *FTPServer {
	t.Helper()
	return startProftpdConf(t, ns, probe, opts, true)
}

// startProftpd runs the same proftpd without mod_tls (plain FTP only):
// anonymous with uploads, passive range opts.PasvMin-PasvMax.
func startProftpd(t testing.TB, ns *Netns, probe netip.Addr, opts serverOpts) *FTPServer {
	t.Helper()
	opts.defaults()
	return startProftpdConf(t, ns, probe, ftpsOpts{PasvMin: opts.PasvMin, PasvMax: opts.PasvMax}, false)
}

func startProftpdConf(t testing.TB, ns *Netns, probe netip.Addr, opts ftpsOpts, withTLS bool) *FTPServer {
	t.Helper()
	pdir := needProftpd(t)
	opts.defaults()
	dir, err := os.MkdirTemp(ns.lab.dir, "proftpd-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	root := filepath.Join(dir, "root")
	files := populateRoot(t, root)
	cert, key := writeTestCert(t, dir)
	loadTLS, kind := "LoadModule mod_tls.c", "proftpd-tls"
	if !withTLS {
		// Without the module the <IfModule mod_tls.c> block is skipped.
		loadTLS, kind = "", "proftpd"
	}
	proto := "TLSv1.2 TLSv1.3"
	if opts.TLS12 {
		proto = "TLSv1.2"
	}
	required := "off"
	if opts.ForceTLS {
		required = "on"
	}
	masq := ""
	if opts.PasvAddr.IsValid() {
		masq = "MasqueradeAddress " + opts.PasvAddr.String()
	}
	conf := fmt.Sprintf(`ServerName "ftpalg e2e proftpd"
ServerType standalone
DefaultServer on
Port 21
User nobody
Group nogroup
Umask 022
MaxInstances 30
UseIPv6 off
UseReverseDNS off
UseFtpUsers off
WtmpLog off
DelayTable none
ScoreboardFile %[1]s/scoreboard
PidFile %[1]s/proftpd.pid
SystemLog %[1]s/system.log
TransferLog %[1]s/xfer.log
ExtendedLog %[1]s/commands.log ALL
TimeoutIdle 120
TimeoutNoTransfer 120
PassivePorts %[2]d %[3]d
%[4]s
ModulePath %[5]s/usr/lib/proftpd
%[11]s
<IfModule mod_tls.c>
  TLSEngine on
  TLSLog %[1]s/tls.log
  TLSProtocol %[6]s
  TLSRSACertificateFile %[7]s
  TLSRSACertificateKeyFile %[8]s
  TLSRequired %[9]s
  TLSVerifyClient off
  TLSOptions NoSessionReuseRequired AllowClientRenegotiations
  TLSRenegotiate none
</IfModule>
<Anonymous %[10]s>
  User ftp
  Group nogroup
  UserAlias anonymous ftp
  RequireValidShell off
  AnonRequirePassword off
  AllowOverwrite on
</Anonymous>
`, dir, opts.PasvMin, opts.PasvMax, masq, pdir, proto, cert, key, required, root, loadTLS)
	confPath := filepath.Join(dir, "proftpd.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := func() string {
		var out string
		for _, f := range []string{"system.log", "tls.log", "commands.log", "xfer.log"} {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			out += "== " + f + "\n" + string(b)
		}
		return out
	}
	p, err := ns.Start("proftpd", nil, "env", "LD_LIBRARY_PATH="+filepath.Join(pdir, "usr/lib/x86_64-linux-gnu"),
		filepath.Join(pdir, "usr/sbin/proftpd"), "--nodaemon", "--config", confPath)
	if err != nil {
		t.Fatal(err)
	}
	s := &FTPServer{Kind: kind, Root: root, Files: files, Proc: p, ns: ns,
		Addr: netip.AddrPortFrom(probe, 21), Log: logs}
	ns.lab.AddDiag("proftpd logs ("+ns.Role+")", logs)
	s.waitReady(t)
	return s
}
