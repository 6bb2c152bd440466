//! The oracle: invariants of protocol.md §9.1 checked from global knowledge the nodes do not
//! have (every message on the wire, every disk, every node's state, true time).
//!
//! Linearizability of the client history (§9.1 item 1) is checked separately by
//! [`crate::checker`]; this module checks the protocol's internal invariants, which point much
//! closer to a bug's cause.

use level2pc::{Bytes, MemDisk, Message, Node, Ts, UpdateRef, View};
use std::collections::BTreeMap;

/// What rule a violation broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Invariant {
    /// §9.1.1: the client history is not linearizable.
    Linearizability,
    /// The checker ran out of budget (not a violation by itself; reported apart).
    LinearizabilityUnknown,
    /// §9.1.2: two nodes hold the same key Valid at different (ts, value), or a node holds a key
    /// Valid below a committed ts.
    ValidAgreement,
    /// §9.1.4: an update committed while some member had not durably applied it.
    CommitUniversal,
    /// §9.1.7: a multi-key update committed after a higher overlapping update.
    GuardianOrder,
    /// §9.1.8: two different updates share a timestamp.
    TsUniqueness,
    /// §9.1.14: an INV carried only part of its update's write set.
    PartialReplay,
    /// §9.1.9: a node's highest acknowledged ts on a key went backwards across a restart.
    Monotonicity,
    /// §9.1.3 / §9.1.12: a read was served by a node that is not an Active member, or after a
    /// view removing or demoting it was decided.
    ReadWithoutLease,
    /// §9.1.11: two views decided for one epoch, or a decided view breaking the chain rule.
    MembershipSafety,
    /// The engine's own consistency check (`Node::check_invariants`) failed.
    EngineInvariant,
    /// §9.2.1: replicas did not converge after the faults stopped.
    Convergence,
    /// §9.2.2: an operation in the good period did not complete in time.
    BoundedCompletion,
    /// §11.3: two conflicting read-modify-writes both committed (one lies strictly between the
    /// other's base and its Ts).
    RmwExclusion,
    /// §11.4: a read-modify-write that its coordinator retried as having had no effect committed.
    RmwNoEffect,
}

impl Invariant {
    /// A short stable name.
    pub fn name(self) -> &'static str {
        match self {
            Invariant::Linearizability => "linearizability",
            Invariant::LinearizabilityUnknown => "linearizability-unknown",
            Invariant::ValidAgreement => "valid-agreement",
            Invariant::CommitUniversal => "commit-universal",
            Invariant::GuardianOrder => "guardian-order",
            Invariant::TsUniqueness => "ts-uniqueness",
            Invariant::PartialReplay => "partial-replay",
            Invariant::Monotonicity => "monotonicity",
            Invariant::ReadWithoutLease => "read-without-lease",
            Invariant::MembershipSafety => "membership-safety",
            Invariant::EngineInvariant => "engine-invariant",
            Invariant::Convergence => "convergence",
            Invariant::BoundedCompletion => "bounded-completion",
            Invariant::RmwExclusion => "rmw-exclusion",
            Invariant::RmwNoEffect => "rmw-no-effect",
        }
    }
}

/// One broken invariant, with when (true time, ns) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub invariant: Invariant,
    /// True time of detection, ns.
    pub at_ns: u64,
    /// Human-readable details.
    pub detail: String,
}

/// Global knowledge accumulated during a run.
#[derive(Debug, Default)]
pub struct Oracle {
    /// Every update seen on the wire or committed, by ts (the first version seen).
    pub updates: BTreeMap<Ts, UpdateRef>,
    /// First commit of each update: (true time, event sequence).
    pub commits: BTreeMap<Ts, (u64, u64)>,
    /// Per key, the highest committed ts.
    committed_max: BTreeMap<Bytes, Ts>,
    /// Per node: its admission epoch and, per key, the highest ts it acknowledged under that
    /// identity (it must never hold less afterwards).
    acked_max: Vec<(u64, BTreeMap<Bytes, Ts>)>,
    /// Every decided view seen, by epoch.
    views: BTreeMap<level2pc::Epoch, View>,
    /// When each identity was first removed or demoted by a decided view (true time).
    removed_at: BTreeMap<level2pc::MemberId, u64>,
    /// Keys touched by INVs since the last incremental agreement check.
    dirty: std::collections::BTreeSet<Bytes>,
    /// Timestamps already reported as colliding.
    reported: std::collections::BTreeSet<Ts>,
    /// Per key, the `(base, ts)` of every committed read-modify-write.
    committed_rmws: BTreeMap<Bytes, Vec<(Ts, Ts)>>,
    /// Read-modify-writes a coordinator retried as having had no effect.
    retried: std::collections::BTreeSet<Ts>,
    /// Violations found so far (capped).
    pub violations: Vec<Violation>,
}

