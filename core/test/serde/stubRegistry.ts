/**
 * A loopback stand-in for a Confluent Schema Registry, answering the REST calls Tributary makes
 * with the status codes and bodies Confluent documents. Compatibility is decided with avsc's
 * schema resolution (BACKWARD: the new schema must read data of the latest one).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import avro from 'avsc';

export interface StubRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

export interface StubOptions {
  /** Path prefix of the API, e.g. `/apis/ccompat/v7`. */
  basePath?: string;
  /** Require these basic-auth credentials. */
  auth?: { username: string; password: string };
  /**
   * Behave like Apicurio's ccompat API: a subject without a rule reports `NONE`, configuring a
   * subject that does not exist answers 404, and compatibility checks give no reasons.
   */
  apicurio?: boolean;
  /** Answer every request with this instead (status, raw body). */
  override?: (req: StubRequest) => { status: number; body: string; headers?: Record<string, string> } | undefined | 'hang';
}

interface Version {
  id: number;
  version: number;
  schema: string;
}

export class StubRegistry {
  readonly requests: StubRequest[] = [];
  readonly subjects = new Map<string, Version[]>();
  readonly config = new Map<string, string>();
  private readonly schemas = new Map<number, string>();
  private nextId = 1;
  private server: http.Server | undefined;
  url = '';

