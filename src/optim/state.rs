//! Per-parameter optimizer state, kept by name: a step count, the parameter's shape at the
//! first step, and the optimizer's buffers (momentum, moments). Shared by every optimizer, so
//! that the shape check at each step and the checkpoint format exist once.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::error::{Clipped, Error, Number};
use crate::tensor::Tensor;
use crate::{ParamGrads, Params};

/// The state of one parameter.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    /// The number of updates this parameter has had (PyTorch's `state[p]["step"]`).
    pub(crate) step: u64,
    /// The shape the buffers were made for.
    shape: Vec<usize>,
    /// The optimizer's buffers, in the order of its buffer names.
    pub(crate) bufs: Vec<Tensor>,
}

/// Every parameter's state and the optimizer's step count.
#[derive(Clone, Debug, Default)]
pub(crate) struct Slots {
    pub(crate) steps: u64,
    slots: HashMap<String, Slot>,
}

impl Slots {
    /// The state of `name`, made on first use with `make` (one tensor per buffer name).
    /// Panics, naming `op`, when the parameter's shape is not the one the state was made for.
    #[track_caller]
    pub(crate) fn slot(
        &mut self,
        op: &str,
        name: &str,
        shape: &[usize],
        make: impl FnOnce() -> Vec<Tensor>,
    ) -> &mut Slot {
        if !self.slots.contains_key(name) {
            let slot = Slot { step: 0, shape: shape.to_vec(), bufs: make() };
            self.slots.insert(name.to_string(), slot);
        }
        self.check(op, name, shape, None);
        self.slots.get_mut(name).expect("inserted above")
    }

    /// Panics, naming `op` and the parameter, when the state of `name` (if any) was made for
    /// another shape or, given `buffers`, holds another number of buffers. What a step checks
    /// for every parameter before it changes anything.
    #[track_caller]
    pub(crate) fn check(&self, op: &str, name: &str, shape: &[usize], buffers: Option<usize>) {
        let Some(slot) = self.slots.get(name) else { return };
        assert!(
            slot.shape == shape,
            "{op}: parameter {} has shape {shape:?} but its optimizer state was made for shape {:?}",
            Clipped(name),
            slot.shape
        );
        if let Some(n) = buffers {
            assert!(
                slot.bufs.len() == n,
                "{op}: parameter {} has {} buffers in its state but this configuration needs {n}",
                Clipped(name),
                slot.bufs.len()
            );
        }
    }

    /// Writes the state: `steps`, and per parameter `<name>.step` and `<name>.<buffer>`.
    pub(crate) fn save(&self, path: &Path, buffers: &[&str]) -> Result<(), Error> {
        // Step counts are stored as f64, exact up to 2^53 steps.
        let mut owned: Vec<(String, Tensor)> = vec![("steps".into(), Tensor::scalar(self.steps as f64))];
        let mut names: Vec<&String> = self.slots.keys().collect();
        names.sort();
        for name in names {
            let slot = &self.slots[name];
            owned.push((format!("{name}.step"), Tensor::scalar(slot.step as f64)));
            for (buf, t) in buffers.iter().zip(&slot.bufs) {
                owned.push((format!("{name}.{buf}"), t.clone()));
            }
        }
        let pairs: Vec<(&str, &Tensor)> = owned.iter().map(|(n, t)| (n.as_str(), t)).collect();
        crate::checkpoint::save(path, &pairs)
    }

    /// Reads a state written by [`Slots::save`] with the same buffer names.
    pub(crate) fn load(path: &Path, buffers: &[&str]) -> Result<Slots, Error> {
        let mut file = crate::checkpoint::load(path)?;
        let err = |message: String| Error::Format { path: path.to_path_buf(), message };
        let count = |t: Option<Tensor>, key: &str| -> Result<u64, Error> {
            let t = t.ok_or_else(|| err(format!("optimizer state lacks {key:?}")))?;
            let x = if t.numel() == 1 { t.data()[0] } else { f64::NAN };
            let valid = x >= 0.0 && x.fract() == 0.0 && x < 2f64.powi(53);
            if !valid {
                return Err(err(format!("{} is not a step count", Clipped(key))));
            }
            Ok(x as u64)
        };
        let steps = count(file.remove("steps"), "steps")?;
        let names: Vec<String> = file.keys().filter_map(|k| k.strip_suffix(".step")).map(String::from).collect();
        let mut slots = HashMap::new();
        for name in names {
            let step = count(file.remove(&format!("{name}.step")), &format!("{name}.step"))?;
            let mut bufs = Vec::new();
            for buf in buffers {
                let key = format!("{name}.{buf}");
                bufs.push(file.remove(&key).ok_or_else(|| err(format!("optimizer state lacks {}", Clipped(&key))))?);
            }
            let shape = bufs.first().map_or_else(Vec::new, |b: &Tensor| b.shape().to_vec());
            if let Some(b) = bufs.iter().find(|b| b.shape() != shape.as_slice()) {
                let name = Clipped(&name);
                return Err(err(format!("buffers of {name} disagree in shape: {shape:?} and {:?}", b.shape())));
            }
            slots.insert(name, Slot { step, shape, bufs });
        }
        if let Some(extra) = file.keys().next() {
            return Err(err(format!("optimizer state has an unexpected tensor {}", Clipped(extra))));
        }
        let slots = Slots { steps, slots };
        slots.validate(buffers).map_err(err)?;
        Ok(slots)
    }

