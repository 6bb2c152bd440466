//! Fixed scenarios (protocol.md §9.3 and the model checker's counter-examples,
//! docs/modelcheck.md §4): each replays an exact interleaving against the real engine and checks the history; the
//! interleavings that broke a rejected design are also run against the matching mutant, which
//! must be caught, so each scenario proves it still exercises the rule it is about.

use level2pc::{BootInc, Epoch, Message, Mutant, NodeId, Op, Ts, Write};
use level2pc_sim::checker::check;
use level2pc_sim::history::{self, BatchWrite, OpResult};
use level2pc_sim::scenario::{msg, Script};

const A: usize = 0;
const D: usize = 1;
const R: usize = 2;

/// A timestamp of `node`'s first boot under its bootstrap identity (writer boot = adm << 32 | boot).
fn ts(version: u64, node: usize) -> Ts {
    Ts::new(version, NodeId(node as u32), BootInc((1 << 32) | 1))
}
fn b(s: &str) -> level2pc::Bytes {
    s.as_bytes().into()
}
fn put(k: &str, v: &str) -> (Op, history::Op) {
    (
        Op::Put {
            key: b(k),
            value: b(v),
        },
        history::Op::Put {
            key: k.into(),
            value: v.into(),
        },
    )
}
fn batch(kv: &[(&str, &str)]) -> (Op, history::Op) {
    (
        Op::Batch {
            writes: kv
                .iter()
                .map(|(k, v)| Write {
                    key: b(k),
                    value: Some(b(v)),
                })
                .collect(),
        },
        history::Op::Batch {
            writes: kv
                .iter()
                .map(|(k, v)| BatchWrite {
                    key: (*k).into(),
                    value: Some((*v).into()),
                })
                .collect(),
        },
    )
}
fn get(k: &str) -> (Op, history::Op) {
    (Op::Get { key: b(k) }, history::Op::Get { key: k.into() })
}
fn get_many(ks: &[&str]) -> (Op, history::Op) {
    (
        Op::GetMany {
            keys: ks.iter().map(|k| b(k)).collect(),
        },
        history::Op::GetMany {
            keys: ks.iter().map(|k| k.to_string()).collect(),
        },
    )
}
fn submit(s: &mut Script, node: usize, (op, hist): (Op, history::Op)) -> usize {
    s.submit(node, op, hist)
}
fn in_flight(s: &Script, from: usize, to: usize, pred: impl Fn(&Message) -> bool) -> bool {
    s.pool
        .iter()
        .any(|m| m.from == from && m.to == to && pred(&m.msg))
}
fn inv_on(key: &'static str) -> impl Fn(&Message) -> bool {
    move |m| matches!(m, Message::Inv { update, .. } if update.writes.iter().any(|w| &*w.key == key.as_bytes()))
}
fn linearizable(s: &Script) -> bool {
    let report = check(&s.history(), 10_000_000).expect("well-formed history");
    assert!(!report.verdict.is_unknown(), "checker budget exhausted");
    report.verdict.is_ok()
}

/// protocol.md §5.2: a batch superseded on x by a concurrent W, while R has not seen the batch.
fn batch_superseded_on_one_key(mutant: Option<Mutant>) -> (Script, usize) {
    let mut s = Script::new(3, mutant);
    let (tb, tw) = (ts(1, A), ts(1, D));
    submit(&mut s, A, batch(&[("x", "1"), ("y", "1")]));
    submit(&mut s, D, put("x", "2"));
    submit(&mut s, R, get("x"));
    submit(&mut s, A, get_many(&["x", "y"]));
    s.deliver(D, A, msg::inv(tw)); // A adopts x; G withholds A's ACK of W
    s.deliver(A, D, msg::inv(tb)); // D adopts y
    s.deliver(D, A, msg::ack(tb));
    s.deliver(D, R, msg::inv(tw)); // R adopts x
    s.deliver(R, D, msg::ack(tw));
    if in_flight(&s, A, D, msg::ack(tw)) {
        s.deliver(A, D, msg::ack(tw)); // without G: W commits now
        s.deliver(D, R, msg::val(tw));
    }
    let rx = submit(&mut s, R, get("x"));
    submit(&mut s, R, get("y"));
    (s, rx)
}

