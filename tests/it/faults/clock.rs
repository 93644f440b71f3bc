//! The clock: TTLs are computed from the time of each request.

use std::time::Duration;

use serde_json::json;

use crate::harness::binary::Server;
use crate::harness::config::KEY_A;
use crate::harness::fixtures::{key_file, now};
use crate::harness::net::{assert_url_valid, client, post};
use crate::harness::tokens::mailer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttls_are_computed_from_the_clock_on_each_request() {
    let mut server = Server::start(|c| c.add_uploads(&key_file("rsa2048.pem")));
    let t = mailer();
    let ttl = 600;
    let mut seen = Vec::new();
    for i in 0..2 {
        if i == 1 {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let before = now();
        let (status, _, body) = post(
            &client(),
            &server.url("/v1/signed-urls"),
            &t,
            &format!("clock-{i}"),
            // The same object and TTL both times.
            &json!({ "key": "uploads/clock.pdf", "ttl_seconds": ttl }),
        )
        .await;
        let after = now();
        assert_eq!(status, 200, "{body}");
        let expires = body["expires"].as_i64().unwrap();
        assert!(
            (before + ttl..=after + ttl).contains(&expires),
            "expires {expires} not now + {ttl} (now in {before}..={after})"
        );
        let url = body["url"].as_str().unwrap();
        assert!(url.contains(&format!("Expires={expires}&")), "{url}");
        assert_url_valid(url, KEY_A, "rsa2048.pub.pem");
        seen.push((expires, url.to_owned()));
    }
    // 1.1 s apart: 1 s later (2 when the second boundaries fall that way),
    // so a new URL, not the cached signature of the first one.
    let delta = seen[1].0 - seen[0].0;
    assert!((1..=2).contains(&delta), "expiries {} then {}", seen[0].0, seen[1].0);
    assert_ne!(seen[0].1, seen[1].1);
    let status = server.stop_and_collect(Duration::from_secs(10));
    assert!(status.success());
}
