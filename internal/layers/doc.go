// Package layers holds no code: its test checks that every import in the
// module points down the stack drawn in docs/architecture.md, and that the
// library links only the modules it is allowed to.
package layers
