//! The driver side of an update: coordinating a client write, replaying an orphaned one,
//! retransmitting, the guardian rule, and committing (protocol.md §4.4, §4.6, §5.3).

use super::{Drive, Node, Record, Timer};
use crate::client::{OpResult, RequestId};
use crate::message::Message;
use crate::mutant::Mutant;
use crate::output::Event;
use crate::storage::PersistOp;
use crate::timestamp::Ts;
use crate::update::{Update, UpdateRef, Write};
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
            max_key_version.max(self.last_version).saturating_add(1)
        };
        let boot = if self.mutant(Mutant::NoBootInTs) {
            crate::timestamp::BootInc(0)
        } else {
            self.writer_boot()
        };
        // F1: above every key's version, so the write supersedes what it read as Valid.
        debug_assert!(version > max_key_version || max_key_version == u64::MAX);
        self.last_version = version;
        let ts = Ts::new(version, self.cfg.id, boot);
        let update = Arc::new(Update { ts, writes });
        self.apply_update(&update);
        let persist_seq = self.persists.barrier();
        self.insert_record(update.clone(), persist_seq, Some(id));
        // Broadcasting before our own persist is durable is safe: the boot incarnation in the
        // Ts means no other update can ever carry this Ts (P2, §4.1).
        self.broadcast(&Message::Inv {
            epoch: self.view.epoch,
            update,
        });
        self.schedule_retransmit(ts);
        self.blocked_commits.insert(ts);
        ts
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
            };
            self.persists.stage(PersistOp::Entry {
                key: w.key.clone(),
                entry: entry.to_stored(),
            });
            self.store.insert(w.key.clone(), entry);
        }
        for old in superseded {
            self.maybe_drop_record(old);
        }
        adopted
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
        self.multi_records.insert(&update);
        self.persists.stage(PersistOp::Record(update.clone()));
        let drive = client.map(|c| Drive {
            acks: Default::default(),
            client: Some(c),
        });
        self.records
            .insert(ts, Record::new(update, persist_seq, drive));
    }

    /// Becomes a driver of the pending update `ts`: broadcast its full record under the same Ts
    /// and collect every member's ACK again (protocol.md §4.6).
    pub(super) fn start_replay(&mut self, ts: Ts) {
        let epoch = self.view.epoch;
        let Some(rec) = self.records.get_mut(&ts) else {
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
                    self.store
                        .get(&w.key)
                        .is_some_and(|e| e.ts == ts && !e.valid)
                })
                .cloned()
                .collect();
            Arc::new(Update { ts, writes })
        } else {
            update
        };
        self.broadcast(&Message::Inv { epoch, update });
        self.schedule_retransmit(ts);
        self.blocked_commits.insert(ts);
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
        }) = self.records.get(&ts)
        else {
            return;
        };
        let silent: Vec<_> = self
            .view
            .others(self.cfg.id)
            .filter(|n| !drive.acks.contains(n))
            .collect();
        let msg = Message::Inv {
            epoch: self.view.epoch,
            update: update.clone(),
        };
        for to in silent {
            self.send(to, msg.clone());
        }
        self.schedule_retransmit(ts);
    }

    /// `T_stuck` passed for a record: replay it if a key is still Invalid at its Ts.
    pub(super) fn on_stuck(&mut self, ts: Ts) {
        let Some(rec) = self.records.get(&ts) else {
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
    pub(super) fn on_ack(
        &mut self,
        from: crate::timestamp::NodeId,
        epoch: crate::timestamp::Epoch,
        ts: Ts,
    ) {
        if epoch != self.view.epoch {
            return; // epoch fencing: only ACKs of the installed epoch count
        }
        if let Some(Record {
            drive: Some(drive), ..
        }) = self.records.get_mut(&ts)
        {
            drive.acks.insert(from);
        }
    }

    /// Whether this node replays `ts` rather than coordinating it (another writer's, or its own
    /// from an earlier boot).
    fn is_replayer_of(&self, ts: Ts) -> bool {
        ts.writer
            != crate::timestamp::WriterId {
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
        self.multi_records
            .overlapping_below(update)
            .iter()
            .all(|ts| self.records.get(ts).is_none_or(|rec| !self.holds(rec)))
    }

    /// Commits a driven update if every condition holds; returns whether it did.
    fn try_commit(&mut self, ts: Ts) -> bool {
        let Some(rec) = self.records.get(&ts) else {
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
            self.records.get(&ts).is_some_and(|r| r.drive.is_some()),
            "commit of {ts}, which this node does not drive"
        );
        self.broadcast(&Message::Val {
            epoch: self.view.epoch,
            ts,
        });
        self.event(Event::Committed(ts));
        self.learn_committed(ts);
    }

    /// The update `ts` is known committed (by our own commit or a VAL): keys still at `ts`
    /// become Valid, any drive of it ends, and its client (if any) gets its answer.
    pub(super) fn learn_committed(&mut self, ts: Ts) {
        let Some(rec) = self.records.get_mut(&ts) else {
            return;
        };
        let drive = rec.drive.take();
        rec.committed = true;
        self.timers.cancel(Timer::Retransmit(ts));
        let update = rec.update.clone();
        for w in &update.writes {
            self.validate_key(&w.key, ts);
        }
        if let Some(id) = drive.and_then(|d| d.client) {
            self.reply(id, OpResult::Written { ts });
        }
        self.maybe_drop_record(ts);
    }

    /// Marks `key` Valid if it is still at `ts`, and wakes what was parked on it.
    pub(super) fn validate_key(&mut self, key: &crate::update::Bytes, ts: Ts) {
        let Some(entry) = self.store.get_mut(key) else {
            return;
        };
        if entry.ts != ts || entry.valid {
            return;
        }
        entry.valid = true;
        self.persists.stage(PersistOp::Validate {
            key: key.clone(),
            ts,
        });
        if entry.value.is_none() && self.mutant(Mutant::PhysicalDeletes) {
            self.store.remove(key);
        }
        self.wake_parked(key);
    }

    /// Forgets a record once nothing needs it: not driven, and no key Invalid at its Ts.
    pub(super) fn maybe_drop_record(&mut self, ts: Ts) {
        let Some(rec) = self.records.get(&ts) else {
            return;
        };
        if rec.drive.is_some() || self.has_invalid_key_at(&rec.update, ts) {
            return;
        }
        if self.mutant(Mutant::GuardianLiteralHold) && !rec.committed {
            return;
        }
        if let Some(rec) = self.records.remove(&ts) {
            self.multi_records.remove(&rec.update);
        }
        self.timers.cancel(Timer::Retransmit(ts));
        self.timers.cancel(Timer::Stuck(ts));
        self.blocked_commits.remove(&ts);
        self.persists.stage(PersistOp::DropRecord(ts));
    }

    /// Re-evaluates everything that waits on durability or the guardian rule, until nothing
    /// more moves: a commit can release a hold, which can release an ACK or another commit.
    pub(super) fn settle(&mut self) {
        // The common step (a heartbeat, a read) has nothing waiting: skip the copy below.
        if self.blocked_commits.is_empty() && self.deferred_acks.is_empty() {
            return;
        }
        loop {
            let mut progress = false;
            let blocked: Vec<Ts> = self.blocked_commits.iter().copied().collect();
            for ts in blocked {
                if self.try_commit(ts) {
                    self.blocked_commits.remove(&ts);
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
