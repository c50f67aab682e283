package affinity

import "golang.org/x/sys/cpu"

// hostFeatures names the golang.org/x/sys/cpu X86 flags as klauspost/cpuid
// spelled them. Left out: HasAVX512 (a summary of the AVX-512 flags), the
// Xeon Phi HasAVX5124VNNIW and HasAVX5124FMAPS (klauspost/cpuid had no
// name for them), and HasAVX512GFNI, HasAVX512VAES and HasAVX512VPCLMULQDQ,
// which decodeCPUID names from the raw bits as GFNI, VAES and VPCLMULQDQ.
var hostFeatures = []feature{
	{"ADX", &cpu.X86.HasADX},
	{"AESNI", &cpu.X86.HasAES},
	{"AMXBF16", &cpu.X86.HasAMXBF16},
	{"AMXINT8", &cpu.X86.HasAMXInt8},
	{"AMXTILE", &cpu.X86.HasAMXTile},
	{"AVX", &cpu.X86.HasAVX},
	{"AVX2", &cpu.X86.HasAVX2},
	{"AVX512BF16", &cpu.X86.HasAVX512BF16},
	{"AVX512BITALG", &cpu.X86.HasAVX512BITALG},
	{"AVX512BW", &cpu.X86.HasAVX512BW},
	{"AVX512CD", &cpu.X86.HasAVX512CD},
	{"AVX512DQ", &cpu.X86.HasAVX512DQ},
	{"AVX512ER", &cpu.X86.HasAVX512ER},
	{"AVX512F", &cpu.X86.HasAVX512F},
	{"AVX512IFMA", &cpu.X86.HasAVX512IFMA},
	{"AVX512PF", &cpu.X86.HasAVX512PF},
	{"AVX512VBMI", &cpu.X86.HasAVX512VBMI},
	{"AVX512VBMI2", &cpu.X86.HasAVX512VBMI2},
	{"AVX512VL", &cpu.X86.HasAVX512VL},
	{"AVX512VNNI", &cpu.X86.HasAVX512VNNI},
	{"AVX512VPOPCNTDQ", &cpu.X86.HasAVX512VPOPCNTDQ},
	{"AVXIFMA", &cpu.X86.HasAVXIFMA},
	{"AVXVNNI", &cpu.X86.HasAVXVNNI},
	{"AVXVNNIINT8", &cpu.X86.HasAVXVNNIInt8},
	{"BMI1", &cpu.X86.HasBMI1},
	{"BMI2", &cpu.X86.HasBMI2},
	{"CLMUL", &cpu.X86.HasPCLMULQDQ},
	{"CX16", &cpu.X86.HasCX16},
	{"ERMS", &cpu.X86.HasERMS},
	{"F16C", &cpu.X86.HasF16C},
	{"FMA3", &cpu.X86.HasFMA},
	{"LAHF", &cpu.X86.HasLAHF},
	{"LZCNT", &cpu.X86.HasLZCNT},
	{"MOVBE", &cpu.X86.HasMOVBE},
	{"OSXSAVE", &cpu.X86.HasOSXSAVE},
	{"POPCNT", &cpu.X86.HasPOPCNT},
	{"RDRAND", &cpu.X86.HasRDRAND},
	{"RDSEED", &cpu.X86.HasRDSEED},
	{"SSE2", &cpu.X86.HasSSE2},
	{"SSE3", &cpu.X86.HasSSE3},
	{"SSE4", &cpu.X86.HasSSE41}, // SSE4.1
	{"SSE42", &cpu.X86.HasSSE42},
	{"SSSE3", &cpu.X86.HasSSSE3},
	{"XSAVE", &cpu.X86.HasXSAVE},
}
