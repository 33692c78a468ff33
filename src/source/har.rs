//! HAR 1.2 reader. Placeholder; the HAR work fills it in.
