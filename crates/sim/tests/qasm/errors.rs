//! Every error: its kind, line and column (1-based, in characters), a fragment of its message,
//! and a hint on how to fix it.

use qwarden_sim::qasm::{ErrorKind, QasmError, parse};

const V2: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n";
const V3: &str = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\n";

/// Parses `src`, which must fail with `kind` at `line:col` and a message containing `fragment`.
#[track_caller]
pub fn refused(src: &str, kind: ErrorKind, line: usize, col: usize, fragment: &str) -> QasmError {
    let e = parse(src).expect_err(src);
    assert_eq!(
        (e.kind, e.at.line, e.at.col),
        (kind, line, col),
        "{e}\n--- in ---\n{src}"
    );
    assert!(
        e.message.contains(fragment),
        "`{}` lacks `{fragment}`",
        e.message
    );
    assert!(!e.hint.trim().is_empty(), "no hint: {e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{line}:{col}: ")) && shown.contains("help: "),
        "{shown}"
    );
    e
}

#[test]
fn undefined_names() {
    use ErrorKind::Undefined;
    refused(
        &format!("{V2}qreg q[2];\nh r[0];"),
        Undefined,
        4,
        3,
        "`r` is not declared",
    );
    refused(
        &format!("{V2}qreg q[2];\ncreg c[2];\nmeasure q[0] -> d[0];"),
        Undefined,
        5,
        17,
        "`d` is not declared",
    );
    refused(
        &format!("{V2}qreg q[2];\nfoo q[0];"),
        Undefined,
        4,
        1,
        "gate `foo` is not defined",
    );
    let e = refused(
        "OPENQASM 2.0;\nqreg q[1];\nh q[0];",
        Undefined,
        3,
        1,
        "gate `h`",
    );
    assert!(e.hint.contains("include \"qelib1.inc\""), "{}", e.hint);
    let e = refused(
        "OPENQASM 3.0;\nqubit q;\ncx q, q;",
        Undefined,
        3,
        1,
        "gate `cx`",
    );
    assert!(e.hint.contains("include \"stdgates.inc\""), "{}", e.hint);
    // stdgates.inc has no `cu1`: define it.
    let e = refused(
        &format!("{V3}qubit[2] q;\ncu1(0.1) q[0], q[1];"),
        Undefined,
        4,
        1,
        "`cu1`",
    );
    assert!(e.hint.contains("gate cu1"), "{}", e.hint);
    refused(
        &format!("{V2}qreg q[1];\nrz(theta) q[0];"),
        Undefined,
        4,
        4,
        "unknown identifier `theta`",
    );
    let e = refused(
        &format!("{V2}qreg q[1];\ngate g(a) x {{ rz(b) x; }}"),
        Undefined,
        4,
        18,
        "`b`",
    );
    assert!(e.hint.contains("parameters (a)"), "{}", e.hint);
    refused(
        &format!("{V2}qreg q[1];\ngate g a {{ x b; }}"),
        Undefined,
        4,
        14,
        "not a qubit argument",
    );
    refused(
        &format!("{V2}qreg q[1];\ngate g a {{ x q; }}"),
        Undefined,
        4,
        14,
        "global name",
    );
    // A gate can only use gates defined before it.
    let e = refused(
        &format!("{V2}gate f a {{ g a; }}\ngate g a {{ x a; }}"),
        Undefined,
        3,
        12,
        "gate `g` is not defined",
    );
    assert!(e.hint.contains("defined before"), "{}", e.hint);
}

