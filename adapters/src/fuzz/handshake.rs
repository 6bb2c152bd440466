//! The body of the `handshake` fuzz target: handshake frames from the network (untrusted) into
//! the peer-connection handshake state machines (`crate::internals`: `Acceptor`,
//! `Dialer`).
//!
//! Shared by `fuzz/fuzz_targets/handshake.rs` and `adapters/tests/fuzz_handshake_corpus.rs`
//! (which replays the corpus and regressions as an ordinary `cargo test`) as a module of the adapters library (`internals`), so
//! both run the same checks.
//!
//! # Input
//!
//! The first byte picks the mode (bits 0–1) and the configuration (bits 2–7, see [`acceptor`],
//! [`dialer`], [`relay`]); the rest is a byte stream of frames, reassembled by a
//! `level2pc::codec::FrameReader` limited to `MAX_HANDSHAKE_FRAME_BYTES` and decoded with
//! `decode_body::<HandshakeMsg>` up to the first frame that is not a well-formed handshake
//! message (as the transport does, which closes the connection there). In relay mode the three
//! bytes after the first are a script.
//!
//! * mode 0: one `Acceptor` (node 1) fed the decoded messages;
//! * mode 1: one `Dialer` (node 0) fed the decoded messages;
//! * modes 2, 3: a real `Dialer` and a real `Acceptor` talking through a man in the middle that
//!   delivers, injects (the decoded messages), replays or drops as the script says. This is how
//!   the fuzzer reaches the paths behind a valid HMAC proof, which it cannot forge.
//!
//! # Checks
//!
//! * no panic in the state machines, whatever the bytes;
//! * every decoded message re-encodes with `encode_frame` within `MAX_HANDSHAKE_FRAME_BYTES`, no
//!   longer than it arrived, and decodes back equal; so does every message the machines send;
//! * an acceptor answers only a `Hello` of our version and cluster, from another id, addressed to
//!   it or to nobody, with a well-formed address, and answers it with a `Challenge` naming itself
//!   that carries a proof iff it has a secret; it establishes only from a `Proof` after that
//!   `Challenge`, with the `Hello`'s sender and address, and sends `Accept` with its own address
//!   and directory;
//! * a dialer sends a `Hello` of our version, cluster, id and expected peer; it answers only a
//!   `Challenge` from another id (the expected one, if any) with a `Proof` carrying a proof iff
//!   it has a secret; it establishes only from an `Accept` after that, with the challenger's id,
//!   the `Accept`'s address and a directory that passes `Directory::check()` ([`check_established`]);
//! * with a secret, nothing establishes (and no dialer answers a `Challenge`) unless the peer's
//!   proof was computed by the real peer with the same secret over this very exchange: bytes
//!   from the fuzzer can never do it (the nonces are random), only a relayed genuine message can;
//!   without a secret, a message carrying a proof is refused;
//! * a `Reject` always fails the handshake with its reason;
//! * relayed without interference between compatible nodes, both sides establish, each with the
//!   other's id and address, the dialer with the acceptor's directory;
//! * terminal states: after an error, or after `Established`, no further message leads to
//!   `Established` (the transport closes the connection on the first error and stops calling the
//!   machine once established, but the machines must not rely on it; this target found them
//!   continuing, `regressions/handshake/not-terminal-*`).

use crate::internals::{
    Acceptor, Dialer, Directory, HandshakeMsg, Params, Step, MAX_HANDSHAKE_FRAME_BYTES,
};
use crate::{check_addr, HandshakeError, PeerAddr, Secret};
use level2pc::codec::{
    decode_body, decode_header, encode_frame, FrameKind, FrameReader, HEADER_BYTES,
    PROTOCOL_VERSION,
};
use level2pc::NodeId;
use std::collections::VecDeque;

/// The acceptor's node id in every mode.
pub const ACCEPTOR_ID: NodeId = NodeId(1);
/// The dialer's node id in every mode.
pub const DIALER_ID: NodeId = NodeId(0);
/// The cluster id of both nodes.
pub const CLUSTER: &str = "c";
/// Bytes of the relay script after the mode byte (two bits per step).
pub const RELAY_SCRIPT_BYTES: usize = 3;
/// At most this many messages are decoded from one input (a connection is closed far sooner).
const MAX_MSGS: usize = 64;

