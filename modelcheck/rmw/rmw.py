#!/usr/bin/env python3
"""
Explicit-state model checker for level2pc's read-modify-write rule (docs/protocol.md §11),
on one key, over the data path of §4 (Ts, INV/ACK/NACK/VAL, P1/P2, replays §4.6), epochs and
views (§7.1, §7.6), restarts (§8.1) and wiped re-admission with state transfer (§8.2).

Written from protocol.md's prose.  Exhaustive BFS over every interleaving, states deduplicated
through canonical tuples.  Plain Python 3, no dependencies.  See README.md for the results.

------------------------------------------------------------------------------------------------
Timestamps (§4.1, §11.1).  A Ts is the tuple (version, node, adm, boot, step):
  writer id = (node, writer boot) with writer boot = (admission epoch, boot count);
  step = () for a write (orders below every step) or
         (depth, rank, by_node, by_adm, by_boot, seq) for an RMW.
  ZERO = (0, -1, 0, 0, ()) is the never-written key, Valid everywhere, value 0.
  write: version = 1 + max(key version, writer's last issued version); ts = (version, me, ()).
  RMW on base b: seq = 1 + max(last issued, b.version) (the counter shared with writes, as the
  engine does), ts = (b.version, b.node, b.adm, b.boot, (depth(b)+1, rank, me, seq)); rank is
  drawn from RANKS (every value explored).
  Mutant m5 (Hermes-style): RMW ts = (seq, me, ()) like a write, plain rule "NACK iff L > r".

Node state (one key):
  up, ep (installed epoch, durable), adm, boot, lastver (memory only),
  entry = (ts, value, valid) and recs = {ts: (base, value)} in memory, xfer (transfer done),
  the durable copy of the same three (dentry, drecs, dxfer),
  cin   = epoch in which the entry's ts was learned committed (own commit / VAL's epoch), -1 if
          unknown (memory only; §11.4),
  drives = {ts: [acks mask, tag, sent]}: tag = client op id (coordinator) or -1 (replay);
          sent = 0 while an INV must still wait for durability (R2),
  outq  = ACK/NACK replies waiting for durability (P1), dropped on a new epoch or a crash.
Durability (DUR='explicit'): an explicit 'flush' step per node makes the whole memory state
  durable (persists are applied in order, so every durable state is a prefix of the memory
  history; Valid flags are lazy hints and may be lost in a crash, P3).  ACK/NACK leave only once
  everything staged so far is durable (P1); a driver counts itself only once its record is
  durable (P2); an RMW coordinator's INV leaves only once its entry/record is durable (R2).
  DUR='sync': every step ends with a flush of the nodes it touched (for crash-free runs).
Messages (a multiset, any delivery order): ('I',dst,src,ep,ts,base,val) base=() for a write,
  ('A',dst,src,ep,ts) ACK, ('N',dst,src,ep,ts) NACK, ('V',dst,src,ep,ts) VAL.
  INV/ACK/NACK are processed only in the receiver's installed epoch; VAL in any epoch; all only
  from members of the receiver's installed view, by a member (§4.3).
Receiver rule for an RMW INV r with base b at entry L (§11.2):
  L == r: ACK;  L <= b: adopt, ACK;  b < L < r and Invalid: supersede (adopt, ACK, stop driving L);
  otherwise NACK.  Write INV: adopt if higher, always ACK.
Client answer (§11.4): after a NACK or a supersede the coordinator stops driving r and waits for
  its key to be Valid at V: V == r -> committed; V != r and refused in r's creation epoch e and
  V committed in e and the node still in e -> "no effect" (retried, at most RETRIES times, then
  answered no-effect); otherwise indeterminate.
Views (oracle, §7): a view change removes one member (false suspicion, or a crashed node with
  CMODE='stop'), re-admits a removed node as Joining under a new admission epoch (it wipes its
  state on installing that view, then copies an Active donor's entry, then is promoted by another
  view).  Chain rule: one Active member of the previous view stays Active; at least MINV members.
  VCMODE='lazy': every node installs the newest view in its own step (so old-epoch activity
  goes on for a while); 'atomic': all live nodes install it in the view-change step.
  Installing (§7.6): drop deferred replies, reset ACK sets and re-broadcast every drive, replay
  orphans (coordinator no longer a member, key still Invalid at its ts); a node not listed stops.
Crash (§8.1): memory lost; on restart the node has its durable state, a new boot (new writer id),
  drops records no Invalid entry refers to and replays its own pending updates.
Replays (§4.6 (b)): any holder whose key is Invalid at U's ts may start driving U (same ts, same
  base and value, fresh ACK set) -- REPLAY='any': whenever it has no message of U in flight;
  'budget': REPLAYS times at any moment, otherwise only when nothing is in flight; 'quiet'.
Retransmission (§4.4.3): to a non-acker with no INV or reply of U in flight or pending
  (RETX='any' | 'quiet' | 'off').

Options (Model(...)): RANKS, RETRIES; DUR 'explicit'|'sync'; CRASH/CRASHES/CMODE 'restart'|'stop';
  REMOVE/VCS/READMIT/MINV/VCMODE; DROPS/DUPS; REPLAY 'any'|'budget' (REPLAYS early replays, then only
  on a quiet network)|'quiet'; RETX 'any'|'quiet'|'off'; PURGE (messages to a crashing node are lost);
  FIX None (rule as written) | 'ackflag' ("no effect" only if the coordinator never ACKed its r to
  another driver in e) | 'nackreplay' (the coordinator NACKs replays of r while its client waits);
  RDUR (every RMW INV waits for the sender's durable record); XDUR (donor sends durable state);
  STOP 'doc' | 'any-refuse' | 'any-norefuse' (engine variant: any adoption over a driven RMW stops it);
  MUT m1 (ACK iff r >= L) | m2 (R2 off) | m3 (self-count after supersede) | m4 (no effect on NACK) |
  m5 (RMW ts = (b.version+1, me), NACK iff L > r) | m5h (m5 with writes +2: Hermes proper);
  CHAIN False turns check (d) off (to see whether a version-order violation is client-visible).

Checks in every state: (a) no two conflicting committed RMWs; (b) no RMW answered "no effect"
is committed; (c) HConsistent (Active live members of the newest view that are Valid agree on
ts and value); (d) chain: in Ts order of committed updates every committed RMW directly follows
its base; (e) every Valid entry of a live node is committed; (f) Ts unique per update;
(g) brute-force linearizability of the client history (writes, increments with the value read,
reads).  Liveness: no terminal state that is not done, and (LIVENESS) AG EF done.
"""

import sys
import time
from array import array
from collections import deque

ZERO = (0, -1, 0, 0, ())

# node tuple layout
UP, EP, ADM, BOOT, LV, ENT, RECS, XF, DENT, DRECS, DXF, CIN, DRV, OUTQ = range(14)

INV, ACK, NACK, VAL = 'I', 'A', 'N', 'V'


def depth(ts):
    return ts[4][0] if ts[4] else 0


def coord_of(ts):
    """The node that issued ts (the RMW's coordinator `by`, or the writer)."""
    return ts[4][2] if ts[4] else ts[1]


class Op:
    __slots__ = ('oid', 'client', 'node', 'kind', 'val', 'name')

    def __init__(self, oid, client, kind, node, val, name):
        self.oid, self.client, self.kind, self.node, self.val, self.name = oid, client, kind, node, val, name


