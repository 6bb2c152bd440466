#!/usr/bin/env python3
"""Replays a hand-written sequence of steps through the model of rmw.py and checks every state.

Used for counter-examples that need more faults than an exhaustive run can reach.  Each step names
an action the model must have enabled at that point (so the run is a legal execution of the
model), e.g.  ('inv', 'ia', 0)  ('dlv', INV, 'A', 'B', ts-pattern)  ('flush', 'X') ...

    python3 scenario.py            # runs every scenario below and prints its trace
"""
import sys
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rmw import Model, describe, describe_state, format_history, INV, ACK, NACK, VAL  # noqa: E402


class Blocked(Exception):
    pass


class Run:
    def __init__(self, m):
        self.m = m
        self.s = m.initial()
        self.k = 0
        self.out = []
        self.violation = None

    def find(self, pred, what):
        cands = [a for a in self.m.actions(self.s) if pred(a)]
        if len(cands) != 1:
            raise Blocked('step %d (%s): %d matching actions among %s' % (
                self.k + 1, what, len(cands), [describe(self.m, a) for a in self.m.actions(self.s)]))
        return cands[0]

    def do(self, a):
        self.k += 1
        log = []
        self.s = self.m.apply(self.s, a, log)
        self.out.append('%2d. %s' % (self.k, describe(self.m, a)))
        self.out.extend(log)
        v = self.m.check(self.s)
        if v is None and not self.m.linearizable(self.m.unpack(self.s)[2]):
            v = 'linearizability: the client history has no legal order'
        if v and not self.violation:
            self.violation = v
            self.out.append('    *** VIOLATION: ' + v)
        return self

    # ---- step helpers (names are node names / op names)
    def n(self, name):
        return self.m.names.index(name)

    def op(self, name):
        return [o.oid for o in self.m.ops if o.name == name][0]

    def inv(self, opname, rank=None):
        oid = self.op(opname)
        return self.do(self.find(lambda a: a[0] == 'inv' and a[1] == oid and a[2] == rank, 'invoke ' + opname))

    def dlv(self, typ, src, dst, ts=None, ep=None):
        s, d = self.n(src), self.n(dst)
        return self.do(self.find(lambda a: a[0] == 'dlv' and a[1][0] == typ and a[1][2] == s and a[1][1] == d and
                                 (ts is None or ts(a[1][4])) and (ep is None or a[1][3] == ep),
                                 'deliver %s %s->%s' % (typ, src, dst)))

    def flush(self, node):
        i = self.n(node)
        return self.do(self.find(lambda a: a[0] == 'flush' and a[1] == i, 'flush ' + node))

    def replay(self, node):
        i = self.n(node)
        return self.do(self.find(lambda a: a[0] == 'replay' and a[1] == i, 'replay at ' + node))

    def crash(self, node):
        i = self.n(node)
        return self.do(self.find(lambda a: a[0] == 'crash' and a[1] == i, 'crash ' + node))

    def restart(self, node):
        i = self.n(node)
        return self.do(self.find(lambda a: a[0] == 'restart' and a[1] == i, 'restart ' + node))

    def remove(self, node):
        i = self.n(node)
        return self.do(self.find(lambda a: a[0] == 'vc' and a[1] == 'rm' and a[2] == i, 'remove ' + node))

    def install(self, node):
        i = self.n(node)
        return self.do(self.find(lambda a: a[0] == 'install' and a[1] == i, 'install at ' + node))

    def report(self, final=True):
        print('\n'.join(self.out))
        print('state at the end:')
        print('\n'.join(describe_state(self.m, self.s)))
        print('history:')
        print('\n'.join(format_history(self.m, self.m.unpack(self.s)[2])))
        if final:
            print('RESULT:', self.violation or 'no violation')
        return self.violation


def by(node_idx):
    """Pattern: an RMW ts issued by node index node_idx."""
    return lambda ts: bool(ts[4]) and ts[4][2] == node_idx


