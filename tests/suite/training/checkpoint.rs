//! Checkpoints: interop with files PyTorch wrote (`tests/data/make_fixtures.py`), exact round
//! trips, and hostile files, which must be an `Err`, never a panic or a huge allocation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use tapegrad::{Error, Tensor, checkpoint};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data").join(name)
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
            "a gap between tensors",
            file_with(
                r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F64","shape":[1],"data_offsets":[16,24]}}"#,
                &[0u8; 24],
            ),
        ),
        (
            "two tensors on the same bytes",
            file_with(
                r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}}"#,
                &eight,
            ),
        ),
        ("no dtype", file_with(r#"{"a":{"shape":[1],"data_offsets":[0,8]}}"#, &eight)),
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

/// A fresh empty folder in the temporary directory.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = temp(tag).with_extension("d");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The names in a folder, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn a_tensor_named_metadata_is_refused() {
    let path = temp("metadata-name");
    let err = checkpoint::save(&path, &[("__metadata__", &Tensor::scalar(1.0))]).unwrap_err();
    assert!(matches!(err, Error::Format { .. }) && err.to_string().contains("__metadata__"), "{err}");
    assert!(!path.exists());
}

#[test]
fn saving_through_a_symlink_writes_its_target() {
    let dir = temp_dir("symlink");
    let (target, link) = (dir.join("real.safetensors"), dir.join("link.safetensors"));
    checkpoint::save(&target, &[("a", &Tensor::scalar(1.0))]).unwrap();
    std::os::unix::fs::symlink("real.safetensors", &link).unwrap();
    checkpoint::save(&link, &[("a", &Tensor::scalar(2.0))]).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert_eq!(checkpoint::load(&target).unwrap()["a"].item(), 2.0);
    // A link to a file that does not exist yet creates it.
    std::os::unix::fs::symlink(dir.join("new.safetensors"), dir.join("dangling")).unwrap();
    checkpoint::save(dir.join("dangling"), &[("b", &Tensor::scalar(3.0))]).unwrap();
    assert_eq!(checkpoint::load(dir.join("new.safetensors")).unwrap()["b"].item(), 3.0);
    assert_eq!(listing(&dir), ["dangling", "link.safetensors", "new.safetensors", "real.safetensors"]);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn saved_files_get_the_mode_of_any_new_file_and_replaced_ones_keep_theirs() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("mode");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    // What a program gets for a new file: 0o666 less the umask.
    std::fs::File::create(dir.join("plain")).unwrap();
    let path = dir.join("saved.safetensors");
    checkpoint::save(&path, &[("a", &Tensor::scalar(1.0))]).unwrap();
    assert_eq!(mode(&path), mode(&dir.join("plain")));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    checkpoint::save(&path, &[("a", &Tensor::scalar(2.0))]).unwrap();
    assert_eq!(mode(&path), 0o640);
    std::fs::remove_dir_all(dir).unwrap();
}

/// Not a test of its own: the process `a_process_killed_while_saving_leaves_no_file_behind`
/// starts and kills. Saves 32 MiB over and over into the folder it is given.
#[test]
#[ignore]
fn save_forever_in_the_folder_given() {
    let Some(dir) = std::env::var_os("TAPEGRAD_SAVE_FOREVER_IN") else { return };
    let big = Tensor::zeros(&[4 << 20]);
    loop {
        checkpoint::save(PathBuf::from(&dir).join("big.safetensors"), &[("w", &big)]).unwrap();
    }
}

#[test]
fn a_process_killed_while_saving_leaves_no_file_behind() {
    let dir = temp_dir("killed");
    for attempt in 0..3 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "save_forever_in_the_folder_given", "--ignored", "--test-threads=1"])
            .env("TAPEGRAD_SAVE_FOREVER_IN", &dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(700 + 300 * attempt));
        child.kill().unwrap(); // SIGKILL: no destructor runs
        child.wait().unwrap();
        let names = listing(&dir);
        assert!(names.iter().all(|n| n == "big.safetensors"), "after kill {attempt}: {names:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_key_twice_is_an_error() {
    let t = r#"{"dtype":"F64","shape":[1],"data_offsets":[0,8]}"#;
    let eight = [0u8; 8];
    let cases = [
        format!(r#"{{"a":{t},"a":{t}}}"#),
        format!(r#"{{"__metadata__":{{"k":"1","k":"2"}},"a":{t}}}"#),
        format!(r#"{{"__metadata__":{{}},"__metadata__":{{}},"a":{t}}}"#),
        r#"{"a":{"dtype":"F64","shape":[1],"shape":[1],"data_offsets":[0,8]}}"#.to_string(),
    ];
    for header in cases {
        match load_bytes("twice", &file_with(&header, &eight)) {
            Err(Error::Format { message, .. }) => assert!(message.contains("twice"), "{header}: {message}"),
            other => panic!("{header}: expected a format error, got {other:?}"),
        }
    }
}

/// Runs `f` on another thread and fails when it has not returned within `seconds` (a hang
/// fails the test instead of stalling the run).
fn within<T: Send + 'static>(seconds: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || send.send(f()));
    receive.recv_timeout(std::time::Duration::from_secs(seconds)).expect("did not return in time")
}

#[test]
fn only_regular_files_load_and_never_more_than_their_size() {
    let zero = within(10, || checkpoint::load("/dev/zero").map(|_| ()));
    assert!(matches!(zero, Err(Error::Io { .. })), "{zero:?}");
    let dir = temp_dir("fifo");
    let fifo = dir.join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let loaded = within(10, move || checkpoint::load(fifo).map(|_| ()));
    assert!(matches!(loaded, Err(Error::Io { .. })), "{loaded:?}");
    let folder = checkpoint::load(&dir).map(|_| ());
    assert!(matches!(folder, Err(Error::Io { .. })), "{folder:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_shape_has_at_most_64_axes() {
    let shape = |rank: usize| format!("[{}]", vec!["1"; rank].join(","));
    let header = |rank| format!(r#"{{"a":{{"dtype":"F64","shape":{},"data_offsets":[0,8]}}}}"#, shape(rank));
    assert_eq!(load_bytes("rank64", &file_with(&header(64), &[0u8; 8])).unwrap()["a"].rank(), 64);
    assert_eq!(checkpoint::MAX_RANK, 64);
    for rank in [65, 2_000_000] {
        match load_bytes("rank", &file_with(&header(rank), &[0u8; 8])) {
            Err(Error::Format { message, .. }) => assert!(message.contains("more than 64 axes"), "{message}"),
            other => panic!("rank {rank}: expected a format error, got {other:?}"),
        }
    }
}

#[test]
fn tensors_come_back_in_the_order_saved() {
    let path = temp("order");
    let names = ["z", "b.weight", "a", "empty2", "empty1", "m"];
    let tensors: Vec<Tensor> = names
        .iter()
        .enumerate()
        .map(|(i, n)| if n.starts_with("empty") { Tensor::zeros(&[0]) } else { Tensor::scalar(i as f64) })
        .collect();
    let pairs: Vec<(&str, &Tensor)> = names.iter().copied().zip(&tensors).collect();
    checkpoint::save(&path, &pairs).unwrap();
    let loaded: Vec<String> = checkpoint::load_ordered(&path).unwrap().into_iter().map(|(n, _)| n).collect();
    assert_eq!(loaded, names);
    let params = tapegrad::Params::from_file(&path).unwrap();
    assert_eq!(params.names().collect::<Vec<_>>(), names);
    std::fs::remove_file(path).unwrap();
}

/// A file written elsewhere, without the recorded order: its tensors in the order of their
/// bytes (not of their names, nor of the header's keys).
#[test]
fn a_foreign_file_gives_its_tensors_in_the_order_of_their_bytes() {
    let header = r#"{"a":{"dtype":"F64","shape":[1],"data_offsets":[16,24]},"c":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}"#;
    let path = temp("foreign");
    std::fs::write(&path, file_with(header, &[0u8; 24])).unwrap();
    let params = tapegrad::Params::from_file(&path).unwrap();
    assert_eq!(params.names().collect::<Vec<_>>(), ["c", "b", "a"]);
    // A recorded order that does not list every tensor once is an error.
    for order in [r#"[\"a\",\"b\"]"#, r#"[\"a\",\"b\",\"c\",\"a\"]"#, r#"[\"a\",\"b\",\"d\"]"#, "not json"] {
        let with = header.replacen('{', &format!(r#"{{"__metadata__":{{"tapegrad.order":"{order}"}},"#), 1);
        std::fs::write(&path, file_with(&with, &[0u8; 24])).unwrap();
        assert!(matches!(checkpoint::load(&path), Err(Error::Format { .. })), "{order}");
    }
    std::fs::remove_file(path).unwrap();
}

#[test]
fn a_huge_name_is_cut_in_messages() {
    let name = "x".repeat(1 << 20);
    let path = temp("huge-name");
    let err = checkpoint::save(&path, &[(&name, &Tensor::scalar(1.0)), (&name, &Tensor::scalar(2.0))]).unwrap_err();
    let message = err.to_string();
    assert!(message.len() < 400 && message.contains("(1048576 bytes)"), "{}", &message[..400.min(message.len())]);
    checkpoint::save(&path, &[(&name, &Tensor::scalar(1.0))]).unwrap();
    let mut params = tapegrad::Params::new();
    params.insert("w", Tensor::scalar(0.0));
    let message = params.load(&path).unwrap_err().to_string();
    assert!(message.len() < 400 && message.contains("(1048576 bytes)"), "{}", &message[..400.min(message.len())]);
    std::fs::remove_file(path).unwrap();
}
