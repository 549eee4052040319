//! `Indices`, integer index tensors with a shape (PyTorch's `LongTensor`), and the ops that
//! take them: `embedding` of `[B, T]` ids, `gather`, `index_select`, class targets shaped like
//! the logits' leading axes, `data::minibatches`. A flat `&[usize]` keeps working everywhere.

use crate::common::{panic_message, randn};
use tapegrad::data::minibatches;
use tapegrad::nn::Embedding;
use tapegrad::{CrossEntropy, Error, Indices, Params, Reduction, Tape, Tensor};

/// The message of `f`'s panic (the tape inside a `Var` is not unwind-safe; nothing is reused).
fn caught(f: impl FnOnce()) -> String {
    panic_message(std::panic::AssertUnwindSafe(f))
}

#[test]
fn indices_are_built_from_lists_arrays_and_data_with_a_shape() {
    let ids = Indices::new(vec![1, 0, 2, 2, 2, 1], &[2, 3]).unwrap();
    assert_eq!((ids.shape(), ids.data(), ids.numel(), ids.rank()), (&[2, 3][..], &[1, 0, 2, 2, 2, 1][..], 6, 2));
    assert_eq!(ids, Indices::from([[1, 0, 2], [2, 2, 1]]));
    assert_eq!(Indices::from([[[1, 0], [2, 2]]]).shape(), [1, 2, 2]);
    assert_eq!(Indices::from(vec![4, 5]).shape(), [2]);
    assert_eq!(Indices::from(&[4, 5][..]), Indices::from([4, 5]));
    assert_eq!((0..3).collect::<Indices>(), Indices::from([0, 1, 2]));
    assert_eq!(Indices::new(vec![7], &[]).unwrap().shape(), [] as [usize; 0]);
    assert_eq!(ids.clone().reshape(&[6]).unwrap(), Indices::from([1, 0, 2, 2, 2, 1]));
    assert_eq!(ids.clone().into_data(), [1, 0, 2, 2, 2, 1]);
    assert_eq!(ids.to_tensor(), Tensor::new(vec![1.0, 0.0, 2.0, 2.0, 2.0, 1.0], &[2, 3]).unwrap());

    assert!(matches!(Indices::new(vec![1, 2, 3], &[2, 2]), Err(Error::LengthMismatch { .. })));
    assert!(matches!(Indices::new(vec![], &[1 << 40, 1 << 40]), Err(Error::ShapeOverflow { .. })));
    assert!(ids.clone().reshape(&[4]).is_err());
}

#[test]
fn indices_print_like_tensors() {
    let ids = Indices::from([[1, 10, 2], [3, 4, 100]]);
    assert_eq!(ids.to_string(), "[[  1  10   2]\n [  3   4 100]]");
    assert_eq!(Indices::from([3, 1]).to_string(), "[3 1]");
    assert_eq!(Indices::new(vec![7], &[]).unwrap().to_string(), "7");
    assert_eq!(format!("{:?}", Indices::from([3, 1])), "Indices { shape: [2], data: [3, 1] }");
}

