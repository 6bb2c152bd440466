//! Output tests for membership: Paxos acceptor rules with lease promises, the restart wait,
//! lease grants, view installation (ACK reset, re-broadcast, orphan replay), identity changes,
//! joins and state transfer (protocol.md §7–§8).
//!
//! Unlike `tests.rs`, most of these compare only the protocol messages a step sends
//! ([`sends`]): heartbeat traffic (`Ping`, `LeaseReq`, `ViewReq`) rides along on whatever timer
//! a test fires, and its exact timing is `tests.rs`'s subject, not membership's. Persists and
//! events are asserted where the rule is about them (a `Wipe`, an identity, `NotReady`).

use super::test_support::*;
use super::*;
use crate::message::Ballot;
use crate::storage::{AcceptorRecord, Identity, StoredEntry};
use crate::update::{Update, Write};
use crate::view::{Member, MemberId, Role};
use std::sync::Arc;

fn id(node: u32, adm: u64) -> MemberId {
    MemberId { node: n(node), adm }
}
fn view(epoch: u64, members: &[(u32, u64, Role)]) -> View {
    View {
        epoch: Epoch(epoch),
        members: members
            .iter()
            .map(|&(node, adm, role)| Member {
                id: id(node, adm),
                role,
            })
            .collect(),
    }
}
/// v1 without node 2.
fn v2_without_2() -> View {
    view(2, &[(0, 1, Role::Active), (1, 1, Role::Active)])
}
fn ballot(round: u64, node: u32) -> Ballot {
    Ballot {
        round,
        node: n(node),
    }
}
/// The messages among `outputs`, heartbeat traffic (`Ping`, `LeaseReq`, `ViewReq`) left out.
fn sends(outputs: Vec<Output>) -> Vec<(NodeId, Message)> {
    outputs
        .into_iter()
        .filter_map(|o| match o {
            Output::Send { to, msgs } => Some(msgs.into_iter().map(move |m| (to, m))),
            _ => None,
        })
        .flatten()
        .filter(|(_, m)| {
            !matches!(
                m,
                Message::Ping { .. } | Message::LeaseReq { .. } | Message::ViewReq { .. }
            )
        })
        .collect()
}
fn fresh(me: u32) -> Node {
    let mut node = Node::new(
        Config::new(n(me), vec![n(0), n(1), n(2)]),
        Recovered {
            boot: BootInc(1),
            ..Default::default()
        },
        t(0),
    )
    .unwrap();
    node.handle_persisted(t(0), 1);
    drain(&mut node);
    node
}

#[test]
fn an_acceptor_delays_accepting_a_removal_until_its_lease_promise_expires() {
    let mut acc = fresh(1);
    acc.handle_timeout(t(1_100)); // past the restart wait (W = 1050 ms)
    acc.handle_message(
        t(1_100),
        n(2),
        Message::LeaseReq {
            id: (1, 1),
            member: id(2, 1),
        },
    );
    assert_eq!(
        sends(drain(&mut acc)),
        vec![(
            n(2),
            Message::LeaseGrant {
                id: (1, 1),
                member: id(2, 1)
            }
        )]
    );
    // Phase 1 is unaffected by promises.
    acc.handle_message(
        t(1_200),
        n(0),
        Message::Prepare {
            base: v1(),
            ballot: ballot(1, 0),
        },
    );
    acc.handle_persisted(t(1_200), 2);
    let promise = Message::Promise {
        instance: Epoch(2),
        ballot: ballot(1, 0),
        accepted: None,
    };
    assert_eq!(sends(drain(&mut acc)), vec![(n(0), promise)]);
    // Phase 2 removing n2 waits until 1100 + 1050 = 2150 ms; meanwhile n2 gets no more grants.
    acc.handle_message(
        t(1_300),
        n(0),
        Message::Accept {
            base: v1(),
            ballot: ballot(1, 0),
            view: v2_without_2(),
        },
    );
    acc.handle_message(
        t(1_300),
        n(2),
        Message::LeaseReq {
            id: (1, 2),
            member: id(2, 1),
        },
    );
    assert_eq!(
        sends(drain(&mut acc)),
        vec![],
        "no Accepted yet, no grant to the identity being removed"
    );
    acc.handle_timeout(t(2_149));
    assert_eq!(sends(drain(&mut acc)), vec![]);
    acc.handle_timeout(t(2_150));
    let out = drain(&mut acc);
    let record = AcceptorRecord {
        instance: Epoch(2),
        promised: ballot(1, 0),
        accepted: Some((ballot(1, 0), v2_without_2())),
    };
    assert!(
        out.contains(&Output::Persist {
            seq: 3,
            ops: vec![PersistOp::Acceptor(record)]
        }),
        "{out:?}"
    );
    assert_eq!(sends(out), vec![], "P4: the reply waits for the persist");
    acc.handle_persisted(t(2_151), 3);
    assert_eq!(
        sends(drain(&mut acc)),
        vec![(
            n(0),
            Message::Accepted {
                instance: Epoch(2),
                ballot: ballot(1, 0)
            }
        )]
    );
}

