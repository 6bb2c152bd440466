//! Exact-output tests: each feeds one input and asserts the complete list of outputs it
//! produces (openraft style), for every transition of protocol.md §3.2 / §4 the engine implements.
//! The few that look only at INV messages say so by using [`invs`]: they fire timers whose
//! heartbeat traffic is not their subject.

use super::test_support::*;
use super::*;
use crate::client::{OpResult, SubmitError, Unavailable};
use crate::message::Ballot;
use crate::storage::Identity;
use crate::storage::StoredEntry;
use crate::timestamp::Epoch;
use crate::update::{Update, Write};
use crate::view::MemberId;
use std::sync::Arc;

/// A timestamp written by `node` in boot `boot` of its epoch-1 identity (writer boot = adm << 32 | boot).
fn ts(v: u64, node: u32, boot: u64) -> Ts {
    Ts::new(v, NodeId(node), BootInc((1 << 32) | boot))
}
fn me_id(node: u32) -> MemberId {
    MemberId {
        node: n(node),
        adm: 1,
    }
}
fn upd(ts: Ts, writes: &[(&str, Option<&str>)]) -> UpdateRef {
    let writes = writes
        .iter()
        .map(|(k, v)| Write {
            key: b(k),
            value: v.map(b),
        })
        .collect();
    Arc::new(Update {
        ts,
        writes,
        base: None,
    })
}
fn entry(key: &str, ts: Ts, valid: bool, value: Option<&str>) -> PersistOp {
    PersistOp::Entry {
        key: b(key),
        entry: StoredEntry {
            ts,
            valid,
            value: value.map(b),
        },
    }
}
fn send(to: u32, msgs: Vec<Message>) -> Output {
    Output::Send { to: n(to), msgs }
}
fn inv(u: &UpdateRef) -> Message {
    Message::Inv {
        epoch: E1,
        update: u.clone(),
    }
}
fn ack(t: Ts) -> Message {
    Message::Ack { epoch: E1, ts: t }
}
fn val(t: Ts) -> Message {
    Message::Val { epoch: E1, ts: t }
}
fn reply(id: u64, result: OpResult) -> Output {
    Output::Reply {
        id: RequestId(id),
        result,
    }
}

/// Node `me` of {0,1,2}, boot 1, with every peer heard from, a lease (its own grant and one
/// peer's: a majority), and outputs drained: ready.
fn ready_node(me: u32) -> Node {
    let cfg = Config::new(n(me), vec![n(0), n(1), n(2)]);
    let mut node = Node::new(
        cfg,
        Recovered {
            boot: BootInc(1),
            ..Default::default()
        },
        Instant::ZERO,
    )
    .unwrap();
    for p in [0, 1, 2].into_iter().filter(|&p| p != me) {
        node.handle_message(Instant::ZERO, n(p), Message::Ping { epoch: E1 });
    }
    node.handle_persisted(Instant::ZERO, 1);
    node.handle_timeout(Instant::ZERO); // heartbeat: asks every acceptor for a lease
    let peer = if me == 0 { 1 } else { 0 };
    node.handle_message(
        Instant::ZERO,
        n(peer),
        Message::LeaseGrant {
            id: (1, 1),
            member: me_id(me),
        },
    );
    assert!(node.is_ready(), "node {me} did not become ready");
    drain(&mut node);
    node
}

