//! [`Params`]: the named parameters of a model, kept outside any tape, in insertion order,
//! named like the keys of PyTorch's `state_dict` (`"layer1.weight"`).
//!
//! A training step brings them all onto a fresh tape with [`Params::on`], which returns the
//! [`ParamVars`]: each parameter's [`Var`] by name. After `backward`, [`ParamVars::grads`]
//! gathers the gradients by name ([`ParamGrads`]) for an optimizer, which updates the stored
//! tensors by name: the order in which a model reads its parameters never matters.

use std::collections::HashMap;
use std::ops::Index;
use std::path::Path;

use crate::autograd::{Grads, Tape, Var};
use crate::error::{Clipped, Error};
use crate::tensor::Tensor;

/// One stored parameter.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    tensor: Tensor,
    frozen: bool,
}

/// An insertion-ordered store of named tensors: a model's parameters.
///
/// ```
/// use tapegrad::{Params, Tape, Tensor};
///
/// let mut params = Params::new();
/// params.insert("layer1.weight", Tensor::new(vec![0.5, -1.0], &[1, 2])?);
/// params.insert("layer1.bias", Tensor::zeros(&[1]));
/// assert_eq!(params.num_params(), 3);
///
/// let tape = Tape::new();
/// let p = params.on(&tape); // every parameter on the tape, by name
/// let x = tape.constant(Tensor::new(vec![1.0, 2.0], &[1, 2])?);
/// let y = x.matmul(p["layer1.weight"].transpose(0, 1)) + p["layer1.bias"];
/// let grads = y.sum().backward();
/// assert_eq!(p.grad(&grads, "layer1.weight").unwrap().data(), &[1.0, 2.0]);
/// # Ok::<(), tapegrad::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Params {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

impl Params {
    /// An empty store.
    ///
    /// ```
    /// # use tapegrad::Params;
    /// let params = Params::new();
    /// assert!(params.is_empty());
    /// ```
    pub fn new() -> Params {
        Params::default()
    }

