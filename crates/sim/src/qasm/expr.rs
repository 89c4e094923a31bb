//! Angle expressions: parsing (with constant folding, so that a gate definition keeps only what
//! depends on its parameters) and evaluation, refusing any non-finite value.

use std::collections::HashMap;

use super::error::{ErrorKind, Limit, Location, QasmError, Result};
use super::lexer::{Sym, Tok};
use super::parser::Parser;

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

impl BinOp {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Pow => a.powf(b),
        }
    }

    fn text(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Pow => "^",
        }
    }
}

/// A built-in function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    Sin,
    Cos,
    Tan,
    Exp,
    Ln,
    Sqrt,
    Asin,
    Acos,
    Atan,
}

impl Func {
    fn named(name: &str) -> Option<Func> {
        Some(match name {
            "sin" => Func::Sin,
            "cos" => Func::Cos,
            "tan" => Func::Tan,
            "exp" => Func::Exp,
            "ln" => Func::Ln,
            "sqrt" => Func::Sqrt,
            "asin" | "arcsin" => Func::Asin,
            "acos" | "arccos" => Func::Acos,
            "atan" | "arctan" => Func::Atan,
            _ => return None,
        })
    }

    fn apply(self, x: f64) -> f64 {
        match self {
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
            Func::Tan => x.tan(),
            Func::Exp => x.exp(),
            Func::Ln => x.ln(),
            Func::Sqrt => x.sqrt(),
            Func::Asin => x.asin(),
            Func::Acos => x.acos(),
            Func::Atan => x.atan(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tan => "tan",
            Func::Exp => "exp",
            Func::Ln => "ln",
            Func::Sqrt => "sqrt",
            Func::Asin => "asin",
            Func::Acos => "acos",
            Func::Atan => "atan",
        }
    }
}

/// The value of a named constant.
pub(super) fn constant(name: &str) -> Option<f64> {
    match name {
        "pi" | "π" => Some(std::f64::consts::PI),
        "tau" | "τ" => Some(std::f64::consts::TAU),
        "euler" | "ℯ" => Some(std::f64::consts::E),
        _ => None,
    }
}

/// The names a gate definition's body can use: its parameters and its qubit arguments (hashed,
/// so that a definition with very many arguments is still read in linear time). Empty outside
/// gate definitions.
#[derive(Debug, Default)]
pub(super) struct Scope {
    params: Vec<String>,
    qubits: Vec<String>,
    index: HashMap<String, (bool, usize)>,
}

impl Scope {
    /// Adds a parameter (`param`) or qubit argument; false if the name is already taken.
    pub(super) fn add(&mut self, name: String, param: bool) -> bool {
        if self.index.contains_key(&name) {
            return false;
        }
        let list = if param {
            &mut self.params
        } else {
            &mut self.qubits
        };
        self.index.insert(name.clone(), (param, list.len()));
        list.push(name);
        true
    }

    /// The position of parameter `name`.
    pub(super) fn param(&self, name: &str) -> Option<usize> {
        match self.index.get(name) {
            Some(&(true, i)) => Some(i),
            _ => None,
        }
    }

    /// The position of qubit argument `name`.
    pub(super) fn qubit(&self, name: &str) -> Option<usize> {
        match self.index.get(name) {
            Some(&(false, i)) => Some(i),
            _ => None,
        }
    }

    pub(super) fn num_params(&self) -> usize {
        self.params.len()
    }

    pub(super) fn num_qubits(&self) -> usize {
        self.qubits.len()
    }

    /// The parameters' names, for messages (the first few).
    pub(super) fn params_list(&self) -> String {
        list(&self.params)
    }

    /// The qubit arguments' names, for messages (the first few).
    pub(super) fn qubits_list(&self) -> String {
        list(&self.qubits)
    }
}

fn list(names: &[String]) -> String {
    let mut out = names.iter().take(8).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > 8 {
        out.push_str(", …");
    }
    out
}

/// An expression.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Num(f64),
    /// The gate definition's parameter number `n`.
    Param(usize),
    Neg(Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    Func(Func, Box<Node>),
}

/// An expression, where it is (its operator's position for an operation), and the depth of its
/// tree (bounded by [`super::Limits::max_expression_depth`], so that evaluating and dropping it
/// recurse a bounded number of times).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Node {
    pub(super) expr: Expr,
    pub(super) at: Location,
    depth: usize,
}