/// Checks the handshake machines on `data`, as the fuzz target does.
pub fn handshake(data: &[u8]) {
    run(data);
}

fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode & 3 {
        0 => acceptor(mode, &decode_stream(rest)),
        1 => dialer(mode, &decode_stream(rest)),
        _ => {
            let split = rest.len().min(RELAY_SCRIPT_BYTES);
            let (script, stream) = rest.split_at(split);
            relay(mode, script, &decode_stream(stream));
        }
    }
}

/// The frames of `bytes`, decoded up to the first one that is incomplete, not a handshake frame
/// or not a well-formed `HandshakeMsg`; each is round-tripped.
pub fn decode_stream(bytes: &[u8]) -> Vec<HandshakeMsg> {
    let mut reader = FrameReader::new(MAX_HANDSHAKE_FRAME_BYTES);
    reader.push(bytes);
    let mut msgs = Vec::new();
    while msgs.len() < MAX_MSGS {
        let Ok(Some((FrameKind::Handshake, body))) = reader.next_frame() else {
            break;
        };
        let Ok(msg) = decode_body::<HandshakeMsg>(&body) else {
            break;
        };
        check_round_trip(&msg, Some(body.len()));
        msgs.push(msg);
    }
    msgs
}

/// `msg` encodes as one handshake frame within the limit (and, if it was received in a body of
/// `received` bytes, in no more than that) that decodes back equal.
pub fn check_round_trip(msg: &HandshakeMsg, received: Option<usize>) {
    let mut frame = Vec::new();
    if let Err(e) = encode_frame(
        FrameKind::Handshake,
        msg,
        MAX_HANDSHAKE_FRAME_BYTES,
        &mut frame,
    ) {
        panic!("a handshake message does not encode within the frame limit ({e}): {msg:?}");
    }
    let header = decode_header(&frame, MAX_HANDSHAKE_FRAME_BYTES)
        .expect("an encoded header decodes")
        .expect("an encoded header is complete");
    assert_eq!(header.kind, FrameKind::Handshake);
    assert_eq!(
        header.len,
        frame.len() - HEADER_BYTES,
        "wrong length prefix"
    );
    if let Some(received) = received {
        assert!(
            header.len <= received,
            "a message received in {received} bytes re-encodes to {}: {msg:?}",
            header.len
        );
    }
    let back: HandshakeMsg = decode_body(&frame[HEADER_BYTES..]).expect("re-encoded body decodes");
    assert_eq!(&back, msg, "a handshake message round-trips to another one");
}

/// Which side of a handshake a step comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The inbound side.
    Acceptor,
    /// The outbound side, dialing `expected` (`None`: whoever answers).
    Dialer {
        /// The node the dialer expects.
        expected: Option<NodeId>,
    },
}

/// The rules every `Established` step must follow, whatever came before: `me` is this node's id,
/// `answered` the peer id of the exchange this node took part in (the `from` of the `Hello` an
/// acceptor challenged, the `me` of the `Challenge` a dialer proved itself to; `None` if there
/// was none). Panics, naming the rule, if `step` breaks one (or is not `Established`).
pub fn check_established(side: Side, me: NodeId, answered: Option<NodeId>, step: &Step) {
    let Step::Established {
        send,
        peer,
        peer_addr,
        directory,
    } = step
    else {
        panic!("{side:?}: expected an Established step, got {step:?}");
    };
    assert_ne!(
        *peer, me,
        "{side:?} {me}: established with its own id: {step:?}"
    );
    assert_eq!(
        answered,
        Some(*peer),
        "{side:?} {me}: established with {peer} without having challenged / proved itself to it: {step:?}"
    );
    if let Some(addr) = peer_addr {
        assert_eq!(
            check_addr(addr),
            Ok(()),
            "{side:?} {me}: established with a malformed peer address: {step:?}"
        );
    }
    match side {
        Side::Acceptor => {
            assert!(
                directory.is_none(),
                "an acceptor learned a directory: {step:?}"
            );
            match send {
                Some(accept @ HandshakeMsg::Accept { .. }) => check_round_trip(accept, None),
                _ => panic!("an acceptor established without sending Accept: {step:?}"),
            }
        }
        Side::Dialer { expected } => {
            if let Some(expected) = expected {
                assert_eq!(
                    *peer, expected,
                    "a dialer expecting {expected} established with {peer}: {step:?}"
                );
            }
            assert!(send.is_none(), "a dialer sends after Accept: {step:?}");
            match directory {
                Some(d) => assert_eq!(
                    d.check(),
                    Ok(()),
                    "a dialer accepted a directory that fails check(): {step:?}"
                ),
                None => panic!("a dialer established without a directory: {step:?}"),
            }
        }
    }
}

