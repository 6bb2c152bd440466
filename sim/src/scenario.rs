//! Hand-scripted scenarios: real engines whose every data-path message is held until the script
//! delivers it, so a test can replay an exact interleaving (protocol.md §5.2, the model
//! checker's counter-examples in `docs/modelcheck.md`) and check the resulting history.
//!
//! Membership traffic (heartbeats, leases, views) is delivered at once; only INV, ACK and VAL
//! wait for the script. Persists complete at the end of every scripted action unless
//! [`Script::hold_persists`] is set. A persist of lazy hints only (`Node::persist_needs_sync`
//! false) is written but not fsynced: it reaches [`Script::disks`] only when a later persist
//! that needs sync completes, and a crash loses every such persist still unsynced (the page
//! cache keeps the empty prefix, the worst case the driver contract allows).

use crate::history::{self, History};
use crate::workload::record_result;
use level2pc::route::{drain_outputs, Route};
use level2pc::{
    Config, Event, Instant, MemDisk, Message, Mutant, Node, NodeId, Op, OpResult, PersistOp,
    RequestId, Ts,
};
use std::collections::BTreeMap;

/// A message in flight, waiting for the script.
#[derive(Clone, Debug)]
pub struct InFlight {
    /// Sender.
    pub from: usize,
    /// Receiver.
    pub to: usize,
    /// The message.
    pub msg: Message,
}

/// A scripted cluster.
pub struct Script {
    /// The engines (`None` while crashed).
    pub nodes: Vec<Option<Node>>,
    /// Their disks: what is durable (fsynced).
    pub disks: Vec<MemDisk>,
    /// Per node: completed lazy persists not yet covered by an fsync, in order.
    pub volatile: Vec<Vec<Vec<PersistOp>>>,
    /// Messages not yet delivered, in send order.
    pub pool: Vec<InFlight>,
    /// When set, persists wait for [`Script::flush_persists`].
    pub hold_persists: bool,
    /// Nodes whose persists wait for [`Script::flush_persists`] (as `hold_persists`, for some).
    pub hold_persists_at: std::collections::BTreeSet<usize>,
    /// Which messages wait in the pool for the script (the rest are delivered at once).
    pub hold: fn(&Message) -> bool,
    /// Held messages that [`Script::settle`] leaves in the pool too (released only by hand).
    pub frozen: fn(&Message) -> bool,
    /// Directed links that lose everything (a partition).
    pub cut: std::collections::BTreeSet<(usize, usize)>,
    pending_persists: Vec<Vec<(u64, Vec<PersistOp>)>>,
    mutant: Option<Mutant>,
    now_ms: u64,
    history: Vec<history::Operation>,
    requests: BTreeMap<RequestId, usize>,
    next_req: u64,
    commits: Vec<(usize, Ts)>,
    /// Every distinct update sent in an INV, by ts (more than one per ts is a collision).
    sent: BTreeMap<Ts, Vec<level2pc::UpdateRef>>,
}

const DEADLINE_MS: u64 = 600_000;

impl Script {
    /// `n` ready nodes (ids 0..n) running `mutant` (or the real engine).
    pub fn new(n: usize, mutant: Option<Mutant>) -> Script {
        let mut s = Script {
            nodes: (0..n).map(|_| None).collect(),
            disks: vec![MemDisk::default(); n],
            volatile: vec![Vec::new(); n],
            pool: Vec::new(),
            hold_persists: false,
            hold_persists_at: Default::default(),
            hold: Message::is_data_path,
            frozen: |_| false,
            cut: std::collections::BTreeSet::new(),
            pending_persists: vec![Vec::new(); n],
            mutant,
            now_ms: 1,
            history: Vec::new(),
            requests: BTreeMap::new(),
            next_req: 0,
            commits: Vec::new(),
            sent: BTreeMap::new(),
        };
        for i in 0..n {
            s.start(i);
        }
        for i in 0..n {
            s.tick(i);
        }
        s
    }

    fn now(&self) -> Instant {
        Instant::from_millis(self.now_ms)
    }

    fn config(&self, i: usize) -> Config {
        let members = (0..self.nodes.len() as u32).map(NodeId).collect();
        let mut cfg = Config::new(NodeId(i as u32), members);
        cfg.mutant = self.mutant;
        cfg
    }

