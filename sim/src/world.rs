//! The discrete-event simulation: N real engines, their clocks, disks and network, the
//! clients, the fault schedule, and the oracle watching it all.
//!
//! A run has three phases: **faults** (the workload runs while faults are injected), **heal**
//! (faults stop, partitions heal, crashed nodes restart, the network becomes reliable, and the
//! cluster settles), and **good** (every replica must have converged, and every operation must
//! complete within a bound — the liveness checks of protocol.md §9.2 — ending with a read of
//! every key group that resolves most unknown writes).

use crate::clock::NodeClock;
use crate::entropy::SimRng;
use crate::history::{self, History};
use crate::network::Network;
use crate::oracle::{Invariant, Oracle, Violation};
use crate::params::{SimParams, RHO_PPM};
use crate::workload::{self, GenOp};
use level2pc::route::{drain_outputs, Route};
use level2pc::{
    Config, Event, Instant, MemDisk, Message, Node, NodeId, OpResult, PersistOp, RequestId,
};
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};

const MS: u64 = 1_000_000;
/// Quiet time after healing before convergence is required.
const SETTLE_NS: u64 = 8_000 * MS;
/// Operations each client issues in the good period.
const GOOD_OPS_PER_CLIENT: usize = 5;
/// Every operation in the good period must complete within this (§9.2.2:
/// `T_fd + k·RTT + T_stuck` for the engine's defaults, with room for the workload's queueing).
const GOOD_OP_BOUND_NS: u64 = 3_000 * MS;
/// Hard stop for the good period.
const GOOD_PERIOD_MAX_NS: u64 = 60_000 * MS;
/// The fault record that marks the end of the fault phase.
const HEAL: &str = "heal: faults stop";
/// Valid agreement is checked every this many events.
const AGREEMENT_EVERY: u64 = 512;

/// The result of one run.
#[derive(Debug)]
pub struct Outcome {
    /// The parameters that produced it.
    pub params: SimParams,
    /// Every invariant violation found (linearizability included).
    pub violations: Vec<Violation>,
    /// The recorded client history.
    pub history: History,
    /// Hash of the whole event trace (determinism witness).
    pub trace_hash: u64,
    /// Events processed.
    pub events: u64,
    /// Simulated time, ns.
    pub sim_ns: u64,
    /// Faults injected, for reports.
    pub faults: Vec<FaultRecord>,
    /// The linearizability checker's verdict (`None` if the history was malformed).
    pub verdict: Option<crate::checker::Verdict>,
    /// How available the cluster stayed through the faults.
    pub availability: Availability,
    /// The event trace, if it was asked for.
    pub trace: Option<Vec<String>>,
}

impl Outcome {
    /// Faults actually injected (the record of the healing is not one).
    pub fn injected_faults(&self) -> usize {
        self.faults.iter().filter(|f| f.what != HEAL).count()
    }

    /// Whether the run broke no invariant (an inconclusive linearizability check counts as
    /// passing here; it is reported separately).
    pub fn passed(&self) -> bool {
        self.violations
            .iter()
            .all(|v| v.invariant == Invariant::LinearizabilityUnknown)
    }
}

/// Availability through the fault phase, measured rather than assumed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Availability {
    /// Crashes (and disk losses) injected.
    pub crashes: u64,
    /// Longest time from a crash until the first write issued after it succeeded, ns.
    pub max_write_stall_ns: u64,
    /// Sum of those stalls, ns (divide by `crashes` for the mean).
    pub total_write_stall_ns: u64,
    /// Fault-phase operations that completed (a value, or a write acknowledged).
    pub completed: u64,
    /// Fault-phase operations issued.
    pub issued: u64,
    /// Restarts after which the node became ready again (Active, with a lease).
    pub rejoins: u64,
    /// Longest time from a restart until the node was ready again, ns.
    pub max_rejoin_ns: u64,
    /// Sum of those times, ns.
    pub total_rejoin_ns: u64,
}

/// One injected fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRecord {
    /// True time, ns.
    pub at_ns: u64,
    /// The node it hit, if one.
    pub node: Option<usize>,
    /// What happened.
    pub what: String,
}

/// Options that do not change what is simulated.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Keep a human-readable trace.
    pub trace: bool,
    /// Step budget of the linearizability checker.
    pub check_budget: u64,
    /// Run the linearizability checker at the end (benchmarks of the simulation alone turn it off).
    pub check_history: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            trace: false,
            check_budget: 2_000_000,
            check_history: true,
        }
    }
}

