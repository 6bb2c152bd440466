//! A cluster of nodes in one process on loopback: what `level2pc cluster` and `level2pc demo`
//! run, and what the end-to-end tests start. Listeners are bound before any node is configured,
//! so ephemeral ports (port 0) work without races.

use crate::config::Config;
use crate::directory::PeerAddr;
use crate::error::Error;
use crate::replicator::{bind, Listeners, Replicator};
use level2pc::NodeId;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One member of a [`LocalCluster`].
#[derive(Debug)]
struct Slot {
    config: Config,
    dir: PathBuf,
    listeners: Option<Listeners>,
    node: Option<Replicator>,
}

/// Nodes `0..n` on loopback, each with its own data directory `DIR/node-<i>`.
#[derive(Debug)]
pub struct LocalCluster {
    slots: Vec<Slot>,
}

/// Where a local cluster listens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ports {
    /// Ephemeral ports chosen by the OS.
    Ephemeral,
    /// Client (RESP) ports `base..base+n`, peer ports `base+1000..`.
    Base(u16),
}

impl LocalCluster {
    /// Binds every node's listeners on 127.0.0.1 and builds their configurations (not started).
    pub fn bind(n: usize, data_dir: &Path, ports: Ports) -> Result<LocalCluster, Error> {
        let mut bound = Vec::with_capacity(n);
        for i in 0..n {
            let (peer_port, client_port) = match ports {
                Ports::Ephemeral => (0, 0),
                Ports::Base(base) => {
                    let client = port_at(base, i)?;
                    (port_at(client, 1000)?, client)
                }
            };
            let peer = bind(&format!("127.0.0.1:{peer_port}"))?;
            let client = bind(&format!("127.0.0.1:{client_port}"))?;
            bound.push(Listeners {
                peer,
                client: Some(client),
            });
        }
        let addrs: Vec<(String, String)> = bound
            .iter()
            .map(|l| {
                let peer = l.peer.local_addr()?.to_string();
                let client = l
                    .client
                    .as_ref()
                    .map(|c| c.local_addr().map(|a| a.to_string()))
                    .transpose()?
                    .unwrap_or_default();
                Ok((peer, client))
            })
            .collect::<Result<_, std::io::Error>>()?;
        let slots = bound
            .into_iter()
            .enumerate()
            .map(|(i, listeners)| {
                let peers = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| PeerAddr {
                        id: node_id(j),
                        addr: addrs[j].0.clone(),
                    })
                    .collect();
                let mut config = Config::new(node_id(i), addrs[i].0.clone(), peers);
                config.client = Some(addrs[i].1.clone());
                Slot {
                    config,
                    dir: data_dir.join(format!("node-{i}")),
                    listeners: Some(listeners),
                    node: None,
                }
            })
            .collect();
        Ok(LocalCluster { slots })
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the cluster has no nodes.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Node `i`'s configuration, to adjust before it starts.
    pub fn config_mut(&mut self, i: usize) -> Option<&mut Config> {
        self.slots.get_mut(i).map(|s| &mut s.config)
    }

    /// Node `i`'s configuration.
    pub fn config(&self, i: usize) -> Option<&Config> {
        self.slots.get(i).map(|s| &s.config)
    }

    /// Node `i`'s data directory.
    pub fn dir(&self, i: usize) -> Option<&Path> {
        self.slots.get(i).map(|s| s.dir.as_path())
    }

    /// Closes node `i`'s pre-bound listeners if it has not started, so its addresses refuse
    /// connections (as a real, not yet started process would) until [`LocalCluster::start`].
    pub fn release_listeners(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(i) {
            slot.listeners = None;
        }
    }

    /// Starts node `i` (again, after [`LocalCluster::stop`]: it rebinds its addresses).
    pub fn start(&mut self, i: usize) -> Result<&Replicator, Error> {
        let slot = self.slots.get_mut(i).ok_or(Error::Closed)?;
        if slot.node.is_none() {
            let listeners = match slot.listeners.take() {
                Some(l) => l,
                None => Listeners::bind(&slot.config)?,
            };
            slot.node = Some(Replicator::open_with_listeners(
                &slot.dir,
                slot.config.clone(),
                listeners,
            )?);
        }
        slot.node.as_ref().ok_or(Error::Closed)
    }

    /// Starts every node not running.
    pub fn start_all(&mut self) -> Result<(), Error> {
        (0..self.len()).try_for_each(|i| self.start(i).map(|_| ()))
    }

    /// Node `i`, if running.
    pub fn node(&self, i: usize) -> Option<&Replicator> {
        self.slots.get(i).and_then(|s| s.node.as_ref())
    }

    /// Every running node.
    pub fn nodes(&self) -> impl Iterator<Item = &Replicator> {
        self.slots.iter().filter_map(|s| s.node.as_ref())
    }

    /// Stops node `i` cleanly (its data stays).
    pub fn stop(&mut self, i: usize) -> Result<(), Error> {
        match self.slots.get_mut(i).and_then(|s| s.node.take()) {
            Some(node) => node.close(),
            None => Ok(()),
        }
    }

    /// Waits until every running node reports ready; `false` on timeout.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let ready = self.nodes().all(|n| n.info().is_ok_and(|i| i.ready));
            if ready || Instant::now() >= deadline {
                return ready;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops every node.
    pub fn close(mut self) -> Result<(), Error> {
        (0..self.len()).try_for_each(|i| self.stop(i))
    }
}

fn node_id(i: usize) -> NodeId {
    NodeId(u32::try_from(i).unwrap_or(u32::MAX))
}

fn port_at(base: u16, offset: usize) -> Result<u16, Error> {
    u16::try_from(offset)
        .ok()
        .and_then(|o| base.checked_add(o))
        .ok_or_else(|| Error::Bind {
            addr: format!("port {base}+{offset}"),
            source: std::io::ErrorKind::InvalidInput.into(),
        })
}
