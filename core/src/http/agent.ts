/**
 * @internal Keep-alive agents that tell the HTTP client when a request's socket is connected,
 * and enforce the connect timeout (DNS lookup + TCP connect + TLS handshake) on new sockets.
 *
 * node-fetch hides the `ClientRequest` it creates, but Node's `ClientRequest` constructor calls
 * `agent.addRequest(req)` synchronously, inside the synchronous part of `fetch()`. The client
 * puts the per-request watcher in `agent.pending` right before calling `fetch()` and takes it
 * back right after; `addRequest` picks it up. Requests made without a watcher (redirect hops
 * that node-fetch issues on its own) still get the agent's default connect timeout.
 */
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';

/** Code of the error a request is destroyed with when its connection is not ready in time. */
export const CONNECT_TIMEOUT_CODE = 'ETRIBUTARY_CONNECT_TIMEOUT';

/** Per-request callbacks of the client. */
export interface SocketWatcher {
  /** Connect timeout of this request in ms (0 = none). */
  readonly connectTimeout: number;
  /** The request has a connected socket (new or reused from the pool). */
  onConnected(): void;
  /** The socket was not connected within `ms`; the request is destroyed right after. */
  onConnectTimeout(ms: number): void;
}

/** Options of {@link createAgents}. */
export interface PoolOptions {
  maxSockets: number;
  maxFreeSockets: number;
  /** Idle keep-alive sockets are closed after this many ms. */
  freeSocketTimeout: number;
  /** Default connect timeout in ms (0 = none). */
  connectTimeout: number;
}

interface Watched {
  pending: SocketWatcher | undefined;
  readonly connectTimeout: number;
  readonly fresh: WeakSet<object>;
  readonly readyEvent: 'connect' | 'secureConnect';
}

type AddRequest = (this: http.Agent, req: http.ClientRequest, options: unknown) => void;
const baseAddRequest = (http.Agent.prototype as unknown as { addRequest: AddRequest }).addRequest;

function markFresh(agent: Watched, socket: Duplex | null | undefined): void {
  if (!socket) return;
  agent.fresh.add(socket);
  socket.once(agent.readyEvent, () => agent.fresh.delete(socket));
}

function watchRequest(agent: Watched, req: http.ClientRequest): void {
  const watcher = agent.pending;
  agent.pending = undefined;
  req.once('socket', (socket) => watchSocket(agent, req, socket, watcher));
}

function watchSocket(agent: Watched, req: http.ClientRequest, socket: Duplex, watcher: SocketWatcher | undefined): void {
  if (!agent.fresh.has(socket)) {
    watcher?.onConnected();
    return;
  }
  const ms = watcher ? watcher.connectTimeout : agent.connectTimeout;
  let timer: NodeJS.Timeout | undefined;
  const cleanup = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    socket.removeListener(agent.readyEvent, onReady);
    socket.removeListener('close', cleanup);
  };
  const onReady = (): void => {
    cleanup();
    watcher?.onConnected();
  };
  socket.once(agent.readyEvent, onReady);
  socket.once('close', cleanup);
  if (ms > 0) {
    timer = setTimeout(() => {
      cleanup();
      watcher?.onConnectTimeout(ms);
      const err = Object.assign(new Error(`connect to ${req.host} timed out after ${ms} ms`), { code: CONNECT_TIMEOUT_CODE, syscall: 'connect', host: req.host });
      req.destroy(err);
    }, ms);
  }
}

/** @internal Keep-alive `http.Agent` with connect watching. */
export class WatchedHttpAgent extends http.Agent implements Watched {
  pending: SocketWatcher | undefined;
  readonly connectTimeout: number;
  readonly fresh = new WeakSet<object>();
  readonly readyEvent = 'connect' as const;

  constructor(options: PoolOptions) {
    super({ keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxFreeSockets, timeout: options.freeSocketTimeout, scheduling: 'lifo' });
    this.connectTimeout = options.connectTimeout;
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    markFresh(this, socket);
    return socket;
  }

  /** Node's (undocumented but long-stable) hook through which every request enters the agent. */
  addRequest(req: http.ClientRequest, options: unknown): void {
    watchRequest(this, req);
    baseAddRequest.call(this, req, options);
  }
}

/** @internal Keep-alive `https.Agent` with connect watching (the TLS handshake counts as connecting). */
export class WatchedHttpsAgent extends https.Agent implements Watched {
  pending: SocketWatcher | undefined;
  readonly connectTimeout: number;
  readonly fresh = new WeakSet<object>();
  readonly readyEvent = 'secureConnect' as const;

  constructor(options: PoolOptions) {
    super({ keepAlive: true, maxSockets: options.maxSockets, maxFreeSockets: options.maxFreeSockets, timeout: options.freeSocketTimeout, scheduling: 'lifo' });
    this.connectTimeout = options.connectTimeout;
  }

  override createConnection(options: https.RequestOptions, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const socket = super.createConnection(options, callback);
    markFresh(this, socket);
    return socket;
  }

  /** See {@link WatchedHttpAgent.addRequest}. */
  addRequest(req: http.ClientRequest, options: unknown): void {
    watchRequest(this, req);
    baseAddRequest.call(this, req, options);
  }
}

/** @internal One agent pair for one client. */
export function createAgents(options: PoolOptions): { http: WatchedHttpAgent; https: WatchedHttpsAgent } {
  return { http: new WatchedHttpAgent(options), https: new WatchedHttpsAgent(options) };
}