    /// Adds a parameter under `name`, after the ones already there.
    ///
    /// Panics when `name` is already taken (two layers given the same name would otherwise
    /// share, or silently replace, each other's weights); use [`Params::set`] to replace a value.
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::ones(&[2, 2]));
    /// assert_eq!(params.names().collect::<Vec<_>>(), ["w"]);
    /// ```
    #[track_caller]
    pub fn insert(&mut self, name: impl Into<String>, tensor: Tensor) {
        let name = name.into();
        assert!(
            !self.index.contains_key(&name),
            "Params::insert: a parameter named {} is already stored",
            Clipped(&name)
        );
        self.index.insert(name.clone(), self.entries.len());
        self.entries.push(Entry { name, tensor, frozen: false });
    }

    /// The position of `name`, panicking (at the caller's line) with the known names.
    #[track_caller]
    fn position(&self, op: &str, name: &str) -> usize {
        match self.index.get(name) {
            Some(&i) => i,
            None => panic!("{op}: no parameter named {}; the store holds {}", Clipped(name), listing(self.names())),
        }
    }

    /// The parameter called `name`, if stored.
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("b", Tensor::zeros(&[3]));
    /// assert_eq!(params.get("b").unwrap().shape(), &[3]);
    /// assert!(params.get("c").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.index.get(name).map(|&i| &self.entries[i].tensor)
    }

    /// The parameter called `name`, writable (for optimizers and surgery; keep its shape).
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("b", Tensor::zeros(&[2]));
    /// params.get_mut("b").unwrap().data_mut()[1] = 5.0;
    /// assert_eq!(params["b"].data(), &[0.0, 5.0]);
    /// ```
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Tensor> {
        self.index.get(name).map(|&i| &mut self.entries[i].tensor)
    }

    /// Replaces the value of an existing parameter (any shape: an optimizer whose state was
    /// made for the old shape will refuse it). Panics when `name` is not stored.
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::zeros(&[2]));
    /// params.set("w", Tensor::ones(&[2]));
    /// assert_eq!(params["w"].data(), &[1.0, 1.0]);
    /// ```
    #[track_caller]
    pub fn set(&mut self, name: &str, tensor: Tensor) {
        let i = self.position("Params::set", name);
        self.entries[i].tensor = tensor;
    }

    /// Whether a parameter called `name` is stored.
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::zeros(&[1]));
    /// assert!(params.contains("w") && !params.contains("v"));
    /// ```
    pub fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// The number of named parameters (tensors).
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::zeros(&[3, 3]));
    /// assert_eq!(params.len(), 1); // one tensor, of 9 elements
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no parameter is stored.
    ///
    /// ```
    /// # use tapegrad::Params;
    /// assert!(Params::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The total number of elements of all parameters, frozen or not (what PyTorch users
    /// compute as `sum(p.numel() for p in model.parameters())`).
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::zeros(&[16, 2]));
    /// params.insert("b", Tensor::zeros(&[16]));
    /// assert_eq!(params.num_params(), 48);
    /// ```
    pub fn num_params(&self) -> usize {
        self.entries.iter().map(|e| e.tensor.numel()).sum()
    }

    /// The number of elements of the parameters that are not frozen.
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::zeros(&[16, 2]));
    /// params.insert("b", Tensor::zeros(&[16]));
    /// params.freeze("w");
    /// assert_eq!(params.num_trainable(), 16);
    /// ```
    pub fn num_trainable(&self) -> usize {
        self.entries.iter().filter(|e| !e.frozen).map(|e| e.tensor.numel()).sum()
    }

    /// The names, in insertion order.
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("b", Tensor::zeros(&[1]));
    /// params.insert("a", Tensor::zeros(&[1]));
    /// assert_eq!(params.names().collect::<Vec<_>>(), ["b", "a"]); // insertion order
    /// ```
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// `(name, tensor)` pairs, in insertion order.
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::zeros(&[2, 3]));
    /// for (name, t) in params.iter() {
    ///     println!("{name}: {:?}", t.shape());
    /// }
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.entries.iter().map(|e| (e.name.as_str(), &e.tensor))
    }

    /// `(name, tensor)` pairs, in insertion order, the tensors writable.
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::ones(&[2]));
    /// for (_, t) in params.iter_mut() {
    ///     t.data_mut().iter_mut().for_each(|x| *x *= 0.5);
    /// }
    /// assert_eq!(params["w"].data(), &[0.5, 0.5]);
    /// ```
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&str, &mut Tensor)> {
        self.entries.iter_mut().map(|e| (e.name.as_str(), &mut e.tensor))
    }

    /// Freezes a parameter: [`Params::on`] puts it on the tape as a constant, so it gets no
    /// gradient and optimizers leave it alone (PyTorch's `requires_grad_(False)`).
    /// Panics when `name` is not stored.
    ///
    /// ```
    /// # use tapegrad::{Params, Tape, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::ones(&[2]));
    /// params.freeze("w");
    /// let tape = Tape::new();
    /// let p = params.on(&tape);
    /// let grads = (p["w"] * 3.0).sum().backward();
    /// assert!(p.grad(&grads, "w").is_none());
    /// ```
    #[track_caller]
    pub fn freeze(&mut self, name: &str) {
        let i = self.position("Params::freeze", name);
        self.entries[i].frozen = true;
    }

    /// Undoes [`Params::freeze`]. Panics when `name` is not stored.
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::zeros(&[1]));
    /// params.freeze("w");
    /// params.unfreeze("w");
    /// assert!(!params.is_frozen("w"));
    /// ```
    #[track_caller]
    pub fn unfreeze(&mut self, name: &str) {
        let i = self.position("Params::unfreeze", name);
        self.entries[i].frozen = false;
    }

    /// Whether `name` is frozen. Panics when `name` is not stored.
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::zeros(&[1]));
    /// assert!(!params.is_frozen("w"));
    /// params.freeze("w");
    /// assert!(params.is_frozen("w"));
    /// ```
    #[track_caller]
    pub fn is_frozen(&self, name: &str) -> bool {
        self.entries[self.position("Params::is_frozen", name)].frozen
    }

    /// Brings every parameter onto `tape` (a copy of each; frozen ones as constants) and
    /// returns their `Var`s by name. One call per training step, on a fresh tape.
    ///
    /// ```
    /// # use tapegrad::{Params, Tape, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::scalar(3.0));
    /// let tape = Tape::new();
    /// let p = params.on(&tape);
    /// let w = p["w"]; // a Var<'_> on `tape`
    /// assert_eq!((w * w).item(), 9.0);
    /// ```
    #[track_caller]
    pub fn on<'t>(&self, tape: &'t Tape) -> ParamVars<'t> {
        let vars = self
            .entries
            .iter()
            .map(|e| {
                let value = e.tensor.clone();
                let var = if e.frozen { tape.constant(value) } else { tape.var(value) };
                (e.name.clone(), var, e.frozen)
            })
            .collect();
        ParamVars { vars, index: self.index.clone() }
    }

    /// Writes every parameter to a safetensors file (F64; PyTorch reads it with
    /// `safetensors.torch.load_file`). See [`checkpoint`](crate::checkpoint).
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::ones(&[2]));
    /// let path = std::env::temp_dir().join("tapegrad-doc-params-save.safetensors");
    /// params.save(&path)?;
    /// let mut restored = Params::new();
    /// restored.insert("w", Tensor::zeros(&[2]));
    /// restored.load(&path)?;
    /// assert_eq!(restored["w"], params["w"]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let pairs: Vec<(&str, &Tensor)> = self.iter().collect();
        crate::checkpoint::save(path, &pairs)
    }

    /// Overwrites every stored parameter with the tensor of the same name in a safetensors
    /// file, strictly (as PyTorch's `load_state_dict`): `Err` when a stored name is missing
    /// from the file, the file has a name the store lacks, or a shape differs. Nothing is
    /// changed unless everything matches.
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let path = std::env::temp_dir().join("tapegrad-doc-params-load.safetensors");
    /// let mut trained = Params::new();
    /// trained.insert("w", Tensor::ones(&[2]));
    /// trained.save(&path)?;
    /// let mut other = Params::new();
    /// other.insert("w", Tensor::zeros(&[3])); // another shape: refused, nothing changed
    /// assert!(other.load(&path).is_err());
    /// assert_eq!(other["w"].shape(), &[3]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn load(&mut self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let mut loaded = crate::checkpoint::load(path)?;
        let format = |message: String| Error::Format { path: path.to_path_buf(), message };
        if let Some(extra) = loaded.keys().find(|k| !self.contains(k)) {
            return Err(format(format!("the file has a tensor {} that the parameters lack", Clipped(extra))));
        }
        for e in &self.entries {
            match loaded.get(&e.name) {
                None => return Err(format(format!("parameter {} is missing from the file", Clipped(&e.name)))),
                Some(t) if t.shape() != e.tensor.shape() => {
                    return Err(format(format!(
                        "parameter {} has shape {:?} in the file but {:?} here",
                        Clipped(&e.name),
                        t.shape(),
                        e.tensor.shape()
                    )));
                }
                Some(_) => {}
            }
        }
        for e in &mut self.entries {
            e.tensor = loaded.remove(&e.name).expect("checked above");
        }
        Ok(())
    }

    /// Builds a store from a safetensors file, none frozen, its tensors in the order they were
    /// saved (see [`checkpoint::load_ordered`](crate::checkpoint::load_ordered)): a store
    /// saved with [`Params::save`] comes back in its insertion order, so everything that
    /// visits the parameters in order (`clip_grad_norm`'s sum) resumes bit for bit.
    ///
    /// ```
    /// # use tapegrad::{Params, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::ones(&[2]));
    /// let path = std::env::temp_dir().join("tapegrad-doc-params-from-file.safetensors");
    /// params.save(&path)?;
    /// assert_eq!(Params::from_file(&path)?["w"].data(), &[1.0, 1.0]);
    /// # Ok::<(), tapegrad::Error>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Params, Error> {
        let mut params = Params::new();
        for (name, tensor) in crate::checkpoint::load_ordered(path)? {
            params.insert(name, tensor);
        }
        Ok(params)
    }
}

