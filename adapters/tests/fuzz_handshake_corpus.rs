//! Replays the checked-in `handshake` fuzz corpus (`fuzz/corpus/handshake/`) and every past
//! crash (`fuzz/regressions/handshake/`) through the same checks as the cargo-fuzz target, as an
//! ordinary `cargo test` on the stable toolchain; and shows that the checks catch a bad
//! `Established`.
//!
//! `cargo test -p level2pc-adapters --test fuzz_handshake_corpus -- --ignored write_seed_corpus`
//! regenerates the hand-made seeds (`seed-*`).

use level2pc_adapters::internals::fuzz_handshake as handshake_check;
use level2pc_sim::fuzz::replay;

use handshake_check::{check_established, sample_directory, Side, ACCEPTOR_ID, CLUSTER, DIALER_ID};
use level2pc::codec::{encode_frame, FrameKind, PROTOCOL_VERSION};
use level2pc::NodeId;
use level2pc_adapters::internals::{
    Directory, HandshakeMsg, Step, MAX_HANDSHAKE_FRAME_BYTES, NONCE_BYTES,
};
use level2pc_adapters::PeerAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

#[test]
fn handshake_corpus_and_regressions_replay() {
    replay::replay(
        env!("CARGO_MANIFEST_DIR"),
        "handshake",
        handshake_check::handshake,
    );
}

fn established(peer: u32, directory: Option<Directory>, send: Option<HandshakeMsg>) -> Step {
    Step::Established {
        send,
        peer: NodeId(peer),
        peer_addr: Some("h:1".into()),
        directory,
    }
}

fn accept() -> Option<HandshakeMsg> {
    Some(HandshakeMsg::Accept {
        advertise: None,
        directory: sample_directory(),
    })
}

/// Runs `check` quietly; whether it panicked.
fn panics(check: impl FnOnce()) -> bool {
    catch_unwind(AssertUnwindSafe(check)).is_err()
}

/// The property checker would catch a state machine that established wrongly: fabricated bad
/// `Established` steps fail it, the good ones pass.
#[test]
fn check_established_catches_bad_steps() {
    let dialer = Side::Dialer {
        expected: Some(ACCEPTOR_ID),
    };
    let anyone = Side::Dialer { expected: None };
    let me = DIALER_ID;
    let good = established(1, Some(sample_directory()), None);
    // Good steps pass.
    check_established(dialer, me, Some(ACCEPTOR_ID), &good);
    check_established(
        Side::Acceptor,
        ACCEPTOR_ID,
        Some(me),
        &established(0, None, accept()),
    );

    let mut dup = sample_directory();
    dup.peers.push(PeerAddr {
        id: NodeId(1),
        addr: "x:1".into(),
    });
    let bad: Vec<(&str, Side, NodeId, Option<NodeId>, Step)> = vec![
        // Its own id as the peer (and the exchange named it too).
        (
            "own id",
            anyone,
            me,
            Some(me),
            established(0, Some(sample_directory()), None),
        ),
        (
            "acceptor own id",
            Side::Acceptor,
            ACCEPTOR_ID,
            Some(ACCEPTOR_ID),
            established(1, None, accept()),
        ),
        // Expecting node 1, established with node 2.
        (
            "wrong expected peer",
            dialer,
            me,
            Some(NodeId(2)),
            established(2, Some(sample_directory()), None),
        ),
        // Not the peer of the exchange.
        (
            "unanswered peer",
            anyone,
            me,
            Some(NodeId(3)),
            established(2, Some(sample_directory()), None),
        ),
        ("no exchange", dialer, me, None, good.clone()),
        (
            "bad directory",
            dialer,
            me,
            Some(ACCEPTOR_ID),
            established(1, Some(dup), None),
        ),
        (
            "empty directory",
            dialer,
            me,
            Some(ACCEPTOR_ID),
            established(1, Some(Directory::default()), None),
        ),
        (
            "no directory",
            dialer,
            me,
            Some(ACCEPTOR_ID),
            established(1, None, None),
        ),
        (
            "dialer sends",
            dialer,
            me,
            Some(ACCEPTOR_ID),
            established(1, Some(sample_directory()), accept()),
        ),
        (
            "acceptor without Accept",
            Side::Acceptor,
            ACCEPTOR_ID,
            Some(me),
            established(0, None, None),
        ),
        (
            "not established",
            dialer,
            me,
            Some(ACCEPTOR_ID),
            Step::Send(HandshakeMsg::Proof { proof: None }),
        ),
    ];
    let missed: Vec<&str> = bad
        .iter()
        .filter(|(_, side, me, answered, step)| {
            !panics(|| check_established(*side, *me, *answered, step))
        })
        .map(|(what, ..)| *what)
        .collect();
    assert!(missed.is_empty(), "check_established missed: {missed:?}");
}

