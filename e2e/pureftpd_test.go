package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"testing"
)

// pure-ftpd in the server namespace. Debian's pure-ftpd package conflicts
// with vsftpd's, so scripts/pureftpd unpacks it (apt-get download +
// dpkg -x) into /opt/ftpalg-e2e/pure-ftpd.
//
// pure-ftpd has no setting for the anonymous root: it is the home
// directory of the system user "ftp" (created by Debian's vsftpd
// package). The server runs in a private mount namespace of its own
// (unshare --mount) where the lab's root is bind-mounted over that home,
// so nothing changes outside the process. It logs anonymous users in
// straight after USER (230, no PASS).

// pureftpdDir is where scripts/pureftpd unpacked pure-ftpd.
func pureftpdDir() string {
	if d := os.Getenv("FTPALG_E2E_PUREFTPD"); d != "" {
		return d
	}
	return "/opt/ftpalg-e2e/pure-ftpd"
}

// needPureftpd checks for the unpacked pure-ftpd and the ftp user, and
// returns the binary and the ftp user's home.
func needPureftpd(t testing.TB) (bin, home string) {
	t.Helper()
	needLab(t, "unshare", "mount")
	bin = filepath.Join(pureftpdDir(), "usr/sbin/pure-ftpd")
	if _, err := os.Stat(bin); err != nil {
		missing(t, "pure-ftpd unpacked in %s (run scripts/pureftpd, or set FTPALG_E2E_PUREFTPD): %v", pureftpdDir(), err)
	}
	u, err := user.Lookup("ftp")
	if err != nil {
		missing(t, "pure-ftpd serves anonymous users from the home of the system user ftp (Debian's vsftpd package creates it): %v", err)
	}
	if st, err := os.Stat(u.HomeDir); err != nil || !st.IsDir() {
		missing(t, "the ftp user's home %q is not a directory (pure-ftpd's anonymous root is bind-mounted over it): %v", u.HomeDir, err)
	}
	return bin, u.HomeDir
}

// startPureftpd runs pure-ftpd in the namespace, anonymous only, bound to
// listen:21, with uploads allowed and the passive range of opts. extra is
// appended to pure-ftpd's arguments.
func startPureftpd(t testing.TB, ns *Netns, listen netip.Addr, opts serverOpts, extra ...string) *FTPServer {
	t.Helper()
	bin, home := needPureftpd(t)
	opts.defaults()
	dir, err := os.MkdirTemp(ns.lab.dir, "pure-ftpd-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	root := filepath.Join(dir, "root")
	files := populateRoot(t, root)
	xferLog := filepath.Join(dir, "xfer.log")
	args := []string{
		"-e",                               // anonymous only
		"-S", fmt.Sprintf("%s,21", listen), // bind
		"-p", fmt.Sprintf("%d:%d", opts.PasvMin, opts.PasvMax), // passive range
		"-H",         // no reverse DNS
		"-f", "none", // no syslog: nothing leaves the lab
		"-O", "clf:" + xferLog, // transfers
		"-c", "50", "-C", "50", // sessions in all, per client address
		"-I", "2", // idle minutes
	}
	if listen.Is4() {
		args = append(args, "-4")
	}
	args = append(args, extra...)
	// sh's positional parameters: $1 the root, $2 the ftp home, $3... the
	// command.
	script := `set -e; root="$1"; home="$2"; shift 2; mount --bind "$root" "$home"; exec "$@"`
	cmd := append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", root, home, bin}, args...)
	p, err := ns.Start("pure-ftpd", nil, cmd...)
	if err != nil {
		t.Fatal(err)
	}
	logs := func() string {
		b, _ := os.ReadFile(xferLog)
		return "== transfers (" + xferLog + ")\n" + string(b) + "== output\n" + p.Output()
	}
	s := &FTPServer{Kind: "pure-ftpd", Root: root, Files: files, Proc: p, ns: ns,
		Addr: netip.AddrPortFrom(listen, 21), Log: logs}
	ns.lab.AddDiag("pure-ftpd logs ("+ns.Role+")", logs)
	s.waitReady(t)
	return s
}
