//! The QPY front end (`qwarden_sim::qpy`): the real circuits IBM clients send (the
//! provider-traffic transcripts, QPY 17 and 18) decoded gate by gate and simulated; every gate,
//! version and block of the format (written by a small test writer); every refusal and its
//! message; truncation at every length, hostile counts and mutations; and the fuzz corpus.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "qpy/fuzz.rs"]
mod fuzz;
#[path = "qpy/writer.rs"]
mod writer;

use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};
use std::path::PathBuf;

use base64::Engine as _;
use qwarden_sim::ir::{Circuit, Gate, Instruction, Register};
use qwarden_sim::qpy::{QpyError, parse};
use qwarden_sim::run::{Method, RunOptions, run};
use serde_json::Value;
use writer::{Circ, Inst, Phase, Reg, file, float, int, single, symbol};

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// Standard base64 of zlib, inflated: how IBM clients wrap QPY.
fn unwrap(text: &str) -> Vec<u8> {
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap();
    miniz_oxide::inflate::decompress_to_vec_zlib(&compressed).unwrap()
}

fn request_bodies(transcript: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(shared().join("provider-traffic").join(transcript)).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| l["request"]["body"].clone())
        .filter(Value::is_object)
        .collect()
}

/// The QPY 17 circuit of `ibm-sampler-v2.jsonl`'s `POST /jobs` (`params.pubs[0][0]`).
fn transcript_qpy() -> Vec<u8> {
    let body = request_bodies("ibm-sampler-v2.jsonl")
        .into_iter()
        .find(|b| b["params"]["pubs"].is_array())
        .unwrap();
    let circuit = &body["params"]["pubs"][0][0];
    assert_eq!(circuit["__type__"], "QuantumCircuit");
    unwrap(circuit["__value__"].as_str().unwrap())
}

/// The QPY 18 circuit the client-side executor sampler sent
/// (`params.quantum_program.circuits.b64_data`).
fn executor_qpy() -> Vec<u8> {
    let body = request_bodies("variants/ibm-executor-sampler-request-only.jsonl")
        .into_iter()
        .find(|b| b["params"]["quantum_program"].is_object())
        .unwrap();
    let circuits = &body["params"]["quantum_program"]["circuits"];
    assert_eq!(circuits["qpy_version"], 18);
    unwrap(circuits["b64_data"].as_str().unwrap())
}

fn g(gate: Gate, qubits: &[usize]) -> Instruction {
    Instruction::Gate {
        gate,
        qubits: qubits.to_vec(),
    }
}

/// The transpiled Bell circuit both transcripts carry: `h` as `rz·sx·rz`, `cx`, the barrier and
/// the measurements of `measure_all`, on physical qubits 0 and 1 of the 5-qubit ibm_lima.
fn transpiled_bell() -> Circuit {
    Circuit {
        num_qubits: 5,
        num_clbits: 2,
        cregs: vec![Register {
            name: "meas".into(),
            start: 0,
            size: 2,
        }],
        instructions: vec![
            g(Gate::RZ(FRAC_PI_2), &[0]),
            g(Gate::SX, &[0]),
            g(Gate::RZ(FRAC_PI_2), &[0]),
            g(Gate::CX, &[0, 1]),
            Instruction::Barrier { qubits: vec![0, 1] },
            Instruction::Measure { qubit: 0, clbit: 0 },
            Instruction::Measure { qubit: 1, clbit: 1 },
        ],
    }
}

#[test]
fn the_transcript_circuit_qpy_17_decodes_gate_by_gate() {
    let qpy = transcript_qpy();
    assert_eq!(&qpy[..7], b"QISKIT\x11");
    assert_eq!(parse(&qpy).unwrap(), vec![transpiled_bell()]);
}

#[test]
fn the_executor_circuit_qpy_18_decodes_to_the_same_circuit() {
    let qpy = executor_qpy();
    assert_eq!(&qpy[..7], b"QISKIT\x12");
    assert_eq!(parse(&qpy).unwrap(), vec![transpiled_bell()]);
}

