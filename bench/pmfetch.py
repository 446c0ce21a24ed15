#!/usr/bin/python3
# Times pmFetch through pmcd with PCP's own client library (python3-pcp), so that two agents
# are measured by the same client: prints one JSON line {metric: {n, median_us, p99_us, ninst}}.
import json
import sys
import time

from pcp import pmapi


def main():
    n = int(sys.argv[1])
    names = sys.argv[2:]
    ctx = pmapi.pmContext(pmapi.c_api.PM_CONTEXT_HOST, "local:")
    out = {}
    for name in names:
        pmids = ctx.pmLookupName([name])
        # Warm-up: descriptor and instance caches, the agent's first refresh.
        for _ in range(20):
            res = ctx.pmFetch(pmids)
            ninst = res.contents.get_numval(0)
            ctx.pmFreeResult(res)
        samples = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            res = ctx.pmFetch(pmids)
            t1 = time.perf_counter_ns()
            ctx.pmFreeResult(res)
            samples.append((t1 - t0) / 1000.0)
        samples.sort()
        out[name] = {
            "n": n,
            "ninst": ninst,
            "median_us": round(samples[n // 2], 1),
            "p99_us": round(samples[min(n - 1, int(n * 0.99))], 1),
        }
    print(json.dumps(out))


main()
