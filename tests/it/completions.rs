//! `completions` and `man`: generated from the clap definition, checked by
//! the tools that read them (bash's parser, man/groff when installed).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::BIN;

fn doctor(args: &[&str]) -> (i32, Vec<u8>) {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("run aisbf-doctor");
    (out.status.code().unwrap_or(-1), out.stdout)
}

const SUBCOMMANDS: &[&str] = &[
    "check",
    "diagnose",
    "incidents",
    "watch",
    "cache",
    "serve",
    "discord",
    "healthcheck",
    "demo",
    "config",
    "completions",
    "man",
];

#[test]
fn bash_completion_is_accepted_by_bash_and_completes_every_subcommand() {
    let (code, script) = doctor(&["completions", "bash"]);
    assert_eq!(code, 0);
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("aisbf-doctor.bash");
    std::fs::write(&path, &script).expect("write");
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash");
    assert!(
        syntax.status.success(),
        "{}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    // Source it and ask bash itself what `aisbf-doctor <TAB>` offers.
    let probe = format!(
        "source {}; COMP_WORDS=(aisbf-doctor ''); COMP_CWORD=1; COMP_LINE='aisbf-doctor '; COMP_POINT=13; \
         fn=$(complete -p aisbf-doctor | sed -E 's/.*-F ([^ ]+).*/\\1/'); \
         \"$fn\" aisbf-doctor '' aisbf-doctor; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let offered = Command::new("bash")
        .args(["-c", &probe])
        .output()
        .expect("bash");
    let offered = String::from_utf8_lossy(&offered.stdout);
    for sub in SUBCOMMANDS {
        assert!(
            offered.lines().any(|l| l == *sub),
            "{sub} not offered: {offered}"
        );
    }
}

#[test]
fn zsh_and_fish_completions_name_every_subcommand() {
    for shell in ["zsh", "fish"] {
        let (code, script) = doctor(&["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        let script = String::from_utf8_lossy(&script);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell}: {sub} missing");
        }
    }
}

#[test]
fn the_man_page_renders_and_lists_the_subcommands() {
    let (code, page) = doctor(&["man"]);
    assert_eq!(code, 0);
    let roff = String::from_utf8_lossy(&page);
    assert!(roff.contains(".TH aisbf-doctor 1"), "{roff}");
    // Render it the way a user reads it when man is installed (it is on
    // Debian's base image); the roff itself is checked either way.
    let has_man = Command::new("man")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let text = if has_man {
        let mut child = Command::new("man")
            .args(["-l", "-"])
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("man");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&page)
            .expect("write");
        let out = child.wait_with_output().expect("man");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        roff.into_owned()
    };
    for sub in SUBCOMMANDS {
        assert!(
            text.contains(&format!("aisbf-doctor-{sub}")),
            "{sub} missing:\n{text}"
        );
    }
}

#[test]
fn man_dir_writes_one_page_per_command() {
    let dir = tempfile::tempdir().expect("dir");
    let (code, _) = doctor(&["man", "--dir", &dir.path().display().to_string()]);
    assert_eq!(code, 0);
    for page in [
        "aisbf-doctor.1",
        "aisbf-doctor-check.1",
        "aisbf-doctor-config-init.1",
    ] {
        assert!(dir.path().join(page).is_file(), "{page} not written");
    }
}