/// Names for a message: `["a", "b"]`, each name cut (see `Clipped`), at most 20 of them.
fn listing<'a>(names: impl Iterator<Item = &'a str>) -> String {
    const SHOWN: usize = 20;
    let names: Vec<&str> = names.collect();
    let mut shown: Vec<String> = names.iter().take(SHOWN).map(|n| Clipped(n).to_string()).collect();
    if names.len() > SHOWN {
        shown.push(format!("... ({} in all)", names.len()));
    }
    format!("[{}]", shown.join(", "))
}

impl Index<&str> for Params {
    type Output = Tensor;
    /// The parameter called `name`; panics when it is not stored.
    #[track_caller]
    fn index(&self, name: &str) -> &Tensor {
        &self.entries[self.position("Params", name)].tensor
    }
}

/// The parameters of a [`Params`] store on one tape: each one's [`Var`] by name, made by
/// [`Params::on`]. Index it with a name (`p["layer1.weight"]`) or call [`ParamVars::get`].
///
/// ```
/// use tapegrad::{Params, Tape, Tensor};
/// let mut params = Params::new();
/// params.insert("w", Tensor::scalar(2.0));
/// let tape = Tape::new();
/// let p = params.on(&tape);
/// let y = p["w"] * p.get("w");
/// assert_eq!(p.grad(&y.backward(), "w").unwrap().item(), 4.0);
/// ```
#[derive(Clone, Debug)]
pub struct ParamVars<'t> {
    /// `(name, var, frozen)` in the store's order.
    vars: Vec<(String, Var<'t>, bool)>,
    index: HashMap<String, usize>,
}