#[test]
fn f64_tensors_convert_only_when_every_entry_is_an_index() {
    let t = Tensor::new(vec![0.0, 3.0, 2.0, 1.0], &[2, 2]).unwrap();
    assert_eq!(Indices::try_from(&t).unwrap(), Indices::from([[0, 3], [2, 1]]));
    for (bad, at) in
        [(-1.0, "[1, 0]"), (0.5, "[1, 0]"), (f64::NAN, "[1, 0]"), (f64::INFINITY, "[1, 0]"), (2f64.powi(64), "[1, 0]")]
    {
        let t = Tensor::new(vec![0.0, 1.0, bad, 1.0], &[2, 2]).unwrap();
        let err = Indices::try_from(&t).unwrap_err();
        assert!(matches!(err, Error::NotAnIndex { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!("Indices::try_from: {bad} at {at} of shape [2, 2] is not an index (a whole number in 0..2^64)")
        );
    }
    // The largest whole number below 2^64 as f64 converts exactly.
    let big = 2f64.powi(64) - 2048.0;
    assert_eq!(Indices::try_from(&Tensor::scalar(big)).unwrap().data(), [u64::MAX as usize - 2047]);
}

#[test]
fn embedding_of_b_t_ids_gives_b_t_d_and_equals_the_flat_lookup() {
    let tape = Tape::new();
    let table = tape.var(randn(&[5, 3], 1));
    let ids = Indices::from([[4, 0, 4, 1], [2, 2, 3, 0]]);
    let batch = table.embedding(&ids);
    assert_eq!(batch.shape(), [2, 4, 3]);
    let flat = table.embedding(ids.data());
    assert_eq!(flat.shape(), [8, 3]);
    assert_eq!(batch.value().data(), flat.value().data());
    // Row 4 read twice, row 2 twice, row 0 twice: the gradient scatters every read back.
    let w = tape.constant(randn(&[2, 4, 3], 2));
    let grads = (batch * w).sum().backward();
    let dtable = grads.wrt(table).unwrap();
    let wv = w.value();
    for row in 0..5 {
        for d in 0..3 {
            let expected: f64 =
                ids.data().iter().enumerate().filter(|&(_, &id)| id == row).map(|(i, _)| wv.data()[i * 3 + d]).sum();
            assert_eq!(dtable.get(&[row, d]), expected, "row {row} column {d}");
        }
    }
}

#[test]
fn a_rank_0_id_looks_up_one_row() {
    // A rank-0 id gives one row without the batch axes, as F.embedding.
    let one = Indices::new(vec![2], &[]).unwrap();
    let tape = Tape::new();
    assert_eq!(tape.var(randn(&[4, 2], 4)).embedding(&one).shape(), [2]);
}

#[test]
fn the_embedding_layer_takes_b_t_ids() {
    let mut params = Params::new();
    let emb = Embedding::new(&mut params, "wte", 27, 10, &mut crate::common::rng(0));
    let tape = Tape::new();
    let p = params.on(&tape);
    assert_eq!(emb.forward(&p, &Indices::from([[1, 2, 3], [0, 0, 26]])).shape(), [2, 3, 10]);
    assert_eq!(emb.forward(&p, &[1, 2, 3]).shape(), [3, 10]);
}

#[test]
fn a_bad_id_panics_naming_its_position_and_every_shape() {
    let tape = Tape::new();
    let table = tape.var(Tensor::zeros(&[5, 3]));
    let msg = caught(|| {
        let _ = table.embedding(&Indices::from([[0, 1], [5, 0]]));
    });
    assert_eq!(msg, "embedding: id 5 at [1, 0] of ids of shape [2, 2] is outside 0..5 for table of shape [5, 3]");
    // The flat form's message is unchanged.
    let msg = caught(|| {
        let _ = table.embedding(&[0, 7]);
    });
    assert_eq!(msg, "embedding: id 7 at position 1 is outside 0..5 for table of shape [5, 3]");
}

#[test]
fn gather_takes_integer_indices_as_well_as_f64_ones() {
    let x = randn(&[3, 4], 6);
    let index = Indices::from([[3, 0, 3], [1, 1, 2]]);
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let with_ints = xv.gather(1, &index);
    let with_floats = xv.gather(1, &index.to_tensor());
    assert_eq!(with_ints.value(), with_floats.value());
    assert_eq!(with_ints.value().data()[..3], [x.get(&[0, 3]), x.get(&[0, 0]), x.get(&[0, 3])]);
    let msg = caught(|| {
        let _ = xv.gather(1, &Indices::from([[0, 4]]));
    });
    assert_eq!(
        msg,
        "gather: index 4 at [0, 1] is outside 0..4 (or not a whole number) for axis 1 of input shape [3, 4] (index shape [1, 2])"
    );
}

#[test]
fn index_select_takes_a_list_and_refuses_more_axes() {
    let x = randn(&[3, 4], 7);
    let tape = Tape::new();
    let xv = tape.var(x.clone());
    let ids = Indices::from([2, 0, 2]);
    assert_eq!(xv.index_select(1, &ids).value(), xv.index_select(1, &[2, 0, 2]).value());
    assert_eq!(x.index_select(0, &ids), x.index_select(0, &[2, 0, 2]));
    let msg = caught(|| {
        let _ = xv.index_select(1, &Indices::from([[0, 1]]));
    });
    assert_eq!(msg, "index_select: index of shape [1, 2] for input of shape [3, 4]: it needs one axis (a list of ids)");
    let msg = caught(|| {
        let _ = x.index_select(0, &Indices::from([[0, 1]]));
    });
    assert!(msg.starts_with("index_select: index of shape [1, 2] for input of shape [3, 4]"), "{msg}");
    // A dataset's ids, row-selected for a minibatch (PyTorch's `X[ix]`).
    let contexts = Indices::from([[0, 0, 5], [0, 5, 13], [5, 13, 13]]);
    assert_eq!(contexts.index_select(0, &[2, 0]), Indices::from([[5, 13, 13], [0, 0, 5]]));
    assert_eq!(contexts.index_select(1, &[2]), Indices::from([[5], [13], [13]]));
}

#[test]
fn targets_shaped_like_the_leading_axes_equal_the_flat_targets() {
    let logits = randn(&[2, 3, 4], 8);
    let targets = Indices::from([[3, 0, 1], [2, 2, 0]]);
    let tape = Tape::new();
    let x = tape.var(logits.clone());
    assert_eq!(x.cross_entropy(&targets).item(), x.cross_entropy(targets.data()).item());
    let none = CrossEntropy::new().reduction(Reduction::None).label_smoothing(0.1);
    let per_token = x.cross_entropy_with(&targets, &none);
    assert_eq!(per_token.shape(), [2, 3]);
    assert_eq!(per_token.value().data(), x.cross_entropy_with(targets.data(), &none).value().data());
    let logp = x.log_softmax(2);
    assert_eq!(logp.nll_loss(&targets).item(), logp.nll_loss(targets.data()).item());
}

#[test]
fn targets_of_another_shape_panic_naming_the_op_and_both_shapes() {
    let tape = Tape::new();
    let x = tape.var(Tensor::zeros(&[2, 3, 4]));
    let transposed = Indices::from([[0, 1], [2, 3], [0, 0]]); // [3, 2] for logits [2, 3, 4]
    let msg = caught(|| {
        let _ = x.cross_entropy(&transposed);
    });
    assert_eq!(
        msg,
        "cross_entropy: targets of shape [3, 2] for input of shape [2, 3, 4]: they need the input's shape without \
         its last axis, [2, 3] (or one flat list of 6)"
    );
    let msg = caught(|| {
        let _ = x.cross_entropy_with(&transposed, &CrossEntropy::new());
    });
    assert!(msg.starts_with("cross_entropy_with: targets of shape [3, 2]"), "{msg}");
    let msg = caught(|| {
        let _ = x.nll_loss(&Indices::from([[0, 1, 2, 3, 0, 0]]));
    });
    assert!(msg.starts_with("nll_loss: targets of shape [1, 6] for input of shape [2, 3, 4]"), "{msg}");
    let msg = caught(|| {
        let _ = x.cross_entropy(&Indices::from([[0, 1, 4], [0, 0, 0]]));
    });
    assert_eq!(msg, "cross_entropy: target 4 at row 2 is outside 0..4 for input of shape [2, 3, 4]");
}

#[test]
fn minibatches_take_indices() {
    let all = Indices::from((0..10).collect::<Vec<_>>());
    let batches = minibatches(&all, 4, &mut crate::common::rng(0));
    let mut seen: Vec<usize> = batches.concat();
    seen.sort();
    assert_eq!(seen, (0..10).collect::<Vec<_>>());
    // The same shuffle as from the plain list.
    assert_eq!(batches, minibatches(&(0..10).collect::<Vec<_>>(), 4, &mut crate::common::rng(0)));
    let msg = caught(|| {
        minibatches(&Indices::from([[0, 1]]), 1, &mut crate::common::rng(0));
    });
    assert_eq!(msg, "minibatches: indices of shape [1, 2] must be a list (one axis)");
}

/// Every form a caller already passes compiles and means the same (a flat list).
#[test]
fn existing_flat_forms_keep_working() {
    let tape = Tape::new();
    let x = tape.var(randn(&[3, 4], 9));
    let (v, a): (Vec<usize>, [usize; 3]) = (vec![0, 3, 1], [0, 3, 1]);
    let s: &[usize] = &v;
    let expected = x.cross_entropy(&[0, 3, 1]).item();
    for got in [
        x.cross_entropy(&v).item(),
        x.cross_entropy(s).item(),
        x.cross_entropy(&a).item(),
        x.cross_entropy(&Indices::from(a)).item(),
    ] {
        assert_eq!(got, expected);
    }
    #[allow(clippy::needless_borrows_for_generic_args)] // a `&[usize]` parameter took it by deref coercion
    let twice = x.cross_entropy(&s).item();
    assert_eq!(twice, expected);
    let empty = tape.var(Tensor::zeros(&[0, 4]));
    assert_eq!(empty.cross_entropy(&[]).shape(), [] as [usize; 0]);
    assert_eq!(x.index_select(0, &[]).shape(), [0, 4]);
}
