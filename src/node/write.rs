//! The driver side of an update: coordinating a client write, replaying an orphaned one,
//! retransmitting, the guardian rule, and committing (protocol.md §4.4, §4.6, §5.3).

use super::{Drive, Node, Record, Timer};
use crate::client::RequestId;
use crate::message::Message;
use crate::mutant::Mutant;
use crate::output::Event;
use crate::storage::PersistOp;
use crate::timestamp::{Epoch, NodeId, Ts, WriterId};
use crate::update::{Bytes, Update, UpdateRef, Write};
use std::sync::Arc;

impl Node {
    /// Starts coordinating `writes` for request `id`. The caller has checked that every key is
    /// Valid here and that the node is ready.
    pub(super) fn start_write(&mut self, id: RequestId, writes: Vec<Write>) -> Ts {
        let max_key_version = writes
            .iter()
            .map(|w| self.entry_ts(&w.key).version)
            .max()
            .unwrap_or(0);
        // Amendment F1: above every key's version *and* above this writer's last version, so
        // one writer never issues the same Ts for two different updates.
        let forget_writer =
            self.mutant(Mutant::NoWriterLastVersion) || self.mutant(Mutant::NoBootInTs);
        let version = if forget_writer {
            max_key_version.saturating_add(1)
        } else {
            max_key_version
                .max(self.replica.last_version)
                .saturating_add(1)
        };
        let boot = if self.mutant(Mutant::NoBootInTs) {
            crate::timestamp::BootInc(0)
        } else {
            self.writer_boot()
        };
        // F1: above every key's version, so the write supersedes what it read as Valid.
        debug_assert!(version > max_key_version || max_key_version == u64::MAX);
        self.replica.last_version = version;
        let ts = Ts::new(version, self.cfg.id, boot);
        self.start_update(
            id,
            Update {
                ts,
                writes,
                base: None,
            },
        );
        ts
    }

    /// Starts coordinating the RMW of request `id`: `key`, Valid here at `base`, gets `value`
    /// (protocol.md §11.1). `None` if `base` ends a chain too long to extend.
    pub(super) fn start_rmw(
        &mut self,
        id: RequestId,
        key: Bytes,
        base: Ts,
        value: Option<Bytes>,
    ) -> Option<Ts> {
        use rand::Rng;
        let seq = self.replica.last_version.max(base.version).checked_add(1)?;
        let ts = if self.mutant(Mutant::RmwHermesTimestamps) {
            Ts::new(seq, self.cfg.id, self.writer_boot())
        } else {
            let me = WriterId {
                node: self.cfg.id,
                boot: self.writer_boot(),
            };
            Ts::rmw_on(base, self.rng.gen(), me, seq)?
        };
        self.replica.last_version = seq;
        self.start_update(
            id,
            Update {
                ts,
                writes: vec![Write { key, value }],
                base: Some(base),
            },
        );
        Some(ts)
    }

    /// Applies, records and broadcasts a new update this node coordinates for request `id`.
    fn start_update(&mut self, id: RequestId, update: Update) {
        let ts = update.ts;
        let update = Arc::new(update);
        self.apply_update(&update);
        let persist_seq = self.persists.barrier();
        self.insert_record(update.clone(), persist_seq, Some(id));
        self.broadcast_inv(update);
        self.schedule_retransmit(ts);
        self.replica.blocked_commits.insert(ts);
    }

    /// Sends `update`'s INV to every other member.
    pub(super) fn broadcast_inv(&mut self, update: UpdateRef) {
        let others: Vec<NodeId> = self.view.others(self.cfg.id).collect();
        for to in others {
            self.send_inv(to, update.clone());
        }
    }

    /// Sends `update`'s INV to `to`. A write's INV may leave before this node's own persist of
    /// it is durable: the boot incarnation in the Ts means no other update can ever carry this
    /// Ts (P2, §4.1). An RMW's waits for it (§11.2 R2).
    fn send_inv(&mut self, to: NodeId, update: UpdateRef) {
        let hold = (update.is_rmw() && !self.mutant(Mutant::RmwInvBeforeDurable))
            .then(|| self.replica.records.get(&update.ts).map(|r| r.persist_seq))
            .flatten()
            .filter(|seq| !self.persists.is_durable(*seq));
        let msg = Message::Inv {
            epoch: self.view.epoch,
            update,
        };
        match hold {
            Some(seq) => self.outbox.send_after(seq, to, msg),
            None => self.send(to, msg),
        }
    }