#[test]
fn section_5_2_batch_superseded_on_one_key() {
    let (mut s, rx) = batch_superseded_on_one_key(None);
    assert!(
        !s.answered(rx),
        "G must keep W uncommitted, so R's x stays Invalid"
    );
    s.settle(3_000);
    assert!(
        s.history().ops.iter().all(|o| o.ret.is_some()),
        "every op completes"
    );
    assert!(linearizable(&s));

    let (mut s, _) = batch_superseded_on_one_key(Some(Mutant::SkipGuardian));
    s.settle(3_000);
    assert!(
        !linearizable(&s),
        "without G the §5.2 history must be flagged"
    );
}

/// modelcheck.md §4.2: the guardian A replays W after T_stuck and commits it itself while holding B.
fn replayer_commits_while_holding_a_batch(mutant: Option<Mutant>) -> Script {
    let mut s = Script::new(3, mutant);
    let (tb, tw) = (ts(1, A), ts(1, D));
    submit(&mut s, A, batch(&[("x", "1"), ("y", "1")]));
    submit(&mut s, D, put("x", "2"));
    submit(&mut s, R, get("x"));
    submit(&mut s, A, get_many(&["x", "y"]));
    s.deliver(D, A, msg::inv(tw));
    s.advance(800); // A's T_stuck fires: A replays W
    s.deliver(A, D, msg::inv(tw));
    s.deliver(D, A, msg::ack(tw));
    s.deliver(A, D, msg::inv(tb));
    s.deliver(D, A, msg::ack(tb));
    s.deliver(A, R, msg::inv(tw));
    s.deliver(R, A, msg::ack(tw));
    if in_flight(&s, A, D, msg::val(tw)) {
        s.deliver(A, D, msg::val(tw));
    }
    submit(&mut s, R, get("y"));
    s.settle(3_000);
    s
}

#[test]
fn report_4_2_guardian_gates_a_replayers_commit() {
    let s = replayer_commits_while_holding_a_batch(None);
    assert!(s.history().ops.iter().all(|o| o.ret.is_some()));
    assert!(linearizable(&s));
    assert!(!linearizable(&replayer_commits_while_holding_a_batch(
        Some(Mutant::GuardianSkipsReplayers)
    )));
}

/// modelcheck.md §4.3 (amendment F1): one writer must never reuse a Ts for two updates.
fn one_writer_two_updates(mutant: Option<Mutant>) -> Script {
    let mut s = Script::new(3, mutant);
    let tx = ts(1, A);
    submit(&mut s, A, put("x", "1"));
    s.deliver(A, D, msg::inv(tx));
    s.deliver(D, A, msg::ack(tx));
    s.deliver(A, R, msg::inv(tx));
    s.deliver(R, A, msg::ack(tx));
    submit(&mut s, A, put("y", "1"));
    s.deliver(A, D, inv_on("y"));
    submit(&mut s, D, get("y"));
    s.deliver(A, D, msg::val(tx));
    submit(&mut s, R, get("y"));
    s.settle(3_000);
    s
}

#[test]
fn report_4_3_versions_are_unique_per_writer() {
    let s = one_writer_two_updates(None);
    assert!(s.ts_collisions().is_empty());
    assert!(linearizable(&s));
    // This engine validates a VAL's keys through the update record, so the model's stale read
    // does not follow from the collision here; the collision itself is the violation (§9.1.8).
    let s = one_writer_two_updates(Some(Mutant::NoWriterLastVersion));
    assert_eq!(s.ts_collisions(), vec![ts(1, A)]);
}

/// modelcheck.md §4.5 (amendment F2): a late duplicate INV after VAL must not re-arm G.
fn late_duplicate_after_val(mutant: Option<Mutant>) -> (Script, usize) {
    let mut s = Script::new(3, mutant);
    let (tb, tw) = (ts(1, A), ts(1, D));
    submit(&mut s, A, batch(&[("x", "1"), ("y", "1")]));
    let w = submit(&mut s, D, put("x", "2"));
    submit(&mut s, R, get_many(&["x", "y"]));
    s.deliver(D, A, msg::inv(tw));
    s.deliver(A, D, msg::inv(tb));
    s.deliver(D, A, msg::ack(tb));
    s.deliver_duplicate(A, R, msg::inv(tb));
    s.deliver(R, A, msg::ack(tb)); // B commits; A releases its ACK of W
    s.deliver(A, D, msg::ack(tw));
    s.deliver(A, D, msg::val(tb));
    s.deliver(A, R, msg::val(tb));
    s.deliver(A, R, msg::inv(tb)); // the late duplicate
    s.deliver(D, R, msg::inv(tw));
    s.settle(10_000);
    (s, w)
}

