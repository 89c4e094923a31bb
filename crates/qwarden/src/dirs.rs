//! Where qwarden's files are: flags first, then environment variables, then the XDG defaults.

use std::path::{Path, PathBuf};

use crate::cli::DirArgs;
use crate::exit::Failure;

/// The system-wide configuration directory (`/etc/qwarden`; `QWARDEN_SYSTEM_CONFIG_DIR` overrides it
/// so tests stay hermetic).
pub fn system_config_dir() -> PathBuf {
    std::env::var_os("QWARDEN_SYSTEM_CONFIG_DIR")
        .map_or_else(|| PathBuf::from("/etc/qwarden"), PathBuf::from)
}

/// The resolved directories.
#[derive(Debug, Clone)]
pub struct Dirs {
    /// The user's home directory.
    pub home: PathBuf,
    /// The per-user configuration directory.
    pub config: PathBuf,
    /// The state directory.
    pub state: PathBuf,
    /// Whether the state directory was given by flag or environment (it then beats the profile).
    pub state_explicit: bool,
    /// The system configuration directory.
    pub system: PathBuf,
}

impl Dirs {
    /// Resolves the directories from the flags and the environment.
    pub fn resolve(args: &DirArgs) -> Result<Dirs, Failure> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| Failure::invalid(anyhow::anyhow!("HOME is not set: qwarden needs it to expand `~` in manifests and profiles and to hide the credential stores in it\n  hint: set HOME to your home directory")))?;
        let xdg = |var: &str, fallback: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| home.join(fallback))
                .join("qwarden")
        };
        let config = args
            .config_dir
            .clone()
            .unwrap_or_else(|| xdg("XDG_CONFIG_HOME", ".config"));
        let state = args
            .state_dir
            .clone()
            .unwrap_or_else(|| xdg("XDG_STATE_HOME", ".local/state"));
        Ok(Dirs {
            home,
            config,
            state,
            state_explicit: args.state_dir.is_some(),
            system: system_config_dir(),
        })
    }

    /// Expands a leading `~/` in a path taken from the profile.
    pub fn expand(&self, p: &str) -> PathBuf {
        match p.strip_prefix("~/") {
            Some(rest) => self.home.join(rest),
            None if p == "~" => self.home.clone(),
            None => PathBuf::from(p),
        }
    }

    /// Paths an agent must never see: qwarden's own configuration and state (which hold the
    /// vault and its default identity file), and the vault's identity file wherever it is.
    pub fn private(&self) -> Vec<PathBuf> {
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let mut private = vec![canon(&self.config), canon(&self.state), canon(&self.system)];
        private.extend(
            crate::commands::secrets::identity_files(self)
                .iter()
                .map(|p| canon(p)),
        );
        private
    }
}