#[derive(Debug)]
enum Ev {
    Deliver {
        from: usize,
        to: usize,
        gen: u64,
        msgs: Vec<Message>,
    },
    PersistDone {
        node: usize,
        inc: u64,
        seq: u64,
        /// Whether it is fsynced (false: lazy hints, only written; see `World::volatile`).
        sync: bool,
        ops: Vec<PersistOp>,
    },
    PersistAck {
        node: usize,
        inc: u64,
        seq: u64,
    },
    Submit {
        client: usize,
        node: usize,
        req: RequestId,
        op: level2pc::Op,
        deadline_ns: u64,
    },
    ClientTick {
        client: usize,
    },
    ClientGiveUp {
        client: usize,
        req: RequestId,
    },
    Fault,
    HealPartition,
    Restart {
        node: usize,
        lose_disk: bool,
    },
    GoodStart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Faults,
    Heal,
    Good,
}

#[derive(Debug, Default)]
struct Client {
    /// The request in flight and its index in the history.
    busy: Option<(RequestId, usize)>,
    issued: u64,
    /// Good-period operations still to issue.
    good_left: usize,
}

struct World {
    p: SimParams,
    now: u64,
    seq: u64,
    rng: SimRng,
    nodes: Vec<Option<Node>>,
    next_timer: Vec<Option<u64>>,
    clocks: Vec<NodeClock>,
    paused_until: Vec<u64>,
    incarnation: Vec<u64>,
    /// Per node: what is durable (fsynced). The oracle reads these.
    disks: Vec<MemDisk>,
    /// Per node: lazy persists (hints only, `Node::persist_needs_sync` false) written and
    /// acknowledged but not yet covered by an fsync, in order. A persist that needs sync moves
    /// them to the disk first; a crash keeps only a random prefix of them.
    volatile: Vec<Vec<Vec<PersistOp>>>,
    fsync_free_at: Vec<u64>,
    net: Network,
    queue: BTreeMap<(u64, u64), Ev>,
    clients: Vec<Client>,
    requests: BTreeMap<RequestId, usize>,
    next_req: u64,
    history: Vec<history::Operation>,
    /// What clients last learned of each key's value (compare-and-sets expect it).
    seen: workload::Seen,
    oracle: Oracle,
    hash: u64,
    events: u64,
    trace: Option<Vec<String>>,
    ops_issued: usize,
    groups: BTreeSet<usize>,
    phase: Phase,
    faults: Vec<FaultRecord>,
    good_start: u64,
    final_reads_left: Vec<usize>,
    availability: Availability,
    /// Crashes whose first successful post-crash write has not been seen yet (crash time).
    stalled_since: Vec<u64>,
    /// Per node: when it restarted, until it is ready again.
    restarted_at: Vec<Option<u64>>,
}

/// Runs one simulation.
pub fn run(params: &SimParams, opts: RunOptions) -> Outcome {
    let rng = SimRng::seeded(params.seed);
    let mut w = World::new(params.clone(), rng, opts.trace);
    w.run();
    w.finish(opts)
}

/// Runs one simulation whose random choices come from `entropy` first (fuzzing).
pub fn run_with_entropy(params: &SimParams, entropy: &[u8], opts: RunOptions) -> Outcome {
    let mut w = World::new(params.clone(), SimRng::from_bytes(entropy), opts.trace);
    w.run();
    w.finish(opts)
}

impl World {
    fn new(p: SimParams, mut rng: SimRng, trace: bool) -> World {
        let n = p.nodes;
        let clocks = (0..n).map(|_| Self::draw_clock(&mut rng, &p)).collect();
        let net = Network::new(n, p.rates.clone(), p.faults);
        let clients = (0..p.workload.clients).map(|_| Client::default()).collect();
        let mut w = World {
            now: 0,
            seq: 0,
            rng,
            nodes: (0..n).map(|_| None).collect(),
            next_timer: vec![None; n],
            clocks,
            paused_until: vec![0; n],
            incarnation: vec![0; n],
            disks: vec![MemDisk::default(); n],
            volatile: vec![Vec::new(); n],
            fsync_free_at: vec![0; n],
            net,
            queue: BTreeMap::new(),
            clients,
            requests: BTreeMap::new(),
            next_req: 0,
            history: Vec::new(),
            seen: workload::Seen::new(),
            oracle: Oracle::new(n),
            hash: 0xcbf2_9ce4_8422_2325,
            events: 0,
            trace: trace.then(Vec::new),
            ops_issued: 0,
            groups: BTreeSet::new(),
            phase: Phase::Faults,
            faults: Vec::new(),
            good_start: 0,
            final_reads_left: Vec::new(),
            availability: Availability::default(),
            stalled_since: Vec::new(),
            restarted_at: vec![None; n],
            p,
        };
        for i in 0..n {
            w.start_node(i, false);
        }
        for c in 0..w.clients.len() {
            let at = w.rng.gen_range(0..10 * MS) + 500 * MS;
            w.push(at, Ev::ClientTick { client: c });
        }
        w.schedule_fault();
        w
    }