#[test]
fn report_4_5_late_duplicate_does_not_rearm_the_guard() {
    let (s, w) = late_duplicate_after_val(None);
    assert_eq!(s.result(w), &OpResult::Ok);
    assert!(linearizable(&s));
    let (s, w) = late_duplicate_after_val(Some(Mutant::GuardianLiteralHold));
    assert!(!s.answered(w), "the literal hold deadlocks W");
}

#[test]
fn coordinator_crash_after_a_partial_inv_is_finished_by_a_replay() {
    let mut s = Script::new(3, None);
    s.hold_persists = true;
    let w = submit(&mut s, A, put("x", "1"));
    s.deliver(A, D, msg::inv(ts(1, A)));
    s.flush_persists(D);
    s.crash(A); // before its own persist completed
    s.hold_persists = false;
    submit(&mut s, R, get("x"));
    s.advance(100);
    s.start(A);
    s.settle(3_000);
    let reads: Vec<usize> = [A, D, R]
        .iter()
        .map(|&n| submit(&mut s, n, get("x")))
        .collect();
    s.settle(100);
    for r in reads {
        assert_eq!(
            s.result(r),
            &OpResult::Value {
                value: Some("1".into())
            }
        );
    }
    assert!(
        !s.answered(w),
        "the crashed process never answers; its write is unknown, not failed"
    );
    assert!(linearizable(&s));
}

#[test]
fn full_cluster_power_loss_keeps_every_acknowledged_write() {
    let mut s = Script::new(3, None);
    let done: Vec<usize> = (0..3)
        .map(|i| submit(&mut s, i, put(&format!("k{i}"), "old")))
        .collect();
    s.settle(500);
    assert!(done.iter().all(|&d| s.result(d) == &OpResult::Ok));
    s.hold_persists = true;
    for i in 0..3 {
        submit(&mut s, i, put(&format!("k{i}"), "new"));
    }
    s.deliver(A, D, inv_on("k0"));
    s.flush_persists(D);
    for i in 0..3 {
        s.crash(i);
    }
    s.pool.clear(); // power loss: nothing in flight survives
    s.hold_persists = false;
    for i in 0..3 {
        s.start(i);
    }
    s.settle(5_000);
    let reads: Vec<usize> = [A, D, R]
        .iter()
        .map(|&n| submit(&mut s, n, get_many(&["k0", "k1", "k2"])))
        .collect();
    s.settle(100);
    for r in reads {
        let OpResult::Values { values } = s.result(r) else {
            panic!("read not answered")
        };
        assert!(
            values.iter().all(|v| v.is_some()),
            "an acknowledged write was lost: {values:?}"
        );
    }
    assert!(linearizable(&s));
}

// ----- membership (protocol.md §9.3) --------------------------------------------------------

/// A minority node (C) is cut off while it holds a lease; the majority removes it once every
/// promise has expired, then writes. C may serve reads only while its lease lasts, which ends
/// before the removal is decided.
fn minority_reads_across_the_removal(mutant: Option<Mutant>) -> (Script, usize, usize) {
    let mut s = Script::new(3, mutant);
    submit(&mut s, A, put("x", "old"));
    s.settle(50);
    s.isolate(R);
    s.settle(700);
    let w = submit(&mut s, A, put("x", "new"));
    s.settle(5);
    submit(&mut s, R, get("x"));
    s.settle(2_300);
    let late = submit(&mut s, R, get("x"));
    s.settle(100);
    (s, w, late)
}

#[test]
fn minority_partition_with_reads_on_the_minority_side_across_the_removal() {
    let (s, w, late) = minority_reads_across_the_removal(None);
    assert_eq!(
        s.result(w),
        &OpResult::Ok,
        "the majority removes the cut-off node and goes on writing"
    );
    assert!(!s.node(A).view().contains(NodeId(R as u32)));
    assert!(
        !s.answered(late),
        "the cut-off node has no lease any more: its read waits (then NoLease)"
    );
    assert!(linearizable(&s));
    for m in [Mutant::ReadWithoutLease, Mutant::AcceptRemovalEarly] {
        let (s, _, _) = minority_reads_across_the_removal(Some(m));
        assert!(
            !linearizable(&s),
            "{} must serve a stale read here",
            m.name()
        );
    }
}

