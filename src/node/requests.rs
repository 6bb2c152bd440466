//! Client requests: admission, bounds, parking until keys are Valid or the node is ready,
//! deadlines, and replies.

use super::{Node, Timer};
use crate::client::{Op, OpResult, RequestId, SubmitError, Unavailable};
use crate::mutant::Mutant;
use crate::output::{Event, Output};
use crate::rmw::Plan;
use crate::time::Instant;
use crate::timestamp::{Epoch, Ts};
use crate::update::{canonical_writes, Bytes, Write};
use std::collections::{BTreeMap, VecDeque};

/// What a pending client request is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Waiting {
    /// Not yet examined (transient).
    Nothing,
    /// A write waiting until the node is ready.
    Ready,
    /// Waiting for this key to become Valid.
    Key(Bytes),
    /// A read waiting for a lease (or for this node to become an Active member).
    Lease,
    /// A write in flight under this timestamp.
    Commit(Ts),
    /// An increment combined into the RMW with this timestamp, which another request drives
    /// (module `combine`).
    Riding(Ts),
}

/// A pending client request.
#[derive(Debug)]
pub(super) struct Request {
    pub(super) op: Op,
    pub(super) deadline: Instant,
    pub(super) waiting: Waiting,
    /// A read-modify-write's update in flight, until its outcome is known (§11.4).
    pub(super) attempt: Option<Attempt>,
}

impl Request {
    /// Whether the request may have written something (a started write or RMW).
    pub(super) fn started(&self) -> bool {
        matches!(self.waiting, Waiting::Commit(_) | Waiting::Riding(_)) || self.attempt.is_some()
    }
}

/// The update a read-modify-write request started, kept until its outcome is known (§11.4).
#[derive(Debug)]
pub(super) struct Attempt {
    /// The RMW's Ts.
    pub(super) ts: Ts,
    /// The epoch it was created in.
    pub(super) epoch: Epoch,
    /// Whether this node acknowledged it to another node's replay: then it may have committed
    /// in a way this node cannot see.
    pub(super) vouched: bool,
    /// What it does, and what the client is told if it commits.
    pub(super) plan: Plan,
    /// Combined increments (module `combine`): every request the RMW answers, with its amount,
    /// in the order they are told they ran; empty for an RMW of one request.
    pub(super) shares: Vec<(RequestId, i64)>,
}

/// Pending client requests by id, and the queues they wait in. A queue may still hold the id
/// of a request that was answered or moved on; whoever takes from it re-checks `waiting`. Such
/// stale ids are swept out once they outnumber the live ones (checked when a request leaves and
/// when one joins a queue; a request already in a queue is not queued there again), so every
/// queue stays within `2 × pending + SWEEP_SLACK` ids however long its condition lasts (a node
/// cut off under load answers its requests `Unavailable` at their deadlines, but the queues
/// would keep their ids; a request that moves between queues leaves its old entry behind).
#[derive(Debug, Default)]
pub(super) struct Requests {
    by_id: BTreeMap<RequestId, Request>,
    /// Requests parked until a key becomes Valid, by key.
    parked: BTreeMap<Bytes, VecDeque<RequestId>>,
    /// Writes waiting for the node to become ready.
    not_ready: VecDeque<RequestId>,
    /// Reads waiting for a lease.
    lease_waiters: VecDeque<RequestId>,
    /// Ids in all of `parked`'s queues together.
    parked_ids: usize,
    /// The request of each RMW attempt in flight, by the attempt's Ts.
    attempts: BTreeMap<Ts, RequestId>,
}

/// Stale ids a queue may hold beyond twice the pending requests before a sweep.
const SWEEP_SLACK: usize = 16;

