//go:build !noasm

#include "go_asm.h"
#include "textflag.h"

// The copy routines copy n = min(len(dst), len(src)) bytes and return n,
// with the builtin copy's semantics, overlap included:
//
//   - up to 512 bytes (copyAVX512) or 256 bytes (copyAVX2) they load every
//     byte before storing any, so any overlap is fine;
//   - above that they keep the far end in registers and run a loop of
//     aligned stores: forward when dst does not start inside
//     [src, src+n), backward when it does (then every chunk is loaded
//     before the chunk that could overwrite it is stored);
//   - copyAVX512 copying forward from copyERMS bytes on (ERMS CPUs) is
//     one REP MOVSB, ascending: the builtin copy's result whenever dst
//     does not start inside [src, src+n).
//
// copyAVX512 touches only X16–X31/Y16–Y31/Z16–Z31: EVEX-only registers, so
// no VZEROUPPER is needed and no SSE/AVX transition penalty follows.
// copyAVX2 uses Y0–Y8 and ends with VZEROUPPER.

// func copyVector(dst, src []byte) int
TEXT ·copyVector(SB), NOSPLIT, $0-56
	// Tail-jump (same frame, same arguments) to the routine copySel names.
	CMPB ·copySel(SB), $const_copyKindAVX512
	JNE  avx2
	JMP  ·copyAVX512(SB)

avx2:
	JMP ·copyAVX2(SB)

// func copyAVX512(dst, src []byte) int
TEXT ·copyAVX512(SB), NOSPLIT, $0-56
	MOVQ    dst_base+0(FP), DI
	MOVQ    src_base+24(FP), SI
	MOVQ    dst_len+8(FP), BX
	MOVQ    src_len+32(FP), CX
	CMPQ    CX, BX
	CMOVQLT CX, BX             // BX = n = min(len(dst), len(src))
	MOVQ    BX, ret+48(FP)
	CMPQ    BX, $16
	JBE     z_le16
	CMPQ    BX, $32
	JBE     z_le32
	CMPQ    BX, $64
	JBE     z_le64
	CMPQ    BX, $128
	JBE     z_le128
	CMPQ    BX, $256
	JBE     z_le256
	CMPQ    BX, $512
	JBE     z_le512
	MOVQ    DI, R11            // R11 = dst
	LEAQ    (DI)(BX*1), R8     // R8 = dst + n
	MOVQ    DI, AX
	SUBQ    SI, AX
	CMPQ    AX, BX
	JB      z_backward         // dst - src < n (unsigned): dst starts inside src

	CMPQ    BX, ·copyERMS(SB)
	JAE     z_erms

	// Forward, n > 512: keep the first 64 and the last 256 bytes in
	// registers, copy 256 bytes per iteration to 64-byte-aligned
	// destinations, then store the kept head and tail over the ends.
	VMOVDQU64 (SI), Z16
	VMOVDQU64 -256(SI)(BX*1), Z17
	VMOVDQU64 -192(SI)(BX*1), Z18
	VMOVDQU64 -128(SI)(BX*1), Z19
	VMOVDQU64 -64(SI)(BX*1), Z20
	MOVQ      DI, R9
	ANDQ      $63, R9
	MOVQ      $64, R10
	SUBQ      R9, R10          // R10 = 64 - dst%64, in 1..64: the head covers it
	ADDQ      R10, DI
	ADDQ      R10, SI
	SUBQ      R10, BX          // BX = bytes from the aligned DI to the end, > 256

z_fwd256:
	VMOVDQU64 (SI), Z21
	VMOVDQU64 64(SI), Z22
	VMOVDQU64 128(SI), Z23
	VMOVDQU64 192(SI), Z24
	VMOVDQA64 Z21, (DI)
	VMOVDQA64 Z22, 64(DI)
	VMOVDQA64 Z23, 128(DI)
	VMOVDQA64 Z24, 192(DI)
	ADDQ      $256, SI
	ADDQ      $256, DI
	SUBQ      $256, BX
	CMPQ      BX, $256
	JA        z_fwd256

	// ≤ 256 bytes left: the kept tail covers them.
	VMOVDQU64 Z16, (R11)
	VMOVDQU64 Z17, -256(R8)
	VMOVDQU64 Z18, -192(R8)
	VMOVDQU64 Z19, -128(R8)
	VMOVDQU64 Z20, -64(R8)
	RET