#[test]
fn the_transcript_circuit_is_on_lima_physical_qubits() {
    let conf: Value =
        serde_json::from_slice(&std::fs::read(shared().join("ibm/conf_lima.json")).unwrap())
            .unwrap();
    let c = &parse(&transcript_qpy()).unwrap()[0];
    assert_eq!(c.num_qubits as u64, conf["n_qubits"].as_u64().unwrap());
    let (small, layout) = c.compact();
    assert_eq!(layout, vec![0, 1]);
    assert_eq!(small.num_qubits, 2);
}

#[test]
fn the_transcript_circuit_simulates_to_00_and_11_only() {
    for qpy in [transcript_qpy(), executor_qpy()] {
        let (c, _) = parse(&qpy).unwrap()[0].compact();
        let opts = RunOptions {
            shots: 2000,
            seed: 11,
            method: Method::Statevector,
            ..RunOptions::default()
        };
        let counts = run(&c, &opts).unwrap().counts;
        assert_eq!(
            counts.keys().collect::<Vec<_>>(),
            ["00", "11"],
            "{counts:?}"
        );
        let ones = counts["11"];
        assert!((800..1200).contains(&ones), "{counts:?}");
    }
}

/// Every standard gate the reader maps, with the parameters it takes and the IR gate expected.
fn every_gate() -> Vec<(&'static str, Vec<f64>, u32, Gate)> {
    let (a, b, c, d) = (0.25, -1.5, 2.75, 0.5);
    vec![
        ("IGate", vec![], 0, Gate::I),
        ("XGate", vec![], 0, Gate::X),
        ("YGate", vec![], 0, Gate::Y),
        ("ZGate", vec![], 0, Gate::Z),
        ("HGate", vec![], 0, Gate::H),
        ("SGate", vec![], 0, Gate::S),
        ("SdgGate", vec![], 0, Gate::Sdg),
        ("TGate", vec![], 0, Gate::T),
        ("TdgGate", vec![], 0, Gate::Tdg),
        ("SXGate", vec![], 0, Gate::SX),
        ("SXdgGate", vec![], 0, Gate::SXdg),
        ("RXGate", vec![a], 0, Gate::RX(a)),
        ("RYGate", vec![a], 0, Gate::RY(a)),
        ("RZGate", vec![b], 0, Gate::RZ(b)),
        ("PhaseGate", vec![c], 0, Gate::P(c)),
        ("U1Gate", vec![c], 0, Gate::P(c)),
        ("UGate", vec![a, b, c], 0, Gate::U(a, b, c)),
        ("U3Gate", vec![a, b, c], 0, Gate::U(a, b, c)),
        ("U2Gate", vec![b, c], 0, Gate::U(FRAC_PI_2, b, c)),
        (
            "RGate",
            vec![a, b],
            0,
            Gate::U(a, b - FRAC_PI_2, FRAC_PI_2 - b),
        ),
        ("CXGate", vec![], 1, Gate::CX),
        ("CYGate", vec![], 1, Gate::CY),
        ("CZGate", vec![], 1, Gate::CZ),
        ("CHGate", vec![], 1, Gate::CH),
        ("CPhaseGate", vec![a], 1, Gate::CP(a)),
        ("CU1Gate", vec![a], 1, Gate::CP(a)),
        ("CSGate", vec![], 1, Gate::CP(FRAC_PI_2)),
        ("CSdgGate", vec![], 1, Gate::CP(-FRAC_PI_2)),
        (
            "CSXGate",
            vec![],
            1,
            Gate::CU(FRAC_PI_2, -FRAC_PI_2, FRAC_PI_2, FRAC_PI_4),
        ),
        ("CRXGate", vec![a], 1, Gate::CRX(a)),
        ("CRYGate", vec![b], 1, Gate::CRY(b)),
        ("CRZGate", vec![c], 1, Gate::CRZ(c)),
        ("CUGate", vec![a, b, c, d], 1, Gate::CU(a, b, c, d)),
        ("CU3Gate", vec![a, b, c], 1, Gate::CU(a, b, c, 0.0)),
        ("SwapGate", vec![], 0, Gate::Swap),
        ("iSwapGate", vec![], 0, Gate::ISwap),
        ("ECRGate", vec![], 0, Gate::ECR),
        ("RXXGate", vec![a], 0, Gate::RXX(a)),
        ("RYYGate", vec![b], 0, Gate::RYY(b)),
        ("RZZGate", vec![PI], 0, Gate::RZZ(PI)),
        ("CCXGate", vec![], 2, Gate::CCX),
        ("CSwapGate", vec![], 1, Gate::CSwap),
    ]
}

