# A PMAPI client holding ONE pmcd context (as pmlogger or pmie do) that fetches the named
# metrics together N times, every S seconds, and prints each result as a JSON line
# {metric: {instance name: value}}. Run with Debian's /usr/bin/python3 (the pcp module).
# usage: pmapi-sample.py metric[,metric...] N S
import json, sys, time
from pcp import pmapi
import cpmapi as c
names = sys.argv[1].split(',')
n = int(sys.argv[2]); every = float(sys.argv[3])
ctx = pmapi.pmContext(c.PM_CONTEXT_HOST, 'local:')
pmids = ctx.pmLookupName(names)
descs = ctx.pmLookupDescs(pmids)
for i in range(n):
    if i: time.sleep(every)
    r = ctx.pmFetch(pmids)
    out = {}
    for k, name in enumerate(names):
        vs = {}
        for j in range(r.contents.get_numval(k)):
            inst = r.contents.get_inst(k, j)
            iname = ctx.pmNameInDom(descs[k], inst)
            atom = ctx.pmExtractValue(r.contents.get_valfmt(k), r.contents.get_vlist(k, j), descs[k].type, descs[k].type)
            v = atom.d if descs[k].type == c.PM_TYPE_DOUBLE else atom.ull
            vs[iname] = v
        out[name] = vs
    print(json.dumps(out), flush=True)
    ctx.pmFreeResult(r)
