//! A small deterministic test harness: N engines, a lossy reordering network, disks that
//! complete persists after a random delay, crashes and restarts. It exists to develop the engine;
//! the full simulator with faults and checkers is the `level2pc-sim` crate.

use crate::client::{Op, OpResult, RequestId};
use crate::config::Config;
use crate::message::Message;
use crate::node::Node;
use crate::output::Event;
use crate::route::{drain_outputs, Route};
use crate::storage::{MemDisk, PersistOp};
use crate::time::Instant;
use crate::timestamp::NodeId;
use crate::update::Bytes;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};

enum Ev {
    Deliver {
        from: usize,
        to: usize,
        msgs: Vec<Message>,
    },
    Persisted {
        node: usize,
        boot: u64,
        seq: u64,
        ops: Vec<PersistOp>,
    },
}

pub(crate) struct Cluster {
    pub nodes: Vec<Option<Node>>,
    pub disks: Vec<MemDisk>,
    pub now: Instant,
    rng: ChaCha8Rng,
    queue: BTreeMap<(Instant, u64), Ev>,
    seq: u64,
    /// Probability that any one frame is lost.
    pub loss: f64,
    /// Directed links that drop everything.
    pub blocked: BTreeSet<(usize, usize)>,
    pub replies: BTreeMap<(usize, RequestId), OpResult>,
    next_req: u64,
    /// How many read-modify-writes lost a race and were evaluated again.
    pub retried: usize,
}

const DEADLINE_MS: u64 = 60_000;

impl Cluster {
    pub fn new(n: usize, seed: u64, loss: f64) -> Cluster {
        let mut c = Cluster {
            nodes: (0..n).map(|_| None).collect(),
            disks: vec![MemDisk::default(); n],
            now: Instant::ZERO,
            rng: ChaCha8Rng::seed_from_u64(seed),
            queue: BTreeMap::new(),
            seq: 0,
            loss,
            blocked: BTreeSet::new(),
            replies: BTreeMap::new(),
            next_req: 0,
            retried: 0,
        };
        for i in 0..n {
            c.start(i);
        }
        c
    }

    fn config(&self, i: usize) -> Config {
        let members = (0..self.nodes.len() as u32).map(NodeId).collect();
        let mut cfg = Config::new(NodeId(i as u32), members);
        cfg.seed = i as u64;
        cfg
    }

    /// Starts (or restarts) node `i` from its disk, with a new boot incarnation.
    pub fn start(&mut self, i: usize) {
        let recovered = self.disks[i].recover(false);
        let node = Node::new(self.config(i), recovered, self.now).expect("valid config");
        self.nodes[i] = Some(node);
        self.drain(i);
    }

    /// Stops node `i`: volatile state and incomplete persists are lost.
    pub fn crash(&mut self, i: usize) {
        self.nodes[i] = None;
    }

    pub fn submit(&mut self, i: usize, op: Op) -> RequestId {
        self.next_req += 1;
        let id = RequestId(self.next_req);
        let deadline = self.now.plus_ms(DEADLINE_MS);
        if let Some(n) = self.nodes[i].as_mut() {
            n.submit(self.now, id, op, deadline).expect("fresh id");
        }
        self.drain(i);
        id
    }

    fn push(&mut self, delay_ms: u64, ev: Ev) {
        self.seq += 1;
        let at = self
            .now
            .plus_ns(delay_ms * 1_000_000 + self.rng.gen_range(0..1_000_000));
        self.queue.insert((at, self.seq), ev);
    }