const MAX_VIOLATIONS: usize = 20;

impl Oracle {
    /// An oracle for `n` nodes.
    pub fn new(n: usize) -> Oracle {
        Oracle {
            acked_max: vec![(0, BTreeMap::new()); n],
            ..Default::default()
        }
    }

    /// §11.3: a committed RMW `update` conflicts with no other committed RMW on its key.
    fn check_rmw_exclusion(&mut self, now: u64, update: &UpdateRef) {
        let (Some(base), Some(w)) = (update.base, update.writes.first()) else {
            return;
        };
        let ts = update.ts;
        let others = self.committed_rmws.entry(w.key.clone()).or_default();
        let clash = others
            .iter()
            .find(|(b, t)| (base < *t && *t < ts) || (*b < ts && ts < *t))
            .copied();
        others.push((base, ts));
        if let Some((b, t)) = clash {
            let detail = format!(
                "RMWs {ts} (base {base}) and {t} (base {b}) on key {} both committed",
                String::from_utf8_lossy(&w.key)
            );
            self.violate(Invariant::RmwExclusion, now, detail);
        }
    }

    /// A coordinator retried its RMW `ts` as having had no effect (§11.4).
    pub fn on_rmw_retried(&mut self, now: u64, node: usize, ts: Ts) {
        self.retried.insert(ts);
        if self.commits.contains_key(&ts) {
            let detail = format!("n{node} retried {ts} as having had no effect, but it committed");
            self.violate(Invariant::RmwNoEffect, now, detail);
        }
    }

