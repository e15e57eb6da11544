//! `fsmatrix`: see `fsmatrix --help`.

fn main() -> std::process::ExitCode {
    switchyard_harness::cli::main()
}
