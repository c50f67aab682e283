package layers

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// A citation is a file named by a document or a source file: the target of
// a markdown link, or a path written out in the text (`spin/ring.go`, a
// bare README.md).
type citation struct {
	line   int
	target string
	link   bool // a markdown link: relative to the citing file, may carry #anchor
}

var (
	// mdLink matches [text](target) and [text](target "title").
	mdLink = regexp.MustCompile(`\]\(<?([^()<>\s]+)>?(?:\s+"[^"]*")?\)`)
	// url matches what the path scanner must not read as a path.
	url = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s)>\]"'` + "`" + `]*`)
	// pathToken matches a run of characters a path is written with.
	pathToken = regexp.MustCompile(`[A-Za-z0-9_.~$/-]+`)
	// heading matches a markdown heading.
	heading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	// localLink matches a link to an anchor of the same file.
	localLink = regexp.MustCompile(`\]\(#([^)\s]+)\)`)
)

// fileExts are the extensions of files the repository holds and text
// cites; a token ending in another one is not read as a file.
var fileExts = []string{".go", ".md", ".c", ".h", ".s", ".sh", ".txtar"}

// selfFile is this test's own file: its cases spell out missing files on
// purpose, so the scan leaves it out.
const selfFile = "internal/layers/docs_test.go"

// citations returns the files that text (one file's contents) cites.
// Markdown links are read only in markdown files.
func citations(text string, markdown bool) []citation {
	var out []citation
	add := func(c citation) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	n := 0
	for line := range strings.Lines(text) {
		n++
		if markdown {
			for _, m := range mdLink.FindAllStringSubmatch(line, -1) {
				if t := m[1]; !strings.Contains(t, ":") && !strings.HasPrefix(t, "#") {
					add(citation{n, t, true})
				}
			}
		}
		line = url.ReplaceAllString(line, " ")
		for _, tok := range pathToken.FindAllString(line, -1) {
			if p, ok := filePath(tok); ok {
				add(citation{n, p, false})
			}
		}
	}
	return out
}

// filePath reads a token of text as a file path: it must end in one of
// fileExts after a name, contain a slash unless it names a .md file, and
// be relative (no /abs, ~/home or $VAR/ paths) and not a host name
// (github.com/…).
func filePath(tok string) (string, bool) {
	tok = strings.TrimRight(tok, ".-")
	ext := path.Ext(tok)
	base := strings.TrimSuffix(path.Base(tok), ext)
	if !slices.Contains(fileExts, ext) || strings.IndexFunc(base, isAlnum) < 0 {
		return "", false
	}
	if strings.ContainsAny(tok[:1], "/~$") || strings.Contains(tok, "//") {
		return "", false
	}
	first, _, nested := strings.Cut(tok, "/")
	if !nested {
		return tok, ext == ".md"
	}
	if first != "." && first != ".." && strings.Contains(first, ".") {
		return "", false // a host: github.com/…, golang.org/…
	}
	return tok, true
}

func isAlnum(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// repoPath reports whether a non-link citation names something in the
// repository: a .md file always; another file when its first folder is
// one the repository (or the citing folder) has. So the Go source tree's
// runtime/proc.go is not read as this repository's, and a Go-tree path
// under a folder this repository also has is written src/internal/….
func repoPath(root, dir, target string) bool {
	if path.Ext(target) == ".md" {
		return true
	}
	first, _, _ := strings.Cut(target, "/")
	if first == "." || first == ".." {
		return true
	}
	return exists(filepath.Join(root, first)) || exists(filepath.Join(root, dir, first))
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// resolve returns the file a citation names, and whether it exists. A
// markdown link is relative to the citing file (or to the module root when
// it starts with /); a path in the text is relative to the module root or
// to the citing file's folder.
func resolve(root, dir string, c citation) (string, bool) {
	target, _, _ := strings.Cut(c.target, "#")
	if c.link {
		if target == "" {
			return "", true
		}
		p := filepath.Join(root, dir, target)
		if strings.HasPrefix(target, "/") {
			p = filepath.Join(root, target)
		}
		return p, exists(p)
	}
	if p := filepath.Join(root, target); exists(p) {
		return p, true
	}
	p := filepath.Join(root, dir, target)
	return p, exists(p)
}

// anchors returns the heading anchors of a markdown file, as GitHub makes
// them: lower case, letters, digits, '-' and '_' kept, spaces to '-', the
// rest dropped.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	fence := false
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		m := heading.FindStringSubmatch(strings.TrimRight(line, "\n"))
		if fence || m == nil {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r == ' ':
				b.WriteByte('-')
			case r == '-' || r == '_' || isAlnum(r):
				b.WriteRune(r)
			}
		}
		out[b.String()] = true
	}
	return out
}