z_erms:
	// Forward, n ≥ copyERMS: REP MOVSB.
	MOVQ BX, CX
	REP; MOVSB
	RET

z_backward:
	// Backward, n > 512: keep the first 256 and the last 64 bytes, copy
	// 256 bytes per iteration from the end down to 64-byte-aligned
	// destinations, then store the kept head and tail.
	VMOVDQU64 (SI), Z17
	VMOVDQU64 64(SI), Z18
	VMOVDQU64 128(SI), Z19
	VMOVDQU64 192(SI), Z20
	VMOVDQU64 -64(SI)(BX*1), Z16
	LEAQ      -1(R8), R10
	ANDQ      $63, R10
	INCQ      R10              // R10 = bytes past dst+n's last 64-byte boundary, in 1..64: the tail covers them
	ADDQ      BX, SI
	SUBQ      R10, SI          // SI = src + n - R10
	MOVQ      R8, DI
	SUBQ      R10, DI          // DI = dst + n - R10, 64-byte aligned
	SUBQ      R10, BX          // BX = bytes from the start to DI, > 256

z_bwd256:
	VMOVDQU64 -64(SI), Z21
	VMOVDQU64 -128(SI), Z22
	VMOVDQU64 -192(SI), Z23
	VMOVDQU64 -256(SI), Z24
	VMOVDQA64 Z21, -64(DI)
	VMOVDQA64 Z22, -128(DI)
	VMOVDQA64 Z23, -192(DI)
	VMOVDQA64 Z24, -256(DI)
	SUBQ      $256, SI
	SUBQ      $256, DI
	SUBQ      $256, BX
	CMPQ      BX, $256
	JA        z_bwd256

	// ≤ 256 bytes left at the front: the kept head covers them.
	VMOVDQU64 Z17, (R11)
	VMOVDQU64 Z18, 64(R11)
	VMOVDQU64 Z19, 128(R11)
	VMOVDQU64 Z20, 192(R11)
	VMOVDQU64 Z16, -64(R8)
	RET

z_le512: // 257..512: four 64-byte vectors from each end
	VMOVDQU64 (SI), Z16
	VMOVDQU64 64(SI), Z17
	VMOVDQU64 128(SI), Z18
	VMOVDQU64 192(SI), Z19
	VMOVDQU64 -256(SI)(BX*1), Z20
	VMOVDQU64 -192(SI)(BX*1), Z21
	VMOVDQU64 -128(SI)(BX*1), Z22
	VMOVDQU64 -64(SI)(BX*1), Z23
	VMOVDQU64 Z16, (DI)
	VMOVDQU64 Z17, 64(DI)
	VMOVDQU64 Z18, 128(DI)
	VMOVDQU64 Z19, 192(DI)
	VMOVDQU64 Z20, -256(DI)(BX*1)
	VMOVDQU64 Z21, -192(DI)(BX*1)
	VMOVDQU64 Z22, -128(DI)(BX*1)
	VMOVDQU64 Z23, -64(DI)(BX*1)
	RET

z_le256: // 129..256: two 64-byte vectors from each end
	VMOVDQU64 (SI), Z16
	VMOVDQU64 64(SI), Z17
	VMOVDQU64 -128(SI)(BX*1), Z18
	VMOVDQU64 -64(SI)(BX*1), Z19
	VMOVDQU64 Z16, (DI)
	VMOVDQU64 Z17, 64(DI)
	VMOVDQU64 Z18, -128(DI)(BX*1)
	VMOVDQU64 Z19, -64(DI)(BX*1)
	RET

z_le128: // 65..128: one 64-byte vector from each end
	VMOVDQU64 (SI), Z16
	VMOVDQU64 -64(SI)(BX*1), Z17
	VMOVDQU64 Z16, (DI)
	VMOVDQU64 Z17, -64(DI)(BX*1)
	RET

z_le64: // 33..64
	VMOVDQU64 (SI), Y16
	VMOVDQU64 -32(SI)(BX*1), Y17
	VMOVDQU64 Y16, (DI)
	VMOVDQU64 Y17, -32(DI)(BX*1)
	RET