/// An acceptor (D) restarts while a removal of C waits for D's lease promise to C. Having
/// forgotten its promises, D must wait W after its restart before accepting the removal.
fn acceptor_restart_during_a_removal(mutant: Option<Mutant>) -> (Script, usize) {
    let mut s = Script::new(3, mutant);
    submit(&mut s, A, put("x", "old"));
    s.settle(50);
    s.partition(A, R);
    s.settle(550); // A suspects R and proposes its removal; D delays (it promised R a lease)
    s.crash(D);
    s.start(D);
    s.partition(D, R);
    s.settle(600);
    let w = submit(&mut s, A, put("x", "new"));
    s.settle(20);
    submit(&mut s, R, get("x"));
    s.settle(3_000);
    (s, w)
}

#[test]
fn acceptor_restart_during_a_removal_keeps_the_promise() {
    let (s, w) = acceptor_restart_during_a_removal(None);
    assert_eq!(s.result(w), &OpResult::Ok);
    assert!(linearizable(&s));
    let (s, _) = acceptor_restart_during_a_removal(Some(Mutant::SkipRestartWait));
    assert!(
        !linearizable(&s),
        "without the restart wait the removed node serves a stale read"
    );
}

fn is_chunk(m: &Message) -> bool {
    matches!(m, Message::SnapChunk { .. })
}

/// `k0 = a` is written, then R loses its disk and restarts with `--join`. Returns once R asked
/// to join, its old identity's promises expired and it was admitted Joining; chunks sent to it
/// stay frozen in the pool.
fn rejoin_r_with_a_lost_disk(s: &mut Script) {
    s.frozen = is_chunk;
    submit(s, A, put("k0", "a"));
    s.settle(50);
    s.crash(R);
    s.disks[R] = level2pc::MemDisk::default();
    s.start_with(R, true);
    s.settle(2_500);
}

/// The node whose snapshot chunk for R waits in the pool, if any.
fn chunk_donor(s: &Script) -> Option<usize> {
    s.pool
        .iter()
        .find(|m| m.to == R && is_chunk(&m.msg))
        .map(|m| m.from)
}

/// A node that lost its disk rejoins; while its snapshot is in flight a write commits with its
/// ACK. It serves reads only once promoted after the transfer, and then sees everything.
fn joiner_receiving_invs_during_transfer(mutant: Option<Mutant>) -> (Script, usize) {
    let mut s = Script::new(3, mutant);
    s.hold = |m| m.is_data_path() || is_chunk(m);
    rejoin_r_with_a_lost_disk(&mut s);
    if mutant.is_none() {
        assert_eq!(
            s.node(A).view().role(NodeId(R as u32)),
            Some(level2pc::Role::Joining)
        );
    }
    let w = submit(&mut s, A, put("k1", "b"));
    let tw = s.pool.iter().find_map(|m| match &m.msg {
        Message::Inv { update, .. } if m.from == A => Some(update.ts),
        _ => None,
    });
    let tw = tw.expect("the write's INV is in flight");
    s.deliver(A, R, msg::inv(tw)); // the joiner applies and ACKs an INV mid-transfer
    s.deliver(R, A, msg::ack(tw));
    s.deliver(A, D, msg::inv(tw));
    s.deliver(D, A, msg::ack(tw));
    assert_eq!(
        s.result(w),
        &OpResult::Ok,
        "the joiner's ACK counts: it is in the write-ack set"
    );
    s.settle(300);
    if let Some(donor) = chunk_donor(&s) {
        s.deliver(donor, R, is_chunk);
    }
    s.frozen = |_| false;
    s.settle(2_000);
    let r = submit(&mut s, R, get_many(&["k0", "k1"]));
    s.settle(100);
    (s, r)
}

#[test]
fn joiner_receiving_invs_during_transfer_serves_only_after_promotion() {
    let (s, r) = joiner_receiving_invs_during_transfer(None);
    assert_eq!(
        s.result(r),
        &OpResult::Values {
            values: vec![Some("a".into()), Some("b".into())]
        }
    );
    assert!(linearizable(&s));
    let (s, _) = joiner_receiving_invs_during_transfer(Some(Mutant::PromoteBeforeTransfer));
    assert!(
        !linearizable(&s),
        "promoted before its transfer, the joiner misses k0"
    );
}

