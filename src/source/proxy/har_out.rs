//! `--har-out` for the proxy: a HAR file (written by `sink::har::HarWriter`) that is a complete,
//! valid document after every checkpoint, so a long run can be read while it goes on and a
//! crash loses at most the last flush period.
//!
//! How: at each checkpoint (timer, shutdown) the closing `]}}` trailer is written and flushed,
//! then the file position is moved back before it; the next entry overwrites it (an entry is
//! always longer than the trailer). Owns only that file handle. Must not write anything that has
//! not passed the redactor (HarWriter does the redaction). Known limit: the HAR holds every
//! exchange of the run on disk (not in memory); rotate by restarting with a new file.

use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::live::HarSink;
use crate::model::Exchange;
use crate::redact::Redactor;
use crate::sink::har::HarWriter;

/// The trailer `HarWriter::finish` writes; repeated here so checkpoints close the same way.
const TRAILER: &[u8] = b"\n]}}\n";

#[derive(Clone)]
struct Shared(Arc<Mutex<BufWriter<File>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("HAR writer lock poisoned"))?
            .write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0
            .lock()
            .map_err(|_| io::Error::other("HAR writer lock poisoned"))?
            .flush()
    }
}

pub struct HarFile {
    writer: Option<HarWriter<Shared>>,
    file: Shared,
}

impl HarFile {
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = Shared(Arc::new(Mutex::new(BufWriter::new(
            crate::sink::private_file::create(path)?,
        ))));
        let writer = HarWriter::new(file.clone())?;
        let mut this = Self {
            writer: Some(writer),
            file,
        };
        this.checkpoint()?;
        Ok(this)
    }

    pub fn entries(&self) -> u64 {
        self.writer.as_ref().map(|w| w.entries()).unwrap_or(0)
    }
}

impl HarSink for HarFile {
    fn add(&mut self, ex: &Exchange, redactor: &Redactor) -> io::Result<()> {
        match self.writer.as_mut() {
            Some(w) => w.write(ex, redactor),
            None => Err(io::Error::other("HAR already finished")),
        }
    }

    fn checkpoint(&mut self) -> io::Result<()> {
        if self.writer.is_none() {
            return Ok(());
        }
        let mut f = self
            .file
            .0
            .lock()
            .map_err(|_| io::Error::other("HAR writer lock poisoned"))?;
        f.write_all(TRAILER)?;
        f.flush()?;
        f.seek(SeekFrom::Current(-(TRAILER.len() as i64)))?;
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        match self.writer.take() {
            Some(w) => w.finish().map(|_| ()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Request, Response};

    fn ex(i: usize) -> Exchange {
        Exchange {
            index: i,
            request: Request {
                method: "GET".into(),
                url: format!("https://t.auth0.com/userinfo?i={i}"),
                http_version: "HTTP/1.1".into(),
                ..Request::default()
            },
            response: Some(Response {
                status: 200,
                ..Response::default()
            }),
            ..Exchange::default()
        }
    }

    fn entries(path: &Path) -> usize {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("valid HAR");
        v["log"]["entries"].as_array().expect("entries").len()
    }

    #[test]
    fn file_is_valid_after_every_checkpoint_and_at_the_end() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("out.har");
        let r = Redactor::new(false);
        let mut h = HarFile::create(&path).expect("create");
        assert_eq!(entries(&path), 0);
        h.add(&ex(0), &r).expect("add");
        h.checkpoint().expect("checkpoint");
        assert_eq!(entries(&path), 1);
        h.add(&ex(1), &r).expect("add");
        h.add(&ex(2), &r).expect("add");
        h.checkpoint().expect("checkpoint");
        assert_eq!(entries(&path), 3);
        h.add(&ex(3), &r).expect("add");
        h.finish().expect("finish");
        assert_eq!(entries(&path), 4);
        assert_eq!(h.entries(), 0);
    }
}