#[test]
fn a_delayed_removal_overtaken_by_a_higher_ballot_no_longer_blocks_grants() {
    // Found by the `cluster` fuzz target: the proposer of a removal gave up (a higher Prepare
    // came, the suspect was alive after all) while acceptors held its Accept delayed; nothing
    // was accepted, so nobody finished the instance, and the suspect never got a grant again.
    let mut acc = fresh(1);
    acc.handle_timeout(t(1_100)); // past the restart wait (W = 1050 ms)
    let lease_req = |seq| Message::LeaseReq {
        id: (1, seq),
        member: id(2, 1),
    };
    let grant = |seq| {
        (
            n(2),
            Message::LeaseGrant {
                id: (1, seq),
                member: id(2, 1),
            },
        )
    };
    acc.handle_message(t(1_100), n(2), lease_req(1));
    assert_eq!(sends(drain(&mut acc)), vec![grant(1)]);
    let prepare = |round| Message::Prepare {
        base: v1(),
        ballot: ballot(round, 0),
    };
    acc.handle_message(t(1_200), n(0), prepare(1));
    acc.handle_persisted(t(1_200), 2);
    drain(&mut acc);
    acc.handle_message(
        t(1_300),
        n(0),
        Message::Accept {
            base: v1(),
            ballot: ballot(1, 0),
            view: v2_without_2(),
        },
    );
    acc.handle_message(t(1_300), n(2), lease_req(2));
    assert_eq!(
        sends(drain(&mut acc)),
        vec![],
        "the removal is delayed: no grant"
    );
    // A higher ballot: the delayed Accept can never be accepted here.
    acc.handle_message(t(1_400), n(0), prepare(2));
    acc.handle_persisted(t(1_400), 3);
    drain(&mut acc);
    acc.handle_message(t(1_500), n(2), lease_req(3));
    assert_eq!(sends(drain(&mut acc)), vec![grant(3)]);
    // A new Accept of that ballot removing n2 stops the grants again.
    acc.handle_message(
        t(1_600),
        n(0),
        Message::Accept {
            base: v1(),
            ballot: ballot(2, 0),
            view: v2_without_2(),
        },
    );
    acc.handle_message(t(1_600), n(2), lease_req(4));
    assert_eq!(sends(drain(&mut acc)), vec![]);
}

#[test]
fn a_restarted_acceptor_accepts_no_removal_for_w_and_lower_ballots_are_rejected() {
    let mut acc = fresh(1);
    acc.handle_message(
        t(10),
        n(0),
        Message::Accept {
            base: v1(),
            ballot: ballot(1, 0),
            view: v2_without_2(),
        },
    );
    assert_eq!(
        sends(drain(&mut acc)),
        vec![],
        "W = 1050 ms after its start, whatever it granted before"
    );
    acc.handle_message(
        t(20),
        n(2),
        Message::Prepare {
            base: v1(),
            ballot: ballot(2, 2),
        },
    );
    acc.handle_persisted(t(20), 2);
    drain(&mut acc);
    acc.handle_timeout(t(1_050));
    assert_eq!(
        sends(drain(&mut acc)),
        vec![(
            n(0),
            Message::Reject {
                instance: Epoch(2),
                promised: ballot(2, 2)
            }
        )],
        "by then it promised a higher ballot"
    );
    // Views that only add or promote members need no wait.
    let grow = view(
        2,
        &[
            (0, 1, Role::Active),
            (1, 1, Role::Active),
            (2, 1, Role::Active),
            (3, 2, Role::Joining),
        ],
    );
    acc.handle_message(
        t(1_060),
        n(2),
        Message::Accept {
            base: v1(),
            ballot: ballot(2, 2),
            view: grow,
        },
    );
    acc.handle_persisted(t(1_060), 3);
    assert_eq!(
        sends(drain(&mut acc)),
        vec![(
            n(2),
            Message::Accepted {
                instance: Epoch(2),
                ballot: ballot(2, 2)
            }
        )]
    );
}

