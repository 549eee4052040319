//! Checkpoints: interop with files PyTorch wrote (`tests/data/make_fixtures.py`), exact round
//! trips, and hostile files, which must be an `Err`, never a panic or a huge allocation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use tapegrad::{Error, Tensor, checkpoint};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// A fresh file path in the temporary directory (tests run in parallel).
fn temp(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    std::env::temp_dir().join(format!("tapegrad-test-{}-{tag}-{n}.safetensors", std::process::id()))
}

fn bits(data: &[f64]) -> Vec<u64> {
    data.iter().map(|x| x.to_bits()).collect()
}

/// The values PyTorch wrote, converted by torch to float64 (printed by make_fixtures.py): the
/// conversion here must give the same numbers to the bit, -0.0 included.
#[test]
fn loads_what_pytorch_wrote_in_every_float_dtype() {
    let cases: [(&str, [f64; 6]); 4] = [
        ("f64", [0.1, -2.5, 0.001, 65504.0, 3.140625, -0.0]),
        ("f32", [0.10000000149011612, -2.5, 0.0010000000474974513, 65504.0, 3.140625, -0.0]),
        ("f16", [0.0999755859375, -2.5, 0.0010004043579101562, 65504.0, 3.140625, -0.0]),
        ("bf16", [0.10009765625, -2.5, 0.00099945068359375, 65536.0, 3.140625, -0.0]),
    ];
    for (dtype, expected) in cases {
        let loaded = checkpoint::load(fixture(&format!("torch_{dtype}.safetensors"))).unwrap();
        assert_eq!(loaded.keys().collect::<Vec<_>>(), ["empty", "layer1.bias", "layer1.weight", "scalar"], "{dtype}");
        let w = &loaded["layer1.weight"];
        assert_eq!(w.shape(), &[2, 3], "{dtype}");
        assert_eq!(bits(w.data()), bits(&expected), "{dtype}");
        assert_eq!(loaded["layer1.bias"].data(), &[1.5, -1.0], "{dtype}");
        assert_eq!((loaded["scalar"].shape(), loaded["scalar"].item()), (&[][..], 7.0), "{dtype}");
        assert_eq!(loaded["empty"].shape(), &[0, 3], "{dtype}");
    }
}

#[test]
fn other_dtypes_are_an_error_naming_the_dtype() {
    let err = checkpoint::load(fixture("torch_i64.safetensors")).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("I64") && message.contains("\"ids\""), "{message}");
}

