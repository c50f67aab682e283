//go:build !noasm

#include "go_asm.h"
#include "textflag.h"

// func ticksAsm() uint64
TEXT ·ticksAsm(SB), NOSPLIT|NOFRAME, $0-8
	MOVBU ·ticksMode(SB), R1
	CMP   $const_clockCounter, R1
	BNE   monotonic
	ISB   $15                   // see ticksHW
	MRS   CNTVCT_EL0, R0
	MOVD  R0, ret+0(FP)
	RET

monotonic:
	B ·ticksGeneric(SB)         // same frame: ticksGeneric() uint64


// func ticksHW() uint64
TEXT ·ticksHW(SB), NOSPLIT, $0-8
	// ISB: the counter read is not hoisted above earlier instructions (Arm
	// ARM D11.2.2, "reads of CNTVCT_EL0 can occur speculatively and out of
	// order"); Linux's __arch_counter_get_cntvct does the same.
	ISB $15
	MRS CNTVCT_EL0, R0
	MOVD R0, ret+0(FP)
	RET

// func counterFreq() uint64
TEXT ·counterFreq(SB), NOSPLIT, $0-8
	MRS CNTFRQ_EL0, R0
	MOVD R0, ret+0(FP)
	RET
