//! The per-exchange step every front end runs (`analyze`, `capture`, the proxy's analysis
//! thread): push the exchange through the engine, register the secrets its events carry with
//! the redactor (before anything is written), and observe it in the metrics when they are on.
//!
//! Holds no state and writes no output: each front end still owns its sinks (report, events,
//! HAR), its eviction schedule (`Engine::maintain`) and its flow gauge.

use crate::engine::{Engine, Pushed};
use crate::model::Exchange;
use crate::redact::Redactor;
use crate::sink::prometheus::Metrics;

/// Run `ex` through `engine`; the returned results' secrets are already known to `redactor`.
pub fn exchange(
    engine: &mut Engine,
    redactor: &mut Redactor,
    metrics: Option<&Metrics>,
    ex: &Exchange,
) -> Pushed {
    let pushed = engine.push(ex);
    for ev in &pushed.events {
        redactor.register_event(ev);
    }
    if let Some(m) = metrics {
        let (api, endpoint) = engine.classifier().endpoint(ex);
        m.observe_exchange(ex, api, &endpoint);
        m.observe_pushed(&pushed);
    }
    pushed
}
