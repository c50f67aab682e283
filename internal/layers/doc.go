// Package layers holds no code: its test checks that every import in the
// module points down the stack drawn in docs/architecture.md, and that the
// library links only the modules it is allowed to; docs_test.go checks that
// every file a document or comment cites exists and that the table in
// docs/architecture.md matches the stack the import test enforces.
package layers
