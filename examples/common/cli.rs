//! A small command-line flag parser shared by the examples: `--name value` pairs with defaults,
//! `--help` listing every flag, and a one-line error plus the usage (exit code 2) for a wrong
//! flag or value.

use std::fmt::Display;
use std::str::FromStr;

/// Flags given on the command line, consumed by typed getters; `finish` reports what is left.
pub struct Cli {
    program: String,
    about: &'static str,
    given: Vec<(String, Option<String>)>,
    usage: Vec<String>,
    /// Every flag a getter asked for, to tell a repeated flag from an unknown one.
    declared: Vec<String>,
    /// Arguments that are not flags, until [`Cli::positional`] claims them.
    positional: Vec<String>,
    /// What the usage line shows after `[FLAGS]`: the claimed arguments' name.
    positional_name: Option<String>,
    errors: Vec<String>,
    help: bool,
}

impl Cli {
    /// Reads `std::env::args()`.
    pub fn from_env(about: &'static str) -> Self {
        let mut args = std::env::args();
        let program = args.next().unwrap_or_default();
        let program = std::path::Path::new(&program)
            .file_name()
            .map_or(program.clone(), |n| n.to_string_lossy().into_owned());
        Self::parse(program, about, args)
    }

    /// Parses `args` (without the program name).
    pub fn parse(program: String, about: &'static str, args: impl IntoIterator<Item = String>) -> Self {
        let mut cli = Cli {
            program,
            about,
            given: Vec::new(),
            usage: Vec::new(),
            declared: Vec::new(),
            positional: Vec::new(),
            positional_name: None,
            errors: Vec::new(),
            help: false,
        };
        let mut args = args.into_iter().peekable();
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                cli.help = true;
            } else if let Some(name) = arg.strip_prefix("--") {
                if let Some((name, value)) = name.split_once('=') {
                    cli.given.push((name.to_string(), Some(value.to_string())));
                } else {
                    let value = args.next_if(|next| !next.starts_with("--"));
                    cli.given.push((name.to_string(), value));
                }
            } else {
                cli.positional.push(arg);
            }
        }
        cli
    }

    fn take(&mut self, name: &str) -> Option<Option<String>> {
        self.declared.push(name.to_string());
        let i = self.given.iter().position(|(n, _)| n == name)?;
        Some(self.given.remove(i).1)
    }

    /// The value of `--name`, or `default` when absent.
    pub fn get<T: FromStr + Display>(&mut self, name: &str, value_name: &str, help: &str, default: T) -> T
    where
        T::Err: Display,
    {
        self.usage.push(format!(
            "{} {help} (default: {default})",
            flag_column(name, value_name)
        ));
        match self.take(name) {
            None => default,
            Some(None) => {
                self.errors.push(format!("--{name} needs a value ({value_name})"));
                default
            }
            Some(Some(text)) => text.parse().unwrap_or_else(|e| {
                self.errors.push(format!("--{name} {text}: {e}"));
                default
            }),
        }
    }

    /// The value of `--name` if given.
    pub fn optional<T: FromStr>(&mut self, name: &str, value_name: &str, help: &str) -> Option<T>
    where
        T::Err: Display,
    {
        self.usage
            .push(format!("{} {help}", flag_column(name, value_name)));
        match self.take(name)? {
            None => {
                self.errors.push(format!("--{name} needs a value ({value_name})"));
                None
            }
            Some(text) => text
                .parse()
                .map_err(|e| self.errors.push(format!("--{name} {text}: {e}")))
                .ok(),
        }
    }

    /// The value of `--name`, which must be one of `choices`; the first choice is the default.
    pub fn choice(&mut self, name: &str, help: &str, choices: &[&'static str]) -> &'static str {
        let default = choices[0];
        self.usage.push(format!(
            "{} {help}: {} (default: {default})",
            flag_column(name, "NAME"),
            choices.join("|")
        ));
        match self.take(name) {
            None => default,
            Some(Some(text)) if choices.contains(&text.as_str()) => {
                choices.iter().find(|c| **c == text).copied().unwrap_or(default)
            }
            Some(value) => {
                let found = value.unwrap_or_else(|| "nothing".to_string());
                self.errors.push(format!(
                    "--{name}: expected one of {}, got '{found}'",
                    choices.join("|")
                ));
                default
            }
        }
    }

    /// The arguments that are not flags (`IMAGE.png...`), for programs that take them; without
    /// this call they are errors.
    pub fn positional(&mut self, value_name: &str, help: &str) -> Vec<String> {
        self.usage.push(format!("  {value_name:<22} {help}"));
        self.positional_name = Some(value_name.to_string());
        std::mem::take(&mut self.positional)
    }

    /// The usage text: what the program does and every flag declared so far.
    pub fn usage(&self) -> String {
        format!(
            "{}\n\nUsage: {} [FLAGS]{}\n\nFlags:\n{}\n{} this text",
            self.about,
            self.program,
            self.positional_name
                .as_ref()
                .map_or(String::new(), |n| format!(" {n}")),
            self.usage.join("\n"),
            flag_column("help", "")
        )
    }

    /// The first problem with the command line: a bad value, a flag given twice, an unknown
    /// flag (the flags left over after every getter has run), or an argument that is not a flag
    /// in a program that takes none.
    pub fn first_error(&mut self) -> Option<&str> {
        for arg in std::mem::take(&mut self.positional) {
            self.errors.push(format!(
                "unexpected argument '{arg}' (flags look like --name value)"
            ));
        }
        for (name, _) in std::mem::take(&mut self.given) {
            self.errors.push(if self.declared.contains(&name) {
                format!("--{name} is given more than once; give it once")
            } else {
                format!("unknown flag --{name}")
            });
        }
        self.errors.first().map(String::as_str)
    }

    /// Ends parsing: prints the usage and exits 0 for `--help`; prints the first error and the usage
    /// and exits 2 for an unknown or repeated flag or a bad value. Call after every getter.
    pub fn finish(mut self) {
        if self.help {
            println!("{}", self.usage());
            std::process::exit(0);
        }
        if let Some(first) = self.first_error().map(str::to_string) {
            eprintln!("error: {first}\n\n{}", self.usage());
            std::process::exit(2);
        }
    }
}

/// `  --name VALUE` padded so that the help texts of all flags start in one column.
fn flag_column(name: &str, value_name: &str) -> String {
    format!("  {:<22}", format!("--{name} {value_name}"))
}

/// A flag value that must be a finite number above 0 (a learning rate): checked as the flag is
/// parsed, so that a bad value is a usage error rather than a panic in the optimizer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Positive(pub f32);

/// A flag value that must be a finite number of at least 0 (a weight decay).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NonNegative(pub f32);

fn parse_number(s: &str, ok: impl Fn(f32) -> bool, what: &str) -> Result<f32, String> {
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() && ok(v) => Ok(v),
        _ => Err(format!("expected {what}")),
    }
}

impl FromStr for Positive {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_number(s, |v| v > 0.0, "a number above 0, such as 0.001 or 1e-3").map(Positive)
    }
}

impl FromStr for NonNegative {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_number(s, |v| v >= 0.0, "a number of at least 0, such as 0 or 1e-4").map(NonNegative)
    }
}

impl Display for Positive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Display for NonNegative {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
