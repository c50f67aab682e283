//go:build !noasm

#include "textflag.h"

// func seqWrite(seq *uint64, src unsafe.Pointer, words int, v uint64, tail *uint64)
//
// Stores, in program order (x86-TSO makes each a release): 0 at seq, the
// words at seq+8, v at seq, v at tail.
TEXT ·seqWrite(SB), NOSPLIT, $0-40
	MOVQ seq+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ words+16(FP), CX
	MOVQ $0, (DI)
	LEAQ 8(DI), DX
	CMPQ CX, $2
	JLT  last
pairs:
	MOVQ  (SI), AX
	MOVQ  8(SI), BX
	MOVQ  AX, (DX)
	MOVQ  BX, 8(DX)
	ADDQ  $16, SI
	ADDQ  $16, DX
	SUBQ  $2, CX
	CMPQ  CX, $2
	JGE   pairs
last:
	CMPQ CX, $1
	JNE  publish
	MOVQ (SI), AX
	MOVQ AX, (DX)
publish:
	MOVQ v+24(FP), AX
	MOVQ AX, (DI)
	MOVQ tail+32(FP), BX
	MOVQ AX, (BX)
	RET
