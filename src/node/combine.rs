//! Combining increments (protocol.md §11.5): the increments of one key waiting at this node when
//! the key becomes Valid run as one RMW that adds their sum, and each client is answered as if
//! they had run one after another, in arrival order, at that RMW's commit.
//!
//! Why: RMWs on one key commit one per round trip (§11.5), so a hot counter is limited to one
//! increment per replication round however many clients wait; combined, a round serves them all.
//! The history stays linearizable: the increments are concurrent (all pending at once), so any
//! order of them at the commit instant is a valid one, and the values each is told are exactly
//! those of that order. Every share is answered like the RMW it rides on: its result at the
//! commit, `Indeterminate` if the RMW's outcome is unknown, and evaluated again (alone) if the
//! RMW had no effect.

use super::requests::{Attempt, Waiting};
use super::Node;
use crate::client::{Change, Op, OpResult, RequestId};
use crate::rmw::parse_i64;
use crate::timestamp::Ts;
use crate::update::Bytes;

/// The most increments one RMW carries: bounds the answers of one commit.
pub(super) const MAX_SHARES: usize = 256;

impl Node {
    /// The increment of `key` request `id` asks for, if it is one that may be combined: an
    /// `IncrBy` of `key` with no attempt of its own in flight.
    pub(super) fn combinable_incr(&self, id: &RequestId, key: &Bytes) -> Option<i64> {
        let req = self.requests.get(id)?;
        match &req.op {
            Op::Rmw {
                key: k,
                change: Change::IncrBy(by),
            } if k == key && req.attempt.is_none() => Some(*by),
            _ => None,
        }
    }

    /// Starts one RMW for the increments `group` (ids and amounts, in arrival order; at least
    /// two) of `key`, or dispatches each on its own if they cannot be combined now.
    pub(super) fn dispatch_incr_group(&mut self, key: &Bytes, group: Vec<(RequestId, i64)>) {
        if !self.try_combine(key, &group) {
            for (id, _) in group {
                self.dispatch(id);
            }
        }
    }

    /// The combined RMW, if the node may start one now and every running sum fits an `i64`.
    fn try_combine(&mut self, key: &Bytes, group: &[(RequestId, i64)]) -> bool {
        if !self.ready || !self.key_is_valid(key) {
            return false;
        }
        let (base, value) = self
            .replica
            .store
            .get(key)
            .map_or((Ts::ZERO, None), |e| (e.ts, e.value.clone()));
        let Some(start) = value.as_deref().map_or(Some(0), parse_i64) else {
            return false; // not an integer: each is refused on its own
        };
        let delta = group
            .iter()
            .try_fold(0i64, |sum, (_, by)| sum.checked_add(*by));
        let Some(delta) = delta else {
            return false;
        };
        if running_sums(start, group).iter().any(Option::is_none) {
            return false; // some share would overflow: each is answered on its own
        }
        let Ok(plan) = crate::rmw::plan(&Change::IncrBy(delta), base, value.as_ref()) else {
            return false;
        };
        let Some(write) = plan.write.clone() else {
            return false; // a zero sum writes nothing: each answers as a read
        };
        if !self.cfg.fits(key, write.as_deref()) {
            return false;
        }
        // The share with the latest deadline drives, so no share outlives the RMW's tracking.
        let Some(&(leader, _)) = group
            .iter()
            .max_by_key(|(id, _)| self.requests.get(id).map(|r| r.deadline))
        else {
            return false;
        };
        let Some(ts) = self.start_rmw(leader, key.clone(), base, write) else {
            return false;
        };
        let attempt = Attempt {
            ts,
            epoch: self.view.epoch,
            vouched: false,
            plan,
            shares: group.to_vec(),
        };
        self.requests.set_attempt(leader, attempt);
        self.requests.set_waiting(leader, Waiting::Commit(ts));
        for (id, _) in group.iter().filter(|(id, _)| *id != leader) {
            self.requests.set_waiting(*id, Waiting::Riding(ts));
        }
        true
    }

    /// The RMW `attempt` of request `leader` ended with `result`: answers every share. A commit
    /// tells each share the values of its place in the order; any other outcome is each
    /// share's too.
    pub(super) fn answer_shares(&mut self, leader: RequestId, attempt: Attempt, result: OpResult) {
        let committed = match &result {
            OpResult::Changed {
                applied: true,
                previous,
                ts: Some(ts),
                ..
            } => Some((previous.clone(), *ts)),
            _ => None,
        };
        for (i, (id, _)) in attempt.shares.iter().enumerate() {
            let share = match &committed {
                Some((previous, ts)) => share_result(&attempt.shares, i, previous.as_ref(), *ts),
                None => result.clone(),
            };
            if *id == leader {
                self.send_reply(*id, share);
            } else if self.requests.is_waiting(id, &Waiting::Riding(attempt.ts)) {
                self.reply(*id, share);
            }
        }
    }

    /// The riders of an attempt that had no effect: each is evaluated again on its own.
    pub(super) fn release_riders(&mut self, attempt: &Attempt) {
        for (id, _) in &attempt.shares {
            if self.requests.is_waiting(id, &Waiting::Riding(attempt.ts)) {
                self.requests.set_waiting(*id, Waiting::Nothing);
                self.dispatch(*id);
            }
        }
    }
}

/// The value after each share, starting from `start`; `None` from the first that overflows.
fn running_sums(start: i64, group: &[(RequestId, i64)]) -> Vec<Option<i64>> {
    group
        .iter()
        .scan(Some(start), |acc, (_, by)| {
            *acc = acc.and_then(|a| a.checked_add(*by));
            Some(*acc)
        })
        .collect()
}

/// Share `i`'s answer, the combined RMW having committed at `ts` over `previous`.
fn share_result(
    shares: &[(RequestId, i64)],
    i: usize,
    previous: Option<&Bytes>,
    ts: Ts,
) -> OpResult {
    let start = previous.and_then(|v| parse_i64(v)).unwrap_or(0);
    let sums = running_sums(start, shares);
    let text = |n: Option<i64>| n.map(|n| Bytes::from(n.to_string().as_bytes()));
    let before = match i.checked_sub(1) {
        None => previous.cloned(),
        Some(j) => text(sums.get(j).copied().flatten()),
    };
    OpResult::Changed {
        applied: true,
        previous: before,
        current: text(sums.get(i).copied().flatten()),
        ts: Some(ts),
    }
}
