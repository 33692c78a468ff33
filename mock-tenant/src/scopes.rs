//! Management API scope table for the endpoints the mock serves.
//!
//! Owns: a small table derived from `../shared/reference/auth0-management-scopes.json`
//! (itself extracted from MGMT-OAS, auth0-facts.md §1.1/§1.2), the list of current_user
//! scopes a *user* token may carry (§1.3), and the 403 message format (§2.3).
//! Must not invent endpoints. Limits: only the `/api/v2/users` family is covered; the
//! test `table_matches_reference_json` checks every row against the reference file.

/// One served operation: method, path template, accepted scopes (alternatives, in the
/// reference file's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeRow {
    pub method: &'static str,
    pub path: &'static str,
    pub scopes: &'static [&'static str],
}

/// Derived from auth0-management-scopes.json (rows `get_users`, `get_users_by_id`,
/// `patch_users_by_id`, `delete_users_by_id`).
pub const SERVED: &[ScopeRow] = &[
    ScopeRow {
        method: "GET",
        path: "/api/v2/users",
        scopes: &["read:users", "read:user_idp_tokens"],
    },
    ScopeRow {
        method: "GET",
        path: "/api/v2/users/{id}",
        scopes: &["read:users", "read:current_user", "read:user_idp_tokens"],
    },
    ScopeRow {
        method: "PATCH",
        path: "/api/v2/users/{id}",
        scopes: &[
            "update:users",
            "update:users_app_metadata",
            "update:current_user_metadata",
        ],
    },
    ScopeRow {
        method: "DELETE",
        path: "/api/v2/users/{id}",
        scopes: &["delete:users", "delete:current_user"],
    },
];

/// Scopes a user-context Management API token can be granted: the six `*current_user*`
/// scopes of MGMT-OAS plus `create:`/`delete:current_user_metadata` from the auth0.js docs
/// (auth0-facts.md §1.3, "keep both sets").
pub const CURRENT_USER_SCOPES: &[&str] = &[
    "read:current_user",
    "delete:current_user",
    "create:current_user_device_credentials",
    "delete:current_user_device_credentials",
    "update:current_user_identities",
    "update:current_user_metadata",
    "create:current_user_metadata",
    "delete:current_user_metadata",
];

/// OIDC scopes the tenant grants to any user flow (auth0-facts.md §3.3 `scopes_supported`).
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

pub fn lookup(method: &str, template: &str) -> Option<&'static ScopeRow> {
    SERVED
        .iter()
        .find(|r| r.method.eq_ignore_ascii_case(method) && r.path == template)
}

/// The live 403 wording: "Insufficient scope, expected any of: a,b" — commas without spaces
/// (auth0-facts.md §2.3, [observed] raster-foundry#2030, auth0-cli#538).
pub fn insufficient_scope_message(row: &ScopeRow) -> String {
    format!(
        "Insufficient scope, expected any of: {}",
        row.scopes.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_message_is_exact() {
        let row = lookup("PATCH", "/api/v2/users/{id}").expect("served");
        assert_eq!(
            insufficient_scope_message(row),
            "Insufficient scope, expected any of: update:users,update:users_app_metadata,update:current_user_metadata"
        );
    }

    #[test]
    #[allow(clippy::print_stderr)] // the skip notice required when ../shared is absent
    fn table_matches_reference_json() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/reference/auth0-management-scopes.json"
        );
        let alt = "/work/shared/reference/auth0-management-scopes.json";
        let text = match std::fs::read_to_string(path).or_else(|_| std::fs::read_to_string(alt)) {
            Ok(t) => t,
            Err(_) => {
                eprintln!("skipping: ../shared/reference/auth0-management-scopes.json missing");
                return;
            }
        };
        let rows: Vec<serde_json::Value> = serde_json::from_str(&text).expect("reference JSON");
        for row in SERVED {
            let found = rows
                .iter()
                .find(|r| r["method"] == row.method && r["path"] == row.path)
                .unwrap_or_else(|| panic!("{} {} missing in reference", row.method, row.path));
            let scopes: Vec<&str> = found["scopes"]
                .as_array()
                .expect("scopes array")
                .iter()
                .filter_map(|s| s.as_str())
                .collect();
            assert_eq!(scopes, row.scopes, "{} {}", row.method, row.path);
        }
    }
}
