/* The process and cgroup filters every tool shares (src/modules/shared/filter.ts fills them).
 *
 * filter_tgids holds the thread-group ids (PIDs) chosen by the `process` option; the agent
 * rescans /proc and updates the map while the programs run, so it is a map, not rodata.
 * filter_tgid_on and filter_cgroup_id are fixed at load (rodata) so that with no filter the
 * verifier prunes the checks away and the unfiltered path costs nothing. */
#ifndef PMDA_EBPF_FILTER_BPF_H
#define PMDA_EBPF_FILTER_BPF_H

#include "common.bpf.h"

#define FILTER_MAX_TGIDS 8192

const volatile bool filter_tgid_on = false;
const volatile __u64 filter_cgroup_id = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FILTER_MAX_TGIDS);
	__type(key, __u32);
	__type(value, __u8);
} filter_tgids SEC(".maps");

static __always_inline bool pass_tgid(__u32 tgid)
{
	if (!filter_tgid_on)
		return true;
	return bpf_map_lookup_elem(&filter_tgids, &tgid) != NULL;
}

/* cgroup v2 id of a task: the kernfs node id of its default-hierarchy cgroup, which is the
 * inode number of the cgroup's directory. */
static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return BPF_CORE_READ(t, cgroups, dfl_cgrp, kn, id);
}

/* For hooks that run in the context of the task being measured. */
static __always_inline bool pass_filter(void)
{
	if (filter_cgroup_id && bpf_get_current_cgroup_id() != filter_cgroup_id)
		return false;
	return pass_tgid(bpf_get_current_pid_tgid() >> 32);
}

/* For hooks that see another task (a wakeup names the task being woken, not current). */
static __always_inline bool pass_filter_task(struct task_struct *t)
{
	if (filter_cgroup_id && task_cgroup_id(t) != filter_cgroup_id)
		return false;
	if (!filter_tgid_on)
		return true;
	return pass_tgid(BPF_CORE_READ(t, tgid));
}

#endif