class MNode:
    """Mutable copy of one node while a step is applied."""
    __slots__ = ('up', 'ep', 'adm', 'boot', 'lv', 'ent', 'recs', 'xf', 'dent', 'drecs', 'dxf', 'cin',
                 'drv', 'outq')

    def __init__(self, t):
        (self.up, self.ep, self.adm, self.boot, self.lv, self.ent, recs, self.xf, self.dent, drecs,
         self.dxf, self.cin, drv, outq) = t
        self.recs = {r[0]: (r[1], r[2]) for r in recs}
        self.drecs = drecs
        self.drv = {d[0]: [d[1], d[2], d[3]] for d in drv}
        self.outq = list(outq)

    def freeze(self):
        return (self.up, self.ep, self.adm, self.boot, self.lv, self.ent,
                tuple(sorted((t, b, v) for t, (b, v) in self.recs.items())), self.xf,
                self.dent, self.drecs, self.dxf, self.cin,
                tuple(sorted((t, a, g, s) for t, (a, g, s) in self.drv.items())),
                tuple(sorted(set(self.outq))))

    def dirty(self):
        if self.ent != self.dent or self.xf != self.dxf or len(self.recs) != len(self.drecs):
            return True
        g = self.recs.get
        for r in self.drecs:
            if g(r[0]) != (r[1], r[2]):
                return True
        return False

    def durable_rec(self, ts):
        for r in self.drecs:
            if r[0] == ts:
                return True
        return False


class Scratch:
    __slots__ = ('m', 'src', 'psrc', 'nd', 'net', 'ops', 'views', 'committed', 'noeff', 'issued', 'viol',
                 'bud', 'log', 'touched')

    def __init__(self, m, s, log):
        self.m = m
        self.src = s
        nodes, net, ops, views, ghost, bud = s
        self.nd = {}
        self.net = list(net)
        self.ops = list(ops)
        self.views = views
        self.committed, self.noeff, self.issued, self.viol = ghost
        self.bud = bud
        self.log = log
        self.touched = []

    def n(self, i):
        x = self.nd.get(i)
        if x is None:
            x = MNode(self.src[0][i])
            self.nd[i] = x
            self.touched.append(i)
        return x