#[test]
fn wrong_argument_counts() {
    use ErrorKind::Arity;
    refused(
        &format!("{V2}qreg q[2];\nrz q[0];"),
        Arity,
        4,
        1,
        "gate `rz` takes 1 parameter, but 0 are given",
    );
    refused(
        &format!("{V2}qreg q[2];\nh(0.5) q[0];"),
        Arity,
        4,
        1,
        "takes 0 parameters, but 1 is given",
    );
    refused(
        &format!("{V2}qreg q[2];\ncx q[0];"),
        Arity,
        4,
        1,
        "takes 2 qubits, but 1 is given",
    );
    refused(
        &format!("{V2}qreg q[3];\nh q[0], q[1];"),
        Arity,
        4,
        1,
        "takes 1 qubit, but 2 are given",
    );
    refused(
        &format!("{V2}gate g(a) x {{ u3(a) x; }}"),
        Arity,
        3,
        15,
        "gate `u3` takes 3 parameters",
    );
    refused(
        &format!("{V3}qubit[2] q;\ngate g(a) x, y {{ }}\ng(1) q[0];"),
        Arity,
        5,
        1,
        "takes 2 qubits",
    );
}

#[test]
fn index_out_of_range() {
    use ErrorKind::IndexOutOfRange;
    refused(
        &format!("{V2}qreg q[2];\nh q[2];"),
        IndexOutOfRange,
        4,
        5,
        "index 2 is out of range: `q` has 2 qubits (indices 0 to 1)",
    );
    refused(
        &format!("{V2}qreg q[2];\ncreg c[1];\nmeasure q[1] -> c[1];"),
        IndexOutOfRange,
        5,
        19,
        "`c` has 1 bits",
    );
    refused(
        &format!("{V3}qubit[2] q;\nx q[99999999999999999999999];"),
        IndexOutOfRange,
        4,
        5,
        "too large",
    );
}

#[test]
fn duplicate_declarations() {
    use ErrorKind::Duplicate;
    refused(
        &format!("{V2}qreg q[2];\nqreg q[3];"),
        Duplicate,
        4,
        6,
        "`q` is already declared, as a quantum register at 3:6",
    );
    refused(
        &format!("{V2}qreg q[2];\ncreg q[3];"),
        Duplicate,
        4,
        6,
        "already declared",
    );
    refused(
        &format!("{V2}gate h a {{ x a; }}"),
        Duplicate,
        3,
        6,
        "as a gate in qelib1.inc",
    );
    refused(
        &format!("{V3}gate cx a, b {{ }}"),
        Duplicate,
        3,
        6,
        "in stdgates.inc",
    );
    refused("OPENQASM 2.0;\ngate U a { }", Duplicate, 2, 6, "built in");
    refused(
        &format!("{V2}gate g(a, a) x {{ }}"),
        Duplicate,
        3,
        11,
        "`a` is already an argument",
    );
    refused(
        &format!("{V2}gate g(a) x, a {{ }}"),
        Duplicate,
        3,
        14,
        "`a` is already an argument",
    );
    refused(
        &format!("{V2}include \"qelib1.inc\";"),
        Duplicate,
        3,
        1,
        "already included at 2:1",
    );
    refused(
        "OPENQASM 2.0;\ngate x a { U(pi,0,pi) a; }\ninclude \"qelib1.inc\";",
        Duplicate,
        3,
        1,
        "including qelib1.inc: `x` is already declared",
    );
}

#[test]
fn qubits_used_twice() {
    use ErrorKind::DuplicateQubit;
    refused(
        &format!("{V2}qreg q[2];\ncx q[0], q[0];"),
        DuplicateQubit,
        4,
        10,
        "qubit `q[0]` is given twice to `cx`",
    );
    refused(
        &format!("{V2}qreg q[2];\ncx q, q;"),
        DuplicateQubit,
        4,
        7,
        "qubit `q[0]` is given twice",
    );
    refused(
        &format!("{V2}qreg q[3];\nccx q[0], q[1], q;"),
        DuplicateQubit,
        4,
        17,
        "`q[0]`",
    );
    refused(
        &format!("{V3}qubit q;\nqubit r;\nswap q, q;"),
        DuplicateQubit,
        5,
        9,
        "qubit `q` is given twice",
    );
    refused(
        &format!("{V3}cx $1, $1;"),
        DuplicateQubit,
        3,
        8,
        "physical qubit `$1`",
    );
    refused(
        &format!("{V2}gate g a, b {{ cx a, a; }}"),
        DuplicateQubit,
        3,
        21,
        "qubit `a` is given twice to `cx`",
    );
}

