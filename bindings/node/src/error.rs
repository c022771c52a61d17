//! Errors crossing into JavaScript. Every failure becomes a JS `Error` whose `code` is the
//! core's stable code (`parse_error`, `invalid_event`, `id_conflict`, …); compile errors also
//! carry 1-based `line` and `column`. [`Failure::into_napi`] is the one place a JS error is
//! built; nothing else formats error text for JavaScript.

use napi::bindgen_prelude::{JsObjectValue, Object, ToNapiValue};
use napi::{sys, Env, JsValue};
use serde_json::Value as Json;
use std::borrow::Cow;

/// Codes the binding itself uses, for input the core never sees.
pub const INVALID_ARGUMENT: &str = "invalid_argument";
pub const INVALID_CONFIG: &str = "invalid_config";
pub const INTERNAL: &str = "internal";

/// A failure on its way to JavaScript.
#[derive(Debug)]
pub struct Failure {
    pub code: Cow<'static, str>,
    pub message: String,
    /// 1-based position of a compile error.
    pub position: Option<(usize, usize)>,
    /// Index of the failing item in a batch (`addMany`, `processMany`).
    pub index: Option<usize>,
    /// Extra properties for the JS error (batch results), as JSON.
    pub extra: Vec<(&'static str, Json)>,
}

pub type Outcome<T> = Result<T, Failure>;

impl Failure {
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Failure { code: code.into(), message: message.into(), position: None, index: None, extra: Vec::new() }
    }

    pub fn argument(message: impl Into<String>) -> Self {
        Failure::new(INVALID_ARGUMENT, message)
    }

    pub fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }

    pub fn with(mut self, key: &'static str, value: Json) -> Self {
        self.extra.push((key, value));
        self
    }

    /// A napi error met while reading an argument, reported under `code`.
    pub fn napi(code: &'static str, context: &str, e: napi::Error) -> Self {
        Failure::new(code, format!("{context}: {}", e.reason))
    }

    pub fn from_panic(payload: Box<dyn std::any::Any + Send>) -> Self {
        let what = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        Failure::new(INTERNAL, format!("internal error in celmatch (please report): {what}"))
    }

    /// Builds the JS `Error` (with `code`, and `line`/`column`/`index`/extras when known)
    /// and wraps it so napi throws exactly that object.
    pub fn into_napi(self, env: &Env) -> napi::Error {
        match self.build(env) {
            Ok(obj) => napi::Error::from(obj.to_unknown()),
            // Could not even allocate the error object: fall back to napi's own.
            Err(e) => napi::Error::new(napi::Status::GenericFailure, format!("{}: {} ({})", self.code, self.message, e.reason)),
        }
    }

    fn build<'e>(&self, env: &'e Env) -> napi::Result<Object<'e>> {
        let raw_env = env.raw();
        let code = unsafe { <&str as ToNapiValue>::to_napi_value(raw_env, &self.code)? };
        let msg = unsafe { <&str as ToNapiValue>::to_napi_value(raw_env, &self.message)? };
        let mut raw = std::ptr::null_mut();
        let status = unsafe { sys::napi_create_error(raw_env, code, msg, &mut raw) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(napi::Status::from(status), "napi_create_error failed".to_owned()));
        }
        let mut obj = Object::from_raw(raw_env, raw);
        if let Some((line, column)) = self.position {
            obj.set_named_property("line", line as u32)?;
            obj.set_named_property("column", column as u32)?;
        }
        if let Some(i) = self.index {
            obj.set_named_property("index", i as u32)?;
        }
        for (key, value) in &self.extra {
            obj.set_named_property(key, value)?;
        }
        Ok(obj)
    }
}

impl From<celmatch::Error> for Failure {
    fn from(e: celmatch::Error) -> Self {
        let mut f = Failure::new(e.code(), e.message());
        f.position = e.compile_error().map(|c| (c.line(), c.column()));
        f
    }
}

impl From<celmatch::CompileError> for Failure {
    fn from(e: celmatch::CompileError) -> Self {
        celmatch::Error::from(e).into()
    }
}

impl From<celmatch::EvalError> for Failure {
    fn from(e: celmatch::EvalError) -> Self {
        Failure::new(e.code(), e.message())
    }
}

/// Runs a binding method: panics become `internal` errors instead of aborting the process,
/// failures become JS errors.
pub fn run<T>(env: &Env, f: impl FnOnce() -> Outcome<T>) -> napi::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(failure)) => Err(failure.into_napi(env)),
        Err(payload) => Err(Failure::from_panic(payload).into_napi(env)),
    }
}
