package bridge

import (
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
)

// Header names (doc.go).
const (
	hdrFingerprint = "Spinwire-Fingerprint"
	hdrType        = "Spinwire-Type"
	hdrSource      = "Spinwire-Source"
	hdrSeq         = "Spinwire-Seq"
	hdrCount       = "Spinwire-Count"
)

// MaxCount is the most messages one NATS message may carry.
const MaxCount = 1 << 16

// batch is a decoded NATS message's header.
type batch struct {
	fingerprint, source, seq uint64
	count                    int
	typ                      string
}

var errMalformed = errors.New("bridge: malformed batch")

// errOtherType: well-formed headers, a body of a size that fits another
// type than ours (decode cannot tell which; the importer compares the
// fingerprint).
var errOtherType = errors.New("bridge: a batch of another type")

// decode reads and checks m's headers: every one present and in range,
// and the body Count × size bytes long.
func decode(m *nats.Msg, size int) (batch, error) {
	var b batch
	h := m.Header
	if h == nil {
		return b, errMalformed
	}
	var err [4]error
	b.fingerprint, err[0] = strconv.ParseUint(h.Get(hdrFingerprint), 16, 64)
	b.source, err[1] = strconv.ParseUint(h.Get(hdrSource), 16, 64)
	b.seq, err[2] = strconv.ParseUint(h.Get(hdrSeq), 10, 64)
	b.count, err[3] = strconv.Atoi(h.Get(hdrCount))
	b.typ = h.Get(hdrType)
	if errors.Join(err[:]...) != nil || b.count < 1 || b.count > MaxCount || b.seq > b.seq+uint64(b.count) {
		return b, errMalformed
	}
	if len(m.Data) != b.count*size {
		if len(m.Data)%b.count == 0 {
			return b, errOtherType
		}
		return b, errMalformed
	}
	return b, nil
}

// encodeHeader sets h's headers for a batch.
func encodeHeader(h nats.Header, fingerprint uint64, typ string, source, seq uint64, count int) {
	h.Set(hdrFingerprint, hex16(fingerprint))
	h.Set(hdrType, typ)
	h.Set(hdrSource, hex16(source))
	h.Set(hdrSeq, strconv.FormatUint(seq, 10))
	h.Set(hdrCount, strconv.Itoa(count))
}

// hex16 is v in 16 hex digits, leading zeros included: one allocation.
func hex16(v uint64) string {
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = "0123456789abcdef"[v&15]
		v >>= 4
	}
	return string(b[:])
}

// batchHeader keeps a batch's header values between batches: set once
// with the fingerprint and type, the source's again only when it changes,
// the sequence and count each batch, each in the slice the header map
// already holds (BenchmarkBatchFlush: 22 allocations a batch of 64 before,
// 1 now - the sequence's digits).
type batchHeader struct {
	seq, count    []string
	source        []string
	sourceOf      uint64
	fingerprinted bool
}

// set makes h's headers those of a batch (encodeHeader's).
func (bh *batchHeader) set(h nats.Header, fingerprint uint64, typ string, source, seq uint64, count int) {
	if !bh.fingerprinted {
		encodeHeader(h, fingerprint, typ, source, seq, count)
		bh.fingerprinted, bh.sourceOf = true, source
		bh.seq, bh.count, bh.source = h[hdrSeq], h[hdrCount], h[hdrSource]
		return
	}
	if source != bh.sourceOf {
		bh.source[0], bh.sourceOf = hex16(source), source
	}
	bh.seq[0] = strconv.FormatUint(seq, 10)
	bh.count[0] = strconv.Itoa(count)
}
