//! The pattern engine: builtin detectors, validators, context scoring, one-pass multi-pattern scanning.
//!
//! Must never: do I/O, depend on other modules of this crate, allocate per match on the hot path, or log matched text.
