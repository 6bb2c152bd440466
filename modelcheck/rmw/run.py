#!/usr/bin/env python3
"""Runs the configurations of README.md.

    python3 run.py                 # every configuration, 2 workers
    python3 run.py -j 1 NAME ...   # the configurations whose name contains one of the strings
    python3 run.py --list          # names only
    python3 run.py --table         # print the table from results/summary.jsonl

Each run writes results/NAME.txt (verdict, counts, and the shortest counter-example or stuck
state with its trace) and appends one line to results/summary.jsonl.  pypy3 runs it about 1.5x
faster than CPython; nothing else is needed.
"""
import json
import os
import resource
import sys
import time
from multiprocessing import Pool

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from rmw import Model, explore, trace, describe_state, format_history  # noqa: E402

RES = os.path.join(HERE, 'results')


def M(node, name, k=None):
    return ('M', node, k, name)             # increment by k (default 1): a read-modify-write


def W(node, val, name):
    return ('W', node, val, name)           # blind write of a distinct value


def Rd(node, name):
    return ('R', node, None, name)          # read, served at a Valid key of an Active member


CONFIGS = []


def cfg(name, what, clients, expect, maxs=3_000_000, tl=480, **kw):
    CONFIGS.append(dict(name=name, what=what, clients=clients, expect=expect, maxs=maxs, tl=tl, kw=kw))


# Client sets.  Each inner list is one client issuing its operations in order.
I2 = [[M('A', 'ia')], [M('B', 'ib')]]                       # two concurrent increments
I2R = [[M('A', 'ia')], [M('B', 'ib')], [Rd('C', 'rc')]]
I2W = [[M('A', 'ia')], [M('B', 'ib')], [W('C', 10, 'wc')]]
I3 = [[M('A', 'ia')], [M('B', 'ib')], [M('C', 'ic')]]
IAA = [[M('A', 'ia1'), M('A', 'ia2')], [M('B', 'ib')]]
GAP = [[W('A', 10, 'wa')], [W('B', 20, 'wb')], [M('C', 'ic'), Rd('C', 'rc')], [Rd('A', 'ra')]]
I1 = [[M('A', 'ia')]]
I1W = [[M('A', 'ia')], [W('B', 10, 'wb')]]

SYNC = dict(DUR='sync')                      # persists complete within the step (no crash in these)
B0 = dict(REPLAY='budget', REPLAYS=0)        # replays only on a quiet network (+ orphan/restart replays)
B1 = dict(REPLAY='budget', REPLAYS=1)        # + one replay at any moment
B2 = dict(REPLAY='budget', REPLAYS=2)
R0 = dict(RANKS=(0,))                        # one rank: RMWs on one base are ordered by `by` (B > A)
RM = dict(VCS=1, REMOVE=('A', 'B', 'C'), RETX='quiet')   # one removal of any live node (false suspicion)
FIX = dict(FIX='ackflag')                    # the 11.4 fix proposed in README.md
CR = dict(CRASHES=1, RETX='quiet')

# ---------------------------------------------------------------- the rule as written (§11)
cfg('doc-I2', 'rule as written: 2 increments, no fault', I2, 'any', **SYNC, **B1, **R0)
cfg('doc-I2-any', 'rule as written: replays at any moment, ranks 0/1', I2, 'any', **SYNC, REPLAY='any')

# ---------------------------------------------------------------- the rule with the 11.4 fix, no faults
cfg('fix-I2', '2 increments, ranks 0/1', I2, 'ok', **SYNC, **B1, **FIX)
cfg('fix-I2-rep2', '2 increments, 2 early replays', I2, 'ok', **SYNC, **B2, **R0, **FIX)
cfg('fix-I2-2n', '2 nodes, ranks 0/1, 2 early replays', I2, 'ok', nodes=('A', 'B'), **SYNC, **B2, **FIX)
cfg('fix-I2R', '2 increments + a read at C', I2R, 'ok', **SYNC, **B1, **R0, **FIX)
cfg('fix-I2W', '2 increments + a blind write at C', I2W, 'ok', **SYNC, **B0, **R0, **FIX)
cfg('fix-I3', '3 increments, one per node', I3, 'ok', **SYNC, **B0, **R0, **FIX)
cfg('fix-IAA', 'A: 2 increments in sequence; B: 1', IAA, 'ok', **SYNC, **B0, **R0, **FIX)
cfg('fix-I2-net', '1 loss + 1 duplicate, retransmission', I2, 'ok', **SYNC, **B0, **R0, **FIX, DROPS=1, DUPS=1,
    RETX='quiet')