impl Requests {
    pub(super) fn contains_key(&self, id: &RequestId) -> bool {
        self.by_id.contains_key(id)
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(super) fn get(&self, id: &RequestId) -> Option<&Request> {
        self.by_id.get(id)
    }

    fn insert(&mut self, id: RequestId, request: Request) {
        let replaced = self.by_id.insert(id, request);
        // accept_request refuses a duplicate id before it gets here.
        assert!(replaced.is_none(), "request {} was pending already", id.0);
    }

    fn remove(&mut self, id: &RequestId) -> Option<Request> {
        let removed = self.by_id.remove(id);
        if let Some(a) = removed.as_ref().and_then(|r| r.attempt.as_ref()) {
            self.attempts.remove(&a.ts);
        }
        self.sweep_if_stale();
        removed
    }

    /// Records that request `id` started the RMW `attempt`.
    pub(super) fn set_attempt(&mut self, id: RequestId, attempt: Attempt) {
        if let Some(req) = self.by_id.get_mut(&id) {
            self.attempts.insert(attempt.ts, id);
            if let Some(old) = req.attempt.replace(attempt) {
                self.attempts.remove(&old.ts);
            }
        }
    }

    /// Forgets request `id`'s RMW attempt (it had no effect), and returns it.
    fn clear_attempt(&mut self, id: RequestId) -> Option<Attempt> {
        let old = self.by_id.get_mut(&id).and_then(|r| r.attempt.take())?;
        self.attempts.remove(&old.ts);
        Some(old)
    }

    /// The request driving the RMW attempt `ts`, and the attempt.
    pub(super) fn attempt_of(&self, ts: &Ts) -> Option<(RequestId, &Attempt)> {
        let id = *self.attempts.get(ts)?;
        Some((id, self.by_id.get(&id)?.attempt.as_ref()?))
    }

    /// This node acknowledged the update `ts` to another node: if it is one of its own RMW
    /// attempts, that attempt may commit without it (§11.4).
    pub(super) fn note_acknowledged(&mut self, ts: Ts) {
        let Some(id) = self.attempts.get(&ts) else {
            return;
        };
        if let Some(a) = self.by_id.get_mut(id).and_then(|r| r.attempt.as_mut()) {
            a.vouched = true;
        }
    }

    /// The bound every wait queue keeps (see the type's docs).
    pub(super) fn queue_bound(&self) -> usize {
        2 * self.by_id.len() + SWEEP_SLACK
    }

    /// Drops, from any queue longer than `queue_bound`, the ids no longer waiting in it. Each
    /// taker filters the same way, so what a queue yields is unchanged; amortized O(1) per
    /// removal, since a sweep at least halves the queue it sweeps.
    fn sweep_if_stale(&mut self) {
        let bound = self.queue_bound();
        let by_id = &self.by_id;
        let waits = |id: &RequestId, w: &Waiting| by_id.get(id).is_some_and(|r| r.waiting == *w);
        if self.not_ready.len() > bound {
            self.not_ready.retain(|id| waits(id, &Waiting::Ready));
        }
        if self.lease_waiters.len() > bound {
            self.lease_waiters.retain(|id| waits(id, &Waiting::Lease));
        }
        if self.parked_ids > bound {
            self.parked.retain(|key, queue| {
                let waiting = Waiting::Key(key.clone());
                queue.retain(|id| waits(id, &waiting));
                !queue.is_empty()
            });
            self.parked_ids = self.parked.values().map(VecDeque::len).sum();
        }
    }

    /// Test hook: queues `n` copies of `id` for a lease without a sweep, to show the bound check
    /// fails.
    #[cfg(test)]
    pub(super) fn flood_lease_queue_for_test(&mut self, id: RequestId, n: usize) {
        self.lease_waiters.extend(std::iter::repeat_n(id, n));
    }

    /// Every wait queue's length, for the invariant checks: `(not ready, lease, parked)`.
    pub(super) fn queue_lengths(&self) -> (usize, usize, usize) {
        (
            self.not_ready.len(),
            self.lease_waiters.len(),
            self.parked_ids,
        )
    }

    /// Every pending request, in id order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (&RequestId, &Request)> + '_ {
        self.by_id.iter()
    }

    /// Every pending request's id, in order.
    pub(super) fn ids(&self) -> Vec<RequestId> {
        self.by_id.keys().copied().collect()
    }

    /// Whether request `id` is pending and waiting for `waiting`.
    pub(super) fn is_waiting(&self, id: &RequestId, waiting: &Waiting) -> bool {
        self.by_id.get(id).is_some_and(|r| r.waiting == *waiting)
    }

    /// Records what request `id` waits for (nothing happens if it is not pending).
    pub(super) fn set_waiting(&mut self, id: RequestId, waiting: Waiting) {
        if let Some(req) = self.by_id.get_mut(&id) {
            req.waiting = waiting;
        }
    }

    /// Parks read `id` until a lease (and Active membership) allows it.
    pub(super) fn wait_for_lease(&mut self, id: RequestId) {
        if self.is_waiting(&id, &Waiting::Lease) {
            return; // already in that queue
        }
        self.set_waiting(id, Waiting::Lease);
        self.lease_waiters.push_back(id);
        self.sweep_if_stale();
    }

    /// Queues write `id` until the node is ready.
    pub(super) fn wait_until_ready(&mut self, id: RequestId) {
        if self.is_waiting(&id, &Waiting::Ready) {
            return; // already in that queue
        }
        self.set_waiting(id, Waiting::Ready);
        self.not_ready.push_back(id);
        self.sweep_if_stale();
    }

