package affinity

import "golang.org/x/sys/cpu"

// hostFeatures names the golang.org/x/sys/cpu ARM64 flags (from the
// kernel's HWCAP) as klauspost/cpuid spelled them; DIT, which it had no name
// for, keeps x/sys/cpu's.
var hostFeatures = []feature{
	{"AESARM", &cpu.ARM64.HasAES},
	{"ARMCPUID", &cpu.ARM64.HasCPUID},
	{"ASIMD", &cpu.ARM64.HasASIMD},
	{"ASIMDDP", &cpu.ARM64.HasASIMDDP},
	{"ASIMDHP", &cpu.ARM64.HasASIMDHP},
	{"ASIMDRDM", &cpu.ARM64.HasASIMDRDM},
	{"ATOMICS", &cpu.ARM64.HasATOMICS},
	{"CRC32", &cpu.ARM64.HasCRC32},
	{"DCPOP", &cpu.ARM64.HasDCPOP},
	{"DIT", &cpu.ARM64.HasDIT},
	{"EVTSTRM", &cpu.ARM64.HasEVTSTRM},
	{"FCMA", &cpu.ARM64.HasFCMA},
	{"FHM", &cpu.ARM64.HasASIMDFHM},
	{"FP", &cpu.ARM64.HasFP},
	{"FPHP", &cpu.ARM64.HasFPHP},
	{"I8MM", &cpu.ARM64.HasI8MM},
	{"JSCVT", &cpu.ARM64.HasJSCVT},
	{"LRCPC", &cpu.ARM64.HasLRCPC},
	{"PMULL", &cpu.ARM64.HasPMULL},
	{"SHA1", &cpu.ARM64.HasSHA1},
	{"SHA2", &cpu.ARM64.HasSHA2},
	{"SHA3", &cpu.ARM64.HasSHA3},
	{"SHA512", &cpu.ARM64.HasSHA512},
	{"SM3", &cpu.ARM64.HasSM3},
	{"SM4", &cpu.ARM64.HasSM4},
	{"SVE", &cpu.ARM64.HasSVE},
	{"SVE2", &cpu.ARM64.HasSVE2},
}
