//! JSON log lines in tracing-subscriber's own JSON shape (`flatten_event`,
//! `with_current_span`: `timestamp`, `level`, the event's fields, `target`,
//! `span` with the current span's fields and `name`; without a span, those
//! of the request lent to the thread, `super::request`), written straight
//! into the line.
//!
//! tracing-subscriber's `JsonFields` records an event's or a span's fields
//! into a map of `serde_json::Value`s (an allocation per field) and then
//! serialises the map; its JSON formatter also parses a span's stored fields
//! back into a map for every event inside the span, to write them out
//! again. With a span and an access line per request both were a measurable
//! share of a cheap request (see README, Performance). Here fields are
//! written as they are recorded ([`JsonMembers`]) and a span's stored object
//! is copied in as it is; `tests` holds the output to tracing-subscriber's,
//! field for field. (Members keep the order they were written in, where
//! tracing-subscriber sorts them by name.)

use std::cell::RefCell;
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use super::request::{self, RequestContext, SPAN_NAME};
use crate::json_string::needs_escape;

/// The event formatter of JSON logs (its fields formatter is [`JsonMembers`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonMembers> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    /// Written into a reused `String` with direct calls, then into `writer`
    /// in one piece: `writer` is a `dyn fmt::Write`, and the two dozen small
    /// writes of a line through it (a quote, a name, a comma) cost more
    /// than the copy.
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonMembers>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        with_reused(&LINE_TEXT, |line| {
            let meta = event.metadata();
            line.push_str("{\"timestamp\":\"");
            write_time(line, std::time::SystemTime::now());
            line.push_str("\",\"level\":\"");
            line.push_str(meta.level().as_str());
            line.push('"');
            let mut members = Members::after_first(line);
            event.record(&mut members);
            members.result?;
            line.push_str(",\"target\":");
            write_str(line, meta.target());
            let span = event
                .parent()
                .and_then(|id| ctx.span(id))
                .or_else(|| ctx.lookup_current());
            if let Some(span) = span {
                line.push_str(",\"span\":{");
                let extensions = span.extensions();
                let stored = extensions
                    .get::<FormattedFields<JsonMembers>>()
                    .map_or("", |f| f.fields.as_str());
                let members = object_members(stored);
                line.push_str(members);
                if !members.is_empty() {
                    line.push(',');
                }
                line.push_str("\"name\":");
                write_str(line, span.name());
                line.push('}');
            } else {
                request::with_current(|request| request.map(|r| write_request(line, r)));
            }
            line.push_str("}\n");
            writer.write_str(line)
        })
    }
}

/// Writes the access line of `request` (answered `status` after `latency`)
/// to `out`, as [`JsonLines`] writes the `tracing` event
/// `info!(target: "cfsign::access", status, latency_ms, "request")` in the
/// request's span, or outside any span for `None` (`latency_ms`:
/// [`latency_ms`]).
pub(super) fn write_access_line(
    out: &mut impl std::io::Write,
    request: Option<&RequestContext>,
    status: u16,
    latency: std::time::Duration,
) -> std::io::Result<()> {
    with_reused(&LINE_TEXT, |line| {
        line.push_str("{\"timestamp\":\"");
        write_time(line, std::time::SystemTime::now());
        line.push_str("\",\"level\":\"INFO\",\"message\":\"request\",\"status\":");
        line.push_str(itoa::Buffer::new().format(status));
        line.push_str(",\"latency_ms\":");
        write_millis(line, latency);
        line.push_str(",\"target\":\"cfsign::access\"");
        if let Some(request) = request {
            write_request(line, request);
        }
        line.push_str("}\n");
        out.write_all(line.as_bytes())
    })
}

/// A latency in milliseconds, to the microsecond: the `latency_ms` of an
/// access line.
pub fn latency_ms(latency: std::time::Duration) -> f64 {
    latency.as_micros() as f64 / 1000.0
}

