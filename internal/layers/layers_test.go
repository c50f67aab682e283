package layers

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/spinwire/spinwire/"

// stack is docs/architecture.md's picture, bottom first: a package may
// import only packages on a lower floor. Folders match by prefix, longest
// first ("cmd/internal" before "cmd").
var stack = [][]string{
	{"internal"},
	{"asm"},
	{"layout"},
	{"affinity"},
	{"tuning"},
	{"spin"},
	{"batch"},
	{"agent"},
	{"link"},
	{"topic"},
	{"stat"},
	{"bridge"},
	{"cmd/internal/echo"},
	{"cmd/internal"},
	{"cmd", "examples"},
}

// firstCommand is the lowest floor above the library.
var firstCommand, _ = floorOf("cmd/internal")

// modules are the third-party modules each floor may import; library
// packages link golang.org/x/sys only, so a server's resident memory stays
// within its budget. Floors not named may import anything.
var modules = map[string][]string{
	"internal": {"golang.org/x/sys"},
	"asm":      {"golang.org/x/sys"},
	"layout":   {"golang.org/x/sys"},
	"affinity": {"golang.org/x/sys"},
	"tuning":   {"golang.org/x/sys", "github.com/klauspost/cpuid/v2"},
	"spin":     {"golang.org/x/sys"},
	"batch":    {"golang.org/x/sys"},
	"agent":    {"golang.org/x/sys"},
	"link":     {"golang.org/x/sys"},
	"topic":    {"golang.org/x/sys"},
	"stat":     {"golang.org/x/sys"},
	"bridge":   {"golang.org/x/sys", "github.com/nats-io/nats.go"}, // its tests embed nats-server
}

// floorOf returns the floor of a module-relative directory and the folder
// that placed it there, or -1.
func floorOf(dir string) (int, string) {
	best, bestFolder := -1, ""
	for i, folders := range stack {
		for _, f := range folders {
			if (dir == f || strings.HasPrefix(dir, f+"/")) && len(f) > len(bestFolder) {
				best, bestFolder = i, f
			}
		}
	}
	return best, bestFolder
}

// imp is one import of one file.
type imp struct {
	file, path string
	test       bool
}

// imports returns every import of every Go file under root (all build
// tags), keyed by the module-relative directory.
func imports(t *testing.T, root string) map[string][]imp {
	t.Helper()
	out := map[string][]imp{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "build") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		file, _ := filepath.Rel(root, path)
		dir := filepath.ToSlash(filepath.Dir(file))
		for _, s := range f.Imports {
			p, _ := strconv.Unquote(s.Path.Value)
			out[dir] = append(out[dir], imp{file, p, strings.HasSuffix(name, "_test.go")})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestImportsPointDown: no package imports one on its own floor or above.
// A test file may import any library package (an external test package
// sits outside the stack), but a library test never imports cmd/ or
// examples/.
func TestImportsPointDown(t *testing.T) {
	for dir, imps := range imports(t, moduleRoot(t)) {
		from, _ := floorOf(dir)
		if from < 0 {
			t.Errorf("%s: a package on no floor of the stack; add it to docs/architecture.md and this test", dir)
			continue
		}
		for _, im := range imps {
			rel, ok := strings.CutPrefix(im.path, module)
			if !ok {
				continue
			}
			to, _ := floorOf(rel)
			if rel == dir || (im.test && (to < firstCommand || from >= firstCommand)) {
				continue
			}
			if to >= from {
				t.Errorf("%s imports %s: an arrow that points up or across the stack", im.file, im.path)
			}
		}
	}
}

// TestLibraryModules: library packages import only the third-party modules
// their floor allows.
func TestLibraryModules(t *testing.T) {
	for dir, imps := range imports(t, moduleRoot(t)) {
		_, folder := floorOf(dir)
		allowed, listed := modules[folder]
		if !listed {
			continue
		}
		for _, im := range imps {
			first, _, _ := strings.Cut(im.path, "/")
			if im.test || !strings.Contains(first, ".") || strings.HasPrefix(im.path, module) {
				continue
			}
			ok := false
			for _, m := range allowed {
				ok = ok || im.path == m || strings.HasPrefix(im.path, m+"/")
			}
			if !ok {
				t.Errorf("%s imports %s: floor %s may import only %v", im.file, im.path, folder, allowed)
			}
		}
	}
}

// TestFloorOf pins the prefix rule the two tests above rely on.
func TestFloorOf(t *testing.T) {
	for dir, want := range map[string]string{
		"internal/msg": "internal", "cmd/internal/echo": "cmd/internal/echo", "cmd/internal/connbench": "cmd/internal",
		"cmd/pingpong": "cmd", "link": "link", "spinach": "",
	} {
		if _, got := floorOf(dir); got != want {
			t.Errorf("floorOf(%q) = %q, want %q", dir, got, want)
		}
	}
}
