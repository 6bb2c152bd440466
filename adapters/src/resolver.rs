//! Host-name lookups off the event loop.
//!
//! `getaddrinfo` blocks, for seconds when DNS is slow or down; on the event loop that would stop
//! heartbeats and lease renewals and cost the node its lease. Peer addresses that are IP
//! literals (`10.0.0.5:8001`) need no lookup and connect at once; a host name
//! (`db-2.internal:8001`) is handed to this resolver's thread, and the answer comes back through
//! a channel, with a wake-up of the event loop.
//!
//! # Bounds
//!
//! At most [`MAX_PENDING`] lookups wait; [`Resolver::ask`] refuses more (the link counts that as
//! a failed attempt and retries after its backoff). One thread does every lookup in turn, so a
//! slow lookup delays the other host names (never IP literals, never the event loop); answers
//! wait in a channel of the same bound.
//!
//! A name may stand for several addresses (`localhost` is often `::1` and `127.0.0.1`, and a
//! peer may listen on only one of them): an answer carries up to [`MAX_ADDRS_PER_NAME`] of them
//! in the system's order, and the link tries the next one after each failed attempt.

use level2pc::NodeId;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};

/// Most lookups waiting for the resolver thread.
pub const MAX_PENDING: usize = 256;

/// Most socket addresses kept from one lookup.
pub const MAX_ADDRS_PER_NAME: usize = 8;

/// One answered lookup: the peer, the address asked for, and its socket addresses (at least one,
/// at most [`MAX_ADDRS_PER_NAME`]) or why not.
pub type Answer = (NodeId, String, Result<Vec<SocketAddr>, String>);

/// What the loop does to be woken when an answer is ready.
pub type Wake = Box<dyn Fn() + Send>;

/// How a host name is looked up (swappable for tests): at least one address, or why not.
pub type Lookup = fn(&str) -> Result<Vec<SocketAddr>, String>;

/// The network's ends of the resolver thread's channels: questions out, answers in.
type Ends = (SyncSender<(NodeId, String)>, Receiver<Answer>);

/// The resolver thread's two ends, started at the first lookup.
#[derive(Default)]
pub struct Resolver {
    lookup: Option<Lookup>,
    wake: Option<Wake>,
    thread: Option<Ends>,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("started", &self.thread.is_some())
            .finish()
    }
}

impl Resolver {
    /// A resolver that calls `wake` after each answer (to interrupt the event loop's poll).
    pub fn new(wake: Wake) -> Resolver {
        Resolver {
            lookup: None,
            wake: Some(wake),
            thread: None,
        }
    }

    /// The same, looking names up with `lookup` instead of the system resolver.
    #[cfg(test)]
    pub fn with_lookup(wake: Wake, lookup: Lookup) -> Resolver {
        Resolver {
            lookup: Some(lookup),
            ..Resolver::new(wake)
        }
    }

    /// Queues a lookup of `addr` for `peer`; false if too many wait or the thread is gone.
    pub fn ask(&mut self, peer: NodeId, addr: String) -> bool {
        if self.thread.is_none() {
            self.thread = self.spawn();
        }
        match &self.thread {
            Some((tx, _)) => match tx.try_send((peer, addr)) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => false,
                Err(TrySendError::Disconnected(_)) => {
                    self.thread = None;
                    false
                }
            },
            None => false,
        }
    }

    /// The answers ready now.
    pub fn answers(&mut self) -> Vec<Answer> {
        let Some((_, rx)) = &self.thread else {
            return Vec::new();
        };
        let mut out = Vec::new();
        loop {
            match rx.try_recv() {
                Ok(answer) => out.push(answer),
                Err(TryRecvError::Empty) => return out,
                Err(TryRecvError::Disconnected) => {
                    self.thread = None;
                    return out;
                }
            }
        }
    }

    fn spawn(&mut self) -> Option<Ends> {
        let (ask_tx, ask_rx) = sync_channel::<(NodeId, String)>(MAX_PENDING);
        let (answer_tx, answer_rx) = sync_channel::<Answer>(MAX_PENDING);
        let lookup = self.lookup.unwrap_or(system_lookup);
        let wake = self.wake.take().unwrap_or_else(|| Box::new(|| {}));
        let spawned = std::thread::Builder::new()
            .name("level2pc-resolve".into())
            .spawn(move || {
                // Ends when the network drops its end (the node stopped).
                while let Ok((peer, addr)) = ask_rx.recv() {
                    let answer = lookup(&addr).and_then(|mut addrs| {
                        addrs.truncate(MAX_ADDRS_PER_NAME);
                        if addrs.is_empty() {
                            Err(format!("{addr}: no addresses"))
                        } else {
                            Ok(addrs)
                        }
                    });
                    if answer_tx.send((peer, addr, answer)).is_err() {
                        return;
                    }
                    wake();
                }
            });
        match spawned {
            Ok(_) => Some((ask_tx, answer_rx)),
            Err(e) => {
                log::error!("cannot start the resolver thread: {e}");
                None
            }
        }
    }
}

