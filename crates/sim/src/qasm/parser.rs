//! The recursive-descent parser: token handling, the version header, includes and declarations.
//! Quantum statements are in `statement.rs`, gate definitions in `gatedef.rs`, expressions in
//! `expr.rs`.

use super::builder::{Builder, GateDef, Origin};
use super::error::{ErrorKind, Location, QasmError, Result};
use super::lexer::{Lexer, Sym, Tok, Token};
use super::library::{Prim, QELIB1, STDGATES};

/// Parses tokens from one source (the program, or the built-in `qelib1.inc`) into a [`Builder`].
pub(super) struct Parser<'s, 'b> {
    lexer: Lexer<'s>,
    /// The next token, when peeked.
    ahead: Option<Token>,
    pub(super) b: &'b mut Builder,
    /// OpenQASM 3 (else 2.0).
    pub(super) v3: bool,
    /// Parsing the built-in `qelib1.inc`.
    pub(super) library: bool,
}

impl<'s, 'b> Parser<'s, 'b> {
    pub(super) fn new(src: &'s str, b: &'b mut Builder) -> Parser<'s, 'b> {
        Parser {
            lexer: Lexer::new(src),
            ahead: None,
            b,
            v3: true,
            library: false,
        }
    }

    /// The next token, without consuming it.
    pub(super) fn peek(&mut self) -> Result<&Token> {
        let token = match self.ahead.take() {
            Some(t) => t,
            None => self.lexer.next_token()?,
        };
        Ok(self.ahead.insert(token))
    }

