// Node `ws` echo server for websock's interop client (examples/interop-client.rs).
//
//   node server.mjs [--port 0] [--compression on|off]
//
// Echoes text and binary messages as the same type; answers the text message "close-me" by
// closing with 4002 "server-close". permessage-deflate (every message compressed) is accepted
// when a client offers it, unless --compression off. Prints `listening on ws://127.0.0.1:PORT`
// once it accepts connections. Used by tests/interop/run.sh.
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    compression: { type: 'string', default: 'on' },
  },
});

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(args.port),
  perMessageDeflate: args.compression === 'on' ? { threshold: 0 } : false,
  maxPayload: 64 << 20,
});
wss.on('listening', () => console.log(`listening on ws://127.0.0.1:${wss.address().port}`));
wss.on('connection', (ws) => {
  ws.on('error', (e) => console.error(`connection error: ${e.message}`));
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.toString() === 'close-me') ws.close(4002, 'server-close');
    else ws.send(data, { binary: isBinary });
  });
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
