//! Hostile input is refused with the right error, before any big allocation or expansion (these
//! tests would take minutes or exhaust memory otherwise; they have no timing asserts).

use qwarden_sim::qasm::{ErrorKind, Limit, Limits, parse, parse_with};

use super::errors::refused;

const V2: &str = "OPENQASM 2.0;\ninclude \"qelib1.inc\";\n";
const V3: &str = "OPENQASM 3.0;\ninclude \"stdgates.inc\";\n";

fn limit(l: Limit) -> ErrorKind {
    ErrorKind::Limit(l)
}

#[test]
fn defaults() {
    let l = Limits::default();
    assert_eq!(l.max_source_bytes, 1 << 20);
    assert_eq!(l.max_qubits, 64);
    assert_eq!(l.max_clbits, 4096);
    assert_eq!(l.max_instructions, 1_000_000);
    assert_eq!(l.max_gate_depth, 64);
    assert_eq!(l.max_expression_depth, 128);
}

#[test]
fn huge_registers() {
    let q = limit(Limit::Qubits);
    let e = refused(
        &format!("{V2}qreg q[1000000000];"),
        q,
        3,
        6,
        "more than 64 qubits",
    );
    assert!(e.hint.contains("max_qubits"), "{}", e.hint);
    refused(
        &format!("{V3}qubit[18446744073709551616] q;"),
        q,
        3,
        29,
        "more than 64 qubits",
    );
    refused(
        &format!("{V3}qubit[18446744073709551615] q;"),
        q,
        3,
        29,
        "more than 64 qubits",
    );
    refused(
        &format!("{V2}qreg a[40];\nqreg b[25];"),
        q,
        4,
        6,
        "(the limit; 40 declared before it)",
    );
    refused(
        &format!("{V2}creg c[4097];"),
        limit(Limit::Clbits),
        3,
        6,
        "more than 4096 classical bits",
    );
    refused(
        &format!("{V3}x $64;"),
        q,
        3,
        3,
        "beyond the limit of 64 qubits",
    );
    refused(
        &format!("{V3}x $99999999999999999999999999;"),
        q,
        3,
        3,
        "beyond the limit",
    );
    // Exactly at the limits is fine.
    let c = parse(&format!("{V2}qreg a[40];\nqreg b[24];\ncreg c[4096];")).unwrap();
    assert_eq!((c.num_qubits, c.num_clbits), (64, 4096));
    assert_eq!(parse(&format!("{V3}x $63;")).unwrap().num_qubits, 64);
}

/// 100 gate definitions, each using the previous one: refused at the 65th.
#[test]
fn deeply_nested_gate_definitions() {
    let mut src = format!("{V2}qreg q[1];\ngate g0 a {{ x a; }}\n");
    for i in 1..100 {
        src.push_str(&format!("gate g{i} a {{ g{} a; }}\n", i - 1));
    }
    // g0 is 1 deep, g63 64 deep (the limit), g64 (line 68) 65 deep.
    let e = refused(
        &src,
        limit(Limit::GateDepth),
        68,
        6,
        "gate `g64` nests 65 gate definitions deep; the limit is 64",
    );
    assert!(e.hint.contains("max_gate_depth"));
    // Up to the limit, a 64-deep chain expands to its single gate.
    let mut src = format!("{V2}qreg q[1];\ngate g0 a {{ x a; }}\n");
    for i in 1..64 {
        src.push_str(&format!("gate g{i} a {{ g{} a; }}\n", i - 1));
    }
    src.push_str("g63 q[0];\n");
    assert_eq!(parse(&src).unwrap().instructions.len(), 1);
}

/// Each definition calls the previous one 10 times, 30 deep: 10^30 instructions, refused where
/// the gate is applied, before anything is expanded.
#[test]
fn exponential_expansion() {
    let mut defs = format!("{V2}qreg q[2];\ngate g0 a {{ x a; }}\n");
    for i in 1..=30 {
        let calls = vec![format!("g{} a;", i - 1); 10].join(" ");
        defs.push_str(&format!("gate g{i} a {{ {calls} }}\n"));
    }
    let e = refused(
        &format!("{defs}g30 q[0];\n"),
        limit(Limit::Instructions),
        35,
        1,
        "past 1000000 instructions after expansion",
    );
    assert!(e.hint.contains("max_instructions"));
    // Broadcasting a gate that fits once but not twice stops at the second copy.
    let small = Limits {
        max_instructions: 150_000,
        ..Limits::default()
    };
    let e = parse_with(&format!("{defs}h q;\ng5 q;\n"), &small).unwrap_err();
    assert_eq!(
        (e.kind, e.at.line, e.at.col),
        (limit(Limit::Instructions), 36, 1)
    );
    assert!(
        e.message
            .contains("past 150000 instructions after expansion (the limit; 100002 before it)"),
        "{e}"
    );
    // 10^5 instructions are expanded fine.
    let c = parse(&format!("{defs}g5 q[1];\n")).unwrap();
    assert_eq!(c.instructions.len(), 100_000);
    // Gates that emit nothing cost nothing, however often they are called.
    let mut empty = format!("{V2}qreg q[1];\ngate e0 a {{ }}\n");
    for i in 1..=30 {
        let calls = vec![format!("e{} a;", i - 1); 10].join(" ");
        empty.push_str(&format!("gate e{i} a {{ {calls} }}\n"));
    }
    empty.push_str("e30 q[0];\n");
    assert!(parse(&empty).unwrap().instructions.is_empty());
}

