//go:build !noasm

#include "textflag.h"

// func copyNEON(dst, src []byte) int
//
// Copies n = min(len(dst), len(src)) bytes and returns n, with the builtin
// copy's semantics, overlap included. It uses AdvSIMD Q-register pairs
// (LDP/STP Q, 32 bytes per instruction, the idiom of Arm's
// optimized-routines memcpy). Up to 128 bytes it loads everything before it
// stores anything, so any overlap is fine; above that it keeps both ends in
// registers and copies 64 bytes per iteration, forward unless dst starts
// inside [src, src+n), backward if it does.
TEXT ·copyNEON(SB), NOSPLIT, $0-56
	MOVD dst_base+0(FP), R0
	MOVD src_base+24(FP), R1
	MOVD dst_len+8(FP), R2
	MOVD src_len+32(FP), R3
	CMP  R2, R3
	CSEL LT, R3, R2, R2 // R2 = n = min(len(dst), len(src))
	MOVD R2, ret+48(FP)
	ADD  R1, R2, R3     // R3 = src + n
	ADD  R0, R2, R4     // R4 = dst + n
	CMP  $16, R2
	BLE  le16
	CMP  $32, R2
	BLE  le32
	CMP  $64, R2
	BLE  le64
	CMP  $128, R2
	BLE  le128

	// n > 128: keep the first and the last 64 bytes in registers.
	FLDPQ (R1), (F0, F1)
	FLDPQ 32(R1), (F2, F3)
	FLDPQ -64(R3), (F4, F5)
	FLDPQ -32(R3), (F6, F7)
	SUB   R1, R0, R8
	CMP   R2, R8
	BLO   backward      // dst - src < n (unsigned): dst starts inside src

	// Forward: 64 bytes per iteration from dst+64 while the chunk ends
	// before the tail's start, then the kept head and tail.
	ADD $64, R1, R5     // R5: src cursor
	ADD $64, R0, R6     // R6: dst cursor
	SUB $64, R4, R7     // R7: the tail's start in dst

fwd64:
	FLDPQ (R5), (F16, F17)
	FLDPQ 32(R5), (F18, F19)
	FSTPQ (F16, F17), (R6)
	FSTPQ (F18, F19), 32(R6)
	ADD   $64, R5
	ADD   $64, R6
	CMP   R7, R6
	BLO   fwd64
	B     ends

backward:
	// Backward: 64 bytes per iteration ending at dst+n-64, down while the
	// chunk starts after the head's end, then the kept head and tail.
	SUB $64, R3, R5     // R5: src cursor (chunk end)
	SUB $64, R4, R6     // R6: dst cursor (chunk end)
	ADD $64, R0, R7     // R7: the head's end in dst

bwd64:
	FLDPQ -64(R5), (F16, F17)
	FLDPQ -32(R5), (F18, F19)
	FSTPQ (F16, F17), -64(R6)
	FSTPQ (F18, F19), -32(R6)
	SUB   $64, R5
	SUB   $64, R6
	CMP   R7, R6
	BHI   bwd64

ends:
	FSTPQ (F0, F1), (R0)
	FSTPQ (F2, F3), 32(R0)
	FSTPQ (F4, F5), -64(R4)
	FSTPQ (F6, F7), -32(R4)
	RET

le128: // 65..128: 64 bytes from each end
	FLDPQ (R1), (F0, F1)
	FLDPQ 32(R1), (F2, F3)
	FLDPQ -64(R3), (F4, F5)
	FLDPQ -32(R3), (F6, F7)
	FSTPQ (F0, F1), (R0)
	FSTPQ (F2, F3), 32(R0)
	FSTPQ (F4, F5), -64(R4)
	FSTPQ (F6, F7), -32(R4)
	RET

le64: // 33..64: 32 bytes from each end
	FLDPQ (R1), (F0, F1)
	FLDPQ -32(R3), (F2, F3)
	FSTPQ (F0, F1), (R0)
	FSTPQ (F2, F3), -32(R4)
	RET

le32: // 17..32: 16 bytes from each end
	FMOVQ (R1), F0
	FMOVQ -16(R3), F1
	FMOVQ F0, (R0)
	FMOVQ F1, -16(R4)
	RET

le16: // 0..16
	CMP  $8, R2
	BLT  lt8
	MOVD (R1), R5
	MOVD -8(R3), R6
	MOVD R5, (R0)
	MOVD R6, -8(R4)
	RET

lt8:
	CMP   $4, R2
	BLT   lt4
	MOVWU (R1), R5
	MOVWU -4(R3), R6
	MOVW  R5, (R0)
	MOVW  R6, -4(R4)
	RET

lt4: // 0..3: bytes 0, n/2 and n-1 cover every byte
	CBZ   R2, done
	LSR   $1, R2, R5
	MOVBU (R1), R6
	MOVBU (R1)(R5), R7
	MOVBU -1(R3), R8
	MOVB  R6, (R0)
	MOVB  R7, (R0)(R5)
	MOVB  R8, -1(R4)

done:
	RET