    /// Routes every output of node `i` into the network, the disk or the reply log, after
    /// checking the engine's invariants.
    fn drain(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].as_ref() {
            if let Err(e) = n.check_invariants() {
                panic!("node {i}: {e}");
            }
        }
        drain_outputs(self, i);
    }

    /// Advances to the next event or timer; false if there is none before `until`.
    fn step(&mut self, until: Instant) -> bool {
        let next_timer = (0..self.nodes.len())
            .filter_map(|i| {
                self.nodes[i]
                    .as_ref()
                    .and_then(|n| n.poll_timeout())
                    .map(|t| (t, i))
            })
            .min();
        let next_ev = self.queue.first_key_value().map(|(k, _)| k.0);
        match (next_timer, next_ev) {
            (Some((t, i)), ev) if ev.is_none_or(|e| t <= e) && t <= until => {
                self.now = self.now.max(t);
                if let Some(n) = self.nodes[i].as_mut() {
                    n.handle_timeout(self.now);
                }
                self.drain(i);
                true
            }
            (_, Some(e)) if e <= until => {
                let (_, ev) = self.queue.pop_first().expect("peeked");
                self.now = self.now.max(e);
                self.deliver(ev);
                true
            }
            _ => false,
        }
    }

    fn deliver(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver { from, to, msgs } => {
                if self.blocked.contains(&(from, to)) {
                    return;
                }
                if let Some(n) = self.nodes[to].as_mut() {
                    n.handle_messages(self.now, NodeId(from as u32), msgs);
                }
                self.drain(to);
            }
            Ev::Persisted {
                node,
                boot,
                seq,
                ops,
            } => {
                // A completion from before a crash never happened.
                if self.nodes[node].is_none() || self.disks[node].boots != boot {
                    return;
                }
                self.disks[node].apply(&ops);
                if let Some(n) = self.nodes[node].as_mut() {
                    n.handle_persisted(self.now, seq);
                }
                self.drain(node);
            }
        }
    }

    pub fn run_for(&mut self, ms: u64) {
        let until = self.now.plus_ms(ms);
        while self.step(until) {}
        self.now = until;
    }

    /// Runs until node `i` answers request `id` (or `max_ms` pass).
    pub fn run_until_reply(&mut self, i: usize, id: RequestId, max_ms: u64) -> Option<OpResult> {
        let until = self.now.plus_ms(max_ms);
        loop {
            if let Some(r) = self.replies.get(&(i, id)) {
                return Some(r.clone());
            }
            if !self.step(until) {
                return None;
            }
        }
    }

    /// Submits `op` at node `i` and runs until it is answered.
    pub fn call(&mut self, i: usize, op: Op) -> Option<OpResult> {
        let id = self.submit(i, op);
        self.run_until_reply(i, id, DEADLINE_MS + 1000)
    }
}

impl Route for Cluster {
    fn node_mut(&mut self, i: usize) -> Option<&mut Node> {
        self.nodes.get_mut(i).and_then(Option::as_mut)
    }

    fn send(&mut self, from: usize, to: usize, msgs: Vec<Message>) {
        if self.blocked.contains(&(from, to)) || self.rng.gen_bool(self.loss) {
            return;
        }
        let delay = self.rng.gen_range(1..10);
        self.push(delay, Ev::Deliver { from, to, msgs });
    }

    fn persist(&mut self, i: usize, seq: u64, ops: Vec<PersistOp>) {
        let delay = self.rng.gen_range(0..5);
        let boot = self.disks[i].boots;
        let ev = Ev::Persisted {
            node: i,
            boot,
            seq,
            ops,
        };
        self.push(delay, ev);
    }

    fn reply(&mut self, i: usize, id: RequestId, result: OpResult) {
        self.replies.insert((i, id), result);
    }

    fn event(&mut self, _: usize, event: Event) {
        if let Event::RmwRetried(_) = event {
            self.retried += 1;
        }
    }
}

