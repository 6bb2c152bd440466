//! Deterministic simulator for level2pc (skeleton; see issue 3).

pub mod checker;
pub mod history;
