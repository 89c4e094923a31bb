//! Tokens, produced one at a time (memory stays constant whatever the source's size).

use super::error::{Location, QasmError, Result};

/// Punctuation and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sym {
    LParen,
    RParen,
    LBracket,
    RBracket,
    LBrace,
    RBrace,
    Semi,
    Comma,
    Colon,
    Arrow,
    Assign,
    EqEq,
    NotEq,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    Star,
    StarStar,
    Slash,
    Percent,
    Caret,
    Bang,
    Tilde,
    Amp,
    AndAnd,
    Pipe,
    OrOr,
    At,
    Dot,
}

impl Sym {
    /// How it is written.
    pub(super) fn text(self) -> &'static str {
        match self {
            Sym::LParen => "(",
            Sym::RParen => ")",
            Sym::LBracket => "[",
            Sym::RBracket => "]",
            Sym::LBrace => "{",
            Sym::RBrace => "}",
            Sym::Semi => ";",
            Sym::Comma => ",",
            Sym::Colon => ":",
            Sym::Arrow => "->",
            Sym::Assign => "=",
            Sym::EqEq => "==",
            Sym::NotEq => "!=",
            Sym::Lt => "<",
            Sym::Le => "<=",
            Sym::Gt => ">",
            Sym::Ge => ">=",
            Sym::Plus => "+",
            Sym::Minus => "-",
            Sym::Star => "*",
            Sym::StarStar => "**",
            Sym::Slash => "/",
            Sym::Percent => "%",
            Sym::Caret => "^",
            Sym::Bang => "!",
            Sym::Tilde => "~",
            Sym::Amp => "&",
            Sym::AndAnd => "&&",
            Sym::Pipe => "|",
            Sym::OrOr => "||",
            Sym::At => "@",
            Sym::Dot => ".",
        }
    }
}

/// A token's kind and content.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    /// An identifier or keyword (keywords are told apart by the parser).
    Ident(String),
    /// A number. `int` is its value when it is an integer literal that fits a `u64`;
    /// `integer` says whether it was written as an integer (no `.`, no exponent).
    Num {
        value: f64,
        int: Option<u64>,
        integer: bool,
    },
    /// A string literal's contents.
    Str(String),
    /// A physical qubit `$n` (`None` when `n` does not fit a `u64`).
    Physical(Option<u64>),
    /// Punctuation.
    Sym(Sym),
    /// The end of the source.
    Eof,
}

impl Tok {
    /// How to name it in a message.
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Num { value, int, .. } => match int {
                Some(i) => format!("the number `{i}`"),
                None => format!("the number `{value}`"),
            },
            Tok::Str(s) => format!("the string {s:?}"),
            Tok::Physical(Some(n)) => format!("the physical qubit `${n}`"),
            Tok::Physical(None) => "a physical qubit".to_owned(),
            Tok::Sym(s) => format!("`{}`", s.text()),
            Tok::Eof => "the end of the file".to_owned(),
        }
    }
}

/// A token and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub(super) tok: Tok,
    pub(super) at: Location,
}

/// Splits source text into tokens, skipping whitespace and comments.
pub(super) struct Lexer<'s> {
    src: &'s str,
    /// Byte offset of the next character.
    pos: usize,
    line: usize,
    col: usize,
}

impl<'s> Lexer<'s> {
    pub(super) fn new(src: &'s str) -> Lexer<'s> {
        Lexer {
            src,
            pos: 0,
            line: 1,
            col: 1,
        }
    }

    fn here(&self) -> Location {
        Location {
            line: self.line,
            col: self.col,
        }
    }

    fn rest(&self) -> &'s str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn bump_while(&mut self, keep: impl Fn(char) -> bool) -> &'s str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
        self.src.get(start..self.pos).unwrap_or("")
    }

