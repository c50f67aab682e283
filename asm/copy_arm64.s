//go:build !noasm

#include "textflag.h"

// func copyNEON(dst, src *byte, n int)
//
// Copies n ≥ 0 bytes with AdvSIMD Q-register pairs (LDP/STP Q, 32 bytes per
// instruction, the idiom of Arm's optimized-routines memcpy). Up to 128
// bytes everything is loaded before anything is stored, so any overlap is
// fine; above 128 it copies forward, which is correct unless dst lies in
// (src, src+n) — Copy sends that case to the builtin copy.
TEXT ·copyNEON(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R1
	MOVD n+16(FP), R2
	ADD  R1, R2, R3 // R3 = src + n
	ADD  R0, R2, R4 // R4 = dst + n
	CMP  $16, R2
	BLE  le16
	CMP  $32, R2
	BLE  le32
	CMP  $64, R2
	BLE  le64
	CMP  $128, R2
	BLE  le128

	// n > 128: keep the first and the last 64 bytes in registers, copy 64
	// bytes per iteration in between, then store the kept head and tail.
	FLDPQ (R1), (F0, F1)
	FLDPQ 32(R1), (F2, F3)
	FLDPQ -64(R3), (F4, F5)
	FLDPQ -32(R3), (F6, F7)
	ADD   $64, R1, R5  // R5: src cursor
	ADD   $64, R0, R6  // R6: dst cursor
	SUB   $64, R4, R7  // R7: the tail's start in dst

loop64:
	FLDPQ (R5), (F16, F17)
	FLDPQ 32(R5), (F18, F19)
	FSTPQ (F16, F17), (R6)
	FSTPQ (F18, F19), 32(R6)
	ADD   $64, R5
	ADD   $64, R6
	CMP   R7, R6
	BLO   loop64

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
