//! Renders gathered metric families as Prometheus text 0.0.4 or OpenMetrics 1.0.0, and writes
//! the node_exporter textfile-collector file.
//!
//! Owns: the exposition byte format (escaping, histogram `_bucket/_sum/_count`, OpenMetrics
//! family names without `_total`, `# UNIT`, the `info` type for `*_info`, the final `# EOF`).
//! Must not: decide names or labels (that is `crate::telemetry`) or read any clock (no sample
//! timestamps are written).
//! Known limits: summaries are not used by authtap and are rendered as `unknown` in OpenMetrics.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ::prometheus::proto::{MetricFamily, MetricType};

use super::Metrics;

pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
pub const CONTENT_TYPE_OPENMETRICS: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Why the textfile could not be written; each variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum TextfileError {
    #[error("creating temporary metrics file {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing temporary metrics file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("renaming {from} to {to}: {source}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
    #[error("metrics file path {path} has no file name")]
    NoFileName { path: PathBuf },
}

/// Writes `metrics` in text format 0.0.4 to `path` atomically: a temporary file in the same
/// directory (so node_exporter never reads a half-written file), fsync, then rename.
pub fn write_textfile(metrics: &Metrics, path: &Path) -> Result<(), TextfileError> {
    let name = path.file_name().ok_or_else(|| TextfileError::NoFileName {
        path: path.to_path_buf(),
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".tmp.{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let text = metrics.render(false);
    let mut file = std::fs::File::create(&tmp).map_err(|source| TextfileError::Create {
        path: tmp.clone(),
        source,
    })?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    if let Err(source) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(TextfileError::Write { path: tmp, source });
    }
    drop(file);
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        TextfileError::Rename {
            from: tmp.clone(),
            to: path.to_path_buf(),
            source,
        }
    })
}

/// Renders families; `openmetrics` selects OpenMetrics 1.0.0 (ending in `# EOF`).
pub fn render(families: &[MetricFamily], openmetrics: bool) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for mf in families {
        if mf.get_metric().is_empty() {
            continue;
        }
        if openmetrics {
            render_family_om(&mut out, mf);
        } else {
            render_family_text(&mut out, mf);
        }
    }
    if openmetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn render_family_text(out: &mut String, mf: &MetricFamily) {
    let name = mf.get_name();
    let ty = match mf.get_field_type() {
        MetricType::COUNTER => "counter",
        MetricType::GAUGE => "gauge",
        MetricType::HISTOGRAM => "histogram",
        MetricType::SUMMARY => "summary",
        MetricType::UNTYPED => "untyped",
    };
    let _ = writeln!(out, "# HELP {name} {}", escape_help(mf.get_help(), false));
    let _ = writeln!(out, "# TYPE {name} {ty}");
    render_samples(out, mf, name, false);
}

fn render_family_om(out: &mut String, mf: &MetricFamily) {
    let name = mf.get_name();
    let (family, ty) = match mf.get_field_type() {
        MetricType::COUNTER => (name.strip_suffix("_total").unwrap_or(name), "counter"),
        MetricType::GAUGE if is_info(mf) => (name.strip_suffix("_info").unwrap_or(name), "info"),
        MetricType::GAUGE => (name, "gauge"),
        MetricType::HISTOGRAM => (name, "histogram"),
        MetricType::SUMMARY => (name, "summary"),
        MetricType::UNTYPED => (name, "unknown"),
    };
    let _ = writeln!(out, "# TYPE {family} {ty}");
    if let Some(unit) = ["seconds", "bytes"]
        .into_iter()
        .find(|u| family.ends_with(&format!("_{u}")))
    {
        let _ = writeln!(out, "# UNIT {family} {unit}");
    }
    let _ = writeln!(out, "# HELP {family} {}", escape_help(mf.get_help(), true));
    render_samples(out, mf, name, true);
}

/// A `*_info` gauge whose every value is 1 is an OpenMetrics Info family.
fn is_info(mf: &MetricFamily) -> bool {
    mf.get_name().ends_with("_info")
        && mf
            .get_metric()
            .iter()
            .all(|m| m.get_gauge().get_value() == 1.0)
}