    fn draw_clock(rng: &mut SimRng, p: &SimParams) -> NodeClock {
        if p.clock_violation {
            // Far outside ρ, and as unhelpful as possible: some clocks 10 % slow (lease holders
            // over-count their lease), the others 10 % fast (acceptors under-count promises).
            let offset_ns = rng.gen_range(0..10_000 * MS);
            let drift = 100 * RHO_PPM as i64;
            return NodeClock {
                offset_ns,
                drift_ppm: if rng.gen_bool(0.5) { -drift } else { drift },
            };
        }
        if !p.faults.clock_drift {
            return NodeClock::IDEAL;
        }
        let bound = p.rates.drift_ppm as i64;
        NodeClock {
            offset_ns: rng.gen_range(0..10_000 * MS),
            drift_ppm: rng.gen_range(-bound..=bound),
        }
    }

    // ----- plumbing ------------------------------------------------------------------------

    fn push(&mut self, delay_ns: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((self.now + delay_ns, self.seq), ev);
    }

    fn mix(&mut self, words: &[u64]) {
        for &w in words {
            for b in w.to_le_bytes() {
                self.hash ^= u64::from(b);
                self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
    }

    fn log(&mut self, line: impl FnOnce() -> String) {
        if let Some(t) = self.trace.as_mut() {
            let line = line();
            t.push(format!("{:>10.3}ms {line}", self.now as f64 / MS as f64));
        }
    }

    fn local_now(&self, i: usize) -> Instant {
        self.clocks[i].local(self.now)
    }

    fn is_paused(&self, i: usize) -> bool {
        self.paused_until[i] > self.now
    }

    fn config(&self, i: usize) -> Config {
        let members = (0..self.p.nodes as u32).map(NodeId).collect();
        let mut cfg = Config::new(NodeId(i as u32), members);
        cfg.seed = self.p.seed ^ (i as u64) << 8;
        cfg.mutant = self.p.mutant;
        cfg
    }

    fn start_node(&mut self, i: usize, join: bool) {
        let recovered = self.disks[i].recover(join);
        let node = match Node::new(self.config(i), recovered, self.local_now(i)) {
            Ok(node) => node,
            Err(e) => panic!("the simulator built an invalid config: {e}"),
        };
        self.incarnation[i] += 1;
        self.nodes[i] = Some(node);
        self.after_input(i);
    }

    /// Routes node `i`'s outputs and refreshes its next timer.
    fn after_input(&mut self, i: usize) {
        self.note_rejoin(i);
        drain_outputs(self, i);
        self.next_timer[i] = self.nodes[i]
            .as_ref()
            .and_then(|n| n.poll_timeout())
            .map(|t| self.clocks[i].true_time_of(t).max(self.now));
    }
}

/// Where each output of a simulated node goes: sends into the simulated network, persists to
/// the node's disk (completing after a drawn fsync delay), replies to the clients, commits to the
/// oracle.
impl Route for World {
    fn node_mut(&mut self, i: usize) -> Option<&mut Node> {
        self.nodes[i].as_mut()
    }

    fn send(&mut self, from: usize, to: usize, msgs: Vec<Message>) {
        if to >= self.p.nodes {
            return;
        }
        let adm = self.nodes[from]
            .as_ref()
            .and_then(|n| n.member_id())
            .map_or(0, |id| id.adm);
        for m in &msgs {
            self.oracle.on_send(self.now, from, adm, m);
        }
        let delays = self.net.transmit(&mut self.rng, from, to);
        let gen = self.net.generation(from, to);
        if let Some((&last, rest)) = delays.split_last() {
            for &d in rest {
                self.push(
                    d,
                    Ev::Deliver {
                        from,
                        to,
                        gen,
                        msgs: msgs.clone(),
                    },
                );
            }
            self.push(
                last,
                Ev::Deliver {
                    from,
                    to,
                    gen,
                    msgs,
                },
            );
        }
    }

    fn persist(&mut self, i: usize, seq: u64, ops: Vec<PersistOp>) {
        // A persist of lazy hints only is written, not fsynced: it completes right
        // after every earlier persist (events at one instant run in push order).
        let sync = self.nodes[i]
            .as_ref()
            .is_none_or(|n| n.persist_needs_sync(&ops));
        let fsync_ns = if sync {
            self.rng.gen_range(0..=self.p.rates.fsync_us) * 1_000
        } else {
            0
        };
        let done = self.fsync_free_at[i].max(self.now) + fsync_ns;
        self.fsync_free_at[i] = done;
        let inc = self.incarnation[i];
        self.push(
            done - self.now,
            Ev::PersistDone {
                node: i,
                inc,
                seq,
                sync,
                ops,
            },
        );
    }

    fn reply(&mut self, i: usize, id: RequestId, result: OpResult) {
        self.on_reply(i, id, result);
    }

    fn event(&mut self, i: usize, event: Event) {
        match event {
            Event::Committed(ts) => {
                let (now, seq) = (self.now, self.seq);
                if let Some(view) = self.nodes[i].as_ref().map(|n| n.view().clone()) {
                    self.oracle.on_commit(now, seq, i, ts, &view, &self.disks);
                }
            }
            Event::RmwRetried(ts) => self.oracle.on_rmw_retried(self.now, i, ts),
            _ => {}
        }
    }
}

/// Whether `result` is a definite answer to the client (not "unavailable" or "unknown"). A
/// compare-and-set that found another value and an increment of a non-integer are answers.
fn answered(result: &OpResult) -> bool {
    !matches!(result, OpResult::Unavailable(_) | OpResult::Indeterminate)
}

impl World {
    // ----- the loop ------------------------------------------------------------------------

    fn run(&mut self) {
        loop {
            let timer = (0..self.p.nodes)
                .filter(|&i| !self.is_paused(i))
                .filter_map(|i| self.next_timer[i].map(|t| (t, i)))
                .min();
            let event_at = self.queue.first_key_value().map(|(k, _)| k.0);
            match (timer, event_at) {
                (Some((t, i)), e) if e.is_none_or(|e| t <= e) => self.fire_timer(t, i),
                (_, Some(_)) => {
                    let Some(((at, _), ev)) = self.queue.pop_first() else {
                        break;
                    };
                    self.now = self.now.max(at);
                    self.handle(ev);
                }
                _ => break,
            }
            self.events += 1;
            if self.events % AGREEMENT_EVERY == 0 {
                self.oracle.check_recent_agreement(self.now, &self.nodes);
                self.check_engine_invariants();
            }
            if self.done() {
                break;
            }
        }
    }

    /// The engines' own invariants (`Node::check_invariants`), reported as violations.
    fn check_engine_invariants(&mut self) {
        let broken: Vec<(usize, String)> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref()?.check_invariants().err().map(|e| (i, e)))
            .collect();
        for (i, e) in broken {
            self.oracle
                .violate(Invariant::EngineInvariant, self.now, format!("n{i}: {e}"));
        }
    }

    fn done(&self) -> bool {
        match self.phase {
            Phase::Good => {
                let idle = self
                    .clients
                    .iter()
                    .all(|c| c.busy.is_none() && c.good_left == 0);
                (idle && self.final_reads_left.is_empty())
                    || self.now > self.good_start + GOOD_PERIOD_MAX_NS
            }
            _ => false,
        }
    }

    fn fire_timer(&mut self, t: u64, i: usize) {
        self.now = self.now.max(t);
        self.mix(&[self.now, 1, i as u64]);
        let local = self.local_now(i);
        if let Some(n) = self.nodes[i].as_mut() {
            n.handle_timeout(local);
        }
        self.after_input(i);
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver {
                from,
                to,
                gen,
                msgs,
            } => self.deliver(from, to, gen, msgs),
            Ev::PersistDone {
                node,
                inc,
                seq,
                sync,
                ops,
            } => self.persist_done(node, inc, seq, sync, ops),
            Ev::PersistAck { node, inc, seq } => self.persist_ack(node, inc, seq),
            Ev::Submit {
                client,
                node,
                req,
                op,
                deadline_ns,
            } => self.submit(client, node, req, op, deadline_ns),
            Ev::ClientTick { client } => self.client_tick(client),
            Ev::ClientGiveUp { client, req } => self.client_give_up(client, req),
            Ev::Fault => self.inject_fault(),
            Ev::HealPartition => {
                self.mix(&[self.now, 9]);
                self.net.heal();
                self.log(|| "heal partitions".into());
            }
            Ev::Restart { node, lose_disk } => self.restart(node, lose_disk),
            Ev::GoodStart => self.good_start(),
        }
    }