    /// The boot part of this node's writer id: its admission epoch above its boot count, so a
    /// node that lost its disk (and so its boot count) still never reuses a Ts (§4.1).
    pub(super) fn writer_boot(&self) -> crate::timestamp::BootInc {
        let adm = self.identity.map_or(0, |i| i.adm);
        crate::timestamp::BootInc((adm << 32) | (self.boot.0 & 0xffff_ffff))
    }

    /// Applies every write of `update` whose key is at a lower Ts here, staging the persist.
    /// Returns whether any key adopted it.
    pub(super) fn apply_update(&mut self, update: &UpdateRef) -> bool {
        // Callers check what came from the network (on_inv) or build it canonical (start_write).
        debug_assert!(
            update.is_canonical(),
            "apply_update of a non-canonical update"
        );
        let mut adopted = false;
        let mut superseded = Vec::new();
        for w in &update.writes {
            let old_ts = self.entry_ts(&w.key);
            if update.ts <= old_ts {
                continue;
            }
            adopted = true;
            if old_ts != Ts::ZERO {
                superseded.push(old_ts);
            }
            let entry = super::Entry {
                ts: update.ts,
                valid: false,
                value: w.value.clone(),
                committed_in: None,
            };
            self.persists.stage(PersistOp::Entry {
                key: w.key.clone(),
                entry: entry.to_stored(),
            });
            self.replica.store.insert(w.key.clone(), entry);
        }
        for old in superseded {
            self.stop_superseded_rmw(old);
            self.maybe_drop_record(old);
        }
        adopted
    }

    /// The key of the RMW `old` moved past it here: if this node drives `old`, it stops. Its own
    /// entry now refuses `old`, so counting itself for it would break §11.3 (rule R3); its client
    /// waits for the key's next committed value (§11.4).
    fn stop_superseded_rmw(&mut self, old: Ts) {
        if self.mutant(Mutant::RmwSelfAckAfterSupersede) {
            return;
        }
        self.stop_driving_rmw(old);
    }

    /// Ends this node's drive of the RMW `ts` without committing it (refused, or superseded
    /// here), and lets its client wait for the outcome (§11.4).
    pub(super) fn stop_driving_rmw(&mut self, ts: Ts) {
        let Some(rec) = self.replica.records.get_mut(&ts) else {
            return;
        };
        if !rec.update.is_rmw() {
            return;
        }
        let Some(drive) = rec.drive.take() else {
            return;
        };
        self.timers.cancel(Timer::Retransmit(ts));
        self.replica.blocked_commits.remove(&ts);
        // Still a holder: replay it later like any pending update, should it still be Invalid.
        let at = self.stuck_deadline();
        self.set_timer(at, Timer::Stuck(ts));
        if let Some(id) = drive.client {
            self.await_rmw_outcome(id);
        }
        self.maybe_drop_record(ts);
    }

    /// `Nack{epoch, ts}`: a member refuses the RMW `ts` (§11.2). Driving it further in this
    /// epoch is futile.
    pub(super) fn on_nack(&mut self, epoch: Epoch, ts: Ts) {
        if epoch != self.view.epoch {
            return;
        }
        self.stop_driving_rmw(ts);
    }

    /// Stores a record of `update` (durable with persist `persist_seq`), driving it for `client`
    /// if given.
    pub(super) fn insert_record(
        &mut self,
        update: UpdateRef,
        persist_seq: u64,
        client: Option<RequestId>,
    ) {
        let ts = update.ts;
        self.replica.multi_records.insert(&update);
        self.persists.stage(PersistOp::Record(update.clone()));
        let drive = client.map(|c| Drive {
            acks: Default::default(),
            client: Some(c),
        });
        self.replica
            .records
            .insert(ts, Record::new(update, persist_seq, drive));
    }