z_le32: // 17..32
	VMOVDQU64 (SI), X16
	VMOVDQU64 -16(SI)(BX*1), X17
	VMOVDQU64 X16, (DI)
	VMOVDQU64 X17, -16(DI)(BX*1)
	RET

z_le16: // 0..16
	CMPQ  BX, $8
	JAE   z_8to16
	CMPQ  BX, $4
	JAE   z_4to7
	TESTQ BX, BX
	JEQ   z_done

	// 1..3: bytes 0, n/2 and n-1 cover every byte.
	MOVQ BX, DX
	SHRQ $1, DX
	MOVB (SI), AX
	MOVB (SI)(DX*1), CX
	MOVB -1(SI)(BX*1), R8
	MOVB AX, (DI)
	MOVB CX, (DI)(DX*1)
	MOVB R8, -1(DI)(BX*1)

z_done:
	RET

z_4to7:
	MOVL (SI), AX
	MOVL -4(SI)(BX*1), CX
	MOVL AX, (DI)
	MOVL CX, -4(DI)(BX*1)
	RET

z_8to16:
	MOVQ (SI), AX
	MOVQ -8(SI)(BX*1), CX
	MOVQ AX, (DI)
	MOVQ CX, -8(DI)(BX*1)
	RET

// func copyAVX2(dst, src []byte) int
TEXT ·copyAVX2(SB), NOSPLIT, $0-56
	MOVQ    dst_base+0(FP), DI
	MOVQ    src_base+24(FP), SI
	MOVQ    dst_len+8(FP), BX
	MOVQ    src_len+32(FP), CX
	CMPQ    CX, BX
	CMOVQLT CX, BX             // BX = n = min(len(dst), len(src))
	MOVQ    BX, ret+48(FP)
	CMPQ    BX, $16
	JBE     y_le16
	CMPQ    BX, $32
	JBE     y_le32
	CMPQ    BX, $64
	JBE     y_le64
	CMPQ    BX, $128
	JBE     y_le128
	CMPQ    BX, $256
	JBE     y_le256
	MOVQ    DI, R11            // R11 = dst
	LEAQ    (DI)(BX*1), R8     // R8 = dst + n
	MOVQ    DI, AX
	SUBQ    SI, AX
	CMPQ    AX, BX
	JB      y_backward         // dst - src < n (unsigned): dst starts inside src

	// Forward, n > 256: keep the first 32 and the last 128 bytes in
	// registers, copy 128 bytes per iteration to 32-byte-aligned
	// destinations, then store the kept head and tail over the ends.
	VMOVDQU (SI), Y0
	VMOVDQU -128(SI)(BX*1), Y1
	VMOVDQU -96(SI)(BX*1), Y2
	VMOVDQU -64(SI)(BX*1), Y3
	VMOVDQU -32(SI)(BX*1), Y4
	MOVQ    DI, R9
	ANDQ    $31, R9
	MOVQ    $32, R10
	SUBQ    R9, R10            // R10 = 32 - dst%32, in 1..32: the head covers it
	ADDQ    R10, DI
	ADDQ    R10, SI
	SUBQ    R10, BX            // BX = bytes from the aligned DI to the end, > 128

y_fwd128:
	VMOVDQU (SI), Y5
	VMOVDQU 32(SI), Y6
	VMOVDQU 64(SI), Y7
	VMOVDQU 96(SI), Y8
	VMOVDQA Y5, (DI)
	VMOVDQA Y6, 32(DI)
	VMOVDQA Y7, 64(DI)
	VMOVDQA Y8, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $128, BX
	CMPQ    BX, $128
	JA      y_fwd128

	// ≤ 128 bytes left: the kept tail covers them.
	VMOVDQU Y0, (R11)
	VMOVDQU Y1, -128(R8)
	VMOVDQU Y2, -96(R8)
	VMOVDQU Y3, -64(R8)
	VMOVDQU Y4, -32(R8)
	VZEROUPPER
	RET