#[test]
fn a_proposer_adopts_the_highest_accepted_value_and_announces_the_decision() {
    let mut p = fresh(0);
    p.handle_timeout(t(0));
    drain(&mut p);
    // Nodes 1 and 2 fall silent: at the first heartbeat after T_fd, node 0 proposes removing both
    // — but it hears from no majority of acceptors, so it proposes nothing.
    p.handle_timeout(t(600));
    assert!(!sends(drain(&mut p))
        .iter()
        .any(|(_, m)| matches!(m, Message::Prepare { .. })));
    // Node 1 speaks again: now it hears a majority and proposes removing node 2.
    p.handle_message(t(650), n(1), Message::Ping { epoch: E1 });
    p.handle_timeout(t(700));
    let prepares: Vec<_> = sends(drain(&mut p))
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Prepare { .. }))
        .collect();
    assert_eq!(
        prepares.len(),
        2,
        "to both other acceptors (its own promise stays local)"
    );
    let b = ballot(1, 0);
    // Node 1 had accepted another value for epoch 2 in an earlier ballot: Paxos adopts it.
    let other = view(
        2,
        &[
            (0, 1, Role::Active),
            (1, 1, Role::Active),
            (2, 1, Role::Joining),
        ],
    );
    p.handle_persisted(t(700), p.persists.last_emitted());
    p.handle_message(
        t(701),
        n(1),
        Message::Promise {
            instance: Epoch(2),
            ballot: b,
            accepted: Some((ballot(0, 1), other.clone())),
        },
    );
    let accepts: Vec<_> = sends(drain(&mut p))
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Accept { .. }))
        .collect();
    assert_eq!(
        accepts,
        vec![
            (
                n(1),
                Message::Accept {
                    base: v1(),
                    ballot: b,
                    view: other.clone()
                }
            ),
            (
                n(2),
                Message::Accept {
                    base: v1(),
                    ballot: b,
                    view: other.clone()
                }
            )
        ]
    );
    // It accepts itself once its promise to the demoted node 2 has passed (W after its grant at 0).
    p.handle_timeout(t(1_050));
    p.handle_persisted(t(1_050), p.persists.last_emitted());
    p.handle_message(
        t(1_051),
        n(1),
        Message::Accepted {
            instance: Epoch(2),
            ballot: b,
        },
    );
    let out = drain(&mut p);
    assert!(
        out.contains(&Output::Event(Event::View(other.clone()))),
        "{out:?}"
    );
    let decided: Vec<_> = sends(out)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Decided { .. }))
        .collect();
    assert_eq!(
        decided,
        vec![
            (
                n(1),
                Message::Decided {
                    view: other.clone()
                }
            ),
            (n(2), Message::Decided { view: other })
        ]
    );
}

