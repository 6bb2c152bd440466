//! End-to-end tests live in `tests/tests/` (filled by the real-node issue).
