//! The `node_inputs` target: one engine (members 0, 1, 2; this node 0; default or tight
//! limits) driven by up to 400 inputs decoded from the bytes (`draw.rs`): messages from
//! peers, itself and non-members, clock regressions, timeouts, disk completions, persistence
//! acks (valid or bogus), client operations and crash-restarts from a simulated disk. After every
//! step the engine's own invariant check must hold and its outputs must keep the driver contract
//! (`check.rs`).
//!
//! This module holds the harness's state and runs the steps: the simulated disk (pending,
//! written-but-unsynced and durable persists) and restarts.

mod check;
mod draw;

use crate::fuzz::env::trace_enabled;
use arbitrary::Unstructured;
use level2pc::{
    Bytes, Config, Epoch, Instant, MemDisk, Message, Node, NodeId, Op, PersistOp, RequestId, Ts,
    Update, UpdateRef,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// This node's id in the `node_inputs` target; the members are 0, 1 and 2.
const ME: NodeId = NodeId(0);
const PEERS: [NodeId; 2] = [NodeId(1), NodeId(2)];
/// Most input steps of one `node_inputs` run.
const MAX_STEPS: usize = 400;
/// The small key alphabet (plus the empty key), where collisions happen.
const KEYS: [&[u8]; 5] = [b"a", b"b", b"c", b"d", b""];
const VALUES: [&[u8]; 4] = [b"1", b"2", b"33", b""];

/// One engine fed an arbitrary sequence of inputs decoded from `data`. After every step: the
/// outputs are drained and checked against the driver contract, and `check_invariants` holds.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let tight = u.ratio(1u8, 2u8).unwrap_or(false);
    let mut h = Harness::new(tight);
    let mut steps = 0;
    while !u.is_empty() && steps < MAX_STEPS {
        steps += 1;
        let step = h.draw_step(&mut u);
        h.run_step(step);
    }
}

/// One input to the engine.
#[derive(Debug)]
enum Step {
    /// Messages from `from` (one `handle_message` if `single`, else one frame).
    Deliver {
        from: NodeId,
        msgs: Vec<Message>,
        single: bool,
        regress_ns: u64,
    },
    /// Time passes; fire due timers.
    Tick { advance_ns: u64 },
    /// The disk completes persists up to `seq` without telling the engine yet.
    Complete { upto: u64 },
    /// The driver reports persists durable up to `upto` (possibly a bogus number).
    Persisted { upto: u64 },
    /// A client operation.
    Submit {
        id: RequestId,
        op: Op,
        deadline: Instant,
    },
    /// The process crashes and restarts from its disk.
    Restart { advance_ns: u64 },
}

#[derive(Debug)]
struct Req {
    op: Op,
    deadline: Instant,
    /// When the node may give up on it if it cannot start (`unavailable_after_ms`).
    give_up: Instant,
}

struct Harness {
    cfg: Config,
    node: Node,
    disk: MemDisk,
    /// The instant handed to the engine most recently (time may be handed in regressed).
    now: Instant,
    /// The largest instant ever handed in (the engine's clock).
    max_now: Instant,
    /// Emitted this boot and not yet on disk, in order.
    pending: VecDeque<(u64, Vec<PersistOp>)>,
    /// Completed lazy persists (`Node::persist_needs_sync` false: written, not fsynced) that no
    /// later synced persist has covered yet, in order; a restart keeps only a prefix of them.
    volatile: Vec<Vec<PersistOp>>,
    /// Last persist seq emitted this boot.
    emitted: u64,
    /// Persists up to this seq are on disk (this boot).
    completed: u64,
    /// Persists up to this seq were reported durable to the engine (this boot).
    reported: u64,
    /// Update records known durable (acknowledged persists, and what the disk recovered).
    durable_records: BTreeSet<Ts>,
    /// Client requests in flight.
    inflight: BTreeMap<RequestId, Req>,
    /// For each (peer, ts) whose INV was delivered this boot: the persist seq that covers it.
    inv_barrier: BTreeMap<(NodeId, Ts), u64>,
    /// ACKs delivered this boot in the engine's epoch, by ts.
    acks_in: BTreeMap<Ts, BTreeSet<NodeId>>,
    /// Lowest ts each key must keep across restarts (writes durably committed here).
    committed_keys: BTreeMap<Bytes, Ts>,
    /// Recently seen timestamps and updates, so generated messages hit real ones.
    ts_pool: Vec<Ts>,
    update_pool: Vec<UpdateRef>,
    /// Every update seen or generated, by ts (the first one under each ts).
    registry: BTreeMap<Ts, UpdateRef>,
    /// Timestamps of writes this node coordinated in this boot.
    own_ts: Vec<Ts>,
}