    /// Refuses state that no run can have produced, which the next step would turn into NaN
    /// parameters silently: a parameter's step count above the optimizer's, a buffer holding
    /// NaN or an infinity, a mean of squares (a buffer named `..._sq`: Adam's `exp_avg_sq`
    /// and `max_exp_avg_sq`) holding a negative value. The message names the parameter.
    fn validate(&self, buffers: &[&str]) -> Result<(), String> {
        let mut names: Vec<&String> = self.slots.keys().collect();
        names.sort();
        for name in names {
            let (slot, name) = (&self.slots[name], Clipped(name));
            if slot.step > self.steps {
                return Err(format!(
                    "parameter {name} has had {} steps, more than the optimizer's {}",
                    slot.step, self.steps
                ));
            }
            for (buf, t) in buffers.iter().zip(&slot.bufs) {
                if let Some(x) = t.data().iter().find(|x| !x.is_finite()) {
                    return Err(format!("parameter {name}: {buf} holds {}", Number(*x)));
                }
                if let Some(x) = t.data().iter().find(|&&x| x < 0.0).filter(|_| buf.ends_with("_sq")) {
                    let x = Number(*x);
                    return Err(format!("parameter {name}: {buf}, a mean of squares, holds the negative value {x}"));
                }
            }
        }
        Ok(())
    }
}

/// Pairs every gradient with its parameter, by name, checking the shapes; frozen parameters
/// are skipped. Panics, naming `op`, for a gradient that names no parameter or has another
/// shape.
#[track_caller]
pub(crate) fn pairs<'a>(
    op: &str,
    params: &'a mut Params,
    grads: &'a ParamGrads,
) -> Vec<(&'a str, &'a mut Tensor, &'a Tensor)> {
    // Check every pair before any update, so that a bad call changes nothing.
    for (name, g) in grads.iter() {
        let Some(p) = params.get(name) else {
            panic!("{op}: there is a gradient for {} but no parameter of that name", Clipped(name));
        };
        check_grad(op, name, p, g);
    }
    let wanted: BTreeMap<&str, &Tensor> = grads.iter().filter(|(name, _)| !params.is_frozen(name)).collect();
    params.iter_mut().filter_map(|(name, p)| wanted.get(name).map(|&g| (name, p, g))).collect()
}

/// Panics, naming `op` and the parameter, unless the gradient has the parameter's shape.
#[track_caller]
pub(crate) fn check_grad(op: &str, name: &str, p: &Tensor, g: &Tensor) {
    assert!(
        p.shape() == g.shape(),
        "{op}: parameter {} of shape {:?} has a gradient of shape {:?}",
        Clipped(name),
        p.shape(),
        g.shape()
    );
}

/// Pairs `params[i]` with `grads[i]` for the positional `step_tensors`, checking counts and
/// shapes; position `i` keeps its state under the name `"[i]"`.
#[track_caller]
pub(crate) fn positional_pairs<'a>(
    op: &str,
    params: &'a mut [&mut Tensor],
    grads: &'a [&Tensor],
) -> Vec<(String, &'a mut Tensor, &'a Tensor)> {
    assert!(params.len() == grads.len(), "{op}: {} parameters but {} gradients", params.len(), grads.len());
    let named = params.iter_mut().zip(grads).enumerate().map(|(i, (p, g))| (format!("[{i}]"), &mut **p, *g));
    let pairs: Vec<_> = named.collect();
    for (name, p, g) in &pairs {
        check_grad(op, name, p, g);
    }
    pairs
}