// ---- seeds ----

fn frames(msgs: &[HandshakeMsg]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        encode_frame(FrameKind::Handshake, m, MAX_HANDSHAKE_FRAME_BYTES, &mut out).expect("encode");
    }
    out
}

fn input(head: &[u8], msgs: &[HandshakeMsg]) -> Vec<u8> {
    let mut out = head.to_vec();
    out.extend(frames(msgs));
    out
}

fn hello(
    version: u8,
    cluster: &str,
    from: u32,
    to: Option<u32>,
    addr: Option<&str>,
) -> HandshakeMsg {
    HandshakeMsg::Hello {
        version,
        cluster: cluster.into(),
        from: NodeId(from),
        to: to.map(NodeId),
        advertise: addr.map(Into::into),
        nonce: [7; NONCE_BYTES],
    }
}

fn good_hello() -> HandshakeMsg {
    hello(PROTOCOL_VERSION, CLUSTER, 0, Some(1), Some("h0:1"))
}

fn challenge(me: u32, proof: Option<[u8; 32]>) -> HandshakeMsg {
    HandshakeMsg::Challenge {
        me: NodeId(me),
        nonce: [9; NONCE_BYTES],
        proof,
    }
}

fn proof(p: Option<[u8; 32]>) -> HandshakeMsg {
    HandshakeMsg::Proof { proof: p }
}

fn accept_with(directory: Directory) -> HandshakeMsg {
    HandshakeMsg::Accept {
        advertise: Some("h1:1".into()),
        directory,
    }
}

