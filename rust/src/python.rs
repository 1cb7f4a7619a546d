//! The thin `PyO3` binding layer: converts Python arguments, releases the GIL for the batch work and
//! converts results back. No algorithm lives here.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::fingerprint::{self, Batch};
use std::borrow::Cow;

use crate::{embed, fuzzy, redact, similarity, text};

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

/// The items of a `list[str]`, kept alive so that their UTF-8 can be borrowed with the GIL released
/// (`str` objects are immutable, and these references keep them from being freed).
fn str_items<'py>(list: &Bound<'py, PyList>, what: &str) -> PyResult<Vec<Bound<'py, PyString>>> {
    list.iter()
        .map(|item| {
            item.cast_into::<PyString>()
                .map_err(|_| PyTypeError::new_err(format!("{what} must be a list of str")))
        })
        .collect()
}

fn borrow_strs<'a>(items: &'a [Bound<'_, PyString>]) -> PyResult<Vec<&'a str>> {
    items.iter().map(|item| item.to_str()).collect()
}

/// Normalises alert titles for comparison (rust/src/text.rs gives the rule), in order.
#[pyfunction]
fn normalize_texts(py: Python<'_>, texts: &Bound<'_, PyList>) -> PyResult<Vec<String>> {
    let items = str_items(texts, "texts")?;
    let texts = borrow_strs(&items)?;
    Ok(py.detach(|| text::normalize_all(&texts)))
}

/// `rapidfuzz.fuzz.ratio(a, b) / 100`: the normalised Indel similarity, in 0.0..=1.0.
#[pyfunction]
fn fuzzy_ratio(a: &str, b: &str) -> f64 {
    fuzzy::ratio(a, b)
}

/// `fuzzy_ratio(query, choice)` for each choice, in order, with the GIL released.
#[pyfunction]
fn fuzzy_scores(py: Python<'_>, query: &str, choices: &Bound<'_, PyList>) -> PyResult<Vec<f64>> {
    let items = str_items(choices, "choices")?;
    let choices = borrow_strs(&items)?;
    Ok(py.detach(|| fuzzy::scores(query, &choices)))
}

/// `token_set_ratio(query, choice)` (rust/src/fuzzy.rs) for each choice, in order, with the GIL released.
#[pyfunction]
fn token_set_scores(
    py: Python<'_>,
    query: &str,
    choices: &Bound<'_, PyList>,
) -> PyResult<Vec<f64>> {
    let items = str_items(choices, "choices")?;
    let choices = borrow_strs(&items)?;
    Ok(py.detach(|| fuzzy::token_set_scores(query, &choices)))
}

/// Feature-hashing embeddings (rust/src/embed.rs), `len(texts) * dim` little-endian f32, row-major. The
/// bytes object is allocated first and filled with the GIL released.
#[pyfunction]
#[pyo3(signature = (texts, dim = 256))]
fn embed_texts<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyList>,
    dim: i64,
) -> PyResult<Bound<'py, PyBytes>> {
    let dim = usize::try_from(dim)
        .ok()
        .filter(|d| (embed::MIN_DIM..=embed::MAX_DIM).contains(d))
        .ok_or_else(|| {
            PyValueError::new_err(format!(
                "dim must be in {}..={}, got {dim}",
                embed::MIN_DIM,
                embed::MAX_DIM
            ))
        })?;
    let items = str_items(texts, "texts")?;
    let texts = borrow_strs(&items)?;
    let len = texts.len() * dim * 4;
    PyBytes::new_with(py, len, |buf| {
        py.detach(|| fill_embeddings(&texts, dim, buf));
        Ok(())
    })
}

fn fill_embeddings(texts: &[&str], dim: usize, buf: &mut [u8]) {
    #[cfg(target_endian = "little")]
    if let Ok(out) = bytemuck::try_cast_slice_mut::<u8, f32>(buf) {
        embed::embed_all_into(texts, dim, out);
        return;
    }
    let values = embed::embed_all(texts, dim);
    for (chunk, value) in buf.chunks_exact_mut(4).zip(values) {
        chunk.copy_from_slice(&value.to_le_bytes());
    }
}

/// For each query row, the top `min(k, n)` rows of `matrix` by dot product (rust/src/similarity.rs), as
/// `(row, score)` best first, ties by lower row. The search runs with the GIL released.
#[pyfunction]
fn cosine_topk(
    py: Python<'_>,
    queries: &[u8],
    matrix: &[u8],
    dim: i64,
    k: i64,
) -> PyResult<Vec<Vec<(usize, f64)>>> {
    // Negative values become 0, which the kernel rejects with the message for "< 1".
    let dim = usize::try_from(dim).unwrap_or(0);
    let k = usize::try_from(k).unwrap_or(0);
    let hits = py
        .detach(|| similarity::topk_bytes(queries, matrix, dim, k))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    Ok(hits
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|hit| (hit.index, f64::from(hit.score)))
                .collect()
        })
        .collect())
}

/// `text` with whatever looks like a credential replaced by `[redacted]` (rust/src/redact.rs lists the
/// shapes); the same `str` object when nothing is masked.
#[pyfunction]
fn scrub<'py>(py: Python<'py>, text: &Bound<'py, PyString>) -> PyResult<Bound<'py, PyString>> {
    let s = text.to_str()?;
    Ok(match redact::scrub(s) {
        Cow::Borrowed(_) => text.clone(),
        Cow::Owned(masked) => PyString::new(py, &masked),
    })
}

/// Whether a label, annotation or data key names a secret.
#[pyfunction]
fn is_secret_key(key: &str) -> bool {
    redact::is_secret_key(key)
}

/// Each JSON document with secret-named keys removed at every depth and every string scrubbed, in order,
/// with the GIL released (rust/src/redact.rs). Raises `ValueError` naming the first document that is not JSON.
#[pyfunction]
fn redact_json<'py>(
    py: Python<'py>,
    docs: &Bound<'py, PyList>,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    let items: Vec<Bound<'py, PyBytes>> = docs
        .iter()
        .map(|item| {
            item.cast_into::<PyBytes>()
                .map_err(|_| PyTypeError::new_err("docs must be a list of bytes"))
        })
        .collect::<PyResult<_>>()?;
    let slices: Vec<&[u8]> = items.iter().map(PyBytesMethods::as_bytes).collect();
    let out = py.detach(|| {
        slices
            .iter()
            .enumerate()
            .map(|(i, doc)| redact::redact_json(doc).map_err(|e| format!("docs[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()
    });
    let out = out.map_err(PyValueError::new_err)?;
    Ok(out.iter().map(|doc| PyBytes::new(py, doc)).collect())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(fingerprint_batch, m)?)?;
    m.add_function(wrap_pyfunction!(label_fingerprint, m)?)?;
    m.add_function(wrap_pyfunction!(key_fingerprint, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_texts, m)?)?;
    m.add_function(wrap_pyfunction!(fuzzy_ratio, m)?)?;
    m.add_function(wrap_pyfunction!(fuzzy_scores, m)?)?;
    m.add_function(wrap_pyfunction!(token_set_scores, m)?)?;
    m.add_function(wrap_pyfunction!(embed_texts, m)?)?;
    m.add_function(wrap_pyfunction!(cosine_topk, m)?)?;
    m.add_function(wrap_pyfunction!(scrub, m)?)?;
    m.add_function(wrap_pyfunction!(is_secret_key, m)?)?;
    m.add_function(wrap_pyfunction!(redact_json, m)?)?;
    Ok(())
}