class Model:
    def __init__(self, name='', nodes=('A', 'B', 'C'), clients=(), RANKS=(0, 1), RETRIES=1,
                 DUR='explicit', MUT=None, DROPS=0, DUPS=0, CRASH=(), CRASHES=0, CMODE='restart',
                 REMOVE=(), READMIT=False, VCS=0, MINV=2, VCMODE='lazy', REPLAY='any', RETX=None,
                 RDUR=False, XDUR=False, STOP='doc', LIVENESS=True, FIX=None, REPLAYS=1, PURGE=True, CHAIN=True,
                 **_):
        self.name = name
        self.names = list(nodes)
        self.N = len(nodes)
        self.ALL = (1 << self.N) - 1
        self.RANKS, self.RETRIES, self.DUR, self.MUT = tuple(RANKS), RETRIES, DUR, MUT
        self.DROPS, self.DUPS = DROPS, DUPS
        self.CRASH = tuple(self.names.index(x) for x in CRASH)
        self.CRASHES, self.CMODE = CRASHES, CMODE
        # Persist timing is observable only through a crash: nodes that never crash complete their
        # persists within the step (their ACK/commit delays are covered by message delays).
        self.syncn = [DUR == 'sync' or i not in self.CRASH for i in range(self.N)]
        self.REMOVE = tuple(self.names.index(x) for x in REMOVE)
        self.READMIT, self.VCS, self.MINV, self.VCMODE = READMIT, VCS, MINV, VCMODE
        self.REPLAY, self.REPLAYS, self.FIX, self.PURGE, self.CHAIN = REPLAY, REPLAYS, FIX, PURGE, CHAIN
        if RETX is None:
            RETX = 'any' if (DROPS or CRASHES) else 'off'
        self.RETX, self.RDUR, self.XDUR, self.STOP = RETX, RDUR, XDUR, STOP
        self.LIVENESS = LIVENESS
        self.ops = []
        self.client_ops = []
        for ci, cl in enumerate(clients):
            ids = []
            for (kind, node, val, nm) in cl:
                op = Op(len(self.ops), ci, kind, self.names.index(node), val, nm)
                self.ops.append(op)
                ids.append(op.oid)
            self.client_ops.append(ids)
        self.nops = len(self.ops)
        self.ops_at = [[o.oid for o in self.ops if o.node == i] for i in range(self.N)]
        self._intern = {}
        self.tab = []
        self.lin_memo = {}

    def intern(self, t):
        """The id of t in the table of state components (states are tuples of these ids)."""
        r = self._intern.get(t)
        if r is None:
            r = len(self.tab)
            self._intern[t] = r
            self.tab.append(t)
        return r

    def pack(self, nodes, net, ops, views, ghost, bud):
        it = self.intern
        return tuple(it(n) for n in nodes) + (it(net), it(ops), it(views), it(ghost), it(bud))

    def unpack(self, p):
        tab = self.tab
        N = self.N
        return (tuple(tab[k] for k in p[:N]), tab[p[N]], tab[p[N + 1]], tab[p[N + 2]], tab[p[N + 3]],
                tab[p[N + 4]])

    # ------------------------------------------------------------------ formatting
    def fts(self, ts):
        if ts is None:
            return '-'
        if ts == ZERO:
            return 'Z'
        ver, node, adm, boot, step = ts
        if node == -1:
            root = 'Z'
        else:
            root = 'w%d%s%s%s' % (ver, self.names[node], ('#%d' % boot) if boot else '', ('@%d' % adm) if adm else '')
        if not step:
            return root
        d, rank, bn, badm, bboot, seq = step
        return '%s+%d/k%d/%s%s%s/s%d' % (root, d, rank, self.names[bn], ('#%d' % bboot) if bboot else '',
                                          ('@%d' % badm) if badm else '', seq)

    def fmsg(self, msg):
        t = msg[0]
        nm = {INV: 'INV', ACK: 'ACK', NACK: 'NACK', VAL: 'VAL'}[t]
        extra = ''
        if t == INV:
            extra = ' base=%s val=%s' % (self.fts(msg[5]) if msg[5] != () else '(write)', msg[6])
        return '%s %s%s %s->%s e%d' % (nm, self.fts(msg[4]), extra, self.names[msg[2]], self.names[msg[1]], msg[3])

    def lg(self, S, text):
        if S.log is not None:
            S.log.append('    ' + text)

    # ------------------------------------------------------------------ initial state
    def initial(self):
        ent = (ZERO, 0, True)
        node = (1, 0, 0, 0, 0, ent, (), 1, ent, (), 1, 0, (), ())
        views = ((self.ALL, self.ALL, tuple(0 for _ in range(self.N))),)
        ops = tuple((0, 0, None, None) for _ in self.ops)
        ghost = (((ZERO, (), 0),), (), (), '')
        bud = (self.DROPS, self.DUPS, self.CRASHES, self.REPLAYS if self.REPLAY == 'budget' else 0, self.VCS)
        return self.pack(tuple(node for _ in range(self.N)), (), ops, views, ghost, bud)

    # ------------------------------------------------------------------ view helpers
    def member(self, S, i, x=None):
        """i is a member of its installed view under its own identity."""
        x = x or S.n(i)
        v = S.views[x.ep]
        return (v[0] >> i) & 1 and v[2][i] == x.adm

    def member_t(self, views, i, nt):
        v = views[nt[EP]]
        return (v[0] >> i) & 1 and v[2][i] == nt[ADM]

    def active_t(self, views, i, nt):
        v = views[nt[EP]]
        return (v[1] >> i) & 1 and v[2][i] == nt[ADM]

    def ready_t(self, views, i, nt):
        """Active member of its installed view, which is the newest (the lease abstraction)."""
        return nt[UP] and nt[EP] == len(views) - 1 and self.active_t(views, i, nt)

    def others(self, S, i):
        x = S.n(i)
        mem = S.views[x.ep][0]
        return [j for j in range(self.N) if j != i and (mem >> j) & 1]

    def others_mask(self, S, i):
        x = S.n(i)
        return S.views[x.ep][0] & ~(1 << i)

    # ------------------------------------------------------------------ sending
    def send(self, S, msg):
        S.net.append(msg)

    def reply(self, S, i, dst, kind, ts):
        x = S.n(i)
        if kind == ACK and self.FIX == 'ackflag':
            for oid in self.ops_at[i]:
                o = S.ops[oid]
                if o[0] in (3, 4) and self.ops[oid].kind == 'M' and o[3][0] == ts and not o[3][6]:
                    S.ops[oid] = o[:3] + (o[3][:6] + (1,),)
        msg = (kind, dst, i, x.ep, ts)
        if self.syncn[i] or not x.dirty():
            self.send(S, msg)
        else:
            x.outq.append(msg)
            if S.log is not None:
                self.lg(S, '%s defers %s to %s until its persist is durable' %
                        (self.names[i], 'ACK' if kind == ACK else 'NACK', self.names[dst]))

    def gated(self, x, ts, tag, base):
        """Whether an INV of ts from this driver must wait for ts's record to be durable."""
        if base == ():
            return False                         # writes: P2 lets the INV leave at once
        if tag >= 0:
            return self.MUT != 'm2'             # R2
        return self.RDUR                         # replays: only with the RDUR fix

    def broadcast(self, S, i, ts):
        x = S.n(i)
        base, val = x.recs[ts]
        for j in self.others(S, i):
            self.send(S, (INV, j, i, x.ep, ts, base, val))

    def may_send_inv(self, x, ts, tag):
        base, _ = x.recs[ts]
        return not self.gated(x, ts, tag, base) or x.durable_rec(ts)

    # ------------------------------------------------------------------ client answers
    def answer(self, S, oid, result):
        st, before, _r, att = S.ops[oid]
        S.ops[oid] = (2, before, result, att)
        op = self.ops[oid]
        if S.log is not None:
            self.lg(S, '-> ANSWER %s: %s' % (op.name, self.fres(result)))

    @staticmethod
    def fres(result):
        k = result[0]
        if k == 'ok':
            return 'written'
        if k == 'rmw':
            return 'committed (read %d, wrote %d)' % (result[1], result[2])
        if k == 'read':
            return 'read %d' % result[1]
        if k == 'noeff':
            return 'NO EFFECT (final)'
        return 'indeterminate'

    def definite_mask(self, ops):
        m = 0
        for i, o in enumerate(ops):
            if o[0] == 2 and o[2][0] != 'ind':
                m |= 1 << i
        return m

    def kill_ops(self, S, i, why):
        for oid in self.ops_at[i]:
            o = S.ops[oid]
            if o[0] in (1, 3, 4):
                if S.log is not None:
                    self.lg(S, '%s: op %s lost (%s)' % (self.names[i], self.ops[oid].name, why))
                self.answer(S, oid, ('ind',))

    def no_effect(self, S, i, oid):
        st, before, res, att = S.ops[oid]
        r, bval, nval, e_r, refused, tries, acked = att
        S.noeff = tuple(sorted(set(S.noeff) | {r}))
        if S.log is not None:
            self.lg(S, '%s: RMW %s attempt %s had NO EFFECT' % (self.names[i], self.ops[oid].name, self.fts(r)))
        if tries < self.RETRIES:
            S.ops[oid] = (1, before, None, (None, None, None, None, 0, tries + 1, 0))
            if S.log is not None:
                self.lg(S, '   (retried: waits to start a new attempt)')
        else:
            self.answer(S, oid, ('noeff',))

    # ------------------------------------------------------------------ starting updates
    def start_write(self, S, i, oid):
        x = S.n(i)
        op = self.ops[oid]
        L = x.ent[0]
        ver = 1 + max(L[0], x.lv)
        if self.MUT == 'm5h':
            ver = max(L[0] + 2, x.lv + 1)         # Hermes: writes add 2, RMWs add 1
        x.lv = ver
        ts = (ver, i, x.adm, x.boot, ())
        self.issue(S, ts)
        x.ent = (ts, op.val, False)
        x.cin = -1
        x.recs[ts] = ((), op.val)
        x.drv[ts] = [0, oid, 1]
        st, before, _r, _a = S.ops[oid]
        S.ops[oid] = (3, before, None, (ts,))
        if S.log is not None:
            self.lg(S, '%s starts write %s: ts=%s value %d; INV to %s' % (
                self.names[i], op.name, self.fts(ts), op.val, ','.join(self.names[j] for j in self.others(S, i))))
        self.broadcast(S, i, ts)

    def start_rmw(self, S, i, oid, rank):
        x = S.n(i)
        op = self.ops[oid]
        b, bval, _valid = x.ent
        nval = bval + (op.val or 1)
        seq = 1 + max(x.lv, b[0])
        x.lv = seq
        if self.MUT in ('m5', 'm5h'):
            r = (seq, i, x.adm, x.boot, ())
        else:
            r = (b[0], b[1], b[2], b[3], (depth(b) + 1, rank, i, x.adm, x.boot, seq))
        self.issue(S, r)
        x.ent = (r, nval, False)
        x.cin = -1
        x.recs[r] = (b, nval)
        st, before, _r, att = S.ops[oid]
        tries = att[5] if att else 0
        S.ops[oid] = (3, before, None, (r, bval, nval, x.ep, 0, tries, 0))
        sent = 0 if self.gated(x, r, oid, b) else 1
        x.drv[r] = [0, oid, sent]
        if S.log is not None:
            self.lg(S, '%s starts RMW %s on base %s (value %d): ts=%s value %d; %s' % (
                self.names[i], op.name, self.fts(b), bval, self.fts(r), nval,
                ('INV to ' + ','.join(self.names[j] for j in self.others(S, i))) if sent else
                'INV waits for its persist (R2)'))
        if sent:
            self.broadcast(S, i, r)

    def issue(self, S, ts):
        if ts in S.issued:
            S.viol = S.viol or ('ts-unique: %s issued twice' % self.fts(ts))
        S.issued = tuple(sorted(set(S.issued) | {ts}))

    # ------------------------------------------------------------------ local follow-ups
    def stop_drive(self, S, i, ts, refused_now, why):
        """Node i stops driving ts (refused or superseded).  refused_now: the refusal happened in
        ts's creation epoch (for the coordinator's client, §11.4)."""
        x = S.n(i)
        acks, tag, sent = x.drv.pop(ts)
        if S.log is not None:
            self.lg(S, '%s stops driving %s (%s)' % (self.names[i], self.fts(ts), why))
        if tag >= 0:
            st, before, res, att = S.ops[tag]
            r, bval, nval, e_r, refused, tries, acked = att
            if self.MUT == 'm4' and why.startswith('NACK'):
                self.no_effect(S, i, tag)
                return
            S.ops[tag] = (4, before, None, (r, bval, nval, e_r, 1 if (refused or refused_now) else 0, tries, acked))

    def adopt(self, S, i, ts, base, val):
        x = S.n(i)
        old = x.ent[0]
        x.ent = (ts, val, False)
        x.cin = -1
        if ts not in x.recs:
            x.recs[ts] = (base, val)
        if self.STOP != 'doc' and old in x.drv and old[4] != () and old != ts:
            # engine work-in-progress variant: any adoption over a driven RMW ends that drive
            e_old = None
            tag = x.drv[old][1]
            if tag >= 0:
                e_old = S.ops[tag][3][3]
            self.stop_drive(S, i, old, self.STOP == 'any-refuse' and e_old == x.ep, 'its entry moved past it')

    def commit(self, S, i, ts):
        x = S.n(i)
        acks, tag, sent = x.drv.pop(ts)
        base = x.recs[ts][0]
        if x.ent[0] == ts and not x.ent[2]:
            x.ent = (ts, x.ent[1], True)
            x.cin = x.ep
        if not any(c[0] == ts for c in S.committed):
            S.committed = tuple(sorted(S.committed + ((ts, base, x.ep),)))
        if S.log is not None:
            self.lg(S, '%s COMMITS %s in e%d (%s); VAL to %s' % (
                self.names[i], self.fts(ts), x.ep, 'validates' if x.ent[0] == ts else 'its key has moved on',
                ','.join(self.names[j] for j in self.others(S, i))))
        for j in self.others(S, i):
            self.send(S, (VAL, j, i, x.ep, ts))
        if tag >= 0:
            self.answer_committed(S, tag)

    def answer_committed(self, S, oid):
        att = S.ops[oid][3]
        if self.ops[oid].kind == 'W':
            self.answer(S, oid, ('ok',))
        else:
            self.answer(S, oid, ('rmw', att[1], att[2]))

    def closure(self, S, i):
        x = S.n(i)
        if not x.up:
            return
        mem = self.member(S, i, x)
        changed = True
        while changed:
            changed = False
            if self.syncn[i] and x.dirty():
                self.flush(S, i, quiet=True)
            if mem:
                need = self.others_mask(S, i)
                for ts in sorted(x.drv):
                    acks, tag, sent = x.drv[ts]
                    if sent and acks & need == need and x.durable_rec(ts):
                        self.commit(S, i, ts)
                        changed = True
            # records: kept while the key is Invalid at their ts or this node drives them (F2)
            for ts in list(x.recs):
                if ts in x.drv or (x.ent[0] == ts and not x.ent[2]):
                    continue
                del x.recs[ts]
                changed = True
            for oid in self.ops_at[i]:
                o = S.ops[oid]
                op = self.ops[oid]
                st = o[0]
                if st == 1 and op.kind == 'R':
                    if x.ent[2] and self.ready_x(S, i, x):
                        self.answer(S, oid, ('read', x.ent[1]))
                        changed = True
                elif st == 4 and x.ent[2]:
                    r, bval, nval, e_r, refused, tries, acked = o[3]
                    V = x.ent[0]
                    if V == r:
                        if S.log is not None:
                            self.lg(S, '%s: key Valid at its RMW %s' % (self.names[i], self.fts(r)))
                        self.answer(S, oid, ('rmw', bval, nval))
                    elif refused and x.cin == e_r and x.ep == e_r and mem and not (self.FIX == 'ackflag' and acked):
                        if S.log is not None:
                            self.lg(S, '%s: key Valid at %s, committed in e%d = creation epoch of %s, which was refused there' % (
                                self.names[i], self.fts(V), x.cin, self.fts(r)))
                        self.no_effect(S, i, oid)
                    else:
                        if S.log is not None:
                            self.lg(S, '%s: key Valid at %s (cin=%s, refused=%d, created e%d, now e%d%s)' % (
                                self.names[i], self.fts(V), x.cin, refused, e_r, x.ep,
                                ', it ACKed a replay of its RMW' if acked and self.FIX == 'ackflag' else ''))
                        self.answer(S, oid, ('ind',))
                    changed = True
            if self.syncn[i] and x.dirty():
                changed = True

    def ready_x(self, S, i, x):
        v = S.views[x.ep]
        return x.up and x.ep == len(S.views) - 1 and (v[1] >> i) & 1 and v[2][i] == x.adm

    def flush(self, S, i, quiet=False):
        x = S.n(i)
        x.dent, x.dxf = x.ent, x.xf
        x.drecs = tuple(sorted((t, b, v) for t, (b, v) in x.recs.items()))
        if not quiet:
            if S.log is not None:
                self.lg(S, '%s: persist durable (entry %s%s, records %s)' % (
                    self.names[i], self.fts(x.ent[0]), '' if x.ent[2] else ' Invalid',
                    ','.join(self.fts(r[0]) for r in x.drecs) or '-'))
        for msg in sorted(set(x.outq)):
            self.send(S, msg)
        x.outq = []
        for ts in sorted(x.drv):
            d = x.drv[ts]
            if not d[2]:
                d[2] = 1
                if S.log is not None:
                    self.lg(S, '%s: INV of %s leaves now (R2)' % (self.names[i], self.fts(ts)))
                self.broadcast(S, i, ts)

    # ------------------------------------------------------------------ message handlers
    def deliver(self, S, msg):
        typ, i, src, ep, ts = msg[:5]
        x = S.n(i)
        if not x.up:
            if S.log is not None:
                self.lg(S, 'lost: %s is down' % self.names[i])
            return
        v = S.views[x.ep]
        if not self.member(S, i, x) or not (v[0] >> src) & 1:
            if S.log is not None:
                self.lg(S, 'dropped: not between members of %s\'s view e%d' % (self.names[i], x.ep))
            return
        if typ != VAL and ep != x.ep:
            if S.log is not None:
                self.lg(S, 'dropped: epoch fence (%s is in e%d)' % (self.names[i], x.ep))
            return
        if typ == INV:
            self.on_inv(S, i, src, ts, msg[5], msg[6])
        elif typ == ACK:
            if ts in x.drv:
                x.drv[ts][0] |= 1 << src
                if S.log is not None:
                    self.lg(S, '%s counts ACK %s from %s' % (self.names[i], self.fts(ts), self.names[src]))
            else:
                if S.log is not None:
                    self.lg(S, '%s: not driving %s, ignored' % (self.names[i], self.fts(ts)))
        elif typ == NACK:
            if ts in x.drv:
                tag = x.drv[ts][1]
                e_r = S.ops[tag][3][3] if tag >= 0 else None
                self.stop_drive(S, i, ts, ep == e_r, 'NACK from %s in e%d' % (self.names[src], ep))
            else:
                if S.log is not None:
                    self.lg(S, '%s: not driving %s, ignored' % (self.names[i], self.fts(ts)))
        else:  # VAL
            if x.ent[0] == ts and not x.ent[2]:
                x.ent = (ts, x.ent[1], True)
                x.cin = ep
                if S.log is not None:
                    self.lg(S, '%s validates %s (committed in e%d)' % (self.names[i], self.fts(ts), ep))
            if ts in x.drv:
                acks, tag, sent = x.drv.pop(ts)
                if S.log is not None:
                    self.lg(S, '%s ends its drive of %s' % (self.names[i], self.fts(ts)))
                if tag >= 0:
                    self.answer_committed(S, tag)
        self.closure(S, i)

    def on_inv(self, S, i, src, r, b, val):
        x = S.n(i)
        L, _lval, valid = x.ent
        nm = self.names[i]
        if b == ():      # a write: adopt if higher, always ACK
            if r > L:
                self.adopt(S, i, r, b, val)
                if S.log is not None:
                    self.lg(S, '%s adopts write %s' % (nm, self.fts(r)))
            else:
                if S.log is not None:
                    self.lg(S, '%s keeps %s (write %s is not higher)' % (nm, self.fts(L), self.fts(r)))
            self.reply(S, i, src, ACK, r)
            return
        mut = self.MUT
        if mut in ('m5', 'm5h'):
            if L > r:
                if S.log is not None:
                    self.lg(S, '%s refuses %s: holds higher %s (Hermes rule)' % (nm, self.fts(r), self.fts(L)))
                self.reply(S, i, src, NACK, r)
                return
            if r > L:
                sup = L in x.drv and L[4] == () and x.recs.get(L, ((),))[0] != ()
                self.adopt(S, i, r, b, val)
                if S.log is not None:
                    self.lg(S, '%s adopts %s' % (nm, self.fts(r)))
                if sup:
                    tag = x.drv[L][1]
                    e_l = S.ops[tag][3][3] if tag >= 0 else None
                    self.stop_drive(S, i, L, e_l == x.ep, 'superseded by %s' % self.fts(r))
            self.reply(S, i, src, ACK, r)
            return
        if L == r:
            if self.FIX == 'nackreplay' and any(S.ops[oid][0] in (3, 4) and S.ops[oid][3] is not None and
                                                S.ops[oid][3][0] == r for oid in self.ops_at[i]):
                if S.log is not None:
                    self.lg(S, '%s refuses a replay of its own RMW %s (its client still waits)' % (nm, self.fts(r)))
                self.reply(S, i, src, NACK, r)
                return
            if S.log is not None:
                self.lg(S, '%s holds %s already: ACK' % (nm, self.fts(r)))
            self.reply(S, i, src, ACK, r)
        elif L <= b:
            self.adopt(S, i, r, b, val)
            if S.log is not None:
                self.lg(S, '%s adopts %s (L=%s <= base %s)' % (nm, self.fts(r), self.fts(L), self.fts(b)))
            self.reply(S, i, src, ACK, r)
        elif b < L < r and (not valid or mut == 'm1'):
            drove = L in x.drv
            self.adopt(S, i, r, b, val)
            if S.log is not None:
                self.lg(S, '%s SUPERSEDES %s by %s%s' % (nm, self.fts(L), self.fts(r), ' (m1: L was Valid)' if valid else ''))
            if drove and L in x.drv and mut != 'm3':
                tag = x.drv[L][1]
                e_l = S.ops[tag][3][3] if tag >= 0 else None
                self.stop_drive(S, i, L, e_l == x.ep, 'superseded by %s' % self.fts(r))
            self.reply(S, i, src, ACK, r)
        else:
            if S.log is not None:
                self.lg(S, '%s REFUSES %s (base %s): holds %s%s' % (nm, self.fts(r), self.fts(b), self.fts(L),
                                                                      ' Valid' if valid else ' Invalid'))
            self.reply(S, i, src, NACK, r)

    # ------------------------------------------------------------------ view installation
    def install(self, S, i):
        x = S.n(i)
        E = len(S.views) - 1
        v = S.views[E]
        was_member = self.member(S, i, x)
        x.ep = E
        nm = self.names[i]
        if (v[0] >> i) & 1 and v[2][i] == x.adm:
            x.outq = []
            # every drive: fresh ACK set, INV again in the new epoch (§7.6 step 2)
            for ts in sorted(x.drv):
                d = x.drv[ts]
                d[0] = 0
                d[2] = 1 if self.may_send_inv(x, ts, d[1]) else 0
                if d[2]:
                    self.broadcast(S, i, ts)
            # orphans (§4.6 (a))
            for ts in sorted(x.recs):
                if ts not in x.drv and x.ent[0] == ts and not x.ent[2] and not (v[0] >> coord_of(ts)) & 1:
                    self.start_replay(S, i, ts, 'orphan')
            if S.log is not None:
                self.lg(S, '%s installs e%d (%s); ACK sets reset, drives re-broadcast' % (
                    nm, E, 'member' if (v[1] >> i) & 1 else 'Joining'))
        elif (v[0] >> i) & 1:
            # re-admitted under a new identity: wipe pre-join state (§8.2)
            x.adm = v[2][i]
            x.ent = x.dent = (ZERO, 0, True)
            x.recs = {}
            x.drecs = ()
            x.xf = x.dxf = 0
            x.drv = {}
            x.outq = []
            x.lv = 0
            x.cin = -1
            if S.log is not None:
                self.lg(S, '%s installs e%d: admitted as Joining (adm %d), WIPES its state' % (nm, E, x.adm))
        else:
            x.drv = {}
            x.outq = []
            self.kill_ops(S, i, 'removed from the view')
            if S.log is not None:
                self.lg(S, '%s installs e%d: no longer a member, stops%s' % (nm, E, '' if was_member else ''))
        self.closure(S, i)

    def start_replay(self, S, i, ts, why):
        x = S.n(i)
        sent = 1 if self.may_send_inv(x, ts, -1) else 0
        x.drv[ts] = [0, -1, sent]
        if S.log is not None:
            self.lg(S, '%s REPLAYS %s (%s)%s' % (self.names[i], self.fts(ts), why,
                                                '' if sent else ', INV waits for its persist (RDUR)'))
        if sent:
            self.broadcast(S, i, ts)

    # ------------------------------------------------------------------ enabled actions
    def actions(self, s):
        nodes, net, ops, views, ghost, bud = self.unpack(s)
        E = len(views) - 1
        N = self.N
        acts = []
        # clients
        for ids in self.client_ops:
            for idx, oid in enumerate(ids):
                st = ops[oid][0]
                if st == 0:
                    if idx == 0 or ops[ids[idx - 1]][0] == 2:
                        op = self.ops[oid]
                        nt = nodes[op.node]
                        if self.ready_t(views, op.node, nt):
                            if op.kind == 'M' and nt[ENT][2]:
                                for rk in self.RANKS:
                                    acts.append(('inv', oid, rk))
                            else:
                                acts.append(('inv', oid, None))
                    break
                if st != 2:
                    break
        for oid, o in enumerate(ops):
            if o[0] == 1:
                op = self.ops[oid]
                if op.kind == 'R':
                    continue
                nt = nodes[op.node]
                if nt[ENT][2] and self.ready_t(views, op.node, nt):
                    if op.kind == 'M':
                        for rk in self.RANKS:
                            acts.append(('start', oid, rk))
                    else:
                        acts.append(('start', oid, None))
        # network
        prev = None
        for msg in net:
            if msg == prev:
                continue
            prev = msg
            acts.append(('dlv', msg))
            if bud[0] > 0:
                acts.append(('drop', msg))
            if bud[1] > 0:
                acts.append(('dup', msg))
        # persists
        if self.DUR == 'explicit':
            for i in self.CRASH:
                nt = nodes[i]
                if nt[UP] and (nt[ENT] != nt[DENT] or nt[XF] != nt[DXF] or
                               tuple(nt[RECS]) != nt[DRECS]):
                    acts.append(('flush', i))
        # replays and retransmissions
        quiet = not net
        if self.REPLAY == 'any' or quiet or (self.REPLAY == 'budget' and bud[3] > 0):
            busy = None
            for i in range(N):
                nt = nodes[i]
                if not nt[UP] or not self.member_t(views, i, nt):
                    continue
                ent = nt[ENT]
                if ent[2]:
                    continue
                ts = ent[0]
                if any(d[0] == ts for d in nt[DRV]):
                    continue
                if not any(r[0] == ts for r in nt[RECS]):
                    continue
                if not quiet:
                    if busy is None:
                        busy = self.busy(net)
                    if (i, ts) in busy:
                        continue
                acts.append(('replay', i, ts))
        if self.RETX == 'any' or (self.RETX == 'quiet' and quiet):
            busy = self.busy(net)
            for i in range(N):
                nt = nodes[i]
                if not nt[UP] or not self.member_t(views, i, nt):
                    continue
                mem = views[nt[EP]][0]
                for (ts, acks, tag, sent) in nt[DRV]:
                    if not sent:
                        continue
                    for j in range(N):
                        if j == i or not (mem >> j) & 1 or (acks >> j) & 1 or not nodes[j][UP]:
                            continue
                        if (i, j, ts) in busy:
                            continue
                        if any(q[1] == i and q[4] == ts for q in nodes[j][OUTQ]):
                            continue
                        acts.append(('retx', i, ts, j))
        # crashes and restarts
        if bud[2] > 0:
            for i in self.CRASH:
                if nodes[i][UP]:
                    acts.append(('crash', i))
        if self.CMODE == 'restart':
            for i in range(N):
                if not nodes[i][UP]:
                    acts.append(('restart', i))
        # view changes
        v = views[E]
        nact = bin(v[1]).count('1')
        nmem = bin(v[0]).count('1')
        if self.CMODE == 'stop':
            for i in range(N):
                if not nodes[i][UP] and (v[0] >> i) & 1:
                    if self.vc_ok(v, i) and E < 6:
                        acts.append(('vc', 'rm', i))
        if bud[4] > 0:
            for i in self.REMOVE:
                if (v[0] >> i) & 1 and nodes[i][UP] and self.vc_ok(v, i):
                    acts.append(('vc', 'rm', i))
            if self.READMIT:
                for i in range(N):
                    nt = nodes[i]
                    if not (v[0] >> i) & 1 and nt[UP] and nt[EP] == E:
                        acts.append(('vc', 'add', i))
        for i in range(N):
            if (v[0] >> i) & 1 and not (v[1] >> i) & 1:
                nt = nodes[i]
                if nt[ADM] == v[2][i] and nt[DXF] and nt[UP]:
                    acts.append(('vc', 'pro', i))
        if self.VCMODE == 'lazy':
            for i in range(N):
                if nodes[i][UP] and nodes[i][EP] < E:
                    acts.append(('install', i))
        # state transfer to a joiner
        for i in range(N):
            nt = nodes[i]
            if nt[UP] and not nt[XF] and self.member_t(views, i, nt):
                for d in range(N):
                    dt = nodes[d]
                    if d != i and dt[UP] and dt[EP] >= nt[ADM] and self.active_t(views, d, dt):
                        acts.append(('xfer', i, d))
        return acts

    def vc_ok(self, v, i):
        mem = v[0] & ~(1 << i)
        act = v[1] & ~(1 << i)
        return act != 0 and bin(mem).count('1') >= self.MINV

    @staticmethod
    def busy(net):
        """(src, ts) with an INV of ts from src in flight, (dst, ts) with a reply to dst in flight,
        and (driver, peer, ts) for either."""
        b = set()
        for m in net:
            if m[0] == INV:
                b.add((m[2], m[4]))
                b.add((m[2], m[1], m[4]))
            elif m[0] in (ACK, NACK):
                b.add((m[1], m[4]))
                b.add((m[1], m[2], m[4]))
        return b

    # ------------------------------------------------------------------ apply one action
    def apply(self, s, act, log=None):
        ps = s
        s = self.unpack(s)
        S = Scratch(self, s, log)
        S.psrc = ps
        k = act[0]
        if k == 'inv':
            oid, rk = act[1], act[2]
            op = self.ops[oid]
            i = op.node
            S.n(i)
            S.ops[oid] = (1, self.definite_mask(S.ops), None, None)
            if S.log is not None:
                self.lg(S, 'client invokes %s at %s' % (op.name, self.names[i]))
            if op.kind == 'W' and S.n(i).ent[2]:
                self.start_write(S, i, oid)
            elif op.kind == 'M' and rk is not None:
                self.start_rmw(S, i, oid, rk)
            self.closure(S, i)
        elif k == 'start':
            oid, rk = act[1], act[2]
            op = self.ops[oid]
            if op.kind == 'W':
                self.start_write(S, op.node, oid)
            else:
                self.start_rmw(S, op.node, oid, rk)
            self.closure(S, op.node)
        elif k == 'dlv':
            S.net.remove(act[1])
            self.deliver(S, act[1])
        elif k == 'drop':
            S.net.remove(act[1])
            S.bud = (S.bud[0] - 1,) + S.bud[1:]
            if S.log is not None:
                self.lg(S, 'message lost')
        elif k == 'dup':
            S.net.append(act[1])
            S.bud = (S.bud[0], S.bud[1] - 1) + S.bud[2:]
            if S.log is not None:
                self.lg(S, 'message duplicated (a copy stays in flight)')
        elif k == 'flush':
            self.flush(S, act[1])
            self.closure(S, act[1])
        elif k == 'replay':
            i, ts = act[1], act[2]
            if self.REPLAY == 'budget' and s[1]:
                S.bud = S.bud[:3] + (S.bud[3] - 1,) + S.bud[4:]
            self.start_replay(S, i, ts, 'timeout')
            self.closure(S, i)
        elif k == 'retx':
            i, ts, j = act[1], act[2], act[3]
            x = S.n(i)
            base, val = x.recs[ts]
            self.send(S, (INV, j, i, x.ep, ts, base, val))
            if S.log is not None:
                self.lg(S, '%s retransmits INV %s to %s' % (self.names[i], self.fts(ts), self.names[j]))
        elif k == 'crash':
            i = act[1]
            x = S.n(i)
            x.up = 0
            x.ent, x.xf = x.dent, x.dxf
            x.recs = {r[0]: (r[1], r[2]) for r in x.drecs}
            x.drv = {}
            x.outq = []
            x.lv = 0
            x.cin = -1
            if self.PURGE:
                S.net = [msg for msg in S.net if msg[1] != i]    # its receive buffers die with it
            S.bud = S.bud[:2] + (S.bud[2] - 1,) + S.bud[3:]
            if S.log is not None:
                self.lg(S, '%s CRASHES: memory lost; durable entry %s%s, records %s' % (
                    self.names[i], self.fts(x.ent[0]), '' if x.ent[2] else ' Invalid',
                    ','.join(self.fts(r[0]) for r in x.drecs) or '-'))
            self.kill_ops(S, i, 'crash')
        elif k == 'restart':
            i = act[1]
            x = S.n(i)
            x.up = 1
            x.boot += 1
            for ts in list(x.recs):
                if not (x.ent[0] == ts and not x.ent[2]):
                    del x.recs[ts]
            if S.log is not None:
                self.lg(S, '%s RESTARTS (boot %d): entry %s%s' % (self.names[i], x.boot, self.fts(x.ent[0]),
                                                                '' if x.ent[2] else ' Invalid'))
            if self.member(S, i, x):
                for ts in sorted(x.recs):
                    if coord_of(ts) == i:
                        self.start_replay(S, i, ts, 'own update of an earlier boot')
            self.closure(S, i)
        elif k == 'vc':
            kind, i = act[1], act[2]
            E = len(S.views)
            mem, actv, adms = S.views[-1]
            adms = list(adms)
            if kind == 'rm':
                mem &= ~(1 << i)
                actv &= ~(1 << i)
                adms[i] = -1
                if S.n(i).up:
                    S.bud = S.bud[:4] + (S.bud[4] - 1,)
            elif kind == 'add':
                mem |= 1 << i
                adms[i] = E
                S.bud = S.bud[:4] + (S.bud[4] - 1,)
            else:
                actv |= 1 << i
            S.views = S.views + ((mem, actv, tuple(adms)),)
            if S.log is not None:
                self.lg(S, 'VIEW e%d decided: %s' % (E, self.fview(S.views[-1])))
            if self.VCMODE == 'atomic':
                for j in range(self.N):
                    if S.n(j).up:
                        self.install(S, j)
        elif k == 'install':
            self.install(S, act[1])
        elif k == 'xfer':
            i, d = act[1], act[2]
            x, dn = S.n(i), S.n(d)
            if self.XDUR:
                de = dn.dent
                drec = {r[0]: (r[1], r[2]) for r in dn.drecs}
            else:
                de = dn.ent
                drec = dn.recs
            xt = x.ent[0]
            if xt > de[0]:
                what = 'keeps its own %s' % self.fts(xt)
            elif xt == de[0]:
                if de[2] and not x.ent[2]:
                    x.ent = (xt, x.ent[1], True)
                    x.cin = -1
                what = 'same ts %s' % self.fts(xt)
            elif not de[2] and de[0] not in drec:
                what = 'skips a pending entry without its record'
            else:
                x.ent = de
                x.cin = -1
                if not de[2]:
                    x.recs[de[0]] = drec[de[0]]
                what = 'installs %s%s' % (self.fts(de[0]), '' if de[2] else ' (pending, with record)')
            x.xf = 1
            if S.log is not None:
                self.lg(S, '%s copies %s\'s entry: %s' % (self.names[i], self.names[d], what))
            self.closure(S, i)
        else:
            raise ValueError(act)
        return self.freeze(S)

    def fview(self, v):
        return '{%s}' % ','.join(self.names[j] + ('' if (v[1] >> j) & 1 else '(Joining)') +
                                 (('@%d' % v[2][j]) if v[2][j] else '')
                                 for j in range(self.N) if (v[0] >> j) & 1)

    def freeze(self, S):
        nodes = list(S.src[0])
        ids = list(S.psrc)
        it = self.intern
        for i in S.touched:
            nodes[i] = S.nd[i].freeze()
            ids[i] = it(nodes[i])
        # purge INV/ACK/NACK that can never be processed: the receiver is past their epoch
        net = [m for m in S.net if m[0] == VAL or m[3] >= nodes[m[1]][EP]]
        net.sort()
        N = self.N
        ids[N] = it(tuple(net))
        src = S.src
        ops = tuple(S.ops)
        if ops != src[2]:
            ids[N + 1] = it(ops)
        if S.views is not src[3]:
            ids[N + 2] = it(S.views)
        g = src[4]
        if S.committed is not g[0] or S.noeff is not g[1] or S.issued is not g[2] or S.viol is not g[3]:
            ids[N + 3] = it((S.committed, S.noeff, S.issued, S.viol))
        if S.bud is not src[5]:
            ids[N + 4] = it(S.bud)
        return tuple(ids)

    # ------------------------------------------------------------------ properties
    def check(self, s):
        """Returns a violation description or None."""
        nodes, net, ops, views, ghost, bud = self.unpack(s)
        committed, noeff, issued, viol = ghost
        if viol:
            return viol
        cts = {c[0] for c in committed}
        # (b)
        for r in noeff:
            if r in cts:
                return 'no-effect-committed: %s was answered "no effect" but committed' % self.fts(r)
        # (a) and (d)
        rm = [c for c in committed if c[1] != ()]
        for i1 in range(len(rm)):
            for i2 in range(len(rm)):
                r1, r2 = rm[i1][0], rm[i2][0]
                b2 = rm[i2][1]
                if r1 != r2 and b2 < r1 < r2:
                    return 'conflict: committed RMWs %s and %s (base %s) conflict' % (
                        self.fts(r1), self.fts(r2), self.fts(b2))
        for k in range(1, len(committed) if self.CHAIN else 0):
            ts, base, _e = committed[k]
            if base != () and base != committed[k - 1][0]:
                return 'chain: committed RMW %s has base %s but follows committed %s' % (
                    self.fts(ts), self.fts(base), self.fts(committed[k - 1][0]))
        # (c), (e)
        E = len(views) - 1
        seen = None
        for i in range(self.N):
            nt = nodes[i]
            if not nt[UP]:
                continue
            ent = nt[ENT]
            if ent[2] and ent[0] not in cts:
                return 'valid-uncommitted: %s is Valid at %s, which never committed' % (self.names[i], self.fts(ent[0]))
            if ent[2] and (views[E][1] >> i) & 1 and views[E][2][i] == nt[ADM]:
                if seen is None:
                    seen = (ent[0], ent[1])
                elif seen != (ent[0], ent[1]):
                    return 'HConsistent: Active members Valid at %s and %s' % (self.fts(seen[0]), self.fts(ent[0]))
        return None

    def hist_key(self, ops):
        return tuple((o[0], o[1], o[2]) for o in ops)

    def linearizable(self, ops):
        key = self.hist_key(ops)
        r = self.lin_memo.get(key)
        if r is not None:
            return r
        need = 0
        cand = []
        for i, (st, before, res, att) in enumerate(ops):
            kind = self.ops[i].kind
            if st == 2:
                if res[0] in ('ok', 'rmw', 'read'):
                    need |= 1 << i
                    cand.append(i)
                elif res[0] == 'ind' and kind != 'R':
                    cand.append(i)
            elif st in (1, 3, 4) and kind != 'R':
                cand.append(i)
        fail = set()
        OPS = self.ops

        def dfs(placed, val):
            if placed & need == need:
                return True
            kk = (placed, val)
            if kk in fail:
                return False
            for i in cand:
                if (placed >> i) & 1:
                    continue
                st, before, res, att = ops[i]
                if before & need & ~placed:
                    continue
                op = OPS[i]
                definite = st == 2 and res[0] != 'ind'
                if op.kind == 'W':
                    nv = op.val
                elif op.kind == 'M':
                    if definite:
                        if val != res[1]:
                            continue
                        nv = res[2]
                    else:
                        nv = val + (op.val or 1)
                else:
                    if val != res[1]:
                        continue
                    nv = val
                if dfs(placed | (1 << i), nv):
                    return True
            fail.add(kk)
            return False

        r = dfs(0, 0)
        self.lin_memo[key] = r
        return r

    def goal(self, s):
        nodes, net, ops, views, ghost, bud = self.unpack(s)
        E = len(views) - 1
        v = views[E]
        for oid, o in enumerate(ops):
            if o[0] == 2:
                continue
            i = self.ops[oid].node
            nt = nodes[i]
            if o[0] == 0 and (not nt[UP] or not ((v[1] >> i) & 1)):
                continue
            return False
        for i in range(self.N):
            nt = nodes[i]
            if not nt[UP]:
                if self.CMODE == 'stop' and not (v[0] >> i) & 1:
                    continue
                return False
            if not (v[0] >> i) & 1:
                continue
            if nt[EP] != E or nt[ADM] != v[2][i]:
                return False
            if not nt[ENT][2] or nt[DRV] or nt[OUTQ] or not nt[XF]:
                return False
        return True


