//! The replication engine: [`Node`], a synchronous state machine with no I/O, and the state
//! types it composes (one module per concern).

mod combine;
mod follower;
mod hash_index;
mod invariants;
mod key_store;
mod lease;
mod membership;
#[cfg(test)]
mod membership_tests;
mod multi_index;
mod outbox;
mod paxos;
mod peers;
mod persists;
mod read;
mod replica;
mod requests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
mod timers;
mod transfer;
mod write;

use crate::client::{Op, RequestId};
use crate::config::{Config, ConfigError};
use crate::message::Message;
use crate::output::{Event, Output};
use crate::storage::{Identity, PersistOp, Recovered, StoredEntry};
use crate::time::Instant;
use crate::timestamp::{BootInc, Epoch, NodeId, Ts};
use crate::update::{Bytes, UpdateRef};
use crate::view::{MemberId, View};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use replica::{DeferredAck, Drive, Entry, Record, Replica};
use requests::Waiting;
use timers::{Timer, Timers};

/// Mixed into the seed for the generator of the key indexes' hash keys ("hashkeys" in ASCII).
const HASH_KEYS_STREAM: u64 = 0x6861_7368_6b65_7973;

/// One replica's protocol engine, a synchronous state machine with no I/O. The crate docs teach
/// the drive loop.
///
/// # Method kinds and polling order
///
/// * **Inputs** — [`Node::handle_message`], [`Node::handle_timeout`], [`Node::handle_persisted`],
///   [`Node::submit`]. Each takes the driver's current [`Instant`], sampled *after* the input
///   arrived.
/// * **Polls** — after every input, drain [`Node::poll_output`] until it returns `None`, then ask
///   [`Node::poll_timeout`] for the next deadline and call `handle_timeout` when it passes.
///
/// # Rules the engine keeps (protocol.md §4–§5)
///
/// * A write starts only when every key it touches is Valid here; otherwise it waits.
/// * Followers acknowledge an INV only once its effect is durable (P1), and the coordinator
///   counts itself only once its own persist is durable (P2).
/// * An update commits when every other member acknowledged it in the current epoch, it is
///   durable here, and no lower-timestamp multi-key update this node holds overlaps it (the
///   guardian rule G, §5.3). The same rule withholds follower ACKs.
/// * Reads are answered in the step that finds every key they touch Valid; otherwise they park.
#[derive(Debug)]
pub struct Node {
    cfg: Config,
    view: View,
    boot: BootInc,
    rng: ChaCha8Rng,
    now: Instant,

    /// The data path's state: entries, records, held-back ACKs and commits.
    replica: Replica,
    /// Staged changes, emitted persists and how far they are durable.
    persists: persists::Persists,

    /// Pending client requests and the queues they wait in.
    requests: requests::Requests,

    peers: peers::Peers,
    ready: bool,

    /// The static acceptor set (the configured nodes).
    acceptors: Vec<NodeId>,
    /// This node's membership identity (`None`: not a member, it asks to join).
    identity: Option<Identity>,
    acceptor: paxos::AcceptorState,
    proposer: paxos::Proposer,
    lease: lease::LeaseState,
    /// Membership requests heard and made, and the pacing of proposals.
    asks: membership::Asks,
    transfer: Option<transfer::Transfer>,
    /// The persist that records this node's transfer as done; promotion is asked for only once
    /// it is durable (§8.2 step 5).
    transfer_done_seq: u64,

    timers: Timers,
    /// Messages leaving this step, messages to itself, sends held for a persist, and outputs.
    outbox: outbox::Outbox,
}

