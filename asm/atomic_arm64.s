//go:build !noasm

#include "textflag.h"

// func loadAcquire64(p *uint64) uint64
TEXT ·loadAcquire64(SB), NOSPLIT, $0-16
	MOVD p+0(FP), R0
	LDAR (R0), R1
	MOVD R1, ret+8(FP)
	RET

// func storeRelease64(p *uint64, v uint64)
TEXT ·storeRelease64(SB), NOSPLIT, $0-16
	MOVD p+0(FP), R0
	MOVD v+8(FP), R1
	STLR R1, (R0)
	RET
