//! The `haetae` binary: a thin shell over [`haetae::cli`].

fn main() -> std::process::ExitCode {
    haetae::cli::main()
}
