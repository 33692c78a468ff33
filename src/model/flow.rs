//! `Flow`: the joined story of one login or one machine-to-machine client, as kept by `correlate`.

use serde::Serialize;

use super::Evidence;

pub type FlowId = u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    /// Started at /authorize (implicit, code, code+PKCE, hybrid).
    UserLogin,
    /// client_credentials grants of one client.
    ClientCredentials,
    /// Password / password-realm / refresh / other grants without an authorize.
    DirectGrant,
    /// API calls whose token issuance was not seen.
    Unlinked,
}

/// Summary of a flow for reports. Exchanges are capped by the correlator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Flow {
    pub id: FlowId,
    pub kind: FlowKind,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    /// Short human label, e.g. "implicit grant, response_type=token id_token".
    pub label: String,
    pub exchanges: Vec<Evidence>,
    /// Exchanges beyond the per-flow cap that were not kept.
    pub exchanges_dropped: u64,
}