# ====================================================================== explorer
class Result:
    pass


def explore(m, max_states=3_000_000, liveness=True, progress=True, time_limit=None):
    t0 = time.time()
    init = m.initial()
    index = {init: 0}
    states = [init]
    parent = array('i', [-1])
    plabel = [None]
    esrc = array('I')
    edst = array('I')
    q = deque([0])
    R = Result()
    R.violation = None
    R.violation_sid = None
    R.terminal = R.n_deadlock = 0
    R.deadlock = None
    R.truncated = False
    last = t0
    lin_cache_hist = {}
    OPSI = m.N + 1
    while q:
        sid = q.popleft()
        s = states[sid]
        acts = m.actions(s)
        if not acts:
            R.terminal += 1
            if not m.goal(s):
                R.n_deadlock += 1
                if R.deadlock is None:
                    R.deadlock = sid
        for a in acts:
            ns = m.apply(s, a)
            nid = index.get(ns)
            if nid is None:
                nid = len(states)
                index[ns] = nid
                states.append(ns)
                parent.append(sid)
                plabel.append(a)
                v = m.check(ns)
                if v is None and ns[OPSI] != s[OPSI]:
                    hk = m.tab[ns[OPSI]]
                    ok = lin_cache_hist.get(hk)
                    if ok is None:
                        ok = m.linearizable(hk)
                        lin_cache_hist[hk] = ok
                    if not ok:
                        v = 'linearizability: the client history has no legal order'
                if v is not None and R.violation is None:
                    R.violation = v
                    R.violation_sid = nid
                if len(states) >= max_states:
                    R.truncated = True
                q.append(nid)
            if liveness:
                esrc.append(sid)
                edst.append(nid)
        if R.violation is not None:
            break
        if R.truncated:
            break
        if time_limit and time.time() - t0 > time_limit:
            R.truncated = True
            break
        if progress and time.time() - last > 60:
            last = time.time()
            print('   [%s] %d states, queue %d, %.0fs' % (m.name, len(states), len(q), last - t0),
                  file=sys.stderr, flush=True)
    R.states = len(states)
    R.edges = len(esrc) if liveness else None
    R.complete = not q and not R.truncated and R.violation is None
    R.parent, R.plabel, R.states_list = parent, plabel, states
    R.cannot_finish = None
    R.n_cannot_finish = None
    if liveness and R.complete:
        n = len(states)
        cnt = array('I', [0]) * (n + 1)
        for d in edst:
            cnt[d + 1] += 1
        for i in range(n):
            cnt[i + 1] += cnt[i]
        pos = array('I', cnt)
        rev = array('I', [0]) * len(esrc)
        for i in range(len(esrc)):
            d = edst[i]
            rev[pos[d]] = esrc[i]
            pos[d] += 1
        del esrc, edst
        good = bytearray(n)
        stack = [i for i in range(n) if m.goal(states[i])]
        R.n_goal = len(stack)
        for i in stack:
            good[i] = 1
        while stack:
            d = stack.pop()
            for j in range(cnt[d], cnt[d + 1]):
                p = rev[j]
                if not good[p]:
                    good[p] = 1
                    stack.append(p)
        R.n_cannot_finish = n - sum(good)
        if R.n_cannot_finish:
            R.cannot_finish = good.index(0)
    R.secs = time.time() - t0
    return R


