//! Real-node adapters for level2pc (skeleton; see issue 4).
