//! Deliberately broken variants of protocol rules, switched on only with the `mutants` feature.
//!
//! Each [`Mutant`] disables one rule of protocol.md. The simulator runs them to prove that its
//! checkers catch the violation: a rule whose removal nothing notices is a rule we do not trust.
//! Without the feature the engine's `mutant()` test is a constant `false`, so production builds
//! compile the broken branches away; with it, nothing changes unless `Config::mutant` names a
//! mutant.

/// One disabled protocol rule.
// Without the feature no variant is ever constructed: `Node::mutant` is constant `false`.
#[cfg_attr(not(feature = "mutants"), allow(dead_code))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mutant {
    /// Serve reads from keys that are not Valid (§4.7).
    ReadNonValid,
    /// Followers ACK before their persist is durable (P1).
    AckBeforePersist,
    /// No guardian rule at all (§5.3).
    SkipGuardian,
    /// The guardian rule gates follower ACKs and the coordinator's commit, but not a replayer's
    /// commit (the variant amendment F2 rejects).
    GuardianSkipsReplayers,
    /// The literal "hold U until it is known committed" reading of G (amendment F2: deadlocks).
    GuardianLiteralHold,
    /// A committed delete removes the key instead of keeping a tombstone (§5.5 pitfall 4).
    PhysicalDeletes,
    /// Replays carry only the keys still pending at the replayer (§5.5 pitfall 2).
    PartialReplay,
    /// Timestamps carry no boot incarnation and versions restart from the keys alone (§4.1).
    NoBootInTs,
    /// Commit with one member's ACK still missing (§4.4 step 4).
    CommitWithoutAllAcks,
    /// Version = 1 + max over the keys only, without the writer's last version (amendment F1).
    NoWriterLastVersion,
    /// Serve reads without checking the lease (§7.3, §4.7).
    ReadWithoutLease,
    /// Accept a view removing a lease holder before the acceptor's promise expired (§7.3).
    AcceptRemovalEarly,
    /// Accept removals right after an acceptor restart, without waiting `W` (§7.3).
    SkipRestartWait,
    /// Keep ACKs collected in an older epoch when a new view is installed (§7.6, the 2024 TLA+
    /// fix).
    KeepAcksAcrossEpochs,
    /// Let a Joining member serve reads (§8.2).
    JoiningServesReads,
    /// Ask for promotion before the state transfer completed (§8.2 step 5).
    PromoteBeforeTransfer,
    /// Acceptors keep granting leases to an identity that a proposal they received (or
    /// accepted) removes (§7.3, acceptor "Grant" rule).
    GrantWhileRemoving,
    /// A lease holder counts grants made for an earlier boot or another identity (§7.3, holder
    /// rule 4).
    AcceptStaleGrants,
    /// An acceptor that lost its disk votes at once, in instances it may have voted in before
    /// (§7.2, acceptor amnesia).
    AmnesiacVotes,
    /// Acceptors keep refusing grants to the target of a delayed removal that a higher ballot
    /// overtook, until the next view (§7.3 "received with intent to accept"; the liveness bug
    /// the `cluster` fuzz target found in session 3).
    KeepOvertakenNoGrant,
    /// Treat an INV's effect and its update record as lazy hints the driver need not fsync
    /// before reporting them persisted (P1/P2 weakened to P3's rule; docs/durability.md).
    LazyUpdateEffects,
    /// Ask for promotion as soon as the transfer is done in memory, before the persist holding
    /// its last entries and "transfer done" is durable (§8.2 step 5).
    PromoteBeforeTransferDurable,
    /// Hermes's RMW timestamps and rule: an RMW's Ts is a write's (`1 + max(base version, last
    /// version)`, no step) and a receiver refuses it only if it holds a higher Ts (§3.7, §11.1).
    RmwHermesTimestamps,
    /// Send an RMW's INV before the coordinator's own persist of it is durable (§11.2 R2).
    RmwInvBeforeDurable,
    /// Keep driving (and counting itself for) an RMW this node superseded (§11.2 R3).
    RmwSelfAckAfterSupersede,
    /// Tell the client an RMW had no effect as soon as it is refused, without waiting for the
    /// key's next committed value (§11.4).
    RmwAbortOnNack,
}