def path_to(R, sid):
    path = []
    while sid > 0:
        path.append(R.plabel[sid])
        sid = R.parent[sid]
    path.reverse()
    return path


def trace(m, R, sid):
    s = m.initial()
    out = []
    for k, a in enumerate(path_to(R, sid), 1):
        log = []
        s = m.apply(s, a, log)
        out.append('%2d. %s' % (k, describe(m, a)))
        out.extend(log)
    return out, s


def describe(m, a):
    k = a[0]
    nm = m.names
    if k == 'inv':
        op = m.ops[a[1]]
        return 'invoke %s at %s%s' % (op.name, nm[op.node], '' if a[2] is None else ' (rank %d)' % a[2])
    if k == 'start':
        op = m.ops[a[1]]
        return 'start %s at %s%s' % (op.name, nm[op.node], '' if a[2] is None else ' (rank %d)' % a[2])
    if k in ('dlv', 'drop', 'dup'):
        return '%s %s' % ({'dlv': 'deliver', 'drop': 'LOSE', 'dup': 'DUPLICATE'}[k], m.fmsg(a[1]))
    if k == 'flush':
        return '%s: persist completes' % nm[a[1]]
    if k == 'replay':
        return '%s: T_stuck fires for %s' % (nm[a[1]], m.fts(a[2]))
    if k == 'retx':
        return '%s: T_retx fires for %s -> %s' % (nm[a[1]], m.fts(a[2]), nm[a[3]])
    if k == 'crash':
        return '%s crashes' % nm[a[1]]
    if k == 'restart':
        return '%s restarts' % nm[a[1]]
    if k == 'vc':
        return {'rm': 'view change: remove %s', 'add': 'view change: re-admit %s (wiped)',
                'pro': 'view change: promote %s'}[a[1]] % nm[a[2]]
    if k == 'install':
        return '%s installs the newest view' % nm[a[1]]
    if k == 'xfer':
        return '%s receives the state transfer from %s' % (nm[a[1]], nm[a[2]])
    return str(a)


