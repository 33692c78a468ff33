//! Offline Auth0 tenant (placeholder; filled by the mock-tenant work).