    /// Re-queues an event for a paused node at its resume time. Returns whether it did.
    fn defer_if_paused(&mut self, node: usize, ev: Ev) -> Option<Ev> {
        if self.is_paused(node) {
            let delay = self.paused_until[node] - self.now;
            self.push(delay, ev);
            None
        } else {
            Some(ev)
        }
    }

    fn deliver(&mut self, from: usize, to: usize, gen: u64, msgs: Vec<Message>) {
        if !self.net.deliverable(from, to, gen) || self.nodes[to].is_none() {
            return;
        }
        let Some(Ev::Deliver { msgs, .. }) = self.defer_if_paused(
            to,
            Ev::Deliver {
                from,
                to,
                gen,
                msgs,
            },
        ) else {
            return;
        };
        self.mix(&[self.now, 2, from as u64, to as u64, msgs.len() as u64]);
        self.log(|| format!("n{from}->n{to} {}", describe(&msgs)));
        let local = self.local_now(to);
        if let Some(n) = self.nodes[to].as_mut() {
            n.handle_messages(local, NodeId(from as u32), msgs);
        }
        self.after_input(to);
    }

    fn persist_done(&mut self, node: usize, inc: u64, seq: u64, sync: bool, ops: Vec<PersistOp>) {
        if self.incarnation[node] != inc || self.nodes[node].is_none() {
            return; // lost in a crash
        }
        // The disk completes the write even while the process is frozen.
        if sync {
            // One sequential log: the fsync covers every lazy persist written before it.
            for earlier in std::mem::take(&mut self.volatile[node]) {
                self.disks[node].apply(&earlier);
            }
            self.disks[node].apply(&ops);
        } else {
            self.volatile[node].push(ops);
        }
        self.mix(&[self.now, 3, node as u64, seq, u64::from(sync)]);
        self.persist_ack(node, inc, seq);
    }