/// [`latency_ms`] of `latency` as a JSON number, from its integer
/// microseconds (`0.161`, `1500.0`; a float's shortest text took a
/// twentieth of a `/healthz`): the same number, since IEEE division is
/// correctly rounded.
fn write_millis(out: &mut String, latency: std::time::Duration) {
    let micros = latency.as_micros();
    out.push_str(itoa::Buffer::new().format(micros / 1000));
    let fraction = (micros % 1000) as u16;
    let digits = [fraction / 100, fraction / 10 % 10, fraction % 10];
    let kept = digits.iter().rposition(|&d| d != 0).map_or(1, |last| last + 1);
    out.push('.');
    digits[..kept]
        .iter()
        .for_each(|&d| out.push(char::from(b'0' + d as u8)));
}

/// `,"span":{…}` for `request`: the members its span would have. The method
/// is an HTTP token (no quote, backslash or control character: `http`
/// refuses any other) and the route a template of cfsign's, so only the
/// request id goes through [`write_str`]'s check.
fn write_request(line: &mut String, request: &RequestContext) {
    line.push_str(",\"span\":{\"method\":\"");
    line.push_str(request.method.as_str());
    line.push_str("\",\"route\":\"");
    line.push_str(request.route);
    line.push_str("\",\"request_id\":");
    write_str(line, request.request_id());
    line.push_str(",\"name\":\"");
    line.push_str(SPAN_NAME);
    line.push_str("\"}");
}

/// The fields formatter of JSON logs: fields as one JSON object, with the
/// values tracing-subscriber's `JsonFields` gives them (strings, integers,
/// booleans and finite floats as themselves, non-finite floats as `null`,
/// anything else as its `Debug` text; an `r#` prefix dropped, the `log.`
/// fields of `log` records left out).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonMembers;

impl<'writer> FormatFields<'writer> for JsonMembers {
    /// Written into a reused buffer first, then into `writer` in one piece:
    /// a new span's `writer` is an empty `String`, which would otherwise
    /// grow (and reallocate) four or five times for each request's span.
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        with_reused(&FIELDS_TEXT, |text| {
            text.push('{');
            let mut members = Members::first(text);
            fields.record(&mut members);
            members.result?;
            text.push('}');
            writer.write_str(text)
        })
    }

    /// A span's fields recorded after it was made: the object reopened and
    /// the new members added.
    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let had_members = !object_members(&current.fields).is_empty();
        let object = &mut current.fields;
        if object.ends_with('}') {
            object.pop();
        } else {
            object.clear();
            object.push('{');
        }
        let mut members = if had_members {
            Members::after_first(object)
        } else {
            Members::first(object)
        };
        fields.record(&mut members);
        members.result?;
        object.push('}');
        Ok(())
    }
}

/// Writes each field it is shown as a `"name":value` member.
struct Members<'a> {
    out: &'a mut String,
    /// Whether a `,` goes before the next member.
    comma: bool,
    /// Whether a `Debug` value failed to format.
    result: fmt::Result,
}

impl<'a> Members<'a> {
    /// Members of an object that has none yet.
    fn first(out: &'a mut String) -> Self {
        Self {
            out,
            comma: false,
            result: Ok(()),
        }
    }

    /// Members following others already written.
    fn after_first(out: &'a mut String) -> Self {
        Self {
            out,
            comma: true,
            result: Ok(()),
        }
    }

    /// Writes `"name":` and then the value with `value`, unless `field` is
    /// one to leave out.
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut String) -> fmt::Result) {
        let name = field.name();
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let name = name.strip_prefix("r#").unwrap_or(name);
        if self.comma {
            self.out.push(',');
        }
        write_str(self.out, name);
        self.out.push(':');
        self.result = value(self.out);
        self.comma = true;
    }
}

