package layout

import "errors"

// Sentinel errors. Functions wrap them with the values that explain them;
// test with errors.Is.
var (
	ErrBadMagic       = errors.New("layout: bad magic")                    // header magic is not HeaderMagic
	ErrVersion        = errors.New("layout: unsupported version")          // header version is not HeaderVersion
	ErrTooShort       = errors.New("layout: region too short")             // fewer bytes than the layout needs
	ErrBadLength      = errors.New("layout: bad length")                   // a length field disagrees with reality
	ErrLayoutMismatch = errors.New("layout: layout mismatch")              // schemas or fingerprints differ: a *MismatchError says how
	ErrNotFixedLayout = errors.New("layout: type is not fixed-layout")     // Of[T] refused T
	ErrMisaligned     = errors.New("layout: misaligned offset")            // offset breaks T's alignment
	ErrOutOfBounds    = errors.New("layout: out of bounds")                // offset+size beyond the region
	ErrInvalidSize    = errors.New("layout: invalid size")                 // zero, negative or huge size
	ErrNotSealed      = errors.New("layout: segment is not sealed")        // memfd lacks F_SEAL_SHRINK|F_SEAL_GROW
	ErrInvalidName    = errors.New("layout: invalid segment name")         // name with '/' or too long
	ErrClosed         = errors.New("layout: segment closed")               // use after Close
	ErrUntrusted      = errors.New("layout: segment of another uid")       // Open: name or segment of neither our uid nor the directory's owner
	ErrBadSchema      = errors.New("layout: malformed schema description") // DecodeSchema input
	// ErrNotReady: the file is still empty or the magic still zero after
	// Options.ReadyWait.
	ErrNotReady = errors.New("layout: segment not ready: its creator has not finished writing the header")
)