    fn persist_ack(&mut self, node: usize, inc: u64, seq: u64) {
        if self.incarnation[node] != inc {
            return;
        }
        if self
            .defer_if_paused(node, Ev::PersistAck { node, inc, seq })
            .is_none()
        {
            return;
        }
        let local = self.local_now(node);
        if let Some(n) = self.nodes[node].as_mut() {
            n.handle_persisted(local, seq);
        }
        self.after_input(node);
    }

    // ----- clients -------------------------------------------------------------------------

    fn client_tick(&mut self, c: usize) {
        if self.clients[c].busy.is_some() {
            return;
        }
        let issue = match self.phase {
            Phase::Faults => self.ops_issued < self.p.ops,
            Phase::Heal => false,
            Phase::Good => self.clients[c].good_left > 0 || !self.final_reads_left.is_empty(),
        };
        if !issue {
            self.maybe_end_fault_phase();
            return;
        }
        let gen = self.next_client_op(c);
        let node = self.rng.gen_range(0..self.p.nodes);
        self.next_req += 1;
        let req = RequestId(self.next_req);
        let idx = self.history.len();
        self.history.push(history::Operation {
            id: idx as u64,
            client: c as u64,
            node: Some(node as u64),
            call: self.now,
            ret: None,
            op: gen.history,
            result: history::OpResult::Unknown,
        });
        self.clients[c].busy = Some((req, idx));
        self.requests.insert(req, c);
        let deadline_ns = self.p.workload.deadline_ms * MS;
        // Give up a little after the engine's own deadline, to allow for clock drift.
        self.push(
            deadline_ns + deadline_ns / 50 + 100 * MS,
            Ev::ClientGiveUp { client: c, req },
        );
        let hop = self.rng.gen_range(10_000..200_000);
        self.push(
            hop,
            Ev::Submit {
                client: c,
                node,
                req,
                op: gen.engine,
                deadline_ns,
            },
        );
    }

    fn next_client_op(&mut self, c: usize) -> GenOp {
        let w = &self.p.workload;
        if self.phase == Phase::Good && self.clients[c].good_left == 0 {
            let group = self.final_reads_left.pop().unwrap_or(0);
            return workload::group_read(group);
        }
        if self.phase == Phase::Good {
            self.clients[c].good_left -= 1;
        } else {
            self.ops_issued += 1;
        }
        let group = self.ops_issued / w.ops_per_group.max(1);
        self.groups.insert(group);
        self.clients[c].issued += 1;
        let n = self.clients[c].issued;
        let w = self.p.workload.clone();
        workload::next_op(&mut self.rng, &w, &self.seen, group, c, n)
    }

    fn submit(
        &mut self,
        client: usize,
        node: usize,
        req: RequestId,
        op: level2pc::Op,
        deadline_ns: u64,
    ) {
        if self.nodes[node].is_none() || !self.requests.contains_key(&req) {
            return; // the node is down: the client will give up
        }
        let ev = Ev::Submit {
            client,
            node,
            req,
            op,
            deadline_ns,
        };
        let Some(Ev::Submit { op, .. }) = self.defer_if_paused(node, ev) else {
            return;
        };
        self.mix(&[self.now, 4, node as u64, req.0]);
        self.log(|| format!("c{client}->n{node} submit #{} {op:?}", req.0));
        let local = self.local_now(node);
        let deadline = local.plus_ns(deadline_ns);
        if let Some(n) = self.nodes[node].as_mut() {
            if let Err(e) = n.submit(local, req, op, deadline) {
                panic!("the simulator reused a request id: {e}");
            }
        }
        self.after_input(node);
    }

