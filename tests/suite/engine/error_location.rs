//! A graph that cannot be built panics at the CALLER's line (`#[track_caller]`), not inside
//! tapegrad. The panic hook that records the lines is process-wide: `panic_locations` keeps
//! only this test's thread's panics.

use tapegrad::{Tape, Tensor};

use crate::common::panic_locations;

#[test]
fn panics_point_at_the_line_that_built_the_bad_node() {
    let tape = Tape::new();
    let (a, b) = (tape.var(Tensor::zeros(&[2, 3])), tape.var(Tensor::zeros(&[4])));
    let mut expected = vec![];
    let seen = panic_locations(|| {
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
    });
    assert_eq!(seen, expected);
}