y_backward:
	// Backward, n > 256: keep the first 128 and the last 32 bytes, copy
	// 128 bytes per iteration from the end down to 32-byte-aligned
	// destinations, then store the kept head and tail.
	VMOVDQU (SI), Y1
	VMOVDQU 32(SI), Y2
	VMOVDQU 64(SI), Y3
	VMOVDQU 96(SI), Y4
	VMOVDQU -32(SI)(BX*1), Y0
	LEAQ    -1(R8), R10
	ANDQ    $31, R10
	INCQ    R10                // R10 = bytes past dst+n's last 32-byte boundary, in 1..32: the tail covers them
	ADDQ    BX, SI
	SUBQ    R10, SI            // SI = src + n - R10
	MOVQ    R8, DI
	SUBQ    R10, DI            // DI = dst + n - R10, 32-byte aligned
	SUBQ    R10, BX            // BX = bytes from the start to DI, > 128

y_bwd128:
	VMOVDQU -32(SI), Y5
	VMOVDQU -64(SI), Y6
	VMOVDQU -96(SI), Y7
	VMOVDQU -128(SI), Y8
	VMOVDQA Y5, -32(DI)
	VMOVDQA Y6, -64(DI)
	VMOVDQA Y7, -96(DI)
	VMOVDQA Y8, -128(DI)
	SUBQ    $128, SI
	SUBQ    $128, DI
	SUBQ    $128, BX
	CMPQ    BX, $128
	JA      y_bwd128

	// ≤ 128 bytes left at the front: the kept head covers them.
	VMOVDQU Y1, (R11)
	VMOVDQU Y2, 32(R11)
	VMOVDQU Y3, 64(R11)
	VMOVDQU Y4, 96(R11)
	VMOVDQU Y0, -32(R8)
	VZEROUPPER
	RET

y_le256: // 129..256: four 32-byte vectors from each end
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU 64(SI), Y2
	VMOVDQU 96(SI), Y3
	VMOVDQU -128(SI)(BX*1), Y4
	VMOVDQU -96(SI)(BX*1), Y5
	VMOVDQU -64(SI)(BX*1), Y6
	VMOVDQU -32(SI)(BX*1), Y7
	VMOVDQU Y0, (DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, 64(DI)
	VMOVDQU Y3, 96(DI)
	VMOVDQU Y4, -128(DI)(BX*1)
	VMOVDQU Y5, -96(DI)(BX*1)
	VMOVDQU Y6, -64(DI)(BX*1)
	VMOVDQU Y7, -32(DI)(BX*1)
	VZEROUPPER
	RET

y_le128: // 65..128: two 32-byte vectors from each end
	VMOVDQU (SI), Y0
	VMOVDQU 32(SI), Y1
	VMOVDQU -64(SI)(BX*1), Y2
	VMOVDQU -32(SI)(BX*1), Y3
	VMOVDQU Y0, (DI)
	VMOVDQU Y1, 32(DI)
	VMOVDQU Y2, -64(DI)(BX*1)
	VMOVDQU Y3, -32(DI)(BX*1)
	VZEROUPPER
	RET

y_le64: // 33..64: one 32-byte vector from each end
	VMOVDQU (SI), Y0
	VMOVDQU -32(SI)(BX*1), Y1
	VMOVDQU Y0, (DI)
	VMOVDQU Y1, -32(DI)(BX*1)
	VZEROUPPER
	RET

y_le32: // 17..32
	MOVOU (SI), X0
	MOVOU -16(SI)(BX*1), X1
	MOVOU X0, (DI)
	MOVOU X1, -16(DI)(BX*1)
	RET

y_le16: // 0..16
	CMPQ  BX, $8
	JAE   y_8to16
	CMPQ  BX, $4
	JAE   y_4to7
	TESTQ BX, BX
	JEQ   y_done

	// 1..3: bytes 0, n/2 and n-1 cover every byte.
	MOVQ BX, DX
	SHRQ $1, DX
	MOVB (SI), AX
	MOVB (SI)(DX*1), CX
	MOVB -1(SI)(BX*1), R8
	MOVB AX, (DI)
	MOVB CX, (DI)(DX*1)
	MOVB R8, -1(DI)(BX*1)

y_done:
	RET

y_4to7:
	MOVL (SI), AX
	MOVL -4(SI)(BX*1), CX
	MOVL AX, (DI)
	MOVL CX, -4(DI)(BX*1)
	RET

y_8to16:
	MOVQ (SI), AX
	MOVQ -8(SI)(BX*1), CX
	MOVQ AX, (DI)
	MOVQ CX, -8(DI)(BX*1)
	RET
