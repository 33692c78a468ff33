//! Flows → Findings: one file per rule. Placeholder; the rules work fills it in.

use crate::model::Severity;

/// Static description of a rule, for `authtap rules` and the docs.
#[derive(Debug, Clone, Copy)]
pub struct RuleInfo {
    pub id: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
}

/// Every rule, in DESIGN.md §4 order.
pub const RULES: &[RuleInfo] = &[];
