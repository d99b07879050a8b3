/**
 * @internal The path form a local record/replay server receives: `/<scheme>/<host[:port]>/<path>?<query>`,
 * made by the runtime's `rewriteOrigin` template `http://127.0.0.1:<port>/{scheme}/{host}`.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** @internal The rewrite template for a local server at `origin`. */
export function rewriteTemplate(origin: string): string {
  return `${origin}/{scheme}/{host}`;
}

/** @internal The original URL of a request to a local server, or `undefined` when its path has another form. */
export function targetOf(requestUrl: string): string | undefined {
  const m = /^\/(https?)\/([^/?#]+)([^#]*)$/i.exec(requestUrl);
  if (!m) return undefined;
  const rest = m[3]!;
  return `${m[1]!.toLowerCase()}://${m[2]}${rest.startsWith('/') ? rest : `/${rest}`}`;
}

/** @internal Reads a request body in full. */
export function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** @internal A loopback HTTP server whose connections are all closed by `close()`. */
export interface LocalServer {
  readonly url: string;
  close(): Promise<void>;
}

/** @internal Starts `handler` on `host:port` (default 127.0.0.1, a free port). */
export async function listen(handler: http.RequestListener, host = '127.0.0.1', port = 0): Promise<LocalServer> {
  const server = http.createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${shown}:${address.port}`,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      })),
  };
}