    /// Cuts both directions between `a` and `b`.
    pub fn partition(&mut self, a: usize, b: usize) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
    }

    /// Cuts node `i` off from every other node, both ways.
    pub fn isolate(&mut self, i: usize) {
        for other in (0..self.nodes.len()).filter(|&o| o != i) {
            self.partition(i, other);
        }
    }

    /// (Re)starts node `i` from its disk.
    pub fn start(&mut self, i: usize) {
        self.start_with(i, false);
    }

    /// (Re)starts node `i`; with `join`, as a node that lost its state and must be re-admitted.
    pub fn start_with(&mut self, i: usize, join: bool) {
        let recovered = self.disks[i].recover(join);
        let node = Node::new(self.config(i), recovered, self.now())
            .unwrap_or_else(|e| panic!("bad config: {e}"));
        self.nodes[i] = Some(node);
        self.pending_persists[i].clear();
        self.volatile[i].clear();
        self.drain(i);
    }

    /// Crashes node `i`: unfinished persists are lost, and so are completed lazy persists no
    /// fsync covered yet; messages it sent stay in flight.
    pub fn crash(&mut self, i: usize) {
        self.crash_keeping(i, 0);
    }

    /// Crashes node `i` like [`Script::crash`], but the page cache reaches the disk with the
    /// first `kept` of its unsynced lazy persists (a prefix, as on a sequential log).
    pub fn crash_keeping(&mut self, i: usize, kept: usize) {
        self.nodes[i] = None;
        self.pending_persists[i].clear();
        let volatile = std::mem::take(&mut self.volatile[i]);
        for ops in volatile.iter().take(kept) {
            self.disks[i].apply(ops);
        }
    }

    fn drain(&mut self, i: usize) {
        drain_outputs(self, i);
        if !self.hold_persists && !self.hold_persists_at.contains(&i) {
            self.flush_persists(i);
        }
    }

    /// Completes every pending persist of node `i`.
    pub fn flush_persists(&mut self, i: usize) {
        let pending = std::mem::take(&mut self.pending_persists[i]);
        let Some(last) = pending.last().map(|p| p.0) else {
            return;
        };
        for (_, ops) in pending {
            let sync = self.nodes[i]
                .as_ref()
                .is_none_or(|n| n.persist_needs_sync(&ops));
            if sync {
                // One sequential log: this fsync covers every lazy persist written before it.
                for earlier in std::mem::take(&mut self.volatile[i]) {
                    self.disks[i].apply(&earlier);
                }
                self.disks[i].apply(&ops);
            } else {
                self.volatile[i].push(ops);
            }
        }
        let now = self.now();
        if let Some(n) = self.nodes[i].as_mut() {
            n.handle_persisted(now, last);
        }
        self.drain(i);
    }

    fn deliver_now(&mut self, from: usize, to: usize, msg: Message) {
        let now = self.now();
        if let Some(n) = self.nodes.get_mut(to).and_then(|n| n.as_mut()) {
            n.handle_message(now, NodeId(from as u32), msg);
        }
        if to < self.nodes.len() {
            self.drain(to);
        }
    }

    fn record_reply(&mut self, id: RequestId, result: OpResult) {
        let Some(idx) = self.requests.remove(&id) else {
            return;
        };
        let op = &mut self.history[idx];
        op.result = record_result(&result);
        if op.result != history::OpResult::Unknown {
            op.ret = Some(self.now_ms);
        }
    }

    /// Submits `op` (recorded as `hist`) at node `i`; returns its index in the history.
    pub fn submit(&mut self, i: usize, op: Op, hist: history::Op) -> usize {
        self.now_ms += 1;
        self.next_req += 1;
        let id = RequestId(self.next_req);
        let idx = self.history.len();
        self.history.push(history::Operation {
            id: idx as u64,
            client: idx as u64,
            node: Some(i as u64),
            call: self.now_ms,
            ret: None,
            op: hist,
            result: history::OpResult::Unknown,
        });
        self.requests.insert(id, idx);
        let (now, deadline) = (self.now(), Instant::from_millis(self.now_ms + DEADLINE_MS));
        if let Some(n) = self.nodes[i].as_mut() {
            n.submit(now, id, op, deadline)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        self.drain(i);
        idx
    }

    /// Delivers the first in-flight message from `from` to `to` that `pred` accepts.
    /// Panics (a broken script) if there is none.
    pub fn deliver(&mut self, from: usize, to: usize, pred: impl Fn(&Message) -> bool) {
        self.now_ms += 1;
        let pos = self
            .pool
            .iter()
            .position(|m| m.from == from && m.to == to && pred(&m.msg));
        let Some(pos) = pos else {
            panic!(
                "script: no message n{from}->n{to} matches; in flight: {:?}",
                self.pool
            )
        };
        let m = self.pool.remove(pos);
        self.deliver_now(m.from, m.to, m.msg);
    }

    /// Delivers the first matching message like [`Script::deliver`] but keeps a copy in flight
    /// (a duplicate).
    pub fn deliver_duplicate(&mut self, from: usize, to: usize, pred: impl Fn(&Message) -> bool) {
        let copy = self
            .pool
            .iter()
            .find(|m| m.from == from && m.to == to && pred(&m.msg))
            .cloned();
        self.deliver(from, to, pred);
        if let Some(c) = copy {
            self.pool.push(c);
        }
    }

    /// Advances time by `ms`, firing due timers on every live node (their sends are held).
    pub fn advance(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.now_ms += 1;
            self.tick_all();
        }
    }

    fn tick(&mut self, i: usize) {
        let now = self.now();
        if let Some(n) = self.nodes[i].as_mut() {
            if n.poll_timeout().is_some_and(|t| t <= now) {
                n.handle_timeout(now);
            }
        }
        self.drain(i);
    }

    fn tick_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.tick(i);
        }
    }

    /// Lets the cluster run freely for `ms`: every message not frozen is delivered in order
    /// (except on cut links), timers fire.
    pub fn settle(&mut self, ms: u64) {
        let end = self.now_ms + ms;
        while self.now_ms < end {
            self.now_ms += 1;
            let (frozen, free): (Vec<InFlight>, Vec<InFlight>) = std::mem::take(&mut self.pool)
                .into_iter()
                .partition(|m| (self.frozen)(&m.msg));
            self.pool = frozen;
            for m in free {
                if !self.cut.contains(&(m.from, m.to)) {
                    self.deliver_now(m.from, m.to, m.msg);
                }
            }
            self.tick_all();
        }
    }

    /// Settles 1 ms at a time until `cond` holds, for at most `max_ms`; whether it holds.
    pub fn settle_until(&mut self, max_ms: u64, cond: impl Fn(&Script) -> bool) -> bool {
        for _ in 0..max_ms {
            if cond(self) {
                return true;
            }
            self.settle(1);
        }
        cond(self)
    }

    /// The engine of node `i` (panics if it is down: a broken script).
    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i]
            .as_ref()
            .unwrap_or_else(|| panic!("script: n{i} is down"))
    }

    /// Whether history entry `idx` has been answered.
    pub fn answered(&self, idx: usize) -> bool {
        self.history[idx].ret.is_some()
    }

    /// The recorded result of history entry `idx`.
    pub fn result(&self, idx: usize) -> &history::OpResult {
        &self.history[idx].result
    }

    /// The history so far.
    pub fn history(&self) -> History {
        History {
            ops: self.history.clone(),
        }
    }

    /// Timestamps that two different updates were sent under (must be empty: §9.1 item 8).
    pub fn ts_collisions(&self) -> Vec<Ts> {
        self.sent
            .iter()
            .filter(|(_, v)| v.len() > 1)
            .map(|(ts, _)| *ts)
            .collect()
    }

    /// `(node, ts)` of every commit event so far.
    pub fn commits(&self) -> &[(usize, Ts)] {
        &self.commits
    }
}