#[test]
fn broadcast_mismatches() {
    use ErrorKind::BroadcastMismatch;
    refused(
        &format!("{V2}qreg a[2];\nqreg b[3];\ncx a, b;"),
        BroadcastMismatch,
        5,
        7,
        "this register has 3 qubits but an earlier one in the same `cx` has 2",
    );
    refused(
        &format!("{V2}qreg q[2];\ncreg c[3];\nmeasure q -> c;"),
        BroadcastMismatch,
        5,
        14,
        "cannot measure a register of 2 qubits into a register of 3 bits",
    );
    refused(
        &format!("{V2}qreg q[2];\ncreg c[2];\nmeasure q -> c[0];"),
        BroadcastMismatch,
        5,
        14,
        "into one bit",
    );
    refused(
        &format!("{V3}qubit[2] q;\nbit c;\nc = measure q;"),
        BroadcastMismatch,
        5,
        1,
        "a register of 2 qubits into one bit",
    );
}

#[test]
fn opaque_and_recursive_gates() {
    refused(
        &format!("{V2}qreg q[1];\nopaque magic a;\nmagic q[0];"),
        ErrorKind::Opaque,
        5,
        1,
        "gate `magic` is declared `opaque`",
    );
    refused(
        &format!("{V2}opaque magic a;\ngate g a {{ magic a; }}"),
        ErrorKind::Opaque,
        4,
        12,
        "`magic`",
    );
    let e = refused(
        &format!("{V2}gate g a {{ h a; g a; }}"),
        ErrorKind::Recursive,
        3,
        17,
        "gate `g` calls itself",
    );
    assert!(e.message.contains("recursive"));
}

#[test]
fn includes() {
    use ErrorKind::Include;
    let e = refused(
        "OPENQASM 2.0;\ninclude \"mylib.inc\";",
        Include,
        2,
        9,
        "cannot include \"mylib.inc\": qwarden reads no files",
    );
    assert!(e.hint.contains("paste"), "{}", e.hint);
    let e = refused(
        "OPENQASM 3;\ninclude \"qelib1.inc\";",
        Include,
        2,
        9,
        "\"stdgates.inc\"",
    );
    assert!(e.hint.contains("OPENQASM 2.0"), "{}", e.hint);
    let e = refused(
        "OPENQASM 2.0;\ninclude \"stdgates.inc\";",
        Include,
        2,
        9,
        "\"qelib1.inc\"",
    );
    assert!(e.hint.contains("OPENQASM 3.0"), "{}", e.hint);
    refused(
        "OPENQASM 2.0;\ninclude \"/etc/passwd\";",
        Include,
        2,
        9,
        "\"/etc/passwd\"",
    );
    refused(
        "OPENQASM 2.0;\ninclude \"../qelib1.inc\";",
        Include,
        2,
        9,
        "reads no files",
    );
}