impl Harness {
    fn new(tight: bool) -> Harness {
        let members = vec![ME, PEERS[0], PEERS[1]];
        let mut cfg = Config::new(ME, members);
        if tight {
            cfg.max_requests = 4;
            cfg.max_range_entries = 3;
            cfg.max_batch_writes = 3;
            cfg.max_key_bytes = 4;
            cfg.max_value_bytes = 4;
        }
        let mut disk = MemDisk::default();
        let now = Instant::from_millis(1);
        let node = Node::new(cfg.clone(), disk.recover(false), now).expect("valid config");
        let mut h = Harness {
            cfg,
            node,
            disk,
            now,
            max_now: now,
            pending: VecDeque::new(),
            volatile: Vec::new(),
            emitted: 0,
            completed: 0,
            reported: 0,
            durable_records: BTreeSet::new(),
            inflight: BTreeMap::new(),
            inv_barrier: BTreeMap::new(),
            acks_in: BTreeMap::new(),
            committed_keys: BTreeMap::new(),
            ts_pool: Vec::new(),
            update_pool: Vec::new(),
            registry: BTreeMap::new(),
            own_ts: Vec::new(),
        };
        h.drain(&StepInfo::default());
        h.check_after_step("start", false);
        h
    }

    // ----- running steps ------------------------------------------------------------------

    fn run_step(&mut self, step: Step) {
        let desc = format!("{step:?}");
        if trace_enabled() {
            eprintln!("STEP {desc}");
        }
        let mut info = StepInfo::default();
        let timed_out = matches!(step, Step::Tick { .. });
        match step {
            Step::Deliver {
                from,
                msgs,
                single,
                regress_ns,
            } => {
                let at = Instant(self.now.0.saturating_sub(regress_ns));
                self.note_delivered(from, &msgs, &mut info);
                info.single = single;
                for m in &msgs {
                    if let Message::Inv { epoch, update } = m {
                        if self.inv_counts(from, *epoch, update) {
                            info.invs.push((from, update.ts));
                        }
                    }
                }
                self.give_time(at);
                if single {
                    let msg = msgs.into_iter().next().expect("one message");
                    self.node.handle_message(at, from, msg);
                } else {
                    self.node.handle_messages(at, from, msgs);
                }
                self.drain(&info);
            }
            Step::Tick { advance_ns } => {
                self.now = self.now.plus_ns(advance_ns);
                self.give_time(self.now);
                self.node.handle_timeout(self.now);
                info.single = true;
                self.drain(&info);
            }
            Step::Complete { upto } => {
                self.complete_upto(upto);
            }
            Step::Persisted { upto } => {
                // A driver reports only what its disk did: whatever the engine takes as durable
                // (it clamps to what it emitted) must really be on the disk (lazy hints: written).
                let effective = upto.min(self.emitted);
                self.complete_upto(effective);
                self.node.handle_persisted(self.now, upto);
                if effective > self.reported {
                    self.reported = effective;
                }
                info.single = true;
                self.drain(&info);
            }
            Step::Submit { id, op, deadline } => {
                self.submit(id, op, deadline);
            }
            Step::Restart { advance_ns } => {
                self.now = self.now.plus_ns(advance_ns);
                // The page cache keeps a prefix of the unsynced lazy persists; its length comes
                // from the step's own draw, so the corpus bytes keep their meaning.
                let kept = (advance_ns % (self.volatile.len() as u64 + 1)) as usize;
                self.restart(kept);
            }
        }
        self.check_after_step(&desc, timed_out);
    }

    fn give_time(&mut self, at: Instant) {
        self.max_now = self.max_now.max(at);
    }

    /// Whether the engine must process this INV from `from` (and so acknowledge it).
    fn inv_counts(&self, from: NodeId, epoch: Epoch, update: &Update) -> bool {
        PEERS.contains(&from)
            && epoch == self.node.view().epoch
            && update.is_canonical()
            && update.ts != Ts::ZERO
    }

    fn note_delivered(&mut self, from: NodeId, msgs: &[Message], info: &mut StepInfo) {
        let member = PEERS.contains(&from);
        let epoch = self.node.view().epoch;
        for m in msgs {
            match m {
                Message::Inv { update, .. } => {
                    self.remember_update(update);
                }
                Message::Ack { epoch: e, ts } if member && *e == epoch => {
                    self.acks_in.entry(*ts).or_default().insert(from);
                }
                Message::Val { ts, .. } if member => {
                    info.vals.insert(*ts);
                }
                _ => {}
            }
        }
    }

    fn remember_ts(&mut self, ts: Ts) {
        if !self.ts_pool.contains(&ts) {
            if self.ts_pool.len() >= 24 {
                self.ts_pool.remove(0);
            }
            self.ts_pool.push(ts);
        }
    }

    fn remember_update(&mut self, update: &UpdateRef) {
        self.remember_ts(update.ts);
        if update.is_canonical() && update.ts != Ts::ZERO {
            self.registry
                .entry(update.ts)
                .or_insert_with(|| update.clone());
        }
        if !self.update_pool.iter().any(|u| u == update) {
            if self.update_pool.len() >= 16 {
                self.update_pool.remove(0);
            }
            self.update_pool.push(update.clone());
        }
    }

