//go:build !noasm

#include "textflag.h"

// func prefetchW(p unsafe.Pointer, n int)
//
// PREFETCHW of every 64-byte line that [p, p+n) touches, n > 0.
TEXT ·prefetchW(SB), NOSPLIT, $0-16
	MOVQ p+0(FP), DI
	MOVQ n+8(FP), CX
	LEAQ -1(DI)(CX*1), CX // the last byte
	ANDQ $-64, DI
loop:
	BYTE $0x0F; BYTE $0x0D; BYTE $0x0F // PREFETCHW (DI): the assembler has no mnemonic
	ADDQ $64, DI
	CMPQ DI, CX
	JLS  loop
	RET