def describe_state(m, s):
    nodes, net, ops, views, ghost, bud = m.unpack(s)
    out = []
    E = len(views) - 1
    out.append('    views: ' + ' '.join('e%d=%s' % (e, m.fview(v)) for e, v in enumerate(views)))
    for i in range(m.N):
        nt = nodes[i]
        ent = nt[ENT]
        out.append('    %s%s e%d: %s=%d%s | durable %s%s | records %s | drives %s | deferred %s' % (
            m.names[i], '' if nt[UP] else ' (DOWN)', nt[EP], m.fts(ent[0]), ent[1], '' if ent[2] else ' Invalid',
            m.fts(nt[DENT][0]), '' if nt[DENT][2] else ' Invalid',
            ','.join(m.fts(r[0]) for r in nt[RECS]) or '-',
            ','.join('%s[%s%s]' % (m.fts(d[0]), m.ops[d[2]].name if d[2] >= 0 else 'replay',
                                   '' if d[3] else ', INV not sent') for d in nt[DRV]) or '-',
            ','.join(m.fmsg(q) for q in nt[OUTQ]) or '-'))
    out.append('    in flight: %s' % ('; '.join(m.fmsg(x) for x in net) or 'nothing'))
    committed, noeff, issued, viol = ghost
    out.append('    committed: %s' % ', '.join('%s(e%d)' % (m.fts(c[0]), c[2]) for c in committed))
    out.append('    answered no-effect: %s' % (', '.join(m.fts(r) for r in noeff) or '-'))
    return out


def format_history(m, ops):
    out = []
    for oid, (st, before, res, att) in enumerate(ops):
        op = m.ops[oid]
        stt = {0: 'not invoked', 1: 'waiting', 3: 'in progress', 4: 'awaiting outcome', 2: 'done'}[st]
        r = m.fres(res) if res else ''
        pre = [m.ops[j].name for j in range(m.nops) if (before >> j) & 1]
        out.append('    %-6s @%s %-16s %-32s invoked after: %s' % (op.name, m.names[op.node], stt, r, ', '.join(pre) or '-'))
    return out