fn render_samples(out: &mut String, mf: &MetricFamily, name: &str, om: bool) {
    for m in mf.get_metric() {
        let labels = m.get_label();
        match mf.get_field_type() {
            MetricType::COUNTER => {
                sample(out, name, "", labels, None, m.get_counter().get_value(), om)
            }
            MetricType::GAUGE => sample(out, name, "", labels, None, m.get_gauge().get_value(), om),
            // authtap registers no untyped families; kept for completeness.
            #[allow(deprecated)]
            MetricType::UNTYPED => {
                sample(out, name, "", labels, None, m.get_untyped().get_value(), om)
            }
            MetricType::HISTOGRAM => {
                let h = m.get_histogram();
                let mut saw_inf = false;
                for b in h.get_bucket() {
                    let ub = b.get_upper_bound();
                    saw_inf |= ub.is_infinite();
                    let le = format_float(ub, om);
                    sample(
                        out,
                        name,
                        "_bucket",
                        labels,
                        Some(&le),
                        b.get_cumulative_count() as f64,
                        om,
                    );
                }
                if !saw_inf {
                    sample(
                        out,
                        name,
                        "_bucket",
                        labels,
                        Some("+Inf"),
                        h.get_sample_count() as f64,
                        om,
                    );
                }
                if om {
                    sample(
                        out,
                        name,
                        "_count",
                        labels,
                        None,
                        h.get_sample_count() as f64,
                        om,
                    );
                    sample(out, name, "_sum", labels, None, h.get_sample_sum(), om);
                } else {
                    sample(out, name, "_sum", labels, None, h.get_sample_sum(), om);
                    sample(
                        out,
                        name,
                        "_count",
                        labels,
                        None,
                        h.get_sample_count() as f64,
                        om,
                    );
                }
            }
            MetricType::SUMMARY => {
                let s = m.get_summary();
                for q in s.get_quantile() {
                    let mut ls = String::new();
                    write_labels(
                        &mut ls,
                        labels,
                        Some(("quantile", &format_float(q.get_quantile(), om))),
                    );
                    let _ = writeln!(out, "{name}{ls} {}", format_float(q.get_value(), om));
                }
                sample(out, name, "_sum", labels, None, s.get_sample_sum(), om);
                sample(
                    out,
                    name,
                    "_count",
                    labels,
                    None,
                    s.get_sample_count() as f64,
                    om,
                );
            }
        }
    }
}

fn sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[::prometheus::proto::LabelPair],
    le: Option<&str>,
    value: f64,
    om: bool,
) {
    out.push_str(name);
    out.push_str(suffix);
    write_labels(out, labels, le.map(|v| ("le", v)));
    out.push(' ');
    out.push_str(&format_float(value, om && suffix == "_sum"));
    out.push('\n');
}

fn write_labels(
    out: &mut String,
    labels: &[::prometheus::proto::LabelPair],
    extra: Option<(&str, &str)>,
) {
    if labels.is_empty() && extra.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    let pairs = labels
        .iter()
        .map(|l| (l.get_name(), l.get_value()))
        .chain(extra);
    for (k, v) in pairs {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        escape_label_into(out, v);
        out.push('"');
    }
    out.push('}');
}

fn escape_label_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(help: &str, om: bool) -> String {
    let mut s = String::with_capacity(help.len());
    for c in help.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '"' if om => s.push_str("\\\""),
            c => s.push(c),
        }
    }
    s
}

/// Go-compatible float text: `+Inf`, `-Inf`, `NaN`, integers without a fraction in text
/// format. With `point` (OpenMetrics floats such as `le` and `_sum`), integers get `.0`.
fn format_float(v: f64, point: bool) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if point && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_render_like_go() {
        assert_eq!(format_float(1.0, false), "1");
        assert_eq!(format_float(1.0, true), "1.0");
        assert_eq!(format_float(0.005, true), "0.005");
        assert_eq!(format_float(f64::INFINITY, false), "+Inf");
        assert_eq!(format_float(f64::NAN, true), "NaN");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        escape_label_into(&mut s, "a\"b\\c\nd");
        assert_eq!(s, "a\\\"b\\\\c\\nd");
        assert_eq!(escape_help("x \"y\"\n", true), "x \\\"y\\\"\\n");
        assert_eq!(escape_help("x \"y\"\n", false), "x \"y\"\\n");
    }
}