/// Only the INV messages among `outputs` (heartbeats may be coalesced into the same `Send`).
fn invs(outputs: Vec<Output>) -> Vec<Output> {
    outputs
        .into_iter()
        .filter_map(|o| match o {
            Output::Send { to, msgs } => {
                let msgs: Vec<_> = msgs
                    .into_iter()
                    .filter(|m| matches!(m, Message::Inv { .. }))
                    .collect();
                (!msgs.is_empty()).then_some(Output::Send { to, msgs })
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_fresh_node_persists_its_view_asks_for_newer_ones_and_requests_a_lease() {
    let cfg = Config::new(n(0), vec![n(0), n(1), n(2)]);
    let mut node = Node::new(
        cfg,
        Recovered {
            boot: BootInc(1),
            ..Default::default()
        },
        Instant::ZERO,
    )
    .unwrap();
    let identity = Some(Identity {
        adm: 1,
        transfer_done: true,
    });
    let ask = Message::ViewReq { epoch: E1 };
    assert_eq!(
        drain(&mut node),
        vec![
            Output::Persist {
                seq: 1,
                ops: vec![PersistOp::View(v1()), PersistOp::Identity(identity)]
            },
            send(1, vec![ask.clone()]),
            send(2, vec![ask]),
        ]
    );
    assert_eq!(node.poll_timeout(), Some(Instant::ZERO));
    node.handle_timeout(Instant::ZERO);
    let ping = Message::Ping { epoch: E1 };
    let req = Message::LeaseReq {
        id: (1, 1),
        member: me_id(0),
    };
    assert_eq!(
        drain(&mut node),
        vec![
            send(1, vec![ping.clone(), req.clone()]),
            send(2, vec![ping, req])
        ],
        "its own grant stays local"
    );
    assert!(!node.is_ready(), "one grant of three is not a majority");
    node.handle_message(
        t(5),
        n(2),
        Message::LeaseGrant {
            id: (1, 1),
            member: me_id(0),
        },
    );
    assert_eq!(
        drain(&mut node),
        vec![
            Output::Event(Event::PeerUp(n(2))),
            Output::Event(Event::Ready)
        ]
    );
    assert_eq!(
        node.lease_expiry(),
        t(1_000),
        "L from when the request was sent"
    );
}

#[test]
fn requests_that_time_out_while_not_ready_leave_no_ids_behind_in_the_wait_queues() {
    let cfg = Config::new(n(1), vec![n(0), n(1), n(2)]);
    let recovered = Recovered {
        boot: BootInc(1),
        ..Default::default()
    };
    let mut node = Node::new(cfg, recovered, Instant::ZERO).unwrap();
    node.handle_persisted(Instant::ZERO, 1);
    drain(&mut node);
    assert!(
        !node.is_ready(),
        "no lease: writes wait for readiness, reads for a lease"
    );
    for round in 0..20u64 {
        for i in 0..100u64 {
            let id = RequestId(round * 100 + i);
            let op = if i % 2 == 0 {
                Op::Put {
                    key: b("k"),
                    value: b("v"),
                }
            } else {
                Op::Get { key: b("k") }
            };
            node.submit(t(round * 10), id, op, t(round * 10 + 5))
                .unwrap();
        }
        node.handle_timeout(t(round * 10 + 5));
        assert_eq!(
            node.requests_in_flight(),
            0,
            "every request answered at its deadline"
        );
    }
    let (not_ready, lease, parked) = node.requests.queue_lengths();
    assert!(
        not_ready.max(lease).max(parked) <= node.requests.queue_bound(),
        "2,000 answered requests left {not_ready} + {lease} + {parked} ids queued"
    );
    assert!(node.check_invariants().is_ok());
}

#[test]
fn readiness_follows_the_lease() {
    let mut node = ready_node(0);
    // No grant for any renewal: the lease runs out L after the last granted request.
    for ms in (100..=1_000).step_by(100) {
        node.handle_timeout(t(ms));
    }
    let events: Vec<_> = drain(&mut node)
        .into_iter()
        .filter(|o| matches!(o, Output::Event(Event::NotReady | Event::Ready)))
        .collect();
    assert_eq!(events, vec![Output::Event(Event::NotReady)]);
    // Grants from a stale boot or for another identity are ignored; a real one renews.
    node.handle_timeout(t(1_200)); // renewal requests went out at 300, 600, 900 and now 1200
    node.handle_message(
        t(1_201),
        n(1),
        Message::LeaseGrant {
            id: (0, 5),
            member: me_id(0),
        },
    );
    node.handle_message(
        t(1_201),
        n(1),
        Message::LeaseGrant {
            id: (1, 5),
            member: MemberId { node: n(0), adm: 7 },
        },
    );
    assert!(!node.is_ready());
    node.handle_message(
        t(1_201),
        n(1),
        Message::LeaseGrant {
            id: (1, 5),
            member: me_id(0),
        },
    );
    assert!(
        !node.is_ready(),
        "the lease holds, but node 2 has been silent too long for writes"
    );
    node.handle_message(t(1_202), n(2), Message::Ping { epoch: E1 });
    assert!(node.is_ready());
    assert_eq!(
        node.lease_expiry(),
        t(2_200),
        "L from when request 5 was sent"
    );
}

#[test]
fn a_single_node_cluster_is_its_own_majority_and_commits_alone() {
    let mut node = Node::new(
        Config::new(n(0), vec![n(0)]),
        Recovered::default(),
        Instant::ZERO,
    )
    .unwrap();
    let identity = Some(Identity {
        adm: 1,
        transfer_done: true,
    });
    let view = View::initial(E1, &[n(0)]);
    assert_eq!(
        drain(&mut node),
        vec![Output::Persist {
            seq: 1,
            ops: vec![PersistOp::View(view), PersistOp::Identity(identity)]
        }]
    );
    node.handle_timeout(Instant::ZERO);
    assert_eq!(drain(&mut node), vec![Output::Event(Event::Ready)]);
    node.submit(
        t(1),
        RequestId(1),
        Op::Put {
            key: b("x"),
            value: b("1"),
        },
        DEADLINE,
    )
    .unwrap();
    let u = upd(Ts::new(1, n(0), BootInc(1 << 32)), &[("x", Some("1"))]);
    assert_eq!(
        drain(&mut node),
        vec![Output::Persist {
            seq: 2,
            ops: vec![
                entry("x", u.ts, false, Some("1")),
                PersistOp::Record(u.clone())
            ]
        }]
    );
    node.handle_persisted(t(2), 2);
    assert_eq!(
        drain(&mut node),
        vec![
            Output::Event(Event::Committed(u.ts)),
            reply(1, OpResult::Written { ts: u.ts }),
            Output::Persist {
                seq: 3,
                ops: vec![
                    PersistOp::Validate {
                        key: b("x"),
                        ts: u.ts
                    },
                    PersistOp::DropRecord(u.ts)
                ]
            },
        ]
    );
}

#[test]
fn coordinator_invalidates_persists_and_broadcasts_in_one_step() {
    let mut node = ready_node(0);
    node.submit(
        t(1),
        RequestId(7),
        Op::Put {
            key: b("x"),
            value: b("1"),
        },
        DEADLINE,
    )
    .unwrap();
    let u = upd(ts(1, 0, 1), &[("x", Some("1"))]);
    assert_eq!(
        drain(&mut node),
        vec![
            Output::Persist {
                seq: 2,
                ops: vec![
                    entry("x", u.ts, false, Some("1")),
                    PersistOp::Record(u.clone())
                ]
            },
            send(1, vec![inv(&u)]),
            send(2, vec![inv(&u)]),
        ]
    );
}

#[test]
fn commit_needs_every_ack_and_the_local_persist() {
    let mut node = ready_node(0);
    node.submit(
        t(1),
        RequestId(7),
        Op::Put {
            key: b("x"),
            value: b("1"),
        },
        DEADLINE,
    )
    .unwrap();
    drain(&mut node);
    let x1 = ts(1, 0, 1);
    node.handle_message(t(2), n(1), ack(x1));
    node.handle_message(t(2), n(1), ack(x1)); // duplicate ACK: counted once
    assert_eq!(drain(&mut node), vec![]);
    node.handle_message(t(3), n(2), ack(x1));
    assert_eq!(drain(&mut node), vec![], "not durable locally yet (P2)");
    node.handle_persisted(t(4), 2);
    assert_eq!(
        drain(&mut node),
        vec![
            Output::Event(Event::Committed(x1)),
            reply(7, OpResult::Written { ts: x1 }),
            Output::Persist {
                seq: 3,
                ops: vec![
                    PersistOp::Validate {
                        key: b("x"),
                        ts: x1
                    },
                    PersistOp::DropRecord(x1)
                ]
            },
            send(1, vec![val(x1)]),
            send(2, vec![val(x1)]),
        ]
    );
    assert_eq!(
        node.inspect_key(b"x").map(|e| (e.ts, e.valid, e.value)),
        Some((x1, true, Some(b("1"))))
    );
}

#[test]
fn acks_from_another_epoch_are_not_counted() {
    let mut node = ready_node(0);
    node.submit(
        t(1),
        RequestId(7),
        Op::Put {
            key: b("x"),
            value: b("1"),
        },
        DEADLINE,
    )
    .unwrap();
    node.handle_persisted(t(1), 2);
    drain(&mut node);
    let x1 = ts(1, 0, 1);
    node.handle_message(t(2), n(1), ack(x1));
    node.handle_message(
        t(2),
        n(2),
        Message::Ack {
            epoch: Epoch(2),
            ts: x1,
        },
    );
    node.handle_message(
        t(2),
        n(2),
        Message::Ack {
            epoch: Epoch(0),
            ts: x1,
        },
    );
    // Not counted (no commit); the sender of the newer epoch is asked for its view, the one
    // behind is told ours.
    assert_eq!(
        drain(&mut node),
        vec![
            send(2, vec![Message::ViewReq { epoch: E1 }]),
            send(2, vec![Message::ViewInfo { view: v1() }])
        ]
    );
}

#[test]
fn follower_acks_only_after_its_persist() {
    let mut node = ready_node(1);
    let u = upd(ts(1, 0, 1), &[("x", Some("1"))]);
    node.handle_message(t(1), n(0), inv(&u));
    assert_eq!(
        drain(&mut node),
        vec![Output::Persist {
            seq: 2,
            ops: vec![
                entry("x", u.ts, false, Some("1")),
                PersistOp::Record(u.clone())
            ]
        }]
    );
    node.handle_persisted(t(2), 1);
    assert_eq!(drain(&mut node), vec![], "persist 2 not durable yet");
    node.handle_persisted(t(3), 2);
    assert_eq!(drain(&mut node), vec![send(0, vec![ack(u.ts)])]);
}

#[test]
fn duplicate_and_lower_invs_are_acked_without_change() {
    let mut node = ready_node(1);
    let high = upd(ts(2, 2, 1), &[("x", Some("2"))]);
    node.handle_message(t(1), n(2), inv(&high));
    node.handle_persisted(t(1), 2);
    drain(&mut node);
    // The same INV again (a retransmission or a replay): nothing to persist, ACK at once.
    node.handle_message(t(2), n(2), inv(&high));
    assert_eq!(drain(&mut node), vec![send(2, vec![ack(high.ts)])]);
    // A lower-ts INV on the same key: not adopted, no record, still ACKed (Hermes).
    let low = upd(ts(1, 0, 1), &[("x", Some("1"))]);
    node.handle_message(t(3), n(0), inv(&low));
    assert_eq!(drain(&mut node), vec![send(0, vec![ack(low.ts)])]);
    assert_eq!(
        node.inspect_key(b"x").map(|e| (e.ts, e.valid, e.value)),
        Some((high.ts, false, Some(b("2"))))
    );
    assert_eq!(
        node.inspect_records().map(|u| u.ts).collect::<Vec<_>>(),
        vec![high.ts]
    );
}

#[test]
fn snapshot_chunks_are_bounded_by_bytes_and_carry_at_least_one_entry() {
    let mut node = ready_node(0);
    node.cfg.snapshot_chunk_bytes = 300;
    let value = |len: usize| Some(b(&"v".repeat(len)));
    for (key, len) in [("a", 100), ("b", 100), ("c", 100), ("d", 1_000), ("e", 10)] {
        let e = Entry {
            ts: ts(1, 0, 1),
            valid: true,
            value: value(len),
            committed_in: None,
        };
        node.replica.store.insert(b(key), e);
    }
    let chunk = |node: &mut Node, from: Option<&str>| {
        let req = Message::SnapReq {
            epoch: E1,
            from: from.map(b),
        };
        node.handle_message(t(1), n(1), req);
        let sent = drain(node).into_iter().find_map(|o| match o {
            Output::Send { msgs, .. } => msgs.into_iter().find_map(|m| match m {
                Message::SnapChunk { entries, next, .. } => Some((entries, next)),
                _ => None,
            }),
            _ => None,
        });
        let (entries, next) = sent.expect("a chunk");
        let keys: Vec<String> = (entries.iter())
            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
            .collect();
        (keys, next.map(|k| String::from_utf8_lossy(&k).into_owned()))
    };
    // 3 × (100 + 1 + 32) bytes reach the 300-byte budget: the chunk ends after "c".
    assert_eq!(
        chunk(&mut node, None),
        (vec!["a".into(), "b".into(), "c".into()], Some("d".into()))
    );
    // A value over the whole budget still travels, alone.
    assert_eq!(
        chunk(&mut node, Some("d")),
        (vec!["d".into()], Some("e".into()))
    );
    assert_eq!(chunk(&mut node, Some("e")), (vec!["e".into()], None));
}

#[test]
fn invs_beyond_the_key_value_or_batch_limits_are_dropped() {
    let mut node = ready_node(1);
    let big_key = "k".repeat(node.cfg.max_key_bytes + 1);
    let big_value = "v".repeat(node.cfg.max_value_bytes + 1);
    node.handle_message(t(1), n(0), inv(&upd(ts(1, 0, 1), &[(&big_key, Some("1"))])));
    node.handle_message(
        t(1),
        n(0),
        inv(&upd(ts(2, 0, 1), &[("x", Some(&big_value))])),
    );
    let keys: Vec<String> = (0..=node.cfg.max_batch_writes)
        .map(|i| format!("k{i:06}"))
        .collect();
    let writes: Vec<(&str, Option<&str>)> = keys.iter().map(|k| (k.as_str(), None)).collect();
    node.handle_message(t(1), n(0), inv(&upd(ts(3, 0, 1), &writes)));
    assert_eq!(
        drain(&mut node),
        vec![],
        "nothing applied, persisted or acknowledged"
    );
    assert_eq!(node.inspect_key(b"x"), None);
    node.handle_message(t(1), n(0), inv(&upd(ts(4, 0, 1), &[("x", Some("ok"))])));
    assert!(
        node.inspect_key(b"x").is_some(),
        "an INV within the limits still applies"
    );
}

#[test]
fn epochs_and_rounds_at_the_end_of_their_range_neither_wrap_nor_panic() {
    let mut node = ready_node(1);
    let last = View {
        epoch: Epoch(u64::MAX),
        ..v1()
    };
    node.handle_message(t(1), n(0), Message::Decided { view: last });
    assert_eq!(node.view().epoch, Epoch(u64::MAX));
    let promised = Ballot {
        round: u64::MAX,
        node: n(0),
    };
    node.handle_message(
        t(2),
        n(0),
        Message::Reject {
            instance: Epoch(u64::MAX),
            promised,
        },
    );
    node.handle_message(
        t(3),
        n(0),
        Message::Prepare {
            base: node.view().clone(),
            ballot: promised,
        },
    );
    // Node 0 stays in touch, node 2 falls silent: removing it would need epoch u64::MAX + 1.
    for s in 1..=20 {
        let ping = Message::Ping {
            epoch: Epoch(u64::MAX),
        };
        node.handle_message(t(s * 1_000), n(0), ping);
        node.handle_timeout(t(s * 1_000));
        drain(&mut node);
    }
    assert_eq!(node.view().epoch, Epoch(u64::MAX));
    assert!(node.check_invariants().is_ok());
}

#[test]
fn invs_from_another_epoch_non_members_or_self_are_dropped() {
    let mut node = ready_node(1);
    let u = upd(ts(1, 0, 1), &[("x", Some("1"))]);
    node.handle_message(
        t(1),
        n(0),
        Message::Inv {
            epoch: Epoch(2),
            update: u.clone(),
        },
    );
    node.handle_message(
        t(1),
        n(0),
        Message::Inv {
            epoch: Epoch(0),
            update: u.clone(),
        },
    );
    node.handle_message(t(1), n(9), inv(&u));
    node.handle_message(t(1), n(1), inv(&u));
    let unsorted = upd(ts(1, 0, 1), &[("y", None), ("x", None)]);
    node.handle_message(t(1), n(0), inv(&unsorted));
    assert_eq!(
        drain(&mut node),
        vec![
            send(0, vec![Message::ViewReq { epoch: E1 }]),
            send(0, vec![Message::ViewInfo { view: v1() }])
        ],
        "nothing applied or acknowledged; only the epoch mismatch is answered"
    );
    assert_eq!(node.inspect_key(b"x"), None);
}

#[test]
fn val_validates_only_keys_still_at_its_ts_and_wakes_parked_reads() {
    let mut node = ready_node(1);
    let u = upd(ts(1, 0, 1), &[("x", Some("1")), ("y", Some("1"))]);
    node.handle_message(t(1), n(0), inv(&u));
    node.handle_persisted(t(1), 2);
    let w = upd(ts(2, 2, 1), &[("y", Some("2"))]);
    node.handle_message(t(1), n(2), inv(&w));
    node.handle_persisted(t(1), 3);
    drain(&mut node);
    node.submit(t(2), RequestId(1), Op::Get { key: b("x") }, DEADLINE)
        .unwrap();
    assert_eq!(drain(&mut node), vec![], "x is Invalid: the read parks");
    node.handle_message(
        t(3),
        n(0),
        Message::Val {
            epoch: Epoch(0),
            ts: u.ts,
        },
    ); // any epoch
    assert_eq!(
        drain(&mut node),
        vec![
            reply(1, OpResult::Value(Some(b("1")))),
            Output::Persist { seq: 4, ops: vec![PersistOp::Validate { key: b("x"), ts: u.ts }, PersistOp::DropRecord(u.ts)] },
            send(0, vec![Message::ViewInfo { view: v1() }]),
            send(2, vec![ack(w.ts)]),
        ],
        "x validated, y stays at W; U no longer held, so W's ACK (withheld by G) goes out; n0 learns it is behind"
    );
    assert_eq!(
        node.inspect_key(b"y").map(|e| (e.ts, e.valid, e.value)),
        Some((w.ts, false, Some(b("2"))))
    );
}

#[test]
fn guardian_withholds_a_followers_ack_for_a_higher_overlapping_write() {
    let mut node = ready_node(1);
    let batch = upd(ts(1, 0, 1), &[("x", Some("b")), ("y", Some("b"))]);
    node.handle_message(t(1), n(0), inv(&batch));
    node.handle_persisted(t(1), 2);
    assert_eq!(
        drain(&mut node),
        vec![
            Output::Persist {
                seq: 2,
                ops: vec![
                    entry("x", batch.ts, false, Some("b")),
                    entry("y", batch.ts, false, Some("b")),
                    PersistOp::Record(batch.clone())
                ]
            },
            send(0, vec![ack(batch.ts)]),
        ]
    );
    let w = upd(ts(1, 2, 1), &[("x", Some("w"))]);
    node.handle_message(t(2), n(2), inv(&w));
    node.handle_persisted(t(2), 3);
    let out = drain(&mut node);
    assert_eq!(
        out,
        vec![Output::Persist {
            seq: 3,
            ops: vec![
                entry("x", w.ts, false, Some("w")),
                PersistOp::Record(w.clone())
            ]
        }]
    );
    assert_eq!(
        drain(&mut node),
        vec![],
        "ACK of W withheld while the batch is held"
    );
    // A single-key write that does not overlap the batch is not delayed.
    let z = upd(ts(1, 2, 1), &[("z", Some("z"))]);
    let z = upd(Ts { version: 3, ..z.ts }, &[("z", Some("z"))]);
    node.handle_message(t(3), n(2), inv(&z));
    node.handle_persisted(t(3), 4);
    let acks: Vec<_> = drain(&mut node)
        .into_iter()
        .filter(|o| matches!(o, Output::Send { .. }))
        .collect();
    assert_eq!(acks, vec![send(2, vec![ack(z.ts)])]);
    node.handle_message(t(4), n(0), val(batch.ts));
    let sends: Vec<_> = drain(&mut node)
        .into_iter()
        .filter(|o| matches!(o, Output::Send { .. }))
        .collect();
    assert_eq!(sends, vec![send(2, vec![ack(w.ts)])]);
}

#[test]
fn guardian_withholds_a_coordinators_commit() {
    // Node 2 coordinates W on x at (1,n2); a lower batch U{x,y} at (1,n1) arrives: x keeps W,
    // y adopts U, so node 2 holds U and must not commit W before U commits.
    let mut node = ready_node(2);
    node.submit(
        t(1),
        RequestId(1),
        Op::Put {
            key: b("x"),
            value: b("w"),
        },
        DEADLINE,
    )
    .unwrap();
    node.handle_persisted(t(1), 2);
    let w_ts = ts(1, 2, 1);
    let u = upd(ts(1, 1, 1), &[("x", Some("u")), ("y", Some("u"))]);
    node.handle_message(t(2), n(1), inv(&u));
    node.handle_persisted(t(2), 3);
    drain(&mut node);
    node.handle_message(t(3), n(0), ack(w_ts));
    node.handle_message(t(3), n(1), ack(w_ts));
    assert_eq!(
        drain(&mut node),
        vec![],
        "W has every ACK but G holds its commit"
    );
    node.handle_message(t(4), n(1), val(u.ts));
    let out = drain(&mut node);
    assert!(
        out.contains(&reply(1, OpResult::Written { ts: w_ts })),
        "{out:?}"
    );
    assert!(out.contains(&send(0, vec![val(w_ts)])));
}

#[test]
fn writes_wait_for_valid_keys_and_take_version_above_all_keys_and_the_last_issued() {
    let mut node = ready_node(0);
    let u = upd(ts(5, 1, 1), &[("x", Some("1"))]);
    node.handle_message(t(1), n(1), inv(&u));
    node.handle_persisted(t(1), 2);
    drain(&mut node);
    node.submit(
        t(2),
        RequestId(1),
        Op::Batch {
            writes: vec![
                Write {
                    key: b("x"),
                    value: None,
                },
                Write {
                    key: b("a"),
                    value: Some(b("a")),
                },
            ],
        },
        DEADLINE,
    )
    .unwrap();
    assert_eq!(
        drain(&mut node),
        vec![],
        "x is Invalid: the write is queued"
    );
    node.handle_message(t(3), n(1), val(u.ts));
    let started = upd(ts(6, 0, 1), &[("a", Some("a")), ("x", None)]);
    let out = drain(&mut node);
    assert!(
        out.contains(&send(1, vec![inv(&started)])),
        "version 1 + max(5) with sorted writes: {out:?}"
    );
    // F1: a write on a fresh key still gets a version above this writer's last one.
    node.submit(
        t(4),
        RequestId(2),
        Op::Put {
            key: b("fresh"),
            value: b("f"),
        },
        DEADLINE,
    )
    .unwrap();
    let fresh = upd(ts(7, 0, 1), &[("fresh", Some("f"))]);
    assert!(drain(&mut node).contains(&send(1, vec![inv(&fresh)])));
}

#[test]
fn deletes_are_tombstones_and_ranges_see_them() {
    let mut node = ready_node(1);
    let u = upd(
        ts(1, 0, 1),
        &[("a", Some("1")), ("b", None), ("c", Some("3"))],
    );
    node.handle_message(t(1), n(0), inv(&u));
    node.handle_persisted(t(1), 2);
    node.handle_message(t(1), n(0), val(u.ts));
    let pending = upd(ts(2, 2, 1), &[("bb", Some("new"))]);
    node.handle_message(t(1), n(2), inv(&pending));
    drain(&mut node);
    assert_eq!(
        node.inspect_key(b"b").map(|e| (e.ts, e.valid, e.value)),
        Some((u.ts, true, None))
    );
    let range = |lo: &str, hi: &str, limit| Op::Range {
        lo: b(lo),
        hi: b(hi),
        limit,
    };
    node.submit(t(2), RequestId(1), range("a", "bb", None), DEADLINE)
        .unwrap();
    node.submit(t(2), RequestId(2), range("a", "z", Some(1)), DEADLINE)
        .unwrap();
    node.submit(t(2), RequestId(3), range("a", "z", None), DEADLINE)
        .unwrap();
    assert_eq!(
        drain(&mut node),
        vec![
            reply(1, OpResult::Entries(vec![(b("a"), b("1"))])),
            reply(2, OpResult::Entries(vec![(b("a"), b("1"))])),
        ],
        "the full range parks on the pending insert bb"
    );
    node.handle_message(t(3), n(2), val(pending.ts));
    let out = drain(&mut node);
    assert_eq!(
        out[0],
        reply(
            3,
            OpResult::Entries(vec![
                (b("a"), b("1")),
                (b("bb"), b("new")),
                (b("c"), b("3"))
            ])
        )
    );
}

#[test]
fn deadlines_answer_unavailable_or_indeterminate() {
    let mut node = ready_node(0);
    node.submit(
        t(0),
        RequestId(1),
        Op::Put {
            key: b("x"),
            value: b("1"),
        },
        t(10),
    )
    .unwrap();
    let u = upd(ts(1, 1, 1), &[("y", Some("1"))]);
    node.handle_message(t(0), n(1), inv(&u));
    node.submit(t(0), RequestId(2), Op::Get { key: b("y") }, t(10))
        .unwrap();
    node.submit(t(0), RequestId(3), Op::Del { key: b("y") }, t(10))
        .unwrap();
    drain(&mut node);
    node.handle_timeout(t(10));
    let replies: Vec<_> = drain(&mut node)
        .into_iter()
        .filter(|o| matches!(o, Output::Reply { .. }))
        .collect();
    assert_eq!(
        replies,
        vec![
            reply(1, OpResult::Indeterminate),
            reply(2, OpResult::Unavailable(Unavailable::Timeout)),
            reply(3, OpResult::Unavailable(Unavailable::Timeout)),
        ]
    );
    assert_eq!(node.requests_in_flight(), 0);
}

#[test]
fn without_a_lease_writes_and_reads_wait_and_fail_cleanly_at_the_deadline() {
    let cfg = Config::new(n(0), vec![n(0), n(1)]);
    let mut node = Node::new(cfg, Recovered::default(), Instant::ZERO).unwrap();
    node.handle_timeout(t(0)); // lease requested; only its own grant arrives: 1 of 2 is no majority
    drain(&mut node);
    node.submit(
        t(0),
        RequestId(1),
        Op::Put {
            key: b("x"),
            value: b("1"),
        },
        t(50),
    )
    .unwrap();
    node.submit(t(0), RequestId(2), Op::Get { key: b("y") }, t(50))
        .unwrap();
    assert_eq!(drain(&mut node), vec![], "both wait for the lease");
    node.handle_message(
        t(20),
        n(1),
        Message::LeaseGrant {
            id: (0, 1),
            member: me_id(0),
        },
    );
    let out = drain(&mut node);
    assert!(out.contains(&Output::Event(Event::Ready)), "{out:?}");
    assert!(
        out.contains(&reply(2, OpResult::Value(None))),
        "the parked read is served once the lease holds: {out:?}"
    );
    assert!(!invs(out).is_empty(), "the queued write starts");
    let mut lonely = Node::new(
        Config::new(n(0), vec![n(0), n(1)]),
        Recovered::default(),
        Instant::ZERO,
    )
    .unwrap();
    lonely.handle_timeout(t(0));
    lonely
        .submit(
            t(0),
            RequestId(1),
            Op::Put {
                key: b("x"),
                value: b("1"),
            },
            t(50),
        )
        .unwrap();
    lonely
        .submit(t(0), RequestId(2), Op::Get { key: b("x") }, t(50))
        .unwrap();
    lonely.handle_timeout(t(50));
    let out = drain(&mut lonely);
    assert!(
        out.contains(&reply(1, OpResult::Unavailable(Unavailable::NoLease))),
        "{out:?}"
    );
    assert!(out.contains(&reply(2, OpResult::Unavailable(Unavailable::NoLease))));
    assert!(invs(out).is_empty(), "nothing was written anywhere");
}

/// A node that cannot start a request gives up on it after `unavailable_after_ms`, long before
/// its deadline: nothing was written, so the client may go elsewhere at once.
#[test]
fn requests_that_cannot_start_are_answered_unavailable_early() {
    let mut cfg = Config::new(n(0), vec![n(0), n(1)]);
    cfg.unavailable_after_ms = 300;
    let mut lonely = Node::new(cfg, Recovered::default(), Instant::ZERO).unwrap();
    lonely.handle_timeout(t(0));
    let put = Op::Put {
        key: b("x"),
        value: b("1"),
    };
    lonely.submit(t(0), RequestId(1), put, t(5_000)).unwrap();
    lonely
        .submit(t(0), RequestId(2), Op::Get { key: b("x") }, t(5_000))
        .unwrap();
    lonely
        .submit(t(0), RequestId(3), Op::Get { key: b("y") }, t(100))
        .unwrap();
    drain(&mut lonely);
    lonely.handle_timeout(t(100));
    let out = drain(&mut lonely);
    assert!(
        out.contains(&reply(3, OpResult::Unavailable(Unavailable::NoLease))),
        "a deadline before the bound still counts: {out:?}"
    );
    assert!(!out
        .iter()
        .any(|o| matches!(o, Output::Reply { id, .. } if id.0 != 3)));
    lonely.handle_timeout(t(299));
    assert!(!drain(&mut lonely)
        .iter()
        .any(|o| matches!(o, Output::Reply { .. })));
    lonely.handle_timeout(t(300));
    let out = drain(&mut lonely);
    for id in [1, 2] {
        assert!(
            out.contains(&reply(id, OpResult::Unavailable(Unavailable::NoLease))),
            "request {id}: {out:?}"
        );
    }
    assert!(invs(out).is_empty(), "nothing was written anywhere");
}

#[test]
fn bad_requests_and_overload_are_answered_at_once() {
    let mut cfg = Config::new(n(0), vec![n(0)]);
    cfg.max_requests = 1;
    cfg.max_value_bytes = 4;
    let mut node = Node::new(cfg, Recovered::default(), Instant::ZERO).unwrap();
    node.handle_timeout(t(0));
    drain(&mut node);
    node.submit(t(0), RequestId(1), Op::Batch { writes: vec![] }, DEADLINE)
        .unwrap();
    node.submit(
        t(0),
        RequestId(2),
        Op::Put {
            key: b("x"),
            value: b("too long"),
        },
        DEADLINE,
    )
    .unwrap();
    node.submit(
        t(0),
        RequestId(3),
        Op::Range {
            lo: b("z"),
            hi: b("a"),
            limit: None,
        },
        DEADLINE,
    )
    .unwrap();
    node.submit(
        t(0),
        RequestId(4),
        Op::Put {
            key: b("x"),
            value: b("ok"),
        },
        DEADLINE,
    )
    .unwrap();
    node.submit(t(0), RequestId(5), Op::Get { key: b("x") }, DEADLINE)
        .unwrap();
    assert_eq!(
        node.submit(t(0), RequestId(4), Op::Get { key: b("x") }, DEADLINE),
        Err(SubmitError::DuplicateRequestId(RequestId(4)))
    );
    let replies: Vec<_> = drain(&mut node)
        .into_iter()
        .filter(|o| matches!(o, Output::Reply { .. }))
        .collect();
    assert_eq!(
        replies,
        vec![
            reply(1, OpResult::Unavailable(Unavailable::BadRequest)),
            reply(2, OpResult::Unavailable(Unavailable::TooLarge)),
            reply(3, OpResult::Unavailable(Unavailable::BadRequest)),
            reply(5, OpResult::Unavailable(Unavailable::Overloaded)),
        ]
    );
}

#[test]
fn coordinator_retransmits_only_to_silent_members() {
    let mut node = ready_node(0);
    node.submit(
        t(0),
        RequestId(1),
        Op::Put {
            key: b("x"),
            value: b("1"),
        },
        DEADLINE,
    )
    .unwrap();
    let u = upd(ts(1, 0, 1), &[("x", Some("1"))]);
    node.handle_message(t(10), n(1), ack(u.ts));
    drain(&mut node);
    node.handle_timeout(t(50));
    assert_eq!(invs(drain(&mut node)), vec![send(2, vec![inv(&u)])]);
}

#[test]
fn a_stuck_key_is_replayed_with_the_full_record_and_same_ts() {
    let mut node = ready_node(1);
    let u = upd(ts(1, 0, 1), &[("x", Some("1")), ("y", Some("1"))]);
    node.handle_message(t(0), n(0), inv(&u));
    node.handle_persisted(t(0), 2);
    drain(&mut node);
    node.handle_timeout(t(499));
    assert_eq!(invs(drain(&mut node)), vec![]);
    node.handle_timeout(t(751)); // stuck_ms + the largest jitter
    assert_eq!(
        invs(drain(&mut node)),
        vec![send(0, vec![inv(&u)]), send(2, vec![inv(&u)])]
    );
    // The replayer commits once every member (the original coordinator included) ACKs.
    node.handle_message(t(760), n(0), ack(u.ts));
    node.handle_message(t(760), n(2), ack(u.ts));
    let out = drain(&mut node);
    assert!(
        out.contains(&send(0, vec![val(u.ts)]))
            && out.contains(&Output::Event(Event::Committed(u.ts))),
        "{out:?}"
    );
    assert_eq!(
        node.inspect_key(b"y").map(|e| (e.ts, e.valid, e.value)),
        Some((u.ts, true, Some(b("1"))))
    );
}

#[test]
fn recovery_replays_own_pending_updates_at_once() {
    let u = upd(ts(3, 0, 1), &[("x", Some("1"))]);
    let recovered = Recovered {
        boot: BootInc(2),
        view: Some(v1()),
        identity: Some(Identity {
            adm: 1,
            transfer_done: true,
        }),
        entries: vec![(
            b("x"),
            StoredEntry {
                ts: u.ts,
                valid: false,
                value: Some(b("1")),
            },
        )],
        records: vec![u.clone()],
        ..Default::default()
    };
    let mut node = Node::new(
        Config::new(n(0), vec![n(0), n(1), n(2)]),
        recovered,
        Instant::ZERO,
    )
    .unwrap();
    let ask = Message::ViewReq { epoch: E1 };
    assert_eq!(
        drain(&mut node),
        vec![
            send(1, vec![inv(&u), ask.clone()]),
            send(2, vec![inv(&u), ask])
        ]
    );
    // A new write from the new boot gets a Ts of the new incarnation above the old version.
    node.handle_timeout(t(1));
    node.handle_message(
        t(1),
        n(1),
        Message::LeaseGrant {
            id: (2, 1),
            member: me_id(0),
        },
    );
    assert!(node.is_ready());
    node.submit(
        t(1),
        RequestId(1),
        Op::Put {
            key: b("y"),
            value: b("2"),
        },
        DEADLINE,
    )
    .unwrap();
    assert!(drain(&mut node).contains(&send(1, vec![inv(&upd(ts(1, 0, 2), &[("y", Some("2"))]))])));
}

#[test]
fn a_late_duplicate_inv_after_val_creates_no_hold() {
    let mut node = ready_node(1);
    let batch = upd(ts(1, 0, 1), &[("x", Some("b")), ("y", Some("b"))]);
    node.handle_message(t(0), n(0), inv(&batch));
    node.handle_persisted(t(0), 2);
    node.handle_message(t(0), n(0), val(batch.ts));
    node.handle_message(t(1), n(0), inv(&batch)); // late duplicate (F2)
    drain(&mut node);
    let w = upd(ts(2, 2, 1), &[("x", Some("w"))]);
    node.handle_message(t(2), n(2), inv(&w));
    node.handle_persisted(t(2), 4);
    let sends: Vec<_> = drain(&mut node)
        .into_iter()
        .filter(|o| matches!(o, Output::Send { .. }))
        .collect();
    assert_eq!(
        sends,
        vec![send(0, vec![ack(batch.ts)]), send(2, vec![ack(w.ts)])],
        "the duplicate is ACKed; W is not held back"
    );
}

#[test]
fn the_engine_self_check_fails_on_broken_state() {
    let mut node = ready_node(1);
    assert_eq!(node.check_invariants(), Ok(()));
    let u = upd(ts(1, 0, 1), &[("x", Some("1")), ("y", Some("1"))]);
    node.handle_message(t(1), n(0), inv(&u));
    assert_eq!(node.check_invariants(), Ok(()));
    // An Invalid key whose record is gone could only ever be replayed in part.
    let rec = node.replica.records.remove(&u.ts).expect("record");
    assert!(node
        .check_invariants()
        .unwrap_err()
        .contains("without its update record"));
    node.replica.records.insert(u.ts, rec);
    node.replica.multi_records.remove(&u);
    assert!(node
        .check_invariants()
        .unwrap_err()
        .contains("multi-key index"));
    // Filed under its timestamp but under other keys: the key index disagrees.
    let other = upd(u.ts, &[("p", Some("1")), ("q", Some("1"))]);
    node.replica.multi_records.insert(&other);
    assert!(node
        .check_invariants()
        .unwrap_err()
        .contains("multi-key index's keys"));
    node.replica.multi_records.remove(&other);
    node.replica.multi_records.insert(&u);
    node.persists.corrupt_for_test();
    assert!(node
        .check_invariants()
        .unwrap_err()
        .contains("persists were emitted"));
}

#[test]
fn the_self_check_fails_on_a_broken_key_order_timer_table_or_wait_queue() {
    let mut node = ready_node(1);
    let e = Entry {
        ts: ts(1, 0, 1),
        valid: true,
        value: None,
        committed_in: None,
    };
    node.replica.store.index_only_for_test(b("k"), e);
    assert!(node.check_invariants().unwrap_err().contains("key store"));

    let mut node = ready_node(1);
    node.timers.set(t(5), Timer::Stuck(ts(9, 0, 1)));
    assert!(node.check_invariants().unwrap_err().contains("outlived"));

    let mut node = ready_node(1);
    let bound = node.requests.queue_bound();
    node.requests
        .flood_lease_queue_for_test(RequestId(7), bound + 1);
    assert!(node.check_invariants().unwrap_err().contains("wait queues"));
}

// ----- read-modify-write (protocol.md §11) --------------------------------------------------

/// An RMW update on `base` by `by` (rank `rank`), writing `value` to `key`.
fn rmw_upd(base: Ts, rank: u32, by: u32, key: &str, value: &str) -> UpdateRef {
    let by = crate::timestamp::WriterId {
        node: n(by),
        boot: BootInc((1 << 32) | 1),
    };
    Arc::new(Update {
        ts: Ts::rmw_on(base, rank, by, 9).unwrap(),
        writes: vec![Write {
            key: b(key),
            value: Some(b(value)),
        }],
        base: Some(base),
    })
}

/// Node 1 with `x` committed at `base` (value "0").
fn follower_with_x_at(base: Ts) -> Node {
    let mut node = ready_node(1);
    node.handle_message(t(1), n(0), inv(&upd(base, &[("x", Some("0"))])));
    node.handle_message(t(1), n(0), val(base));
    node.handle_persisted(t(1), 3);
    drain(&mut node);
    node
}

/// An increment of `x` by one.
fn incr_x() -> Op {
    Op::Rmw {
        key: b("x"),
        change: crate::client::Change::IncrBy(1),
    }
}

fn nack(t: Ts) -> Message {
    Message::Nack { epoch: E1, ts: t }
}

#[test]
fn an_rmw_starts_only_once_its_own_record_is_durable_r2() {
    let mut node = ready_node(0);
    let incr = incr_x();
    node.submit(t(1), RequestId(7), incr, DEADLINE).unwrap();
    let out = drain(&mut node);
    assert!(
        matches!(&out[..], [Output::Persist { seq: 2, .. }]),
        "persist first, no INV yet: {out:?}"
    );
    node.handle_persisted(t(2), 2);
    let out = drain(&mut node);
    let [Output::Send { to: a, msgs: ma }, Output::Send { to: c, msgs: mc }] = &out[..] else {
        panic!("the INV leaves once durable: {out:?}");
    };
    assert_eq!((*a, *c), (n(1), n(2)));
    assert!(
        ma == mc
            && matches!(&ma[..], [Message::Inv { update, .. }] if update.base == Some(Ts::ZERO))
    );
}

#[test]
fn the_receiver_table_acks_at_or_below_the_base_and_nacks_above_it() {
    let base = ts(1, 0, 1);
    // At the base: adopted and ACKed once durable.
    let mut node = follower_with_x_at(base);
    let r = rmw_upd(base, 5, 2, "x", "1");
    node.handle_message(t(2), n(2), inv(&r));
    node.handle_persisted(t(3), 4);
    assert_eq!(
        invs_and_acks(drain(&mut node)),
        vec![send(2, vec![ack(r.ts)])]
    );
    // Above the base and committed here (a later write): refused, once durable.
    let mut node = follower_with_x_at(base);
    let later = upd(ts(2, 0, 1), &[("x", Some("w"))]);
    node.handle_message(t(2), n(0), inv(&later));
    node.handle_message(t(2), n(0), val(later.ts));
    node.handle_message(t(3), n(2), inv(&r));
    assert_eq!(
        invs_and_acks(drain(&mut node)),
        vec![],
        "NACK waits for durability"
    );
    node.handle_persisted(t(4), 5);
    let out = invs_and_acks(drain(&mut node));
    assert!(out.contains(&send(2, vec![nack(r.ts)])), "{out:?}");
    assert_eq!(
        node.inspect_key(b"x").map(|e| e.ts),
        Some(later.ts),
        "not adopted"
    );
}

#[test]
fn a_higher_rmw_supersedes_a_lower_one_the_node_drives_and_the_driver_stops_r3() {
    let mut node = ready_node(0);
    let incr = incr_x();
    node.submit(t(1), RequestId(7), incr, DEADLINE).unwrap();
    node.handle_persisted(t(1), 2);
    drain(&mut node);
    let mine = node.inspect_key(b"x").unwrap().ts;
    // A competitor on the same base, ranked above ours.
    let rank = mine.step.unwrap().rank.saturating_add(1);
    let theirs = rmw_upd(Ts::ZERO, rank, 2, "x", "5");
    assert!(theirs.ts > mine);
    node.handle_message(t(2), n(2), inv(&theirs));
    node.handle_persisted(t(3), 3);
    let out = drain(&mut node);
    assert!(invs_and_acks(out).contains(&send(2, vec![ack(theirs.ts)])));
    assert_eq!(node.inspect_key(b"x").map(|e| e.ts), Some(theirs.ts));
    // Our RMW is no longer driven: ACKs for it commit nothing.
    node.handle_message(t(4), n(1), ack(mine));
    node.handle_message(t(4), n(2), ack(mine));
    assert!(!drain(&mut node)
        .iter()
        .any(|o| matches!(o, Output::Event(Event::Committed(_)))));
    // Once the winner commits in this epoch, our increment had no effect: it runs again on "5".
    node.handle_message(t(5), n(2), val(theirs.ts));
    let out = drain(&mut node);
    assert!(
        out.contains(&Output::Event(Event::RmwRetried(mine))),
        "{out:?}"
    );
    assert_eq!(node.inspect_key(b"x").map(|e| e.value), Some(Some(b("6"))));
}

/// The INV, ACK and NACK messages among `outputs`, one `Send` per peer.
fn invs_and_acks(outputs: Vec<Output>) -> Vec<Output> {
    outputs
        .into_iter()
        .filter_map(|o| match o {
            Output::Send { to, msgs } => {
                let msgs: Vec<_> = msgs
                    .into_iter()
                    .filter(|m| {
                        matches!(
                            m,
                            Message::Inv { .. } | Message::Ack { .. } | Message::Nack { .. }
                        )
                    })
                    .collect();
                (!msgs.is_empty()).then_some(Output::Send { to, msgs })
            }
            _ => None,
        })
        .collect()
}