  constructor(private readonly options: StubOptions = {}) {}

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (raw += c));
      req.on('end', () => this.handle(req, raw, res));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}${this.options.basePath ?? ''}`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Requests whose path (after the base path) starts with `prefix`. */
  calls(method: string, prefix: string): StubRequest[] {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(prefix));
  }

  private handle(req: http.IncomingMessage, raw: string, res: http.ServerResponse): void {
    const base = this.options.basePath ?? '';
    const full = req.url ?? '/';
    const path = full.startsWith(base) ? full.slice(base.length) : full;
    let body: unknown = undefined;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const record: StubRequest = { method: req.method ?? 'GET', path, headers: req.headers, body };
    this.requests.push(record);
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'Content-Type': 'application/vnd.schemaregistry.v1+json', ...headers });
      res.end(typeof payload === 'string' ? payload : JSON.stringify(payload));
    };
    const override = this.options.override?.(record);
    if (override === 'hang') return; // never answer
    if (override) return send(override.status, override.body, override.headers);
    if (this.options.auth) {
      const expected = 'Basic ' + Buffer.from(`${this.options.auth.username}:${this.options.auth.password}`).toString('base64');
      if (req.headers.authorization !== expected) return send(401, { error_code: 401, message: 'Unauthorized' });
    }
    if (!full.startsWith(base)) return send(404, { error_code: 404, message: 'HTTP 404 Not Found' });
    const [pathname] = path.split('?');
    const parts = pathname!.split('/').filter(Boolean).map(decodeURIComponent);
    try {
      this.route(record.method, parts, body as Record<string, unknown> | undefined, send);
    } catch (err) {
      send(500, { error_code: 50001, message: (err as Error).message });
    }
  }

  private route(
    method: string,
    parts: string[],
    body: Record<string, unknown> | undefined,
    send: (status: number, payload: unknown) => void,
  ): void {
    const [a, b, c, d, e] = parts;
    if (method === 'POST' && a === 'subjects' && b && c === 'versions' && !d) {
      const schema = String(body?.schema);
      const versions = this.subjects.get(b) ?? [];
      const same = versions.find((v) => v.schema === schema);
      if (same) return send(200, { id: same.id });
      const check = this.compatible(b, schema);
      if (!check.compatible) {
        return send(409, {
          error_code: 409,
          message: `Schema being registered is incompatible with an earlier schema for subject "${b}", details: [${check.messages.join(', ')}]`,
        });
      }
      let id = [...this.schemas.entries()].find(([, s]) => s === schema)?.[0];
      if (id === undefined) {
        id = this.nextId++;
        this.schemas.set(id, schema);
      }
      versions.push({ id, version: versions.length + 1, schema });
      this.subjects.set(b, versions);
      return send(200, { id });
    }
    if (method === 'GET' && a === 'schemas' && b === 'ids' && c) {
      const schema = this.schemas.get(Number(c));
      if (!schema) return send(404, { error_code: 40403, message: 'Schema not found' });
      return send(200, { schema });
    }
    if (method === 'POST' && a === 'compatibility' && b === 'subjects' && c && d === 'versions' && e === 'latest') {
      if (!this.subjects.get(c)?.length) return send(404, { error_code: 40401, message: `Subject '${c}' not found.` });
      const check = this.compatible(c, String(body?.schema));
      if (this.options.apicurio) return send(200, { is_compatible: check.compatible }); // no reasons, as Apicurio 3.3
      return send(200, check.compatible ? { is_compatible: true } : { is_compatible: false, messages: check.messages });
    }
    if (a === 'config' && !c) {
      if (method === 'GET') {
        if (!b) return send(200, { compatibilityLevel: this.config.get('') ?? 'BACKWARD' });
        const level = this.config.get(b);
        if (level) return send(200, { compatibilityLevel: level });
        if (this.options.apicurio) {
          if (!this.subjects.has(b)) return send(404, { error_code: 40401, message: `Subject '${b}' not found.` });
          return send(200, { compatibilityLevel: 'NONE' });
        }
        return send(404, { error_code: 40408, message: `Subject '${b}' does not have subject-level compatibility configured` });
      }
      if (method === 'PUT') {
        if (this.options.apicurio && b && !this.subjects.has(b)) {
          return send(404, { error_code: 40401, message: `Subject '${b}' not found.` });
        }
        this.config.set(b ?? '', String(body?.compatibility));
        return send(200, { compatibility: body?.compatibility });
      }
    }
    if (method === 'GET' && a === 'subjects' && b && c === 'versions' && d === 'latest') {
      const versions = this.subjects.get(b);
      const last = versions?.[versions.length - 1];
      if (!last) return send(404, { error_code: 40401, message: `Subject '${b}' not found.` });
      return send(200, { subject: b, id: last.id, version: last.version, schema: last.schema });
    }
    send(404, { error_code: 404, message: 'HTTP 404 Not Found' });
  }

  /** BACKWARD (the default) or NONE, decided with avsc; messages in Confluent's verbose form. */
  private compatible(subject: string, schema: string): { compatible: boolean; messages: string[] } {
    const level = this.config.get(subject) ?? this.config.get('') ?? 'BACKWARD';
    const versions = this.subjects.get(subject) ?? [];
    const latest = versions[versions.length - 1];
    if (!latest || level === 'NONE') return { compatible: true, messages: [] };
    const reader = avro.Type.forSchema(JSON.parse(schema));
    const writer = avro.Type.forSchema(JSON.parse(latest.schema));
    try {
      reader.createResolver(writer);
      return { compatible: true, messages: [] };
    } catch {
      const rFields = (JSON.parse(schema) as { fields?: { name: string; default?: unknown }[] }).fields ?? [];
      const wNames = new Set(((JSON.parse(latest.schema) as { fields?: { name: string }[] }).fields ?? []).map((f) => f.name));
      const messages = rFields.flatMap((f, i) =>
        !wNames.has(f.name) && !('default' in f)
          ? [`Incompatibility{type:READER_FIELD_MISSING_DEFAULT_VALUE, location:/fields/${i}, message:${f.name}, reader:${schema}, writer:${latest.schema}}`]
          : [],
      );
      if (!messages.length) messages.push(`Incompatibility{type:TYPE_MISMATCH, location:/, message:reader type not compatible with writer type, reader:${schema}, writer:${latest.schema}}`);
      messages.push(`{oldSchemaVersion: ${latest.version}}`, `{oldSchema: '${latest.schema}'}`, `{compatibility: '${level}'}`);
      return { compatible: false, messages };
    }
  }
}
