//! Checking what the `node_inputs` engine emits after each step against the driver contract:
//! persist seqs, sends, ACKs only after the INV's effect is durable (P1), commits, replies and
//! their timing, read values, and the engine's own invariants.

use super::{Harness, StepInfo, ME, PEERS};
use crate::fuzz::env::trace_enabled;
use level2pc::{
    BootInc, Bytes, Epoch, Event, Message, Op, OpResult, Output, PersistOp, RequestId, Ts,
    Unavailable,
};
use std::collections::BTreeSet;

/// The epoch a data-path message or heartbeat carries (membership messages carry views).
fn data_epoch(m: &Message) -> Option<Epoch> {
    match m {
        Message::Inv { epoch, .. }
        | Message::Ack { epoch, .. }
        | Message::Val { epoch, .. }
        | Message::Ping { epoch } => Some(*epoch),
        _ => None,
    }
}

impl Harness {
    pub(super) fn drain(&mut self, info: &StepInfo) {
        let epoch = self.node.view().epoch;
        let my_boot = self.node.boot();
        let mut committed = BTreeSet::new();
        let mut vals_sent = BTreeSet::new();
        let mut replies = Vec::new();
        let mut outputs = Vec::new();
        while let Some(out) = self.node.poll_output() {
            if trace_enabled() {
                eprintln!("  OUT {out:?}");
            }
            outputs.push(out);
        }
        // P1 barrier of each INV delivered in this step: the step's persist if it carries the
        // INV's effect, otherwise every persist emitted before the step.
        let step_persist = outputs.iter().find_map(|o| match o {
            Output::Persist { seq, ops } => Some((*seq, ops)),
            _ => None,
        });
        for &(from, ts) in &info.invs {
            let applied = step_persist.filter(|(_, ops)| {
                ops.iter()
                    .any(|op| matches!(op, PersistOp::Entry { entry, .. } if entry.ts == ts))
            });
            let barrier = applied.map_or(self.emitted, |(seq, _)| seq);
            self.inv_barrier.entry((from, ts)).or_insert(barrier);
        }
        for out in outputs {
            match out {
                Output::Send { to, msgs } => {
                    assert!(PEERS.contains(&to), "send to {to}, not a peer");
                    assert!(!msgs.is_empty(), "an empty send to {to}");
                    for m in msgs {
                        if let Some(e) = data_epoch(&m) {
                            assert_eq!(
                                e, epoch,
                                "a message in another epoch than the installed one: {m:?}"
                            );
                        }
                        match m {
                            Message::Inv { update, .. } => {
                                assert!(
                                    update.is_canonical(),
                                    "sent a non-canonical update {update:?}"
                                );
                                if let Some(known) = self.registry.get(&update.ts) {
                                    assert_eq!(
                                        known, &update,
                                        "two different updates under one ts {}",
                                        update.ts
                                    );
                                }
                                if update.ts.issuer().node == ME
                                    && update.ts.issuer().boot == my_boot
                                    && !self.own_ts.contains(&update.ts)
                                {
                                    self.own_ts.push(update.ts);
                                }
                                self.remember_update(&update);
                            }
                            Message::Ack { ts, .. } => {
                                // P1: acknowledge an INV only once its effect (and everything
                                // persisted before it) is durable.
                                let Some(&barrier) = self.inv_barrier.get(&(to, ts)) else {
                                    panic!(
                                        "ACK {ts} to {to}, which sent no INV for it in this boot"
                                    );
                                };
                                assert!(
                                    barrier <= self.reported,
                                    "ACK {ts} to {to} before persist {barrier} was durable (durable up to {})",
                                    self.reported
                                );
                            }
                            Message::Val { ts, .. } => {
                                vals_sent.insert((to, ts));
                            }
                            // Membership traffic (views, leases, transfer) is checked by
                            // the simulator's oracle, not by this single-node harness.
                            _ => {}
                        }
                    }
                }
                Output::Persist { seq, ops } => {
                    assert_eq!(
                        seq,
                        self.emitted + 1,
                        "persist seqs must run 1, 2, 3, ... in each boot"
                    );
                    assert!(!ops.is_empty(), "an empty persist {seq}");
                    self.emitted = seq;
                    for op in &ops {
                        if let PersistOp::Record(u) = op {
                            self.remember_update(u);
                        }
                    }
                    self.pending.push_back((seq, ops));
                }
                Output::Reply { id, result } => replies.push((id, result)),
                Output::Event(Event::Committed(ts)) => {
                    // A commit needs every peer's ACK in this epoch and a durable record here.
                    let acks = self.acks_in.get(&ts).cloned().unwrap_or_default();
                    assert!(
                        PEERS.iter().all(|p| acks.contains(p)),
                        "committed {ts} with ACKs only from {acks:?}"
                    );
                    assert!(
                        self.durable_records.contains(&ts),
                        "committed {ts} before its record was durable here"
                    );
                    committed.insert(ts);
                }
                Output::Event(_) => {}
            }
        }
        for ts in &committed {
            for p in PEERS {
                assert!(
                    vals_sent.contains(&(p, *ts)),
                    "committed {ts} without sending VAL to {p}"
                );
            }
        }
        for (id, result) in replies {
            self.check_reply(id, result, info, &committed, my_boot);
        }
        if let Some(id) = info.refused {
            assert!(
                self.inflight.contains_key(&id),
                "a refused duplicate submit answered the original request {}",
                id.0
            );
        }
    }