    /// The next token, consumed.
    pub(super) fn next(&mut self) -> Result<Token> {
        match self.ahead.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    /// Consumes the next token if it is `sym`.
    pub(super) fn eat(&mut self, sym: Sym) -> Result<bool> {
        if self.peek()?.tok == Tok::Sym(sym) {
            self.next()?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Consumes `sym`, or fails saying `what` was expected.
    pub(super) fn expect(&mut self, sym: Sym, what: &str) -> Result<Location> {
        let t = self.next()?;
        if t.tok == Tok::Sym(sym) {
            Ok(t.at)
        } else {
            Err(QasmError::syntax(
                t.at,
                format!("expected {what}, found {}", t.tok.describe()),
                format!("insert `{}`", sym.text()),
            ))
        }
    }

    /// Consumes `;` at the end of a statement.
    pub(super) fn end(&mut self) -> Result<()> {
        self.expect(Sym::Semi, "`;` at the end of the statement")
            .map(|_| ())
    }

    /// Consumes an identifier that names something new (`what` says what, for messages).
    pub(super) fn new_name(&mut self, what: &str) -> Result<(String, Location)> {
        let t = self.next()?;
        let Tok::Ident(name) = t.tok else {
            return Err(QasmError::syntax(
                t.at,
                format!("expected {what}, found {}", t.tok.describe()),
                format!("write {what} here"),
            ));
        };
        let v3_word = self.v3
            && (matches!(name.as_str(), "qubit" | "bit" | "else" | "gphase")
                || super::statement::unsupported_keyword(&name).is_some());
        if super::expr::constant(&name).is_some() || is_keyword(&name) || v3_word {
            return Err(QasmError::syntax(
                t.at,
                format!("`{name}` is reserved and cannot be {what}"),
                "choose another name",
            ));
        }
        Ok((name, t.at))
    }

    /// Consumes a non-negative integer literal (`what` says what it is, for messages).
    pub(super) fn integer(&mut self, what: &str) -> Result<(Option<u64>, Location)> {
        let t = self.next()?;
        match t.tok {
            Tok::Num {
                int, integer: true, ..
            } => Ok((int, t.at)),
            Tok::Sym(Sym::Minus) => Err(QasmError::new(
                ErrorKind::Unsupported,
                t.at,
                format!("{what} cannot be negative"),
                "count from 0 at the start of the register",
            )),
            other => Err(QasmError::syntax(
                t.at,
                format!(
                    "expected {what} (a whole number), found {}",
                    other.describe()
                ),
                "write a whole number such as `0` or `2`",
            )),
        }
    }

    /// The whole source: header, then statements.
    pub(super) fn program(&mut self) -> Result<()> {
        if !self.library {
            self.header()?;
        }
        loop {
            let t = self.next()?;
            if t.tok == Tok::Eof {
                return Ok(());
            }
            self.statement(t)?;
        }
    }

    /// The optional `OPENQASM 2.0;` / `OPENQASM 3;` header (OpenQASM 3 without it), and the
    /// built-in gates of that version.
    fn header(&mut self) -> Result<()> {
        if self.peek()?.tok == Tok::Ident("OPENQASM".to_owned()) {
            self.next()?;
            let t = self.next()?;
            let version = match t.tok {
                Tok::Num { value: 2.0, .. } => Some(false),
                Tok::Num { value, .. } if value.trunc() == 3.0 => Some(true),
                _ => None,
            };
            let Some(v3) = version else {
                return Err(QasmError::new(
                    ErrorKind::Version,
                    t.at,
                    format!("unsupported OpenQASM version: {}", t.tok.describe()),
                    "write `OPENQASM 2.0;` or `OPENQASM 3.0;`",
                ));
            };
            self.v3 = v3;
            self.end()?;
        }
        let origin = Origin::Library("the language (built in)");
        self.b.define_gate(GateDef::primitive("U", Prim::U, origin));
        if !self.v3 {
            self.b
                .define_gate(GateDef::primitive("CX", Prim::CX, origin));
        }
        Ok(())
    }

    /// One top-level statement, starting with `first`.
    fn statement(&mut self, first: Token) -> Result<()> {
        let at = first.at;
        let Tok::Ident(word) = first.tok else {
            return Err(QasmError::syntax(
                at,
                format!("expected a statement, found {}", first.tok.describe()),
                "start a statement with a declaration, a gate name, `measure`, `reset`, `barrier` or `if`",
            ));
        };
        match word.as_str() {
            "OPENQASM" => Err(QasmError::new(
                ErrorKind::Version,
                at,
                "the `OPENQASM` version header must be the first statement",
                "move it to the top of the file, before any other statement",
            )),
            "include" => self.include(at),
            "qreg" | "creg" => self.old_declaration(word == "qreg"),
            "qubit" | "bit" if self.v3 => self.declaration(word == "qubit"),
            "qubit" | "bit" => Err(QasmError::new(
                ErrorKind::Version,
                at,
                format!("`{word}` declarations are OpenQASM 3"),
                "declare `qreg q[n];` / `creg c[n];` in OpenQASM 2.0, or start the file with `OPENQASM 3.0;`",
            )),
            "gate" => self.gate_definition(),
            "opaque" => self.opaque_definition(),
            _ => self.quantum_statement(word, at, None),
        }
    }

    /// `include "qelib1.inc";` (2.0) or `include "stdgates.inc";` (3), both built in.
    fn include(&mut self, at: Location) -> Result<()> {
        let t = self.next()?;
        let Tok::Str(file) = t.tok else {
            return Err(QasmError::syntax(
                t.at,
                format!("expected a file name in quotes, found {}", t.tok.describe()),
                "write `include \"qelib1.inc\";` (OpenQASM 2.0) or `include \"stdgates.inc\";` (OpenQASM 3)",
            ));
        };
        self.end()?;
        let (wanted, other) = if self.v3 {
            ("stdgates.inc", "qelib1.inc")
        } else {
            ("qelib1.inc", "stdgates.inc")
        };
        if file != wanted {
            let hint = if file == other {
                if self.v3 {
                    "in OpenQASM 3, include \"stdgates.inc\"; or start the file with `OPENQASM 2.0;` to use qelib1.inc"
                } else {
                    "in OpenQASM 2.0, include \"qelib1.inc\"; or start the file with `OPENQASM 3.0;` to use stdgates.inc"
                }
            } else {
                "paste the file's gate definitions into the program"
            };
            return Err(QasmError::new(
                ErrorKind::Include,
                t.at,
                format!(
                    "cannot include {file:?}: qwarden reads no files, and this version's only built-in library is \"{wanted}\""
                ),
                hint,
            ));
        }
        if let Some((_, first)) = self.b.included.first() {
            return Err(QasmError::new(
                ErrorKind::Duplicate,
                at,
                format!("\"{wanted}\" is already included at {first}"),
                "remove this include",
            ));
        }
        self.b.included.push((wanted, at));
        if self.v3 {
            for (name, prim) in STDGATES {
                self.b.check_new(name, at)?;
                let def = GateDef::primitive(name, *prim, Origin::Library("stdgates.inc"));
                self.b.define_gate(def);
            }
            return Ok(());
        }
        let mut lib = Parser::new(QELIB1, self.b);
        lib.v3 = false;
        lib.library = true;
        lib.program().map_err(|e| match e.kind {
            ErrorKind::Duplicate => QasmError::new(
                ErrorKind::Duplicate,
                at,
                format!("including qelib1.inc: {}", e.message),
                "include qelib1.inc before declaring anything, and do not reuse its gate names",
            ),
            ErrorKind::Limit(limit) => {
                QasmError::limit(limit, at, format!("including qelib1.inc: {}", e.message))
            }
            kind => QasmError::new(
                kind,
                at,
                format!(
                    "internal error in the built-in qelib1.inc at {}: {}",
                    e.at, e.message
                ),
                "report this to the qwarden developers",
            ),
        })
    }

    /// `qreg q[n];` / `creg c[n];` (also accepted in OpenQASM 3, as IBM's examples write them).
    fn old_declaration(&mut self, quantum: bool) -> Result<()> {
        let (name, at) = self.new_name("a register name")?;
        self.expect(Sym::LBracket, "`[` and the register's size")?;
        let (size, _) = self.integer("the register's size")?;
        self.expect(Sym::RBracket, "`]` after the register's size")?;
        self.end()?;
        self.b.declare_reg(quantum, &name, size, false, at)
    }

    /// `qubit[n] q;`, `qubit q;`, `bit[n] c;`, `bit c;`, and `bit… c = measure …;`.
    fn declaration(&mut self, quantum: bool) -> Result<()> {
        let mut size = Some(1);
        let sized = self.eat(Sym::LBracket)?;
        if sized {
            size = self.integer("the register's size")?.0;
            self.expect(Sym::RBracket, "`]` after the register's size")?;
        }
        let (name, name_at) = self.new_name("a register name")?;
        self.b.declare_reg(quantum, &name, size, !sized, name_at)?;
        if !quantum && self.eat(Sym::Assign)? {
            let target = self.operand_named(&name, name_at, false)?;
            return self.measure_rhs(target, None);
        }
        self.end()
    }
}

pub(super) fn unsupported_assignment(at: Location) -> QasmError {
    QasmError::new(
        ErrorKind::Unsupported,
        at,
        "classical assignments other than `c = measure q;` are not supported",
        "assign only measurement results, as `c[0] = measure q[0];` or `c = measure q;`",
    )
}

/// Words that cannot name a register, gate or parameter in either version.
fn is_keyword(name: &str) -> bool {
    matches!(
        name,
        "OPENQASM"
            | "include"
            | "qreg"
            | "creg"
            | "gate"
            | "opaque"
            | "measure"
            | "reset"
            | "barrier"
            | "if"
    )
}