/// A value that is not finite.
pub(super) struct MathError {
    pub(super) at: Location,
    pub(super) message: String,
}

impl Node {
    fn num(v: f64, at: Location) -> Node {
        Node {
            expr: Expr::Num(v),
            at,
            depth: 1,
        }
    }

    /// The value, with the gate's parameters `env`.
    pub(super) fn eval(&self, env: &[f64]) -> std::result::Result<f64, MathError> {
        let (v, what) = match &self.expr {
            Expr::Num(v) => (*v, None),
            Expr::Param(i) => (env.get(*i).copied().unwrap_or(f64::NAN), None),
            Expr::Neg(a) => (-a.eval(env)?, None),
            Expr::Bin(op, a, b) => {
                let (a, b) = (a.eval(env)?, b.eval(env)?);
                let what = if *op == BinOp::Div && b == 0.0 {
                    format!("`{a} / {b}` divides by zero and")
                } else {
                    format!("`{a} {} {b}`", op.text())
                };
                (op.apply(a, b), Some(what))
            }
            Expr::Func(f, a) => {
                let a = a.eval(env)?;
                (f.apply(a), Some(format!("`{}({a})`", f.name())))
            }
        };
        if v.is_finite() {
            Ok(v)
        } else {
            Err(MathError {
                at: self.at,
                message: format!(
                    "{} has no finite value",
                    what.unwrap_or_else(|| "a parameter".to_owned())
                ),
            })
        }
    }

    /// The value, when it does not depend on parameters (folded at parse time).
    pub(super) fn value(&self) -> Option<f64> {
        match self.expr {
            Expr::Num(v) => Some(v),
            _ => None,
        }
    }
}

#[cold]
#[inline(never)]
fn unclosed(found: &Tok, at: Location, what: &str) -> QasmError {
    QasmError::syntax(
        at,
        format!("expected {what}, found {}", found.describe()),
        "insert `)`",
    )
}

/// The operand on top of the stack.
fn pop(values: &mut Vec<Node>, at: Location) -> Result<Node> {
    values.pop().ok_or_else(|| internal(at))
}

#[cold]
#[inline(never)]
fn internal(at: Location) -> QasmError {
    QasmError::syntax(
        at,
        "internal error while reading an expression",
        "report this program to the qwarden developers",
    )
}

#[cold]
#[inline(never)]
fn not_an_angle(found: &Tok, at: Location) -> QasmError {
    QasmError::syntax(
        at,
        format!("expected an angle, found {}", found.describe()),
        "write a number, `pi`, a parameter, or an expression such as `pi/2`",
    )
}

#[cold]
#[inline(never)]
fn math(e: MathError) -> QasmError {
    QasmError::new(
        ErrorKind::Math,
        e.at,
        e.message,
        "check for a division by zero, a logarithm or square root of a negative number, or an overflow",
    )
}

/// An operator waiting for its operands while an expression is read.
#[derive(Debug, Clone, Copy)]
enum Pending {
    Bin(BinOp, Location),
    Neg(Location),
    Paren(Location),
    Func(Func, Location),
}

impl Pending {
    /// How tightly it binds (parentheses and functions are never reduced by an operator).
    fn precedence(self) -> u8 {
        match self {
            Pending::Bin(BinOp::Add | BinOp::Sub, _) => 1,
            Pending::Bin(BinOp::Mul | BinOp::Div, _) => 2,
            Pending::Neg(_) => 3,
            Pending::Bin(BinOp::Pow, _) => 4,
            Pending::Paren(_) | Pending::Func(..) => 0,
        }
    }
}

