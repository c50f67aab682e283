//go:build !noasm

#include "textflag.h"

// LINES runs the instruction INSN (which prefetches the line at DI) for
// every 64-byte line that [p, p+n) touches, n > 0: the body of both
// routines below, with their arguments p+0(FP) and n+8(FP).
#define LINES(INSN) \
	MOVQ p+0(FP), DI \
	MOVQ n+8(FP), CX \
	LEAQ -1(DI)(CX*1), CX \
	ANDQ $-64, DI \
loop: \
	INSN \
	ADDQ $64, DI \
	CMPQ DI, CX \
	JLS  loop \
	RET

// PREFETCHW (DI): the assembler has no mnemonic.
#define PREFETCHW_DI BYTE $0x0F; BYTE $0x0D; BYTE $0x0F

// func prefetchW(p unsafe.Pointer, n int)
//
// PREFETCHW of every 64-byte line that [p, p+n) touches, n > 0.
TEXT ·prefetchW(SB), NOSPLIT, $0-16
	LINES(PREFETCHW_DI)

// func prefetch(p unsafe.Pointer, n int)
//
// PREFETCHT0 of every 64-byte line that [p, p+n) touches, n > 0.
TEXT ·prefetch(SB), NOSPLIT, $0-16
	LINES(PREFETCHT0 (DI))

// CLDEMOTE (DI): the assembler has no mnemonic.
#define CLDEMOTE_DI BYTE $0x0F; BYTE $0x1C; BYTE $0x07

// func demote(p unsafe.Pointer, n int)
//
// CLDEMOTE of every 64-byte line that [p, p+n) touches, n > 0.
TEXT ·demote(SB), NOSPLIT, $0-16
	LINES(CLDEMOTE_DI)