impl Visit for Members<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| {
            write_str(w, value);
            Ok(())
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| {
            w.push_str(itoa::Buffer::new().format(value));
            Ok(())
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| {
            w.push_str(itoa::Buffer::new().format(value));
            Ok(())
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| {
            w.push_str(if value { "true" } else { "false" });
            Ok(())
        });
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, |w| {
            write_f64(w, value);
            Ok(())
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| write_debug(w, value));
    }
}

/// `value` as `JsonFields` writes it: a finite one as the shortest text
/// that reads back the same, any other as `null`.
fn write_f64(out: &mut String, value: f64) {
    match value.is_finite() {
        true => out.push_str(ryu::Buffer::new().format_finite(value)),
        false => out.push_str("null"),
    }
}

/// The most a reused buffer keeps between uses.
const REUSED_CAPACITY: usize = 4096;

thread_local! {
    /// A line as written, reused from line to line.
    static LINE_TEXT: RefCell<String> = const { RefCell::new(String::new()) };
    /// A span's fields as written, reused from span to span.
    static FIELDS_TEXT: RefCell<String> = const { RefCell::new(String::new()) };
    /// A `Debug` value's text before it is escaped, reused from value to value.
    static DEBUG_TEXT: RefCell<String> = const { RefCell::new(String::new()) };
}

/// `value`'s `Debug` text as a JSON string.
fn write_debug(out: &mut String, value: &dyn fmt::Debug) -> fmt::Result {
    with_reused(&DEBUG_TEXT, |text| {
        write!(text, "{value:?}")?;
        write_str(out, text);
        Ok(())
    })
}

/// Runs `f` on `buffer`, emptied; its capacity is kept for the next use, up
/// to [`REUSED_CAPACITY`]. A `Debug` impl that logs while the buffer is in
/// use finds it taken, and gets a fresh one.
fn with_reused<R>(buffer: &'static std::thread::LocalKey<RefCell<String>>, f: impl FnOnce(&mut String) -> R) -> R {
    buffer.with(|cell| match cell.try_borrow_mut() {
        Ok(mut text) => {
            text.clear();
            let result = f(&mut text);
            if text.capacity() > REUSED_CAPACITY {
                *text = String::new();
            }
            result
        }
        Err(_) => f(&mut String::new()),
    })
}

