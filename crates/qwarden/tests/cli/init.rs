//! `qwarden init`: writes a profile once, never over an existing one.

use std::os::unix::fs::PermissionsExt;

use crate::support::{Env, TIERS};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn init_writes_a_private_profile_trust_file_and_policy_readme_for_each_tier() {
    for tier in TIERS {
        let env = Env::new();
        env.qwarden(["init", "--tier", tier])
            .run()
            .success()
            .stdout_has(&format!("wrote a {tier} workstation profile:"))
            .stdout_has(&env.config.join("profile.toml").display().to_string());

        let profile = env.config.join("profile.toml");
        let text = std::fs::read_to_string(&profile).unwrap();
        assert!(
            text.contains(&format!("\ntier = \"{tier}\"\n")),
            "{tier}: the profile does not say its tier:\n{text}"
        );
        assert_eq!(mode(&profile), 0o600, "{tier}: the profile must be private");
        assert_eq!(
            mode(&env.config),
            0o700,
            "{tier}: the configuration directory must be private"
        );

        let signers = std::fs::read_to_string(env.config.join("allowed_signers")).unwrap();
        assert!(
            signers.starts_with("# OpenSSH allowed-signers file"),
            "{tier}: {signers}"
        );
        let readme = std::fs::read_to_string(env.config.join("policies/README")).unwrap();
        assert!(
            readme.contains("qwarden policy validate"),
            "{tier}: {readme}"
        );
    }
}

qwtest!(
    init_refuses_to_overwrite_a_profile_even_for_another_tier,
    |env| {
        env.qwarden(["init", "--tier", "staging"]).run().success();
        let profile = env.config.join("profile.toml");
        let signers = env.config.join("allowed_signers");
        let before = (
            std::fs::read(&profile).unwrap(),
            std::fs::read(&signers).unwrap(),
        );

        for tier in TIERS {
            env.qwarden(["init", "--tier", tier])
            .run()
            .code(3)
            .stderr_has(&format!("a profile already exists at `{}`; it was left unchanged", profile.display()))
            .stderr_has("hint: edit it (its tier is set by `tier = …`), or move it away and run `qwarden init` again");
        }

        let after = (
            std::fs::read(&profile).unwrap(),
            std::fs::read(&signers).unwrap(),
        );
        assert!(before == after, "a refused init changed the files");
        assert_eq!(mode(&profile), 0o600);
    }
);

qwtest!(init_print_prints_the_profile_and_writes_nothing, |env| {
    let printed = env.qwarden(["init", "--print", "--tier", "prod"]).run();
    printed
        .success()
        .stdout_has("# qwarden workstation profile.")
        .stdout_has("\ntier = \"prod\"\n");
    assert!(
        !env.config.exists(),
        "init --print created {}",
        env.config.display()
    );
});

#[test]
fn init_print_shows_exactly_what_init_writes() {
    for tier in TIERS {
        let env = Env::new();
        let printed = env.qwarden(["init", "--print", "--tier", tier]).run();
        printed.success();
        env.qwarden(["init", "--tier", tier]).run().success();
        let written = std::fs::read_to_string(env.config.join("profile.toml")).unwrap();
        assert_eq!(printed.stdout, written, "{tier}");
    }
}

qwtest!(init_without_tier_writes_a_sandbox_profile, |env| {
    env.qwarden(["init"])
        .run()
        .success()
        .stdout_has("wrote a sandbox workstation profile:");
    let text = std::fs::read_to_string(env.config.join("profile.toml")).unwrap();
    assert!(text.contains("\ntier = \"sandbox\"\n"), "{text}");
});