fn secret(label: Option<&str>) -> Option<Secret> {
    label.and_then(|s| Secret::new(s.as_bytes()))
}

fn params(me: NodeId, advertise: bool, secret_label: Option<&str>) -> Params {
    Params {
        cluster: CLUSTER.into(),
        me,
        advertise: advertise.then(|| format!("h{}:1", me.0)),
        secret: secret(secret_label),
    }
}

/// A well-formed directory of three nodes.
pub fn sample_directory() -> Directory {
    Directory {
        acceptors: vec![NodeId(0), NodeId(1), NodeId(2)],
        peers: (0..3)
            .map(|i| PeerAddr {
                id: NodeId(i),
                addr: format!("h{i}:1"),
            })
            .collect(),
    }
}

/// How a delivered message relates to the exchange, for the secret rules.
#[derive(Clone, Copy)]
struct Origin {
    /// The message is (a copy of) what the real peer sent, the peer holds the same secret as the
    /// receiver, and the exchange is this one: the acceptor's `Challenge` answers the dialer's
    /// own `Hello`. Only then may a proof verify.
    authentic: bool,
}

const FORGED: Origin = Origin { authentic: false };

/// What the harness knows of one acceptor.
struct AcceptorModel {
    acceptor: Acceptor,
    params: Params,
    directory: Directory,
    /// The `Hello` this acceptor answered with a `Challenge`: (from, advertise), and whether it
    /// was the real dialer's.
    challenged: Option<(NodeId, Option<String>, bool)>,
    /// An error or `Established` happened.
    done: bool,
    established: Option<NodeId>,
}

impl AcceptorModel {
    fn new(params: Params, directory: Directory) -> AcceptorModel {
        AcceptorModel {
            acceptor: Acceptor::new(params.clone(), directory.clone()),
            params,
            directory,
            challenged: None,
            done: false,
            established: None,
        }
    }