/// A joiner finishes its transfer, but the persist holding the last entries and "transfer
/// done" is still in flight when it crashes. It must not have asked for promotion yet: promoted,
/// it would restart Active without those entries and serve `k0` as absent (§8.2 step 5).
fn joiner_crashing_before_its_transfer_is_durable(mutant: Option<Mutant>) -> (Script, usize) {
    let mut s = Script::new(3, mutant);
    s.hold = is_chunk;
    rejoin_r_with_a_lost_disk(&mut s);
    let donor = chunk_donor(&s).expect("a chunk for the joiner is in flight");
    s.hold_persists_at.insert(R);
    s.deliver(donor, R, is_chunk); // the only chunk: R's transfer is done, in memory
    s.frozen = |_| false;
    s.settle(2_000); // heartbeats: time enough to ask for promotion and get it
    s.crash(R); // the persist with k0 and "transfer done" never reached the disk
    s.hold_persists_at.clear();
    s.start(R);
    s.settle(3_000);
    let r = submit(&mut s, R, get("k0"));
    s.settle(100);
    (s, r)
}

#[test]
fn a_joiner_asks_for_promotion_only_once_its_transfer_is_durable() {
    let (s, r) = joiner_crashing_before_its_transfer_is_durable(None);
    assert_eq!(
        s.result(r),
        &OpResult::Value {
            value: Some("a".into())
        }
    );
    assert!(linearizable(&s));
    let (s, _) =
        joiner_crashing_before_its_transfer_is_durable(Some(Mutant::PromoteBeforeTransferDurable));
    assert!(
        !linearizable(&s),
        "promoted before its transfer was durable, the restarted joiner misses k0"
    );
}

/// R is falsely suspected: A stops hearing it, but R still reaches D and asks it for leases. A
/// proposes R's removal; from the moment D receives it, D must stop granting to R, or every
/// grant pushes D's promise further and the removal — and A's writes, which wait for R's
/// ACK — never finish (§7.3: "otherwise a falsely suspected but live node would keep renewing
/// forever").
fn falsely_suspected_node_keeps_asking(mutant: Option<Mutant>) -> (Script, usize) {
    let mut s = Script::new(3, mutant);
    submit(&mut s, A, put("x", "old"));
    s.settle(50);
    s.cut.insert((R, A));
    s.settle(2_500);
    let w = submit(&mut s, A, put("x", "new"));
    s.settle(3_000);
    (s, w)
}

#[test]
fn a_falsely_suspected_node_is_removed_although_it_keeps_asking_for_leases() {
    let (s, w) = falsely_suspected_node_keeps_asking(None);
    assert_eq!(
        s.result(w),
        &OpResult::Ok,
        "the removal lets A's write finish"
    );
    assert!(linearizable(&s));
    let (s, w) = falsely_suspected_node_keeps_asking(Some(Mutant::GrantWhileRemoving));
    assert_ne!(
        s.result(w),
        &OpResult::Ok,
        "granting during the removal must stall it (and the write) forever"
    );
}

/// Only lease grants addressed to R (held and frozen by the next scenario).
fn grant_to_r(m: &Message) -> bool {
    matches!(m, Message::LeaseGrant { member, .. } if member.node == NodeId(R as u32))
}

