//! The correlation transition table: `(phase of the flow the event joined, event) → outcome`.
//!
//! Owns only the table (one `match` line per edge, STYLE.md habit 6). It does not look flows up,
//! store anything or build labels; `correlator.rs` does that and then asks this table what the
//! event means for the flow. Pairs that are not a normal step of an OAuth flow are still listed,
//! as explicit `Outcome::Anomaly`/`Outcome::Orphan` lines, so rules and reports can say what was
//! odd. Known limit: the table only knows the steps the classifier reports; Universal Login page
//! hops (/u/login, /authorize/resume) are not steps here.

use crate::model::FlowKind;

/// Where a flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// /authorize sent, no answer seen yet.
    Authorizing,
    /// The authorize answered with a code that was not redeemed yet.
    CodeIssued,
    /// Tokens came back (implicit result, or a token grant).
    TokensIssued,
    /// /authorize answered with an error.
    AuthorizeFailed,
    /// /oauth/token answered with an error.
    GrantFailed,
    /// An issued token was used against an API.
    Calling,
}

/// The event, reduced to what the table needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Authorize,
    ResultCode,
    ResultTokens,
    ResultError,
    /// `grant_type=authorization_code`.
    CodeGrant {
        ok: bool,
    },
    /// `grant_type=client_credentials`.
    ClientCredentials {
        ok: bool,
    },
    /// `grant_type=refresh_token`.
    RefreshGrant {
        ok: bool,
    },
    /// password, password-realm, passwordless, device code, MFA, token exchange...
    OtherGrant {
        ok: bool,
    },
    /// An API call carrying (or lacking) a token.
    ApiCall,
    /// JWKS, discovery, logout, revoke, other Authentication API pages, evidence gaps.
    Unjoined,
}

/// Something that is not a normal step, kept on the flow and shown in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Anomaly {
    /// A second /authorize reused a `state` that is still open.
    StateReused,
    /// A second authorize result arrived for the same `state`.
    ResultRepeated,
    /// The same authorization code was sent to /oauth/token again (Auth0 answers invalid_grant).
    CodeRedeemedTwice,
    /// A token was used although the flow it came from is in a failed phase.
    CallAfterFailure,
}

/// An event whose predecessor is not in the input, so it starts its own flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Orphan {
    /// A redirect with a code/tokens/error whose /authorize was not captured.
    ResultWithoutAuthorize,
    /// An authorization_code grant whose authorize result was not captured.
    CodeWithoutResult,
    /// A refresh_token grant whose refresh token's issuance was not captured.
    RefreshWithoutIssuance,
    /// An API call whose token's issuance was not captured.
    CallWithoutIssuance,
}

/// What the table decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Start a new flow of this kind in this phase.
    Open(FlowKind, Phase),
    /// Start a new flow because the predecessor is missing from the input.
    Orphan(FlowKind, Phase, Orphan),
    /// Move the joined flow to this phase.
    Advance(Phase),
    /// Keep the event on the joined flow, move it to this phase, and note the anomaly.
    Anomaly(Phase, Anomaly),
    /// The event joins no flow.
    Ignore,
}

fn grant_phase(ok: bool) -> Phase {
    if ok {
        Phase::TokensIssued
    } else {
        Phase::GrantFailed
    }
}

fn result_phase(input: Input) -> Phase {
    match input {
        Input::ResultCode => Phase::CodeIssued,
        Input::ResultError => Phase::AuthorizeFailed,
        _ => Phase::TokensIssued,
    }
}