thread_local! {
    /// The second last written, and its text up to the fraction
    /// (`2026-12-02T05:04:29`).
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `at` as tracing-subscriber's `SystemTime` timer writes it: RFC 3339 in
/// UTC with microseconds (`2026-12-02T05:04:29.905726Z`). The date and time
/// of day are formatted once per second and thread; the calendar arithmetic
/// was a measurable share of a log line.
fn write_time(out: &mut String, at: std::time::SystemTime) {
    let since = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let (secs, micros) = (since.as_secs(), since.subsec_micros());
    SECOND.with_borrow_mut(|(second, text)| {
        if *second != secs {
            let whole = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            *text = humantime::format_rfc3339_seconds(whole).to_string();
            text.pop(); // the `Z`
            *second = secs;
        }
        out.push_str(text);
    });
    let mut fraction = *b".000000Z";
    let mut rest = micros;
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    // ASCII digits, a dot and a `Z`.
    fraction.iter().for_each(|&b| out.push(char::from(b)));
}

/// What is between the braces of a JSON object written by [`JsonMembers`]
/// (`""` for `{}` or anything else).
fn object_members(object: &str) -> &str {
    object
        .strip_prefix('{')
        .and_then(|o| o.strip_suffix('}'))
        .unwrap_or("")
        .trim()
}

/// `s` as a JSON string: copied between quotes when it needs no escape
/// ([`needs_escape`], most strings in log lines), escaped by serde_json
/// otherwise.
fn write_str(out: &mut String, s: &str) {
    if !needs_escape(s) {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
    // serde_json writes a string as quotes, escape sequences (ASCII) and the
    // runs of its text between them: valid UTF-8 as a whole, as `s` is.
    let escaped = serde_json::to_vec(s).unwrap_or_default();
    out.push_str(std::str::from_utf8(&escaped).unwrap_or("\"\""));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl Write for Lines {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    /// The events of a request, inside and outside its span, with the
    /// kinds of values logs carry.
    fn log_some() {
        tracing::info!(target: "cfsign::start", version = "1.2", keys = 3_u64, "started");
        let span = tracing::info_span!(
            "request",
            method = "POST",
            route = "/v1/signed-urls",
            request_id = "abc\"\\\u{1}é"
        );
        let _in = span.enter();
        tracing::info!(target: "cfsign::access", status = 200_u16, latency_ms = 1.25_f64, "request");
        tracing::warn!(error = %"it \"broke\"\n", flag = true, "odd: {}", 7);
        tracing::info!(r#type = "kind", delta = -3_i64, ratio = f64::NAN, big = u64::MAX, list = ?["a\"", "b"]);
        let late = tracing::info_span!("late", known = 1_u64, later = tracing::field::Empty);
        late.record("later", "set \"afterwards\"");
        let _late = late.enter();
        tracing::info!("in a span recorded after it was made");
        drop(_late);
        let unset = tracing::info_span!("unset", later = tracing::field::Empty);
        unset.record("later", 2.5_f64);
        let _unset = unset.enter();
        tracing::info!("in a span whose only field came later");
        drop(_unset);
        let empty = tracing::info_span!("quiet");
        let _inner = empty.enter();
        tracing::error!("in a span without fields");
    }

    fn lines(ours: bool) -> Vec<serde_json::Value> {
        let out = Lines::default();
        let builder = tracing_subscriber::fmt()
            .with_writer(out.clone())
            .with_target(true)
            .with_ansi(false);
        let dispatch = if ours {
            tracing::Dispatch::new(builder.json().fmt_fields(JsonMembers).event_format(JsonLines).finish())
        } else {
            tracing::Dispatch::new(
                builder
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .finish(),
            )
        };
        tracing::dispatcher::with_default(&dispatch, log_some);
        parsed(&out)
    }

    /// The lines written to `out`, parsed, each without its timestamp
    /// (checked to be one).
    fn parsed(out: &Lines) -> Vec<serde_json::Value> {
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
                let time = v.as_object_mut().unwrap().remove("timestamp").unwrap();
                assert!(time.as_str().unwrap().ends_with('Z'), "{time}");
                v
            })
            .collect()
    }

    #[test]
    fn every_line_is_the_json_tracing_subscriber_writes() {
        let (ours, theirs) = (lines(true), lines(false));
        assert_eq!(ours.len(), 7);
        assert_eq!(ours, theirs);
        assert_eq!(ours[3]["type"], "kind");
        assert_eq!(ours[3]["ratio"], serde_json::Value::Null);
        assert_eq!(ours[4]["span"]["later"], "set \"afterwards\"");
        assert_eq!(ours[5]["span"], serde_json::json!({ "later": 2.5, "name": "unset" }));
        assert_eq!(ours[1]["span"]["request_id"], "abc\"\\\u{1}é");
        assert_eq!(ours[6]["span"], serde_json::json!({ "name": "quiet" }));
    }

    /// What a request logs: a line of its own, its access line and a line
    /// outside it; in a `tracing` span, or lent to the thread with the
    /// access line written directly (`super::request`).
    fn request_lines(direct: bool) -> Vec<serde_json::Value> {
        let out = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(out.clone())
            .with_target(true)
            .with_ansi(false)
            .json()
            .fmt_fields(JsonMembers)
            .event_format(JsonLines)
            .finish();
        let request = RequestContext {
            method: axum::http::Method::POST,
            route: "/v1/signed-urls",
            request_id: axum::http::HeaderValue::from_static("0b0e-id:1.2_x"),
        };
        let latency = std::time::Duration::from_nanos(250_400);
        let in_request = || tracing::warn!(error = %"bad \"grant\"", "refused");
        tracing::subscriber::with_default(subscriber, || {
            if direct {
                let mut slot = Some(request.clone());
                let entered = request::enter(&mut slot);
                in_request();
                drop(entered);
                write_access_line(&mut out.clone(), Some(&request), 403, latency).unwrap();
                write_access_line(&mut out.clone(), None, 503, latency).unwrap();
            } else {
                let span = tracing::info_span!(
                    "request",
                    method = request.method.as_str(),
                    route = request.route,
                    request_id = request.request_id()
                );
                span.in_scope(|| {
                    in_request();
                    tracing::info!(
                        target: "cfsign::access",
                        status = 403_u16,
                        latency_ms = latency_ms(latency),
                        "request"
                    );
                });
                tracing::info!(
                    target: "cfsign::access",
                    status = 503_u16,
                    latency_ms = latency_ms(latency),
                    "request"
                );
            }
            tracing::info!(target: "cfsign::server", "outside any request");
        });
        parsed(&out)
    }

    #[test]
    fn a_request_lent_to_the_thread_logs_the_lines_its_span_would() {
        let (direct, spanned) = (request_lines(true), request_lines(false));
        assert_eq!(direct.len(), 4);
        assert_eq!(direct, spanned);
        assert_eq!(direct[2]["status"], 503);
        assert!(direct[2].get("span").is_none(), "{}", direct[2]);
        assert_eq!(direct[1]["span"]["request_id"], "0b0e-id:1.2_x");
        assert_eq!(direct[1]["latency_ms"], 0.25);
        assert_eq!(direct[1]["status"], 403);
        assert!(direct[3].get("span").is_none(), "{}", direct[3]);
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        for s in [
            "plain",
            "",
            "quote\"",
            "back\\slash",
            "nl\n",
            "\u{1}\u{1f}",
            "é ✓ \u{7f}",
            "a \"b\"\tc",
        ] {
            let mut out = String::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in ".*") {
            let mut out = String::new();
            write_str(&mut out, &s);
            proptest::prop_assert_eq!(out, serde_json::to_string(&s).unwrap());
        }
    }

    #[test]
    fn times_are_written_as_rfc_3339_with_microseconds() {
        let epoch = std::time::UNIX_EPOCH;
        for micros in [
            0_u64,
            1,
            999_999,
            1_764_650_669_905_726,
            1_764_650_670_000_001,
            253_402_300_799_999_999,
        ] {
            let at = epoch + std::time::Duration::from_micros(micros);
            let mut out = String::new();
            write_time(&mut out, at);
            assert_eq!(out, humantime::format_rfc3339_micros(at).to_string(), "{micros}");
        }
        let mut out = String::new();
        write_time(
            &mut out,
            epoch + std::time::Duration::from_micros(1_764_650_669_905_726),
        );
        assert_eq!(out, "2025-12-02T04:44:29.905726Z");
    }

    #[test]
    fn latencies_are_the_number_a_float_would_write() {
        for micros in [0_u64, 1, 10, 100, 161, 999, 1000, 1500, 12_345_678, 86_400_000_001] {
            let latency = std::time::Duration::from_nanos(micros * 1000 + 499);
            let mut out = String::new();
            write_millis(&mut out, latency);
            let number: f64 = out.parse().unwrap();
            assert_eq!(number, latency_ms(latency), "{micros}: {out}");
            assert_eq!(number.to_bits(), (micros as f64 / 1000.0).to_bits(), "{micros}: {out}");
        }
        let mut out = String::new();
        write_millis(&mut out, std::time::Duration::from_micros(2_050));
        assert_eq!(out, "2.05");
    }

    #[test]
    fn members_of_objects_and_nothing_else() {
        assert_eq!(object_members("{\"a\":1}"), "\"a\":1");
        assert_eq!(object_members("{}"), "");
        assert_eq!(object_members(""), "");
        assert_eq!(object_members("not json"), "");
    }
}