#[cfg_attr(not(feature = "mutants"), allow(dead_code))]
impl Mutant {
    /// Every mutant, for tests that must catch each of them.
    pub const ALL: [Mutant; 26] = [
        Mutant::ReadNonValid,
        Mutant::AckBeforePersist,
        Mutant::SkipGuardian,
        Mutant::GuardianSkipsReplayers,
        Mutant::GuardianLiteralHold,
        Mutant::PhysicalDeletes,
        Mutant::PartialReplay,
        Mutant::NoBootInTs,
        Mutant::CommitWithoutAllAcks,
        Mutant::NoWriterLastVersion,
        Mutant::ReadWithoutLease,
        Mutant::AcceptRemovalEarly,
        Mutant::SkipRestartWait,
        Mutant::KeepAcksAcrossEpochs,
        Mutant::JoiningServesReads,
        Mutant::PromoteBeforeTransfer,
        Mutant::GrantWhileRemoving,
        Mutant::AcceptStaleGrants,
        Mutant::AmnesiacVotes,
        Mutant::KeepOvertakenNoGrant,
        Mutant::LazyUpdateEffects,
        Mutant::PromoteBeforeTransferDurable,
        Mutant::RmwHermesTimestamps,
        Mutant::RmwInvBeforeDurable,
        Mutant::RmwSelfAckAfterSupersede,
        Mutant::RmwAbortOnNack,
    ];

    /// The mutant's command-line name (kebab case).
    pub fn name(self) -> &'static str {
        match self {
            Mutant::ReadNonValid => "read-non-valid",
            Mutant::AckBeforePersist => "ack-before-persist",
            Mutant::SkipGuardian => "skip-guardian",
            Mutant::GuardianSkipsReplayers => "guardian-skips-replayers",
            Mutant::GuardianLiteralHold => "guardian-literal-hold",
            Mutant::PhysicalDeletes => "physical-deletes",
            Mutant::PartialReplay => "partial-replay",
            Mutant::NoBootInTs => "no-boot-in-ts",
            Mutant::CommitWithoutAllAcks => "commit-without-all-acks",
            Mutant::NoWriterLastVersion => "no-writer-last-version",
            Mutant::ReadWithoutLease => "read-without-lease",
            Mutant::AcceptRemovalEarly => "accept-removal-early",
            Mutant::SkipRestartWait => "skip-restart-wait",
            Mutant::KeepAcksAcrossEpochs => "keep-acks-across-epochs",
            Mutant::JoiningServesReads => "joining-serves-reads",
            Mutant::PromoteBeforeTransfer => "promote-before-transfer",
            Mutant::GrantWhileRemoving => "grant-while-removing",
            Mutant::AcceptStaleGrants => "accept-stale-grants",
            Mutant::AmnesiacVotes => "amnesiac-votes",
            Mutant::KeepOvertakenNoGrant => "keep-overtaken-no-grant",
            Mutant::LazyUpdateEffects => "lazy-update-effects",
            Mutant::PromoteBeforeTransferDurable => "promote-before-transfer-durable",
            Mutant::RmwHermesTimestamps => "rmw-hermes-timestamps",
            Mutant::RmwInvBeforeDurable => "rmw-inv-before-durable",
            Mutant::RmwSelfAckAfterSupersede => "rmw-self-ack-after-supersede",
            Mutant::RmwAbortOnNack => "rmw-abort-on-nack",
        }
    }

    /// The mutant with this command-line name.
    pub fn from_name(name: &str) -> Option<Mutant> {
        Mutant::ALL.into_iter().find(|m| m.name() == name)
    }
}
