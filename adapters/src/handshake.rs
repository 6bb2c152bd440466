//! The peer-connection handshake: protocol version, cluster id, node ids and an optional shared
//! cluster secret proven by HMAC-SHA256 challenge-response. Pure state machines; the transport
//! carries their messages as [`level2pc::codec::FrameKind::Handshake`] frames.
//!
//! ```text
//! dialer (outbound)                                   acceptor (inbound)
//!   Hello { version, cluster, from, to?,          ──►  checks version, cluster, from ≠ me,
//!           advertise?, nonce_d }                      to = me (if given)
//!                                                 ◄──  Challenge { me, nonce_a, proof_a } | Reject
//!   checks me = to (if given), proof_a,
//!   Proof { proof_d }                             ──►  checks proof_d
//!                                                 ◄──  Accept { advertise?, directory } | Reject
//! ```
//!
//! `proof_a = HMAC(secret, "level2pc acceptor" ‖ transcript)` and
//! `proof_d = HMAC(secret, "level2pc dialer" ‖ transcript)`, where the transcript binds the
//! cluster id, both node ids and both nonces; the distinct labels stop a proof being reflected.
//! Without a secret both proofs are absent, and a node with a secret refuses a peer without one
//! (and vice versa). Only after `Accept` does either side treat frames as protocol messages.
//!
//! Discovery rides on the handshake: each side tells the other the address it can be dialed at
//! (`advertise`), and the acceptor hands the dialer its [`Directory`]. A dialer that knows an
//! address but not who listens there (`level2pc serve --join HOST:PORT`) leaves `to` empty and
//! learns the id from the `Challenge`. Any node id other than the acceptor's own is accepted: a
//! node the cluster does not know yet may only ask the engine to be admitted, and the cluster
//! secret is what keeps strangers out.

use crate::directory::{check_addr, Directory, DirectoryError};
use hmac::{Hmac, Mac};
use level2pc::codec::{encode_frame, EncodeError, FrameKind, PROTOCOL_VERSION};
use level2pc::NodeId;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;

/// Bytes of each side's random nonce.
pub const NONCE_BYTES: usize = 16;
/// Largest handshake frame body accepted: room for a full [`Directory`].
pub const MAX_HANDSHAKE_FRAME_BYTES: usize = 64 * 1024;

/// Appends `msg` to `out` as one handshake frame of at most [`MAX_HANDSHAKE_FRAME_BYTES`].
pub fn encode_handshake(msg: &HandshakeMsg, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    encode_frame(FrameKind::Handshake, msg, MAX_HANDSHAKE_FRAME_BYTES, out)
}
/// Longest cluster id, in bytes.
pub const MAX_CLUSTER_ID_BYTES: usize = 128;

type HmacSha256 = Hmac<Sha256>;
type Proof = [u8; 32];

/// One handshake message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HandshakeMsg {
    /// Dialer → acceptor: who I am and whom I expect.
    Hello {
        /// The dialer's protocol version.
        version: u8,
        /// The dialer's cluster id.
        cluster: String,
        /// The dialer's node id.
        from: NodeId,
        /// The node id the dialer expects at this address; `None` when it only knows the address.
        to: Option<NodeId>,
        /// The address the dialer's peer listener can be reached at, if it knows one.
        advertise: Option<String>,
        /// The dialer's nonce.
        nonce: [u8; NONCE_BYTES],
    },
    /// Acceptor → dialer: the acceptor's id, nonce and proof of the secret.
    Challenge {
        /// The acceptor's node id.
        me: NodeId,
        /// The acceptor's nonce.
        nonce: [u8; NONCE_BYTES],
        /// HMAC proof, present iff the acceptor has a secret.
        proof: Option<Proof>,
    },
    /// Dialer → acceptor: the dialer's proof of the secret.
    Proof {
        /// HMAC proof, present iff the dialer has a secret.
        proof: Option<Proof>,
    },
    /// Acceptor → dialer: the connection is established; what the acceptor knows of the cluster.
    Accept {
        /// The address the acceptor's peer listener can be reached at, if it knows one.
        advertise: Option<String>,
        /// The acceptor's directory.
        directory: Directory,
    },
    /// Either side: the handshake failed, and why. The connection closes after it.
    Reject {
        /// A human-readable reason.
        reason: String,
    },
}

/// A shared cluster secret. Its `Debug` output never shows the bytes.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