/// R's lease requests are granted, but the grants are delayed; R restarts (a new boot, lease
/// request ids from 1 again) and is cut off, so the others remove it once their promises end.
/// When the old grants finally arrive they must not count for R's new requests with the same
/// id: they were made, and their promises started, long before those requests were sent.
fn stale_grants_after_a_restart(mutant: Option<Mutant>) -> (Script, usize) {
    let mut s = Script::new(3, mutant);
    submit(&mut s, A, put("x", "old"));
    s.settle(600);
    s.hold = |m| m.is_data_path() || grant_to_r(m);
    s.frozen = grant_to_r;
    // Until one request of R's first boot is granted by A and D (the grants held).
    let held = |s: &Script| {
        s.pool.iter().find_map(|m| match m.msg {
            Message::LeaseGrant { id, .. } if m.from == A && m.to == R => Some(id.1),
            _ => None,
        })
    };
    s.settle_until(1_000, |s| held(s).is_some());
    let old_id = held(&s).expect("R asks for a lease at least once a second");
    // R's page cache reaches its disk (every lazy hint kept), so it restarts with x Valid and a
    // stretched lease would let it serve the stale value.
    s.crash_keeping(R, usize::MAX);
    s.start(R);
    s.isolate(R);
    // The old grants arrive (late, duplicated) while R's new boot reuses the request id.
    let old = move |m: &Message| matches!(m, Message::LeaseGrant { id, .. } if id.1 == old_id);
    for _ in 0..2_000 {
        s.deliver_duplicate(A, R, old);
        s.deliver_duplicate(D, R, old);
        if s.node(R).lease_expiry() > level2pc::Instant::ZERO {
            break;
        }
        s.settle(1);
    }
    let removed = |s: &Script| !s.node(A).view().contains(NodeId(R as u32));
    assert!(s.settle_until(5_000, removed), "the cut-off R is removed");
    let w = submit(&mut s, A, put("x", "new"));
    s.settle(10);
    let r = submit(&mut s, R, get("x"));
    s.settle(10);
    assert_eq!(s.result(w), &OpResult::Ok);
    (s, r)
}

#[test]
fn grants_for_an_earlier_boot_do_not_extend_a_restarted_nodes_lease() {
    let (s, r) = stale_grants_after_a_restart(None);
    assert!(!s.answered(r), "R has no lease: its read waits");
    assert!(linearizable(&s));
    let (s, _) = stale_grants_after_a_restart(Some(Mutant::AcceptStaleGrants));
    assert!(
        !linearizable(&s),
        "counting the old boot's grants, R serves a stale read after its removal"
    );
}

/// R is cut off and removed by A and D (epoch 2). D then loses its disk and, cut off from A,
/// hears only R, which never learned epoch 2 and proposes its own view for it. An acceptor that
/// lost its state may have voted in that instance: it must not vote again (§7.2), or a second,
/// different view is decided for epoch 2.
fn amnesiac_acceptor(mutant: Option<Mutant>) -> Script {
    let mut s = Script::new(3, mutant);
    submit(&mut s, A, put("x", "old"));
    s.settle(50);
    s.isolate(R);
    s.settle(3_000);
    assert_eq!(s.node(A).view().epoch.0, 2, "A and D removed R");
    s.crash(D);
    s.disks[D] = level2pc::MemDisk::default();
    s.cut.clear();
    s.partition(A, D);
    s.partition(A, R);
    s.start_with(D, true);
    s.settle(5_000);
    s
}

#[test]
fn an_acceptor_that_lost_its_disk_does_not_vote_again() {
    // A's epoch 2 removed R: a view of epoch 2 or later that still lists R's identity was
    // decided on another branch.
    let split = |s: &Script| {
        let r = s.node(R).view();
        r.epoch >= s.node(A).view().epoch && r.contains(NodeId(R as u32))
    };
    let s = amnesiac_acceptor(None);
    assert_eq!(
        s.node(R).view().epoch.0,
        1,
        "R cannot decide without D's vote"
    );
    assert!(!split(&s));
    let s = amnesiac_acceptor(Some(Mutant::AmnesiacVotes));
    assert!(
        split(&s),
        "with the amnesiac's vote R decides another view for epoch 2: A {:?}, R {:?}",
        s.node(A).view(),
        s.node(R).view()
    );
}

/// Paxos traffic of the membership protocol (held and frozen by the next scenario).
fn paxos(m: &Message) -> bool {
    matches!(
        m,
        Message::Prepare { .. }
            | Message::Promise { .. }
            | Message::Accept { .. }
            | Message::Accepted { .. }
            | Message::Reject { .. }
            | Message::Decided { .. }
    )
}
fn prepare_by(node: usize) -> impl Fn(&Message) -> bool {
    move |m| matches!(m, Message::Prepare { ballot, .. } if ballot.node == NodeId(node as u32))
}
fn promise_for(node: usize) -> impl Fn(&Message) -> bool {
    move |m| matches!(m, Message::Promise { ballot, .. } if ballot.node == NodeId(node as u32))
}
fn accept_by(node: usize) -> impl Fn(&Message) -> bool {
    move |m| matches!(m, Message::Accept { ballot, .. } if ballot.node == NodeId(node as u32))
}