    fn on_reply(&mut self, node: usize, req: RequestId, result: OpResult) {
        self.mix(&[self.now, 5, node as u64, req.0]);
        self.log(|| format!("n{node} reply #{} {result:?}", req.0));
        if matches!(
            result,
            OpResult::Value(_) | OpResult::Values(_) | OpResult::Entries(_)
        ) {
            if let Some(n) = self.nodes[node].as_ref() {
                self.oracle.on_read(self.now, node, n);
            }
        }
        let Some(c) = self.requests.remove(&req) else {
            return;
        };
        let Some((_, idx)) = self.clients[c].busy.take() else {
            return;
        };
        let op = &mut self.history[idx];
        for (key, value) in workload::learned(&op.op, &result) {
            self.seen.insert(key, value);
        }
        let as_cas = workload::rmw_as_cas(&op.op, &result);
        let mut recorded = workload::record_result(&result);
        if let Some(cas) = as_cas {
            op.op = cas;
            recorded = history::OpResult::Ok;
        }
        if matches!(op.op, history::Op::Cas { .. }) && matches!(result, OpResult::Unavailable(_)) {
            // A cas that never compared had no effect, but "fail" would claim it found another
            // value: "unknown" claims nothing (history.rs).
            recorded = history::OpResult::Unknown;
        }
        let latency = self.now - op.call;
        if self.phase == Phase::Good && op.call >= self.good_start {
            let incomplete = !answered(&result);
            if incomplete || latency > GOOD_OP_BOUND_NS {
                let detail = format!(
                    "op {} at n{node} answered {result:?} after {}ms in the good period",
                    op.id,
                    latency / MS
                );
                self.oracle
                    .violate(Invariant::BoundedCompletion, self.now, detail);
            }
        }
        let call = op.call;
        let wrote = op.op.is_write() && recorded == history::OpResult::Ok;
        let completed = answered(&result);
        op.result = recorded;
        if op.result != history::OpResult::Unknown {
            op.ret = Some(self.now);
        }
        if self.phase == Phase::Faults {
            self.availability.completed += u64::from(completed);
            if wrote {
                self.end_write_stalls(call);
            }
        }
        self.schedule_tick(c);
    }

    fn client_give_up(&mut self, c: usize, req: RequestId) {
        if self.requests.remove(&req).is_none() {
            return;
        }
        if let Some((_, idx)) = self.clients[c].busy.take() {
            if self.phase == Phase::Good && self.history[idx].call >= self.good_start {
                let detail = format!(
                    "op {} never answered in the good period",
                    self.history[idx].id
                );
                self.oracle
                    .violate(Invariant::BoundedCompletion, self.now, detail);
            }
        }
        self.schedule_tick(c);
    }

    fn schedule_tick(&mut self, c: usize) {
        let think = self.rng.gen_range(0..=self.p.workload.think_us) * 1_000;
        self.push(think, Ev::ClientTick { client: c });
    }

    // ----- faults --------------------------------------------------------------------------

    fn schedule_fault(&mut self) {
        let f = self.p.faults;
        if !(f.partitions || f.resets || f.crashes || f.pauses || f.disk_loss)
            || self.faults.len() >= self.p.max_faults
        {
            return;
        }
        let mean = self.p.rates.fault_interval_ms * MS;
        let gap = self.rng.gen_range(mean / 2..=mean * 3 / 2);
        self.push(gap, Ev::Fault);
    }