/// A smaller instruction limit, and what barriers and conditions weigh against it.
#[test]
fn instruction_limit() {
    let limits = Limits {
        max_instructions: 10,
        ..Limits::default()
    };
    let ten = "h q[0];\n".repeat(10);
    assert!(parse_with(&format!("{V2}qreg q[1];\n{ten}"), &limits).is_ok());
    let e = parse_with(&format!("{V2}qreg q[1];\n{ten}x q[0];\n"), &limits).unwrap_err();
    assert_eq!(
        (e.kind, e.at.line, e.at.col),
        (limit(Limit::Instructions), 14, 1)
    );
    // A barrier over 4 qubits weighs 5; a condition on 4 bits adds 4.
    let src = format!("{V2}qreg q[4];\ncreg c[4];\nbarrier q;\nif (c == 1) x q[0];\nx q[1];\n");
    let e = parse_with(&src, &limits).unwrap_err();
    assert_eq!((e.kind, e.at.line), (limit(Limit::Instructions), 7));
}

#[test]
fn enormous_sources() {
    let big = format!(
        "{V2}qreg q[1];\n{}",
        "// padding padding padding\n".repeat(80_000)
    );
    assert!(big.len() > 2 << 20);
    let e = refused(
        &big,
        limit(Limit::SourceBytes),
        1,
        1,
        "more than the limit of 1048576",
    );
    assert!(e.hint.contains("max_source_bytes"));
    // Just under 1 MiB of statements parses, and quickly enough not to notice.
    let lines = "x q[0];\n".repeat(130_000);
    let src = format!("{V2}qreg q[1];\n{lines}");
    assert!(src.len() < 1 << 20);
    assert_eq!(parse(&src).unwrap().instructions.len(), 130_000);
}

#[test]
fn deep_expressions() {
    let d = limit(Limit::ExpressionDepth);
    let parens = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    refused(
        &format!("{V2}qreg q[1];\nrz({parens}) q[0];"),
        d,
        4,
        132,
        "nests more than 128 levels",
    );
    let minus = "-".repeat(100_000);
    refused(
        &format!("{V2}qreg q[1];\nrz({minus}1) q[0];"),
        d,
        4,
        132,
        "nests more than 128 levels",
    );
    let calls = format!("{}1{}", "sin(".repeat(1000), ")".repeat(1000));
    refused(
        &format!("{V2}qreg q[1];\nrz({calls}) q[0];"),
        d,
        4,
        516,
        "nests more than 128 levels",
    );
    // A long sum of a parameter builds a deep tree: refused where it gets too deep.
    let sum = vec!["a"; 300].join("+");
    refused(
        &format!("{V2}gate g(a) x {{ rz({sum}) x; }}"),
        d,
        3,
        273,
        "nests more than 128 levels",
    );
    // A long sum of constants is folded as it is read, so it never gets deep.
    let sum = vec!["1"; 100_000].join("+");
    let c = parse(&format!("{V2}qreg q[1];\nrz({sum}) q[0];")).unwrap();
    assert_eq!(c.instructions.len(), 1);
    // 127 parentheses are within the limit.
    let parens = format!("{}1{}", "(".repeat(127), ")".repeat(127));
    assert!(parse(&format!("{V2}qreg q[1];\nrz({parens}) q[0];")).is_ok());
}

/// At the limits, parsing needs little stack: it runs on a 256 KiB thread.
#[test]
fn bounded_recursion_fits_a_small_stack() {
    let parens = format!("{}1{}", "(".repeat(127), ")".repeat(127));
    let mut src = format!("{V2}qreg q[1];\nrz({parens}) q[0];\ngate g0(a) x {{ rz(a) x; }}\n");
    for i in 1..64 {
        src.push_str(&format!("gate g{i}(a) x {{ g{}(a*2) x; }}\n", i - 1));
    }
    src.push_str("g63(1) q[0];\n");
    let handle = std::thread::Builder::new()
        .stack_size(1024 << 10)
        .spawn(move || parse(&src).map(|c| c.instructions.len()))
        .unwrap();
    assert_eq!(handle.join().unwrap().unwrap(), 2);
}

/// A definition with 30,000 parameters and qubit arguments, whose body names the last ones
/// 15,000 times, is read in linear time (names are hashed, duplicates found with sets).
#[test]
fn wide_gate_definitions_stay_linear() {
    let params: Vec<String> = (0..30_000).map(|i| format!("p{i}")).collect();
    let qubits: Vec<String> = (0..30_000).map(|i| format!("a{i}")).collect();
    let body = "rz(p29999) a29999; ".repeat(15_000);
    let src = format!(
        "{V2}gate wide({}) {} {{ {body} barrier {}; }}\n",
        params.join(","),
        qubits.join(","),
        qubits.join(",")
    );
    assert!(src.len() < 1 << 20);
    assert!(parse(&src).is_ok());
}

/// Limits too small for the built-in library are reported as limits, where it is included.
#[test]
fn tiny_limits_refuse_the_library_as_a_limit() {
    let tiny = Limits {
        max_gate_depth: 1,
        ..Limits::default()
    };
    let e = parse_with(V2, &tiny).unwrap_err();
    assert_eq!(
        (e.kind, e.at.line, e.at.col),
        (limit(Limit::GateDepth), 2, 1)
    );
    assert!(e.message.starts_with("including qelib1.inc: gate `"), "{e}");
    let tiny = Limits {
        max_expression_depth: 1,
        ..Limits::default()
    };
    let e = parse_with(V2, &tiny).unwrap_err();
    assert_eq!(e.kind, limit(Limit::ExpressionDepth));
    // stdgates.inc has only primitives.
    assert!(parse_with(&format!("{V3}qubit q;\nh q;\n"), &tiny).is_ok());
}