#[test]
fn every_gate_reads_in_every_version() {
    for version in 12..=18u8 {
        let mut c = Circ::new(4, 0).with_registers();
        let mut want = Vec::new();
        for (k, (class, params, controls, gate)) in every_gate().into_iter().enumerate() {
            let qubits: Vec<u32> = (0..gate.num_qubits() as u32)
                .map(|q| (q + k as u32) % 4)
                .collect();
            let mut inst = Inst::new(class, &qubits).ctrl(controls, (1 << controls) - 1);
            for p in &params {
                let (key, data) = float(*p, version);
                inst = inst.param(key, data);
            }
            c = c.push(inst);
            want.push(g(
                gate,
                &qubits.iter().map(|&q| q as usize).collect::<Vec<_>>(),
            ));
        }
        let got = parse(&single(version, &c)).unwrap_or_else(|e| panic!("v{version}: {e}"));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].instructions, want, "v{version}");
        assert_eq!((got[0].num_qubits, got[0].num_clbits), (4, 0));
    }
}

#[test]
fn integer_parameters_and_both_byte_orders() {
    for version in [17u8, 18] {
        let (key, data) = int(3, version);
        let c = Circ::new(1, 0).push(Inst::new("RXGate", &[0]).param(key, data));
        let got = parse(&single(version, &c)).unwrap();
        assert_eq!(got[0].instructions, vec![g(Gate::RX(3.0), &[0])]);
    }
    // A QPY 17 angle written big-endian reads as a different (still finite) number: the byte
    // order is the version's, not guessed.
    let c =
        Circ::new(1, 0).push(Inst::new("RZGate", &[0]).param(b'f', 1.0f64.to_be_bytes().to_vec()));
    let got = parse(&single(17, &c)).unwrap();
    assert_ne!(got[0].instructions, vec![g(Gate::RZ(1.0), &[0])]);
}

#[test]
fn measure_reset_barrier_delay_and_global_phase() {
    let c = Circ::new(3, 2)
        .with_registers()
        .push(Inst::new("Reset", &[2]))
        .push(Inst::new("Delay", &[1]).param(b'f', 100f64.to_le_bytes().to_vec()))
        .push(Inst::new("GlobalPhaseGate", &[]).param(b'f', 0.5f64.to_le_bytes().to_vec()))
        .push(Inst::new("Barrier", &[0, 1, 2]))
        .push(Inst::measure(2, 1));
    let got = &parse(&single(17, &c)).unwrap()[0];
    assert_eq!(
        got.instructions,
        vec![
            Instruction::Reset { qubit: 2 },
            Instruction::Barrier {
                qubits: vec![0, 1, 2]
            },
            Instruction::Measure { qubit: 2, clbit: 1 },
        ]
    );
    assert_eq!(
        got.cregs,
        vec![Register {
            name: "c".into(),
            start: 0,
            size: 2
        }]
    );
    let mut c = Circ::new(1, 0);
    c.phase = Phase(b'f', (-PI).to_be_bytes().to_vec());
    assert!(parse(&single(17, &c)).is_ok());
}

#[test]
fn several_circuits_with_and_without_the_offset_table() {
    let a = Circ::new(2, 2)
        .with_registers()
        .push(Inst::new("HGate", &[0]))
        .push(Inst::measure(0, 1));
    let mut b = Circ::new(1, 1).push(Inst::new("XGate", &[0]));
    b.name = "second".into();
    for version in [12u8, 14, 15, 16, 17, 18] {
        let qpy = file(version, &[a.bytes(version), b.bytes(version)]);
        let got = parse(&qpy).unwrap_or_else(|e| panic!("v{version}: {e}"));
        assert_eq!(got.len(), 2, "v{version}");
        assert_eq!(
            got[0].instructions,
            vec![
                g(Gate::H, &[0]),
                Instruction::Measure { qubit: 0, clbit: 1 }
            ]
        );
        assert_eq!(got[1].instructions, vec![g(Gate::X, &[0])]);
        assert!(
            got[1].cregs.is_empty(),
            "a classical bit without a register"
        );
    }
    assert_eq!(parse(&file(17, &[])).unwrap(), vec![]);
}