    fn inject_fault(&mut self) {
        if self.phase != Phase::Faults {
            return;
        }
        let f = self.p.faults;
        let kinds: Vec<u8> = [
            (f.partitions, 0),
            (f.resets, 1),
            (f.crashes, 2),
            (f.pauses, 3),
            (f.disk_loss, 4),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, k)| k)
        .collect();
        let kind = kinds[self.rng.gen_range(0..kinds.len())];
        let duration = self.rng.gen_range(1..=self.p.rates.fault_duration_ms) * MS;
        let n = self.p.nodes;
        let node = self.rng.gen_range(0..n);
        let mut hit = Some(node);
        let what = match kind {
            0 => {
                let part = self.net.random_partition(&mut self.rng);
                self.net.apply(&part);
                self.push(duration, Ev::HealPartition);
                hit = None;
                format!("partition {part:?} for {}ms", duration / MS)
            }
            1 => {
                let other = (node + 1 + self.rng.gen_range(0..n - 1)) % n;
                self.net.reset(node, other);
                format!("reset n{node}<->n{other}")
            }
            4 if !self.disk_loss_survivable() => {
                "skipped disk loss (the cluster has not recovered from the last one)".into()
            }
            2 | 4 if self.nodes[node].is_some() => {
                self.crash(node);
                self.push(
                    duration,
                    Ev::Restart {
                        node,
                        lose_disk: kind == 4,
                    },
                );
                format!(
                    "{} n{node} for {}ms",
                    if kind == 4 { "disk loss" } else { "crash" },
                    duration / MS
                )
            }
            3 if !self.is_paused(node) && self.nodes[node].is_some() => {
                self.paused_until[node] = self.now + duration;
                format!("pause n{node} for {}ms", duration / MS)
            }
            _ => "skipped (node already down or paused)".into(),
        };
        self.mix(&[self.now, 6, u64::from(kind), node as u64]);
        self.log(|| format!("FAULT {what}"));
        self.faults.push(FaultRecord {
            at_ns: self.now,
            node: hit,
            what,
        });
        self.schedule_fault();
    }

    /// Disk loss is injected only when every node is up and an Active member of one view with
    /// at least two Active members: then another member still holds all the data, and a
    /// majority of acceptors still remembers its votes. Losing more at once is data loss by
    /// definition, outside the fault model.
    fn disk_loss_survivable(&self) -> bool {
        let up: Vec<&Node> = self.nodes.iter().flatten().collect();
        let epochs: BTreeSet<u64> = up.iter().map(|n| n.view().epoch.0).collect();
        up.len() == self.p.nodes
            && epochs.len() == 1
            && up
                .iter()
                .all(|n| n.member_id().is_some_and(|id| n.view().is_active(id)))
            && up.first().is_some_and(|n| n.view().active().count() >= 2)
    }

    /// Measures how long a restarted node takes to serve again.
    fn note_rejoin(&mut self, i: usize) {
        let Some(since) = self.restarted_at[i] else {
            return;
        };
        if self.nodes[i].as_ref().is_some_and(|n| n.is_ready()) {
            let took = self.now - since;
            let a = &mut self.availability;
            a.rejoins += 1;
            a.max_rejoin_ns = a.max_rejoin_ns.max(took);
            a.total_rejoin_ns += took;
            self.restarted_at[i] = None;
        }
    }

    /// A write issued at `call` succeeded: it ends every stall of a crash before `call`.
    fn end_write_stalls(&mut self, call: u64) {
        let now = self.now;
        let a = &mut self.availability;
        self.stalled_since.retain(|&crashed| {
            if crashed > call {
                return true;
            }
            let stall = now - crashed;
            a.max_write_stall_ns = a.max_write_stall_ns.max(stall);
            a.total_write_stall_ns += stall;
            false
        });
    }

    fn crash(&mut self, i: usize) {
        self.availability.crashes += 1;
        self.stalled_since.push(self.now);
        self.nodes[i] = None;
        self.next_timer[i] = None;
        self.incarnation[i] += 1; // persists in flight are lost
        self.paused_until[i] = 0;
        // Lazy persists were written but not fsynced: the page cache keeps a prefix of them.
        let volatile = std::mem::take(&mut self.volatile[i]);
        if !volatile.is_empty() {
            let kept = self.rng.gen_range(0..=volatile.len());
            for ops in &volatile[..kept] {
                self.disks[i].apply(ops);
            }
            self.mix(&[self.now, 10, i as u64, volatile.len() as u64, kept as u64]);
            self.log(|| {
                format!(
                    "crash n{i}: kept {kept} of {} lazy persists not fsynced",
                    volatile.len()
                )
            });
        }
    }

    fn restart(&mut self, i: usize, lose_disk: bool) {
        if self.nodes[i].is_some() {
            return;
        }
        if lose_disk {
            self.disks[i] = MemDisk::default();
        }
        self.volatile[i].clear(); // empty already: the crash settled it
        self.mix(&[self.now, 7, i as u64]);
        self.log(|| {
            format!(
                "restart n{i}{}",
                if lose_disk { " with an empty disk" } else { "" }
            )
        });
        self.start_node(i, lose_disk);
        self.restarted_at[i] = Some(self.now);
        if let Some(node) = self.nodes[i].as_ref() {
            self.oracle.on_restart(self.now, i, node, lose_disk);
        }
    }

    // ----- phases --------------------------------------------------------------------------

    fn maybe_end_fault_phase(&mut self) {
        if self.phase != Phase::Faults
            || self.ops_issued < self.p.ops
            || self.clients.iter().any(|c| c.busy.is_some())
        {
            return;
        }
        self.phase = Phase::Heal;
        self.log(|| "HEAL: faults stop".into());
        self.faults.push(FaultRecord {
            at_ns: self.now,
            node: None,
            what: HEAL.into(),
        });
        self.net.heal();
        self.net.lossy = false;
        for i in 0..self.p.nodes {
            self.paused_until[i] = self.paused_until[i].min(self.now);
            if self.nodes[i].is_none() {
                self.restart(i, false);
            }
        }
        self.push(SETTLE_NS, Ev::GoodStart);
    }

    fn good_start(&mut self) {
        self.phase = Phase::Good;
        self.good_start = self.now;
        self.check_convergence();
        self.final_reads_left = self.groups.iter().rev().copied().collect();
        for c in 0..self.clients.len() {
            self.clients[c].good_left = GOOD_OPS_PER_CLIENT;
            self.schedule_tick(c);
        }
    }

    /// §9.2.1: all replicas hold the same (ts, value) per key, all Valid, no pending records.
    fn check_convergence(&mut self) {
        let up: Vec<&Node> = self.nodes.iter().flatten().collect();
        let mut problems = Vec::new();
        if up.len() != self.p.nodes {
            problems.push("a node is down".to_string());
        }
        let epochs: BTreeSet<u64> = up.iter().map(|n| n.view().epoch.0).collect();
        let inactive: Vec<String> = up
            .iter()
            .filter(|n| !n.member_id().is_some_and(|id| n.view().is_active(id)))
            .map(|n| {
                format!(
                    "{} (identity {:?}, listed {:?})",
                    n.id(),
                    n.identity().map(|i| i.adm),
                    n.view().member(n.id()).map(|m| (m.id.adm, m.role))
                )
            })
            .collect();
        if epochs.len() > 1 || !inactive.is_empty() {
            problems.push(format!(
                "not all Active in one view: epochs {epochs:?}, not Active: {inactive:?}"
            ));
        }
        let same = |a: &Node, b: &Node| {
            a.inspect_all()
                .map(|(k, e)| (k, e.ts, e.value))
                .eq(b.inspect_all().map(|(k, e)| (k, e.ts, e.value)))
        };
        if up.windows(2).any(|w| !same(w[0], w[1])) {
            problems.push("replicas differ".to_string());
        }
        let invalid: Vec<String> = up
            .iter()
            .flat_map(|n| n.inspect_all())
            .filter(|(_, e)| !e.valid)
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .take(3)
            .collect();
        if !invalid.is_empty() {
            problems.push(format!("keys still Invalid: {invalid:?}"));
        }
        let pending: usize = up.iter().map(|n| n.inspect_records().count()).sum();
        if pending > 0 {
            problems.push(format!("{pending} update records still pending"));
        }
        if !problems.is_empty() {
            let detail = format!(
                "{}s after healing: {}",
                SETTLE_NS / 1_000 / MS,
                problems.join("; ")
            );
            self.oracle
                .violate(Invariant::Convergence, self.now, detail);
        }
    }

    fn finish(mut self, opts: RunOptions) -> Outcome {
        self.oracle.check_valid_agreement(self.now, &self.nodes);
        self.oracle.check_guardian_order();
        if self.phase != Phase::Good {
            let detail = format!(
                "the run never reached the good period (phase {:?})",
                self.phase
            );
            self.oracle
                .violate(Invariant::BoundedCompletion, self.now, detail);
        }
        let good_start = if self.phase == Phase::Good {
            self.good_start
        } else {
            u64::MAX
        };
        self.availability.issued =
            self.history.iter().filter(|o| o.call < good_start).count() as u64;
        let history = History {
            ops: std::mem::take(&mut self.history),
        };
        let checked = opts
            .check_history
            .then(|| crate::checker::check(&history, opts.check_budget));
        let verdict = match checked {
            None => None,
            Some(Ok(report)) => Some(report.verdict),
            Some(Err(e)) => {
                self.oracle.violate(
                    Invariant::Linearizability,
                    self.now,
                    format!("malformed history: {e}"),
                );
                None
            }
        };
        match &verdict {
            Some(crate::checker::Verdict::Illegal(v)) => {
                let detail = format!(
                    "op #{} cannot be linearized: {} (keys {:?})",
                    v.op, v.reason, v.component
                );
                self.oracle
                    .violate(Invariant::Linearizability, self.now, detail);
            }
            Some(crate::checker::Verdict::Unknown { component, steps }) => {
                let detail = format!("budget exhausted after {steps} steps on keys {component:?}");
                self.oracle
                    .violate(Invariant::LinearizabilityUnknown, self.now, detail);
            }
            _ => {}
        }
        Outcome {
            params: self.p,
            violations: self.oracle.violations,
            history,
            trace_hash: self.hash,
            events: self.events,
            sim_ns: self.now,
            faults: self.faults,
            verdict,
            availability: self.availability,
            trace: self.trace,
        }
    }
}

