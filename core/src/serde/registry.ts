import http from 'node:http';
import https from 'node:https';
import fetch, { type Response } from 'node-fetch';
import { TributaryError } from '../errors/TributaryError.js';
import { HttpError, parseRetryAfter } from '../errors/HttpError.js';
import { NetworkError } from '../errors/NetworkError.js';
import { ResponseError } from '../errors/ResponseError.js';
import { TimeoutError } from '../errors/TimeoutError.js';
import type { AvroSchema } from './types.js';

/** Compatibility levels of a Confluent-compatible schema registry. */
export type CompatibilityLevel =
  | 'NONE'
  | 'BACKWARD'
  | 'BACKWARD_TRANSITIVE'
  | 'FORWARD'
  | 'FORWARD_TRANSITIVE'
  | 'FULL'
  | 'FULL_TRANSITIVE';

const LEVELS = new Set<string>(['NONE', 'BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE']);

/** Result of a compatibility check. */
export interface CompatibilityResult {
  compatible: boolean;
  /** The registry's explanation when not compatible (Confluent sends them with `?verbose=true`). */
  messages: string[];
}

/** A schema registered under a subject. */
export interface RegisteredSchema {
  subject: string;
  id: number;
  version: number;
  schema: AvroSchema;
}

/**
 * The registry operations the serializers use. {@link SchemaRegistryClient} implements it; a test
 * or another registry can too.
 */
export interface SchemaRegistryApi {
  register(subject: string, schema: AvroSchema): Promise<number>;
  getSchemaById(id: number): Promise<AvroSchema>;
  checkCompatibility(subject: string, schema: AvroSchema): Promise<CompatibilityResult>;
  getCompatibility(subject?: string): Promise<CompatibilityLevel | null>;
  setCompatibility(subject: string | undefined, level: CompatibilityLevel): Promise<void>;
  /** Latest schema of a subject (optional: used to explain incompatibilities the registry does not). */
  latest?(subject: string): Promise<RegisteredSchema | null>;
}

/** Options of {@link SchemaRegistryClient}. */
export interface SchemaRegistryClientOptions {
  /**
   * Base URL of the registry's Confluent-compatible API, possibly with a path, e.g.
   * `http://localhost:8081` or `http://localhost:8080/apis/ccompat/v7` (Apicurio). Credentials in
   * the URL (`https://user:pass@host`) are used for basic auth and removed from the URL.
   */
  url: string;
  /** Basic-auth user name (read it from the environment). Default: none. */
  username?: string;
  /** Basic-auth password (read it from the environment). Never logged nor put in errors. Default: none. */
  password?: string;
  /** Time limit of one request, in milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Extra request headers (e.g. a bearer token). Their values never appear in errors. Default: none. */
  headers?: Record<string, string>;
}

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const ACCEPT = 'application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json';
const SOURCE = 'schema-registry';

/**
 * A small client for the REST API of a Confluent-compatible schema registry (Confluent Schema
 * Registry, Apicurio's `ccompat` API, Redpanda, Karapace): register schemas, look them up by id,
 * check and configure compatibility.
 *
 * Schema ids are cached both ways (schema → id per subject, id → schema), so the hot path never
 * calls the registry twice for the same schema. Requests use a keep-alive agent; call `close()`
 * when done. Failures are `HttpError` (with the registry's `error_code` and message),
 * `ResponseError` (an answer that is not the expected JSON), `TimeoutError`, or `NetworkError`
 * (no connection; retriable); each names the registry URL, never the credentials.
 *
 * @example
 * ```ts
 * import { SchemaRegistryClient } from '@tributary/core';
 * const registry = new SchemaRegistryClient({
 *   url: process.env.SCHEMA_REGISTRY_URL!,
 *   username: process.env.SCHEMA_REGISTRY_USER,
 *   password: process.env.SCHEMA_REGISTRY_PASSWORD,
 * });
 * const id = await registry.register('prices-value', priceSchema);
 * registry.close();
 * ```
 */
export class SchemaRegistryClient implements SchemaRegistryApi {
  /** The base URL, without credentials and without a trailing slash. */
  readonly url: string;
  private readonly timeoutMs: number;
  private readonly headers: Record<string, string>;
  private readonly agent: http.Agent;
  private readonly idsBySubject = new Map<string, Map<string, number>>();
  private readonly schemasById = new Map<number, Promise<AvroSchema>>();