#[test]
fn classical_registers_keep_their_order_and_position() {
    for version in [17u8, 18] {
        let mut c = Circ::new(2, 5);
        c.registers = vec![
            Reg {
                classical: true,
                name: "late".into(),
                bits: vec![3, 4],
                in_circuit: true,
            },
            Reg {
                classical: true,
                name: "early".into(),
                bits: vec![0, 1, 2],
                in_circuit: true,
            },
            Reg {
                classical: true,
                name: "outside".into(),
                bits: vec![-1, -1],
                in_circuit: false,
            },
        ];
        let got = &parse(&single(version, &c)).unwrap()[0];
        let regs: Vec<_> = got
            .cregs
            .iter()
            .map(|r| (r.name.as_str(), r.start, r.size))
            .collect();
        assert_eq!(regs, [("late", 3, 2), ("early", 0, 3)], "v{version}");
        // QPY 18 lists the bits when asked to, instead of giving the first.
        c.contiguous = false;
        assert_eq!(parse(&single(version, &c)).unwrap()[0].cregs, got.cregs);
    }
}

/// The error of a circuit that must be refused.
fn refused(version: u8, c: &Circ) -> QpyError {
    let e = parse(&single(version, c)).unwrap_err();
    fuzz::check_error(&e);
    e
}

#[test]
fn a_symbolic_parameter_is_refused_naming_the_instruction() {
    let c = Circ::new(1, 0).push(Inst::new("XGate", &[0])).push({
        let (k, d) = symbol("theta");
        Inst::new("RZGate", &[0]).param(k, d)
    });
    let e = refused(17, &c);
    assert_eq!(
        e,
        QpyError::Symbolic {
            circuit: 0,
            instruction: Some(1),
            name: "RZGate".into()
        }
    );
    let text = e.to_string();
    assert!(text.contains("instruction 1 (`RZGate`)"), "{text}");
    assert!(text.contains("bind the circuit's parameters"), "{text}");
    for key in [b'e', b'v'] {
        let c = Circ::new(1, 0).push(Inst::new("RXGate", &[0]).param(key, vec![0; 40]));
        assert!(matches!(refused(18, &c), QpyError::Symbolic { .. }));
    }
    let mut c = Circ::new(1, 0);
    c.phase = Phase(b'p', symbol("phi").1);
    assert_eq!(
        refused(17, &c),
        QpyError::Symbolic {
            circuit: 0,
            instruction: None,
            name: "global phase".into()
        }
    );
}

