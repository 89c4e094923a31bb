//! A small QPY writer for the tests: circuits with chosen registers, instructions and
//! parameters, laid out as `qiskit.qpy.dump` lays them out in versions 12 to 18 (the same byte
//! layout the real transcript circuits have), so that each reader path can be reached.

/// A register of a circuit.
#[derive(Debug, Clone)]
pub struct Reg {
    pub classical: bool,
    pub name: String,
    pub bits: Vec<i64>,
    pub in_circuit: bool,
}

/// One instruction.
#[derive(Debug, Clone)]
pub struct Inst {
    pub class: String,
    pub qubits: Vec<u32>,
    pub clbits: Vec<u32>,
    /// (type key, data) as stored.
    pub params: Vec<(u8, Vec<u8>)>,
    pub ctrl: (u32, u32),
    /// Condition type and its bytes (1: register name; 2: a typed value).
    pub condition: Option<(u8, Vec<u8>)>,
    pub label: String,
}

impl Inst {
    pub fn new(class: &str, qubits: &[u32]) -> Inst {
        Inst {
            class: class.to_owned(),
            qubits: qubits.to_vec(),
            clbits: Vec::new(),
            params: Vec::new(),
            ctrl: (0, 0),
            condition: None,
            label: String::new(),
        }
    }

    pub fn measure(qubit: u32, clbit: u32) -> Inst {
        let mut i = Inst::new("Measure", &[qubit]);
        i.clbits = vec![clbit];
        i
    }

    pub fn ctrl(mut self, n: u32, state: u32) -> Inst {
        self.ctrl = (n, state);
        self
    }

    pub fn param(mut self, key: u8, data: Vec<u8>) -> Inst {
        self.params.push((key, data));
        self
    }
}

/// The global phase: type key and bytes.
#[derive(Debug, Clone)]
pub struct Phase(pub u8, pub Vec<u8>);

/// A circuit to write.
#[derive(Debug, Clone)]
pub struct Circ {
    pub name: String,
    pub phase: Phase,
    pub num_qubits: u32,
    pub num_clbits: u32,
    pub registers: Vec<Reg>,
    pub custom: Vec<String>,
    pub instructions: Vec<Inst>,
    pub num_vars: u32,
    pub calibrations: u16,
    /// Write QPY 18's contiguous form for registers whose bits are consecutive.
    pub contiguous: bool,
}

impl Circ {
    pub fn new(num_qubits: u32, num_clbits: u32) -> Circ {
        Circ {
            name: "circuit".into(),
            phase: Phase(b'f', 0f64.to_be_bytes().to_vec()),
            num_qubits,
            num_clbits,
            registers: Vec::new(),
            custom: Vec::new(),
            instructions: Vec::new(),
            num_vars: 0,
            calibrations: 0,
            contiguous: true,
        }
    }

    /// Adds standalone registers `q` (every qubit) and `c` (every classical bit, if any).
    pub fn with_registers(mut self) -> Circ {
        self.registers.push(Reg {
            classical: false,
            name: "q".into(),
            bits: (0..i64::from(self.num_qubits)).collect(),
            in_circuit: true,
        });
        if self.num_clbits > 0 {
            self.registers.push(Reg {
                classical: true,
                name: "c".into(),
                bits: (0..i64::from(self.num_clbits)).collect(),
                in_circuit: true,
            });
        }
        self
    }

    pub fn push(mut self, inst: Inst) -> Circ {
        self.instructions.push(inst);
        self
    }

    pub fn bytes(&self, version: u8) -> Vec<u8> {
        let mut o = Vec::new();
        let metadata = b"{}";
        o.extend((self.name.len() as u16).to_be_bytes());
        o.push(self.phase.0);
        o.extend((self.phase.1.len() as u16).to_be_bytes());
        o.extend(self.num_qubits.to_be_bytes());
        o.extend(self.num_clbits.to_be_bytes());
        o.extend((metadata.len() as u64).to_be_bytes());
        o.extend((self.registers.len() as u32).to_be_bytes());
        o.extend((self.instructions.len() as u64).to_be_bytes());
        o.extend(self.num_vars.to_be_bytes());
        o.extend(self.name.as_bytes());
        o.extend(&self.phase.1);
        o.extend(metadata);
        for r in &self.registers {
            register(&mut o, r, version, self.contiguous);
        }
        if version >= 15 {
            o.extend(0u32.to_be_bytes()); // No annotation namespaces.
        }
        if version >= 18 {
            o.extend(0u16.to_be_bytes()); // No parameter vectors.
        }
        o.extend((self.custom.len() as u64).to_be_bytes());
        for name in &self.custom {
            o.extend((name.len() as u16).to_be_bytes());
            o.push(b'g');
            o.extend(1u32.to_be_bytes());
            o.extend(0u32.to_be_bytes());
            o.push(0); // No definition.
            o.extend(0u64.to_be_bytes());
            o.extend(0u32.to_be_bytes());
            o.extend(0u32.to_be_bytes());
            o.extend(0u64.to_be_bytes());
            o.extend(name.as_bytes());
        }
        for i in &self.instructions {
            instruction(&mut o, i);
        }
        if version < 18 {
            o.extend(self.calibrations.to_be_bytes());
        }
        // No layout.
        o.push(0);
        o.extend((-1i32).to_be_bytes());
        o.extend((-1i32).to_be_bytes());
        o.extend((-1i32).to_be_bytes());
        o.extend(0u32.to_be_bytes());
        o.extend(0i32.to_be_bytes());
        o
    }
}

