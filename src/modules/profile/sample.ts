// One symbolised stack and how often it was sampled, as the profile module passes it from the
// sampler to its two consumers (the on-demand tree and the continuous hot-stack metric).

export interface Sample {
  /** Thread-group id (the process). */
  pid: number;
  /** Name of the sampled thread. */
  comm: string;
  /** User frames, outermost first (main before the leaf). */
  user: string[];
  /** Kernel frames, outermost first (the syscall entry before the leaf). */
  kernel: string[];
  /** The user stack was wanted but could not be stored (stack map collision or full). */
  userMissed: boolean;
  kernelMissed: boolean;
  count: number;
}

/** pmdabcc's placeholders for a stack that bpf_get_stackid could not store. */
export const MISSED_USER = '[Missed User Stack]';
export const MISSED_KERNEL = '[Missed Kernel Stack]';
