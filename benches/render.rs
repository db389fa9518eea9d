//! Render benchmark: `cargo bench --bench render`.
//!
//! Renders the reference spec and generated specs with 3, 7, 15 and 99
//! brokers, and prints time per render, output size and throughput. Every
//! broker lists every peer (classic_config, HAProxy backends, /etc/hosts on
//! every host), so output grows about as N²; the cost per output byte should
//! stay flat as N grows — the table shows it. No dependency: a timing loop
//! with a warm-up, the median of several batches.
//!
//! `-- --spec N` prints the generated spec with N brokers instead
//! (scripts/bench.sh times the CLI's durable write on it).

use std::hint::black_box;
use std::time::{Duration, Instant};

/// A spec with `brokers` brokers and 3 load balancers in a /16.
fn spec(brokers: usize) -> String {
    let brokers: Vec<String> = (0..brokers)
        .map(|i| {
            format!(
                r#"{{ "name": "mq-{i}", "address": "10.1.{}.{}" }}"#,
                i / 200 + 1,
                i % 200 + 10
            )
        })
        .collect();
    format!(
        r#"{{
  "name": "bench",
  "network": {{ "cidr": "10.1.0.0/16", "gateway": "10.1.0.1", "dns": ["10.1.0.1"],
               "interface": "eth0" }},
  "vip": "10.1.0.5",
  "rabbitmq": {{ "version": "4.0", "queue_ha": {{ "mode": "quorum" }},
                 "users": [{{ "name": "app", "password": {{ "from": "terraform-random" }} }}] }},
  "brokers": [{}],
  "load_balancers": [
    {{ "name": "lb-1", "address": "10.1.0.11" }},
    {{ "name": "lb-2", "address": "10.1.0.12" }},
    {{ "name": "lb-3", "address": "10.1.0.13" }}
  ]
}}"#,
        brokers.join(", ")
    )
}

/// Median time of one `compile` (parse + validate + plan + render).
fn measure(source: &str) -> (Duration, usize, usize) {
    let out = rmqgen::compile(source).expect("bench spec is valid");
    let bytes: usize = out.bundle.iter().map(|(_, a)| a.bytes.len()).sum();
    let files = out.bundle.len();
    // Warm up, then pick a batch size that takes ~50 ms.
    let start = Instant::now();
    let mut n = 0u32;
    while start.elapsed() < Duration::from_millis(50) || n < 3 {
        black_box(rmqgen::compile(black_box(source)).ok());
        n += 1;
    }
    let mut batches: Vec<Duration> = (0..7)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                black_box(rmqgen::compile(black_box(source)).ok());
            }
            t.elapsed() / n
        })
        .collect();
    batches.sort();
    (batches[batches.len() / 2], bytes, files)
}

fn main() {
    // `cargo bench --bench render -- --spec N` prints the generated spec
    // with N brokers, so scripts/bench.sh times the CLI on the same input.
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--spec") {
        let n = args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .expect("--spec takes a broker count");
        print!("{}", spec(n));
        return;
    }
    // `cargo test --benches` runs this with --bench absent: stay quick then.
    if !std::env::args().any(|a| a == "--bench") {
        let (t, _, _) = measure(&rmqgen::reference_spec());
        assert!(t < Duration::from_secs(1));
        return;
    }
    println!("| spec | files | output | time per render | throughput | time per output KiB |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut cases = vec![(
        "examples/five-vm.json (3 brokers)".to_string(),
        rmqgen::reference_spec(),
    )];
    for n in [3, 7, 15, 99] {
        cases.push((format!("generated, {n} brokers"), spec(n)));
    }
    for (name, source) in cases {
        let (t, bytes, files) = measure(&source);
        let secs = t.as_secs_f64();
        println!(
            "| {name} | {files} | {:.1} KiB | {:.3} ms | {:.1} MiB/s | {:.2} µs |",
            bytes as f64 / 1024.0,
            secs * 1e3,
            bytes as f64 / secs / (1024.0 * 1024.0),
            secs * 1e6 / (bytes as f64 / 1024.0),
        );
    }
}
