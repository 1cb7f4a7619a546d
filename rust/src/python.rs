//! The thin `PyO3` binding layer: converts Python arguments, releases the GIL for the batch work and
//! converts results back. No algorithm lives here.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::fingerprint::{self, Batch};

const ITEM_ERROR: &str =
    "each item must be a dict[str, str] of labels or a (scope, key) tuple of str";

fn utf8<'a>(value: &'a Bound<'_, PyAny>) -> PyResult<&'a str> {
    value
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(ITEM_ERROR))?
        .to_str()
}

fn push_item(batch: &mut Batch, item: &Bound<'_, PyAny>) -> PyResult<()> {
    if let Ok(dict) = item.cast::<PyDict>() {
        batch.begin_labels();
        for (name, value) in dict.iter() {
            batch.push_label(utf8(&name)?.as_bytes(), utf8(&value)?.as_bytes());
        }
        return Ok(());
    }
    if let Ok(tuple) = item.cast::<PyTuple>() {
        if tuple.len() == 2 {
            let scope = tuple.get_item(0)?;
            let key = tuple.get_item(1)?;
            batch.push_key(utf8(&scope)?.as_bytes(), utf8(&key)?.as_bytes());
            return Ok(());
        }
    }
    Err(PyTypeError::new_err(ITEM_ERROR))
}

/// Fingerprints a batch of alert identities in one call, in order.
///
/// Each item is either a `dict[str, str]` label set (Alertmanager's FNV-1a 64 label fingerprint,
/// 16 hex digits) or a `(scope, key)` tuple for an explicit dedup key (SHA-256 of
/// `scope 0x00 key`, 64 hex digits). The batch is copied into one buffer, then hashed with the GIL
/// released.
#[pyfunction]
fn fingerprint_batch(py: Python<'_>, items: &Bound<'_, PyList>) -> PyResult<Vec<String>> {
    let mut batch = Batch::with_capacity(items.len(), items.len() * 160);
    for item in items.iter() {
        push_item(&mut batch, &item)?;
    }
    Ok(py.detach(move || batch.fingerprints()))
}

/// Alertmanager's fingerprint of one label set, as 16 hex digits.
#[pyfunction]
fn label_fingerprint(labels: &Bound<'_, PyDict>) -> PyResult<String> {
    let mut batch = Batch::with_capacity(1, 160);
    push_item(&mut batch, labels.as_any())?;
    Ok(batch.fingerprints().swap_remove(0))
}

/// SHA-256 of an explicit dedup key within its scope, as 64 hex digits.
#[pyfunction]
fn key_fingerprint(scope: &str, key: &str) -> String {
    fingerprint::key_fingerprint(scope, key)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(fingerprint_batch, m)?)?;
    m.add_function(wrap_pyfunction!(label_fingerprint, m)?)?;
    m.add_function(wrap_pyfunction!(key_fingerprint, m)?)?;
    Ok(())
}