    /// Empties the lease queue, for retrying what is still waiting in it.
    pub(super) fn take_lease_waiters(&mut self) -> VecDeque<RequestId> {
        std::mem::take(&mut self.lease_waiters)
    }

    /// Drops every key queue (the keys are gone; their requests are answered elsewhere).
    pub(super) fn clear_parked(&mut self) {
        self.parked.clear();
        self.parked_ids = 0;
    }

    /// Parks request `id` until `key` becomes Valid.
    fn park_on(&mut self, id: RequestId, key: Bytes) {
        let waiting = Waiting::Key(key.clone());
        if self.is_waiting(&id, &waiting) {
            return; // already in that queue
        }
        self.set_waiting(id, waiting);
        self.parked.entry(key).or_default().push_back(id);
        self.parked_ids += 1;
        self.sweep_if_stale();
    }

    /// Empties `key`'s queue, for retrying what is still waiting on it.
    fn take_parked(&mut self, key: &[u8]) -> Option<VecDeque<RequestId>> {
        let queue = self.parked.remove(key)?;
        self.parked_ids -= queue.len();
        Some(queue)
    }
}

impl Node {
    pub(super) fn accept_request(
        &mut self,
        id: RequestId,
        op: Op,
        deadline: crate::time::Instant,
    ) -> Result<(), SubmitError> {
        if self.requests.contains_key(&id) {
            return Err(SubmitError::DuplicateRequestId(id));
        }
        if self.requests.len() >= self.cfg.max_requests {
            self.outbox.push(Output::Reply {
                id,
                result: OpResult::Unavailable(Unavailable::Overloaded),
            });
            return Ok(());
        }
        let op = match self.normalize(op) {
            Ok(op) => op,
            Err(reason) => {
                self.outbox.push(Output::Reply {
                    id,
                    result: OpResult::Unavailable(reason),
                });
                return Ok(());
            }
        };
        self.requests.insert(
            id,
            Request {
                op,
                deadline,
                waiting: Waiting::Nothing,
                attempt: None,
            },
        );
        // A first look at `unavailable_after_ms`: answered then if it still cannot start.
        let look = self
            .now
            .plus_ms(self.cfg.unavailable_after_ms)
            .min(deadline);
        self.set_timer(look, Timer::Deadline(id));
        self.dispatch(id);
        Ok(())
    }

    /// Checks limits and turns every write into a canonical `Batch` (sorted, one write per key).
    fn normalize(&self, op: Op) -> Result<Op, Unavailable> {
        let key_ok = |k: &Bytes| self.cfg.fits(k, None);
        let writes = match op {
            Op::Get { ref key } if !key_ok(key) => return Err(Unavailable::TooLarge),
            Op::GetMany { ref keys } | Op::Versions { ref keys }
                if keys.len() > self.cfg.max_range_entries || !keys.iter().all(key_ok) =>
            {
                return Err(Unavailable::TooLarge)
            }
            Op::Range { ref lo, ref hi, .. } if lo > hi => return Err(Unavailable::BadRequest),
            Op::Get { .. } | Op::GetMany { .. } | Op::Versions { .. } | Op::Range { .. } => {
                return Ok(op)
            }
            Op::Rmw {
                ref key,
                ref change,
            } => {
                if !key_ok(key) || !change.values().iter().all(|v| self.cfg.fits(key, Some(v))) {
                    return Err(Unavailable::TooLarge);
                }
                return Ok(op);
            }
            Op::Put { key, value } => vec![Write {
                key,
                value: Some(value),
            }],
            Op::Del { key } => vec![Write { key, value: None }],
            Op::Batch { writes } => writes,
        };
        if writes.is_empty() {
            return Err(Unavailable::BadRequest);
        }
        if !self.cfg.writes_fit(&writes) {
            return Err(Unavailable::TooLarge);
        }
        Ok(Op::Batch {
            writes: canonical_writes(writes),
        })
    }

    /// Moves a request forward as far as it can go now: answer a read, start a write, or park it.
    pub(super) fn dispatch(&mut self, id: RequestId) {
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        let writes = match &req.op {
            Op::Batch { writes } => writes,
            Op::Rmw { .. } => return self.dispatch_rmw(id),
            _ => return self.try_read(id),
        };
        if !self.ready {
            self.requests.wait_until_ready(id);
            return;
        }
        // §4.4 step 1: a write starts only when every key it touches is Valid here.
        if let Some(key) = writes
            .iter()
            .find(|w| !self.key_is_valid(&w.key))
            .map(|w| w.key.clone())
        {
            self.park(id, key);
            return;
        }
        let writes = writes.clone();
        let ts = self.start_write(id, writes);
        self.requests.set_waiting(id, Waiting::Commit(ts));
    }