impl Node {
    /// Starts an engine from the state its driver recovered from storage (an empty
    /// [`Recovered`] with a fresh boot incarnation on a new disk).
    ///
    /// Updates that were pending when the node stopped are resumed: those this node coordinated
    /// in an earlier boot are replayed at once; others are replayed if still pending after
    /// `stuck_ms`.
    pub fn new(cfg: Config, recovered: Recovered, now: Instant) -> Result<Node, ConfigError> {
        cfg.validate()?;
        let mut acceptors = cfg.members.clone();
        acceptors.sort();
        let fresh = recovered.view.is_none();
        let view = recovered
            .view
            .clone()
            .unwrap_or_else(|| View::initial(Epoch(1), &acceptors));
        // A fresh disk of a configured node bootstraps the epoch-1 identity, unless the driver
        // says the node must join (its disk was lost, or the cluster already runs).
        let identity = match recovered.identity {
            _ if recovered.join => Some(Identity::AMNESIAC),
            Some(id) => Some(id),
            None if fresh && acceptors.contains(&cfg.id) => Some(Identity {
                adm: 1,
                transfer_done: true,
            }),
            None => None,
        };
        let rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ (u64::from(cfg.id.0) << 32));
        // The key index's hash keys come from their own generator, so drawing them leaves the
        // timer jitter of a seed (and every recorded simulator trace) as it was.
        let mut hash_rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ HASH_KEYS_STREAM);
        let hash_keys = hash_index::HashKeys {
            k0: hash_rng.gen(),
            k1: hash_rng.gen(),
        };
        let promise_ns = cfg.promise_ms.saturating_mul(1_000_000);
        let mut node = Node {
            view,
            boot: recovered.boot,
            rng,
            now,
            replica: Replica::new(hash_keys),
            persists: persists::Persists::default(),
            requests: requests::Requests::default(),
            peers: peers::Peers::new(now),
            ready: false,
            acceptors,
            identity,
            acceptor: paxos::AcceptorState::new(
                now.plus_ns(promise_ns),
                recovered.acceptor.clone(),
            ),
            proposer: paxos::Proposer::default(),
            lease: lease::LeaseState::default(),
            asks: membership::Asks::default(),
            transfer: None,
            transfer_done_seq: 0,
            timers: Timers::default(),
            outbox: outbox::Outbox::default(),
            cfg,
        };
        if fresh || recovered.join {
            node.persists.stage(PersistOp::View(node.view.clone()));
            node.persists.stage(PersistOp::Identity(node.identity));
        }
        node.refresh_peers();
        node.recover(recovered);
        node.resume_membership();
        node.timers.set(now, Timer::Heartbeat);
        node.update_readiness();
        node.end_step();
        Ok(node)
    }

    /// Feeds a message that arrived from peer `from`. Messages from non-members, from this node
    /// itself, or from another epoch are dropped (the sender retransmits).
    pub fn handle_message(&mut self, now: Instant, from: NodeId, msg: Message) {
        self.advance(now);
        self.on_message(from, msg);
        self.end_step();
    }

    /// Feeds every message of one received frame in one step, so that their effects share one
    /// `Persist` (and one fsync) and their replies share one `Send` per peer.
    pub fn handle_messages(&mut self, now: Instant, from: NodeId, msgs: Vec<Message>) {
        self.advance(now);
        for msg in msgs {
            self.on_message(from, msg);
        }
        self.end_step();
    }

    fn on_message(&mut self, from: NodeId, msg: Message) {
        let known =
            from == self.cfg.id || self.acceptors.contains(&from) || self.view.contains(from);
        if !known && !matches!(msg, Message::JoinReq { .. }) {
            return; // a stranger may only ask to join
        }
        if from != self.cfg.id {
            self.heard_from(from);
        }
        // Only members take part in the data path, and only under their own identity: a node
        // that lost its state (or was replaced) is still listed until the view changes, and its
        // ACK would vouch for data it no longer has.
        if msg.is_data_path()
            && (from == self.cfg.id || !self.view.contains(from) || self.member_id().is_none())
        {
            return;
        }
        self.notice_epoch(from, &msg);
        match msg {
            Message::Inv { epoch, update } => self.on_inv(from, epoch, update),
            Message::Ack { epoch, ts } => self.on_ack(from, epoch, ts),
            Message::Val { epoch, ts } => self.on_val(ts, epoch),
            Message::Nack { epoch, ts } => self.on_nack(epoch, ts),
            Message::Ping { .. } => {}
            Message::ViewReq { .. } => self.send_view_info(from, true),
            Message::ViewInfo { view } | Message::Decided { view } => self.learn_view(view),
            Message::Prepare { base, ballot } => self.on_prepare(from, base, ballot),
            Message::Promise {
                instance,
                ballot,
                accepted,
            } => self.on_promise(from, instance, ballot, accepted),
            Message::Accept { base, ballot, view } => self.on_accept(from, base, ballot, view),
            Message::Accepted { instance, ballot } => self.on_accepted(from, instance, ballot),
            Message::Reject { instance, promised } => self.on_reject(instance, promised),
            Message::LeaseReq { id, member } => self.on_lease_req(from, id, member),
            Message::LeaseGrant { id, member } => self.on_lease_grant(from, id, member),
            Message::JoinReq { node, epoch } => self.on_join_req(from, node, epoch),
            Message::PromoteReq { member } => self.on_promote_req(member),
            Message::SnapReq { epoch, from: start } => self.on_snap_req(from, epoch, start),
            Message::SnapChunk {
                epoch,
                from: start,
                entries,
                records,
                next,
            } => self.on_snap_chunk(epoch, start, entries, records, next),
        }
    }

    /// Reports that every `Persist` with `seq <= upto` is durable.
    pub fn handle_persisted(&mut self, now: Instant, upto: u64) {
        self.advance(now);
        self.persists.mark_durable(upto);
        self.end_step();
    }

    /// Fires every timer whose deadline is `<= now` (timers they re-arm fire on a later call).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        // Only the timers due on entry: a timer re-armed while handling them fires on a later
        // call, so this returns even when `now` is the end of time and every re-armed timer is
        // due at once.
        for timer in self.timers.take_due(self.now) {
            self.on_timer(timer);
        }
        self.end_step();
    }

    /// Submits a client operation; its [`Output::Reply`] comes no later than `deadline` (the
    /// first `handle_timeout` at or after it).
    pub fn submit(
        &mut self,
        now: Instant,
        id: RequestId,
        op: Op,
        deadline: Instant,
    ) -> Result<(), crate::client::SubmitError> {
        self.advance(now);
        let result = self.accept_request(id, op, deadline);
        self.end_step();
        result
    }

    /// The next output, or `None` once the engine has nothing more to say for now.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outbox.pop()
    }

    /// The earliest instant at which [`Node::handle_timeout`] must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }

    /// This node's identity in the installed view, if it is a member under its own identity.
    pub fn member_id(&self) -> Option<MemberId> {
        let me = self.view.member(self.cfg.id)?;
        (Some(me.id.adm) == self.identity.map(|i| i.adm)).then_some(me.id)
    }

    /// This node's membership identity as it knows it (`None`: not a member).
    pub fn identity(&self) -> Option<Identity> {
        self.identity
    }

    /// Test and oracle hook: the instant (on this node's clock) until which its read lease is valid.
    #[doc(hidden)]
    pub fn lease_expiry(&self) -> Instant {
        self.lease.expiry
    }

    /// This process's boot incarnation.
    pub fn boot(&self) -> BootInc {
        self.boot
    }

    /// The installed view.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// Whether the node can reach every member it needs to accept writes.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// A key's state here, committed or not (`None` if never written): for diagnostics, not
    /// for reads, which go through [`Node::submit`] to be linearizable.
    pub fn inspect_key(&self, key: &[u8]) -> Option<StoredEntry> {
        self.replica.store.get(key).map(Entry::to_stored)
    }

    /// Test and oracle hook: every key's state, in key order.
    #[doc(hidden)]
    pub fn inspect_all(&self) -> impl Iterator<Item = (&Bytes, StoredEntry)> + '_ {
        self.replica.store.iter().map(|(k, e)| (k, e.to_stored()))
    }

    /// Test and oracle hook: the update records this node holds, in timestamp order.
    #[doc(hidden)]
    pub fn inspect_records(&self) -> impl Iterator<Item = &UpdateRef> + '_ {
        self.replica.records.values().map(|r| &r.update)
    }

    /// Number of client requests in flight (queued, parked or writing).
    pub fn requests_in_flight(&self) -> usize {
        self.requests.len()
    }

    /// Keys this node stores, tombstones included (for `INFO`; the store of record is memory).
    pub fn key_count(&self) -> usize {
        self.replica.store.len()
    }

    /// Update records this node holds.
    pub fn record_count(&self) -> usize {
        self.replica.records.len()
    }

    /// Whether the `Persist` carrying `ops` must be fsynced before the driver reports it
    /// (docs/durability.md): true if any op needs it ([`PersistOp::needs_sync`]); a persist of
    /// lazy hints only may be reported once written, and a crash may lose it.
    pub fn persist_needs_sync(&self, ops: &[PersistOp]) -> bool {
        if self.mutant(crate::mutant::Mutant::LazyUpdateEffects) {
            // The mutant: an INV's effect and its record are treated as hints too (P1/P2 lazy).
            return ops.iter().any(|op| {
                op.needs_sync() && !matches!(op, PersistOp::Entry { .. } | PersistOp::Record(_))
            });
        }
        ops.iter().any(PersistOp::needs_sync)
    }

    /// Whether the mutation `m` is switched on: a constant `false` without the `mutants`
    /// feature, so every broken branch compiles away and each rule reads as one condition.
    fn mutant(&self, m: crate::mutant::Mutant) -> bool {
        #[cfg(feature = "mutants")]
        return self.cfg.mutant == Some(m);
        #[cfg(not(feature = "mutants"))]
        {
            let _ = m;
            false
        }
    }

    // ----- step plumbing -------------------------------------------------------------------

    fn advance(&mut self, now: Instant) {
        // Never let time run backwards, whatever the driver hands in.
        self.now = self.now.max(now);
    }

    /// Handles this node's messages to itself, settles everything an input may have unblocked,
    /// then turns staged persists and queued messages into outputs. Called once at the end of
    /// every input.
    fn end_step(&mut self) {
        loop {
            while let Some(msg) = self.outbox.pop_loopback() {
                self.on_message(self.cfg.id, msg);
            }
            self.settle();
            self.release_deferred_sends();
            if self.outbox.loopback_is_empty() {
                break;
            }
        }
        if let Some((seq, ops)) = self.persists.take_step() {
            self.outbox.push(Output::Persist { seq, ops });
        }
        self.outbox.flush_sends();
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        self.outbox.send(self.cfg.id, to, msg);
    }

    /// Sends `msg` once every persist staged so far is durable (rule P4 for acceptor replies).
    fn send_after_persist(&mut self, to: NodeId, msg: Message) {
        let after = self.persists.barrier();
        if self.persists.is_durable(after) {
            self.send(to, msg);
        } else {
            self.outbox.send_after(after, to, msg);
        }
    }

    fn release_deferred_sends(&mut self) {
        let persists = &self.persists;
        for (to, msg) in self.outbox.take_durable(|seq| persists.is_durable(seq)) {
            self.send(to, msg);
        }
    }

    /// Sends `msg` to every acceptor, this node included (through the loopback).
    fn send_to_acceptors(&mut self, msg: &Message) {
        for to in self.acceptors.clone() {
            self.send(to, msg.clone());
        }
    }

    fn broadcast(&mut self, msg: &Message) {
        let others: Vec<NodeId> = self.view.others(self.cfg.id).collect();
        for to in others {
            self.send(to, msg.clone());
        }
    }

    fn event(&mut self, event: Event) {
        self.outbox.push(Output::Event(event));
    }

    fn set_timer(&mut self, at: Instant, timer: Timer) {
        self.timers.set(at, timer);
    }

    fn on_timer(&mut self, timer: Timer) {
        match timer {
            Timer::Heartbeat => self.on_heartbeat(),
            Timer::Retransmit(ts) => self.on_retransmit(ts),
            Timer::Stuck(ts) => self.on_stuck(ts),
            Timer::Deadline(id) => self.on_deadline(id),
            Timer::LeaseExpiry => self.update_readiness(),
            Timer::DelayedAccept => self.retry_delayed_accepts(),
        }
    }

    fn entry_ts(&self, key: &[u8]) -> Ts {
        self.replica.entry_ts(key)
    }

    fn key_is_valid(&self, key: &[u8]) -> bool {
        self.replica.is_valid(key)
    }

    /// Loads recovered state and schedules the resumption of pending updates.
    fn recover(&mut self, recovered: Recovered) {
        // Runs once, on a fresh node; loaded in bulk (millions of keys), the last of equal keys
        // winning as with inserts.
        let entries = (recovered.entries.into_iter()).map(|(key, e)| (key, Entry::from_stored(e)));
        self.replica.store.load(entries);
        let member = self.member_id().is_some();
        for update in recovered.records {
            let ts = update.ts;
            if !self.has_invalid_key_at(&update, ts) {
                self.persists.stage(PersistOp::DropRecord(ts));
                continue;
            }
            self.replica.multi_records.insert(&update);
            let mine = ts.issuer().node == self.cfg.id && member;
            self.replica
                .records
                .insert(ts, Record::new(update, 0, None));
            if mine {
                // Our acks died with the old process: drive it again now (protocol.md §8.1).
                self.start_replay(ts);
            } else {
                let at = self.stuck_deadline();
                self.set_timer(at, Timer::Stuck(ts));
            }
        }
    }

    fn has_invalid_key_at(&self, update: &UpdateRef, ts: Ts) -> bool {
        update.writes.iter().any(|w| {
            self.replica
                .store
                .get(&w.key)
                .is_some_and(|e| e.ts == ts && !e.valid)
        })
    }
}