    /// The disk completes every emitted persist up to `upto`, in order: one that needs sync is
    /// fsynced, with every lazy one written before it (one sequential log); a lazy one is only
    /// written and waits in `volatile`.
    fn complete_upto(&mut self, upto: u64) {
        while let Some((seq, _)) = self.pending.front() {
            if *seq > upto {
                break;
            }
            let (seq, ops) = self.pending.pop_front().expect("front");
            if self.node.persist_needs_sync(&ops) {
                for earlier in std::mem::take(&mut self.volatile) {
                    self.make_durable(&earlier);
                }
                self.make_durable(&ops);
            } else {
                self.volatile.push(ops);
            }
            self.completed = seq;
        }
    }

    fn make_durable(&mut self, ops: &[PersistOp]) {
        self.disk.apply(ops);
        for op in ops {
            if let PersistOp::Record(u) = op {
                self.durable_records.insert(u.ts);
            }
        }
    }

    fn submit(&mut self, id: RequestId, op: Op, deadline: Instant) {
        let before_valid = self.readable_now(&op);
        let duplicate = self.inflight.contains_key(&id);
        let full = self.inflight.len() >= self.cfg.max_requests;
        self.give_time(self.now);
        let result = self.node.submit(self.now, id, op.clone(), deadline);
        let mut info = StepInfo {
            single: true,
            submitted: Some(id),
            ..StepInfo::default()
        };
        match result {
            Err(e) => {
                assert!(duplicate, "submit refused a fresh request id {}: {e}", id.0);
                info.submitted = None;
                info.refused = Some(id);
            }
            Ok(()) => {
                assert!(
                    !duplicate,
                    "submit accepted request id {} while it was in flight",
                    id.0
                );
                self.inflight.insert(
                    id,
                    Req {
                        op: op.clone(),
                        deadline,
                        give_up: self
                            .now
                            .plus_ms(self.cfg.unavailable_after_ms)
                            .min(deadline),
                    },
                );
            }
        }
        self.drain(&info);
        if result.is_ok() && (full || before_valid) {
            assert!(
                !self.inflight.contains_key(&id),
                "request {} ({op:?}) was not answered at once (queue full: {full}, keys readable: {before_valid})",
                id.0
            );
        }
    }

    /// Whether a read could be answered at once: the node holds a lease (an Active member
    /// before its lease expiry) and every key it touches is Valid (or absent).
    fn readable_now(&self, op: &Op) -> bool {
        if let Op::Range { lo, hi, .. } = op {
            if lo > hi {
                return true; // refused at once as a bad request
            }
        }
        let active = self
            .node
            .member_id()
            .is_some_and(|id| self.node.view().is_active(id));
        if !(active && self.max_now < self.node.lease_expiry()) {
            return false;
        }
        let valid = |k: &[u8]| self.node.inspect_key(k).is_none_or(|e| e.valid);
        match op {
            Op::Get { key } => valid(key),
            Op::GetMany { keys } | Op::Versions { keys } => keys.iter().all(|k| valid(k)),
            Op::Range { lo, hi, .. } => {
                lo > hi
                    || self
                        .node
                        .inspect_all()
                        .all(|(k, e)| e.valid || k < lo || k >= hi)
            }
            _ => false,
        }
    }

    fn restart(&mut self, kept_lazy: usize) {
        // Volatile state and every persist not on the disk are lost, but for the first
        // `kept_lazy` lazy persists written and not yet fsynced.
        for ops in std::mem::take(&mut self.volatile).iter().take(kept_lazy) {
            self.disk.apply(ops);
        }
        let recovered = self.disk.recover(false);
        self.durable_records = self.disk.records.keys().copied().collect();
        self.pending.clear();
        self.emitted = 0;
        self.completed = 0;
        self.reported = 0;
        self.inflight.clear();
        self.inv_barrier.clear();
        self.acks_in.clear();
        self.own_ts.clear();
        self.give_time(self.now);
        self.node = match Node::new(self.cfg.clone(), recovered, self.now) {
            Ok(node) => node,
            Err(e) => panic!("a restart from a consistent disk failed: {e}"),
        };
        self.max_now = self.now;
        for (key, ts) in &self.committed_keys {
            let here = self.node.inspect_key(key).map_or(Ts::ZERO, |e| e.ts);
            assert!(
                here >= *ts,
                "key {key:?} committed at {ts} recovered at {here}"
            );
        }
        self.drain(&StepInfo::default());
    }
}

/// What the harness knows about the step whose outputs it drains.
#[derive(Debug, Default)]
struct StepInfo {
    /// The step was one input of one message / one timeout / one ack / one submit.
    single: bool,
    /// Timestamps of VALs delivered in this step from members.
    vals: BTreeSet<Ts>,
    /// The request submitted in this step.
    submitted: Option<RequestId>,
    /// A duplicate request id refused in this step.
    refused: Option<RequestId>,
    /// INVs delivered in this step that the engine must acknowledge: (sender, ts).
    invs: Vec<(NodeId, Ts)>,
}