fn reject() -> HandshakeMsg {
    HandshakeMsg::Reject {
        reason: "no".into(),
    }
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut dup = sample_directory();
    dup.acceptors.push(NodeId(0));
    let relay = |mode: u8, script: [u8; 3], msgs: &[HandshakeMsg]| {
        let mut head = vec![mode];
        head.extend(script);
        input(&head, msgs)
    };
    vec![
        // Mode 0: an acceptor (node 1); bit 2 secret, bit 3 no address, bit 4 empty directory.
        (
            "acceptor-hello-proof",
            input(&[0], &[good_hello(), proof(None)]),
        ),
        (
            "acceptor-anyone-no-addr",
            input(
                &[0x08],
                &[hello(PROTOCOL_VERSION, CLUSTER, 5, None, None), proof(None)],
            ),
        ),
        (
            "acceptor-empty-directory",
            input(&[0x10], &[good_hello(), proof(None)]),
        ),
        (
            "acceptor-secret-forged-proof",
            input(&[0x04], &[good_hello(), proof(Some([1; 32]))]),
        ),
        (
            "acceptor-secret-no-proof",
            input(&[0x04], &[good_hello(), proof(None)]),
        ),
        (
            "acceptor-no-secret-proof",
            input(&[0], &[good_hello(), proof(Some([1; 32]))]),
        ),
        (
            "acceptor-mismatches",
            input(
                &[0],
                &[
                    hello(9, CLUSTER, 0, None, None),
                    hello(PROTOCOL_VERSION, "d", 0, None, None),
                    hello(PROTOCOL_VERSION, CLUSTER, 1, None, None),
                    hello(PROTOCOL_VERSION, CLUSTER, 0, Some(2), None),
                    hello(PROTOCOL_VERSION, CLUSTER, 0, None, Some("no port")),
                ],
            ),
        ),
        (
            "acceptor-out-of-order-and-reject",
            input(&[0], &[proof(None), reject(), good_hello()]),
        ),
        // Mode 1: a dialer (node 0); bit 2 secret, bit 3 expects node 1, bit 4 no address.
        (
            "dialer-challenge-accept",
            input(
                &[0x01],
                &[challenge(1, None), accept_with(sample_directory())],
            ),
        ),
        (
            "dialer-expected-accept",
            input(
                &[0x09],
                &[challenge(1, None), accept_with(sample_directory())],
            ),
        ),
        (
            "dialer-wrong-node",
            input(
                &[0x09],
                &[challenge(2, None), accept_with(sample_directory())],
            ),
        ),
        ("dialer-own-id", input(&[0x11], &[challenge(0, None)])),
        (
            "dialer-secret-forged-challenge",
            input(
                &[0x05],
                &[challenge(1, Some([2; 32])), accept_with(sample_directory())],
            ),
        ),
        (
            "dialer-bad-directory",
            input(&[0x01], &[challenge(1, None), accept_with(dup)]),
        ),
        (
            "dialer-empty-directory-bad-addr",
            input(
                &[0x01],
                &[
                    challenge(1, None),
                    HandshakeMsg::Accept {
                        advertise: Some(":1".into()),
                        directory: Directory::default(),
                    },
                ],
            ),
        ),
        ("dialer-reject", input(&[0x01], &[reject()])),
        // Modes 2, 3: dialer and acceptor through a man in the middle; script ops (2 bits, low
        // first) 0 deliver, 1 inject to the acceptor, 2 inject to the dialer, 3 replay.
        ("relay-plain", relay(0x02, [0, 0, 0], &[])),
        ("relay-secret", relay(0x02 | 0x04 | 0x10, [0, 0, 0], &[])),
        (
            "relay-secret-expected",
            relay(0x02 | 0x04 | 0x08 | 0x10, [0, 0, 0], &[]),
        ),
        (
            "relay-different-secrets",
            relay(0x02 | 0x04 | 0x10 | 0x20, [0, 0, 0], &[]),
        ),
        (
            "relay-dialer-secret-only",
            relay(0x02 | 0x04, [0, 0, 0], &[]),
        ),
        (
            "relay-acceptor-secret-only",
            relay(0x02 | 0x10, [0, 0, 0], &[]),
        ),
        (
            "relay-empty-directory-no-addr",
            relay(0x02 | 0x40 | 0x80, [0, 0, 0], &[]),
        ),
        // Hello, Challenge delivered; a forged Proof to the acceptor, then the rest.
        (
            "relay-secret-forged-proof",
            relay(0x02 | 0x04 | 0x10, [0x10, 0, 0], &[proof(Some([3; 32]))]),
        ),
        // Hello, Challenge, Proof delivered; a forged Accept to the dialer first.
        (
            "relay-secret-forged-accept",
            relay(
                0x02 | 0x04 | 0x10,
                [0x80, 0, 0],
                &[accept_with(sample_directory())],
            ),
        ),
        // Hello, Challenge, Proof, then the Proof replayed, then the Accept.
        (
            "relay-secret-replayed-proof",
            relay(0x02 | 0x04 | 0x10, [0xc0, 0, 0], &[]),
        ),
        // A forged Challenge to the dialer before the real one.
        (
            "relay-forged-challenge",
            relay(0x03, [0x02, 0, 0], &[challenge(1, None)]),
        ),
        // Garbage.
        (
            "garbage-magic",
            b"\x00XX\x01\x02\x00\x00\x00\x01\x00".to_vec(),
        ),
        (
            "garbage-truncated",
            input(&[0x01], &[challenge(1, None)])[..20].to_vec(),
        ),
        (
            "garbage-messages-frame",
            b"\x00L2\x01\x01\x00\x00\x00\x01\x00".to_vec(),
        ),
        (
            "garbage-bad-variant",
            b"\x00L2\x01\x02\x00\x00\x00\x02\x09\x00".to_vec(),
        ),
    ]
}

/// Writes the hand-made seed files. Run with `--ignored` after changing the input format.
#[test]
#[ignore]
fn write_seed_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/handshake");
    std::fs::create_dir_all(&dir).expect("mkdir");
    for (name, data) in seeds() {
        std::fs::write(dir.join(format!("seed-{name}")), data).expect("write seed");
    }
}

/// Every seed passes the checks, and the frames of the non-garbage ones decode.
#[test]
fn seeds_pass_and_decode() {
    for (name, data) in seeds() {
        if panics(|| handshake_check::handshake(&data)) {
            panic!("seed {name} fails the checks");
        }
        let script = if data[0] & 2 != 0 {
            handshake_check::RELAY_SCRIPT_BYTES
        } else {
            0
        };
        let msgs = handshake_check::decode_stream(&data[1 + script.min(data.len() - 1)..]);
        let garbage = name.starts_with("garbage-");
        let plain_relay = name.starts_with("relay-") && data.len() == 1 + script;
        assert_eq!(
            msgs.is_empty(),
            garbage || plain_relay,
            "{name}: {} messages decode",
            msgs.len()
        );
    }
}
