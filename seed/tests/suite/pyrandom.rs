//! Checks that `PyRandom` matches CPython 3.11's `random` module bit for bit.
//!
//! Every literal below was produced by CPython 3.11.7 with the snippet quoted
//! next to it. Floats are compared with `assert_eq!` on purpose: the claim is
//! bit-identical output, not approximate agreement.

use tapegrad_seed::pyrandom::PyRandom;

#[test]
fn seed_42_random_check_values() {
    // python3 -c 'import random; random.seed(42); print([random.random() for _ in range(2)])'
    let mut rng = PyRandom::new(42);
    assert_eq!(rng.random(), 0.6394267984578837);
    assert_eq!(rng.random(), 0.025010755222666936);
}

#[test]
fn seed_42_gauss_check_values() {
    // python3 -c 'import random; random.seed(42); print([random.gauss(0, 0.1) for _ in range(4)])'
    let mut rng = PyRandom::new(42);
    assert_eq!(rng.gauss(0.0, 0.1), -0.014409032957792837);
    assert_eq!(rng.gauss(0.0, 0.1), -0.01729036003315193);
    assert_eq!(rng.gauss(0.0, 0.1), -0.011131586156766246);
    assert_eq!(rng.gauss(0.0, 0.1), 0.07019837250988631);
}

#[test]
fn seed_0_first_five_random() {
    // python3 -c 'import random; random.seed(0); print([random.random() for _ in range(5)])'
    let expected = [0.8444218515250481, 0.7579544029403025, 0.420571580830845, 0.25891675029296335, 0.5112747213686085];
    let mut rng = PyRandom::new(0);
    let got: Vec<f64> = (0..5).map(|_| rng.random()).collect();
    assert_eq!(got, expected);
}

#[test]
fn seed_42_thousandth_random() {
    // python3 -c 'import random; random.seed(42); print([random.random() for _ in range(1000)][-1])'
    // 1000 draws use 2000 outputs, so the MT state is regenerated several times.
    let mut rng = PyRandom::new(42);
    for _ in 0..999 {
        rng.random();
    }
    assert_eq!(rng.random(), 0.8554501933059546);
}

#[test]
fn seed_42_gauss_seven_draws_exercise_cache() {
    // python3 -c 'import random; random.seed(42); print([random.gauss(0, 0.1) for _ in range(7)])'
    let expected = vec![
        -0.014409032957792837,
        -0.01729036003315193,
        -0.011131586156766246,
        0.07019837250988631,
        -0.01275882837828871,
        -0.14973534143409575,
        0.03323183440677153,
    ];
    let mut rng = PyRandom::new(42);
    assert_eq!(rng.gauss_vec(7, 0.0, 0.1), expected);
}

#[test]
fn gauss_with_mu_and_sigma() {
    // python3 -c 'import random; random.seed(42); print([random.gauss(1.5, 2.0) for _ in range(3)])'
    let mut rng = PyRandom::new(42);
    assert_eq!(rng.gauss_vec(3, 1.5, 2.0), vec![1.2118193408441433, 1.1541927993369614, 1.277368276864675]);
}

#[test]
fn gauss_cache_does_not_consume_random() {
    // python3 -c 'import random; random.seed(42); print([random.gauss(0, 1) for _ in range(3)], random.random())'
    // The third gauss() computes a new pair and caches the second value; the
    // following random() must continue the stream right after that pair.
    let mut rng = PyRandom::new(42);
    assert_eq!(rng.gauss_vec(3, 0.0, 1.0), vec![-0.14409032957792836, -0.1729036003315193, -0.11131586156766246]);
    assert_eq!(rng.random(), 0.7364712141640124);
}

#[test]
fn seed_above_u32_max_uses_two_key_words() {
    // python3 -c 'import random; random.seed(2**40 + 5); print([random.random() for _ in range(3)])'
    let mut rng = PyRandom::new((1 << 40) + 5);
    assert_eq!(rng.random(), 0.5043802970418443);
    assert_eq!(rng.random(), 0.2686044399723282);
    assert_eq!(rng.random(), 0.9257865475671585);

    // python3 -c 'import random; random.seed(2**40 + 5); print([random.gauss(0, 0.1) for _ in range(3)])'
    rng.seed((1 << 40) + 5);
    assert_eq!(rng.gauss_vec(3, 0.0, 0.1), vec![-0.07906503216763193, -0.002176594650573121, 0.10991312652276808]);
}

#[test]
fn seed_2_pow_32_and_u64_max() {
    // python3 -c 'import random; random.seed(2**32); print([random.random() for _ in range(2)])'
    // (key [0, 1]: must differ from seed(0), whose key is [0])
    let mut rng = PyRandom::new(1 << 32);
    assert_eq!(rng.random(), 0.11299430095636409);
    assert_eq!(rng.random(), 0.41782886486292836);

    // python3 -c 'import random; random.seed(2**64 - 1); print([random.random() for _ in range(3)])'
    let mut rng = PyRandom::new(u64::MAX);
    assert_eq!(rng.random(), 0.021825695401270107);
    assert_eq!(rng.random(), 0.3380953268613758);
    assert_eq!(rng.random(), 0.21196748656082065);
}

#[test]
fn uniform_matches_python() {
    // python3 -c 'import random; random.seed(7); print([random.uniform(-1, 1) for _ in range(3)])'
    let mut rng = PyRandom::new(7);
    assert_eq!(rng.uniform(-1.0, 1.0), -0.35233447033367526);
    assert_eq!(rng.uniform(-1.0, 1.0), -0.6983016521509962);
    assert_eq!(rng.uniform(-1.0, 1.0), 0.3018689460797075);
}

#[test]
fn reseed_clears_gauss_cache() {
    // python3 -c 'import random; random.seed(42); a = random.gauss(0, 0.1); random.seed(42); print(a, random.gauss(0, 0.1))'
    // prints -0.014409032957792837 -0.014409032957792837
    let mut rng = PyRandom::new(42);
    let first = rng.gauss(0.0, 0.1); // leaves the pair's second value cached
    rng.seed(42);
    let again = rng.gauss(0.0, 0.1);
    assert_eq!(first, -0.014409032957792837);
    assert_eq!(again, first);
}

#[test]
fn reseed_matches_new_and_clone_continues_stream() {
    let mut a = PyRandom::new(123);
    a.random();
    a.gauss(0.0, 1.0); // cache is now set
    a.seed(42);
    let mut b = PyRandom::new(42);
    assert_eq!(a.gauss_vec(5, 0.0, 0.1), b.gauss_vec(5, 0.0, 0.1));

    // A clone carries the MT state and the gauss cache (5 draws leave one cached).
    let mut c = b.clone();
    assert_eq!(b.gauss(0.0, 0.1), c.gauss(0.0, 0.1));
    assert_eq!(b.random(), c.random());
}
