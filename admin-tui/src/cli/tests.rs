//! CLI tests: sources of endpoints and tokens, precedence, and errors that name the bad input.

use std::path::Path;

use super::*;

fn cli(args: &[&str]) -> Cli {
    Cli::try_parse_from(std::iter::once("meshtop").chain(args.iter().copied())).unwrap()
}

fn files(path: &Path) -> std::io::Result<String> {
    match path.to_str() {
        Some("eps.txt") => Ok("# fleet\n10.0.0.5:9901\n\n10.0.0.6:9901  # b\n".into()),
        Some("bad.txt") => Ok("10.0.0.5:9901\nlocalhost\n".into()),
        Some("token") => Ok("s3cret\n".into()),
        Some("empty") => Ok("  \n".into()),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file",
        )),
    }
}

#[test]
fn endpoints_come_from_args_and_file_merged_without_duplicates() {
    let c = cli(&["10.0.0.6:9901", "--endpoints-file", "eps.txt"])
        .resolve(&Env::default(), &files)
        .unwrap();
    assert_eq!(c.endpoints, ["10.0.0.6:9901", "10.0.0.5:9901"]);
    assert_eq!(c.token, None);
}

#[test]
fn the_environment_is_used_only_without_arguments() {
    let env = Env {
        endpoints: Some("a:1, b:2".into()),
        token: Some("t0k".into()),
    };
    let c = cli(&[]).resolve(&env, &files).unwrap();
    assert_eq!(c.endpoints, ["a:1", "b:2"]);
    assert_eq!(c.token.as_deref(), Some("t0k"));
    let c = cli(&["c:3", "--token-file", "token"])
        .resolve(&env, &files)
        .unwrap();
    assert_eq!(c.endpoints, ["c:3"]);
    assert_eq!(
        c.token.as_deref(),
        Some("s3cret"),
        "--token-file wins over MESHTOP_TOKEN"
    );
}

#[test]
fn bad_input_is_named_in_the_error() {
    let env = Env::default();
    let err = cli(&["--endpoints-file", "bad.txt"])
        .resolve(&env, &files)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "endpoint `localhost` from bad.txt line 2: expected host:port with a port 1-65535 (e.g. 10.0.0.5:9901)"
    );
    let err = cli(&["10.0.0.5:99999"]).resolve(&env, &files).unwrap_err();
    assert!(
        err.to_string()
            .contains("`10.0.0.5:99999` from the arguments"),
        "{err}"
    );
    let err = cli(&["a:1", "--token-file", "empty"])
        .resolve(&env, &files)
        .unwrap_err();
    assert_eq!(err, CliError::EmptyToken("--token-file empty".into()));
    let err = cli(&["a:1", "--token-file", "missing"])
        .resolve(&env, &files)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot read --token-file `missing`"),
        "{err}"
    );
    assert_eq!(
        cli(&[]).resolve(&env, &files).unwrap_err(),
        CliError::NoEndpoints
    );
}

#[test]
fn demo_needs_no_endpoints() {
    let c = cli(&["--demo"]).resolve(&Env::default(), &files).unwrap();
    assert!(c.demo && c.endpoints.is_empty());
}

#[test]
fn the_demo_adds_its_endpoints_after_the_given_ones_and_its_token_only_when_none_was_given() {
    let mut c = cli(&["--demo", "a:1"])
        .resolve(&Env::default(), &files)
        .unwrap();
    c.add_demo(["b:2".to_owned(), "a:1".to_owned()], "demo-token");
    assert_eq!(c.endpoints, ["a:1", "b:2"]);
    assert_eq!(c.token.as_deref(), Some("demo-token"));
    let mut given = cli(&["--demo", "--token-file", "token"])
        .resolve(&Env::default(), &files)
        .unwrap();
    given.add_demo(["b:2".to_owned()], "demo-token");
    assert_eq!(given.token.as_deref(), Some("s3cret"));
}
