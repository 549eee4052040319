//! A graph that cannot be built panics at the CALLER's line (`#[track_caller]`), not inside
//! tapegrad. One test in its own binary, because it installs a process-wide panic hook.

use std::sync::{Arc, Mutex};

use tapegrad::{Tape, Tensor};

#[test]
fn panics_point_at_the_line_that_built_the_bad_node() {
    let seen: Arc<Mutex<Vec<(String, u32)>>> = Arc::default();
    let sink = Arc::clone(&seen);
    std::panic::set_hook(Box::new(move |info| {
        let at = info.location().unwrap();
        sink.lock().unwrap().push((at.file().to_string(), at.line()));
    }));

    let tape = Tape::new();
    let (a, b) = (tape.var(Tensor::zeros(&[2, 3])), tape.var(Tensor::zeros(&[4])));
    let mut expected = vec![];
    // Each bad op stands on the line after the call that names it, hence `line!() + 1`.
    let mut expect_panic_here = |line: u32, f: &dyn Fn()| {
        expected.push((file!().to_string(), line));
        assert!(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err());
    };
    expect_panic_here(line!() + 1, &|| {
        let _ = a + b;
    });
    expect_panic_here(line!() + 1, &|| {
        let _ = a.matmul(b);
    });
    expect_panic_here(line!() + 1, &|| {
        let _ = a.cross_entropy(&[0, 7]);
    });
    expect_panic_here(line!() + 1, &|| {
        let _ = a.softmax(2);
    });
    expect_panic_here(line!() + 1, &|| {
        let _ = a.backward();
    });
    expect_panic_here(line!() + 1, &|| {
        let _ = 2.0 / a * b;
    });
    let _ = std::panic::take_hook();
    assert_eq!(*seen.lock().unwrap(), expected);
}