    /// Becomes a driver of the pending update `ts`: broadcast its full record under the same Ts
    /// and collect every member's ACK again (protocol.md §4.6).
    pub(super) fn start_replay(&mut self, ts: Ts) {
        let Some(rec) = self.replica.records.get_mut(&ts) else {
            return;
        };
        if rec.drive.is_none() {
            rec.drive = Some(Drive {
                acks: Default::default(),
                client: None,
            });
        }
        let update = rec.update.clone();
        let update = if self.mutant(Mutant::PartialReplay) {
            let writes = (update.writes.iter())
                .filter(|w| {
                    self.replica
                        .store
                        .get(&w.key)
                        .is_some_and(|e| e.ts == ts && !e.valid)
                })
                .cloned()
                .collect();
            Arc::new(Update {
                ts,
                writes,
                base: update.base,
            })
        } else {
            update
        };
        self.broadcast_inv(update);
        self.schedule_retransmit(ts);
        self.replica.blocked_commits.insert(ts);
    }

    fn schedule_retransmit(&mut self, ts: Ts) {
        let at = self.now.plus_ms(self.cfg.retransmit_ms);
        self.set_timer(at, Timer::Retransmit(ts));
    }

    /// Resends the INV of a driven update to every member that has not acknowledged it.
    pub(super) fn on_retransmit(&mut self, ts: Ts) {
        let Some(Record {
            update,
            drive: Some(drive),
            ..
        }) = self.replica.records.get(&ts)
        else {
            return;
        };
        let silent: Vec<_> = self
            .view
            .others(self.cfg.id)
            .filter(|n| !drive.acks.contains(n))
            .collect();
        let update = update.clone();
        for to in silent {
            self.send_inv(to, update.clone());
        }
        self.schedule_retransmit(ts);
    }

    /// `T_stuck` passed for a record: replay it if a key is still Invalid at its Ts.
    pub(super) fn on_stuck(&mut self, ts: Ts) {
        let Some(rec) = self.replica.records.get(&ts) else {
            return;
        };
        if rec.drive.is_some() {
            return;
        }
        if self.has_invalid_key_at(&rec.update, ts) {
            self.start_replay(ts);
        }
    }

    pub(super) fn stuck_deadline(&mut self) -> crate::time::Instant {
        use rand::Rng;
        let jitter_ms = self.rng.gen_range(0..=self.cfg.stuck_ms / 2);
        self.now.plus_ms(self.cfg.stuck_ms + jitter_ms)
    }

    /// Counts an ACK for an update this node drives.
    pub(super) fn on_ack(&mut self, from: NodeId, epoch: Epoch, ts: Ts) {
        if epoch != self.view.epoch {
            return; // epoch fencing: only ACKs of the installed epoch count
        }
        if let Some(Record {
            drive: Some(drive), ..
        }) = self.replica.records.get_mut(&ts)
        {
            drive.acks.insert(from);
        }
    }

    /// Whether this node replays `ts` rather than coordinating it (another writer's, or its own
    /// from an earlier boot).
    fn is_replayer_of(&self, ts: Ts) -> bool {
        ts.issuer()
            != WriterId {
                node: self.cfg.id,
                boot: self.writer_boot(),
            }
    }

    /// Whether this node *holds* the multi-key update `rec` (amendment F2): it drives it
    /// uncommitted, or one of its keys is still here at its Ts and not Valid.
    fn holds(&self, rec: &Record) -> bool {
        if self.mutant(Mutant::GuardianLiteralHold) {
            return !rec.committed;
        }
        rec.drive.is_some() || self.has_invalid_key_at(&rec.update, rec.update.ts)
    }

    /// The guardian rule G: may `update` be acknowledged or committed here? Not while this node
    /// holds an uncommitted multi-key update with a lower Ts that shares a key with it.
    pub(super) fn guardian_allows(&self, update: &Update) -> bool {
        if self.mutant(Mutant::SkipGuardian) {
            return true;
        }
        self.replica
            .multi_records
            .overlapping_below(update)
            .iter()
            .all(|ts| {
                self.replica
                    .records
                    .get(ts)
                    .is_none_or(|rec| !self.holds(rec))
            })
    }

