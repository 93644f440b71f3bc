//! The request a log line is written for, carried without a `tracing` span
//! where nothing needs one.
//!
//! Every line logged while a request runs names it: `"span": {"method",
//! "route", "request_id", "name": "request"}` in JSON. A `tracing` span per
//! request gives that, at a cost measured as a fifth of a `/healthz` (its
//! creation formats and stores its fields, each poll enters and leaves it,
//! its close clears a slot in the registry), and its access line, a
//! `tracing` event, as much again (README, Performance). So where logs are
//! JSON lines filtered by target and level ([`super::direct`], what a
//! deployment runs), the front layer lends its [`RequestContext`] to the
//! thread while it polls the request ([`enter`]), the JSON formatter writes
//! it where it would have written the span, and the access line is written
//! straight into the log buffer; the lines are the same, `tests` in
//! `super::json` hold them to it. Text logs and filters on spans or fields
//! (`RUST_LOG=[request]=debug`) keep the span: they need one.

use std::cell::RefCell;

use axum::http::{HeaderValue, Method};

/// What names a request in its log lines: the fields of its span.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request's method.
    pub method: Method,
    /// Its route template (`RouteNames::of`).
    pub route: &'static str,
    /// Its id, as answered (`x-request-id`).
    pub request_id: HeaderValue,
}

/// The name its span has: the `name` member of `"span"`.
pub const SPAN_NAME: &str = "request";

impl RequestContext {
    /// The request id as text (`-` if it is not: ids are checked to be plain
    /// ASCII before they get here).
    pub fn request_id(&self) -> &str {
        self.request_id.to_str().unwrap_or("-")
    }
}

thread_local! {
    /// The request being polled on this thread, if any ([`enter`]).
    static CURRENT: RefCell<Option<RequestContext>> = const { RefCell::new(None) };
}

/// While it lives, the request of `slot` is this thread's current one; its
/// drop gives it back (also when the poll unwinds).
#[derive(Debug)]
pub struct Entered<'a> {
    slot: &'a mut Option<RequestContext>,
}

/// Makes `slot`'s request the current one of this thread until the guard is
/// dropped. Moved in and back out, not cloned: two swaps per poll. What was
/// current before comes back after.
pub fn enter(slot: &mut Option<RequestContext>) -> Entered<'_> {
    swap(slot);
    Entered { slot }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        swap(self.slot);
    }
}

fn swap(slot: &mut Option<RequestContext>) {
    CURRENT.with(|current| {
        // Borrowed only while a line is formatted, which polls no request.
        if let Ok(mut current) = current.try_borrow_mut() {
            std::mem::swap(&mut *current, slot);
        }
    });
}

/// Runs `f` with the current request of this thread.
pub(super) fn with_current<R>(f: impl FnOnce(Option<&RequestContext>) -> R) -> R {
    CURRENT.with(|current| match current.try_borrow() {
        Ok(current) => f(current.as_ref()),
        Err(_) => f(None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(id: &'static str) -> Option<RequestContext> {
        Some(RequestContext {
            method: Method::GET,
            route: "/healthz",
            request_id: HeaderValue::from_static(id),
        })
    }

    fn current_id() -> Option<String> {
        with_current(|c| c.map(|c| c.request_id().to_owned()))
    }

    #[test]
    fn entered_while_the_guard_lives_and_nested_ones_restore_the_outer() {
        assert_eq!(current_id(), None);
        let (mut outer, mut inner) = (context("outer"), context("inner"));
        {
            let _outer = enter(&mut outer);
            assert_eq!(current_id().as_deref(), Some("outer"));
            {
                let _inner = enter(&mut inner);
                assert_eq!(current_id().as_deref(), Some("inner"));
            }
            assert_eq!(current_id().as_deref(), Some("outer"));
        }
        assert_eq!(current_id(), None);
        assert_eq!(outer.unwrap().request_id(), "outer", "given back");
        assert_eq!(inner.unwrap().request_id(), "inner", "given back");
    }

    #[test]
    fn given_back_when_the_poll_unwinds() {
        let mut slot = context("unwound");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _entered = enter(&mut slot);
            panic!("in the handler");
        }));
        assert!(result.is_err());
        assert_eq!(current_id(), None);
        assert_eq!(slot.unwrap().request_id(), "unwound");
    }
}