  constructor(options: SchemaRegistryClientOptions) {
    let parsed: URL;
    try {
      parsed = new URL(options.url);
    } catch {
      throw new TributaryError('invalid schema registry URL (not an absolute http(s) URL)', { code: 'ERR_CONFIG', retriable: false });
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new TributaryError(`invalid schema registry URL: protocol ${parsed.protocol} (expected http: or https:)`, {
        code: 'ERR_CONFIG',
        retriable: false,
      });
    }
    let username = options.username;
    let password = options.password;
    if (parsed.username || parsed.password) {
      username ??= decodeURIComponent(parsed.username);
      password ??= decodeURIComponent(parsed.password);
      parsed.username = '';
      parsed.password = '';
    }
    parsed.search = '';
    parsed.hash = '';
    this.url = parsed.toString().replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.headers = { Accept: ACCEPT, ...options.headers };
    if (username !== undefined || password !== undefined) {
      this.headers.Authorization = 'Basic ' + Buffer.from(`${username ?? ''}:${password ?? ''}`).toString('base64');
    }
    this.agent = parsed.protocol === 'https:' ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  }

  /**
   * Registers a schema under a subject (`POST /subjects/{subject}/versions`) and returns its id.
   * Registering a schema that is already there returns the existing id. A 409 means the schema
   * breaks the subject's compatibility rule.
   */
  async register(subject: string, schema: AvroSchema): Promise<number> {
    const text = JSON.stringify(schema);
    const known = this.idsBySubject.get(subject)?.get(text);
    if (known !== undefined) return known;
    const body = await this.request('POST', `/subjects/${enc(subject)}/versions`, { schema: text, schemaType: 'AVRO' });
    const id = (body as { id?: unknown } | null)?.id;
    if (typeof id !== 'number' || !Number.isInteger(id)) throw this.badAnswer('register answered without a numeric id');
    this.remember(subject, text, id, schema);
    return id;
  }

  /** The schema with a given id (`GET /schemas/ids/{id}`), cached. */
  getSchemaById(id: number): Promise<AvroSchema> {
    const cached = this.schemasById.get(id);
    if (cached) return cached;
    const pending = this.request('GET', `/schemas/ids/${id}`).then((body) => {
      const b = body as { schema?: unknown; schemaType?: unknown } | null;
      if (b?.schemaType !== undefined && b.schemaType !== 'AVRO') {
        throw this.badAnswer(`schema id ${id} is a ${String(b.schemaType)} schema, not AVRO`);
      }
      if (typeof b?.schema !== 'string') throw this.badAnswer(`schema id ${id}: answer has no schema`);
      return this.parseSchema(b.schema, `schema id ${id}`);
    });
    this.schemasById.set(id, pending);
    pending.catch(() => this.schemasById.delete(id));
    return pending;
  }