impl Parser<'_, '_> {
    /// An expression; identifiers other than constants and functions are looked up in `scope`
    /// (a gate definition's parameters; empty elsewhere).
    ///
    /// Read with explicit stacks (operator precedence), not by recursion, so that the call
    /// stack stays small whatever the input; the operators waiting on the stack are what nests,
    /// and they are bounded by [`super::Limits::max_expression_depth`]. Precedence, loosest
    /// first: `+ -`, `* /`, unary `-`, power (`^` in 2.0, `**` in 3; right-associative, so
    /// `-2^2` is `-(2^2)` and `2^3^2` is `2^9`).
    pub(super) fn expr(&mut self, scope: &Scope) -> Result<Node> {
        let mut values: Vec<Node> = Vec::new();
        let mut pending: Vec<Pending> = Vec::new();
        loop {
            // An operand, after any prefix signs and opening parentheses.
            let token = self.next()?;
            let at = token.at;
            let prefix = match token.tok {
                Tok::Sym(Sym::Minus) => Some(Pending::Neg(at)),
                Tok::Sym(Sym::LParen) => Some(Pending::Paren(at)),
                Tok::Sym(Sym::Plus) => continue,
                Tok::Num { value, .. } => {
                    values.push(Node::num(value, at));
                    None
                }
                Tok::Ident(name) => {
                    if let Some(f) = Func::named(&name)
                        && self.peek()?.tok == Tok::Sym(Sym::LParen)
                    {
                        self.next()?;
                        Some(Pending::Func(f, at))
                    } else {
                        values.push(self.name_value(&name, at, scope)?);
                        None
                    }
                }
                other => return Err(not_an_angle(&other, at)),
            };
            if let Some(p) = prefix {
                self.push_pending(&mut pending, p, at)?;
                continue;
            }
            // Operators and closing parentheses, until the next operand or the end.
            loop {
                let (tok, at) = {
                    let t = self.peek()?;
                    (t.tok.clone(), t.at)
                };
                let op = match tok {
                    Tok::Sym(Sym::Plus) => BinOp::Add,
                    Tok::Sym(Sym::Minus) => BinOp::Sub,
                    Tok::Sym(Sym::Star) => BinOp::Mul,
                    Tok::Sym(Sym::Slash) => BinOp::Div,
                    Tok::Sym(Sym::Caret) if !self.v3 => BinOp::Pow,
                    Tok::Sym(Sym::StarStar) if self.v3 => BinOp::Pow,
                    Tok::Sym(Sym::Caret | Sym::StarStar) => return Err(self.wrong_power(at)),
                    Tok::Sym(Sym::RParen)
                        if pending
                            .iter()
                            .any(|p| matches!(p, Pending::Paren(_) | Pending::Func(..))) =>
                    {
                        self.next()?;
                        self.close(&mut values, &mut pending)?;
                        continue;
                    }
                    _ => return self.finish(values, pending, &tok, at),
                };
                self.next()?;
                let new = Pending::Bin(op, at);
                let right_assoc = op == BinOp::Pow;
                while let Some(&top) = pending.last() {
                    let (t, n) = (top.precedence(), new.precedence());
                    if t > n || (t == n && !right_assoc) {
                        pending.pop();
                        self.reduce(&mut values, top)?;
                    } else {
                        break;
                    }
                }
                self.push_pending(&mut pending, new, at)?;
                break;
            }
        }
    }

    fn push_pending(&self, pending: &mut Vec<Pending>, p: Pending, at: Location) -> Result<()> {
        if pending.len() >= self.b.limits.max_expression_depth {
            return Err(self.too_deep(at));
        }
        pending.push(p);
        Ok(())
    }

    /// A `)`: reduces back to the matching `(` or function call.
    fn close(&self, values: &mut Vec<Node>, pending: &mut Vec<Pending>) -> Result<()> {
        while let Some(top) = pending.pop() {
            match top {
                Pending::Paren(_) => return Ok(()),
                Pending::Func(f, at) => {
                    let arg = pop(values, at)?;
                    values.push(self.function(f, arg, at)?);
                    return Ok(());
                }
                _ => self.reduce(values, top)?,
            }
        }
        Ok(())
    }

    /// The end of the expression, before the token at `at`.
    fn finish(
        &self,
        mut values: Vec<Node>,
        mut pending: Vec<Pending>,
        found: &Tok,
        at: Location,
    ) -> Result<Node> {
        while let Some(top) = pending.pop() {
            match top {
                Pending::Paren(_) => {
                    return Err(unclosed(found, at, "`)` to close this parenthesis"));
                }
                Pending::Func(..) => {
                    return Err(unclosed(found, at, "`)` to close the function's argument"));
                }
                _ => self.reduce(&mut values, top)?,
            }
        }
        let node = pop(&mut values, at)?;
        match values.is_empty() {
            true => Ok(node),
            false => Err(internal(at)),
        }
    }

