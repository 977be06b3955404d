fn main() -> std::process::ExitCode {
    pm::cli::main()
}