    /// Skips whitespace and comments.
    fn skip_trivia(&mut self) -> Result<()> {
        loop {
            match (self.peek(), self.peek_second()) {
                (Some(c), _) if c.is_whitespace() => {
                    self.bump();
                }
                (Some('/'), Some('/')) => {
                    self.bump_while(|c| c != '\n');
                }
                (Some('/'), Some('*')) => {
                    let at = self.here();
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            Some('*') if self.peek() == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                            None => {
                                return Err(QasmError::syntax(
                                    at,
                                    "this `/*` comment is never closed",
                                    "end the comment with `*/`",
                                ));
                            }
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next token (`Tok::Eof` at the end, and again after that).
    pub(super) fn next_token(&mut self) -> Result<Token> {
        self.skip_trivia()?;
        let at = self.here();
        let Some(c) = self.peek() else {
            return Ok(Token { tok: Tok::Eof, at });
        };
        let tok = if c.is_alphabetic() || c == '_' {
            Tok::Ident(
                self.bump_while(|c| c.is_alphanumeric() || c == '_')
                    .to_owned(),
            )
        } else if c.is_ascii_digit()
            || (c == '.' && self.peek_second().is_some_and(|d| d.is_ascii_digit()))
        {
            self.number(at)?
        } else if c == '"' {
            self.string(at)?
        } else if c == '$' {
            self.bump();
            let digits = self.bump_while(|c| c.is_ascii_digit());
            if digits.is_empty() {
                return Err(QasmError::syntax(
                    at,
                    "`$` must be followed by a physical qubit number",
                    "write a physical qubit as `$0`, `$1`, …",
                ));
            }
            Tok::Physical(digits.parse().ok())
        } else {
            Tok::Sym(self.symbol(c, at)?)
        };
        Ok(Token { tok, at })
    }

    fn number(&mut self, at: Location) -> Result<Tok> {
        let start = self.pos;
        self.bump_while(|c| c.is_ascii_digit());
        let mut integer = true;
        if self.peek() == Some('.') {
            integer = false;
            self.bump();
            self.bump_while(|c| c.is_ascii_digit());
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let sign = matches!(self.peek_second(), Some('+' | '-'));
            let digit_at = if sign { 2 } else { 1 };
            if self
                .rest()
                .chars()
                .nth(digit_at)
                .is_some_and(|c| c.is_ascii_digit())
            {
                integer = false;
                self.bump();
                if sign {
                    self.bump();
                }
                self.bump_while(|c| c.is_ascii_digit());
            }
        }
        let text = self.src.get(start..self.pos).unwrap_or("");
        let value: f64 = text.parse().unwrap_or(f64::INFINITY);
        if !value.is_finite() {
            return Err(QasmError::new(
                super::error::ErrorKind::Math,
                at,
                format!("the number `{text}` is too large to be an angle"),
                "use a number below 1.8e308",
            ));
        }
        let int = if integer { text.parse().ok() } else { None };
        Ok(Tok::Num {
            value,
            int,
            integer,
        })
    }

    fn string(&mut self, at: Location) -> Result<Tok> {
        self.bump();
        let text = self.bump_while(|c| c != '"' && c != '\n');
        if self.bump() != Some('"') {
            return Err(QasmError::syntax(
                at,
                "this string is not closed on its line",
                "end the file name with `\"`",
            ));
        }
        Ok(Tok::Str(text.to_owned()))
    }

    fn symbol(&mut self, c: char, at: Location) -> Result<Sym> {
        let next = self.peek_second();
        let (sym, len) = match (c, next) {
            ('-', Some('>')) => (Sym::Arrow, 2),
            ('=', Some('=')) => (Sym::EqEq, 2),
            ('!', Some('=')) => (Sym::NotEq, 2),
            ('<', Some('=')) => (Sym::Le, 2),
            ('>', Some('=')) => (Sym::Ge, 2),
            ('*', Some('*')) => (Sym::StarStar, 2),
            ('&', Some('&')) => (Sym::AndAnd, 2),
            ('|', Some('|')) => (Sym::OrOr, 2),
            ('(', _) => (Sym::LParen, 1),
            (')', _) => (Sym::RParen, 1),
            ('[', _) => (Sym::LBracket, 1),
            (']', _) => (Sym::RBracket, 1),
            ('{', _) => (Sym::LBrace, 1),
            ('}', _) => (Sym::RBrace, 1),
            (';', _) => (Sym::Semi, 1),
            (',', _) => (Sym::Comma, 1),
            (':', _) => (Sym::Colon, 1),
            ('=', _) => (Sym::Assign, 1),
            ('<', _) => (Sym::Lt, 1),
            ('>', _) => (Sym::Gt, 1),
            ('+', _) => (Sym::Plus, 1),
            ('-', _) => (Sym::Minus, 1),
            ('*', _) => (Sym::Star, 1),
            ('/', _) => (Sym::Slash, 1),
            ('%', _) => (Sym::Percent, 1),
            ('^', _) => (Sym::Caret, 1),
            ('!', _) => (Sym::Bang, 1),
            ('~', _) => (Sym::Tilde, 1),
            ('&', _) => (Sym::Amp, 1),
            ('|', _) => (Sym::Pipe, 1),
            ('@', _) => (Sym::At, 1),
            ('.', _) => (Sym::Dot, 1),
            ('#', _) => {
                return Err(QasmError::new(
                    super::error::ErrorKind::Unsupported,
                    at,
                    "pragmas (`#pragma`) are not supported",
                    "remove the line",
                ));
            }
            _ => {
                return Err(QasmError::syntax(
                    at,
                    format!("unexpected character `{}`", c.escape_default()),
                    "remove it; OpenQASM uses it nowhere here",
                ));
            }
        };
        for _ in 0..len {
            self.bump();
        }
        Ok(sym)
    }
}