#[test]
fn a_new_view_resets_acks_rebroadcasts_and_replays_orphans() {
    let mut node = fresh(0);
    node.handle_timeout(t(0));
    node.handle_message(
        t(0),
        n(1),
        Message::LeaseGrant {
            id: (1, 1),
            member: id(0, 1),
        },
    );
    assert!(node.is_ready());
    node.submit(
        t(1),
        RequestId(1),
        Op::Put {
            key: b"x"[..].into(),
            value: b"1"[..].into(),
        },
        DEADLINE,
    )
    .unwrap();
    let mine = Ts::new(1, n(0), BootInc((1 << 32) | 1));
    node.handle_message(
        t(2),
        n(1),
        Message::Ack {
            epoch: E1,
            ts: mine,
        },
    );
    // An update coordinated by node 2, pending here.
    let orphan = Arc::new(Update {
        ts: Ts::new(5, n(2), BootInc(1 << 32 | 1)),
        writes: vec![Write {
            key: b"y"[..].into(),
            value: None,
        }],
        base: None,
    });
    node.handle_message(
        t(3),
        n(2),
        Message::Inv {
            epoch: E1,
            update: orphan.clone(),
        },
    );
    drain(&mut node);
    node.handle_message(
        t(4),
        n(1),
        Message::Decided {
            view: v2_without_2(),
        },
    );
    let out = drain(&mut node);
    assert!(out.contains(&Output::Event(Event::View(v2_without_2()))));
    let invs: Vec<_> = sends(out)
        .into_iter()
        .filter(|(_, m)| matches!(m, Message::Inv { .. }))
        .collect();
    assert_eq!(
        invs.len(),
        2,
        "its own update and the orphan, both to node 1 only: {invs:?}"
    );
    assert!(invs
        .iter()
        .all(|(to, m)| *to == n(1) && m.epoch_of_inv() == Some(Epoch(2))));
    // Node 1's ACK from epoch 1 no longer counts: the update commits only on a new ACK.
    node.handle_persisted(t(5), node.persists.last_emitted());
    assert!(!drain(&mut node)
        .iter()
        .any(|o| matches!(o, Output::Reply { .. })));
    node.handle_message(
        t(6),
        n(1),
        Message::Ack {
            epoch: Epoch(2),
            ts: mine,
        },
    );
    assert!(drain(&mut node).iter().any(|o| matches!(
        o,
        Output::Reply {
            id: RequestId(1),
            ..
        }
    )));
}

#[test]
fn a_removed_node_stops_serving_then_rejoins_under_a_new_identity_and_catches_up() {
    let mut node = fresh(2);
    node.handle_timeout(t(0));
    node.handle_message(
        t(0),
        n(1),
        Message::LeaseGrant {
            id: (1, 1),
            member: id(2, 1),
        },
    );
    node.handle_message(
        t(0),
        n(0),
        Message::Inv {
            epoch: E1,
            update: Arc::new(Update {
                ts: Ts::new(1, n(0), BootInc(1)),
                writes: vec![Write {
                    key: b"stale"[..].into(),
                    value: None,
                }],
                base: None,
            }),
        },
    );
    assert!(node.is_ready());
    drain(&mut node);
    node.handle_message(
        t(10),
        n(0),
        Message::Decided {
            view: v2_without_2(),
        },
    );
    let out = drain(&mut node);
    assert!(out.contains(&Output::Event(Event::NotReady)) && !node.is_ready());
    assert_eq!(node.identity(), None);
    node.submit(
        t(11),
        RequestId(1),
        Op::Get {
            key: b"k"[..].into(),
        },
        t(20),
    )
    .unwrap();
    node.handle_timeout(t(20));
    assert!(drain(&mut node).contains(&Output::Reply {
        id: RequestId(1),
        result: crate::client::OpResult::Unavailable(crate::client::Unavailable::NotMember)
    }));
    node.handle_timeout(t(600));
    assert!(sends(drain(&mut node)).contains(&(
        n(0),
        Message::JoinReq {
            node: n(2),
            epoch: Epoch(2)
        }
    )));
    // Admitted as Joining at epoch 3: pre-join state is wiped and the transfer starts.
    let v3 = view(
        3,
        &[
            (0, 1, Role::Active),
            (1, 1, Role::Active),
            (2, 3, Role::Joining),
        ],
    );
    node.handle_message(t(700), n(0), Message::Decided { view: v3.clone() });
    let out = drain(&mut node);
    assert!(out.iter().any(|o| o
        .persist_ops()
        .is_some_and(|ops| ops.contains(&PersistOp::Wipe))));
    assert_eq!(
        node.identity(),
        Some(Identity {
            adm: 3,
            transfer_done: false
        })
    );
    assert_eq!(node.inspect_key(b"stale"), None);
    assert_eq!(
        sends(out),
        vec![(
            n(0),
            Message::SnapReq {
                epoch: Epoch(3),
                from: None
            }
        )]
    );
    let entry = StoredEntry {
        ts: Ts::new(4, n(1), BootInc(1)),
        valid: true,
        value: Some(b"v"[..].into()),
    };
    node.handle_message(
        t(701),
        n(0),
        Message::SnapChunk {
            epoch: Epoch(3),
            from: None,
            entries: vec![(b"k"[..].into(), entry)],
            records: vec![],
            next: None,
        },
    );
    assert_eq!(
        node.identity(),
        Some(Identity {
            adm: 3,
            transfer_done: true
        })
    );
    drain(&mut node);
    // Promotion waits until the chunk's entries and "transfer done" are durable (§8.2 step 5).
    node.handle_timeout(t(1_200));
    let promote = (n(0), Message::PromoteReq { member: id(2, 3) });
    assert!(!sends(drain(&mut node)).contains(&promote));
    node.handle_persisted(t(1_201), node.persists.last_emitted());
    drain(&mut node);
    node.handle_timeout(t(1_300));
    assert!(sends(drain(&mut node)).contains(&promote));
    // Promoted: with a lease it serves what the donor sent.
    let v4 = view(
        4,
        &[
            (0, 1, Role::Active),
            (1, 1, Role::Active),
            (2, 3, Role::Active),
        ],
    );
    node.handle_message(t(1_310), n(0), Message::Decided { view: v4 });
    node.handle_timeout(t(1_400));
    node.handle_message(
        t(1_400),
        n(0),
        Message::LeaseGrant {
            id: (1, 2),
            member: id(2, 3),
        },
    );
    node.handle_message(
        t(1_400),
        n(0),
        Message::LeaseGrant {
            id: (1, 3),
            member: id(2, 3),
        },
    );
    node.handle_message(t(1_400), n(1), Message::Ping { epoch: Epoch(4) });
    assert!(node.is_ready(), "{:?}", node.lease_expiry());
    node.submit(
        t(1_401),
        RequestId(2),
        Op::Get {
            key: b"k"[..].into(),
        },
        DEADLINE,
    )
    .unwrap();
    assert!(drain(&mut node).contains(&Output::Reply {
        id: RequestId(2),
        result: crate::client::OpResult::Value(Some(b"v"[..].into()))
    }));
}