    fn check_reply(
        &mut self,
        id: RequestId,
        result: OpResult,
        info: &StepInfo,
        committed: &BTreeSet<Ts>,
        boot: BootInc,
    ) {
        let Some(req) = self.inflight.remove(&id) else {
            panic!(
                "reply {result:?} to request {}, which is not in flight",
                id.0
            );
        };
        use Unavailable as U;
        let immediate_ok = info.submitted == Some(id);
        // An RMW may learn early that its outcome cannot be known (protocol.md §11.4).
        let rmw = matches!(req.op, Op::Rmw { .. });
        match &result {
            // ... or that the value it computes exceeds the limits (nothing is written).
            OpResult::Indeterminate | OpResult::Unavailable(U::TooLarge) if rmw => {}
            OpResult::Unavailable(U::Timeout) | OpResult::Indeterminate => {
                assert!(
                    self.max_now >= req.deadline,
                    "request {} answered {result:?} before its deadline",
                    id.0
                );
            }
            // A request that cannot start is given up on early (`unavailable_after_ms`).
            OpResult::Unavailable(U::NotReady | U::NoLease) if !immediate_ok => {
                assert!(
                    self.max_now >= req.give_up,
                    "request {} answered {result:?} before it could be given up on",
                    id.0
                );
            }
            OpResult::Unavailable(U::Overloaded | U::BadRequest | U::TooLarge) => {
                assert!(
                    immediate_ok,
                    "request {} answered {result:?} after it was accepted",
                    id.0
                );
            }
            _ => {}
        }
        let kind_ok = match (&req.op, &result) {
            (Op::Get { .. }, OpResult::Value(_)) => true,
            (Op::GetMany { keys }, OpResult::Values(v)) => v.len() == keys.len(),
            (Op::Versions { keys }, OpResult::Versions(v)) => v.len() == keys.len(),
            (Op::Range { .. }, OpResult::Entries(_)) => true,
            (
                Op::Get { .. } | Op::GetMany { .. } | Op::Versions { .. },
                OpResult::Unavailable(
                    U::Overloaded | U::TooLarge | U::Timeout | U::NoLease | U::NotMember,
                ),
            ) => true,
            (
                Op::Range { .. },
                OpResult::Unavailable(
                    U::Overloaded | U::BadRequest | U::Timeout | U::NoLease | U::NotMember,
                ),
            ) => true,
            (
                Op::Put { .. } | Op::Del { .. } | Op::Batch { .. },
                OpResult::Written { .. } | OpResult::Indeterminate,
            ) => true,
            (Op::Put { .. } | Op::Del { .. } | Op::Batch { .. }, OpResult::Unavailable(_)) => true,
            (
                Op::Rmw { .. },
                OpResult::Changed { .. }
                | OpResult::Rejected(_)
                | OpResult::Indeterminate
                | OpResult::Unavailable(_),
            ) => true,
            _ => false,
        };
        // An RMW that wrote is answered like a write: its own Ts, committed or validated.
        let result = match result {
            OpResult::Changed { ts: Some(ts), .. } => OpResult::Written { ts },
            other => other,
        };
        assert!(
            kind_ok,
            "request {} ({:?}) answered {result:?}",
            id.0, req.op
        );
        if let OpResult::Written { ts } = result {
            assert!(
                // The writer boot carries the admission epoch above the boot count.
                ts.issuer().node == ME && ts.issuer().boot.0 & 0xffff_ffff == boot.0 & 0xffff_ffff,
                "a write answered with another writer's ts {ts}"
            );
            if committed.contains(&ts) {
                // Our own commit: durable here (checked with the Committed event).
            } else {
                assert!(
                    info.vals.contains(&ts),
                    "write {ts} answered Written without a commit or a VAL"
                );
            }
            if self.durable_records.contains(&ts) {
                for key in write_keys(&req.op) {
                    let at = self.committed_keys.entry(key).or_insert(ts);
                    *at = (*at).max(ts);
                }
            }
        }
        if info.single {
            self.check_read_value(&req.op, &result);
        }
    }

