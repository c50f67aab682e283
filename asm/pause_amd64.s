//go:build !noasm

#include "textflag.h"

// func pauseAsm()
TEXT ·pauseAsm(SB), NOSPLIT, $0-0
	PAUSE
	RET

// func spinAsm(n int)
TEXT ·spinAsm(SB), NOSPLIT, $0-8
	MOVQ n+0(FP), AX
	TESTQ AX, AX
	JLE  done

loop:
	PAUSE
	DECQ AX
	JNZ  loop

done:
	RET