/// The table. `joined` is the phase of the flow the lookup found (by state, code, client_id or
/// token fingerprint), `None` when no flow matched.
pub fn transition(joined: Option<Phase>, input: Input) -> Outcome {
    use Input as I;
    use Phase as P;
    match (joined, input) {
        // ── authorize request ──
        (None, I::Authorize) => Outcome::Open(FlowKind::UserLogin, P::Authorizing),
        (Some(_), I::Authorize) => Outcome::Anomaly(P::Authorizing, Anomaly::StateReused),
        // ── authorize result (joined by state) ──
        (Some(P::Authorizing), I::ResultCode) => Outcome::Advance(P::CodeIssued),
        (Some(P::Authorizing), I::ResultTokens) => Outcome::Advance(P::TokensIssued),
        (Some(P::Authorizing), I::ResultError) => Outcome::Advance(P::AuthorizeFailed),
        (Some(_), i @ (I::ResultCode | I::ResultTokens | I::ResultError)) => {
            Outcome::Anomaly(result_phase(i), Anomaly::ResultRepeated)
        }
        (None, i @ (I::ResultCode | I::ResultTokens | I::ResultError)) => Outcome::Orphan(
            FlowKind::UserLogin,
            result_phase(i),
            Orphan::ResultWithoutAuthorize,
        ),
        // ── authorization_code grant (joined by code) ──
        (Some(P::CodeIssued), I::CodeGrant { ok }) => Outcome::Advance(grant_phase(ok)),
        (Some(_), I::CodeGrant { ok }) => {
            Outcome::Anomaly(grant_phase(ok), Anomaly::CodeRedeemedTwice)
        }
        (None, I::CodeGrant { ok }) => Outcome::Orphan(
            FlowKind::UserLogin,
            grant_phase(ok),
            Orphan::CodeWithoutResult,
        ),
        // ── client_credentials (joined by host + client_id) ──
        (None, I::ClientCredentials { ok }) => {
            Outcome::Open(FlowKind::ClientCredentials, grant_phase(ok))
        }
        (Some(_), I::ClientCredentials { ok }) => Outcome::Advance(grant_phase(ok)),
        // ── refresh_token grant (joined by the refresh token's fingerprint) ──
        (Some(_), I::RefreshGrant { ok }) => Outcome::Advance(grant_phase(ok)),
        (None, I::RefreshGrant { ok }) => Outcome::Orphan(
            FlowKind::DirectGrant,
            grant_phase(ok),
            Orphan::RefreshWithoutIssuance,
        ),
        // ── other grants never join an earlier flow ──
        (None, I::OtherGrant { ok }) => Outcome::Open(FlowKind::DirectGrant, grant_phase(ok)),
        (Some(_), I::OtherGrant { ok }) => Outcome::Open(FlowKind::DirectGrant, grant_phase(ok)),
        // ── API calls (joined by the bearer's fingerprint) ──
        (Some(P::TokensIssued | P::Calling), I::ApiCall) => Outcome::Advance(P::Calling),
        (Some(P::AuthorizeFailed | P::GrantFailed), I::ApiCall) => {
            Outcome::Anomaly(P::Calling, Anomaly::CallAfterFailure)
        }
        // A token registered for a flow still waiting for its answer cannot happen by
        // construction (tokens register after the answer); treat it as a normal call.
        (Some(P::Authorizing | P::CodeIssued), I::ApiCall) => Outcome::Advance(P::Calling),
        (None, I::ApiCall) => {
            Outcome::Orphan(FlowKind::Unlinked, P::Calling, Orphan::CallWithoutIssuance)
        }
        // ── everything else ──
        (_, I::Unjoined) => Outcome::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_pkce_happy_path_walks_the_phases() {
        let a = transition(None, Input::Authorize);
        assert_eq!(a, Outcome::Open(FlowKind::UserLogin, Phase::Authorizing));
        let r = transition(Some(Phase::Authorizing), Input::ResultCode);
        assert_eq!(r, Outcome::Advance(Phase::CodeIssued));
        let g = transition(Some(Phase::CodeIssued), Input::CodeGrant { ok: true });
        assert_eq!(g, Outcome::Advance(Phase::TokensIssued));
        let c = transition(Some(Phase::TokensIssued), Input::ApiCall);
        assert_eq!(c, Outcome::Advance(Phase::Calling));
    }

    #[test]
    fn redeeming_a_code_twice_is_an_anomaly() {
        let g = transition(Some(Phase::TokensIssued), Input::CodeGrant { ok: false });
        assert_eq!(
            g,
            Outcome::Anomaly(Phase::GrantFailed, Anomaly::CodeRedeemedTwice)
        );
    }

    #[test]
    fn orphans_open_their_own_flow() {
        assert_eq!(
            transition(None, Input::ApiCall),
            Outcome::Orphan(
                FlowKind::Unlinked,
                Phase::Calling,
                Orphan::CallWithoutIssuance
            )
        );
        assert_eq!(
            transition(None, Input::ResultTokens),
            Outcome::Orphan(
                FlowKind::UserLogin,
                Phase::TokensIssued,
                Orphan::ResultWithoutAuthorize
            )
        );
    }

    #[test]
    fn failed_client_credentials_then_success_advances() {
        assert_eq!(
            transition(None, Input::ClientCredentials { ok: false }),
            Outcome::Open(FlowKind::ClientCredentials, Phase::GrantFailed)
        );
        assert_eq!(
            transition(
                Some(Phase::GrantFailed),
                Input::ClientCredentials { ok: true }
            ),
            Outcome::Advance(Phase::TokensIssued)
        );
    }

    #[test]
    fn unjoined_events_are_ignored_in_every_phase() {
        for p in [None, Some(Phase::Calling), Some(Phase::Authorizing)] {
            assert_eq!(transition(p, Input::Unjoined), Outcome::Ignore);
        }
    }
}