/// Where each output of a scripted node goes: held messages wait in the pool, the rest are
/// delivered at once (nothing crosses a cut link); persists wait for the end of the action;
/// replies complete the history; commits are recorded.
impl Route for Script {
    fn node_mut(&mut self, i: usize) -> Option<&mut Node> {
        self.nodes[i].as_mut()
    }

    fn send(&mut self, from: usize, to: usize, msgs: Vec<Message>) {
        for msg in msgs {
            if let Message::Inv { update, .. } = &msg {
                let seen = self.sent.entry(update.ts).or_default();
                if !seen.contains(update) {
                    seen.push(update.clone());
                }
            }
            if self.cut.contains(&(from, to)) {
                continue;
            }
            if !(self.hold)(&msg) {
                self.deliver_now(from, to, msg);
            } else {
                self.pool.push(InFlight { from, to, msg });
            }
        }
    }

    fn persist(&mut self, i: usize, seq: u64, ops: Vec<PersistOp>) {
        self.pending_persists[i].push((seq, ops));
    }

    fn reply(&mut self, _i: usize, id: RequestId, result: OpResult) {
        self.record_reply(id, result);
    }

    fn event(&mut self, i: usize, event: Event) {
        if let Event::Committed(ts) = event {
            self.commits.push((i, ts));
        }
    }
}

/// Message predicates for scripts.
pub mod msg {
    use level2pc::{Message, Ts};

    /// An INV of the update with timestamp `ts`.
    pub fn inv(ts: Ts) -> impl Fn(&Message) -> bool {
        move |m| matches!(m, Message::Inv { update, .. } if update.ts == ts)
    }
    /// An ACK of `ts`.
    pub fn ack(ts: Ts) -> impl Fn(&Message) -> bool {
        move |m| matches!(m, Message::Ack { ts: t, .. } if *t == ts)
    }
    /// A VAL of `ts`.
    pub fn val(ts: Ts) -> impl Fn(&Message) -> bool {
        move |m| matches!(m, Message::Val { ts: t, .. } if *t == ts)
    }
}