    /// A read answered in a single-input step returns what the node holds Valid at its end
    /// (nothing later in the same step can validate another version of a key it read).
    fn check_read_value(&self, op: &Op, result: &OpResult) {
        let current = |k: &[u8]| -> Option<Option<Bytes>> {
            match self.node.inspect_key(k) {
                None => Some(None),
                Some(e) if e.valid => Some(e.value),
                Some(_) => None,
            }
        };
        match (op, result) {
            (Op::Get { key }, OpResult::Value(v)) => {
                if let Some(now) = current(key) {
                    assert_eq!(
                        v, &now,
                        "GET {key:?} answered a value the node does not hold"
                    );
                }
            }
            (Op::GetMany { keys }, OpResult::Values(vs)) => {
                for (k, v) in keys.iter().zip(vs) {
                    if let Some(now) = current(k) {
                        assert_eq!(
                            v, &now,
                            "GETMANY {k:?} answered a value the node does not hold"
                        );
                    }
                }
            }
            (Op::Versions { keys }, OpResult::Versions(vs)) => {
                for (k, v) in keys.iter().zip(vs) {
                    match self.node.inspect_key(k) {
                        None => assert_eq!(*v, Ts::ZERO, "VERSIONS {k:?} of an absent key"),
                        Some(e) if e.valid => {
                            assert_eq!(*v, e.ts, "VERSIONS {k:?} answered another version")
                        }
                        Some(_) => {}
                    }
                }
            }
            (Op::Range { lo, hi, limit }, OpResult::Entries(entries)) => {
                let cap = limit
                    .unwrap_or(self.cfg.max_range_entries)
                    .min(self.cfg.max_range_entries);
                assert!(
                    entries.len() <= cap,
                    "RANGE answered {} entries, limit {cap}",
                    entries.len()
                );
                assert!(
                    entries.windows(2).all(|w| w[0].0 < w[1].0),
                    "RANGE answer not strictly ascending"
                );
                assert!(
                    entries.iter().all(|(k, _)| k >= lo && k < hi),
                    "RANGE answer outside [lo, hi)"
                );
                let inside: Vec<_> = self
                    .node
                    .inspect_all()
                    .filter(|(k, ..)| *k >= lo && *k < hi)
                    .collect();
                if inside.iter().all(|(_, e)| e.valid) {
                    let expect: Vec<(Bytes, Bytes)> = inside
                        .iter()
                        .filter_map(|(k, e)| Some(((*k).clone(), e.value.clone()?)))
                        .take(cap)
                        .collect();
                    assert_eq!(
                        entries, &expect,
                        "RANGE [{lo:?}, {hi:?}) answer differs from the node's Valid entries"
                    );
                }
            }
            _ => {}
        }
    }

    pub(super) fn check_after_step(&self, desc: &str, timed_out: bool) {
        if let Err(e) = self.node.check_invariants() {
            panic!("engine invariant broken after {desc}: {e}");
        }
        assert_eq!(
            self.node.requests_in_flight(),
            self.inflight.len(),
            "the engine's and the driver's requests in flight differ after {desc}"
        );
        assert!(
            self.node.poll_timeout().is_some(),
            "no timer pending (the heartbeat always is)"
        );
        // Every request whose deadline passed was answered by the timeout that passed it.
        if timed_out {
            if let Some((id, r)) = self
                .inflight
                .iter()
                .find(|(_, r)| r.deadline <= self.max_now)
            {
                panic!(
                    "request {} still in flight after its deadline {} passed (now {})",
                    id.0, r.deadline, self.max_now
                );
            }
        }
    }
}

fn write_keys(op: &Op) -> Vec<Bytes> {
    match op {
        Op::Put { key, .. } | Op::Del { key } => vec![key.clone()],
        Op::Batch { writes } => writes.iter().map(|w| w.key.clone()).collect(),
        _ => Vec::new(),
    }
}
