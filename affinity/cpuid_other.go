//go:build !amd64 && !arm64

package affinity

// hostFeatures is empty: this package names no features for this GOARCH.
var hostFeatures []feature
