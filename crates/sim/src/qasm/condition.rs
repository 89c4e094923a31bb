//! `if (c == n) op;` (2.0 and 3), and OpenQASM 3's `if (c[0]) …`, `if (!c[0]) …`, blocks and
//! `else` on a single bit.

use super::error::{ErrorKind, Location, QasmError, Result};
use super::lexer::{Sym, Tok};
use super::parser::Parser;
use super::statement::{Operand, condition_value, qubits_of};
use crate::ir::Condition;

impl Parser<'_, '_> {
    /// An `if` statement, the keyword already read.
    pub(super) fn if_statement(&mut self) -> Result<()> {
        self.expect(Sym::LParen, "`(` and a condition after `if`")?;
        let negated = self.eat(Sym::Bang)?;
        let (operand, at) = self.operand(false)?;
        let clbits: Vec<usize> = qubits_of(operand).collect();
        let width = clbits.len();
        let t = self.next()?;
        let value = match t.tok {
            Tok::Sym(Sym::EqEq) if negated => {
                return Err(unsupported(t.at, "`!` combined with `==`"));
            }
            Tok::Sym(Sym::EqEq) => {
                let v = self.next()?;
                let Some(value) = condition_value(&v) else {
                    return Err(QasmError::syntax(
                        v.at,
                        format!("expected a whole number, found {}", v.tok.describe()),
                        "compare with a value such as `c == 3`",
                    ));
                };
                self.expect(Sym::RParen, "`)` to close the condition")?;
                match value.filter(|&v| width >= 64 || v >> width == 0) {
                    Some(v) => v,
                    None => {
                        return Err(QasmError::new(
                            ErrorKind::Type,
                            v.at,
                            format!("this value does not fit in the {width} bit(s) compared"),
                            format!("compare with a value below 2^{width}"),
                        ));
                    }
                }
            }
            Tok::Sym(Sym::RParen) if matches!(operand, Operand::Reg { .. }) => {
                return Err(QasmError::new(
                    ErrorKind::Unsupported,
                    at,
                    "a multi-bit register is not a condition by itself",
                    "compare it with a value, as `c == 3`, or test one bit, as `c[0]`",
                ));
            }
            Tok::Sym(Sym::RParen) if self.v3 => u64::from(!negated),
            Tok::Sym(Sym::RParen) => {
                return Err(QasmError::new(
                    ErrorKind::Version,
                    t.at,
                    "OpenQASM 2.0 conditions compare a register with a value",
                    "write `if (c == 1) …`",
                ));
            }
            Tok::Sym(
                sym
                @ (Sym::NotEq | Sym::Lt | Sym::Le | Sym::Gt | Sym::Ge | Sym::AndAnd | Sym::OrOr),
            ) => {
                return Err(unsupported(t.at, &format!("the operator `{}`", sym.text())));
            }
            other => {
                return Err(QasmError::syntax(
                    t.at,
                    format!(
                        "expected `==` or `)` in the condition, found {}",
                        other.describe()
                    ),
                    "write `if (c == 3) …` or, in OpenQASM 3, `if (c[0]) …`",
                ));
            }
        };
        let cond = Condition { clbits, value };
        self.conditioned(&cond)?;
        if self.v3 && self.peek()?.tok == Tok::Ident("else".to_owned()) {
            let at = self.next()?.at;
            if width != 1 {
                return Err(QasmError::new(
                    ErrorKind::Unsupported,
                    at,
                    "`else` after a condition on several bits is not supported",
                    "write one `if (c == n)` per value instead",
                ));
            }
            let flipped = Condition {
                clbits: cond.clbits.clone(),
                value: 1 - cond.value.min(1),
            };
            self.conditioned(&flipped)?;
        }
        Ok(())
    }

    /// The statement or (OpenQASM 3) block that runs when `cond` holds.
    fn conditioned(&mut self, cond: &Condition) -> Result<()> {
        if !(self.v3 && self.peek()?.tok == Tok::Sym(Sym::LBrace)) {
            return self.conditioned_statement(cond);
        }
        let open = self.next()?.at;
        loop {
            match self.peek()?.tok {
                Tok::Sym(Sym::RBrace) => {
                    self.next()?;
                    return Ok(());
                }
                Tok::Eof => {
                    return Err(QasmError::syntax(
                        open,
                        "this `if` block is never closed",
                        "end it with `}`",
                    ));
                }
                _ => self.conditioned_statement(cond)?,
            }
        }
    }

    fn conditioned_statement(&mut self, cond: &Condition) -> Result<()> {
        let t = self.next()?;
        let Tok::Ident(word) = t.tok else {
            return Err(QasmError::syntax(
                t.at,
                format!("expected a statement, found {}", t.tok.describe()),
                "follow the condition with a gate call, `measure` or `reset`",
            ));
        };
        if matches!(
            word.as_str(),
            "qreg" | "creg" | "qubit" | "bit" | "gate" | "opaque" | "include" | "OPENQASM"
        ) {
            return Err(QasmError::new(
                ErrorKind::Unsupported,
                t.at,
                format!("`{word}` cannot appear inside an `if`"),
                "only gate calls, `measure`, `reset` and (OpenQASM 3) `barrier` can be conditioned",
            ));
        }
        self.quantum_statement(word, t.at, Some(cond))
    }
}

fn unsupported(at: Location, what: &str) -> QasmError {
    QasmError::new(
        ErrorKind::Unsupported,
        at,
        format!("{what} is not supported in conditions"),
        "conditions compare a classical register with a value (`c == 3`) or test one bit (`c[0]`, `!c[0]`)",
    )
}
