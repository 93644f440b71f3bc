//! JSON log lines in tracing-subscriber's own JSON shape (`flatten_event`,
//! `with_current_span`: `timestamp`, `level`, the event's fields, `target`,
//! `span` with the current span's fields and `name`), written without
//! re-reading the span.
//!
//! tracing-subscriber keeps a span's fields as a JSON string, and its JSON
//! formatter parses that string back into a map for every event inside the
//! span, to write it out again. Here the stored object is copied in as it
//! is. With one access line per request that parse was a measurable share
//! of a cheap request (see README, Performance); `tests` holds the output
//! to tracing-subscriber's, field for field.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter of JSON logs (its fields formatter is [`JsonFields`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\"", meta.level())?;
        FIELDS.with_borrow_mut(|fields| -> fmt::Result {
            fields.clear();
            JsonFields::new().format_fields(Writer::new(fields), event)?;
            write_members(&mut writer, fields)
        })?;
        writer.write_str(",\"target\":")?;
        write_str(&mut writer, meta.target())?;
        let span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            writer.write_str(",\"span\":{")?;
            let extensions = span.extensions();
            let stored = extensions
                .get::<FormattedFields<JsonFields>>()
                .map_or("", |f| f.fields.as_str());
            let members = object_members(stored);
            writer.write_str(members)?;
            if !members.is_empty() {
                writer.write_char(',')?;
            }
            writer.write_str("\"name\":")?;
            write_str(&mut writer, span.name())?;
            writer.write_char('}')?;
        }
        writer.write_str("}\n")
    }
}

thread_local! {
    /// The event's fields as a JSON object, reused from event to event.
    static FIELDS: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// `,` and the members of the JSON object `object`, if it has any.
fn write_members(writer: &mut Writer<'_>, object: &str) -> fmt::Result {
    let members = object_members(object);
    if members.is_empty() {
        return Ok(());
    }
    writer.write_char(',')?;
    writer.write_str(members)
}

/// What is between the braces of a JSON object written by [`JsonFields`]
/// (`""` for `{}` or anything else).
fn object_members(object: &str) -> &str {
    object
        .strip_prefix('{')
        .and_then(|o| o.strip_suffix('}'))
        .unwrap_or("")
        .trim()
}

/// `s` as a JSON string.
fn write_str(writer: &mut Writer<'_>, s: &str) -> fmt::Result {
    let quoted = serde_json::to_string(s).map_err(|_| fmt::Error)?;
    writer.write_str(&quoted)
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
            tracing::Dispatch::new(
                builder
                    .json()
                    .fmt_fields(JsonFields::new())
                    .event_format(JsonLines)
                    .finish(),
            )
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
        assert_eq!(ours.len(), 4);
        assert_eq!(ours, theirs);
        assert_eq!(ours[1]["span"]["request_id"], "abc\"\\\u{1}é");
        assert_eq!(ours[3]["span"], serde_json::json!({ "name": "quiet" }));
    }

    #[test]
    fn members_of_objects_and_nothing_else() {
        assert_eq!(object_members("{\"a\":1}"), "\"a\":1");
        assert_eq!(object_members("{}"), "");
        assert_eq!(object_members(""), "");
        assert_eq!(object_members("not json"), "");
    }
}
