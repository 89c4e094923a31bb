//! `gate name(params) a, b { … }` and `opaque name(params) a, b;`.
//!
//! A body can only call gates defined before it, so definitions cannot recurse; each definition
//! records how many instructions one application emits and how deeply definitions nest in it,
//! so that the builder can refuse an oversized expansion before emitting anything.

use std::collections::HashSet;

use super::builder::{BodyOp, GateBody, GateDef, Origin, Symbol};
use super::error::{ErrorKind, Limit, Location, QasmError, Result};
use super::expr::{Node, Scope};
use super::lexer::{Sym, Tok};
use super::library::{library_gate, qelib1_primitive};
use super::parser::Parser;
use super::statement::{check_arity, unsupported_keyword};

/// The signature of the gate being defined.
struct Signature {
    name: String,
    scope: Scope,
}

/// A body as it is read.
#[derive(Default)]
struct Body {
    ops: Vec<BodyOp>,
    count: u64,
    extra: u64,
    depth: usize,
}

impl Parser<'_, '_> {
    /// A `gate` definition, the keyword already read.
    pub(super) fn gate_definition(&mut self) -> Result<()> {
        let (sig, name_at) = self.signature()?;
        let open = self.expect(Sym::LBrace, "`{` and the gate's body")?;
        let mut body = Body::default();
        loop {
            let t = self.next()?;
            match t.tok {
                Tok::Sym(Sym::RBrace) => break,
                Tok::Eof => {
                    return Err(QasmError::syntax(
                        open,
                        format!("the body of gate `{}` is never closed", sig.name),
                        "end it with `}`",
                    ));
                }
                Tok::Ident(word) => self.body_statement(&sig, &mut body, word, t.at)?,
                other => {
                    return Err(QasmError::syntax(
                        t.at,
                        format!(
                            "expected a gate call in the body of `{}`, found {}",
                            sig.name,
                            other.describe()
                        ),
                        "a gate's body holds gate calls such as `h a;` and barriers",
                    ));
                }
            }
        }
        let depth = body.depth + 1;
        let max = self.b.limits.max_gate_depth;
        if depth > max {
            return Err(QasmError::limit(
                Limit::GateDepth,
                name_at,
                format!(
                    "gate `{}` nests {depth} gate definitions deep; the limit is {max}",
                    sig.name
                ),
            ));
        }
        let primitive = qelib1_primitive(&sig.name).filter(|_| self.library);
        let def = match primitive {
            Some(p) => GateDef::primitive(&sig.name, p, Origin::Library("qelib1.inc")),
            None => GateDef {
                params: sig.scope.num_params(),
                qubits: sig.scope.num_qubits(),
                body: GateBody::Ops(body.ops),
                count: body.count,
                extra: body.extra,
                depth,
                origin: self.origin(name_at),
                name: sig.name,
            },
        };
        self.b.define_gate(def);
        Ok(())
    }

    /// An `opaque` declaration, the keyword already read.
    pub(super) fn opaque_definition(&mut self) -> Result<()> {
        let (sig, name_at) = self.signature()?;
        self.end()?;
        let def = GateDef {
            params: sig.scope.num_params(),
            qubits: sig.scope.num_qubits(),
            body: GateBody::Opaque,
            count: 0,
            extra: 0,
            depth: 0,
            origin: self.origin(name_at),
            name: sig.name,
        };
        self.b.define_gate(def);
        Ok(())
    }

    fn origin(&self, at: Location) -> Origin {
        if self.library {
            Origin::Library("qelib1.inc")
        } else {
            Origin::Source(at)
        }
    }

    /// `name(params) a, b`, checking that every name is new and distinct.
    fn signature(&mut self) -> Result<(Signature, Location)> {
        let (name, name_at) = self.new_name("a gate name")?;
        self.b.check_new(&name, name_at)?;
        let mut scope = Scope::default();
        if self.eat(Sym::LParen)? && !self.eat(Sym::RParen)? {
            loop {
                self.formal(&mut scope, true)?;
                if self.eat(Sym::RParen)? {
                    break;
                }
                self.expect(Sym::Comma, "`,` or `)` in the parameter list")?;
            }
        }
        self.formal(&mut scope, false)?;
        while self.eat(Sym::Comma)? {
            self.formal(&mut scope, false)?;
        }
        Ok((Signature { name, scope }, name_at))
    }

    fn formal(&mut self, scope: &mut Scope, param: bool) -> Result<()> {
        let what = if param {
            "a parameter name"
        } else {
            "a qubit argument name"
        };
        let (name, at) = self.new_name(what)?;
        if scope.add(name.clone(), param) {
            return Ok(());
        }
        Err(QasmError::new(
            ErrorKind::Duplicate,
            at,
            format!("`{name}` is already an argument of this gate"),
            "give each parameter and qubit argument its own name",
        ))
    }

