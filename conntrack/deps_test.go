package conntrack

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPureImports keeps the inspector free of kernel APIs: conntrack and
// rewrite import only the standard library (never the packages that reach
// the operating system) and each other; nothing outside the standard
// library and ftpalg appears anywhere in their dependency graphs.
func TestPureImports(t *testing.T) {
	forbidden := []string{"net", "os", "os/exec", "syscall", "unsafe", "golang.org/x/sys/unix", "net/http"}
	for _, pkg := range []string{"github.com/ftpalg/ftpalg/conntrack", "github.com/ftpalg/ftpalg/rewrite"} {
		direct, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, direct)
		}
		for _, dep := range strings.Fields(string(direct)) {
			for _, f := range forbidden {
				if dep == f {
					t.Errorf("%s imports %s", pkg, dep)
				}
			}
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