#[test]
fn round_trip_is_exact() {
    let special = Tensor::new(vec![f64::NAN, f64::INFINITY, -0.0, f64::MIN_POSITIVE / 2.0, 1e300, -1.0 / 3.0], &[3, 2]);
    let special = special.unwrap();
    let scalar = Tensor::scalar(std::f64::consts::PI);
    let empty = Tensor::zeros(&[2, 0, 4]);
    let path = temp("roundtrip");
    checkpoint::save(&path, &[("blocks.0.attn.weight", &special), ("scalar", &scalar), ("empty", &empty)]).unwrap();
    let loaded = checkpoint::load(&path).unwrap();
    assert_eq!(bits(loaded["blocks.0.attn.weight"].data()), bits(special.data()));
    assert_eq!(loaded["blocks.0.attn.weight"].shape(), &[3, 2]);
    assert_eq!(loaded["scalar"], scalar);
    assert_eq!(loaded["empty"].shape(), &[2, 0, 4]);
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_missing_file_is_an_io_error() {
    let err = checkpoint::load(temp("missing")).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}

/// A header `{json}` padded to 8 bytes, after its length, then `data`.
fn file_with(header: &str, data: &[u8]) -> Vec<u8> {
    let mut h = header.as_bytes().to_vec();
    h.resize(h.len().next_multiple_of(8), b' ');
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend(h);
    out.extend(data);
    out
}

fn load_bytes(tag: &str, bytes: &[u8]) -> Result<std::collections::BTreeMap<String, Tensor>, Error> {
    let path = temp(tag);
    std::fs::write(&path, bytes).unwrap();
    let result = checkpoint::load(&path);
    std::fs::remove_file(path).unwrap();
    result
}

#[test]
fn hostile_files_are_errors() {
    let eight = [0u8; 8];
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty file", vec![]),
        ("shorter than the length field", vec![1, 2, 3]),
        ("header length 2^64 - 1", [u64::MAX.to_le_bytes().as_slice(), b"{}"].concat()),
        ("header length 2^63", [(1u64 << 63).to_le_bytes().as_slice(), b"{}"].concat()),
        ("header length past the end", [1000u64.to_le_bytes().as_slice(), b"{}      "].concat()),
        ("header not JSON", file_with("{not json", &[])),
        ("header not UTF-8", [8u64.to_le_bytes().as_slice(), &[0xff; 8]].concat()),
        ("offsets outside the data", file_with(r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#, &[])),
        ("offsets past the data", file_with(r#"{"a":{"dtype":"F64","shape":[2],"data_offsets":[8,24]}}"#, &eight)),
        ("offsets reversed", file_with(r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[8,0]}}"#, &eight)),
        ("shape disagrees with bytes", file_with(r#"{"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}}"#, &eight)),
        (
            "shape overflows",
            file_with(r#"{"a":{"dtype":"F64","shape":[4294967296,4294967296,2],"data_offsets":[0,8]}}"#, &eight),
        ),
        (
            "shape overflows behind a zero",
            file_with(r#"{"a":{"dtype":"F64","shape":[0,4294967296,4294967296,16],"data_offsets":[0,0]}}"#, &[]),
        ),
        ("negative size", file_with(r#"{"a":{"dtype":"F64","shape":[-1],"data_offsets":[0,8]}}"#, &eight)),
        ("unknown dtype", file_with(r#"{"a":{"dtype":"F128","shape":[1],"data_offsets":[0,8]}}"#, &eight)),
        ("trailing bytes", file_with(r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#, &[0u8; 16])),
        (
            "a huge claimed size",
            file_with(r#"{"a":{"dtype":"F64","shape":[1000000000000],"data_offsets":[0,8000000000000]}}"#, &eight),
        ),
    ];
    for (what, bytes) in cases {
        match load_bytes("hostile", &bytes) {
            Err(Error::Format { message, .. }) => assert!(!message.is_empty(), "{what}"),
            other => panic!("{what}: expected a format error, got {other:?}"),
        }
    }
}

/// Every prefix of a valid file, and every single-byte corruption of it (to four values), is
/// an `Err` or a valid load: never a panic.
#[test]
fn truncations_and_byte_flips_never_panic() {
    let path = fixture("torch_f32.safetensors");
    let good = std::fs::read(&path).unwrap();
    for len in 0..good.len() {
        assert!(load_bytes("prefix", &good[..len]).is_err(), "a {len}-byte prefix loaded");
    }
    let dir = std::env::temp_dir().join(format!("tapegrad-flips-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("f.safetensors");
    for at in 0..good.len() {
        for value in [0u8, b'9', b'"', 0xff] {
            let mut bad = good.clone();
            bad[at] = value;
            std::fs::write(&target, &bad).unwrap();
            let _ = checkpoint::load(&target); // Ok or Err, but it returns
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// Writes `target/tmp/for_python.safetensors`, which `tests/data/check_in_python.py` loads with
/// `safetensors.torch.load_file` and checks value by value (run it after `cargo test`).
#[test]
fn writes_a_file_for_python() {
    let w = Tensor::from_fn(&[2, 3], |ix| (ix[0] * 3 + ix[1]) as f64 / 7.0 - 0.25);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("for_python.safetensors");
    checkpoint::save(&path, &[("layer1.weight", &w), ("layer1.bias", &Tensor::new(vec![0.1, -0.0], &[2]).unwrap())])
        .unwrap();
    assert_eq!(checkpoint::load(&path).unwrap()["layer1.weight"], w);
}

#[test]
fn saving_into_a_missing_folder_is_an_io_error() {
    let path = std::env::temp_dir().join("tapegrad-no-such-folder").join("x.safetensors");
    let err = checkpoint::save(&path, &[("a", &Tensor::scalar(1.0))]).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
}