fn register(o: &mut Vec<u8>, r: &Reg, version: u8, contiguous: bool) {
    o.push(if r.classical { b'c' } else { b'q' });
    o.push(1);
    o.extend((r.bits.len() as u32).to_be_bytes());
    o.extend((r.name.len() as u16).to_be_bytes());
    o.push(u8::from(r.in_circuit));
    let consecutive =
        !r.bits.is_empty() && r.bits.windows(2).all(|w| w[1] == w[0] + 1) && r.bits[0] >= 0;
    if version >= 18 {
        o.push(u8::from(contiguous && consecutive));
    }
    o.extend(r.name.as_bytes());
    if version < 18 {
        for b in &r.bits {
            o.extend(b.to_be_bytes());
        }
    } else if contiguous && consecutive {
        o.extend((r.bits[0] as u32).to_be_bytes());
    } else {
        for b in &r.bits {
            o.extend((if *b < 0 { u32::MAX } else { *b as u32 }).to_be_bytes());
        }
    }
}

fn instruction(o: &mut Vec<u8>, i: &Inst) {
    let (cond_key, cond_bytes) = i.condition.clone().unwrap_or((0, Vec::new()));
    o.extend((i.class.len() as u16).to_be_bytes());
    o.extend((i.label.len() as u16).to_be_bytes());
    o.extend((i.params.len() as u16).to_be_bytes());
    o.extend((i.qubits.len() as u32).to_be_bytes());
    o.extend((i.clbits.len() as u32).to_be_bytes());
    o.push(cond_key);
    let reg_size = if cond_key == 1 { cond_bytes.len() } else { 0 };
    o.extend((reg_size as u16).to_be_bytes());
    o.extend(1i64.to_be_bytes());
    o.extend(i.ctrl.0.to_be_bytes());
    o.extend(i.ctrl.1.to_be_bytes());
    o.extend(i.class.as_bytes());
    o.extend(i.label.as_bytes());
    o.extend(&cond_bytes);
    for q in &i.qubits {
        o.push(b'q');
        o.extend(q.to_be_bytes());
    }
    for c in &i.clbits {
        o.push(b'c');
        o.extend(c.to_be_bytes());
    }
    for (key, data) in &i.params {
        o.push(*key);
        o.extend((data.len() as u64).to_be_bytes());
        o.extend(data);
    }
}

/// A float instruction parameter as `version` stores it (little-endian before 18).
pub fn float(v: f64, version: u8) -> (u8, Vec<u8>) {
    let bytes = if version <= 17 {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    };
    (b'f', bytes.to_vec())
}

/// An integer instruction parameter as `version` stores it.
pub fn int(v: i64, version: u8) -> (u8, Vec<u8>) {
    let bytes = if version <= 17 {
        v.to_le_bytes()
    } else {
        v.to_be_bytes()
    };
    (b'i', bytes.to_vec())
}

/// A `Parameter` named `name` (`PARAMETER`: name size, UUID, name).
pub fn symbol(name: &str) -> (u8, Vec<u8>) {
    let mut data = (name.len() as u16).to_be_bytes().to_vec();
    data.extend([7u8; 16]);
    data.extend(name.as_bytes());
    (b'p', data)
}

/// A whole QPY file of `circuits` (already written for `version`).
pub fn file(version: u8, circuits: &[Vec<u8>]) -> Vec<u8> {
    let mut o = b"QISKIT".to_vec();
    o.push(version);
    o.extend([2, 6, 2]);
    o.extend((circuits.len() as u64).to_be_bytes());
    o.push(b'p');
    o.push(b'q');
    if version >= 16 {
        let mut at = (o.len() + 8 * circuits.len()) as u64;
        for c in circuits {
            o.extend(at.to_be_bytes());
            at += c.len() as u64;
        }
    }
    for c in circuits {
        o.extend(c);
    }
    o
}

/// One circuit as a file.
pub fn single(version: u8, c: &Circ) -> Vec<u8> {
    file(version, &[c.bytes(version)])
}
