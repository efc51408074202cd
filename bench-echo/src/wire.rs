//! Client frames for the load generators, built by hand so that every server is fed the same
//! bytes whatever library it uses.

/// The mask of every frame the load generators send (fixed: the bytes are the same each run).
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One masked client frame (FIN, `opcode`) carrying `payload`.
pub fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(0x80 | opcode);
    let n = payload.len();
    if n < 126 {
        f.push(0x80 | n as u8);
    } else if n <= 0xffff {
        f.push(0x80 | 126);
        f.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        f.push(0x80 | 127);
        f.extend_from_slice(&(n as u64).to_be_bytes());
    }
    f.extend_from_slice(&MASK);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}