    /// Feeds `msg`, checks the outcome, and returns what the transport sends back.
    fn deliver(
        &mut self,
        msg: HandshakeMsg,
        origin: Origin,
        genuine_hello: bool,
    ) -> Option<HandshakeMsg> {
        let result = self.acceptor.on_msg(msg.clone());
        check_reject(&msg, &result);
        let me = self.params.me;
        match result {
            Err(e) => {
                self.done = true;
                // The transport tells the dialer why, then closes.
                Some(HandshakeMsg::Reject {
                    reason: e.to_string(),
                })
            }
            Ok(Step::Send(reply)) => {
                let HandshakeMsg::Hello {
                    version,
                    cluster,
                    from,
                    to,
                    advertise,
                    ..
                } = msg
                else {
                    panic!("acceptor answered {msg:?} with {reply:?}");
                };
                assert_eq!(
                    version, PROTOCOL_VERSION,
                    "acceptor answered a Hello of another version"
                );
                assert_eq!(
                    cluster, self.params.cluster,
                    "acceptor answered a Hello of another cluster"
                );
                assert_ne!(from, me, "acceptor answered a Hello from its own id");
                assert!(
                    to.is_none() || to == Some(me),
                    "acceptor answered a Hello addressed to {to:?}"
                );
                if let Some(a) = &advertise {
                    assert_eq!(
                        check_addr(a),
                        Ok(()),
                        "acceptor answered a Hello with a malformed address"
                    );
                }
                assert!(
                    self.challenged.is_none(),
                    "acceptor challenged a second Hello (first {:?}): {reply:?}",
                    self.challenged
                );
                match &reply {
                    HandshakeMsg::Challenge {
                        me: named, proof, ..
                    } => {
                        assert_eq!(*named, me, "acceptor's Challenge names {named}");
                        assert_eq!(
                            proof.is_some(),
                            self.params.secret.is_some(),
                            "acceptor's Challenge carries a proof iff it has a secret"
                        );
                    }
                    other => panic!("acceptor answered a Hello with {other:?}"),
                }
                check_round_trip(&reply, None);
                self.challenged = Some((from, advertise, genuine_hello));
                Some(reply)
            }
            Ok(step @ Step::Established { .. }) => {
                assert!(
                    !self.done,
                    "not terminal: acceptor established with {:?} after it had already failed or established (last message {msg:?})",
                    step_peer(&step)
                );
                let HandshakeMsg::Proof { proof } = &msg else {
                    panic!("acceptor established on {msg:?}");
                };
                let answered = self.challenged.as_ref().map(|c| c.0);
                check_established(Side::Acceptor, me, answered, &step);
                let Step::Established {
                    send,
                    peer,
                    peer_addr,
                    ..
                } = step
                else {
                    unreachable!()
                };
                let (_, hello_addr, hello_genuine) = self.challenged.clone().expect("checked");
                assert_eq!(
                    peer_addr, hello_addr,
                    "acceptor reports another address than the Hello's"
                );
                match &self.params.secret {
                    Some(_) => assert!(
                        origin.authentic && hello_genuine,
                        "acceptor with a secret accepted a proof not computed with it: {msg:?}"
                    ),
                    None => assert!(
                        proof.is_none(),
                        "acceptor without a secret accepted a proof: {msg:?}"
                    ),
                }
                assert_eq!(
                    send,
                    Some(HandshakeMsg::Accept {
                        advertise: self.params.advertise.clone(),
                        directory: self.directory.clone(),
                    }),
                    "acceptor's Accept is not its address and directory"
                );
                self.done = true;
                self.established = Some(peer);
                send
            }
        }
    }
}

/// What the harness knows of one dialer.
struct DialerModel {
    dialer: Dialer,
    params: Params,
    expected: Option<NodeId>,
    /// The `Challenge` this dialer answered with a `Proof`: the challenger's id.
    answered: Option<NodeId>,
    done: bool,
    established: Option<(NodeId, Option<String>, Directory)>,
}

impl DialerModel {
    /// A dialer and its `Hello`.
    fn start(params: Params, expected: Option<NodeId>) -> (DialerModel, HandshakeMsg) {
        let (dialer, hello) = Dialer::start(params.clone(), expected);
        match &hello {
            HandshakeMsg::Hello {
                version,
                cluster,
                from,
                to,
                advertise,
                ..
            } => {
                assert_eq!(*version, PROTOCOL_VERSION);
                assert_eq!(cluster, &params.cluster);
                assert_eq!(*from, params.me);
                assert_eq!(*to, expected);
                assert_eq!(advertise, &params.advertise);
            }
            other => panic!("a dialer starts with {other:?}"),
        }
        check_round_trip(&hello, None);
        let model = DialerModel {
            dialer,
            params,
            expected,
            answered: None,
            done: false,
            established: None,
        };
        (model, hello)
    }