impl Secret {
    /// A secret from raw bytes; `None` if empty.
    pub fn new(bytes: &[u8]) -> Option<Secret> {
        (!bytes.is_empty()).then(|| Secret(bytes.into()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Why a handshake failed. The connection is closed and never reaches the engine.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The peer speaks another protocol version.
    #[error("peer speaks protocol version {theirs}, this node {ours}")]
    Version {
        /// The peer's version.
        theirs: u8,
        /// Ours.
        ours: u8,
    },
    /// The peer belongs to another cluster.
    #[error("peer is in cluster {theirs:?}, this node in {ours:?}")]
    Cluster {
        /// The peer's cluster id.
        theirs: String,
        /// Ours.
        ours: String,
    },
    /// The peer claims this node's own id.
    #[error("peer claims this node's own id {0}")]
    SameId(NodeId),
    /// The peer's advertised address or directory is malformed.
    #[error("peer sent a bad directory: {0}")]
    BadDirectory(#[from] DirectoryError),
    /// The peer expected another node at this address.
    #[error("peer expected node {expected} at this address, but this is node {actual}")]
    WrongNode {
        /// The node the peer expected.
        expected: NodeId,
        /// This node.
        actual: NodeId,
    },
    /// This node has a cluster secret and the peer proved none.
    #[error("peer has no cluster secret but this node requires one")]
    SecretMissing,
    /// The peer has a cluster secret and this node has none.
    #[error("peer uses a cluster secret but this node has none")]
    SecretUnexpected,
    /// The peer's proof does not match: a different secret.
    #[error("peer's cluster secret proof is wrong (different secret?)")]
    BadProof,
    /// The peer refused the handshake.
    #[error("peer refused the handshake: {0}")]
    Rejected(String),
    /// A message arrived out of order.
    #[error("unexpected handshake message ({0})")]
    Unexpected(&'static str),
}

/// What this node brings to every handshake.
#[derive(Clone, Debug)]
pub struct Params {
    /// The cluster id.
    pub cluster: String,
    /// This node's id.
    pub me: NodeId,
    /// The address this node's peer listener can be reached at, if known.
    pub advertise: Option<String>,
    /// The shared secret, if any.
    pub secret: Option<Secret>,
}

/// What a handshake step asks the transport to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this message and wait for the next one.
    Send(HandshakeMsg),
    /// Send this message (if any); the connection is now established with `peer`.
    Established {
        /// A last message to send.
        send: Option<HandshakeMsg>,
        /// The authenticated peer.
        peer: NodeId,
        /// The address the peer says it can be dialed at.
        peer_addr: Option<String>,
        /// The peer's directory (dialer side only).
        directory: Option<Directory>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DialState {
    AwaitChallenge,
    /// The acceptor proved itself as this node.
    AwaitAccept(NodeId),
    /// Established or failed: every further message is refused.
    Finished,
}

/// The outbound side of a handshake.
#[derive(Debug)]
pub struct Dialer {
    params: Params,
    expected: Option<NodeId>,
    nonce: [u8; NONCE_BYTES],
    state: DialState,
}

impl Dialer {
    /// Starts a handshake with the node `expected` at the dialed address (`None`: whichever node
    /// listens there); send the returned `Hello` first.
    pub fn start(params: Params, expected: Option<NodeId>) -> (Dialer, HandshakeMsg) {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let hello = HandshakeMsg::Hello {
            version: PROTOCOL_VERSION,
            cluster: params.cluster.clone(),
            from: params.me,
            to: expected,
            advertise: params.advertise.clone(),
            nonce,
        };
        let dialer = Dialer {
            params,
            expected,
            nonce,
            state: DialState::AwaitChallenge,
        };
        (dialer, hello)
    }

    /// Feeds the acceptor's next message. Once it returned an error or `Established`, the
    /// handshake is over and every further message is refused.
    pub fn on_msg(&mut self, msg: HandshakeMsg) -> Result<Step, HandshakeError> {
        // Only a step that continues the handshake sets the next state.
        let state = std::mem::replace(&mut self.state, DialState::Finished);
        self.step(state, msg)
    }

    fn step(&mut self, state: DialState, msg: HandshakeMsg) -> Result<Step, HandshakeError> {
        match (state, msg) {
            (_, HandshakeMsg::Reject { reason }) => Err(HandshakeError::Rejected(reason)),
            (DialState::AwaitChallenge, HandshakeMsg::Challenge { me, nonce, proof }) => {
                self.check_acceptor(me)?;
                let t = Transcript {
                    cluster: &self.params.cluster,
                    dialer: self.params.me,
                    acceptor: me,
                    dialer_nonce: self.nonce,
                    acceptor_nonce: nonce,
                };
                verify(self.params.secret.as_ref(), ACCEPTOR_LABEL, &t, proof)?;
                self.state = DialState::AwaitAccept(me);
                Ok(Step::Send(HandshakeMsg::Proof {
                    proof: prove(self.params.secret.as_ref(), DIALER_LABEL, &t),
                }))
            }
            (
                DialState::AwaitAccept(peer),
                HandshakeMsg::Accept {
                    advertise,
                    directory,
                },
            ) => {
                advertise.as_deref().map(check_addr).transpose()?;
                directory.check()?;
                Ok(Step::Established {
                    send: None,
                    peer,
                    peer_addr: advertise,
                    directory: Some(directory),
                })
            }
            _ => Err(HandshakeError::Unexpected(
                "dialer got a message out of order",
            )),
        }
    }

    fn check_acceptor(&self, me: NodeId) -> Result<(), HandshakeError> {
        if me == self.params.me {
            return Err(HandshakeError::SameId(me));
        }
        match self.expected {
            Some(expected) if expected != me => Err(HandshakeError::WrongNode {
                expected,
                actual: me,
            }),
            _ => Ok(()),
        }
    }
}

#[derive(Clone, Debug)]
enum AcceptState {
    AwaitHello,
    AwaitProof {
        dialer: NodeId,
        dialer_addr: Option<String>,
        dialer_nonce: [u8; NONCE_BYTES],
        nonce: [u8; NONCE_BYTES],
    },
    /// Established or failed: every further message is refused.
    Finished,
}

/// The inbound side of a handshake.
#[derive(Debug)]
pub struct Acceptor {
    params: Params,
    directory: Directory,
    state: AcceptState,
}

impl Acceptor {
    /// Waits for a dialer's `Hello`; `directory` is handed to the dialer once it is authenticated.
    pub fn new(params: Params, directory: Directory) -> Acceptor {
        Acceptor {
            params,
            directory,
            state: AcceptState::AwaitHello,
        }
    }

    /// Feeds the dialer's next message. On error, send `Reject` with the error's text and close.
    /// Once it returned an error or `Established`, every further message is refused.
    pub fn on_msg(&mut self, msg: HandshakeMsg) -> Result<Step, HandshakeError> {
        // Only a step that continues the handshake sets the next state.
        let state = std::mem::replace(&mut self.state, AcceptState::Finished);
        self.step(state, msg)
    }

    fn step(&mut self, state: AcceptState, msg: HandshakeMsg) -> Result<Step, HandshakeError> {
        match (state, msg) {
            (_, HandshakeMsg::Reject { reason }) => Err(HandshakeError::Rejected(reason)),
            (
                AcceptState::AwaitHello,
                HandshakeMsg::Hello {
                    version,
                    cluster,
                    from,
                    to,
                    advertise,
                    nonce: dialer_nonce,
                },
            ) => {
                self.check_hello(version, cluster, from, to)?;
                advertise.as_deref().map(check_addr).transpose()?;
                let nonce: [u8; NONCE_BYTES] = rand::random();
                let t = self.transcript(from, dialer_nonce, nonce);
                let proof = prove(self.params.secret.as_ref(), ACCEPTOR_LABEL, &t);
                self.state = AcceptState::AwaitProof {
                    dialer: from,
                    dialer_addr: advertise,
                    dialer_nonce,
                    nonce,
                };
                Ok(Step::Send(HandshakeMsg::Challenge {
                    me: self.params.me,
                    nonce,
                    proof,
                }))
            }
            (
                AcceptState::AwaitProof {
                    dialer,
                    dialer_addr,
                    dialer_nonce,
                    nonce,
                },
                HandshakeMsg::Proof { proof },
            ) => {
                let t = self.transcript(dialer, dialer_nonce, nonce);
                verify(self.params.secret.as_ref(), DIALER_LABEL, &t, proof)?;
                let accept = HandshakeMsg::Accept {
                    advertise: self.params.advertise.clone(),
                    directory: std::mem::take(&mut self.directory),
                };
                Ok(Step::Established {
                    send: Some(accept),
                    peer: dialer,
                    peer_addr: dialer_addr,
                    directory: None,
                })
            }
            _ => Err(HandshakeError::Unexpected(
                "acceptor got a message out of order",
            )),
        }
    }

    fn check_hello(
        &self,
        version: u8,
        cluster: String,
        from: NodeId,
        to: Option<NodeId>,
    ) -> Result<(), HandshakeError> {
        if version != PROTOCOL_VERSION {
            return Err(HandshakeError::Version {
                theirs: version,
                ours: PROTOCOL_VERSION,
            });
        }
        if cluster != self.params.cluster {
            return Err(HandshakeError::Cluster {
                theirs: cluster,
                ours: self.params.cluster.clone(),
            });
        }
        if from == self.params.me {
            return Err(HandshakeError::SameId(from));
        }
        match to {
            Some(expected) if expected != self.params.me => Err(HandshakeError::WrongNode {
                expected,
                actual: self.params.me,
            }),
            _ => Ok(()),
        }
    }

    fn transcript(
        &self,
        dialer: NodeId,
        dialer_nonce: [u8; NONCE_BYTES],
        nonce: [u8; NONCE_BYTES],
    ) -> Transcript<'_> {
        Transcript {
            cluster: &self.params.cluster,
            dialer,
            acceptor: self.params.me,
            dialer_nonce,
            acceptor_nonce: nonce,
        }
    }
}

const ACCEPTOR_LABEL: &[u8] = b"level2pc acceptor";
const DIALER_LABEL: &[u8] = b"level2pc dialer";

/// Everything both proofs bind.
struct Transcript<'a> {
    cluster: &'a str,
    dialer: NodeId,
    acceptor: NodeId,
    dialer_nonce: [u8; NONCE_BYTES],
    acceptor_nonce: [u8; NONCE_BYTES],
}

fn mac(secret: &Secret, label: &[u8], t: &Transcript<'_>) -> Option<HmacSha256> {
    // HMAC accepts keys of any length, so this never fails; if it did, no proof is produced and
    // verification fails, which refuses the peer rather than panicking.
    let mut mac = HmacSha256::new_from_slice(&secret.0).ok()?;
    mac.update(label);
    mac.update(&(t.cluster.len() as u64).to_be_bytes());
    mac.update(t.cluster.as_bytes());
    mac.update(&t.dialer.0.to_be_bytes());
    mac.update(&t.acceptor.0.to_be_bytes());
    mac.update(&t.dialer_nonce);
    mac.update(&t.acceptor_nonce);
    Some(mac)
}

fn prove(secret: Option<&Secret>, label: &[u8], t: &Transcript<'_>) -> Option<Proof> {
    secret
        .and_then(|s| mac(s, label, t))
        .map(|m| m.finalize().into_bytes().into())
}

fn verify(
    secret: Option<&Secret>,
    label: &[u8],
    t: &Transcript<'_>,
    proof: Option<Proof>,
) -> Result<(), HandshakeError> {
    match (secret, proof) {
        (None, None) => Ok(()),
        (Some(_), None) => Err(HandshakeError::SecretMissing),
        (None, Some(_)) => Err(HandshakeError::SecretUnexpected),
        // verify_slice compares in constant time.
        (Some(s), Some(p)) => match mac(s, label, t) {
            Some(m) => m.verify_slice(&p).map_err(|_| HandshakeError::BadProof),
            None => Err(HandshakeError::BadProof),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::PeerAddr;

    fn params(me: u32, secret: Option<&[u8]>) -> Params {
        Params {
            cluster: "c".into(),
            me: NodeId(me),
            advertise: Some(format!("h{me}:1")),
            secret: secret.and_then(Secret::new),
        }
    }

    fn directory() -> Directory {
        Directory {
            acceptors: vec![NodeId(0), NodeId(1), NodeId(2)],
            peers: vec![PeerAddr {
                id: NodeId(2),
                addr: "h2:1".into(),
            }],
        }
    }

    /// The dialer's and the acceptor's view of an established connection.
    type Outcome = (NodeId, Option<String>, Option<Directory>);

    /// Runs a whole handshake; returns (dialer result, acceptor result).
    fn run_to(
        dialer: Params,
        acceptor: Params,
        to: Option<u32>,
    ) -> (
        Result<Outcome, HandshakeError>,
        Result<Outcome, HandshakeError>,
    ) {
        let established = |step: Step| match step {
            Step::Established {
                send,
                peer,
                peer_addr,
                directory,
            } => (send, (peer, peer_addr, directory)),
            other => panic!("unexpected {other:?}"),
        };
        let (mut d, hello) = Dialer::start(dialer, to.map(NodeId));
        let mut a = Acceptor::new(acceptor, directory());
        let challenge = match a.on_msg(hello) {
            Ok(Step::Send(m)) => m,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => return (Err(HandshakeError::Rejected(e.to_string())), Err(e)),
        };
        let proof = match d.on_msg(challenge) {
            Ok(Step::Send(m)) => m,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => return (Err(e.clone()), Err(e)),
        };
        let (accept, acceptor_side) = match a.on_msg(proof) {
            Ok(step) => established(step),
            Err(e) => return (Err(HandshakeError::Rejected(e.to_string())), Err(e)),
        };
        let accept = accept.expect("the acceptor sends Accept");
        let dialer_side = d.on_msg(accept).map(|s| established(s).1);
        (dialer_side, Ok(acceptor_side))
    }

    fn run(
        dialer: Params,
        acceptor: Params,
        to: u32,
    ) -> (
        Result<Outcome, HandshakeError>,
        Result<Outcome, HandshakeError>,
    ) {
        run_to(dialer, acceptor, Some(to))
    }

    #[test]
    fn matching_peers_establish_and_exchange_addresses_and_the_directory() {
        for secret in [None, Some(&b"s"[..])] {
            let (d, a) = run(params(0, secret), params(1, secret), 1);
            assert_eq!(d, Ok((NodeId(1), Some("h1:1".into()), Some(directory()))));
            assert_eq!(a, Ok((NodeId(0), Some("h0:1".into()), None)));
        }
    }

    #[test]
    fn a_dialer_that_knows_only_the_address_learns_who_answered() {
        let (d, a) = run_to(params(9, Some(b"s")), params(1, Some(b"s")), None);
        assert_eq!(d, Ok((NodeId(1), Some("h1:1".into()), Some(directory()))));
        // A node the acceptor never heard of is let in: the engine decides on admission.
        assert_eq!(a, Ok((NodeId(9), Some("h9:1".into()), None)));
    }

    #[test]
    fn every_mismatch_is_refused_with_a_reason() {
        let other_cluster = Params {
            cluster: "d".into(),
            ..params(0, None)
        };
        assert!(matches!(
            run(other_cluster, params(1, None), 1).1,
            Err(HandshakeError::Cluster { .. })
        ));
        assert_eq!(
            run(params(0, None), params(1, None), 2).1,
            Err(HandshakeError::WrongNode {
                expected: NodeId(2),
                actual: NodeId(1)
            })
        );
        assert_eq!(
            run(params(1, None), params(1, None), 1).1,
            Err(HandshakeError::SameId(NodeId(1)))
        );
        assert_eq!(
            run(params(0, None), params(1, Some(b"s")), 1).0,
            Err(HandshakeError::SecretUnexpected)
        );
        assert_eq!(
            run(params(0, Some(b"s")), params(1, None), 1).0,
            Err(HandshakeError::SecretMissing)
        );
        assert_eq!(
            run(params(0, Some(b"s")), params(1, Some(b"t")), 1).0,
            Err(HandshakeError::BadProof)
        );
    }

    #[test]
    fn a_dialer_refuses_an_acceptor_that_is_not_the_expected_node() {
        let (mut d, _) = Dialer::start(params(0, None), Some(NodeId(1)));
        let challenge = HandshakeMsg::Challenge {
            me: NodeId(2),
            nonce: [0; NONCE_BYTES],
            proof: None,
        };
        assert_eq!(
            d.on_msg(challenge),
            Err(HandshakeError::WrongNode {
                expected: NodeId(1),
                actual: NodeId(2)
            })
        );
    }

    #[test]
    fn malformed_addresses_and_directories_are_refused() {
        let bad_addr = Params {
            advertise: Some("no port".into()),
            ..params(0, None)
        };
        assert!(matches!(
            run(bad_addr, params(1, None), 1).1,
            Err(HandshakeError::BadDirectory(_))
        ));
        let (mut d, _) = Dialer::start(params(0, None), None);
        let challenge = HandshakeMsg::Challenge {
            me: NodeId(1),
            nonce: [0; NONCE_BYTES],
            proof: None,
        };
        assert!(matches!(d.on_msg(challenge), Ok(Step::Send(_))));
        let mut dup = directory();
        dup.acceptors.push(NodeId(0));
        assert_eq!(
            d.on_msg(HandshakeMsg::Accept {
                advertise: None,
                directory: dup
            }),
            Err(HandshakeError::BadDirectory(DirectoryError::Duplicate(
                NodeId(0)
            )))
        );
    }

    #[test]
    fn a_full_directory_fits_a_handshake_frame() {
        let longest = format!("{}:65535", "h".repeat(crate::directory::MAX_ADDR_BYTES - 6));
        let directory = Directory {
            acceptors: (0..crate::directory::MAX_DIRECTORY_NODES as u32)
                .map(|i| NodeId(u32::MAX - i))
                .collect(),
            peers: (0..crate::directory::MAX_DIRECTORY_NODES as u32)
                .map(|i| PeerAddr {
                    id: NodeId(u32::MAX - i),
                    addr: longest.clone(),
                })
                .collect(),
        };
        assert_eq!(directory.check(), Ok(()));
        let msg = HandshakeMsg::Accept {
            advertise: Some(longest),
            directory,
        };
        let mut buf = Vec::new();
        encode_handshake(&msg, &mut buf).expect("a full directory fits");
    }

    #[test]
    fn a_wrong_dialer_proof_is_refused_by_the_acceptor() {
        let (_, hello) = Dialer::start(params(0, Some(b"s")), Some(NodeId(1)));
        let mut a = Acceptor::new(params(1, Some(b"s")), directory());
        assert!(matches!(
            a.on_msg(hello),
            Ok(Step::Send(HandshakeMsg::Challenge { .. }))
        ));
        assert_eq!(
            a.on_msg(HandshakeMsg::Proof {
                proof: Some([0; 32])
            }),
            Err(HandshakeError::BadProof)
        );
    }

    #[test]
    fn out_of_order_messages_and_other_versions_are_refused() {
        let mut a = Acceptor::new(params(1, None), directory());
        assert!(matches!(
            a.on_msg(HandshakeMsg::Proof { proof: None }),
            Err(HandshakeError::Unexpected(_))
        ));
        let hello = HandshakeMsg::Hello {
            version: 99,
            cluster: "c".into(),
            from: NodeId(0),
            to: Some(NodeId(1)),
            advertise: None,
            nonce: [0; 16],
        };
        assert_eq!(
            Acceptor::new(params(1, None), directory()).on_msg(hello),
            Err(HandshakeError::Version {
                theirs: 99,
                ours: PROTOCOL_VERSION
            })
        );
        let (mut d, _) = Dialer::start(params(0, None), Some(NodeId(1)));
        assert!(matches!(
            d.on_msg(HandshakeMsg::Accept {
                advertise: None,
                directory: directory()
            }),
            Err(HandshakeError::Unexpected(_))
        ));
    }

    #[test]
    fn a_failed_or_finished_handshake_accepts_nothing_more() {
        // After an error, even a well-formed Hello is refused.
        let mut a = Acceptor::new(params(1, None), directory());
        assert!(a.on_msg(HandshakeMsg::Proof { proof: None }).is_err());
        let (_, hello) = Dialer::start(params(0, None), Some(NodeId(1)));
        assert!(matches!(
            a.on_msg(hello.clone()),
            Err(HandshakeError::Unexpected(_))
        ));
        // After establishing, a second Proof (a replay) and a second Accept are refused.
        let (mut d, hello) = Dialer::start(params(0, None), Some(NodeId(1)));
        let mut a = Acceptor::new(params(1, None), directory());
        let Ok(Step::Send(challenge)) = a.on_msg(hello) else {
            panic!("no challenge")
        };
        let Ok(Step::Send(proof)) = d.on_msg(challenge) else {
            panic!("no proof")
        };
        let Ok(Step::Established {
            send: Some(accept), ..
        }) = a.on_msg(proof.clone())
        else {
            panic!("not established")
        };
        assert!(matches!(
            a.on_msg(proof),
            Err(HandshakeError::Unexpected(_))
        ));
        assert!(matches!(
            d.on_msg(accept.clone()),
            Ok(Step::Established { .. })
        ));
        assert!(matches!(
            d.on_msg(accept),
            Err(HandshakeError::Unexpected(_))
        ));
    }
}
