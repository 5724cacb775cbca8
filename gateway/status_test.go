package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/ftpalg/ftpalg/internal/testmode"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The status socket: mode 0600, one JSON request and reply per
// connection, errors for bad requests, a stale socket file replaced, a
// live one refused.
func TestStatusSocket(t *testing.T) {
	testmode.Check(t)
	if os.Getuid() != 0 {
		if testmode.Strict() {
			t.Fatal("the status socket answers root only: run as root (FTPALG_E2E=require or CI)")
		}
		t.Skip("the status socket answers root only (FTPALG_E2E=require makes this a failure)")
	}
	var logs bytes.Buffer
	w, _ := newTestWorker(t, &logs)
	pasvSession(t, w)
	runTestWorker(t, w)
	path := filepath.Join(t.TempDir(), "sub", "ftpalg.sock")
	// A stale socket file from a dead process.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, err := w.d.serveStatus(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode %v, %v; want 0600", fi.Mode(), err)
	}
	if _, err := w.d.serveStatus(ctx, path); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Fatalf("second listener on a live socket: %v", err)
	}

	r, err := AskStatus(path, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Sessions) != 1 || len(r.Sessions[0].Pinholes) != 1 {
		t.Fatalf("reply %+v", r)
	}
	for _, tc := range []struct{ req, want string }{
		{`{"cmd":"stats"}` + "\n", "unknown command"},
		{"not json\n", "bad request"},
		{`{"cmd":"status"}`, ""}, // no newline, then EOF
	} {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(tc.req))
		c.(*net.UnixConn).CloseWrite()
		var got StatusReply
		if err := json.NewDecoder(c).Decode(&got); err != nil {
			t.Fatalf("%q: %v", tc.req, err)
		}
		c.Close()
		if !strings.Contains(got.Error, tc.want) || (tc.want == "" && got.Error != "") {
			t.Fatalf("%q: error %q, want %q", tc.req, got.Error, tc.want)
		}
	}
	cancel()
	stop()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("socket left after stop: %v", err)
	}
}