/// A view's members as `n<id>.<adm><A|J>` strings, for traces.
fn members(view: &level2pc::View) -> Vec<String> {
    view.members
        .iter()
        .map(|m| {
            format!(
                "{}.{}{}",
                m.id.node,
                m.id.adm,
                if m.role == level2pc::Role::Active {
                    'A'
                } else {
                    'J'
                }
            )
        })
        .collect()
}

fn describe(msgs: &[Message]) -> String {
    let parts: Vec<String> = msgs
        .iter()
        .map(|m| match m {
            Message::Inv { update, epoch } => {
                format!("INV{}[{}]e{}", update.ts, update.writes.len(), epoch.0)
            }
            Message::Ack { ts, epoch } => format!("ACK{ts}e{}", epoch.0),
            Message::Val { ts, .. } => format!("VAL{ts}"),
            Message::Ping { .. } => "PING".into(),
            Message::Decided { view } => format!("DECIDED{}{:?}", view.epoch.0, members(view)),
            Message::ViewInfo { view } => format!("VIEWINFO{}", view.epoch.0),
            Message::Prepare { base, ballot } => format!(
                "PREPARE{}b{}.{}",
                base.epoch.0 + 1,
                ballot.round,
                ballot.node
            ),
            Message::Accept { view, ballot, .. } => format!(
                "ACCEPT{}b{}.{}{:?}",
                view.epoch.0,
                ballot.round,
                ballot.node,
                members(view)
            ),
            Message::SnapChunk { entries, next, .. } => format!(
                "SNAPCHUNK[{}]{}",
                entries.len(),
                if next.is_none() { " last" } else { "" }
            ),
            other => format!("{other:?}")
                .chars()
                .take_while(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_uppercase(),
        })
        .collect();
    parts.join(" ")
}
