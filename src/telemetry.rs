//! Metric names and label enums, in one place (DESIGN.md §4 "Metrics").
