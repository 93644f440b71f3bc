//! The README's HLS/DASH recipe, both ways: a segment URL under the
//! manifest's folder, built as the README says, verifies — with the signed
//! cookies of the folder, and with the manifest answer's `signed_query`.

use serde_json::json;

use crate::harness::app::TestApp;

const CDN: &str = "https://d111111abcdef8.cloudfront.net";

#[tokio::test]
async fn a_segment_url_with_the_manifests_signed_query_verifies() {
    let app = TestApp::new().await;
    let player = app.player();
    let manifest = app
        .post(
            "/v1/signed-urls",
            Some(&player),
            json!({ "distribution": "videos", "path": "/hls/abc/index.m3u8", "policy_resource": "/hls/abc/*" }),
        )
        .await;
    assert_eq!(manifest.status, 200, "{}", manifest.json);
    let signed_query = manifest.json["signed_query"].as_str().unwrap();
    assert_eq!(
        manifest.json["url"].as_str().unwrap(),
        format!("{CDN}/hls/abc/index.m3u8?{signed_query}"),
        "the URL is the path and the signed query"
    );
    assert!(signed_query.starts_with("Policy=") && signed_query.contains("&Key-Pair-Id=KECDSA00000001"));
    for (segment, valid, reason) in [
        ("/hls/abc/seg-00001.ts", true, None),
        ("/hls/abc/720p/seg-00042.m4s", true, None),
        ("/hls/other/seg-00001.ts", false, Some("resource_mismatch")),
    ] {
        let url = format!("{CDN}{segment}?{signed_query}");
        let verdict = app.post("/v1/verify", Some(&player), json!({ "url": url })).await;
        assert_eq!(verdict.json["valid"], valid, "{segment}: {}", verdict.json);
        assert_eq!(verdict.json["reason"].as_str(), reason, "{segment}");
    }
    // A canned answer's signed_query is for its own URL only.
    let canned = app
        .post(
            "/v1/signed-urls",
            Some(&player),
            json!({ "distribution": "videos", "path": "/hls/abc/a.ts" }),
        )
        .await;
    let query = canned.json["signed_query"].as_str().unwrap();
    assert!(query.starts_with("Expires="), "{query}");
    let other = format!("{CDN}/hls/abc/b.ts?{query}");
    let verdict = app.post("/v1/verify", Some(&player), json!({ "url": other })).await;
    assert_eq!(verdict.json["valid"], false, "{}", verdict.json);
}

#[tokio::test]
async fn a_segment_url_with_the_folders_signed_cookies_verifies() {
    let app = TestApp::new().await;
    let player = app.player();
    let answer = app
        .post(
            "/v1/signed-cookies",
            Some(&player),
            json!({ "distribution": "videos", "resource": "/hls/abc/*" }),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.json);
    let cookies = &answer.json["cookies"];
    for (segment, valid) in [
        ("/hls/abc/index.m3u8", true),
        ("/hls/abc/seg-00001.ts", true),
        ("/hls/abd/seg.ts", false),
    ] {
        let verdict = app
            .post(
                "/v1/verify",
                Some(&player),
                json!({ "url": format!("{CDN}{segment}"), "cookies": cookies }),
            )
            .await;
        assert_eq!(verdict.json["valid"], valid, "{segment}: {}", verdict.json);
    }
}