# ---------------------------------------------------------------- crashes (explicit persists at the crashing node)
cfg('fix-I2-crashA', 'crash+restart of A (a coordinator)', I2, 'ok', **B0, **R0, **FIX, CRASH=('A',), **CR)
cfg('fix-I2-crashB', 'crash+restart of B (the higher RMW)', I2, 'ok', **B0, **R0, **FIX, CRASH=('B',), **CR)
cfg('fix-I2-crashC', 'crash+restart of C (a follower)', I2, 'ok', **B0, **R0, **FIX, CRASH=('C',), **CR)
# ---------------------------------------------------------------- view changes
cfg('fix-I2-rm', 'one removal of any node, per-node installs', I2, 'ok', **SYNC, **B1, **R0, **FIX, **RM)
cfg('fix-I2-rm-atomic', 'one removal of any node, atomic installs, ranks 0/1', I2, 'ok', **SYNC, **B0, **FIX, **RM,
    VCMODE='atomic')
cfg('fix-I2W-rm', '2 increments + write, one removal', I2W, 'ok', **SYNC, **B0, **R0, **FIX, **RM)
cfg('fix-I2-stopA', 'A crash-stops (explicit persists), then is removed', I2, 'ok', **B0, **R0, **FIX,
    CRASH=('A',), CRASHES=1, CMODE='stop')
cfg('fix-I2-stopB', 'B crash-stops (explicit persists), then is removed', I2, 'ok', **B0, **R0, **FIX,
    CRASH=('B',), CRASHES=1, CMODE='stop')
cfg('fix-I2-readmit', 'removal, re-admission wiped, transfer, promotion', I2, 'ok', **SYNC, **B0, **R0, **FIX,
    VCS=2, REMOVE=('A', 'B', 'C'), READMIT=True, RETX='quiet', maxs=8_000_000, tl=900)
cfg('fix-I2-crashC-rm', 'crash+restart of C and one removal', I2, 'ok', **B0, **R0, **FIX, CRASH=('C',), CRASHES=1,
    **RM, maxs=8_000_000, tl=900)

# ---------------------------------------------------------------- the alternative 11.4 fix
ALT = dict(FIX='nackreplay')
cfg('alt-I2', 'alt fix: 2 increments, ranks 0/1', I2, 'ok', **SYNC, **B1, **ALT)
cfg('alt-I2-rm', 'alt fix: one removal', I2, 'ok', **SYNC, **B1, **R0, **ALT, **RM)
cfg('alt-I2-crashB', 'alt fix: crash+restart of B', I2, 'ok', **B0, **R0, **ALT, CRASH=('B',), **CR)

# ---------------------------------------------------------------- mutants (on top of the fixed rule)
cfg('m1-ack-over-base', 'm1: ACK an RMW INV iff r >= L', I2, 'caught', **SYNC, **B1, **R0, **FIX, **RM, MUT='m1')
cfg('m2-inv-before-durable', 'm2: R2 off, B crashes', I2, 'caught', **B0, **R0, **FIX, MUT='m2', CRASH=('B',), **CR)
cfg('m3-self-ack-after-supersede', 'm3: keep counting itself after supersede', I2, 'caught', **SYNC, **B1, **R0,
    **FIX, **RM, MUT='m3')
cfg('m4-abort-on-nack', 'm4: "no effect" on the NACK alone', I2, 'caught', **SYNC, **B1, **R0, **FIX, MUT='m4')
cfg('m5-hermes-ts', 'm5: RMW ts = (b.version+1, writer), NACK iff L > r', GAP, 'caught', **SYNC, **B0, **R0, **FIX,
    MUT='m5')
cfg('m5h-hermes-gap', 'm5h: Hermes proper (writes +2, RMW +1), NACK iff L > r', GAP, 'any', **SYNC, **B0, **R0,
    **FIX, MUT='m5h')
cfg('m5h-hermes-gap-lin', 'm5h, version-order check off: is the gap client-visible?', GAP, 'any', **SYNC, **B0,
    **R0, **FIX, MUT='m5h', CHAIN=False)
cfg('m5-hermes-ts-lin', 'm5, version-order check off: is the gap client-visible?', GAP, 'any', **SYNC, **B0,
    **R0, **FIX, MUT='m5', CHAIN=False)
cfg('fix-gap', 'the m5 client set under the fixed rule', GAP, 'ok', **SYNC, **B0, **R0, **FIX)
cfg('var-stop-any-refuse', 'engine WIP: adopting anything over a driven RMW stops it (counted as a refusal)',
    I2W, 'any', **SYNC, **B0, **R0, **FIX, STOP='any-refuse')