impl<'t> ParamVars<'t> {
    /// The `Var` of the parameter called `name`. Panics, at the caller's line, when the store
    /// has no such parameter.
    ///
    /// ```
    /// # use tapegrad::{Params, Tape, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::scalar(2.0));
    /// let tape = Tape::new();
    /// let p = params.on(&tape);
    /// assert_eq!(p.get("w").item(), 2.0);
    /// ```
    #[track_caller]
    pub fn get(&self, name: &str) -> Var<'t> {
        self.vars[self.position(name)].1
    }

    /// The position of `name`, panicking (at the caller's line) with the known names.
    #[track_caller]
    fn position(&self, name: &str) -> usize {
        match self.index.get(name) {
            Some(&i) => i,
            None => panic!(
                "ParamVars: no parameter named {}; the store holds {}",
                Clipped(name),
                listing(self.vars.iter().map(|v| v.0.as_str()))
            ),
        }
    }

    /// The tape the parameters were put on.
    ///
    /// ```
    /// # use tapegrad::{Params, Tape, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::scalar(2.0));
    /// let tape = Tape::new();
    /// let p = params.on(&tape);
    /// assert!(std::ptr::eq(p.tape().unwrap(), &tape));
    /// assert_eq!(tape.len(), 1); // one leaf per parameter
    /// ```
    pub fn tape(&self) -> Option<&'t Tape> {
        self.vars.first().map(|v| v.1.tape())
    }

    /// `(name, var)` pairs in the store's order.
    ///
    /// ```
    /// # use tapegrad::{Params, Tape, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::scalar(2.0));
    /// let tape = Tape::new();
    /// for (name, var) in params.on(&tape).iter() {
    ///     println!("{name}: {var:?}");
    /// }
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, Var<'t>)> {
        self.vars.iter().map(|(n, v, _)| (n.as_str(), *v))
    }

    /// The gradient of the parameter called `name` from one backward pass: `None` when it is
    /// frozen or does not influence the output. Panics when the store has no such parameter.
    ///
    /// ```
    /// # use tapegrad::{Params, Tape, Tensor};
    /// let mut params = Params::new();
    /// params.insert("w", Tensor::scalar(3.0));
    /// let tape = Tape::new();
    /// let p = params.on(&tape);
    /// let grads = (p["w"] * 2.0).backward();
    /// assert_eq!(p.grad(&grads, "w").unwrap().item(), 2.0);
    /// ```
    #[track_caller]
    pub fn grad<'g>(&self, grads: &'g Grads, name: &str) -> Option<&'g Tensor> {
        grads.wrt(self.get(name))
    }

    /// The gradients of all parameters that have one (not frozen, influencing the output),
    /// by name, in the store's order: what an [`Optimizer`](crate::optim::Optimizer) steps from.
    ///
    /// ```
    /// # use tapegrad::{Params, Tape, Tensor};
    /// let mut params = Params::new();
    /// params.insert("a", Tensor::scalar(2.0));
    /// params.insert("unused", Tensor::scalar(1.0));
    /// let tape = Tape::new();
    /// let p = params.on(&tape);
    /// let grads = (p["a"] * p["a"]).backward();
    /// let g = p.grads(&grads);
    /// assert_eq!(g["a"].item(), 4.0);
    /// assert!(g.get("unused").is_none());
    /// ```
    #[track_caller]
    pub fn grads(&self, grads: &Grads) -> ParamGrads {
        let mut out = ParamGrads::default();
        for (name, var, frozen) in &self.vars {
            if let (false, Some(g)) = (frozen, grads.wrt(*var)) {
                out.insert(name.clone(), g.clone());
            }
        }
        out
    }
}

