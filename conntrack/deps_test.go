package conntrack

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// pureStd are the standard packages the pure packages may import: data,
// text, time values and synchronisation, nothing that reaches the
// operating system (os, os/*, net, syscall, unsafe, runtime/*, io/ioutil,
// log, ...). A package missing here is refused until it is added on
// purpose.
var pureStd = []string{
	"bytes", "cmp", "container/heap", "container/list", "encoding/binary",
	"errors", "fmt", "hash/crc32", "hash/fnv", "iter", "maps", "math",
	"math/bits", "net/netip", "slices", "sort", "strconv", "strings", "sync",
	"sync/atomic", "time", "unicode", "unicode/utf8",
}

// pureImports lists, for each pure package, the ftpalg packages it may
// import besides pureStd.
var pureImports = map[string][]string{
	"github.com/ftpalg/ftpalg/conntrack":     {"github.com/ftpalg/ftpalg/rewrite", "github.com/ftpalg/ftpalg/conntrack/ftp"},
	"github.com/ftpalg/ftpalg/conntrack/ftp": nil,
	"github.com/ftpalg/ftpalg/rewrite":       nil,
}

// disallowed returns the imports of pkg that are neither in pureStd nor
// in own.
func disallowed(imports, own []string) []string {
	var bad []string
	for _, imp := range imports {
		if !slices.Contains(pureStd, imp) && !slices.Contains(own, imp) {
			bad = append(bad, imp)
		}
	}
	return bad
}

// TestPureImports keeps the inspector free of kernel APIs: conntrack,
// conntrack/ftp and rewrite import only the allowed standard packages (pureStd) and each
// other as pureImports says; nothing outside the standard library and
// ftpalg appears anywhere in their dependency graphs.
func TestPureImports(t *testing.T) {
	for pkg, own := range pureImports {
		direct, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, direct)
		}
		imports := strings.Fields(string(direct))
		if len(imports) == 0 {
			t.Fatalf("go list %s printed no imports", pkg)
		}
		for _, dep := range disallowed(imports, own) {
			t.Errorf("%s imports %s, which is not on the allowlist of pure packages", pkg, dep)
		}
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.Contains(dep, ".") && !strings.HasPrefix(dep, "github.com/ftpalg/ftpalg/") && !strings.HasPrefix(dep, "vendor/") && !strings.HasPrefix(dep, "internal/") {
				t.Errorf("%s depends on %s outside the standard library", pkg, dep)
			}
		}
	}
}

// The allowlist refuses what the old denylist let through.
func TestDisallowed(t *testing.T) {
	got := disallowed([]string{"fmt", "os/signal", "io/ioutil", "runtime/debug", "net", "os", "unsafe", "syscall",
		"github.com/ftpalg/ftpalg/rewrite", "github.com/ftpalg/ftpalg/rules", "net/netip"},
		pureImports["github.com/ftpalg/ftpalg/conntrack"])
	want := []string{"os/signal", "io/ioutil", "runtime/debug", "net", "os", "unsafe", "syscall", "github.com/ftpalg/ftpalg/rules"}
	if !slices.Equal(got, want) {
		t.Errorf("disallowed = %v, want %v", got, want)
	}
}
