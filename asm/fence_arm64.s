//go:build !noasm

#include "textflag.h"

// func storeFence()
TEXT ·storeFence(SB), NOSPLIT|NOFRAME, $0-0
	DMB $0xa // ISHST: earlier stores before later ones, inner shareable domain
	RET