/// Whether `addr` needs no lookup: an IP literal with a port.
pub fn literal(addr: &str) -> Option<SocketAddr> {
    addr.parse().ok()
}

/// The system resolver (`getaddrinfo`): the first [`MAX_ADDRS_PER_NAME`] addresses of `addr`.
pub fn system_lookup(addr: &str) -> Result<Vec<SocketAddr>, String> {
    Ok(addr
        .to_socket_addrs()
        .map_err(|e| format!("{addr}: {e}"))?
        .take(MAX_ADDRS_PER_NAME)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn wait_for(r: &mut Resolver, n: usize) -> Vec<Answer> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        while got.len() < n && Instant::now() < deadline {
            got.extend(r.answers());
            std::thread::sleep(Duration::from_millis(5));
        }
        got
    }

    #[test]
    fn names_are_looked_up_on_the_thread_and_the_loop_is_woken() {
        let woken = Arc::new(AtomicUsize::new(0));
        let w = woken.clone();
        let mut r = Resolver::new(Box::new(move || {
            w.fetch_add(1, Ordering::Relaxed);
        }));
        assert!(r.answers().is_empty(), "nothing asked, no thread");
        assert!(r.ask(NodeId(1), "localhost:8001".into()));
        assert!(r.ask(NodeId(2), "bad address".into()));
        let got = wait_for(&mut r, 2);
        assert_eq!(got.len(), 2);
        let (peer, addr, answer) = &got[0];
        assert_eq!((*peer, addr.as_str()), (NodeId(1), "localhost:8001"));
        let ports: Vec<u16> = answer
            .as_ref()
            .expect("resolved")
            .iter()
            .map(|a| a.port())
            .collect();
        assert!(
            !ports.is_empty() && ports.iter().all(|&p| p == 8001),
            "{ports:?}"
        );
        assert!(got[1].2.is_err());
        assert_eq!(woken.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_slow_lookup_does_not_block_asking_and_the_queue_is_bounded() {
        fn slow(_: &str) -> Result<Vec<SocketAddr>, String> {
            std::thread::sleep(Duration::from_millis(300));
            Err("timed out".into())
        }
        let mut r = Resolver::with_lookup(Box::new(|| {}), slow);
        let start = Instant::now();
        // One lookup runs, MAX_PENDING wait; the next is refused, all without waiting.
        let accepted = (0..MAX_PENDING + 10)
            .filter(|&i| r.ask(NodeId(i as u32), "slow:1".into()))
            .count();
        assert!(
            start.elapsed() < Duration::from_millis(200),
            "ask never waits"
        );
        assert!(
            (MAX_PENDING..=MAX_PENDING + 1).contains(&accepted),
            "{accepted}"
        );
        let got = wait_for(&mut r, 1);
        assert_eq!(got[0].2, Err("timed out".to_string()));
    }

    #[test]
    fn answers_keep_at_most_max_addrs_and_never_an_empty_list() {
        fn many(_: &str) -> Result<Vec<SocketAddr>, String> {
            Ok((1..=20)
                .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
                .collect())
        }
        fn none(_: &str) -> Result<Vec<SocketAddr>, String> {
            Ok(Vec::new())
        }
        let mut r = Resolver::with_lookup(Box::new(|| {}), many);
        assert!(r.ask(NodeId(1), "many:1".into()));
        let got = wait_for(&mut r, 1);
        assert_eq!(got[0].2.as_ref().map(Vec::len), Ok(MAX_ADDRS_PER_NAME));
        let mut r = Resolver::with_lookup(Box::new(|| {}), none);
        assert!(r.ask(NodeId(1), "none:1".into()));
        let got = wait_for(&mut r, 1);
        assert_eq!(got[0].2, Err("none:1: no addresses".to_string()));
    }

    #[test]
    fn ip_literals_need_no_lookup() {
        assert_eq!(
            literal("127.0.0.1:5"),
            Some(SocketAddr::from(([127, 0, 0, 1], 5)))
        );
        assert!(literal("[::1]:5").is_some());
        assert_eq!(literal("localhost:5"), None);
    }
}
