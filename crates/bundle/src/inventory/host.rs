//! The host: operating system (`/etc/os-release`), kernel (`uname -r` and `-v`, from
//! `/proc/sys/kernel/osrelease` and `/proc/sys/kernel/version`, else `/proc/version`), CPU
//! (`/proc/cpuinfo`) and host name (`/proc/sys/kernel/hostname`). The parsers take text and
//! never panic on junk.

use serde::{Deserialize, Serialize};

/// The operating system, from `os-release`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Os {
    /// `ID` (`debian`, `ubuntu`, `rhel`).
    pub id: Option<String>,
    /// `VERSION_ID` (`12`, `24.04`).
    pub version_id: Option<String>,
    /// `PRETTY_NAME`.
    pub pretty_name: Option<String>,
}

/// The running kernel.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    /// The release (`uname -r`).
    pub release: Option<String>,
    /// The build (`uname -v`), or the whole `/proc/version` line where that is all there is.
    pub version: Option<String>,
}

/// The processors.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cpu {
    /// The first `model name` (x86), else `Model` or `Hardware` (Arm), else `cpu` (POWER).
    pub model: Option<String>,
    /// How many logical processors (`processor` entries).
    pub count: u64,
}

/// Reads an `os-release` file: `KEY=value` lines, values optionally in single or double quotes
/// with `\` escapes inside double quotes.
pub fn parse_os_release(text: &str) -> Os {
    let mut os = Os::default();
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let slot = match key.trim() {
            "ID" => &mut os.id,
            "VERSION_ID" => &mut os.version_id,
            "PRETTY_NAME" => &mut os.pretty_name,
            _ => continue,
        };
        let value = unquote(value.trim());
        if !value.is_empty() {
            *slot = Some(value);
        }
    }
    os
}

fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\'
            && let Some(next) = chars.next()
        {
            out.push(next);
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads `/proc/cpuinfo`.
pub fn parse_cpuinfo(text: &str) -> Cpu {
    let mut cpu = Cpu::default();
    let mut fallback = None;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => cpu.count += 1,
            "model name" if cpu.model.is_none() && !value.is_empty() => {
                cpu.model = Some(value.to_owned());
            }
            "Model" | "Hardware" | "cpu" if fallback.is_none() && !value.is_empty() => {
                fallback = Some(value.to_owned());
            }
            _ => {}
        }
    }
    if cpu.model.is_none() {
        cpu.model = fallback;
    }
    cpu
}

/// The trimmed first line of a one-line `/proc` file, if not empty.
pub fn one_line(text: &str) -> Option<String> {
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}
