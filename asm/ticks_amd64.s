//go:build !noasm

#include "go_asm.h"
#include "textflag.h"

// func ticksAsm() uint64
TEXT ·ticksAsm(SB), NOSPLIT, $0-8
	MOVBLZX ·ticksMode(SB), CX
	CMPL    CX, $const_clockRDTSCP
	JNE     notrdtscp
	RDTSCP                      // see ticksPHW
	SHLQ    $32, DX
	ORQ     DX, AX
	MOVQ    AX, ret+0(FP)
	RET

notrdtscp:
	CMPL CX, $const_clockCounter
	JNE  monotonic
	LFENCE                      // see ticksHW
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET

monotonic:
	JMP ·ticksGeneric(SB)       // same frame: ticksGeneric() uint64


// func ticksHW() uint64
TEXT ·ticksHW(SB), NOSPLIT, $0-8
	// LFENCE: RDTSC does not execute until every earlier instruction has
	// completed locally (Intel SDM vol. 2B, RDTSC). On AMD, LFENCE is
	// dispatch-serialising from Zen on, and Linux makes it so on earlier
	// families (MSR C001_1029 bit 1, X86_FEATURE_LFENCE_RDTSC).
	LFENCE
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET

// func ticksPHW() (ticks uint64, aux uint32)
TEXT ·ticksPHW(SB), NOSPLIT, $0-12
	// RDTSCP reads the counter once every earlier instruction has executed
	// and every earlier load is globally visible (Intel SDM vol. 2B).
	RDTSCP
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ticks+0(FP)
	MOVL CX, aux+8(FP)
	RET