CLIENTS = [[('M', 'A', 1, 'ia')], [('M', 'B', 10, 'ib')], [('R', 'X', None, 'rx')]]


def replay_before_durable(x_valid=False, **fix):
    """X replays r2 (an orphan replay when it installs the view without r2's coordinator B) before its
    own persist of r2 is durable, then crashes and forgets r2; A commits r1 (its client is told so),
    crashes before its lazy Valid flag is durable, and on restart supersedes r1 by X's old INV of r2."""
    kw = dict(name='replay-before-durable', nodes=('A', 'B', 'X'), clients=CLIENTS, RANKS=(0,), FIX='ackflag',
              CRASH=('A', 'X'), CRASHES=2, VCS=1, REMOVE=('B',), REPLAY='budget', REPLAYS=1, RETX='quiet',
              PURGE=False)
    kw.update(fix)
    m = Model(**kw)
    A, B, X = 0, 1, 2
    r = Run(m)
    try:
        steps(r, A, B, X, x_valid)
    except Blocked as e:
        r.out.append('    the next step of the scenario is not possible: %s' % e)
        r.report(final=False)
        print('RESULT: blocked (no violation on this path)')
        return None
    return r.report()


def steps(r, A, B, X, x_valid):
    r.inv('ib', 0)                       # B: r2 = RMW on Z (+10); it outranks A's r1 below (same rank, by B > A)
    r.dlv(INV, 'B', 'X', by(B))          # X adopts r2 in memory; its persist is not durable yet
    r.remove('B')                        # view e1 = {A, X}: B is (falsely) suspected and removed
    r.install('X')                       # X: r2's coordinator is gone and X is Invalid at r2: orphan replay
    #                                      (§4.6 a); its INV r2 (e1) to A leaves before X's persist
    r.crash('X')                         # ... which never completes: X restarts at Z, without r2
    r.restart('X')
    r.install('A')
    r.inv('ia', 0)                       # A: r1 = RMW on Z (+1), below r2
    r.flush('A')                         # R2: A's INV leaves once r1 is durable at A
    r.dlv(INV, 'A', 'X', by(A))          # X adopts r1
    r.flush('X')                         # P1: X's ACK leaves
    r.dlv(ACK, 'X', 'A', by(A))          # A commits r1 in e1; its client is told "committed (0 -> 1)"
    if x_valid:
        r.dlv(VAL, 'A', 'X', by(A))      # variant: X learns the commit and is Valid at r1
    r.crash('A')                         # A's Valid flag for r1 was a lazy hint (P3), not yet durable
    r.restart('A')                       # A: r1 Invalid again; replays r1
    r.dlv(INV, 'X', 'A', by(B))          # X's old INV of r2 arrives: A is Invalid at r1, Z < r1 < r2: supersede
    r.flush('A')
    r.replay('A')                        # A now drives r2 (T_stuck)
    r.dlv(INV, 'A', 'X', by(B), ep=1)    # X has not yet had VAL(r1): Invalid at r1 < r2: supersede, ACK
    r.flush('X')
    r.dlv(ACK, 'X', 'A', by(B))          # A commits r2: r1 and r2 are both committed
    r.dlv(VAL, 'A', 'X', by(B))
    oid = r.op('rx')
    r.do(r.find(lambda a: a[0] == 'inv' and a[1] == oid, 'read at X'))   # reads 10: ia's +1 is lost


def main():
    print('=== 1. replay before durable (rule with the 11.4 fix; replays may leave before their persist)')
    replay_before_durable()
    print()
    print('=== 2. the same steps with RDUR (an RMW INV leaves any driver only once its record is durable)')
    replay_before_durable(RDUR=True)
    print()
    print('=== 3. variant: X is Valid at r1 when A replays r2: the rule NACKs (b < L < r, Valid)')
    replay_before_durable(x_valid=True)
    print()
    print('=== 4. the same variant with mutant m1 (ACK iff r >= L): X ACKs r2')
    replay_before_durable(x_valid=True, MUT='m1')


if __name__ == '__main__':
    main()
