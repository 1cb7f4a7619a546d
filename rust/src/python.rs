//! The thin `PyO3` binding layer: converts Python arguments, releases the GIL for the batch work and
//! converts results back. No algorithm lives here.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::fingerprint::{self, Identity};

fn identity_of(item: &Bound<'_, PyAny>) -> PyResult<Identity> {
    if let Ok(dict) = item.cast::<PyDict>() {
        let mut labels = Vec::with_capacity(dict.len());
        for (k, v) in dict.iter() {
            labels.push((k.extract::<String>()?, v.extract::<String>()?));
        }
        return Ok(Identity::Labels(labels));
    }
    if let Ok(tuple) = item.cast::<PyTuple>() {
        if tuple.len() == 2 {
            return Ok(Identity::Key {
                scope: tuple.get_item(0)?.extract::<String>()?,
                key: tuple.get_item(1)?.extract::<String>()?,
            });
        }
    }
    Err(PyTypeError::new_err(
        "each item must be a dict[str, str] of labels or a (scope, key) tuple of str",
    ))
}

/// Fingerprints a batch of alert identities in one call, in order.
///
/// Each item is either a `dict[str, str]` label set (Alertmanager's FNV-1a 64 label fingerprint,
/// 16 hex digits) or a `(scope, key)` tuple for an explicit dedup key (SHA-256 of
/// `scope 0x00 key`, 64 hex digits). The hashing runs with the GIL released.
#[pyfunction]
fn fingerprint_batch(py: Python<'_>, items: &Bound<'_, PyList>) -> PyResult<Vec<String>> {
    let mut identities = Vec::with_capacity(items.len());
    for item in items.iter() {
        identities.push(identity_of(&item)?);
    }
    Ok(py.detach(move || fingerprint::fingerprint_batch(identities)))
}

/// Alertmanager's fingerprint of one label set, as 16 hex digits.
#[pyfunction]
fn label_fingerprint(labels: &Bound<'_, PyDict>) -> PyResult<String> {
    let mut pairs = Vec::with_capacity(labels.len());
    for (k, v) in labels.iter() {
        pairs.push((k.extract::<String>()?, v.extract::<String>()?));
    }
    Ok(fingerprint::format_label_fingerprint(
        fingerprint::label_fingerprint(&mut pairs),
    ))
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