impl<'t> Index<&str> for ParamVars<'t> {
    type Output = Var<'t>;
    /// `p["name"]`: the same as [`ParamVars::get`].
    #[track_caller]
    fn index(&self, name: &str) -> &Var<'t> {
        &self.vars[self.position(name)].1
    }
}

/// Gradients by parameter name, in the store's order (see [`ParamVars::grads`]). Mutable, so
/// that they can be clipped ([`clip_grad_norm`](crate::optim::clip_grad_norm)) or edited before
/// a step.
///
/// ```
/// use tapegrad::optim::clip_grad_norm;
/// use tapegrad::{Params, Tape, Tensor};
/// let mut params = Params::new();
/// params.insert("w", Tensor::scalar(3.0));
/// let tape = Tape::new();
/// let p = params.on(&tape);
/// let mut g = p.grads(&(p["w"] * 10.0).backward());
/// clip_grad_norm(&mut g, 1.0);
/// assert!(g["w"].item() < 1.0);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ParamGrads {
    entries: Vec<(String, Tensor)>,
    index: HashMap<String, usize>,
}

impl ParamGrads {
    /// An empty set (build one by hand with [`ParamGrads::insert`]).
    ///
    /// ```
    /// # use tapegrad::ParamGrads;
    /// assert!(ParamGrads::new().is_empty());
    /// ```
    pub fn new() -> ParamGrads {
        ParamGrads::default()
    }

    /// Sets the gradient of `name` (replacing any).
    ///
    /// ```
    /// # use tapegrad::{ParamGrads, Tensor};
    /// let mut g = ParamGrads::new();
    /// g.insert("w", Tensor::ones(&[2]));
    /// assert_eq!(g.len(), 1);
    /// ```
    pub fn insert(&mut self, name: impl Into<String>, grad: Tensor) {
        let name = name.into();
        match self.index.get(&name) {
            Some(&i) => self.entries[i].1 = grad,
            None => {
                self.index.insert(name.clone(), self.entries.len());
                self.entries.push((name, grad));
            }
        }
    }

    /// The gradient of `name`, if any.
    ///
    /// ```
    /// # use tapegrad::{ParamGrads, Tensor};
    /// let mut g = ParamGrads::new();
    /// g.insert("w", Tensor::scalar(0.5));
    /// assert_eq!(g.get("w").map(|t| t.item()), Some(0.5));
    /// assert!(g.get("v").is_none());
    /// ```
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.index.get(name).map(|&i| &self.entries[i].1)
    }

    /// `(name, gradient)` pairs.
    ///
    /// ```
    /// # use tapegrad::{ParamGrads, Tensor};
    /// let mut g = ParamGrads::new();
    /// g.insert("w", Tensor::ones(&[2]));
    /// let norms: Vec<(&str, f64)> = g.iter().map(|(n, t)| (n, t.norm())).collect();
    /// assert_eq!(norms, [("w", 2f64.sqrt())]);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.entries.iter().map(|(n, g)| (n.as_str(), g))
    }

    /// The gradients, writable.
    ///
    /// ```
    /// # use tapegrad::{ParamGrads, Tensor};
    /// let mut g = ParamGrads::new();
    /// g.insert("w", Tensor::ones(&[2]));
    /// g.values_mut().for_each(|t| t.data_mut()[0] = 0.0);
    /// assert_eq!(g["w"].data(), &[0.0, 1.0]);
    /// ```
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Tensor> {
        self.entries.iter_mut().map(|(_, g)| g)
    }

    /// The number of gradients.
    ///
    /// ```
    /// # use tapegrad::{ParamGrads, Tensor};
    /// let mut g = ParamGrads::new();
    /// g.insert("w", Tensor::ones(&[2]));
    /// g.insert("w", Tensor::zeros(&[2])); // replaces
    /// assert_eq!(g.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are none.
    ///
    /// ```
    /// # use tapegrad::ParamGrads;
    /// assert!(ParamGrads::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Index<&str> for ParamGrads {
    type Output = Tensor;
    /// The gradient of `name`; panics when there is none.
    #[track_caller]
    fn index(&self, name: &str) -> &Tensor {
        match self.get(name) {
            Some(g) => g,
            None => panic!("ParamGrads: no gradient for {} (unknown, frozen, or not reaching the loss)", Clipped(name)),
        }
    }
}
