//! `authtap scopes METHOD PATH`: which scopes a Management API endpoint accepts.
//!
//! Owns turning the user's METHOD/PATH (a concrete path such as `/api/v2/users/auth0|123`, a
//! template, a full URL, or a path without the `/api/v2` prefix) into the catalogue entry and
//! explaining it: template, accepted scopes, any/all semantics, and the `current_user`
//! alternative for user-context tokens (auth0-facts.md §1.3). Unknown endpoints are an error
//! (exit 2) that names the methods the path does support, if any. Must not read `../shared`.
//! Known limits: the catalogue is the 2026-06 spec snapshot (§1.1).

use std::io::Write;

use crate::auth::scopes::{catalogue, Semantics};
use crate::cli::ScopesArgs;

/// current_user scopes that Auth0's docs list for an endpoint but the spec does not
/// (auth0-facts.md §1.3, migration matrix and auth0.js page). Shown as a note.
const DOC_ONLY_CURRENT_USER: &[(&str, &str, &str)] = &[
    (
        "PATCH",
        "/api/v2/users/{id}",
        "create:current_user_metadata",
    ),
    (
        "DELETE",
        "/api/v2/users/{id}/multifactor/{provider}",
        "delete:current_user_metadata",
    ),
];

fn normalize_path(p: &str) -> String {
    let p = p.trim();
    let p = match p.split_once("://") {
        Some((_, rest)) => rest.find('/').and_then(|i| rest.get(i..)).unwrap_or("/"),
        None => p,
    };
    let p = p.split(['?', '#']).next().unwrap_or(p);
    let p = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    if p.starts_with("/api/v2") {
        p
    } else {
        format!("/api/v2{p}")
    }
}

pub fn run(args: &ScopesArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let method = args.method.trim().to_ascii_uppercase();
    let path = normalize_path(&args.path);
    let cat = catalogue();
    let Some(m) = cat.lookup(&method, &path) else {
        let others: Vec<String> = cat
            .methods_for(&path)
            .iter()
            .map(|o| format!("{} {}", o.method, o.template))
            .collect();
        if others.is_empty() {
            anyhow::bail!(
                "unknown endpoint: {method} {path} is not in the Management API scope catalogue ({} operations, Auth0 OpenAPI spec of 2026-06-25)",
                cat.operations().len()
            );
        }
        anyhow::bail!(
            "unknown endpoint: {method} {path}; that path supports: {}",
            others.join(", ")
        );
    };
    let op = m.op;
    writeln!(out, "{} {}", op.method, op.template)?;
    if !m.params.is_empty() {
        let ps: Vec<String> = m.params.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        writeln!(out, "  path parameters: {}", ps.join(", "))?;
    }
    let how = match op.semantics {
        Semantics::Any => "any one of",
        Semantics::All => "all of",
        Semantics::Mixed => "the first, plus any one of the others",
    };
    writeln!(out, "accepts {how}:")?;
    for s in &op.scopes {
        let mark = if s.contains("current_user") {
            "  (current_user: only the signed-in user's own data)"
        } else {
            ""
        };
        writeln!(out, "  {s}{mark}")?;
    }
    let cu = op.current_user_scopes();
    let doc_only: Vec<&str> = DOC_ONLY_CURRENT_USER
        .iter()
        .filter(|(mm, t, _)| *mm == op.method && *t == op.template)
        .map(|(_, _, s)| *s)
        .collect();
    if cu.is_empty() && doc_only.is_empty() {
        writeln!(
            out,
            "current_user alternative: none. A token issued to a signed-in user (SPA, implicit or code flow) cannot call this endpoint; Auth0 only grants such tokens current_user scopes (auth0-facts.md §1.3). Use a machine-to-machine token (client_credentials) from your backend."
        )?;
    } else {
        writeln!(
            out,
            "current_user alternative: a user-context token can use {} — it then acts only on the user the token was issued for (`sub` must equal the {{id}} in the path; auth0-facts.md §1.3).",
            cu.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" or ")
        )?;
        if op.method == "PATCH" && op.template == "/api/v2/users/{id}" {
            writeln!(
                out,
                "  with update:current_user_metadata only `user_metadata` can be changed; app_metadata, email or password need update:users (M2M)."
            )?;
        }
        for s in doc_only {
            writeln!(
                out,
                "  note: Auth0's docs also list `{s}` here, the OpenAPI spec does not (auth0-facts.md §1.3)."
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_s(m: &str, p: &str) -> anyhow::Result<String> {
        let mut out = Vec::new();
        run(
            &ScopesArgs {
                method: m.into(),
                path: p.into(),
            },
            &mut out,
        )?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    #[test]
    fn patch_user_shows_current_user_alternative() {
        let t = run_s("patch", "/api/v2/users/auth0|123").expect("known");
        assert!(t.starts_with("PATCH /api/v2/users/{id}\n"), "{t}");
        assert!(t.contains("id = auth0|123"));
        assert!(t.contains("accepts any one of:"));
        assert!(t.contains("update:users_app_metadata"));
        assert!(t.contains("`update:current_user_metadata`"));
        assert!(t.contains("create:current_user_metadata"));
    }

    #[test]
    fn roles_need_all_and_have_no_current_user() {
        let t = run_s(
            "GET",
            "https://dev-x.us.auth0.com/api/v2/users/auth0%7C1/roles?page=0",
        )
        .expect("known");
        assert!(t.contains("GET /api/v2/users/{id}/roles"));
        assert!(t.contains("accepts all of:"));
        assert!(t.contains("current_user alternative: none"));
        let t = run_s("get", "users-by-email").expect("prefix added");
        assert!(t.contains("/api/v2/users-by-email"));
    }

    #[test]
    fn unknown_endpoints_are_errors() {
        let e = run_s("GET", "/api/v2/nope").expect_err("unknown");
        assert!(e
            .to_string()
            .contains("not in the Management API scope catalogue"));
        let e = run_s("PUT", "/api/v2/users/x").expect_err("wrong method");
        assert!(e.to_string().contains("PATCH /api/v2/users/{id}"), "{e}");
    }
}
