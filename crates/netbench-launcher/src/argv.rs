//! Go-style flags for `netbench launch`, so existing Job manifests keep working.
//!
//! The old launcher took `-benchmark netperf-tcp-rr -orchImage img -outputFileDirectory /x`
//! (single dash, camelCase, `-flag=value` too). [`normalize`] rewrites such arguments after a
//! `launch` subcommand into clap's `--kebab-case` before parsing. Pure: argv in, argv out.

use std::ffi::OsString;

/// Rewrite Go-style long flags after `launch` into `--kebab-case`; anything else is untouched.
///
/// Rewritten: `-name`, `-name=value` where name starts with a letter and has at least two
/// characters. Left alone: `--long`, `-h`, `-`, negative numbers, and everything after `--`.
pub fn normalize(args: Vec<OsString>) -> Vec<OsString> {
    let Some(pos) = args.iter().position(|a| a == "launch") else {
        return args;
    };
    // Only when `launch` is the subcommand (the first non-flag after the program name).
    if args[1..pos]
        .iter()
        .any(|a| !a.to_string_lossy().starts_with('-'))
    {
        return args;
    }
    let mut out = Vec::with_capacity(args.len());
    let mut rest = false;
    for (i, a) in args.into_iter().enumerate() {
        if i <= pos || rest {
            out.push(a);
            continue;
        }
        if a == "--" {
            rest = true;
            out.push(a);
            continue;
        }
        match a.to_str().and_then(go_flag) {
            Some(s) => out.push(s.into()),
            None => out.push(a),
        }
    }
    out
}

/// `-camelCase[=v]` -> `--camel-case[=v]`, or None when `arg` is not a Go-style long flag.
fn go_flag(arg: &str) -> Option<String> {
    let body = arg.strip_prefix('-')?;
    if body.starts_with('-') {
        return None;
    }
    let (name, value) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    };
    let mut chars = name.chars();
    if !chars.next()?.is_ascii_alphabetic() || name.len() < 2 {
        return None;
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return None;
    }
    let mut kebab = String::from("--");
    for c in name.chars() {
        match c {
            'A'..='Z' => {
                kebab.push('-');
                kebab.push(c.to_ascii_lowercase());
            }
            '_' => kebab.push('-'),
            _ => kebab.push(c),
        }
    }
    if let Some(v) = value {
        kebab.push('=');
        kebab.push_str(v);
    }
    Some(kebab)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(a: &[&str]) -> Vec<String> {
        normalize(a.iter().map(OsString::from).collect())
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn go_style_flags_of_existing_job_manifests_become_kebab_case() {
        assert_eq!(
            norm(&[
                "netbench",
                "launch",
                "-benchmark",
                "netperf-tcp-rr",
                "-orchImage",
                "img:1",
                "-outputFileDirectory=/share/x",
                "-workerImage",
                "w:1",
                "-nodeLabels=",
                "-deadline",
                "30m",
                "-timeout=5m",
                "-namespace",
                "ns",
                "-inject",
                "-tls",
                "-natsCa=/etc/ca.pem",
            ]),
            [
                "netbench",
                "launch",
                "--benchmark",
                "netperf-tcp-rr",
                "--orch-image",
                "img:1",
                "--output-file-directory=/share/x",
                "--worker-image",
                "w:1",
                "--node-labels=",
                "--deadline",
                "30m",
                "--timeout=5m",
                "--namespace",
                "ns",
                "--inject",
                "--tls",
                "--nats-ca=/etc/ca.pem",
            ]
        );
    }

    #[test]
    fn other_arguments_and_other_subcommands_are_untouched() {
        let same = [
            "netbench",
            "launch",
            "--benchmark",
            "x",
            "-h",
            "-",
            "-5",
            "--",
            "-notAFlag",
        ];
        assert_eq!(norm(&same), same);
        let local = ["netbench", "local", "-benchmark", "launch"];
        assert_eq!(norm(&local), local);
        // A value equal to "launch" after another subcommand does not trigger rewriting.
        let w = ["netbench", "worker", "--name", "launch", "-fooBar"];
        assert_eq!(norm(&w), w);
    }
}
