//! Residency log benchmarks (custom harness): append throughput with group commit on the real disk, inclusion
//! proofs on a 10,000,000-leaf tree, and offline verification of a 1,000,000-entry log directory.
//!
//! Every figure is reported with a ratio against a baseline measured in the same run:
//! * group commit vs one fdatasync per record (same writer, `max_batch = 1`);
//! * one inclusion proof vs one RFC 6962 node hash;
//! * `verify_dir` vs only reading the entry bundles and leaf-hashing them;
//! * the append stall of one shard rotation vs the longest fdatasync of the same run (`rotate`).
//!
//! `cargo bench --bench audit` runs the full sizes (override with `HAETAE_BENCH_APPENDS`, `HAETAE_BENCH_TREE`,
//! `HAETAE_BENCH_VERIFY`, `HAETAE_BENCH_ROTATE`). Under `cargo test --benches` (no `--bench` flag) it runs tiny sizes as a smoke test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haetae::audit::merkle::{inclusion_proof, leaf_hash, node_hash, verify_inclusion, MemoryTree};
use haetae::audit::record::{leaf_seq, parse_leaf, parse_leaf_lenient, PreparedEntry};
use haetae::audit::verify::{for_each_leaf, verify_dir, VerifyOptions};
use haetae::audit::{
    AuditLog, AuditOptions, DestinationInfo, NoteSigner, ResidencyRecord, TokenUsage,
};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn record(i: u64) -> ResidencyRecord {
    ResidencyRecord {
        request_id: format!("01JD{i:020}"),
        tenant: "tenant-finance".into(),
        client: format!("hmac-sha256:{:032x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        endpoint: "/v1/chat/completions".into(),
        wire_format: "openai".into(),
        requested_model: Some("gpt-4o".into()),
        served_model: Some("gpt-4o-2024-08-06".into()),
        policy_hash: "sha256:3f1c9a0e5b7d2c4a".into(),
        classification: "personal".into(),
        findings: BTreeMap::from([
            ("kr_rrn".into(), 1),
            ("email".into(), 2),
            ("kr_phone".into(), 1),
        ]),
        findings_incomplete: false,
        uninspected: BTreeMap::new(),
        actions: BTreeMap::from([("pseudonymise".into(), 3), ("mask".into(), 1)]),
        destination: Some(DestinationInfo {
            name: "openai-us".into(),
            jurisdiction: "US".into(),
            region: Some("us-east-1".into()),
            upstream_host: "api.openai.com".into(),
        }),
        transfer_basis: Some("pipa-28-8-1-2-consent".into()),
        route: Some("default".into()),
        outcome: "forwarded".into(),
        status: Some(200),
        latency_ms: 812,
        usage: Some(TokenUsage {
            input_tokens: 1234,
            output_tokens: 456,
        }),
        request_digest: Some(format!("hmac-sha256:{:064x}", i)),
        response_digest: Some(format!("hmac-sha256:{:064x}", i + 1)),
    }
}

fn options(signer: &NoteSigner, max_batch: usize) -> AuditOptions {
    let mut o = AuditOptions::new(
        NoteSigner::from_private_key_string(&signer.to_private_key_string()).unwrap(),
        "bench-1",
    );
    o.max_batch = max_batch;
    o.checkpoint_interval = Duration::from_secs(1);
    o
}

/// CPU time (user + system) consumed so far by this process's thread named `name` (Linux `/proc`, 10 ms ticks).
fn thread_cpu(name: &str) -> Option<Duration> {
    for e in std::fs::read_dir("/proc/self/task").ok()? {
        let p = e.ok()?.path();
        if std::fs::read_to_string(p.join("comm")).ok()?.trim() != name {
            continue;
        }
        let stat = std::fs::read_to_string(p.join("stat")).ok()?;
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        return Some(Duration::from_millis(ticks * 10));
    }
    None
}

/// Append `n` records from `threads` producers, each keeping up to `window` appends in flight (as many concurrent
/// requests would). Returns (records/s, stats, CPU time of the writer, tile and ack threads).
fn append_run(
    dir: &std::path::Path,
    signer: &NoteSigner,
    n: u64,
    threads: u64,
    window: usize,
    max_batch: usize,
) -> (f64, haetae::audit::AuditStats, [Duration; 3]) {
    let log = std::sync::Arc::new(AuditLog::open(dir, options(signer, max_batch)).unwrap());
    let per = n / threads;
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                let mut inflight = VecDeque::with_capacity(window);
                for i in 0..per {
                    if inflight.len() == window {
                        let p: haetae::audit::Pending = inflight.pop_front().unwrap();
                        p.wait_blocking().unwrap();
                    }
                    inflight.push_back(log.append_request(record(t * per + i)));
                }
                for p in inflight {
                    p.wait_blocking().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = start.elapsed();
    // Wait for the tile thread to catch up (publication is a barrier), then read the threads' CPU time (thread
    // names are truncated to 15 bytes in /proc).
    log.publish_checkpoint().unwrap();
    let stats = log.stats();
    let writer_cpu = [
        thread_cpu("haetae-audit").unwrap_or_default(),
        thread_cpu("haetae-audit-ti").unwrap_or_default(),
        thread_cpu("haetae-audit-ac").unwrap_or_default(),
    ];
    drop(log);
    (
        (per * threads) as f64 / elapsed.as_secs_f64(),
        stats,
        writer_cpu,
    )
}

fn bench_append(full: bool) {
    let n = if full {
        env_or("HAETAE_BENCH_APPENDS", 500_000)
    } else {
        2_000
    };
    let signer = NoteSigner::generate("bench.example/append").unwrap();
    let base_dir =
        tempfile::tempdir_in(std::env::var("HAETAE_BENCH_DIR").unwrap_or_else(|_| ".".into()))
            .unwrap();
    let (group, stats, writer_cpu) =
        append_run(&base_dir.path().join("group"), &signer, n, 4, 4096, 8192);
    let baseline_n = if full { 3_000 } else { 200 };
    let (single, sstats, _) = append_run(
        &base_dir.path().join("single"),
        &signer,
        baseline_n,
        4,
        4096,
        1,
    );
    let leaf_bytes = haetae::audit::record::to_canonical_json(&record(1))
        .unwrap()
        .len();
    println!("append ({n} records of ~{leaf_bytes} B, 4 producers x 4096 in flight, real disk):");
    println!(
        "  group commit      {:>10.0} records/s  batches {}  mean batch {:.0}  max batch {}  fdatasync mean {:.2} ms  max {:.2} ms",
        group,
        stats.batches,
        stats.entries as f64 / stats.batches.max(1) as f64,
        stats.max_batch,
        stats.fsync_total.as_secs_f64() * 1e3 / stats.batches.max(1) as f64,
        stats.fsync_max.as_secs_f64() * 1e3
    );
    let per_record = |d: Duration| d.as_secs_f64() * 1e6 / stats.entries.max(1) as f64;
    println!(
        "  writer thread: wall time in commits {:.2} s, CPU {:.2} s ({:.1} µs/record) → one-core capacity {:.0} records/s",
        stats.busy.as_secs_f64(),
        writer_cpu[0].as_secs_f64(),
        per_record(writer_cpu[0]),
        stats.entries as f64 / writer_cpu[0].as_secs_f64().max(1e-9)
    );
    println!(
        "  tile thread CPU {:.1} µs/record, ack thread CPU {:.1} µs/record; all log threads {:.1} µs/record",
        per_record(writer_cpu[1]),
        per_record(writer_cpu[2]),
        per_record(writer_cpu.iter().sum())
    );
    println!(
        "  baseline (1 fsync/record) {:>8.0} records/s  fdatasync mean {:.2} ms",
        single,
        sstats.fsync_total.as_secs_f64() * 1e3 / sstats.batches.max(1) as f64
    );
    println!("  ratio group/baseline: {:.1}x", group / single);

    // Latency an idle gateway adds at the before-forward durability point: one append in flight at a time, and
    // 64 concurrent requests (each waits for its own receipt). Baseline: a bare fdatasync of one small write.
    let lat_dir = base_dir.path().join("latency");
    let log = std::sync::Arc::new(AuditLog::open(&lat_dir, options(&signer, 8192)).unwrap());
    let samples = if full { 2_000 } else { 50 };
    let mut lat: Vec<Duration> = (0..samples)
        .map(|i| {
            let t = Instant::now();
            log.append_request(record(i)).wait_blocking().unwrap();
            t.elapsed()
        })
        .collect();
    lat.sort_unstable();
    let conc: Vec<Duration> = {
        let handles: Vec<_> = (0..64u64)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    (0..samples / 16)
                        .map(|i| {
                            let s = Instant::now();
                            log.append_request(record(t * 100_000 + i))
                                .wait_blocking()
                                .unwrap();
                            s.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<Duration> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        all
    };
    drop(log);
    let mut f = std::fs::File::create(base_dir.path().join("fsync-probe")).unwrap();
    let mut raw: Vec<Duration> = (0..samples)
        .map(|_| {
            use std::io::Write as _;
            let t = Instant::now();
            f.write_all(&[0u8; 900]).unwrap();
            f.sync_data().unwrap();
            t.elapsed()
        })
        .collect();
    raw.sort_unstable();
    let pct = |v: &[Duration], p: f64| v[((v.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1e3;
    println!(
        "  before-forward latency, 1 in flight: p50 {:.2} ms p99 {:.2} ms; 64 concurrent: p50 {:.2} ms p99 {:.2} ms",
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&conc, 0.5),
        pct(&conc, 0.99)
    );
    println!(
        "  baseline bare write+fdatasync: p50 {:.2} ms p99 {:.2} ms; ratio p50 (1 in flight) {:.2}x",
        pct(&raw, 0.5),
        pct(&raw, 0.99),
        pct(&lat, 0.5) / pct(&raw, 0.5)
    );
}

fn bench_proofs(full: bool) {
    let size = if full {
        env_or("HAETAE_BENCH_TREE", 10_000_000)
    } else {
        10_000
    };
    let build = Instant::now();
    let mut tree = MemoryTree::with_capacity(size as usize);
    for i in 0..size {
        tree.push(leaf_hash(&i.to_le_bytes()));
    }
    let built = build.elapsed();
    let root = tree.root(size).unwrap();
    // Baseline: one node hash.
    let reps = 1_000_000u32;
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    let t = Instant::now();
    let mut h = a;
    for _ in 0..reps {
        h = node_hash(black_box(&h), &b);
    }
    black_box(h);
    let node_ns = t.elapsed().as_nanos() as f64 / f64::from(reps);
    // Inclusion proofs at pseudo-random indexes.
    let samples = 20_000u64;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let idx: Vec<u64> = (0..samples)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % size
        })
        .collect();
    let t = Instant::now();
    let mut proofs = Vec::with_capacity(idx.len());
    for &i in &idx {
        proofs.push(inclusion_proof(&mut tree, i, size).unwrap());
    }
    let prove_us = t.elapsed().as_secs_f64() * 1e6 / samples as f64;
    let t = Instant::now();
    for (&i, p) in idx.iter().zip(&proofs) {
        verify_inclusion(&leaf_hash(&i.to_le_bytes()), i, size, p, &root).unwrap();
    }
    let verify_us = t.elapsed().as_secs_f64() * 1e6 / samples as f64;
    println!(
        "inclusion proofs ({size} leaves in memory, built in {:.1} s):",
        built.as_secs_f64()
    );
    println!(
        "  prove  {prove_us:.2} µs/proof ({} hashes)   verify {verify_us:.2} µs/proof",
        proofs[0].len()
    );
    println!(
        "  baseline node hash {node_ns:.0} ns; ratio prove/node-hash {:.0}x",
        prove_us * 1e3 / node_ns
    );
}

fn bench_verify(full: bool) {
    let n = if full {
        env_or("HAETAE_BENCH_VERIFY", 1_000_000)
    } else {
        3_000
    };
    let signer = NoteSigner::generate("bench.example/verify").unwrap();
    let dir =
        tempfile::tempdir_in(std::env::var("HAETAE_BENCH_DIR").unwrap_or_else(|_| ".".into()))
            .unwrap();
    let (rate, _, _) = append_run(dir.path(), &signer, n, 4, 4096, 8192);
    let n = (n / 4) * 4;
    // Baseline: read every bundle and leaf-hash every entry, nothing else.
    let t = Instant::now();
    let mut acc = 0u8;
    for_each_leaf(dir.path(), n, |_, d| {
        acc ^= leaf_hash(d)[0];
        Ok(true)
    })
    .unwrap();
    black_box(acc);
    let base = t.elapsed();
    let t = Instant::now();
    let rep = verify_dir(dir.path(), &signer.verifier(), &VerifyOptions::default()).unwrap();
    let full_t = t.elapsed();
    assert_eq!(rep.size, n);
    let t = Instant::now();
    verify_dir(
        dir.path(),
        &signer.verifier(),
        &VerifyOptions {
            skip_record_checks: true,
            ..Default::default()
        },
    )
    .unwrap();
    let hashes_t = t.elapsed();
    let t = Instant::now();
    verify_dir(
        dir.path(),
        &signer.verifier(),
        &VerifyOptions {
            strict_records: true,
            ..Default::default()
        },
    )
    .unwrap();
    let strict_t = t.elapsed();
    println!(
        "verify ({n} entries on disk, written at {rate:.0} records/s, {} archived checkpoints):",
        rep.archived_checkpoints
    );
    println!(
        "  audit verify (seq + tiles + checkpoints + journal) {:.2} s;  --hashes-only {:.2} s;  --strict {:.2} s",
        full_t.as_secs_f64(),
        hashes_t.as_secs_f64(),
        strict_t.as_secs_f64()
    );
    println!(
        "  baseline read+leaf-hash {:.2} s; ratio verify/baseline {:.1}x (hashes-only {:.1}x)",
        base.as_secs_f64(),
        full_t.as_secs_f64() / base.as_secs_f64(),
        hashes_t.as_secs_f64() / base.as_secs_f64()
    );
}

fn per_op_ns(n: u32, mut f: impl FnMut(u32)) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        f(i);
    }
    t.elapsed().as_nanos() as f64 / f64::from(n)
}

fn bench_records(full: bool) {
    let n = if full { 200_000 } else { 1_000 };
    let entry = haetae::audit::Entry::Request(record(7));
    let prepared = PreparedEntry::new(&entry).unwrap();
    let leaf = prepared
        .finish(1, 7, "2026-11-28T01:02:03.004Z", "bench-1")
        .unwrap();
    let prep = per_op_ns(n, |_| {
        black_box(PreparedEntry::new(black_box(&entry)).unwrap());
    });
    let fin = per_op_ns(n, |i| {
        black_box(
            prepared
                .finish(1, u64::from(i), "2026-11-28T01:02:03.004Z", "bench-1")
                .unwrap(),
        );
    });
    let hash = per_op_ns(n, |_| {
        black_box(leaf_hash(black_box(&leaf)));
    });
    let parse = per_op_ns(n, |_| {
        black_box(parse_leaf(black_box(&leaf)).unwrap());
    });
    let lenient = per_op_ns(n, |_| {
        black_box(parse_leaf_lenient(black_box(&leaf)).unwrap());
    });
    let seq = per_op_ns(n, |_| {
        black_box(leaf_seq(black_box(&leaf)).unwrap());
    });
    println!(
        "records ({} B leaf): baseline leaf hash {hash:.0} ns",
        leaf.len()
    );
    println!(
        "  caller-side encode {prep:.0} ns ({:.1}x)  writer-side splice {fin:.0} ns ({:.1}x)  strict parse {parse:.0} ns ({:.1}x)  lenient parse {lenient:.0} ns ({:.1}x)  seq-only parse {seq:.0} ns ({:.1}x)",
        prep / hash,
        fin / hash,
        parse / hash,
        lenient / hash,
        seq / hash
    );
}

/// One rotation in the middle of a sustained append run: how long appends wait while the full shard is sealed
/// (final checkpoint, fsync of every tile/bundle file, `sealed`, read-only, next shard + chain record), against
/// the longest group commit of the same run.
fn bench_rotate(full: bool) {
    let n = if full {
        env_or("HAETAE_BENCH_ROTATE", 200_000)
    } else {
        2_000
    };
    let signer = NoteSigner::generate("bench.example/rotate").unwrap();
    let base_dir =
        tempfile::tempdir_in(std::env::var("HAETAE_BENCH_DIR").unwrap_or_else(|_| ".".into()))
            .unwrap();
    let leaf_bytes = haetae::audit::record::to_canonical_json(&record(1))
        .unwrap()
        .len() as u64;
    let mut o = options(&signer, 8192);
    // Rotate after ~80 % of the records.
    o.rotate_max_bytes = Some(n * 4 / 5 * (leaf_bytes + 16));
    let log = Arc::new(AuditLog::open(base_dir.path(), o).unwrap());
    let started = Instant::now();
    let producers: Vec<_> = (0..4u64)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut inflight = VecDeque::new();
                for i in (t..n).step_by(4) {
                    inflight.push_back(log.append_request(record(i)));
                    if inflight.len() >= 4096 {
                        inflight.pop_front().unwrap().wait_blocking().unwrap();
                    }
                }
                for p in inflight {
                    p.wait_blocking().unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    // The rotation happens before the first batch past the limit; make sure there is one.
    log.append_request(record(n)).wait_blocking().unwrap();
    let elapsed = started.elapsed();
    let stats = log.stats();
    let shard = log.health().shard;
    Arc::try_unwrap(log).unwrap().close().unwrap();
    println!(
        "rotate ({n} records, one rotation after ~{} records, {} tile files sealed):",
        n * 4 / 5,
        n * 4 / 5 / 256 * 2
    );
    println!(
        "  rotations {} (now in shard {shard}); longest rotation {:.1} ms vs longest fdatasync {:.1} ms ({:.1}x); run {:.0} records/s",
        stats.rotations,
        stats.rotation_max.as_secs_f64() * 1e3,
        stats.fsync_max.as_secs_f64() * 1e3,
        stats.rotation_max.as_secs_f64() / stats.fsync_max.as_secs_f64().max(1e-9),
        n as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    if run("records") {
        bench_records(full);
    }
    if run("append") {
        bench_append(full);
    }
    if run("proof") {
        bench_proofs(full);
    }
    if run("rotate") {
        bench_rotate(full);
    }
    if run("verify") {
        bench_verify(full);
    }
}