    fn body_statement(
        &mut self,
        sig: &Signature,
        body: &mut Body,
        word: String,
        at: Location,
    ) -> Result<()> {
        match word.as_str() {
            "barrier" => {
                let qubits = self.formal_qubits(sig, "barrier", true)?;
                body.count = body.count.saturating_add(1);
                body.extra = body.extra.saturating_add(qubits.len() as u64);
                body.ops.push(BodyOp::Barrier { qubits });
                return Ok(());
            }
            "gphase" if self.v3 => {
                self.expect(Sym::LParen, "`(` and the phase angle")?;
                self.expr(&sig.scope)?;
                self.expect(Sym::RParen, "`)` after the phase angle")?;
                if self.peek()?.tok != Tok::Sym(Sym::Semi) {
                    self.formal_qubits(sig, "gphase", false)?;
                } else {
                    self.end()?;
                }
                return Ok(());
            }
            "measure" | "reset" | "if" | "gate" | "opaque" | "qreg" | "creg" | "qubit" | "bit"
            | "include" | "OPENQASM" => {
                return Err(QasmError::new(
                    ErrorKind::Unsupported,
                    at,
                    format!("`{word}` is not allowed inside a gate definition"),
                    "a gate's body holds only gate calls and barriers; put the statement after the gate is applied",
                ));
            }
            _ => {}
        }
        if word == sig.name {
            return Err(QasmError::new(
                ErrorKind::Recursive,
                at,
                format!("gate `{word}` calls itself: recursive gate definitions are impossible"),
                "a gate can only use gates defined before it; write the repetition out, or define smaller gates first",
            ));
        }
        let g = match self.b.lookup(&word) {
            Some((Symbol::Gate(g), _)) => g,
            Some(_) => {
                return Err(QasmError::new(
                    ErrorKind::Type,
                    at,
                    format!(
                        "`{word}` is a register, and registers cannot be used inside a gate definition"
                    ),
                    "a gate's body uses only its own qubit arguments",
                ));
            }
            None => {
                if let Some((what, hint)) = unsupported_keyword(&word).filter(|_| self.v3) {
                    return Err(QasmError::new(
                        ErrorKind::Unsupported,
                        at,
                        format!("{what} (`{word}`) are outside the OpenQASM 3 subset qwarden runs"),
                        hint,
                    ));
                }
                let hint = match library_gate(&word, self.v3) {
                    Some(lib) if self.b.included.is_empty() && !self.library => {
                        format!("add `include \"{lib}\";` after the version header")
                    }
                    _ => format!(
                        "a gate can only use gates defined before it: define `{word}` above `{}`",
                        sig.name
                    ),
                };
                return Err(QasmError::new(
                    ErrorKind::Undefined,
                    at,
                    format!("gate `{word}` is not defined"),
                    hint,
                ));
            }
        };
        let mut params: Vec<Node> = Vec::new();
        if self.eat(Sym::LParen)? && !self.eat(Sym::RParen)? {
            loop {
                params.push(self.expr(&sig.scope)?);
                if self.eat(Sym::RParen)? {
                    break;
                }
                self.expect(Sym::Comma, "`,` or `)` in the gate's parameters")?;
            }
        }
        let qubits = self.formal_qubits(sig, &word, false)?;
        let Some(callee) = self.b.gate(g) else {
            return Ok(());
        };
        if matches!(callee.body, GateBody::Opaque) {
            return Err(QasmError::new(
                ErrorKind::Opaque,
                at,
                format!("gate `{word}` is declared `opaque`: it has no definition to run"),
                format!("replace `opaque {word} …;` with `gate {word} … {{ … }}` giving its gates"),
            ));
        }
        check_arity(&word, "parameter", callee.params, params.len(), at)?;
        check_arity(&word, "qubit", callee.qubits, qubits.len(), at)?;
        if callee.count == 0 {
            // Nothing to emit (an empty body, or only global phases): no need to expand it.
            return Ok(());
        }
        body.count = body.count.saturating_add(callee.count);
        body.extra = body.extra.saturating_add(callee.extra);
        body.depth = body.depth.max(callee.depth);
        body.ops.push(BodyOp::Call {
            gate: g,
            params,
            qubits,
        });
        Ok(())
    }

    /// `a, b;`: qubit arguments of the gate being defined, by position, up to the `;`. A gate
    /// call's qubits must be distinct; a `barrier`'s may repeat (and are deduplicated).
    fn formal_qubits(&mut self, sig: &Signature, user: &str, barrier: bool) -> Result<Vec<usize>> {
        let mut out: Vec<usize> = Vec::new();
        let mut seen: HashSet<usize> = HashSet::new();
        loop {
            let t = self.next()?;
            let Tok::Ident(name) = t.tok else {
                return Err(QasmError::syntax(
                    t.at,
                    format!(
                        "expected a qubit argument of `{}`, found {}",
                        sig.name,
                        t.tok.describe()
                    ),
                    format!(
                        "use the gate's qubit arguments: {}",
                        sig.scope.qubits_list()
                    ),
                ));
            };
            let Some(i) = sig.scope.qubit(&name) else {
                let message = if self.b.lookup(&name).is_some() {
                    format!(
                        "`{name}` is a global name; a gate's body uses only its own qubit arguments"
                    )
                } else {
                    format!("`{name}` is not a qubit argument of gate `{}`", sig.name)
                };
                return Err(QasmError::new(
                    ErrorKind::Undefined,
                    t.at,
                    message,
                    format!(
                        "use the gate's qubit arguments: {}",
                        sig.scope.qubits_list()
                    ),
                ));
            };
            if self.peek()?.tok == Tok::Sym(Sym::LBracket) {
                return Err(QasmError::new(
                    ErrorKind::Type,
                    self.peek()?.at,
                    format!("`{name}` is a single qubit inside the gate and cannot be indexed"),
                    format!("write `{name}` without an index"),
                ));
            }
            if !seen.insert(i) {
                if !barrier {
                    return Err(QasmError::new(
                        ErrorKind::DuplicateQubit,
                        t.at,
                        format!("qubit `{name}` is given twice to `{user}`"),
                        "a gate's qubits must all be different",
                    ));
                }
            } else {
                out.push(i);
            }
            if !self.eat(Sym::Comma)? {
                break;
            }
        }
        self.end()?;
        Ok(out)
    }
}