    /// Moves a read-modify-write forward (§11.4, §11.5): settle the outcome of its attempt in
    /// flight, then evaluate it on the key's committed value and answer or start an RMW.
    fn dispatch_rmw(&mut self, id: RequestId) {
        let Some(Request {
            op: Op::Rmw { key, change },
            attempt,
            ..
        }) = self.requests.get(&id)
        else {
            return;
        };
        let (key, change) = (key.clone(), change.clone());
        if let Some(attempt) = attempt {
            let (ts, epoch, vouched) = (attempt.ts, attempt.epoch, attempt.vouched);
            if !self.key_is_valid(&key) {
                return self.park(id, key);
            }
            let (now_at, committed_in) = self
                .replica
                .store
                .get(&key)
                .map_or((Ts::ZERO, None), |e| (e.ts, e.committed_in));
            if now_at == ts {
                return self.answer_commit(id, ts);
            }
            // §11.4: the attempt never commits if this node never vouched for it, has stayed in
            // its epoch, and a higher update committed in that epoch.
            let settled = !vouched && epoch == self.view.epoch && committed_in == Some(epoch);
            if !(settled || self.mutant(Mutant::RmwAbortOnNack)) {
                return self.reply(id, OpResult::Indeterminate);
            }
            self.event(Event::RmwRetried(ts));
            if let Some(old) = self.requests.clear_attempt(id) {
                if !old.shares.is_empty() {
                    // Each share is evaluated again on its own (the leader first).
                    self.dispatch_rmw(id);
                    return self.release_riders(&old);
                }
            }
        }
        if !self.ready {
            self.requests.wait_until_ready(id);
            return;
        }
        if !self.key_is_valid(&key) {
            return self.park(id, key);
        }
        let (base, value) = self
            .replica
            .store
            .get(&key)
            .map_or((Ts::ZERO, None), |e| (e.ts, e.value.clone()));
        let plan = match crate::rmw::plan(&change, base, value.as_ref()) {
            Ok(plan) => plan,
            Err(e) => return self.answer_rmw_read(id, OpResult::Rejected(e)),
        };
        let Some(write) = plan.write.clone() else {
            return self.answer_rmw_read(id, plan.result(None));
        };
        if !self.cfg.fits(&key, write.as_deref()) {
            return self.reply(id, OpResult::Unavailable(Unavailable::TooLarge));
        }
        let Some(ts) = self.start_rmw(id, key, base, write) else {
            return self.reply(id, OpResult::Unavailable(Unavailable::TooLarge));
        };
        let epoch = self.view.epoch;
        self.requests.set_attempt(
            id,
            Attempt {
                ts,
                epoch,
                vouched: false,
                plan,
                shares: Vec::new(),
            },
        );
        self.requests.set_waiting(id, Waiting::Commit(ts));
    }

    /// An RMW that writes nothing is a read of the key: it is answered under the read rules
    /// (§11.5, §4.7), in this step.
    fn answer_rmw_read(&mut self, id: RequestId, result: OpResult) {
        if self.may_serve_reads() {
            self.reply(id, result);
        } else {
            self.park_for_lease(id);
        }
    }

    /// The update `ts` that request `id` waited for committed: a write is told its Ts, an RMW
    /// the outcome it planned.
    pub(super) fn answer_commit(&mut self, id: RequestId, ts: Ts) {
        let result = match self.requests.get(&id).and_then(|r| r.attempt.as_ref()) {
            Some(a) if a.ts == ts => a.plan.result(Some(ts)),
            _ => OpResult::Written { ts },
        };
        self.reply(id, result);
    }

    /// The RMW attempt of request `id` stopped being driven: the request waits for the key's
    /// next committed value, which tells the outcome (§11.4).
    pub(super) fn await_rmw_outcome(&mut self, id: RequestId) {
        self.requests.set_waiting(id, Waiting::Nothing);
        self.dispatch(id);
    }

    pub(super) fn park(&mut self, id: RequestId, key: Bytes) {
        self.requests.park_on(id, key);
    }