    /// Feeds `msg`, checks the outcome, and returns what the transport sends back.
    fn deliver(&mut self, msg: HandshakeMsg, origin: Origin) -> Option<HandshakeMsg> {
        let result = self.dialer.on_msg(msg.clone());
        check_reject(&msg, &result);
        let me = self.params.me;
        let side = Side::Dialer {
            expected: self.expected,
        };
        match result {
            // The outbound transport closes without a word.
            Err(_) => {
                self.done = true;
                None
            }
            Ok(Step::Send(reply)) => {
                let HandshakeMsg::Challenge {
                    me: challenger,
                    proof,
                    ..
                } = &msg
                else {
                    panic!("dialer answered {msg:?} with {reply:?}");
                };
                assert_ne!(
                    *challenger, me,
                    "dialer answered a Challenge from its own id"
                );
                if let Some(expected) = self.expected {
                    assert_eq!(
                        *challenger, expected,
                        "dialer expecting {expected} answered a Challenge from {challenger}"
                    );
                }
                match &self.params.secret {
                    Some(_) => assert!(
                        origin.authentic,
                        "dialer with a secret accepted a Challenge proof not computed with it: {msg:?}"
                    ),
                    None => assert!(
                        proof.is_none(),
                        "dialer without a secret accepted a Challenge with a proof: {msg:?}"
                    ),
                }
                assert!(
                    self.answered.is_none(),
                    "dialer answered a second Challenge (first from {:?}): {msg:?}",
                    self.answered
                );
                match &reply {
                    HandshakeMsg::Proof { proof } => assert_eq!(
                        proof.is_some(),
                        self.params.secret.is_some(),
                        "dialer's Proof carries a proof iff it has a secret"
                    ),
                    other => panic!("dialer answered a Challenge with {other:?}"),
                }
                check_round_trip(&reply, None);
                self.answered = Some(*challenger);
                Some(reply)
            }
            Ok(step @ Step::Established { .. }) => {
                assert!(
                    !self.done,
                    "not terminal: dialer established with {:?} after it had already failed or established (last message {msg:?})",
                    step_peer(&step)
                );
                let HandshakeMsg::Accept {
                    advertise,
                    directory,
                } = msg
                else {
                    panic!("dialer established on {msg:?}");
                };
                check_established(side, me, self.answered, &step);
                let Step::Established {
                    peer,
                    peer_addr,
                    directory: learned,
                    ..
                } = step
                else {
                    unreachable!()
                };
                assert_eq!(
                    peer_addr, advertise,
                    "dialer reports another address than the Accept's"
                );
                assert_eq!(
                    learned.as_ref(),
                    Some(&directory),
                    "dialer reports another directory than the Accept's"
                );
                self.done = true;
                self.established = Some((peer, peer_addr, directory));
                None
            }
        }
    }
}

fn step_peer(step: &Step) -> Option<NodeId> {
    match step {
        Step::Established { peer, .. } => Some(*peer),
        Step::Send(_) => None,
    }
}

/// A `Reject` fails the handshake with its reason, in every state.
fn check_reject(msg: &HandshakeMsg, result: &Result<Step, HandshakeError>) {
    if let HandshakeMsg::Reject { reason } = msg {
        assert_eq!(
            result,
            &Err(HandshakeError::Rejected(reason.clone())),
            "a Reject did not fail the handshake"
        );
    }
}

/// Mode 0: an acceptor (node 1) fed the messages. Bit 2: secret `s`; bit 3: no advertised
/// address; bit 4: an empty directory (the acceptor's own configuration, handed out as is).
pub fn acceptor(mode: u8, msgs: &[HandshakeMsg]) {
    let params = params(ACCEPTOR_ID, mode & 8 == 0, (mode & 4 != 0).then_some("s"));
    let directory = if mode & 16 == 0 {
        sample_directory()
    } else {
        Directory::default()
    };
    let mut a = AcceptorModel::new(params, directory);
    for msg in msgs {
        a.deliver(msg.clone(), FORGED, false);
    }
}

