//! The built-in deny list: file-sharing, paste, tunnel, request-capture and object-storage hosts
//! that no agent reaches unless the profile exempts the entry. Why it exists is in the parent
//! module's documentation.

use std::sync::OnceLock;

use serde::Serialize;

use crate::host::HostPattern;

/// One entry of the built-in deny list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct DenyListEntry {
    /// The host pattern, exactly as `egress.exempt` has to write it to lift the entry.
    pub pattern: &'static str,
    /// The service it belongs to, e.g. `ngrok`.
    pub service: &'static str,
    /// What kind of service it is: one of [`DENY_KINDS`].
    pub kind: &'static str,
}

/// The kinds of service on the built-in deny list.
pub const DENY_KINDS: &[&str] = &[
    "file-sharing",
    "paste",
    "tunnel",
    "request-capture",
    "object-storage",
];

impl DenyListEntry {
    /// The entry's pattern, parsed (every entry parses; the tests check it).
    pub fn host_pattern(&self) -> Option<HostPattern> {
        self.pattern.parse().ok()
    }

    /// The entry whose pattern is `pattern` (compared as parsed host patterns, so case and a
    /// trailing dot do not matter).
    pub fn find(pattern: &HostPattern) -> Option<&'static DenyListEntry> {
        parsed()
            .iter()
            .find(|(p, _)| p == pattern)
            .map(|(_, entry)| *entry)
    }
}

/// Every pattern of [`BUILTIN_DENY`], parsed, in the list's order.
pub fn builtin_deny() -> Vec<HostPattern> {
    parsed().iter().map(|(p, _)| p.clone()).collect()
}

/// [`BUILTIN_DENY`] parsed once, each pattern with its entry.
pub(crate) fn parsed() -> &'static [(HostPattern, &'static DenyListEntry)] {
    static PARSED: OnceLock<Vec<(HostPattern, &'static DenyListEntry)>> = OnceLock::new();
    PARSED.get_or_init(|| {
        BUILTIN_DENY
            .iter()
            .filter_map(|e| e.host_pattern().map(|p| (p, e)))
            .collect()
    })
}

/// Up to three entries that look like what `written` meant: entries whose domain contains the
/// written name's (or the other way round), then those a few typing mistakes away.
pub(crate) fn nearest_entries(written: &str) -> Vec<&'static str> {
    let mut written = written.trim().to_ascii_lowercase();
    // Entries have no port: compare what was written without one.
    if let Some((name, port)) = written.rsplit_once(':')
        && !name.contains(':')
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        written = name.to_owned();
    }
    let written = written.trim_end_matches('.');
    let bare = |s: &str| s.trim_start_matches("*.").to_owned();
    let w = bare(written);
    let related = |a: &str, b: &str| a.ends_with(&format!(".{b}")) || b.ends_with(&format!(".{a}"));
    let mut scored: Vec<(usize, &'static str)> = BUILTIN_DENY
        .iter()
        .filter_map(|e| {
            let e_bare = bare(e.pattern);
            let score = if e_bare == w || related(&w, &e_bare) {
                // Same or nested domain: the closer in length, the better.
                w.len().abs_diff(e_bare.len()) / 8
            } else {
                let d = edit_distance(written, e.pattern);
                (d <= 3).then_some(d + 1)?
            };
            Some((score, e.pattern))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, p)| p).collect()
}

/// Levenshtein distance between `a` and `b`, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (cb, pair) in b.iter().zip(prev.windows(2)) {
            let &[diagonal, up] = pair else { continue };
            let left = cur.last().copied().unwrap_or(usize::MAX - 1);
            cur.push(
                (diagonal + usize::from(ca != *cb))
                    .min(up + 1)
                    .min(left + 1),
            );
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

/// Builds [`BUILTIN_DENY`]: entries grouped by kind and service, then Amazon S3's per-region
/// endpoints (`s3.REGION`, `*.s3.REGION`, their dual-stack forms, and the legacy `s3-REGION`).
macro_rules! deny_list {
    (
        $( $kind:literal => { $( $service:literal => [ $( $pattern:literal ),+ $(,)? ] ),+ $(,)? } )+
        s3_regions: [ $( $region:literal ),+ $(,)? ]
        s3_legacy_regions: [ $( $legacy:literal ),+ $(,)? ]
    ) => {
        &[
            $( $( $( DenyListEntry { pattern: $pattern, service: $service, kind: $kind }, )+ )+ )+
            $(
                DenyListEntry { pattern: concat!("s3.", $region, ".amazonaws.com"), service: "Amazon S3", kind: "object-storage" },
                DenyListEntry { pattern: concat!("*.s3.", $region, ".amazonaws.com"), service: "Amazon S3", kind: "object-storage" },
                DenyListEntry { pattern: concat!("s3.dualstack.", $region, ".amazonaws.com"), service: "Amazon S3", kind: "object-storage" },
                DenyListEntry { pattern: concat!("*.s3.dualstack.", $region, ".amazonaws.com"), service: "Amazon S3", kind: "object-storage" },
            )+
            $(
                DenyListEntry { pattern: concat!("s3-", $legacy, ".amazonaws.com"), service: "Amazon S3", kind: "object-storage" },
                DenyListEntry { pattern: concat!("*.s3-", $legacy, ".amazonaws.com"), service: "Amazon S3", kind: "object-storage" },
            )+
        ]
    };
}

