//! Checks the byte stream a connection transmits: every frame decodes, is masked exactly when a
//! client sends it, uses no RSV bit, keeps the fragmentation rules, sends only valid UTF-8 text
//! and valid close payloads, and sends nothing after its close frame or after a shutdown.

use websock::proto::close::CloseFrame;
use websock::proto::frame::{FrameHeader, OpCode};
use websock::proto::mask::apply_mask;
use websock::{DataKind, Role};

use crate::is_utf8_prefix;

/// One frame as sent, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentFrame {
    pub fin: bool,
    pub opcode: OpCode,
    pub payload: Vec<u8>,
}

/// Follows what one connection transmits.
#[derive(Debug)]
pub struct WireChecker {
    role: Role,
    buf: Vec<u8>,
    /// The data message being sent, and for text its bytes so far.
    message: Option<(DataKind, Vec<u8>)>,
    close_sent: bool,
    shutdown: bool,
    /// Every frame seen, in order.
    pub frames: Vec<SentFrame>,
}

impl WireChecker {
    /// A checker for what a connection in `role` sends.
    pub fn new(role: Role) -> Self {
        WireChecker {
            role,
            buf: Vec::new(),
            message: None,
            close_sent: false,
            shutdown: false,
            frames: Vec::new(),
        }
    }

    /// Bytes from `Transmit::Data`.
    pub fn data(&mut self, bytes: &[u8]) {
        assert!(!self.shutdown, "data transmitted after Transmit::Shutdown");
        assert!(!bytes.is_empty(), "empty Transmit::Data");
        self.buf.extend_from_slice(bytes);
        while self.next_frame() {}
    }

    /// `Transmit::Shutdown`.
    pub fn shutdown(&mut self) {
        assert!(!self.shutdown, "Transmit::Shutdown twice");
        self.shutdown = true;
    }

    /// Whether a shutdown was transmitted.
    pub fn is_shut_down(&self) -> bool {
        self.shutdown
    }

    /// Whether a close frame was transmitted.
    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// Called once `poll_transmit` returned `None`: everything queued was whole frames.
    pub fn drained(&self) {
        assert!(
            self.buf.is_empty(),
            "poll_transmit ran dry inside a frame: {} bytes of a partial frame {:02x?}",
            self.buf.len(),
            &self.buf[..self.buf.len().min(32)]
        );
    }

    fn next_frame(&mut self) -> bool {
        let (h, n) = match FrameHeader::decode(&self.buf) {
            Ok(Some(x)) => x,
            Ok(None) => return false,
            Err(e) => panic!(
                "transmitted an invalid frame header ({e:?}): {:02x?}",
                &self.buf[..self.buf.len().min(16)]
            ),
        };
        assert!(n <= self.buf.len());
        let len = usize::try_from(h.payload_len).expect("payload fits usize");
        if self.buf.len() - n < len {
            return false;
        }
        let mut payload: Vec<u8> = self.buf[n..n + len].to_vec();
        self.buf.drain(..n + len);

        assert!(
            !self.close_sent,
            "frame {h:?} transmitted after our close frame"
        );
        match (self.role, h.mask) {
            (Role::Client, Some(key)) => apply_mask(&mut payload, key, 0),
            (Role::Client, None) => panic!("client transmitted an unmasked frame {h:?}"),
            (Role::Server, Some(_)) => panic!("server transmitted a masked frame {h:?}"),
            (Role::Server, None) => {}
        }
        assert_eq!(h.rsv, 0, "RSV bits set without an extension: {h:?}");
        if h.opcode.is_control() {
            assert!(h.fin && payload.len() <= 125, "bad control frame {h:?}");
        }
        match h.opcode {
            OpCode::Text | OpCode::Binary => {
                assert!(
                    self.message.is_none(),
                    "new data frame {h:?} inside an unfinished fragmented message"
                );
                let kind = if h.opcode == OpCode::Text {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                self.message = Some((kind, Vec::new()));
                self.data_payload(h.fin, &payload);
            }
            OpCode::Continuation => {
                assert!(
                    self.message.is_some(),
                    "continuation frame without a message in progress"
                );
                self.data_payload(h.fin, &payload);
            }
            OpCode::Close => {
                if let Err(e) = CloseFrame::decode(&payload) {
                    panic!("transmitted an invalid close payload ({e:?}): {payload:02x?}");
                }
                self.close_sent = true;
            }
            OpCode::Ping | OpCode::Pong => {}
        }
        self.frames.push(SentFrame {
            fin: h.fin,
            opcode: h.opcode,
            payload,
        });
        true
    }

    fn data_payload(&mut self, fin: bool, payload: &[u8]) {
        let (kind, text) = self.message.as_mut().expect("checked by caller");
        if *kind == DataKind::Text {
            text.extend_from_slice(payload);
            assert!(
                is_utf8_prefix(text),
                "transmitted invalid UTF-8 in a text message"
            );
            if fin {
                assert!(
                    std::str::from_utf8(text).is_ok(),
                    "transmitted a text message ending inside a code point"
                );
            }
        }
        if fin {
            self.message = None;
        }
    }
}