    /// `key` became Valid: retry what was parked on it, reads first (so a stream of local writes
    /// to a hot key cannot starve its readers), each in arrival order.
    pub(super) fn wake_parked(&mut self, key: &Bytes) {
        let Some(queue) = self.requests.take_parked(key) else {
            return;
        };
        let mut seen = std::collections::BTreeSet::new();
        let waiting = Waiting::Key(key.clone());
        let mut ready: Vec<RequestId> = queue
            .into_iter()
            .filter(|id| seen.insert(*id))
            .filter(|id| self.requests.is_waiting(id, &waiting))
            .collect();
        ready.sort_by_key(|id| self.requests.get(id).is_some_and(|r| r.op.is_write()));
        for id in &ready {
            self.requests.set_waiting(*id, Waiting::Nothing);
        }
        // The increments of this key go together as one RMW, at the place of the first.
        let mut group: Vec<(RequestId, i64)> = (ready.iter())
            .filter_map(|id| Some((*id, self.combinable_incr(id, key)?)))
            .take(super::combine::MAX_SHARES)
            .collect();
        if group.len() < 2 {
            group.clear();
        }
        let first = group.first().map(|(id, _)| *id);
        let grouped: std::collections::BTreeSet<RequestId> = group.iter().map(|g| g.0).collect();
        for id in ready {
            if Some(id) == first {
                self.dispatch_incr_group(key, std::mem::take(&mut group));
            } else if !grouped.contains(&id) {
                self.dispatch(id);
            }
        }
    }

    /// The node became ready: start the writes that waited for it.
    pub(super) fn drain_not_ready_queue(&mut self) {
        for id in std::mem::take(&mut self.requests.not_ready) {
            if self.requests.is_waiting(&id, &Waiting::Ready) {
                self.requests.set_waiting(id, Waiting::Nothing);
                self.dispatch(id);
            }
        }
    }

    /// A request's deadline passed without an answer.
    pub(super) fn on_deadline(&mut self, id: RequestId) {
        let Some(req) = self.requests.get(&id) else {
            return;
        };
        if req.deadline > self.now {
            // The early look (`unavailable_after_ms`): give up only on what cannot start now.
            if req.started() || !self.cannot_start(req) {
                return self.set_timer(req.deadline, Timer::Deadline(id));
            }
            let reason = self.why_not_ready();
            return self.reply(id, OpResult::Unavailable(reason));
        }
        let result = match &req.waiting {
            // An RMW whose attempt may still commit.
            _ if req.attempt.is_some() && !matches!(req.waiting, Waiting::Commit(_)) => {
                OpResult::Indeterminate
            }
            // Started writes never abort: the outcome is unknown to the client, not "failed".
            Waiting::Commit(ts) => {
                let ts = *ts;
                if let Some(drive) = self
                    .replica
                    .records
                    .get_mut(&ts)
                    .and_then(|r| r.drive.as_mut())
                {
                    drive.client = None;
                }
                OpResult::Indeterminate
            }
            // Combined into another request's RMW, which may still commit.
            Waiting::Riding(_) => OpResult::Indeterminate,
            Waiting::Ready | Waiting::Lease => OpResult::Unavailable(self.why_not_ready()),
            Waiting::Key(_) | Waiting::Nothing => OpResult::Unavailable(Unavailable::Timeout),
        };
        self.reply(id, result);
    }

    /// Whether request `req`, not started, waits for something this node lacks now (readiness,
    /// a lease, Active membership) rather than for a key to settle.
    fn cannot_start(&self, req: &Request) -> bool {
        match &req.waiting {
            Waiting::Ready | Waiting::Lease => true,
            Waiting::Key(_) if req.op.is_write() => !self.ready,
            Waiting::Key(_) => !self.may_serve_reads(),
            Waiting::Nothing | Waiting::Commit(_) | Waiting::Riding(_) => false,
        }
    }

    /// The most specific reason this node cannot serve.
    fn why_not_ready(&self) -> Unavailable {
        if !self.is_active_member() {
            Unavailable::NotMember
        } else if !self.lease_valid() {
            Unavailable::NoLease
        } else {
            Unavailable::NotReady
        }
    }

    /// Answers a request and forgets it.
    pub(super) fn reply(&mut self, id: RequestId, result: OpResult) {
        let Some(req) = self.requests.remove(&id) else {
            return;
        };
        self.timers.cancel(Timer::Deadline(id));
        match req.attempt {
            Some(attempt) if !attempt.shares.is_empty() => self.answer_shares(id, attempt, result),
            _ => self.send_reply(id, result),
        }
    }

    /// Emits the answer to request `id`, already forgotten.
    pub(super) fn send_reply(&mut self, id: RequestId, result: OpResult) {
        self.outbox.push(Output::Reply { id, result });
    }
}
