//! Resolved, validated settings built from the CLI: files opened, addresses parsed, caps set.