#[test]
fn a_node_that_lost_its_disk_neither_votes_nor_grants_until_readmitted() {
    let recovered = Recovered {
        boot: BootInc(1),
        join: true,
        ..Default::default()
    };
    let mut node = Node::new(Config::new(n(1), vec![n(0), n(1), n(2)]), recovered, t(0)).unwrap();
    drain(&mut node);
    assert_eq!(node.identity(), Some(Identity::AMNESIAC));
    node.handle_message(
        t(1),
        n(0),
        Message::Prepare {
            base: v1(),
            ballot: ballot(1, 0),
        },
    );
    node.handle_message(
        t(1),
        n(0),
        Message::LeaseReq {
            id: (1, 1),
            member: id(0, 1),
        },
    );
    assert_eq!(
        sends(drain(&mut node)),
        vec![],
        "it may have voted before and forgotten"
    );
    node.handle_timeout(t(1));
    assert!(sends(drain(&mut node)).contains(&(
        n(0),
        Message::JoinReq {
            node: n(1),
            epoch: E1
        }
    )));
}

impl Message {
    fn epoch_of_inv(&self) -> Option<Epoch> {
        match self {
            Message::Inv { epoch, .. } => Some(*epoch),
            _ => None,
        }
    }
}

#[test]
fn a_node_still_listed_under_an_identity_it_lost_does_not_acknowledge() {
    // Found by the simulator (seed 95): a node that lost its disk, still listed under its old
    // identity, ACKed a write it then could not remember, letting it commit past the guardian.
    let recovered = Recovered {
        boot: BootInc(1),
        join: true,
        view: Some(v1()),
        ..Default::default()
    };
    let mut node = Node::new(Config::new(n(1), vec![n(0), n(1), n(2)]), recovered, t(0)).unwrap();
    node.handle_persisted(t(0), 1);
    drain(&mut node);
    let u = Arc::new(Update {
        ts: Ts::new(1, n(0), BootInc(1)),
        writes: vec![Write {
            key: b"x"[..].into(),
            value: None,
        }],
        base: None,
    });
    node.handle_message(
        t(1),
        n(0),
        Message::Inv {
            epoch: E1,
            update: u,
        },
    );
    assert_eq!(sends(drain(&mut node)), vec![]);
    assert_eq!(node.inspect_key(b"x"), None);
}
