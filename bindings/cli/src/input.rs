//! Reading input: whole JSON documents and NDJSON lines, from files or stdin (`-`), with a
//! size cap so a huge input is an error, not an out-of-memory crash.

use crate::report::CliError;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

pub fn is_stdin(p: &Path) -> bool {
    p.as_os_str() == "-"
}

pub fn describe(p: &Path) -> String {
    if is_stdin(p) {
        "<stdin>".into()
    } else {
        p.display().to_string()
    }
}

/// Fails when more than one of `paths` is `-`.
pub fn one_stdin(paths: &[(&str, &PathBuf)]) -> Result<(), CliError> {
    let names: Vec<_> = paths.iter().filter(|(_, p)| is_stdin(p)).map(|(n, _)| if n.chars().all(|c| c.is_ascii_uppercase()) { n.to_string() } else { format!("--{n}") }).collect();
    if names.len() > 1 {
        return Err(CliError::usage(format!("only one input can be read from stdin, but {} are `-`", names.join(" and "))));
    }
    Ok(())
}

pub fn open(p: &Path) -> Result<Box<dyn BufRead>, CliError> {
    if is_stdin(p) {
        Ok(Box::new(BufReader::with_capacity(1 << 16, io::stdin())))
    } else {
        let f = File::open(p).map_err(|e| CliError::io(&format!("cannot open {}", describe(p)), &e))?;
        Ok(Box::new(BufReader::with_capacity(1 << 16, f)))
    }
}

/// Reads a whole file (or stdin) of at most `cap` bytes.
pub fn read_capped(p: &Path, cap: usize, code: &str) -> Result<Vec<u8>, CliError> {
    let r = open(p)?;
    let mut buf = Vec::new();
    r.take(cap as u64 + 1).read_to_end(&mut buf).map_err(|e| CliError::io(&format!("cannot read {}", describe(p)), &e))?;
    if buf.len() > cap {
        return Err(CliError::new(code, format!("{} is over the limit of {cap} bytes", describe(p))));
    }
    Ok(buf)
}

pub fn json_error(e: &serde_json::Error, what: &str, code: &str) -> CliError {
    // serde's text ends with " at line L column C"; the position goes into its own fields.
    let full = e.to_string();
    let text = full.strip_suffix(&format!(" at line {} column {}", e.line(), e.column())).unwrap_or(&full);
    let msg = match e.classify() {
        serde_json::error::Category::Eof => format!("{what} is truncated: {text}"),
        _ => format!("{what} is not valid JSON: {text}"),
    };
    let mut err = CliError::new(code, msg);
    if e.line() > 0 {
        err.line = Some(e.line());
        err.column = Some(e.column());
    }
    err
}

/// One line of an NDJSON input.
pub enum Line {
    Text(Vec<u8>),
    /// Longer than the cap; holds the length. The line is skipped, not kept in memory.
    TooLong(usize),
}

/// NDJSON lines with 1-based line numbers; lines over `cap` bytes are not buffered.
pub struct Lines {
    reader: Box<dyn BufRead>,
    cap: usize,
    line_no: usize,
    done: bool,
}

impl Lines {
    pub fn new(reader: Box<dyn BufRead>, cap: usize) -> Self {
        Lines { reader, cap, line_no: 0, done: false }
    }

    /// The next line and its number, or `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<(usize, Line)>> {
        if self.done {
            return Ok(None);
        }
        let mut buf = Vec::new();
        let mut len = 0usize;
        let mut any = false;
        loop {
            let chunk = match self.reader.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                self.done = true;
                if !any {
                    return Ok(None);
                }
                break;
            }
            any = true;
            let (part, used, end) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (&chunk[..i], i + 1, true),
                None => (chunk, chunk.len(), false),
            };
            len += part.len();
            if len <= self.cap {
                buf.extend_from_slice(part);
            } else if !buf.is_empty() {
                buf = Vec::new();
            }
            self.reader.consume(used);
            if end {
                break;
            }
        }
        self.line_no += 1;
        if len > self.cap {
            return Ok(Some((self.line_no, Line::TooLong(len))));
        }
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
        Ok(Some((self.line_no, Line::Text(buf))))
    }
}

pub fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}
