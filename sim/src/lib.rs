//! Deterministic simulator for level2pc (skeleton; see issue 3).
