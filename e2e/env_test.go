package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/ftpalg/ftpalg/internal/testmode"
)

// Prerequisites and the shared ftpalg binary.

const pyPath = "/usr/bin/python3" // Debian's python: the one that sees python3-pyftpdlib

var tmpRoot string // per-run scratch directory, removed by TestMain

func TestMain(m *testing.M) {
	// FTPALG_E2E is require or skip; under CI=true only require. There is
	// no value that skips the whole package.
	if _, err := testmode.Get(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	sweepStaleLabs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("fte-%d-", os.Getpid()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	// vsftpd drops to the ftp user after chroot; it has to be able to
	// reach the anonymous root.
	_ = os.Chmod(dir, 0o755)
	tmpRoot = dir
	code := m.Run()
	if code == 0 || os.Getenv("FTPALG_E2E_KEEP") == "" {
		os.RemoveAll(dir)
	} else {
		fmt.Println("e2e: kept", dir)
	}
	os.Exit(code)
}

// sweepStaleLabs removes namespaces left by an earlier run of these tests
// that died before its cleanups ran (fte-<pid>-..., with that pid gone).
func sweepStaleLabs() {
	if os.Geteuid() != 0 {
		return
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		var pid, n int
		var role string
		if c, _ := fmt.Sscanf(strings.ReplaceAll(e.Name(), "-", " "), "fte %d %d %s", &pid, &n, &role); c != 3 {
			continue
		}
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil {
			continue // that run is still alive (or it is us)
		}
		out, _ := exec.Command("ip", "netns", "pids", e.Name()).Output()
		for _, f := range strings.Fields(string(out)) {
			if p, err := strconv.Atoi(f); err == nil && p > 1 {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
		_ = exec.Command("ip", "netns", "del", e.Name()).Run()
		fmt.Println("e2e: removed stale namespace", e.Name())
	}
}

func requireMode() bool { return testmode.Strict() }

// missing skips the test, or fails it under FTPALG_E2E=require.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if requireMode() {
		t.Fatalf("prerequisite missing (FTPALG_E2E=require makes this a failure): %s", msg)
	}
	t.Skipf("prerequisite missing: %s (set FTPALG_E2E=require to fail instead)", msg)
}

var baseTools = []string{"ip", "nft", "conntrack", "sysctl", "vsftpd", "curl", "lftp"}

// needLab checks root and the tools every lab needs, plus extra ones.
func needLab(t testing.TB, extra ...string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		missing(t, "needs Linux, have %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		missing(t, "needs root (network namespaces, nftables)")
	}
	for _, b := range append(append([]string{}, baseTools...), extra...) {
		if strings.HasPrefix(b, "/") {
			if _, err := os.Stat(b); err != nil {
				missing(t, "%s: %v", b, err)
			}
			continue
		}
		if _, err := exec.LookPath(b); err != nil {
			missing(t, "binary %q not on PATH", b)
		}
	}
	if _, err := os.Stat("/run/netns"); err != nil {
		_ = os.MkdirAll("/run/netns", 0o755)
	}
}

var pyftpdlibOnce struct {
	sync.Once
	err error
}

func needPyftpdlib(t testing.TB) {
	t.Helper()
	needLab(t, pyPath)
	pyftpdlibOnce.Do(func() {
		out, err := exec.Command(pyPath, "-c", "import pyftpdlib.servers, pyftpdlib.handlers, pyftpdlib.authorizers").CombinedOutput()
		if err != nil {
			pyftpdlibOnce.err = fmt.Errorf("%s cannot import pyftpdlib: %v: %s", pyPath, err, out)
		}
	})
	if pyftpdlibOnce.err != nil {
		missing(t, "%v", pyftpdlibOnce.err)
	}
}

// goBuild is one program the tests build from this module, once per test
// binary run.
type goBuild struct {
	sync.Once
	pkg, name string // the package (from the module root) and the binary's name
	path      string
	err       error
}

// binary builds b once and returns its path. A build failure is a test
// failure (it is code under test), never a skip.
func (b *goBuild) binary(t testing.TB) string {
	t.Helper()
	b.Do(func() {
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		out := filepath.Join(tmpRoot, b.name)
		cmd := exec.Command(goBin, "build", "-o", out, b.pkg)
		cmd.Dir = ".." // the module root; go test runs in the package directory
		if o, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", b.pkg, err, o)
			return
		}
		b.path = out
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

var daemonBuild = goBuild{pkg: "./cmd/ftpalg", name: "ftpalg"}

// ftpalgBinary builds ./cmd/ftpalg once per test binary run, unless
// FTPALG_E2E_BIN names a binary to test instead.
func ftpalgBinary(t testing.TB) string {
	if p := os.Getenv("FTPALG_E2E_BIN"); p != "" {
		return p
	}
	return daemonBuild.binary(t)
}