/// A proposes R's removal while R is cut off from it; both acceptors hold the Accept back
/// (R's lease promises last) and stop granting to R. Before either accepts, R's own higher
/// ballot (R suspects A) reaches both, so A's removal can never be accepted; then R crashes
/// before its proposal gets anywhere, restarts, and the links heal. Nobody suspects anyone any
/// more, so no view change ever comes: the overtaken Accept must stop blocking R's grants, or R
/// never holds a lease again (§7.3; the liveness bug of `keep-overtaken-no-grant`).
fn overtaken_removal(mutant: Option<Mutant>) -> (Script, usize) {
    let mut s = Script::new(3, mutant);
    submit(&mut s, A, put("x", "old"));
    s.settle(50);
    s.hold = |m| m.is_data_path() || paxos(m);
    s.frozen = paxos;
    // R stops hearing A first, suspects it, and (after its backoff) proposes A's removal; its
    // Prepare waits in flight.
    s.cut.insert((A, R));
    let r_prepared = |s: &Script| in_flight(s, R, D, prepare_by(R));
    assert!(s.settle_until(3_000, r_prepared), "R proposes A's removal");
    // Now A stops hearing R, suspects it and proposes its removal, with a lower ballot.
    s.cut.insert((R, A));
    let a_prepared = |s: &Script| in_flight(s, A, D, prepare_by(A));
    assert!(s.settle_until(1_000, a_prepared), "A proposes R's removal");
    s.deliver(A, D, prepare_by(A));
    s.deliver(D, A, promise_for(A));
    // A's Accept: A and D both delay it while their lease promises to R last, and stop
    // granting to R.
    s.deliver(A, D, accept_by(A));
    // R's higher ballot overtakes it at D, then (once R reaches A again) at A.
    s.deliver(R, D, prepare_by(R));
    s.cut.remove(&(R, A));
    let r_to_a = |s: &Script| in_flight(s, R, A, prepare_by(R));
    assert!(
        s.settle_until(300, r_to_a),
        "R retransmits its Prepare to A"
    );
    s.deliver(R, A, prepare_by(R));
    // R crashes before its proposal gets anywhere, and comes straight back; the links heal.
    s.crash(R);
    s.start(R);
    s.pool
        .retain(|m| !paxos(&m.msg) || (m.from != R && m.to != R));
    s.cut.clear();
    s.settle(2_000);
    s.hold = Message::is_data_path;
    s.frozen = |_| false;
    s.pool.retain(|m| !paxos(&m.msg));
    s.settle(3_000);
    let r = submit(&mut s, R, get("x"));
    s.settle(100);
    (s, r)
}

#[test]
fn an_overtaken_removal_stops_blocking_the_targets_lease() {
    let (s, r) = overtaken_removal(None);
    assert_eq!(
        s.node(A).view().epoch.0,
        1,
        "no view change: the overtaken removal was never accepted"
    );
    assert_eq!(
        s.result(r),
        &OpResult::Value {
            value: Some("old".into())
        },
        "R holds a lease again and serves the read"
    );
    assert!(linearizable(&s));
    let (s, r) = overtaken_removal(Some(Mutant::KeepOvertakenNoGrant));
    assert_eq!(s.node(A).view().epoch.0, 1);
    assert!(
        !s.answered(r),
        "the overtaken removal keeps blocking R's grants: R never gets a lease"
    );
}

// ----- read-modify-write (protocol.md §11) -------------------------------------------------

fn cas(k: &str, expected: &str, new: &str) -> (Op, history::Op) {
    (
        Op::Rmw {
            key: b(k),
            change: level2pc::Change::Cas {
                expected: Some(b(expected)),
                new: Some(b(new)),
            },
        },
        history::Op::Cas {
            key: k.into(),
            expected: Some(expected.into()),
            new: Some(new.into()),
        },
    )
}

/// The Ts of `key` at node `i` (its RMW, right after it started one).
fn entry_ts(s: &Script, i: usize, key: &[u8]) -> Ts {
    s.node(i).inspect_key(key).expect("key present").ts
}

/// Two compare-and-sets on the same base, started at D and R (with `hold`, their persists
/// wait); `(higher's node, lower's node, the third node)`.
fn two_rmws_on_one_base(s: &mut Script, hold: bool) -> (usize, usize, usize) {
    submit(s, A, put("k", "v0"));
    s.settle(50);
    if hold {
        s.hold_persists_at = [D, R].into_iter().collect();
    }
    let d = submit(s, D, cas("k", "v0", "from-d"));
    let r = submit(s, R, cas("k", "v0", "from-r"));
    let _ = (d, r);
    if entry_ts(s, D, b"k") > entry_ts(s, R, b"k") {
        (D, R, A)
    } else {
        (R, D, A)
    }
}

