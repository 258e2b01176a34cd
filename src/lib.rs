//! Haetae (해태) — a data-sovereignty gateway for LLM APIs.
//!
//! A reverse proxy between an organisation and external LLM APIs. Every request is parsed by its wire format
//! ([`api`]), scanned for personal and classified data ([`detect`]), routed to a destination whose jurisdiction the
//! policy allows ([`route`]), and recorded in a signed, append-only residency log ([`audit`]).
//!
//! Dependency arrows point one way: `cli → proxy → {api, route, audit} → detect`. [`detect`] and [`audit`] depend on
//! nothing else in this crate so they can be benchmarked, fuzzed and reused alone.
//!
//! This crate must never write raw request or response content to logs, metrics, traces, audit records or error
//! messages: entity types, counts, offsets and keyed hashes only.

pub mod api;
pub mod audit;
pub mod cli;
pub mod config;
pub mod detect;
pub mod policy;
pub mod proxy;
pub mod route;
pub mod telemetry;
