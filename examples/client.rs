//! A line client: each line of standard input goes out as a text message, each message received
//! is printed on standard output, and the end of input closes cleanly with 1000.
//!
//! ```text
//! cargo run --release --example client -- ws://HOST:PORT/PATH
//! ```

use tokio::io::{AsyncBufReadExt, BufReader};
use websock::{CloseCode, CloseFrame, Message};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: client ws://HOST:PORT/PATH");
        std::process::exit(2);
    };
    let ws = match websock::tokio::connect(&url).await {
        Ok(ok) => ok,
        Err(e) => {
            eprintln!("connect failed: {e}");
            std::process::exit(1);
        }
    };
    let (mut stream, mut sink) = ws.split();
    let reader = tokio::spawn(async move {
        while let Some(msg) = stream.recv().await {
            match msg {
                Ok(Message::Text(t)) => println!("{t}"),
                Ok(Message::Binary(b)) => println!("[{} bytes of binary]", b.len()),
                Ok(Message::Close(frame)) => eprintln!("server closed: {frame:?}"),
                Ok(_) => {}
                Err(e) => {
                    eprintln!("error: {e}");
                    return false;
                }
            }
        }
        true
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Err(e) = sink.send(line).await {
            eprintln!("send failed: {e}");
            break;
        }
    }
    let _ = sink
        .close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        .await;
    let clean = reader.await.unwrap_or(false);
    std::process::exit(if clean { 0 } else { 1 });
}