  /**
   * Checks whether a schema may be registered under a subject given its compatibility level
   * (`POST /compatibility/subjects/{subject}/versions/latest?verbose=true`). A subject without
   * versions accepts anything.
   */
  async checkCompatibility(subject: string, schema: AvroSchema): Promise<CompatibilityResult> {
    let body: unknown;
    try {
      body = await this.request('POST', `/compatibility/subjects/${enc(subject)}/versions/latest?verbose=true`, {
        schema: JSON.stringify(schema),
        schemaType: 'AVRO',
      });
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) return { compatible: true, messages: [] };
      throw err;
    }
    const b = body as { is_compatible?: unknown; messages?: unknown } | null;
    if (typeof b?.is_compatible !== 'boolean') throw this.badAnswer('compatibility check answered without is_compatible');
    const messages = Array.isArray(b.messages) ? b.messages.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))) : [];
    return { compatible: b.is_compatible, messages };
  }

  /**
   * The compatibility level of a subject (`GET /config/{subject}`), or of the registry when
   * `subject` is left out (`GET /config`). `null` when the subject has no level of its own.
   */
  async getCompatibility(subject?: string): Promise<CompatibilityLevel | null> {
    let body: unknown;
    try {
      body = await this.request('GET', subject === undefined ? '/config' : `/config/${enc(subject)}`);
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) return null;
      throw err;
    }
    const b = body as { compatibilityLevel?: unknown; compatibility?: unknown } | null;
    const level = b?.compatibilityLevel ?? b?.compatibility;
    if (typeof level !== 'string' || !LEVELS.has(level)) throw this.badAnswer('config answered without a known compatibility level');
    return level as CompatibilityLevel;
  }

  /** Sets the compatibility level of a subject, or of the registry when `subject` is undefined (`PUT /config[/{subject}]`). */
  async setCompatibility(subject: string | undefined, level: CompatibilityLevel): Promise<void> {
    if (!LEVELS.has(level)) throw new TributaryError(`unknown compatibility level ${String(level)}`, { code: 'ERR_CONFIG', retriable: false });
    await this.request('PUT', subject === undefined ? '/config' : `/config/${enc(subject)}`, { compatibility: level });
  }

  /** The latest schema registered under a subject (`GET /subjects/{subject}/versions/latest`), or `null` when there is none. */
  async latest(subject: string): Promise<RegisteredSchema | null> {
    let body: unknown;
    try {
      body = await this.request('GET', `/subjects/${enc(subject)}/versions/latest`);
    } catch (err) {
      if (err instanceof HttpError && err.status === 404) return null;
      throw err;
    }
    const b = body as { id?: unknown; version?: unknown; schema?: unknown; schemaType?: unknown } | null;
    if (typeof b?.id !== 'number' || typeof b.version !== 'number' || typeof b.schema !== 'string') {
      throw this.badAnswer(`latest version of ${subject}: unexpected answer`);
    }
    const schema = this.parseSchema(b.schema, `subject ${subject}`);
    this.remember(subject, b.schema, b.id, schema);
    return { subject, id: b.id, version: b.version, schema };
  }

  /** Closes idle keep-alive connections. The client may still be used afterwards. */
  close(): void {
    this.agent.destroy();
  }

  private remember(subject: string, text: string, id: number, schema: AvroSchema): void {
    let ids = this.idsBySubject.get(subject);
    if (!ids) this.idsBySubject.set(subject, (ids = new Map()));
    ids.set(text, id);
    if (!this.schemasById.has(id)) this.schemasById.set(id, Promise.resolve(schema));
  }

  private parseSchema(text: string, what: string): AvroSchema {
    try {
      return JSON.parse(text) as AvroSchema;
    } catch {
      // A bare primitive name such as `string` is sometimes stored without quotes.
      if (/^[A-Za-z_][A-Za-z0-9_.]*$/.test(text)) return text;
      throw this.badAnswer(`${what}: the schema is not JSON`);
    }
  }

  private badAnswer(message: string, url = this.url): ResponseError {
    return new ResponseError(`schema registry: ${message}`, { source: SOURCE, url });
  }

  private async request(method: string, path: string, json?: unknown): Promise<unknown> {
    const url = this.url + path;
    const where = `${method} ${url}`;
    const headers: Record<string, string> = { ...this.headers };
    if (json !== undefined) headers['Content-Type'] = CONTENT_TYPE;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: json === undefined ? undefined : JSON.stringify(json),
        agent: this.agent,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw this.transportError(err, method, url);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.transportError(err, method, url);
    }
    let body: unknown = undefined;
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        if (res.ok) throw this.badAnswer(`${where} answered ${res.status} with a body that is not JSON`, url);
      }
    }
    if (!res.ok) {
      const b = body as { error_code?: unknown; message?: unknown } | undefined;
      const detail = typeof b?.message === 'string' ? b.message : text.slice(0, 200);
      const code = typeof b?.error_code === 'number' ? ` (error_code ${b.error_code})` : '';
      throw new HttpError({
        status: res.status,
        url,
        source: SOURCE,
        body: text.slice(0, 500),
        retryAfterMs: parseRetryAfter(res.headers.get('retry-after')),
        message: `schema registry ${where} answered ${res.status}${code}${detail ? ': ' + detail : ''}`,
      });
    }
    return body;
  }

  private transportError(err: unknown, method: string, url: string): Error {
    const name = (err as { name?: unknown } | null)?.name;
    if (name === 'AbortError' || name === 'TimeoutError') {
      return new TimeoutError(`schema registry ${method} ${url}`, this.timeoutMs, { cause: err });
    }
    const code = (err as { code?: unknown } | null)?.code;
    const reason = typeof code === 'string' ? code : undefined;
    return new NetworkError(`schema registry unreachable (${method}): ${reason ?? (err as Error | null)?.message ?? String(err)}`, {
      source: SOURCE,
      url,
      reason,
      cause: err,
    });
  }
}

function enc(subject: string): string {
  return encodeURIComponent(subject);
}