def main():
    args = sys.argv[1:]
    jobs = 2
    if '-j' in args:
        k = args.index('-j')
        jobs = int(args[k + 1])
        del args[k:k + 2]
    if '--list' in args:
        for c in CONFIGS:
            print(c['name'])
        return
    if '--table' in args:
        table()
        return
    exact = [c for c in CONFIGS if c['name'] in args]
    sel = [c for c in CONFIGS if not args or any(a in c['name'] for a in args)]
    if exact and len(exact) == len(args):
        sel = exact                      # names given exactly: just those
    os.makedirs(RES, exist_ok=True)
    if jobs == 1 or len(sel) == 1:
        for c in sel:
            run_one(c)
    else:
        with Pool(jobs, maxtasksperchild=1) as p:
            for _ in p.imap_unordered(run_one, sel):
                pass
    table()


def run_one(c):
    kw = dict(c['kw'])
    m = Model(name=c['name'], clients=c['clients'], **kw)
    R = explore(m, max_states=c['maxs'], liveness=kw.get('LIVENESS', True), time_limit=c['tl'])
    lines = ['config %s: %s' % (c['name'], c['what']),
             'options: %s' % json.dumps(kw, default=str),
             'clients: %s' % '; '.join(', '.join('%s@%s' % (o[3], o[1]) for o in cl) for cl in c['clients'])]
    if R.violation:
        verdict = 'VIOLATION'
    elif R.truncated:
        verdict = 'PARTIAL'
    elif R.n_deadlock:
        verdict = 'DEADLOCK'
    elif R.n_cannot_finish:
        verdict = 'STUCK'
    else:
        verdict = 'OK'
    lines.append('verdict: %s   states %d   terminal %d   %.0fs   maxrss %d MB' % (
        verdict, R.states, R.terminal, R.secs, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024))
    steps = None
    if R.violation:
        lines.append('violation: ' + R.violation)
        tr, s = trace(m, R, R.violation_sid)
        steps = sum(1 for t in tr if t[:3].strip().rstrip('.').isdigit())
        lines += ['', 'shortest counter-example (%d steps):' % steps] + tr
        lines += ['', 'state at the end:'] + describe_state(m, s) + ['history:'] + format_history(m, m.unpack(s)[2])
    elif R.n_deadlock or R.n_cannot_finish:
        sid = R.deadlock if R.n_deadlock else R.cannot_finish
        lines.append('%d terminal states not done, %s states from which no done state is reachable' % (
            R.n_deadlock, R.n_cannot_finish))
        tr, s = trace(m, R, sid)
        steps = sum(1 for t in tr if t[:3].strip().rstrip('.').isdigit())
        lines += ['', 'shortest trace to a %s state (%d steps):' % ('deadlocked' if R.n_deadlock else 'stuck', steps)] + tr
        lines += ['', 'state at the end:'] + describe_state(m, s) + ['history:'] + format_history(m, m.unpack(s)[2])
    with open(os.path.join(RES, c['name'] + '.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    rec = dict(name=c['name'], what=c['what'], expect=c['expect'], verdict=verdict, states=R.states,
               secs=round(R.secs), steps=steps, violation=R.violation, liveness=kw.get('LIVENESS', True),
               n_deadlock=R.n_deadlock, n_cannot_finish=R.n_cannot_finish, t=time.strftime('%Y-%m-%d %H:%M'))
    with open(os.path.join(RES, 'summary.jsonl'), 'a') as f:
        f.write(json.dumps(rec) + '\n')
    print('%-28s %-10s %9d states %5ds %s' % (c['name'], verdict, R.states, R.secs,
                                              (R.violation or '')[:90]), flush=True)
    return rec


def table():
    path = os.path.join(RES, 'summary.jsonl')
    if not os.path.exists(path):
        return
    last = {}
    for line in open(path):
        r = json.loads(line)
        last[r['name']] = r
    order = [c['name'] for c in CONFIGS]
    print('| config | what | expected | verdict | states | steps | s |')
    print('|---|---|---|---|---:|---:|---:|')
    for nm in order + sorted(set(last) - set(order)):
        if nm not in last:
            continue
        r = last[nm]
        v = r['verdict'] + (' (%s)' % r['violation'].split(':')[0] if r.get('violation') else '')
        print('| %s | %s | %s | %s | %d | %s | %d |' % (nm, r['what'], r['expect'], v, r['states'],
                                                    r['steps'] or '', r['secs']))


if __name__ == '__main__':
    main()