#[test]
fn non_finite_angles() {
    use ErrorKind::Math;
    refused(
        &format!("{V2}qreg q[1];\nrz(1/0) q[0];"),
        Math,
        4,
        5,
        "`1 / 0` divides by zero",
    );
    refused(
        &format!("{V2}qreg q[1];\nrz(ln(0)) q[0];"),
        Math,
        4,
        4,
        "`ln(0)` has no finite value",
    );
    refused(
        &format!("{V2}qreg q[1];\nrz(sqrt(-1)) q[0];"),
        Math,
        4,
        4,
        "`sqrt(-1)`",
    );
    refused(
        &format!("{V2}qreg q[1];\nrz(asin(2)) q[0];"),
        Math,
        4,
        4,
        "`asin(2)`",
    );
    refused(
        &format!("{V2}qreg q[1];\nrz(10^400) q[0];"),
        Math,
        4,
        6,
        "no finite value",
    );
    refused(
        &format!("{V2}qreg q[1];\nrz(1e999) q[0];"),
        Math,
        4,
        4,
        "too large",
    );
    refused(
        &format!("{V2}qreg q[1];\nrz(0/0) q[0];"),
        Math,
        4,
        5,
        "divides by zero",
    );
    // Constant parts of a gate definition are checked where they are written...
    refused(
        &format!("{V2}gate g(a) x {{ rz(a + 1/0) x; }}"),
        Math,
        3,
        23,
        "divides by zero",
    );
    // ...parts that depend on parameters where the gate is applied.
    let e = refused(
        &format!("{V2}qreg q[1];\ngate g(a) x {{ rz(1/a) x; }}\ng(0) q[0];"),
        Math,
        5,
        1,
        "in the expansion of gate `g`",
    );
    assert!(
        e.message.contains("(at 4:19 in its definition)"),
        "{}",
        e.message
    );
    refused(
        &format!(
            "{V2}qreg q[1];\ngate g(a) x {{ rz(ln(a)) x; }}\ngate h2(b) x {{ g(b - 1) x; }}\nh2(1) q[0];"
        ),
        Math,
        6,
        1,
        "`ln(0)`",
    );
}

/// Columns count characters, not bytes.
#[test]
fn columns_count_characters() {
    refused(
        &format!("{V3}qubit q;\nrz(π+1/0) q;"),
        ErrorKind::Math,
        4,
        7,
        "divides by zero",
    );
    refused(
        &format!("{V3}qubit q; /* ππππ */ rz(τ) r;"),
        ErrorKind::Undefined,
        3,
        27,
        "`r` is not declared",
    );
}

#[test]
fn outside_the_openqasm_3_subset() {
    use ErrorKind::Unsupported;
    let cases = [
        ("for uint i in [0:2] { x q[0]; }", 1, "loops (`for`)"),
        ("while (true) { }", 1, "loops (`while`)"),
        ("def f(qubit a) { x a; }", 1, "subroutines (`def`)"),
        ("input float[64] theta;", 1, "`input`/`output` parameters"),
        ("output bit r;", 1, "`input`/`output` parameters"),
        ("int x = 1;", 1, "classical variables (`int`)"),
        ("const float a = 1.0;", 1, "classical variables (`const`)"),
        ("angle[8] a;", 1, "classical variables (`angle`)"),
        ("ctrl @ x q[0], q[1];", 1, "gate modifiers"),
        ("inv @ s q[0];", 1, "gate modifiers"),
        ("pow(2) @ s q[0];", 1, "gate modifiers"),
        ("delay[100ns] q[0];", 1, "timing instructions"),
        ("defcal x $0 { }", 1, "pulse-level calibrations"),
        ("switch (c) { }", 1, "`switch` statements"),
        ("c = 1;", 5, "classical assignments"),
        ("c[0] = c[1];", 8, "classical assignments"),
        ("x q[0:1];", 6, "ranges"),
        ("x q[{0, 1}];", 5, "index sets"),
        ("x q[-1];", 5, "cannot be negative"),
        ("#pragma foo", 1, "pragmas"),
        ("measure q[0];", 1, "needs a classical bit"),
        ("if (c[0]) { if (c[1]) x q[0]; }", 13, "nested `if`"),
        (
            "if (c == 1) x q[0]; else x q[1];",
            21,
            "`else` after a condition on several bits",
        ),
        ("if (c != 1) x q[0];", 7, "the operator `!=`"),
        ("if (c[0] && c[1]) x q[0];", 10, "the operator `&&`"),
        ("if (c > 1) x q[0];", 7, "the operator `>`"),
        (
            "if (c) x q[0];",
            5,
            "a multi-bit register is not a condition",
        ),
        ("if (!c[0] == 1) x q[0];", 11, "`!` combined with `==`"),
        (
            "if (c[0]) qubit r;",
            11,
            "`qubit` cannot appear inside an `if`",
        ),
        (
            "gate g a { measure a; }",
            12,
            "`measure` is not allowed inside a gate definition",
        ),
        ("gate g a { reset a; }", 12, "`reset` is not allowed"),
        ("gate g a { for i in [0:1] { } }", 12, "loops"),
    ];
    for (stmt, col, fragment) in cases {
        refused(
            &format!("{V3}qubit[2] q;\nbit[2] c;\n{stmt}\n"),
            Unsupported,
            5,
            col,
            fragment,
        );
    }
    refused(
        &format!("{V2}qreg q[1];\ncreg c[1];\nif (c == 1) barrier q;"),
        Unsupported,
        5,
        13,
        "cannot condition a barrier",
    );
}