/// The `Unsupported` error of `c`, with its reason and hint.
fn unsupported(version: u8, c: &Circ) -> (Option<usize>, String, String) {
    match refused(version, c) {
        QpyError::Unsupported {
            instruction,
            reason,
            hint,
            ..
        } => (instruction, reason, hint.to_owned()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn instructions_the_simulator_lacks_are_refused_with_what_to_do() {
    let one = |inst: Inst| Circ::new(3, 1).push(Inst::new("HGate", &[0])).push(inst);
    let (at, reason, hint) = unsupported(
        17,
        &one(Inst::new("RZXGate", &[0, 1]).param(b'f', vec![0; 8])),
    );
    assert_eq!(at, Some(1));
    assert!(reason.contains("no gate `RZXGate`"), "{reason}");
    assert!(hint.contains("transpile(circuit, backend)"), "{hint}");
    let (_, reason, _) = unsupported(17, &one(Inst::new("MyOwnGate", &[0])));
    assert!(reason.contains("MyOwnGate"));

    let (_, reason, hint) = unsupported(17, &one(Inst::new("IfElseOp", &[0])));
    assert!(reason.contains("control flow") && hint.contains("without control flow"));
    let (_, reason, _) = unsupported(17, &one(Inst::new("Store", &[])));
    assert!(reason.contains("classical assignments"));

    let mut conditioned = Inst::new("XGate", &[1]);
    conditioned.condition = Some((1, b"c".to_vec()));
    let (_, reason, _) = unsupported(17, &one(conditioned));
    assert!(reason.contains("classical condition"));
    let mut conditioned = Inst::new("XGate", &[1]);
    conditioned.condition = Some((2, vec![b'x', 0, 0, 0, 0, 0, 0, 0, 1, 0]));
    assert!(
        unsupported(15, &one(conditioned))
            .1
            .contains("classical condition")
    );

    let mut custom = one(Inst::new("bell_pair", &[0, 1]));
    custom.custom = vec!["bell_pair".into()];
    let (_, reason, hint) = unsupported(17, &custom);
    assert!(reason.contains("custom instruction"));
    assert!(hint.contains("transpile"));

    let (_, reason, _) = unsupported(17, &one(Inst::new("CXGate", &[0, 1]).ctrl(1, 0)));
    assert!(
        reason.contains("controlled on 1 qubits in state 0b0"),
        "{reason}"
    );

    let mut vars = Circ::new(1, 0);
    vars.num_vars = 2;
    let (at, reason, _) = unsupported(17, &vars);
    assert_eq!(at, None);
    assert!(reason.contains("2 classical variables"));

    let mut calibrated = Circ::new(1, 0);
    calibrated.calibrations = 1;
    assert!(
        unsupported(17, &calibrated)
            .1
            .contains("pulse calibrations")
    );

    let mut scattered = Circ::new(1, 3);
    scattered.registers = vec![Reg {
        classical: true,
        name: "odd".into(),
        bits: vec![0, 2],
        in_circuit: true,
    }];
    let (_, reason, hint) = unsupported(17, &scattered);
    assert!(reason.contains("not a run of consecutive bits"), "{reason}");
    assert!(hint.contains("ClassicalRegister(n)"));
}

#[test]
fn impossible_instructions_are_bad_instructions() {
    let cases: Vec<(Inst, &str)> = vec![
        (Inst::new("XGate", &[5]), "qubit 5 is out of range"),
        (Inst::measure(0, 9), "classical bit 9 is out of range"),
        (
            Inst::new("CXGate", &[1, 1]).ctrl(1, 1),
            "qubit 1 appears twice",
        ),
        (Inst::new("CXGate", &[1]).ctrl(1, 1), "acts on 1 qubits"),
        (Inst::new("RZGate", &[0]), "it has 0 parameters, expected 1"),
        (
            Inst::new("RZGate", &[0]).param(b'f', f64::NAN.to_le_bytes().to_vec()),
            "parameter 0 is NaN",
        ),
        (
            Inst::new("RZGate", &[0]).param(b'f', vec![0; 4]),
            "a number of 4 bytes",
        ),
        (
            Inst::new("RZGate", &[0]).param(b's', b"pi".to_vec()),
            "of type `s`",
        ),
        (Inst::new("Barrier", &[0, 0]), "qubit 0 appears twice"),
    ];
    for (inst, want) in cases {
        let c = Circ::new(2, 1).push(inst);
        match refused(17, &c) {
            QpyError::BadInstruction {
                instruction,
                message,
                ..
            } => {
                assert_eq!(instruction, 0);
                assert!(message.contains(want), "{message} (wanted {want})");
            }
            other => panic!("{want}: {other:?}"),
        }
    }
}

#[test]
fn not_qpy_other_versions_and_schedules_are_refused() {
    let bell = transcript_qpy();
    assert_eq!(parse(b"PK\x03\x04 a zip file"), Err(QpyError::NotQpy));
    assert_eq!(parse(b"qiskit"), Err(QpyError::NotQpy));
    for version in [0u8, 5, 11, 19, 255] {
        let mut v = bell.clone();
        v[6] = version;
        assert_eq!(parse(&v), Err(QpyError::UnsupportedVersion { version }));
        assert!(parse(&v).unwrap_err().to_string().contains("version=17"));
    }
    let mut schedules = bell.clone();
    schedules[19] = b's';
    assert!(matches!(
        parse(&schedules),
        Err(QpyError::NotCircuits { .. })
    ));
    let mut encoding = bell.clone();
    encoding[18] = b'?';
    assert!(matches!(
        parse(&encoding),
        Err(QpyError::Malformed { offset: 18, .. })
    ));
}

#[test]
fn truncation_at_every_length_is_reported_as_such() {
    for qpy in [transcript_qpy(), executor_qpy()] {
        for len in 0..qpy.len() {
            match parse(&qpy[..len]) {
                Err(e @ QpyError::Truncated { offset, .. }) => {
                    assert!(offset <= len, "{len}: {e}");
                    fuzz::check_error(&e);
                }
                other => panic!("{len} bytes: {other:?}"),
            }
        }
    }
}

#[test]
fn trailing_bytes_and_bad_offset_tables_are_refused() {
    let mut longer = transcript_qpy();
    longer.push(0);
    assert!(matches!(parse(&longer), Err(QpyError::Malformed { .. })));
    let mut moved = transcript_qpy();
    moved[27] += 1;
    let e = parse(&moved).unwrap_err();
    assert!(
        e.to_string()
            .contains("offset table puts circuit 0 at byte 29"),
        "{e}"
    );
    let c = Circ::new(1, 0).bytes(15);
    let mut seq = file(15, &[c.clone(), c]);
    seq.push(1);
    assert!(matches!(parse(&seq), Err(QpyError::Malformed { .. })));
}

/// `bell` with the big-endian field at `at` replaced by `value` (as many bytes as it has).
fn patched(bell: &[u8], at: usize, value: &[u8]) -> Vec<u8> {
    let mut v = bell.to_vec();
    v[at..at + value.len()].copy_from_slice(value);
    v
}

#[test]
fn absurd_counts_and_lengths_are_refused_before_allocating() {
    let bell = transcript_qpy();
    // Offsets into the QPY 17 transcript file: the count of circuits in the file header, and
    // the circuit header after the 20-byte file header and the 8-byte offset table.
    const NUM_CIRCUITS: usize = 10;
    const HEADER: usize = 28;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            patched(&bell, NUM_CIRCUITS, &u64::MAX.to_be_bytes()),
            "circuits",
        ),
        (
            patched(&bell, NUM_CIRCUITS, &1000u64.to_be_bytes()),
            "circuits",
        ),
        (
            patched(&bell, HEADER + 5, &u32::MAX.to_be_bytes()),
            "qubits",
        ),
        (
            patched(&bell, HEADER + 9, &u32::MAX.to_be_bytes()),
            "classical bits",
        ),
        (
            patched(&bell, HEADER + 13, &u64::MAX.to_be_bytes()),
            "metadata",
        ),
        (
            patched(&bell, HEADER + 21, &u32::MAX.to_be_bytes()),
            "registers",
        ),
        (
            patched(&bell, HEADER + 25, &u64::MAX.to_be_bytes()),
            "instructions",
        ),
        (
            patched(&bell, HEADER + 25, &900_000u64.to_be_bytes()),
            "instructions",
        ),
        (patched(&bell, HEADER, &u16::MAX.to_be_bytes()), "name"),
        // The first register's size (`q`, after the header, name, phase and metadata).
        (
            patched(&bell, HEADER + 37 + 4 + 8 + 2 + 2, &u32::MAX.to_be_bytes()),
            "register",
        ),
    ];
    for (qpy, what) in cases {
        let e = parse(&qpy).unwrap_err();
        assert!(
            matches!(e, QpyError::TooLarge { .. } | QpyError::Truncated { .. }),
            "{what}: {e:?}"
        );
        assert!(e.to_string().contains(what), "{what}: {e}");
        fuzz::check_error(&e);
    }
    let huge = vec![0u8; (64 << 20) + 1];
    assert!(matches!(
        parse(&huge),
        Err(QpyError::TooLarge { what: "bytes", .. })
    ));
    // A barrier over a billion qubits: refused from the count, not after reading them.
    let c = Circ::new(2, 0).push(Inst::new("Barrier", &[0, 1]));
    let mut qpy = single(17, &c);
    let at = qpy.windows(7).position(|w| w == b"Barrier").unwrap() - 27;
    qpy[at..at + 4].copy_from_slice(&1_000_000_000u32.to_be_bytes());
    assert!(matches!(parse(&qpy), Err(QpyError::Truncated { .. })));
}

/// A small deterministic generator (SplitMix64) for the property tests.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Random circuits written by the test writer read back as the circuit written, in every
/// version.
#[test]
fn random_circuits_read_back_as_written() {
    let gates = every_gate();
    let mut rng = Rng(2026);
    for round in 0..300 {
        let version = 12 + (round % 7) as u8;
        let (nq, nc) = (1 + rng.below(6) as u32, rng.below(4) as u32);
        let mut c = Circ::new(nq, nc).with_registers();
        let mut want = Vec::new();
        for _ in 0..rng.below(30) {
            let choice = rng.below(gates.len() + 3);
            if choice == gates.len() && nc > 0 {
                let (q, b) = (rng.below(nq as usize), rng.below(nc as usize));
                c = c.push(Inst::measure(q as u32, b as u32));
                want.push(Instruction::Measure { qubit: q, clbit: b });
                continue;
            }
            if choice == gates.len() + 1 {
                let q = rng.below(nq as usize);
                c = c.push(Inst::new("Reset", &[q as u32]));
                want.push(Instruction::Reset { qubit: q });
                continue;
            }
            let (class, params, controls, _) = &gates[choice % gates.len()];
            let template = gates[choice % gates.len()].3;
            if template.num_qubits() > nq as usize {
                continue;
            }
            let mut qubits: Vec<usize> = (0..nq as usize).collect();
            for i in (1..qubits.len()).rev() {
                qubits.swap(i, rng.below(i + 1));
            }
            qubits.truncate(template.num_qubits());
            let angles: Vec<f64> = params
                .iter()
                .map(|_| (rng.next() % 10_000) as f64 / 1000.0 - 5.0)
                .collect();
            let qs: Vec<u32> = qubits.iter().map(|&q| q as u32).collect();
            let mut inst = Inst::new(class, &qs).ctrl(*controls, (1 << controls) - 1);
            for a in &angles {
                let (k, d) = float(*a, version);
                inst = inst.param(k, d);
            }
            c = c.push(inst);
            want.push(g(rebuild(class, &angles).unwrap_or(template), &qubits));
        }
        let got = parse(&single(version, &c)).unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(got[0].instructions, want, "round {round}, v{version}");
        fuzz::check_circuit(&got[0]);
    }
}

/// The gate `class` with `angles`, as the reader documents it.
fn rebuild(class: &str, a: &[f64]) -> Option<Gate> {
    Some(match (class, a) {
        ("RXGate", [t]) => Gate::RX(*t),
        ("RYGate", [t]) => Gate::RY(*t),
        ("RZGate", [t]) => Gate::RZ(*t),
        ("PhaseGate" | "U1Gate", [l]) => Gate::P(*l),
        ("UGate" | "U3Gate", [t, p, l]) => Gate::U(*t, *p, *l),
        ("U2Gate", [p, l]) => Gate::U(FRAC_PI_2, *p, *l),
        ("RGate", [t, p]) => Gate::U(*t, p - FRAC_PI_2, FRAC_PI_2 - p),
        ("CPhaseGate" | "CU1Gate", [l]) => Gate::CP(*l),
        ("CRXGate", [t]) => Gate::CRX(*t),
        ("CRYGate", [t]) => Gate::CRY(*t),
        ("CRZGate", [t]) => Gate::CRZ(*t),
        ("CUGate", [t, p, l, g]) => Gate::CU(*t, *p, *l, *g),
        ("CU3Gate", [t, p, l]) => Gate::CU(*t, *p, *l, 0.0),
        ("RXXGate", [t]) => Gate::RXX(*t),
        ("RYYGate", [t]) => Gate::RYY(*t),
        ("RZZGate", [t]) => Gate::RZZ(*t),
        _ => return None,
    })
}

/// Single-byte mutations of the real circuits never panic, and what they give passes the fuzz
/// target's checks.
#[test]
fn mutations_of_the_real_circuits_never_panic() {
    let mut rng = Rng(7);
    for qpy in [transcript_qpy(), executor_qpy()] {
        for _ in 0..3000 {
            let mut v = qpy.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(v.len());
                v[at] = rng.next() as u8;
            }
            fuzz::checks::qpy(&v);
        }
    }
}
