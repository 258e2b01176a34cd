//! Fixtures shared by the residency-log tests that need only small records: writer options that publish only when
//! told (hour-long checkpoint interval) and a minimal forwarded-request record.

use std::time::Duration;

use haetae::audit::{AuditOptions, NoteSigner, ResidencyRecord};

/// Options for a writer signing with a copy of `s` and writing `instance` into its records.
pub fn options(s: &NoteSigner, instance: &str) -> AuditOptions {
    let mut o = AuditOptions::new(
        NoteSigner::from_private_key_string(&s.to_private_key_string()).unwrap(),
        instance,
    );
    o.checkpoint_interval = Duration::from_secs(3600);
    o
}

/// Record number `i`: one tenant, one endpoint, outcome `forwarded`.
pub fn record(i: u64) -> ResidencyRecord {
    ResidencyRecord {
        request_id: format!("req-{i:05}"),
        tenant: "tenant-a".into(),
        endpoint: "/v1/chat/completions".into(),
        wire_format: "openai".into(),
        outcome: "forwarded".into(),
        latency_ms: i,
        ..Default::default()
    }
}