    /// Records a violation (keeps the first few).
    pub fn violate(&mut self, invariant: Invariant, at_ns: u64, detail: String) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(Violation {
                invariant,
                at_ns,
                detail,
            });
        }
    }

    /// Looks at every message a node (admitted at `adm`) sends.
    pub fn on_send(&mut self, now: u64, from: usize, adm: u64, msg: &Message) {
        match msg {
            Message::Decided { view } | Message::ViewInfo { view } => self.on_view(now, view),
            Message::Inv { update, .. } => {
                self.dirty
                    .extend(update.writes.iter().map(|w| w.key.clone()));
                self.on_inv(now, update)
            }
            Message::Val { ts, .. } => {
                if let Some(u) = self.updates.get(ts) {
                    self.dirty.extend(u.writes.iter().map(|w| w.key.clone()));
                }
            }
            Message::Ack { ts, .. } => {
                let acked = &mut self.acked_max[from];
                if acked.0 != adm {
                    *acked = (adm, BTreeMap::new()); // a new identity starts from a clean slate
                }
                if let Some(u) = self.updates.get(ts) {
                    for w in &u.writes {
                        let max = acked.1.entry(w.key.clone()).or_insert(Ts::ZERO);
                        *max = (*max).max(*ts);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_inv(&mut self, now: u64, update: &UpdateRef) {
        let Some(first) = self.updates.get(&update.ts) else {
            self.updates.insert(update.ts, update.clone());
            return;
        };
        if first.writes == update.writes {
            return;
        }
        let subset = update.writes.iter().all(|w| first.writes.contains(w));
        let (inv, what) = if subset {
            (
                Invariant::PartialReplay,
                "an INV carried part of the update",
            )
        } else {
            (Invariant::TsUniqueness, "two different updates share a ts")
        };
        let detail = format!(
            "{what}: ts {} first {} writes, now {}",
            update.ts,
            first.writes.len(),
            update.writes.len()
        );
        // Report each ts once; keep the first version as the reference.
        if self.reported.insert(update.ts) {
            self.violate(inv, now, detail);
        }
    }

    /// A node reports that an update it drove committed: every member of its view must hold it
    /// durably.
    pub fn on_commit(
        &mut self,
        now: u64,
        seq: u64,
        node: usize,
        ts: Ts,
        view: &View,
        disks: &[MemDisk],
    ) {
        let first = !self.commits.contains_key(&ts);
        self.commits.entry(ts).or_insert((now, seq));
        if self.retried.contains(&ts) {
            self.violate(
                Invariant::RmwNoEffect,
                now,
                format!(
                    "n{node} committed {ts}, which its coordinator retried as having had no effect"
                ),
            );
        }
        let Some(update) = self.updates.get(&ts).cloned() else {
            return;
        };
        if first {
            self.check_rmw_exclusion(now, &update);
        }
        for w in &update.writes {
            let max = self.committed_max.entry(w.key.clone()).or_insert(Ts::ZERO);
            *max = (*max).max(ts);
            // A member whose disk was lost since (its stored identity is no longer the one the
            // view lists) is the explicit exception: the data lives on the others.
            let members = view.members.iter().filter(|m| {
                disks
                    .get(m.id.node.0 as usize)
                    .and_then(|d| d.identity)
                    .map(|i| i.adm)
                    == Some(m.id.adm)
            });
            for (i, disk) in members.filter_map(|m| {
                disks
                    .get(m.id.node.0 as usize)
                    .map(|d| (m.id.node.0 as usize, d))
            }) {
                if disk.ts_of(&w.key) < ts {
                    let detail = format!(
                        "n{node} committed {ts} but n{i}'s disk has key {} at {}",
                        String::from_utf8_lossy(&w.key),
                        disk.ts_of(&w.key)
                    );
                    self.violate(Invariant::CommitUniversal, now, detail);
                }
            }
        }
    }

    /// A node restarted: its recovered state must not be below anything it acknowledged under
    /// the identity it still has.
    pub fn on_restart(&mut self, now: u64, i: usize, node: &Node, disk_lost: bool) {
        let same_identity = node
            .member_id()
            .is_some_and(|id| id.adm == self.acked_max[i].0);
        if disk_lost || !same_identity {
            self.acked_max[i].1.clear(); // explicitly discarded state (§9.1 item 9)
            return;
        }
        let regressions: Vec<String> = self.acked_max[i]
            .1
            .iter()
            .filter(|(k, ts)| node.inspect_key(k).map_or(Ts::ZERO, |s| s.ts) < **ts)
            .map(|(k, ts)| format!("{} acked {ts}", String::from_utf8_lossy(k)))
            .take(3)
            .collect();
        if !regressions.is_empty() {
            self.violate(
                Invariant::Monotonicity,
                now,
                format!("n{i} restarted below what it acknowledged: {regressions:?}"),
            );
        }
    }

    /// A decided view: at most one per epoch, each following its predecessor by the chain rule;
    /// remember when identities were removed.
    fn on_view(&mut self, now: u64, view: &View) {
        if let Some(known) = self.views.get(&view.epoch) {
            if known != view {
                self.violate(
                    Invariant::MembershipSafety,
                    now,
                    format!("two views decided for epoch {}", view.epoch.0),
                );
            }
            return;
        }
        let prev = level2pc::Epoch(view.epoch.0.saturating_sub(1));
        if let Some(p) = self.views.get(&prev).cloned() {
            if !p.may_precede(view) {
                self.violate(
                    Invariant::MembershipSafety,
                    now,
                    format!("view {} breaks the chain rule", view.epoch.0),
                );
            }
            for id in p.removed_or_demoted(view) {
                self.removed_at.entry(id).or_insert(now);
            }
        }
        self.views.insert(view.epoch, view.clone());
    }

    /// A read was answered by `node` at true time `now`: it must be an Active member, and no
    /// view removing it may have been decided before (§9.1.3, §9.1.12).
    pub fn on_read(&mut self, now: u64, i: usize, node: &Node) {
        let Some(id) = node.member_id().filter(|id| node.view().is_active(*id)) else {
            self.violate(
                Invariant::ReadWithoutLease,
                now,
                format!("n{i} served a read while not an Active member"),
            );
            return;
        };
        if let Some(&at) = self.removed_at.get(&id).filter(|&&at| at < now) {
            let detail = format!(
                "n{i} ({}.{}) served a read {}us after a view removing it was decided",
                id.node,
                id.adm,
                (now - at) / 1_000
            );
            self.violate(Invariant::ReadWithoutLease, now, detail);
        }
    }

    /// Valid agreement (§9.1.2) on the keys touched since the last call (cheap; run often).
    pub fn check_recent_agreement(&mut self, now: u64, nodes: &[Option<Node>]) {
        let keys = std::mem::take(&mut self.dirty);
        self.check_agreement(now, nodes, keys.iter());
    }

    /// Valid agreement (§9.1.2) on every key any node holds (run at the end).
    pub fn check_valid_agreement(&mut self, now: u64, nodes: &[Option<Node>]) {
        let keys: std::collections::BTreeSet<Bytes> = nodes
            .iter()
            .flatten()
            .flat_map(|n| n.inspect_all().map(|e| e.0.clone()))
            .collect();
        self.check_agreement(now, nodes, keys.iter());
    }

    /// For each key: every node that is a member of the latest view and holds the key Valid
    /// holds the same (ts, value), and no lower than the highest committed ts. (A removed node
    /// may keep stale Valid entries; it just must not serve them, which the lease check covers.)
    fn check_agreement<'k>(
        &mut self,
        now: u64,
        nodes: &[Option<Node>],
        keys: impl Iterator<Item = &'k Bytes>,
    ) {
        // The latest view decided anywhere (a node that has not learned it yet may be stale).
        let installed = nodes.iter().flatten().map(|n| n.view().epoch).max();
        let latest = self.views.keys().next_back().copied().max(installed);
        // A Joining member still in its transfer may hold a key Valid below the latest commit
        // (a VAL for an INV it applied before the snapshot's newer entry arrived): it serves no
        // reads and the snapshot merge fixes it, so it is not held to agreement until it is done.
        let counts = |n: &&Node| {
            Some(n.view().epoch) == latest
                && n.member_id().is_some()
                && n.identity().is_some_and(|i| i.transfer_done)
        };
        let mut found = Vec::new();
        for key in keys {
            let mut first: Option<(usize, Ts, Option<Bytes>)> = None;
            for (i, node) in nodes.iter().enumerate() {
                let Some(level2pc::StoredEntry {
                    ts,
                    valid: true,
                    value,
                }) = node
                    .as_ref()
                    .filter(counts)
                    .and_then(|n| n.inspect_key(key))
                else {
                    continue;
                };
                if let Some(&max) = self.committed_max.get(key) {
                    if ts < max {
                        found.push(format!(
                            "n{i} holds {} Valid at {ts} below committed {max}",
                            String::from_utf8_lossy(key)
                        ));
                    }
                }
                match &first {
                    Some((j, ts2, v2)) if *ts2 != ts || *v2 != value => found.push(format!(
                        "{} Valid at {ts} on n{i} but at {ts2} on n{j}",
                        String::from_utf8_lossy(key)
                    )),
                    Some(_) => {}
                    None => first = Some((i, ts, value)),
                }
            }
        }
        for detail in found.into_iter().take(3) {
            self.violate(Invariant::ValidAgreement, now, detail);
        }
    }

    /// Whether update `u` was still observable when it committed: some key of it was not yet
    /// overwritten by a higher update that had committed before. An unobservable update may
    /// commit in any order (it can be linearized just before its superseders); this happens
    /// when a removed coordinator completes it with ACKs its old epoch collected.
    fn observable_at_commit(&self, u: Ts) -> bool {
        let (Some(update), Some(&u_at)) = (self.updates.get(&u), self.commits.get(&u)) else {
            return true;
        };
        update.writes.iter().any(|w| {
            !self.commits.range(u..).any(|(v, at)| {
                *v > u
                    && *at < u_at
                    && self
                        .updates
                        .get(v)
                        .is_some_and(|vu| vu.writes.iter().any(|x| x.key == w.key))
            })
        })
    }

    /// The guardian lemma (§5.3, §9.1.7): if a multi-key U and an overlapping W both committed
    /// and ts(U) < ts(W), U committed first — unless U was no longer observable by then.
    pub fn check_guardian_order(&mut self) {
        // Per key: (ts, first commit (time, seq), multi-key?) in ts order.
        type Commit = (Ts, (u64, u64), bool);
        let mut per_key: BTreeMap<&Bytes, Vec<Commit>> = BTreeMap::new();
        for (ts, at) in &self.commits {
            let Some(u) = self.updates.get(ts) else {
                continue;
            };
            for w in &u.writes {
                per_key
                    .entry(&w.key)
                    .or_default()
                    .push((*ts, *at, u.is_multi_key()));
            }
        }
        let mut found = Vec::new();
        for (key, list) in per_key {
            // `list` is in ts order (commits is a BTreeMap by ts).
            let mut latest_multi: Option<(Ts, (u64, u64))> = None;
            for (ts, at, multi) in list {
                if let Some((u, u_at)) = latest_multi {
                    if at < u_at && self.observable_at_commit(u) {
                        found.push(format!(
                            "on {} batch {u} committed at {}ns after higher {ts} at {}ns",
                            String::from_utf8_lossy(key),
                            u_at.0,
                            at.0
                        ));
                    }
                }
                if multi && latest_multi.is_none_or(|(_, t)| at > t) {
                    latest_multi = Some((ts, at));
                }
            }
        }
        for detail in found.into_iter().take(3) {
            self.violate(Invariant::GuardianOrder, 0, detail);
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each oracle check fails on a known-bad input (and stays quiet on the matching good one).
    use super::*;
    use level2pc::{
        BootInc, Config, Epoch, Member, MemberId, NodeId, Recovered, Role, Update, Write,
    };
    use std::sync::Arc;

    fn ts(v: u64, node: u32) -> Ts {
        Ts::new(v, NodeId(node), BootInc(1))
    }
    fn update(t: Ts, keys: &[&str]) -> UpdateRef {
        let writes = keys
            .iter()
            .map(|k| Write {
                key: k.as_bytes().into(),
                value: None,
            })
            .collect();
        Arc::new(Update {
            ts: t,
            writes,
            base: None,
        })
    }
    fn inv(u: &UpdateRef) -> Message {
        Message::Inv {
            epoch: Epoch(1),
            update: u.clone(),
        }
    }
    fn view(epoch: u64, members: &[(u32, Role)]) -> View {
        let members = members
            .iter()
            .map(|&(n, role)| Member {
                id: MemberId {
                    node: NodeId(n),
                    adm: 1,
                },
                role,
            })
            .collect();
        View {
            epoch: Epoch(epoch),
            members,
        }
    }
    fn kinds(o: &Oracle) -> Vec<Invariant> {
        o.violations.iter().map(|v| v.invariant).collect()
    }

    #[test]
    fn a_reused_ts_and_a_partial_replay_are_told_apart() {
        let mut o = Oracle::new(3);
        o.on_send(1, 0, 1, &inv(&update(ts(1, 0), &["a", "b"])));
        o.on_send(2, 1, 1, &inv(&update(ts(1, 0), &["a", "b"])));
        assert!(o.violations.is_empty(), "a retransmission is fine");
        o.on_send(3, 1, 1, &inv(&update(ts(1, 0), &["b"])));
        o.on_send(4, 0, 1, &inv(&update(ts(2, 0), &["a"])));
        o.on_send(5, 0, 1, &inv(&update(ts(2, 0), &["c"])));
        assert_eq!(
            kinds(&o),
            vec![Invariant::PartialReplay, Invariant::TsUniqueness]
        );
    }

    #[test]
    fn two_views_for_one_epoch_or_a_broken_chain_are_flagged() {
        let all = [(0, Role::Active), (1, Role::Active), (2, Role::Active)];
        let mut o = Oracle::new(3);
        o.on_send(
            1,
            0,
            1,
            &Message::Decided {
                view: view(1, &all),
            },
        );
        o.on_send(
            2,
            0,
            1,
            &Message::Decided {
                view: view(2, &all[..2]),
            },
        );
        o.on_send(
            3,
            1,
            1,
            &Message::ViewInfo {
                view: view(2, &all[..2]),
            },
        );
        assert!(
            o.violations.is_empty(),
            "the same view learned twice is fine"
        );
        o.on_send(
            4,
            2,
            1,
            &Message::Decided {
                view: view(2, &all[1..]),
            },
        );
        o.on_send(
            5,
            2,
            1,
            &Message::Decided {
                view: view(3, &[(5, Role::Active)]),
            },
        );
        assert_eq!(
            kinds(&o),
            vec![Invariant::MembershipSafety, Invariant::MembershipSafety]
        );
    }

    #[test]
    fn a_read_after_a_decided_removal_is_flagged() {
        let all = [(0, Role::Active), (1, Role::Active), (2, Role::Active)];
        let mut o = Oracle::new(3);
        o.on_send(
            1,
            0,
            1,
            &Message::Decided {
                view: view(1, &all),
            },
        );
        let cfg = Config::new(NodeId(2), vec![NodeId(0), NodeId(1), NodeId(2)]);
        let stale = Node::new(
            cfg,
            Recovered {
                boot: BootInc(1),
                ..Default::default()
            },
            level2pc::Instant::ZERO,
        )
        .expect("config");
        o.on_read(5, 2, &stale);
        assert!(o.violations.is_empty(), "still a member: fine");
        o.on_send(
            10,
            0,
            1,
            &Message::Decided {
                view: view(2, &all[..2]),
            },
        );
        o.on_read(10, 2, &stale);
        assert!(
            o.violations.is_empty(),
            "the same instant as the decision is not after it"
        );
        o.on_read(11, 2, &stale);
        assert_eq!(kinds(&o), vec![Invariant::ReadWithoutLease]);
    }

    #[test]
    fn guardian_order_is_flagged_only_for_an_update_still_observable() {
        let v = view(1, &[(0, Role::Active)]);
        let disks = vec![MemDisk::default()];
        let run = |w_keys: &[&str]| {
            let mut o = Oracle::new(1);
            let (u, w) = (update(ts(1, 0), &["a", "b"]), update(ts(2, 0), w_keys));
            o.on_send(1, 0, 1, &inv(&u));
            o.on_send(1, 0, 1, &inv(&w));
            o.on_commit(10, 1, 0, w.ts, &v, &disks); // the higher W commits first
            o.on_commit(20, 2, 0, u.ts, &v, &disks);
            o.check_guardian_order();
            kinds(&o).contains(&Invariant::GuardianOrder)
        };
        assert!(
            run(&["a"]),
            "batch U still visible on b when it committed after W"
        );
        assert!(
            !run(&["a", "b"]),
            "W overwrote all of U first: U was never observable"
        );
    }

    /// An RMW of `by` (rank `rank`) on `base`, writing key "k".
    fn rmw(base: Ts, rank: u32, by: u32) -> UpdateRef {
        let by = level2pc::WriterId {
            node: NodeId(by),
            boot: BootInc(1),
        };
        Arc::new(Update {
            ts: Ts::rmw_on(base, rank, by, 1).unwrap(),
            writes: vec![Write {
                key: b"k"[..].into(),
                value: None,
            }],
            base: Some(base),
        })
    }

    #[test]
    fn two_conflicting_rmws_committed_are_flagged_a_chain_is_not() {
        let v = view(1, &[(0, Role::Active)]);
        let disks = vec![MemDisk::default()];
        let run = |second_on_first: bool| {
            let mut o = Oracle::new(1);
            let first = rmw(Ts::ZERO, 1, 0);
            let base = if second_on_first { first.ts } else { Ts::ZERO };
            let second = rmw(base, 2, 0);
            for (t, u) in [(10, &first), (20, &second)] {
                o.on_send(t, 0, 1, &inv(u));
                o.on_commit(t, t, 0, u.ts, &v, &disks);
            }
            kinds(&o).contains(&Invariant::RmwExclusion)
        };
        assert!(run(false), "two RMWs on one base both committed");
        assert!(
            !run(true),
            "the second read the first: a chain, no conflict"
        );
    }

    #[test]
    fn a_retried_rmw_that_commits_is_flagged_in_either_order() {
        let v = view(1, &[(0, Role::Active)]);
        let disks = vec![MemDisk::default()];
        let r = rmw(Ts::ZERO, 1, 0);
        for retried_first in [true, false] {
            let mut o = Oracle::new(1);
            o.on_send(1, 0, 1, &inv(&r));
            if retried_first {
                o.on_rmw_retried(5, 0, r.ts);
            }
            o.on_commit(10, 1, 0, r.ts, &v, &disks);
            if !retried_first {
                o.on_rmw_retried(15, 0, r.ts);
            }
            assert_eq!(kinds(&o), vec![Invariant::RmwNoEffect]);
        }
        let mut o = Oracle::new(1);
        o.on_rmw_retried(5, 0, r.ts);
        assert!(kinds(&o).is_empty(), "retried and never committed: fine");
    }
}