#[test]
fn versions() {
    use ErrorKind::Version;
    refused(
        "OPENQASM 4.0;\nqubit q;",
        Version,
        1,
        10,
        "unsupported OpenQASM version",
    );
    refused(
        "OPENQASM 2.1;",
        Version,
        1,
        10,
        "unsupported OpenQASM version",
    );
    refused(
        "qreg q[1];\nOPENQASM 2.0;",
        Version,
        2,
        1,
        "must be the first statement",
    );
    refused(
        "OPENQASM 2.0;\nqubit[2] q;",
        Version,
        2,
        1,
        "`qubit` declarations are OpenQASM 3",
    );
    refused(
        "OPENQASM 2.0;\nbit c;",
        Version,
        2,
        1,
        "`bit` declarations are OpenQASM 3",
    );
    refused(&format!("{V2}x $0;"), Version, 3, 3, "physical qubits");
    refused(
        &format!("{V2}qreg q[1];\ncreg c[1];\nc[0] = measure q[0];"),
        Version,
        5,
        1,
        "assignments are OpenQASM 3",
    );
    refused(
        &format!("{V2}qreg q[1];\ncreg c[1];\nif (c[0]) x q[0];"),
        Version,
        5,
        9,
        "compare a register with a value",
    );
    refused(
        &format!("{V2}qreg q[1];\nrz(2**3) q[0];"),
        ErrorKind::Syntax,
        4,
        5,
        "`**` is OpenQASM 3's power",
    );
    refused(
        &format!("{V3}qubit q;\nrz(2^3) q;"),
        ErrorKind::Unsupported,
        4,
        5,
        "`^` is bitwise XOR",
    );
    refused(
        &format!("{V2}qreg q[1];\ngphase(1);"),
        ErrorKind::Undefined,
        4,
        1,
        "gate `gphase` is not defined",
    );
}