/// Mode 1: a dialer (node 0) fed the messages. Bit 2: secret `s`; bit 3: expecting node 1 (else
/// whoever answers); bit 4: no advertised address.
pub fn dialer(mode: u8, msgs: &[HandshakeMsg]) {
    let params = params(DIALER_ID, mode & 16 == 0, (mode & 4 != 0).then_some("s"));
    let expected = (mode & 8 != 0).then_some(ACCEPTOR_ID);
    let (mut d, _hello) = DialerModel::start(params, expected);
    for msg in msgs {
        d.deliver(msg.clone(), FORGED);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum To {
    Acceptor,
    Dialer,
}

/// Modes 2 and 3: a real dialer (node 0) and a real acceptor (node 1) through a man in the
/// middle. Bit 2: dialer secret `s`; bit 3: the dialer expects node 1 (else whoever answers);
/// bit 4: acceptor secret; bit 5: the acceptor's secret is `t` (else `s`); bit 6: the acceptor's
/// directory is empty; bit 7: neither advertises an address.
///
/// Each step of `script` (two bits, low first) is: 0 deliver the oldest message in flight, 1
/// inject the next fuzzer message to the acceptor, 2 inject it to the dialer, 3 replay the last
/// delivered message to its receiver again. After the script, what is in flight is delivered.
pub fn relay(mode: u8, script: &[u8], msgs: &[HandshakeMsg]) {
    let d_secret = (mode & 4 != 0).then_some("s");
    let a_secret = (mode & 16 != 0).then_some(if mode & 32 != 0 { "t" } else { "s" });
    let same_secret = d_secret.is_some() && d_secret == a_secret;
    let advertise = mode & 128 == 0;
    let expected = (mode & 8 != 0).then_some(ACCEPTOR_ID);
    let directory = if mode & 64 == 0 {
        sample_directory()
    } else {
        Directory::default()
    };
    let (mut d, hello) = DialerModel::start(params(DIALER_ID, advertise, d_secret), expected);
    let mut a = AcceptorModel::new(params(ACCEPTOR_ID, advertise, a_secret), directory.clone());

    // Messages in flight: receiver, message, and whether it is the real dialer's Hello.
    let mut wire: VecDeque<(To, HandshakeMsg, bool)> =
        VecDeque::from([(To::Acceptor, hello, true)]);
    let mut last: Option<(To, HandshakeMsg, bool)> = None;
    let mut injected = msgs.iter();
    let mut interfered = false;
    let ops = script
        .iter()
        .flat_map(|b| (0..4).map(move |i| (b >> (2 * i)) & 3))
        // Then deliver what is in flight (every delivery sends at most one message back).
        .chain(std::iter::repeat_n(0, 8));
    for op in ops {
        let (to, msg, genuine, hello) = match op {
            0 => match wire.pop_front() {
                Some((to, msg, hello)) => (to, msg, true, hello),
                None => continue,
            },
            1 | 2 => match injected.next() {
                Some(msg) => {
                    let to = if op == 1 { To::Acceptor } else { To::Dialer };
                    (to, msg.clone(), false, false)
                }
                None => continue,
            },
            _ => match &last {
                Some((to, msg, hello)) => (*to, msg.clone(), true, *hello),
                None => continue,
            },
        };
        if op != 0 {
            interfered = true;
        }
        if genuine {
            last = Some((to, msg.clone(), hello));
        }
        match to {
            To::Acceptor => {
                let hello_genuine = a.challenged.as_ref().is_some_and(|c| c.2);
                let origin = Origin {
                    authentic: genuine && same_secret && hello_genuine,
                };
                if let Some(reply) = a.deliver(msg, origin, hello) {
                    wire.push_back((To::Dialer, reply, false));
                }
            }
            To::Dialer => {
                let hello_genuine = a.challenged.as_ref().is_some_and(|c| c.2);
                let origin = Origin {
                    authentic: genuine && same_secret && hello_genuine,
                };
                if let Some(reply) = d.deliver(msg, origin) {
                    wire.push_back((To::Acceptor, reply, false));
                }
            }
        }
    }

    // Undisturbed, compatible nodes connect.
    let compatible = d_secret == a_secret && mode & 64 == 0;
    if !interfered && compatible {
        let addr = |id: NodeId| advertise.then(|| format!("h{}:1", id.0));
        assert_eq!(
            a.established,
            Some(DIALER_ID),
            "an undisturbed acceptor did not establish"
        );
        assert_eq!(
            d.established,
            Some((ACCEPTOR_ID, addr(ACCEPTOR_ID), directory)),
            "an undisturbed dialer did not establish with the acceptor, its address and directory"
        );
        assert_eq!(a.challenged.map(|c| c.1), Some(addr(DIALER_ID)));
    }
}
