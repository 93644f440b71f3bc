//! Configuration parsing: arbitrary UTF-8 through `cfsign::config::from_toml`
//! (figment + serde + cross-section validation) must never panic, and a
//! configuration it accepts must compile into grants without panicking.
#![no_main]

use cfsign::auth::GrantSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = cfsign::config::from_toml(text) {
        let _ = GrantSet::new(&config.grants);
        let _ = cfsign::server::http_options(&config);
    }
    let _ = cfsign::config::from_toml_unchecked(text);
});