/// Test helpers for building byte strings.
pub(crate) fn b(s: &str) -> Bytes {
    s.as_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::Write;

    fn get(key: &str) -> Op {
        Op::Get { key: b(key) }
    }
    fn put(key: &str, value: &str) -> Op {
        Op::Put {
            key: b(key),
            value: b(value),
        }
    }
    fn value(v: &str) -> OpResult {
        OpResult::Value(Some(b(v)))
    }

    /// Runs until every node has heard from every peer.
    fn ready_cluster(n: usize, seed: u64, loss: f64) -> Cluster {
        let mut c = Cluster::new(n, seed, loss);
        c.run_for(2_000);
        assert!(
            c.nodes
                .iter()
                .all(|n| n.as_ref().is_some_and(|n| n.is_ready())),
            "cluster never became ready"
        );
        c
    }

    #[test]
    fn a_put_is_readable_everywhere_when_it_returns() {
        for seed in 0..20 {
            let mut c = ready_cluster(3, seed, 0.2);
            for round in 0..5 {
                let v = format!("v{round}");
                let writer = (seed as usize + round) % 3;
                let r = c.call(writer, put("x", &v)).expect("put answered");
                assert!(matches!(r, OpResult::Written { .. }), "seed {seed}: {r:?}");
                // Reads are submitted the instant the put returned.
                let ids: Vec<_> = (0..3).map(|i| (i, c.submit(i, get("x")))).collect();
                for (i, id) in ids {
                    assert_eq!(
                        c.run_until_reply(i, id, 10_000),
                        Some(value(&v)),
                        "seed {seed} node {i}"
                    );
                }
            }
        }
    }

    #[test]
    fn concurrent_writes_to_one_key_converge() {
        for seed in 0..30 {
            let mut c = ready_cluster(3, seed, 0.1);
            let a = c.submit(0, put("k", "from0"));
            let b_ = c.submit(1, put("k", "from1"));
            let ra = c.run_until_reply(0, a, 20_000);
            let rb = c.run_until_reply(1, b_, 20_000);
            assert!(
                matches!(ra, Some(OpResult::Written { .. }))
                    && matches!(rb, Some(OpResult::Written { .. }))
            );
            c.loss = 0.0;
            c.run_for(3_000);
            let states: Vec<_> = c
                .nodes
                .iter()
                .map(|n| n.as_ref().unwrap().inspect_key(b"k"))
                .collect();
            assert!(
                states.iter().all(|s| s == &states[0]),
                "seed {seed}: diverged {states:?}"
            );
            assert!(
                states[0].as_ref().is_some_and(|s| s.valid),
                "seed {seed}: not valid"
            );
            let winner = states[0].as_ref().unwrap().value.clone();
            for i in 0..3 {
                assert_eq!(c.call(i, get("k")), Some(OpResult::Value(winner.clone())));
            }
        }
    }

    /// Concurrent increments of one key from every node, over a lossy network: every answered
    /// increment returned a distinct value, and the final value counts exactly the applied
    /// ones plus those whose outcome was not known (which may or may not have applied).
    #[test]
    fn concurrent_increments_each_apply_once() {
        let incr = || Op::Rmw {
            key: b("c"),
            change: crate::client::Change::IncrBy(1),
        };
        let mut retried_somewhere = false;
        for seed in 0..20 {
            let mut c = ready_cluster(3, seed, 0.05);
            let mut seen = std::collections::BTreeSet::new();
            let (mut applied, mut unknown) = (0i64, 0i64);
            for _round in 0..5 {
                let ids: Vec<_> = (0..3).map(|i| (i, c.submit(i, incr()))).collect();
                for (i, id) in ids {
                    match c.run_until_reply(i, id, 30_000) {
                        Some(OpResult::Changed {
                            applied: true,
                            current: Some(v),
                            ..
                        }) => {
                            applied += 1;
                            assert!(seen.insert(v.clone()), "seed {seed}: {v:?} twice");
                        }
                        Some(OpResult::Indeterminate) => unknown += 1,
                        other => panic!("seed {seed}: increment answered {other:?}"),
                    }
                }
            }
            retried_somewhere |= c.retried > 0;
            c.loss = 0.0;
            c.run_for(3_000);
            let Some(OpResult::Value(Some(v))) = c.call(0, get("c")) else {
                panic!("seed {seed}: no final value");
            };
            let total: i64 = std::str::from_utf8(&v).unwrap().parse().unwrap();
            assert!(
                (applied..=applied + unknown).contains(&total),
                "seed {seed}: {total} after {applied} applied, {unknown} unknown"
            );
        }
        assert!(
            retried_somewhere,
            "no increment ever lost a race: the test tests nothing"
        );
    }

    /// Increments waiting at one node for the same key run as one RMW (module
    /// `node::combine`): each is told a distinct value, in arrival order, and the key ends at
    /// their sum. Amounts of either sign, and shares told the values of their place.
    #[test]
    fn waiting_increments_of_one_key_combine_into_one_rmw() {
        let incr = |by| Op::Rmw {
            key: b("c"),
            change: crate::client::Change::IncrBy(by),
        };
        for seed in 0..10 {
            let mut c = ready_cluster(3, seed, 0.0);
            // The first starts at once; the others wait for it and then go together.
            let amounts = [1, 2, -3, 10, 5, 1, 1, 7];
            let ids: Vec<_> = amounts.iter().map(|by| c.submit(0, incr(*by))).collect();
            let mut tss = std::collections::BTreeSet::new();
            let mut values = Vec::new();
            for id in ids {
                match c.run_until_reply(0, id, 30_000) {
                    Some(OpResult::Changed {
                        applied: true,
                        previous,
                        current: Some(v),
                        ts: Some(ts),
                    }) => {
                        tss.insert(ts);
                        let now: i64 = std::str::from_utf8(&v).unwrap().parse().unwrap();
                        let before: i64 = previous
                            .map_or(0, |p| std::str::from_utf8(&p).unwrap().parse().unwrap());
                        values.push((before, now));
                    }
                    other => panic!("seed {seed}: increment answered {other:?}"),
                }
            }
            // Told in arrival order: each one's "before" is the previous one's "after".
            let mut at = 0;
            for ((before, now), by) in values.iter().zip(amounts) {
                assert_eq!((*before, *now), (at, at + by), "seed {seed}: {values:?}");
                at = *now;
            }
            assert_eq!(tss.len(), 2, "seed {seed}: not combined: {tss:?}");
            for i in 0..3 {
                let total = amounts.iter().sum::<i64>().to_string();
                assert_eq!(c.call(i, get("c")), Some(value(&total)), "seed {seed}");
            }
        }
    }

    #[test]
    fn a_batch_is_never_seen_half_applied() {
        for seed in 0..20 {
            let mut c = ready_cluster(3, seed, 0.15);
            let mut expected_old = (None, None);
            let (mut saw_old, mut saw_new) = (0, 0);
            for round in 0..4 {
                let v = format!("b{round}");
                let batch = Op::Batch {
                    writes: vec![
                        Write {
                            key: b("a"),
                            value: Some(b(&v)),
                        },
                        Write {
                            key: b("b"),
                            value: Some(b(&v)),
                        },
                    ],
                };
                let bid = c.submit((round + seed as usize) % 3, batch);
                let mut reads = Vec::new();
                for step in 0..30 {
                    let node = step % 3;
                    reads.push((
                        node,
                        c.submit(
                            node,
                            Op::GetMany {
                                keys: vec![b("a"), b("b")],
                            },
                        ),
                    ));
                    c.run_for(2);
                }
                for (node, id) in reads {
                    let Some(OpResult::Values(vals)) = c.run_until_reply(node, id, 10_000) else {
                        panic!("no read")
                    };
                    let new = (Some(b(&v)), Some(b(&v)));
                    let got = (vals[0].clone(), vals[1].clone());
                    assert!(
                        got == new || got == expected_old,
                        "seed {seed}: torn read {got:?}"
                    );
                    if got == new {
                        saw_new += 1
                    } else {
                        saw_old += 1
                    }
                }
                assert!(matches!(
                    c.run_until_reply((round + seed as usize) % 3, bid, 20_000),
                    Some(OpResult::Written { .. })
                ));
                expected_old = (Some(b(&v)), Some(b(&v)));
            }
            assert!(
                saw_old > 0 && saw_new > 0,
                "seed {seed}: reads never overlapped the batch ({saw_old} old, {saw_new} new)"
            );
        }
    }

    #[test]
    fn a_crashed_coordinators_write_is_finished_by_a_replay() {
        for seed in 0..10 {
            let mut c = ready_cluster(3, seed, 0.0);
            // Node 0's INV reaches node 1 only; node 0 crashes before its own persist is durable.
            c.blocked.insert((0, 2));
            let id = c.submit(0, put("x", "orphan"));
            c.crash(0);
            c.blocked.clear();
            c.run_for(50);
            assert_eq!(
                c.nodes[1]
                    .as_ref()
                    .unwrap()
                    .inspect_key(b"x")
                    .map(|s| s.valid),
                Some(false)
            );
            c.start(0);
            c.run_for(3_000);
            for i in 0..3 {
                assert_eq!(
                    c.call(i, get("x")),
                    Some(value("orphan")),
                    "seed {seed} node {i}"
                );
            }
            assert!(
                !c.replies.contains_key(&(0, id)),
                "the crashed process cannot answer"
            );
        }
    }

    #[test]
    fn the_harness_is_deterministic() {
        let run = || {
            let mut c = ready_cluster(3, 7, 0.2);
            for i in 0..10 {
                c.submit(i % 3, put(&format!("k{}", i % 4), &format!("v{i}")));
            }
            c.run_for(5_000);
            c.nodes
                .iter()
                .map(|n| {
                    format!(
                        "{:?}",
                        n.as_ref().unwrap().inspect_all().collect::<Vec<_>>()
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
