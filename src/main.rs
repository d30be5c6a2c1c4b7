use std::process::ExitCode;

use clap::Parser;

mod cli;
mod runtime;

/// Log output: each event is formatted whole, then scrubbed of every
/// configured secret on its way to stderr. This is the one place every log
/// line passes, whatever logged it (our code, a driver, serenity).
struct RedactedStderr;

/// One log event being written.
struct RedactedEvent(Vec<u8>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RedactedStderr {
    type Writer = RedactedEvent;

    fn make_writer(&'a self) -> RedactedEvent {
        RedactedEvent(Vec::with_capacity(256))
    }
}

impl std::io::Write for RedactedEvent {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactedEvent {
    fn drop(&mut self) {
        use std::io::Write;
        let text = String::from_utf8_lossy(&self.0);
        let clean = aisbf_doctor::secret::scrub_everywhere(&text);
        let _ = std::io::stderr().lock().write_all(clean.as_bytes());
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactedStderr);
    if std::env::var("LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    // clap exits 2 on a usage error; 2 means "fail" to a Nagios monitor, so
    // usage errors exit 3 (unknown) instead.
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(cli::EXIT_UNKNOWN)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_tracing();
    // 1,000 nodes need more sockets than the usual soft limit of 1,024.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        tracing::debug!(error = %e, "cannot raise the open-file limit");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("aisbf-doctor: cannot start the async runtime: {e}");
            return ExitCode::from(cli::EXIT_UNKNOWN);
        }
    };
    runtime.block_on(cli::run(cli))
}
