//! The Autobahn testsuite's client testee: asks wstest's fuzzing server for the case count,
//! runs every case by echoing what it receives, then asks for the report.
//!
//! ```text
//! cargo run --release --example autobahn-client -- --url ws://127.0.0.1:9001 --agent NAME [--sync]
//! ```

use websock::proto::handshake::client::ClientRequest;
use websock::{Config, Error, Message};

fn config() -> Config {
    Config::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20)
        .deflate(websock::proto::ext::deflate::DeflateConfig::enabled().level(1))
}

fn run_sync(url: &str) -> Result<Option<String>, Error> {
    let mut ws = websock::sync::connect_with(
        websock::Connect::request(ClientRequest::new(url)?).config(config()),
    )?;
    let mut first_text = None;
    loop {
        match ws.recv() {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                if first_text.is_none() {
                    first_text = m.as_text().map(str::to_string);
                }
                ws.send(m)?;
            }
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(first_text),
            Err(e @ Error::Protocol(_)) if first_text.is_some() => {
                eprintln!("after first message: {e}");
                return Ok(first_text);
            }
            Err(e) => return Err(e),
        }
    }
}

async fn run_tokio(url: &str) -> Result<Option<String>, Error> {
    let mut ws = websock::tokio::connect_with(
        websock::Connect::request(ClientRequest::new(url)?).config(config()),
    )
    .await?;
    let mut first_text = None;
    while let Some(msg) = ws.recv().await {
        let m = msg?;
        if m.is_data() {
            if first_text.is_none() {
                first_text = m.as_text().map(str::to_string);
            }
            ws.send(m).await?;
        }
    }
    Ok(first_text)
}

fn main() {
    let mut url = "ws://127.0.0.1:9001".to_string();
    let mut agent = "websock".to_string();
    let mut sync = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--url" => url = args.next().expect("--url needs a value"),
            "--agent" => agent = args.next().expect("--agent needs a value"),
            "--sync" => sync = true,
            other => {
                eprintln!("unknown argument {other:?}");
                std::process::exit(2);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let run = |u: String| -> Result<Option<String>, Error> {
        if sync {
            run_sync(&u)
        } else {
            rt.block_on(run_tokio(&u))
        }
    };
    let count: u32 = match run(format!("{url}/getCaseCount")) {
        Ok(Some(n)) => n.trim().parse().expect("case count"),
        other => {
            eprintln!("could not get the case count: {other:?}");
            std::process::exit(1);
        }
    };
    eprintln!("running {count} cases as {agent}");
    for case in 1..=count {
        // A case may end in an error by design (the fuzzer sends bad frames); go on.
        if let Err(e) = run(format!("{url}/runCase?case={case}&agent={agent}")) {
            eprintln!("case {case}: {e}");
        }
    }
    if let Err(e) = run(format!("{url}/updateReports?agent={agent}")) {
        eprintln!("update reports failed: {e}");
        std::process::exit(1);
    }
}
