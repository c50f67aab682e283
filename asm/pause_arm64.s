//go:build !noasm

#include "textflag.h"

// func pauseAsm()
TEXT ·pauseAsm(SB), NOSPLIT, $0-0
	ISB $15
	RET

// func spinAsm(n int)
TEXT ·spinAsm(SB), NOSPLIT, $0-8
	MOVD n+0(FP), R0
	CMP  $0, R0
	BLE  done

loop:
	ISB  $15
	SUBS $1, R0, R0
	BNE  loop

done:
	RET
