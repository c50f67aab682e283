package hello_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strings"
	"testing"
)

// TestReadmeShowsExample: the README's Go block is the body of Example,
// character for character, less its "// Output:" comment and one level of
// indentation. Change both together.
func TestReadmeShowsExample(t *testing.T) {
	body := exampleBody(t, "example_test.go", "Example")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlocks(string(readme))
	if len(blocks) != 1 {
		t.Fatalf("README.md has %d ```go blocks; want exactly one, the body of Example in examples/hello", len(blocks))
	}
	if blocks[0] != body {
		line, want, got := firstDiff(body, blocks[0])
		t.Errorf("README.md's Go block differs from Example's body at line %d of the block:\n README: %q\nexample: %q", line, got, want)
	}
}

// exampleBody returns the statements of function name in file: the source
// between its braces, without the trailing "// Output:" comment, one tab
// of indentation removed and surrounding blank lines trimmed.
func exampleBody(t *testing.T, file, name string) string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != name {
			continue
		}
		text := string(src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset])
		text, _, _ = strings.Cut(text, "\t// Output:")
		var lines []string
		for line := range strings.Lines(text) {
			lines = append(lines, strings.TrimPrefix(line, "\t"))
		}
		return strings.Trim(strings.Join(lines, ""), "\n")
	}
	t.Fatalf("%s has no func %s", file, name)
	return ""
}

// goBlocks returns the contents of the ```go fenced blocks of a markdown
// text, surrounding blank lines trimmed.
func goBlocks(md string) []string {
	var out []string
	var cur *strings.Builder
	for line := range strings.Lines(md) {
		fence := strings.TrimSpace(line)
		switch {
		case cur == nil && fence == "```go":
			cur = new(strings.Builder)
		case cur != nil && fence == "```":
			out = append(out, strings.Trim(cur.String(), "\n"))
			cur = nil
		case cur != nil:
			cur.WriteString(line)
		}
	}
	return out
}

// firstDiff returns the first line (1-based) where a and b differ, and
// the two lines there ("" past the end).
func firstDiff(a, b string) (n int, la, lb string) {
	as, bs := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(as), len(bs)) {
		la, lb = "", ""
		if i < len(as) {
			la = as[i]
		}
		if i < len(bs) {
			lb = bs[i]
		}
		if la != lb {
			return i + 1, la, lb
		}
	}
	return 0, "", ""
}