    /// Commits a driven update if every condition holds; returns whether it did.
    fn try_commit(&mut self, ts: Ts) -> bool {
        let Some(rec) = self.replica.records.get(&ts) else {
            return true;
        };
        let Some(drive) = &rec.drive else { return true };
        let missing = self
            .view
            .others(self.cfg.id)
            .filter(|n| !drive.acks.contains(n))
            .count()
            .saturating_sub(usize::from(self.mutant(Mutant::CommitWithoutAllAcks)));
        let guarded = !(self.mutant(Mutant::GuardianSkipsReplayers) && self.is_replayer_of(ts));
        let durable = self.persists.is_durable(rec.persist_seq);
        if !(missing == 0 && durable && (!guarded || self.guardian_allows(&rec.update))) {
            return false;
        }
        self.commit(ts);
        true
    }

    /// The update `ts` committed (we collected every ACK): validate its keys still at `ts`, tell
    /// everyone, answer the client.
    fn commit(&mut self, ts: Ts) {
        assert!(
            self.replica
                .records
                .get(&ts)
                .is_some_and(|r| r.drive.is_some()),
            "commit of {ts}, which this node does not drive"
        );
        self.broadcast(&Message::Val {
            epoch: self.view.epoch,
            ts,
        });
        self.event(Event::Committed(ts));
        self.learn_committed(ts, Some(self.view.epoch));
    }

    /// The update `ts` is known committed (by our own commit or a VAL, in `epoch` if known):
    /// keys still at `ts` become Valid, any drive of it ends, and its client (if any) gets its
    /// answer.
    pub(super) fn learn_committed(&mut self, ts: Ts, epoch: Option<Epoch>) {
        let Some(rec) = self.replica.records.get_mut(&ts) else {
            return;
        };
        let drive = rec.drive.take();
        rec.committed = true;
        self.timers.cancel(Timer::Retransmit(ts));
        let update = rec.update.clone();
        for w in &update.writes {
            self.validate_key(&w.key, ts, epoch);
        }
        if let Some(id) = drive.and_then(|d| d.client) {
            self.answer_commit(id, ts);
        }
        self.maybe_drop_record(ts);
    }

    /// Marks `key` Valid if it is still at `ts` (committed in `epoch`, if known), and wakes what
    /// was parked on it.
    pub(super) fn validate_key(&mut self, key: &Bytes, ts: Ts, epoch: Option<Epoch>) {
        let Some(entry) = self.replica.store.get_mut(key) else {
            return;
        };
        if entry.ts != ts || entry.valid {
            return;
        }
        entry.valid = true;
        entry.committed_in = epoch;
        self.persists.stage(PersistOp::Validate {
            key: key.clone(),
            ts,
        });
        if entry.value.is_none() && self.mutant(Mutant::PhysicalDeletes) {
            self.replica.store.remove(key);
        }
        self.wake_parked(key);
    }

    /// Forgets a record once nothing needs it: not driven, and no key Invalid at its Ts.
    pub(super) fn maybe_drop_record(&mut self, ts: Ts) {
        let Some(rec) = self.replica.records.get(&ts) else {
            return;
        };
        if rec.drive.is_some() || self.has_invalid_key_at(&rec.update, ts) {
            return;
        }
        if self.mutant(Mutant::GuardianLiteralHold) && !rec.committed {
            return;
        }
        if let Some(rec) = self.replica.records.remove(&ts) {
            self.replica.multi_records.remove(&rec.update);
        }
        self.timers.cancel(Timer::Retransmit(ts));
        self.timers.cancel(Timer::Stuck(ts));
        self.replica.blocked_commits.remove(&ts);
        self.persists.stage(PersistOp::DropRecord(ts));
    }

    /// Re-evaluates everything that waits on durability or the guardian rule, until nothing
    /// more moves: a commit can release a hold, which can release an ACK or another commit.
    pub(super) fn settle(&mut self) {
        // The common step (a heartbeat, a read) has nothing waiting: skip the copy below.
        if self.replica.blocked_commits.is_empty() && self.replica.deferred_acks.is_empty() {
            return;
        }
        loop {
            let mut progress = false;
            let blocked: Vec<Ts> = self.replica.blocked_commits.iter().copied().collect();
            for ts in blocked {
                if self.try_commit(ts) {
                    self.replica.blocked_commits.remove(&ts);
                    progress = true;
                }
            }
            progress |= self.release_deferred_acks();
            if !progress {
                break;
            }
        }
    }
}
