// Reference consumer for bench/events.bench.ts: libbpf's own ring_buffer__poll() on the
// evbench producer, with a callback that reads the record's fields as the agent's sink does.
// Usage: ringbuf_consumer OBJ TARGET_PID RING_BYTES [poll|drain]; prints "ready", then
//   poll:  consumes with ring_buffer__poll() until a line on stdin says the producer finished;
//   drain: for each line on stdin (the producer has just filled the ring and stopped), times
//          ring_buffer__consume() emptying the ring and prints "<records> <ns>"; a line
//          starting with q ends the rounds (the consumer's own speed, no producer running);
// then drains the rest and prints "<records> <kernel drops> <cpu seconds> <checksum>".
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct evbench_event {
	unsigned long long seq, ts_ns;
	unsigned int pid, cpu;
};

static unsigned long long records, checksum;

static int on_record(void *ctx, void *data, size_t size)
{
	const struct evbench_event *e = data;

	records++;
	checksum += e->seq + e->pid;
	return 0;
}

/* Set a `const volatile` u32 in .rodata by name (no skeleton: find it in the object's BTF). */
static int set_rodata_u32(struct bpf_object *obj, const char *name, unsigned int value)
{
	struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *ro = bpf_object__find_map_by_name(obj, ".rodata");
	int id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
	const struct btf_type *sec;
	const struct btf_var_secinfo *v;
	size_t sz;
	void *data;

	if (!ro || id < 0)
		return -1;
	data = (void *)bpf_map__initial_value(ro, &sz);
	sec = btf__type_by_id(btf, id);
	v = btf_var_secinfos(sec);
	for (int i = 0; i < btf_vlen(sec); i++, v++) {
		const struct btf_type *t = btf__type_by_id(btf, v->type);

		if (strcmp(btf__name_by_offset(btf, t->name_off), name) == 0) {
			memcpy((char *)data + v->offset, &value, sizeof(value));
			return 0;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct ring_buffer *rb;
	struct rusage ru;
	unsigned long long drops = 0, vals[1024];
	unsigned int zero = 0;
	int ncpu = libbpf_num_possible_cpus(), done = 0;
	struct pollfd in = { .fd = 0, .events = POLLIN };
	int drain_mode = argc > 4 && strcmp(argv[4], "drain") == 0;
	struct timespec t0, t1;
	char line[16];

	if (argc < 4)
		return 2;
	libbpf_set_print(NULL);
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || set_rodata_u32(obj, "target_tgid", atoi(argv[2])))
		return 3;
	bpf_program__set_autoload(bpf_object__find_program_by_name(obj, "evbench_varlen"), false);
	bpf_map__set_max_entries(bpf_object__find_map_by_name(obj, "events"), atoi(argv[3]));
	if (bpf_object__load(obj))
		return 4;
	if (!bpf_program__attach(bpf_object__find_program_by_name(obj, "evbench_getppid")))
		return 5;
	rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "events")), on_record, NULL, NULL);
	if (!rb)
		return 6;
	printf("ready\n");
	fflush(stdout);
	while (drain_mode && fgets(line, sizeof(line), stdin) && line[0] != 'q') {
		unsigned long long before = records;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (ring_buffer__consume(rb) > 0)
			;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("%llu %lld\n", records - before,
		       (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
		fflush(stdout);
	}
	while (!done && !drain_mode) {
		ring_buffer__poll(rb, 100);
		if (poll(&in, 1, 0) > 0)
			done = 1;
	}
	while (ring_buffer__consume(rb) > 0)
		;
	bpf_map_lookup_elem(bpf_map__fd(bpf_object__find_map_by_name(obj, "drops")), &zero, vals);
	for (int c = 0; c < ncpu && c < 1024; c++)
		drops += vals[c];
	getrusage(RUSAGE_SELF, &ru);
	printf("%llu %llu %.3f %llu\n", records, drops,
	       ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6, checksum);
	ring_buffer__free(rb);
	bpf_object__close(obj);
	return 0;
}