/// Hosts no agent reaches, whatever the allow lists say, unless the workstation profile lifts the
/// entry with `egress.exempt`. See the [module documentation](crate::net) for why.
pub const BUILTIN_DENY: &[DenyListEntry] = deny_list! {
    "file-sharing" => {
        "Dropbox" => [
            "dropbox.com", "*.dropbox.com", "dropboxusercontent.com", "*.dropboxusercontent.com",
            "dropboxapi.com", "*.dropboxapi.com", "db.tt",
        ],
        "WeTransfer" => ["wetransfer.com", "*.wetransfer.com", "we.tl"],
        "MEGA" => ["mega.nz", "*.mega.nz", "mega.io", "*.mega.io", "mega.co.nz", "*.mega.co.nz"],
        "MediaFire" => ["mediafire.com", "*.mediafire.com"],
        "transfer.sh" => ["transfer.sh"],
        "file.io" => ["file.io"],
        "Gofile" => ["gofile.io", "*.gofile.io"],
        "Catbox" => ["catbox.moe", "*.catbox.moe"],
        "The Null Pointer" => ["0x0.st"],
        "Send Anywhere" => ["send-anywhere.com", "*.send-anywhere.com"],
        "AnonFiles" => ["anonfiles.com", "*.anonfiles.com"],
        "BayFiles" => ["bayfiles.com", "*.bayfiles.com"],
        "Pixeldrain" => ["pixeldrain.com", "*.pixeldrain.com"],
        "Filebin" => ["filebin.net", "*.filebin.net"],
        "tmpfiles.org" => ["tmpfiles.org"],
        "temp.sh" => ["temp.sh"],
        "Uguu" => ["uguu.se", "*.uguu.se"],
        "bashupload" => ["bashupload.com"],
        "oshi.at" => ["oshi.at"],
        "Google Drive" => ["drive.google.com", "drive.usercontent.google.com"],
        "OneDrive" => [
            "onedrive.live.com", "onedrive.com", "*.onedrive.com", "1drv.ms", "1drv.com", "*.1drv.com",
        ],
        "Box" => ["box.com", "*.box.com", "boxcloud.com", "*.boxcloud.com"],
    }
    "paste" => {
        "Pastebin" => ["pastebin.com", "*.pastebin.com"],
        "paste.ee" => ["paste.ee", "*.paste.ee"],
        "Hastebin" => ["hastebin.com", "*.hastebin.com"],
        "Ghostbin" => ["ghostbin.com", "ghostbin.co"],
        "dpaste" => ["dpaste.com", "dpaste.org"],
        "termbin" => ["termbin.com"],
        "Rentry" => ["rentry.co", "rentry.org"],
        "GitHub Gist" => ["gist.github.com", "gist.githubusercontent.com"],
        "ix.io" => ["ix.io"],
        "sprunge" => ["sprunge.us"],
        "paste.rs" => ["paste.rs"],
        "ControlC" => ["controlc.com"],
        "JustPaste.it" => ["justpaste.it"],
        "PrivateBin" => ["privatebin.net"],
    }
    "tunnel" => {
        "ngrok" => [
            "ngrok.io", "*.ngrok.io", "ngrok.app", "*.ngrok.app", "ngrok-free.app", "*.ngrok-free.app",
            "ngrok.dev", "*.ngrok.dev", "ngrok-free.dev", "*.ngrok-free.dev", "ngrok.com", "*.ngrok.com",
            "ngrok-agent.com", "*.ngrok-agent.com",
        ],
        "Cloudflare Tunnel" => ["trycloudflare.com", "*.trycloudflare.com", "argotunnel.com", "*.argotunnel.com"],
        "localtunnel" => ["localtunnel.me", "*.localtunnel.me", "loca.lt", "*.loca.lt"],
        "Serveo" => ["serveo.net", "*.serveo.net", "serveousercontent.com", "*.serveousercontent.com"],
        "localhost.run" => ["localhost.run", "*.localhost.run", "lhr.life", "*.lhr.life"],
        "Pinggy" => ["pinggy.io", "*.pinggy.io", "pinggy.link", "*.pinggy.link"],
        "bore" => ["bore.pub"],
        "LocalXpose" => ["localxpose.io", "*.localxpose.io", "loclx.io", "*.loclx.io"],
        "Telebit" => ["telebit.cloud", "*.telebit.cloud", "telebit.io", "*.telebit.io"],
        "Tunnelmole" => ["tunnelmole.com", "*.tunnelmole.com", "tunnelmole.net", "*.tunnelmole.net"],
        "zrok" => ["zrok.io", "*.zrok.io"],
        "Microsoft Dev Tunnels" => ["devtunnels.ms", "*.devtunnels.ms"],
        "Expose" => ["sharedwithexpose.com", "*.sharedwithexpose.com"],
    }
    "request-capture" => {
        "Webhook.site" => ["webhook.site", "*.webhook.site"],
        "RequestBin" => ["requestbin.com", "*.requestbin.com", "requestbin.net", "*.requestbin.net"],
        "Pipedream" => ["pipedream.net", "*.pipedream.net"],
        "Interactsh" => [
            "interact.sh", "*.interact.sh", "oast.pro", "*.oast.pro", "oast.live", "*.oast.live",
            "oast.site", "*.oast.site", "oast.online", "*.oast.online", "oast.fun", "*.oast.fun",
            "oast.me", "*.oast.me",
        ],
        "Burp Collaborator" => ["burpcollaborator.net", "*.burpcollaborator.net", "oastify.com", "*.oastify.com"],
        "Canarytokens" => ["canarytokens.com", "*.canarytokens.com", "canarytokens.org", "*.canarytokens.org"],
        "Request Catcher" => ["requestcatcher.com", "*.requestcatcher.com"],
        "Beeceptor" => ["beeceptor.com", "*.beeceptor.com"],
        "DNSLog" => ["dnslog.cn", "*.dnslog.cn"],
        "CEYE" => ["ceye.io", "*.ceye.io"],
    }
    "object-storage" => {
        "Amazon S3" => [
            "s3.amazonaws.com", "*.s3.amazonaws.com",
            "s3-accelerate.amazonaws.com", "*.s3-accelerate.amazonaws.com",
            "s3-accelerate.dualstack.amazonaws.com", "*.s3-accelerate.dualstack.amazonaws.com",
            "s3-external-1.amazonaws.com", "*.s3-external-1.amazonaws.com",
        ],
        "Google Cloud Storage" => ["storage.googleapis.com", "*.storage.googleapis.com", "storage.cloud.google.com"],
        "Azure Storage" => ["*.blob.core.windows.net", "*.dfs.core.windows.net"],
        "Cloudflare R2" => ["*.r2.dev", "*.r2.cloudflarestorage.com"],
        "Backblaze B2" => ["*.backblazeb2.com"],
        "Wasabi" => ["*.wasabisys.com"],
        "DigitalOcean Spaces" => ["*.digitaloceanspaces.com"],
        "Linode Object Storage" => ["*.linodeobjects.com"],
    }
    s3_regions: [
        "us-east-1", "us-east-2", "us-west-1", "us-west-2", "us-gov-east-1", "us-gov-west-1",
        "ca-central-1", "ca-west-1", "mx-central-1", "sa-east-1",
        "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1",
        "eu-south-2", "eu-north-1", "il-central-1", "me-south-1", "me-central-1", "af-south-1",
        "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2", "ap-northeast-1", "ap-northeast-2",
        "ap-northeast-3", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
        "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
    ]
    s3_legacy_regions: [
        "us-west-1", "us-west-2", "eu-west-1", "ap-southeast-1", "ap-southeast-2",
        "ap-northeast-1", "sa-east-1", "us-gov-west-1",
    ]
};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_entry_parses_once_and_in_canonical_form() {
        let mut seen = BTreeSet::new();
        for e in BUILTIN_DENY {
            let p: HostPattern = e
                .pattern
                .parse()
                .unwrap_or_else(|err| panic!("{}: {err}", e.pattern));
            assert_eq!(p.to_string(), e.pattern, "written as it prints");
            assert!(p.port().is_none(), "{}: every port", e.pattern);
            assert!(!p.is_ip_literal(), "{}", e.pattern);
            assert!(seen.insert(p), "{} is listed twice", e.pattern);
            assert!(
                DENY_KINDS.contains(&e.kind),
                "{}: kind {}",
                e.pattern,
                e.kind
            );
            assert!(!e.service.is_empty());
        }
        assert_eq!(builtin_deny().len(), BUILTIN_DENY.len());
        for kind in DENY_KINDS {
            assert!(BUILTIN_DENY.iter().any(|e| e.kind == *kind), "{kind}");
        }
    }

    #[test]
    fn no_entry_covers_another() {
        // Otherwise exempting the narrower entry would lift nothing.
        let all = builtin_deny();
        for a in &all {
            for b in all.iter().filter(|b| *b != a) {
                assert!(!a.covers(b), "{a} covers {b}");
            }
        }
    }

    #[test]
    fn matches_the_services_and_nothing_a_lab_needs() {
        let list = builtin_deny();
        let denied = |host: &str| list.iter().any(|p| p.matches(host, 443));
        for host in [
            "abc.ngrok-free.app",
            "connect.ngrok-agent.com",
            "mybucket.s3.amazonaws.com",
            "s3.amazonaws.com",
            "mybucket.s3.eu-central-1.amazonaws.com",
            "s3.dualstack.us-west-2.amazonaws.com",
            "mybucket.s3-us-west-2.amazonaws.com",
            "pastebin.com",
            "gist.githubusercontent.com",
            "www.dropbox.com",
            "content.dropboxapi.com",
            "we.tl",
            "drive.google.com",
            "random-words.trycloudflare.com",
            "x.loca.lt",
            "c59f2h.oast.fun",
            "webhook.site",
            "account.blob.core.windows.net",
            "pub-1234.r2.dev",
            "0x0.st",
            "Transfer.SH.",
        ] {
            assert!(denied(host), "{host} should be denied");
        }
        for host in [
            "pypi.org",
            "files.pythonhosted.org",
            "api.quantum.ibm.com",
            "quantum.cloud.ibm.com",
            "iam.cloud.ibm.com",
            "api.ionq.co",
            "braket.us-east-1.amazonaws.com",
            "github.com",
            "api.github.com",
            "codeload.github.com",
            "objects.githubusercontent.com",
            "raw.githubusercontent.com",
            "registry.npmjs.org",
            "crates.io",
            "static.crates.io",
            "www.googleapis.com",
            "accounts.google.com",
            "conda.anaconda.org",
        ] {
            assert!(!denied(host), "{host} should not be denied");
        }
    }

    #[test]
    fn the_readme_lists_every_entry() {
        // Errors about `egress.exempt` send the reader to the README's list.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md");
        let readme = std::fs::read_to_string(path).unwrap();
        let section = readme
            .split("### Built-in deny list")
            .nth(1)
            .unwrap()
            .split("\n## ")
            .next()
            .unwrap();
        for e in BUILTIN_DENY {
            // Per-region S3 entries are described by their form and the list of regions.
            let region = e
                .pattern
                .split('.')
                .find(|l| l.matches('-').count() >= 2)
                .map(|l| l.trim_start_matches("s3-"));
            let listed = section.contains(&format!("`{}`", e.pattern))
                || (e.service == "Amazon S3"
                    && region.is_some_and(|r| section.contains(&format!("`{r}`"))));
            assert!(listed, "README.md does not list `{}`", e.pattern);
        }
    }

    #[test]
    fn entries_are_found_by_pattern() {
        let p: HostPattern = "*.S3.amazonaws.com.".parse().unwrap();
        let e = DenyListEntry::find(&p).unwrap();
        assert_eq!(e.pattern, "*.s3.amazonaws.com");
        assert_eq!((e.service, e.kind), ("Amazon S3", "object-storage"));
        assert!(DenyListEntry::find(&"bucket.s3.amazonaws.com".parse().unwrap()).is_none());
    }

    #[test]
    fn nearest_entries_suggest_what_was_meant() {
        assert_eq!(
            nearest_entries("mybucket.s3.amazonaws.com").first(),
            Some(&"*.s3.amazonaws.com")
        );
        assert!(nearest_entries("*.ngrok.oi").contains(&"*.ngrok.io"));
        assert_eq!(
            nearest_entries("*.ngrok.io:443").first(),
            Some(&"*.ngrok.io")
        );
        assert!(nearest_entries("pastebin.co").contains(&"pastebin.com"));
        assert!(nearest_entries("ngrok-free.app").contains(&"ngrok-free.app"));
        assert!(nearest_entries("pypi.org").is_empty());
        assert!(nearest_entries("*.amazonaws.com").len() <= 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
    }
}
