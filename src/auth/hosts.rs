//! Which hosts are Auth0 tenants: `<tenant>.auth0.com`, `<tenant>.<region>.auth0.com` and the
//! custom domains given with `--tenant`.
//!
//! Owns host normalisation (case, port, trailing dot, IPv6 brackets) and the tenant test. Must not
//! guess custom domains from paths (auth0-facts.md §6 notes that would need path heuristics; we
//! only trust `--tenant`). Known limits: Auth0's own service hosts on `auth0.com` (dashboard, CDN,
//! Guardian, edge origins) are not tenants and are rejected by name.

/// Public-cloud locality labels (auth0-facts.md §6).
pub const REGIONS: &[&str] = &["us", "eu", "au", "jp", "uk", "ca"];

/// First labels under `auth0.com` that are Auth0 services, not tenants.
const SERVICE_LABELS: &[&str] = &[
    "www",
    "manage",
    "cdn",
    "support",
    "community",
    "marketplace",
    "status",
    "guardian",
    "edge",
];

/// Lowercase host without port, trailing dot or IPv6 brackets.
pub fn normalize(host: &str) -> String {
    let host = host.trim();
    let host = if let Some(rest) = host.strip_prefix('[') {
        // [::1]:443 → ::1
        rest.split(']').next().unwrap_or(rest)
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        }
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Tenant names: lowercase alphanumerics and hyphens, 1–63 chars, no leading/trailing hyphen
/// (auth0-facts.md §6 says 3–63; we accept shorter names seen in old tenants).
fn is_tenant_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// `<tenant>.auth0.com` or `<tenant>.<region>.auth0.com` (already normalised).
pub fn is_auth0_cloud_host(host: &str) -> bool {
    let Some(prefix) = host.strip_suffix(".auth0.com") else {
        return false;
    };
    // One label, or a tenant and a region label (no allocation: this runs per exchange).
    let tenant = match prefix.split_once('.') {
        None => prefix,
        Some((tenant, region)) if REGIONS.contains(&region) => tenant,
        Some(_) => return false,
    };
    is_tenant_label(tenant) && !SERVICE_LABELS.contains(&tenant)
}

/// The configured custom domains plus `*.auth0.com`.
#[derive(Debug, Clone, Default)]
pub struct TenantHosts {
    custom: Vec<String>,
}

impl TenantHosts {
    /// `tenants` may carry ports, schemes or upper case; they are normalised.
    pub fn new(tenants: &[String]) -> Self {
        let custom = tenants
            .iter()
            .map(|t| {
                let t = t.trim();
                let t = t
                    .strip_prefix("https://")
                    .or_else(|| t.strip_prefix("http://"))
                    .unwrap_or(t);
                normalize(t.split('/').next().unwrap_or(t))
            })
            .filter(|t| !t.is_empty())
            .collect();
        Self { custom }
    }

    pub fn is_tenant(&self, host: &str) -> bool {
        let h = normalize(host);
        is_auth0_cloud_host(&h) || self.custom.contains(&h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_and_legacy_cloud_hosts() {
        let t = TenantHosts::new(&[]);
        for h in [
            "dev-x.us.auth0.com",
            "market.au.auth0.com",
            "civboards.ca.auth0.com",
            "loveboard.uk.auth0.com",
            "dev-abc.eu.auth0.com",
            "dev-jp1.jp.auth0.com",
            "sandrino-dev.auth0.com",
            "DEV-X.US.AUTH0.COM:443",
            "dev-x.us.auth0.com.",
        ] {
            assert!(t.is_tenant(h), "{h}");
        }
    }

    #[test]
    fn non_tenants_rejected() {
        let t = TenantHosts::new(&[]);
        for h in [
            "auth0.com",
            "manage.auth0.com",
            "cdn.us.auth0.com",
            "x.guardian.auth0.com",
            "dev-x.zz.auth0.com",
            "a.b.us.auth0.com",
            "evil-auth0.com",
            "dev-x.us.auth0.com.evil.example",
            "localhost:3000",
            "",
        ] {
            assert!(!t.is_tenant(h), "{h}");
        }
    }

    #[test]
    fn custom_domains_exact_case_insensitive_port_ignored() {
        let t = TenantHosts::new(&[
            "Login.Northwind.com".into(),
            "https://id.example:8443/".into(),
        ]);
        assert!(t.is_tenant("login.northwind.com"));
        assert!(t.is_tenant("LOGIN.NORTHWIND.COM:443"));
        assert!(t.is_tenant("id.example"));
        assert!(!t.is_tenant("x.login.northwind.com"));
        assert!(!t.is_tenant("northwind.com"));
    }

    #[test]
    fn normalize_handles_ipv6_and_ports() {
        assert_eq!(normalize("[::1]:8443"), "::1");
        assert_eq!(normalize("Example.COM:80"), "example.com");
    }
}