    fn reduce(&self, values: &mut Vec<Node>, op: Pending) -> Result<()> {
        let node = match op {
            Pending::Bin(op, at) => {
                let right = pop(values, at)?;
                let left = pop(values, at)?;
                self.binary(op, left, right, at)?
            }
            Pending::Neg(at) => {
                let inner = pop(values, at)?;
                self.negate(inner, at)?
            }
            Pending::Paren(at) | Pending::Func(_, at) => return Err(internal(at)),
        };
        values.push(node);
        Ok(())
    }

    /// A name where an operand is expected: a constant or a parameter.
    fn name_value(&self, name: &str, at: Location, scope: &Scope) -> Result<Node> {
        if let Some(v) = constant(name) {
            return Ok(Node::num(v, at));
        }
        match scope.param(name) {
            Some(i) => Ok(Node {
                expr: Expr::Param(i),
                at,
                depth: 1,
            }),
            None => Err(self.unknown_identifier(name, at, scope)),
        }
    }

    #[cold]
    #[inline(never)]
    fn wrong_power(&self, at: Location) -> QasmError {
        if self.v3 {
            QasmError::new(
                ErrorKind::Unsupported,
                at,
                "in OpenQASM 3, `^` is bitwise XOR, which angles do not support",
                "write a power as `a ** b`",
            )
        } else {
            QasmError::syntax(
                at,
                "`**` is OpenQASM 3's power operator",
                "write a power as `a ^ b` in OpenQASM 2.0",
            )
        }
    }

    #[cold]
    #[inline(never)]
    fn unknown_identifier(&self, name: &str, at: Location, scope: &Scope) -> QasmError {
        if self.b.lookup(name).is_some() {
            return QasmError::new(
                ErrorKind::Type,
                at,
                format!("`{name}` is not an angle: angles cannot use registers or gates"),
                "use numbers, `pi`, `tau`, `euler`, functions such as `sin(…)`, and the gate's parameters",
            );
        }
        let hint = if scope.num_params() == 0 {
            "angles can use numbers, `pi`, `tau`, `euler` and functions (sin, cos, tan, exp, ln, sqrt, asin, acos, atan)".to_owned()
        } else {
            format!(
                "angles can use numbers, `pi`, `tau`, `euler`, functions, and this gate's parameters ({})",
                scope.params_list()
            )
        };
        QasmError::new(
            ErrorKind::Undefined,
            at,
            format!("unknown identifier `{name}` in an angle"),
            hint,
        )
    }

    #[cold]
    #[inline(never)]
    fn too_deep(&self, at: Location) -> QasmError {
        QasmError::limit(
            Limit::ExpressionDepth,
            at,
            format!(
                "this expression nests more than {} levels deep (the limit)",
                self.b.limits.max_expression_depth
            ),
        )
    }

    fn deeper(&self, depth: usize, at: Location) -> Result<usize> {
        if depth > self.b.limits.max_expression_depth {
            Err(self.too_deep(at))
        } else {
            Ok(depth)
        }
    }

    fn negate(&self, inner: Node, at: Location) -> Result<Node> {
        if let Some(v) = inner.value() {
            return Ok(Node::num(-v, at));
        }
        let depth = self.deeper(inner.depth + 1, at)?;
        Ok(Node {
            expr: Expr::Neg(Box::new(inner)),
            at,
            depth,
        })
    }

    fn binary(&self, op: BinOp, a: Node, b: Node, at: Location) -> Result<Node> {
        let node = Node {
            depth: self.deeper(a.depth.max(b.depth) + 1, at)?,
            expr: Expr::Bin(op, Box::new(a), Box::new(b)),
            at,
        };
        fold(node)
    }

    fn function(&self, f: Func, arg: Node, at: Location) -> Result<Node> {
        let node = Node {
            depth: self.deeper(arg.depth + 1, at)?,
            expr: Expr::Func(f, Box::new(arg)),
            at,
        };
        fold(node)
    }
}

/// `node`, evaluated now if it does not depend on parameters.
fn fold(node: Node) -> Result<Node> {
    let constant = match &node.expr {
        Expr::Bin(_, a, b) => a.value().is_some() && b.value().is_some(),
        Expr::Func(_, a) => a.value().is_some(),
        _ => false,
    };
    if constant {
        let v = node.eval(&[]).map_err(math)?;
        Ok(Node::num(v, node.at))
    } else {
        Ok(node)
    }
}