#[test]
fn syntax_errors() {
    use ErrorKind::Syntax;
    refused(
        &format!("{V2}qreg q[2];\nh q[0]\nx q[1];"),
        Syntax,
        5,
        1,
        "expected `;` at the end of the statement, found `x`",
    );
    refused(
        &format!("{V2}qreg q[2];\nh q[0]"),
        Syntax,
        4,
        7,
        "found the end of the file",
    );
    refused(
        &format!("{V2}qreg q[2];\n/* never closed\nh q[0];"),
        Syntax,
        4,
        1,
        "never closed",
    );
    refused(
        &format!("{V2}qreg q[2];\nh q[0]; ? x q[1];"),
        Syntax,
        4,
        9,
        "unexpected character `?`",
    );
    refused(
        &format!("{V2}qreg q[2];\nh q[0]; \u{7};"),
        Syntax,
        4,
        9,
        "unexpected character `\\u{7}`",
    );
    refused(
        "OPENQASM 2.0;\ninclude \"qelib1.inc;\n",
        Syntax,
        2,
        9,
        "not closed",
    );
    refused(
        &format!("{V2}qreg q[2.5];"),
        Syntax,
        3,
        8,
        "expected the register's size (a whole number)",
    );
    refused(
        &format!("{V2}qreg pi[2];"),
        Syntax,
        3,
        6,
        "`pi` is reserved",
    );
    refused(
        &format!("{V2}qreg measure[2];"),
        Syntax,
        3,
        6,
        "`measure` is reserved",
    );
    refused(
        &format!("{V3}qubit[2] ctrl;"),
        Syntax,
        3,
        10,
        "`ctrl` is reserved",
    );
    refused(
        &format!("{V2}qreg q[2];\nrz(,) q[0];"),
        Syntax,
        4,
        4,
        "expected an angle, found `,`",
    );
    refused(
        &format!("{V2}qreg q[2];\nrz(1+) q[0];"),
        Syntax,
        4,
        6,
        "expected an angle, found `)`",
    );
    refused(
        &format!("{V2}qreg q[2];\nrz(sin(1 q[0];"),
        Syntax,
        4,
        10,
        "`)` to close the function's argument",
    );
    refused(
        &format!("{V2}qreg q[2];\nrz(1 q[0];"),
        Syntax,
        4,
        6,
        "expected `,` or `)`",
    );
    refused(
        &format!("{V2}qreg q[2];\nrz((1 q[0];"),
        Syntax,
        4,
        7,
        "`)` to close this parenthesis",
    );
    refused(
        &format!("{V2}qreg q[2];\ngate g a {{ x a;"),
        Syntax,
        4,
        10,
        "never closed",
    );
    refused(
        &format!("{V2}qreg q[2];\n;"),
        Syntax,
        4,
        1,
        "expected a statement, found `;`",
    );
    refused(
        &format!("{V2}qreg q[2];\nmeasure q[0] c[0];"),
        Syntax,
        4,
        14,
        "`->`",
    );
    refused(
        &format!("{V3}qubit q;\nx $;"),
        Syntax,
        4,
        3,
        "`$` must be followed",
    );
    refused(
        &format!("{V3}qubit q;\nelse x q;"),
        Syntax,
        4,
        1,
        "`else` without an `if`",
    );
    refused(
        &format!("{V3}qubit[2] q;\nbit c;\nif (c) {{ x q[0];"),
        Syntax,
        5,
        8,
        "never closed",
    );
}

#[test]
fn misused_names() {
    use ErrorKind::Type;
    refused(
        &format!("{V2}qreg q[1];\ncreg c[1];\nh c[0];"),
        Type,
        5,
        3,
        "`c` is a classical register, but a qubit is expected here",
    );
    refused(
        &format!("{V2}qreg q[1];\ncreg c[1];\nmeasure q[0] -> q[0];"),
        Type,
        5,
        17,
        "`q` is a quantum register, but a classical bit is expected",
    );
    refused(
        &format!("{V2}qreg q[1];\nq q[0];"),
        Type,
        4,
        1,
        "`q` is a register, not a gate",
    );
    refused(
        &format!("{V2}qreg q[1];\nrz(q) q[0];"),
        Type,
        4,
        4,
        "`q` is not an angle",
    );
    refused(
        &format!("{V2}qreg q[1];\ngate g a {{ q a; }}"),
        Type,
        4,
        12,
        "registers cannot be used inside a gate definition",
    );
    refused(
        &format!("{V2}gate g a {{ x a[0]; }}"),
        Type,
        3,
        15,
        "cannot be indexed",
    );
    refused(
        &format!("{V3}qubit q;\nx q[0];"),
        Type,
        4,
        5,
        "`q` is a single qubit, not a register",
    );
    refused(
        &format!("{V3}qubit[2] q;\nx $0;"),
        Type,
        4,
        3,
        "cannot be mixed",
    );
    refused(
        &format!("{V3}x $0;\nqubit[2] q;"),
        Type,
        4,
        10,
        "cannot be mixed",
    );
    refused(&format!("{V2}qreg q[0];"), Type, 3, 6, "has no qubits");
    refused(
        &format!("{V2}qreg q[1];\ncreg c[2];\nif (c == 4) x q[0];"),
        Type,
        5,
        10,
        "does not fit in the 2 bit(s)",
    );
}
