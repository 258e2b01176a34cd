//! Property tests for the residency log's parsers of untrusted input (same properties as the `audit_parse` fuzz
//! target): no panics on arbitrary input, and every successful parse round-trips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use haetae::audit::merkle::Hash;
use haetae::audit::note::Checkpoint;
use haetae::audit::record::{parse_leaf, to_canonical_json, PreparedEntry};
use haetae::audit::tiles::{decode_bundle, encode_bundle};
use haetae::audit::{ChangeRecord, DestinationInfo, Entry, LogLeaf, ResidencyRecord, TokenUsage};
use haetae::audit::{NoteSigner, ShardLink, TlogProof};
use proptest::prelude::*;

#[path = "support/audit_parse_checks.rs"]
mod checks;
use checks::check_all;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_all(&data);
    }

    #[test]
    fn structured_text_never_panics(
        lines in proptest::collection::vec(
            prop_oneof![
                Just("c2sp.org/tlog-proof@v1".to_owned()),
                Just("index 0".to_owned()),
                Just("index 007".to_owned()),
                Just(String::new()),
                Just("\u{2014} x y".to_owned()),
                "extra [A-Za-z0-9+/=]{0,12}",
                "[A-Za-z0-9+/]{43}=",
                "[0-9]{1,21}",
                "[a-z./]{1,12}",
            ],
            0..10,
        )
    ) {
        check_all(lines.join("\n").as_bytes());
        check_all((lines.join("\n") + "\n").as_bytes());
    }

    #[test]
    fn real_proofs_round_trip_and_mutations_do_not_panic(index in 0u64..50, path_len in 0usize..8, flip in 0usize..200) {
        let signer = NoteSigner::generate("example.com/log").unwrap();
        let cp = Checkpoint { origin: "example.com/log".into(), size: 50, root: [3u8; 32] };
        let proof = TlogProof {
            leaf: Some(b"{\"a\":1}".to_vec()),
            index,
            path: (0..path_len).map(|k| [k as u8; 32] as Hash).collect(),
            checkpoint: signer.sign(&cp.to_text()).unwrap(),
        };
        let text = proof.to_text();
        prop_assert_eq!(TlogProof::parse(&text).unwrap(), proof.clone());
        check_all(text.as_bytes());
        // A flipped byte anywhere must not panic any parser (and re-parses must still round-trip).
        let mut bytes = text.clone().into_bytes();
        let at = flip % bytes.len();
        bytes[at] ^= 0x01;
        check_all(&bytes);
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_./-]{0,12}",
        "\\PC{0,8}",
        proptest::collection::vec(any::<char>(), 0..6).prop_map(|v| v.into_iter().collect()),
        Just("\u{1}\u{1f}\"\\\u{7f}\u{2028}\u{e000}\u{1f600}".to_owned()),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    let request = (
        (
            text(),
            text(),
            text(),
            text(),
            text(),
            proptest::option::of(text()),
            proptest::option::of(text()),
        ),
        (
            proptest::collection::btree_map(text(), any::<u64>(), 0..4),
            proptest::collection::btree_map(text(), any::<u64>(), 0..3),
            proptest::option::of((text(), text(), proptest::option::of(text()), text())),
            proptest::option::of(any::<u16>()),
            any::<u64>(),
            proptest::option::of((any::<u64>(), any::<u64>())),
            proptest::option::of(text()),
        ),
    )
        .prop_map(
            |((a, b, c, d, e, f, g), (findings, actions, dest, status, latency, usage, digest))| {
                Entry::Request(ResidencyRecord {
                    request_id: a,
                    tenant: b,
                    client: c,
                    endpoint: d,
                    wire_format: e.clone(),
                    requested_model: f,
                    served_model: g,
                    policy_hash: e.clone(),
                    classification: e,
                    // empty (and so left out of the encoding) or not, from the random input
                    uninspected: if actions.len() % 3 == 0 {
                        findings.clone()
                    } else {
                        Default::default()
                    },
                    findings,
                    // both values, from the random input
                    findings_incomplete: actions.len() % 2 == 1,
                    actions,
                    destination: dest.map(|(name, jurisdiction, region, upstream_host)| {
                        DestinationInfo {
                            name,
                            jurisdiction,
                            region,
                            upstream_host,
                        }
                    }),
                    transfer_basis: digest.clone(),
                    route: digest.clone(),
                    outcome: "forwarded".into(),
                    status,
                    latency_ms: latency,
                    usage: usage.map(|(input_tokens, output_tokens)| TokenUsage {
                        input_tokens,
                        output_tokens,
                    }),
                    request_digest: digest,
                    response_digest: None,
                })
            },
        );
    let change = (
        text(),
        proptest::option::of(text()),
        text(),
        proptest::option::of(text()),
        any::<bool>(),
    )
        .prop_map(|(subject, previous_hash, new_hash, actor, policy)| {
            let c = ChangeRecord {
                subject,
                previous_hash,
                new_hash,
                actor,
                summary: None,
            };
            if policy {
                Entry::PolicyChange(c)
            } else {
                Entry::ConfigChange(c)
            }
        });
    let shard_start = (
        any::<u64>(),
        text(),
        any::<u64>(),
        text(),
        proptest::option::of(text()),
        proptest::option::of(text()),
    )
        .prop_map(
            |(
                shard,
                previous_origin,
                previous_size,
                previous_root,
                previous_newest_time,
                previous_max_time,
            )| {
                Entry::ShardStart(ShardLink {
                    shard,
                    previous_origin,
                    previous_size,
                    previous_root,
                    previous_newest_time,
                    previous_max_time,
                })
            },
        );
    prop_oneof![3 => request, 1 => change, 1 => shard_start]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// The hot-path field-by-field encoder produces exactly the generic canonical encoding, and it parses back.
    #[test]
    fn prepared_entries_equal_generic_canonical_json(e in entry(), seq in any::<u64>(), instance in text()) {
        let leaf = LogLeaf { v: 1, seq, time: "2026-11-28T01:02:03.004Z".into(), instance, entry: e };
        let fast = PreparedEntry::new(&leaf.entry).unwrap().finish(1, seq, &leaf.time, &leaf.instance).unwrap();
        prop_assert_eq!(&fast, &to_canonical_json(&leaf).unwrap());
        prop_assert_eq!(parse_leaf(&fast).unwrap(), leaf);
    }
}

#[test]
fn bundle_entries_up_to_the_u16_limit() {
    let big = vec![b'x'; 65_535];
    let enc = encode_bundle([big.as_slice()]).unwrap();
    assert_eq!(decode_bundle(&enc).unwrap()[0].len(), 65_535);
    assert!(encode_bundle([vec![0u8; 65_536].as_slice()]).is_err());
}
