// The libbpf face: the only part of the agent that talks to libbpf (see README.md here).
export { BpfError, NoVariantError, errnoName, errnoText } from './errors';
export { kernelFeatures, ensureTracefs, tracefsRoot, releaseFeatureCaches } from './features';
export { BpfLink } from './link';
export { type ExpectedLayout, type FieldLayout, type StructLayout } from './btf-layout';
export { BPF_MAP_TYPE } from './libbpf';
export { setLibbpfLogger, withLibbpfLogger } from './log';
export { BpfMap, type BatchResult } from './map';
export { BpfObject, enableBpfStats, libbpfVersion, possibleCpus, onlineCpus, type GlobalValue, type ProgramStats, type UprobeTarget, type UsdtTarget } from './object';
export { openCpuClockEvent, type PerfEventOptions } from './perf-event';
export { syscallTable, type SyscallTable } from './syscall-names';
export { loadWithVariants, needBtfTracepoints, needKprobes, needTracepoints, variantSummary, type Hook, type Variant, type Loaded } from './variants';