// docFiles returns the module-relative paths of the files whose text may
// cite others: documents, Go, C and assembly sources, scripts, fixtures and
// Makefiles, skipping hidden folders and the build output.
func docFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if p != root && (strings.HasPrefix(d.Name(), ".") || rel == "build") {
				return filepath.SkipDir
			}
			return nil
		}
		if (slices.Contains(fileExts, path.Ext(rel)) || path.Base(rel) == "Makefile") && rel != selfFile {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCitedFilesExist: every file that a document or a source file names —
// a markdown link, a path such as spin/ring.go, any *.md — exists in the
// repository, and a link's #anchor is a heading of the file it points to.
// A user who clones the repository must find everything its text points at;
// a file of the Go source tree is written with its src/ prefix.
func TestCitedFilesExist(t *testing.T) {
	root := moduleRoot(t)
	for _, rel := range docFiles(t, root) {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		dir := path.Dir(rel)
		for _, c := range citations(string(b), path.Ext(rel) == ".md") {
			if !c.link && !repoPath(root, dir, c.target) {
				continue
			}
			p, ok := resolve(root, dir, c)
			if !ok {
				t.Errorf("%s:%d cites %s, which the repository does not have", rel, c.line, c.target)
				continue
			}
			if _, anchor, found := strings.Cut(c.target, "#"); c.link && found {
				checkAnchor(t, rel, c, p, anchor)
			}
		}
	}
}

// checkAnchor reports a link whose #anchor is no heading of its target.
func checkAnchor(t *testing.T, rel string, c citation, target, anchor string) {
	t.Helper()
	if filepath.Ext(target) != ".md" {
		return
	}
	b, err := os.ReadFile(target)
	if err != nil {
		t.Errorf("%s:%d links to %s: %v", rel, c.line, c.target, err)
		return
	}
	if !anchors(string(b))[anchor] {
		t.Errorf("%s:%d links to %s: no heading makes the anchor #%s", rel, c.line, c.target, anchor)
	}
}

// TestSameFileAnchors: a link to #anchor in the same markdown file names
// one of its headings.
func TestSameFileAnchors(t *testing.T) {
	root := moduleRoot(t)
	for _, rel := range docFiles(t, root) {
		if path.Ext(rel) != ".md" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		have := anchors(string(b))
		for n, line := range strings.Split(string(b), "\n") {
			for _, m := range localLink.FindAllStringSubmatch(line, -1) {
				if !have[m[1]] {
					t.Errorf("%s:%d links to #%s: no heading makes that anchor", rel, n+1, m[1])
				}
			}
		}
	}
}

// TestCitations pins what the scan reads as a citation of a repository
// file and what it leaves alone.
func TestCitations(t *testing.T) {
	for _, c := range []struct {
		text     string
		markdown bool
		want     []citation
	}{
		{"see CHANGELOG.md, \"Added\"", false, []citation{{1, "CHANGELOG.md", false}}},
		{"as README.md lists them.", false, []citation{{1, "README.md", false}}},
		{"(`docs/go-runtime.md`)", true, []citation{{1, "docs/go-runtime.md", false}}},
		{"x\nspin/ring.go.", false, []citation{{2, "spin/ring.go", false}}},
		{"[the guide](../tuning/README.md#6-the-go-runtime)", true, []citation{
			{1, "../tuning/README.md#6-the-go-runtime", true}, {1, "../tuning/README.md", false}}},
		{"[`feed/`](feed) and [a](#running-them)", true, []citation{{1, "feed", true}}},
		{"[a](README.md) in Go text is not a link", false, []citation{{1, "README.md", false}}},
		{"runtime/proc.go `retake`", false, []citation{{1, "runtime/proc.go", false}}},
		{"https://github.com/golang/go/blob/master/README.md", true, nil},
		{"github.com/klauspost/cpuid/v2/README.md", false, nil},
		{"/proc/self/environ /usr/lib/x.sh ~/y.md $GOROOT/src/runtime/proc.go", false, nil},
		{"ring.go, *.md, .md, name_amd64.s, spin/*.go", false, nil},
	} {
		if got := citations(c.text, c.markdown); !slices.Equal(got, c.want) {
			t.Errorf("citations(%q) = %v, want %v", c.text, got, c.want)
		}
	}
}

// TestRepoPath: a path outside the repository's folders (the Go source
// tree's) is not checked, a .md file always is.
func TestRepoPath(t *testing.T) {
	root := moduleRoot(t)
	for target, want := range map[string]bool{
		"runtime/proc.go":                false,
		"spin/ring.go":                   true,
		"internal/nosuch/x.go":           true,
		"src/internal/godebugs/table.go": false,
		"nosuch/README.md":               true,
		"testdata/vm-2cpu.txtar":         false, // from the module root; affinity/ has it
		"../docs/design.md":              true,
	} {
		if got := repoPath(root, "internal/layers", target); got != want {
			t.Errorf("repoPath(%q) = %v, want %v", target, got, want)
		}
	}
	if !repoPath(root, "affinity", "testdata/vm-2cpu.txtar") {
		t.Error("repoPath from affinity/: testdata/vm-2cpu.txtar is its own")
	}
}

// TestAnchors: headings make GitHub's anchors.
func TestAnchors(t *testing.T) {
	got := anchors("# spinwire\n## 9. What `pingpong -check` checks\n```\n# not a heading\n```\n### Rules, in short ##\n")
	for _, a := range []string{"spinwire", "9-what-pingpong--check-checks", "rules-in-short"} {
		if !got[a] {
			t.Errorf("no anchor %q in %v", a, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a comment in a code block made an anchor")
	}
}

// TestArchitectureDrawsTheStack: the floor table of docs/architecture.md
// lists the floors of stack, in the same order with the same folders.
func TestArchitectureDrawsTheStack(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(moduleRoot(t), "docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	drawn := drawnFloors(string(b))
	if len(drawn) != len(stack) {
		t.Fatalf("docs/architecture.md draws %d floors %v; the stack has %d %v", len(drawn), drawn, len(stack), stack)
	}
	for i, folders := range stack {
		if !slices.Equal(drawn[i], folders) {
			t.Errorf("floor %d: docs/architecture.md draws %v, the stack has %v", i-1, drawn[i], folders)
		}
	}
}

// drawnFloors reads the table in the first code block of architecture.md:
// rows "N  folder  …", the internal row "-  folder  …", and continuation
// rows (a folder alone, indented) that add a folder to the floor above.
// Floors come back bottom first, the "-" row first of all, each folder
// without its trailing "/…".
func drawnFloors(text string) [][]string {
	var rows []string
	inBlock := false
	for line := range strings.Lines(text) {
		if strings.HasPrefix(line, "```") {
			if inBlock {
				break
			}
			inBlock = true
			continue
		}
		if inBlock {
			rows = append(rows, line)
		}
	}
	var floors [][]string
	var internal []string
	for _, row := range rows {
		f := strings.Fields(row)
		if len(f) < 2 || strings.HasPrefix(f[0], "─") || f[0] == "floor" {
			continue
		}
		folder := strings.TrimSuffix(f[1], "/…")
		switch {
		case f[0] == "-":
			internal = append(internal, folder)
		case f[0][0] >= '0' && f[0][0] <= '9':
			floors = append(floors, []string{folder})
		case len(floors) > 0:
			last := len(floors) - 1
			floors[last] = append(floors[last], strings.TrimSuffix(f[0], "/…"))
		}
	}
	slices.Reverse(floors)
	return append([][]string{internal}, floors...)
}