/// §11.2 R2. The coordinator H of the higher RMW crashes before its own persist; had its INV
/// left already, A could hold it while H, restarted at the base, acknowledges the lower RMW,
/// which commits. Once the lower RMW's coordinator is removed, A's replay of the higher one
/// gathers every ACK: two conflicting RMWs committed.
fn rmw_coordinator_crash_before_its_persist(mutant: Option<Mutant>) -> Script {
    let mut s = Script::new(3, mutant);
    let (hi, lo, a) = two_rmws_on_one_base(&mut s, true);
    let (t_hi, t_lo) = (entry_ts(&s, hi, b"k"), entry_ts(&s, lo, b"k"));
    s.hold_persists_at.remove(&lo);
    s.flush_persists(lo);
    s.deliver(lo, a, msg::inv(t_lo));
    s.crash(hi); // its RMW was never durable
    s.hold_persists_at.remove(&hi);
    s.start(hi);
    s.deliver(lo, hi, msg::inv(t_lo));
    s.deliver(a, lo, msg::ack(t_lo));
    s.deliver(hi, lo, msg::ack(t_lo)); // the lower RMW commits
    if in_flight(&s, hi, a, msg::inv(t_hi)) {
        s.deliver(hi, a, msg::inv(t_hi)); // only if it left before the persist (R2 off)
    }
    // The lower RMW's coordinator is cut off and removed; its VALs never arrive.
    s.frozen = |m| matches!(m, Message::Val { .. });
    s.isolate(lo);
    s.settle(4_000);
    submit(&mut s, a, get("k"));
    s.settle(200);
    s
}

/// §11.2 R3. L drives the lower RMW when the higher one reaches it: L adopts it and must stop
/// driving its own. Had it kept driving, once the higher RMW's coordinator is removed, L
/// commits its own RMW with X's ACK and then the replay of the higher one, which X (still
/// Invalid on the lower one) lets supersede it: two conflicting RMWs committed.
fn rmw_driver_superseded_keeps_driving(mutant: Option<Mutant>) -> Script {
    let mut s = Script::new(3, mutant);
    let (hi, lo, x) = two_rmws_on_one_base(&mut s, false);
    let (t_hi, t_lo) = (entry_ts(&s, hi, b"k"), entry_ts(&s, lo, b"k"));
    s.deliver(hi, lo, msg::inv(t_hi)); // lo adopts the higher RMW
    s.deliver(lo, x, msg::inv(t_lo));
    s.deliver(x, lo, msg::ack(t_lo));
    // hi is cut off and removed; meanwhile no INV or VAL moves.
    s.frozen = |m| matches!(m, Message::Val { .. } | Message::Inv { .. });
    s.isolate(hi);
    let removed = |s: &Script| [lo, x].iter().all(|&n| s.node(n).view().epoch > Epoch(1));
    assert!(s.settle_until(5_000, removed), "hi was not removed");
    // In the new view, whatever lo still drives reaches x first.
    while in_flight(&s, lo, x, msg::inv(t_lo)) {
        s.deliver(lo, x, msg::inv(t_lo));
    }
    s.frozen = |m| matches!(m, Message::Val { .. });
    s.settle(2_000);
    submit(&mut s, x, get("k"));
    s.settle(200);
    s
}

#[test]
fn rmw_scenarios_commit_at_most_one_of_two_conflicting_rmws() {
    for (name, scenario, mutant) in [
        (
            "coordinator crash before its persist",
            rmw_coordinator_crash_before_its_persist as fn(Option<Mutant>) -> Script,
            Mutant::RmwInvBeforeDurable,
        ),
        (
            "superseded driver",
            rmw_driver_superseded_keeps_driving,
            Mutant::RmwSelfAckAfterSupersede,
        ),
    ] {
        let s = scenario(None);
        assert!(linearizable(&s), "{name}: the real engine");
        let s = scenario(Some(mutant));
        assert!(
            !linearizable(&s),
            "{name}: {} must be caught",
            mutant.name()
        );
    }
}
