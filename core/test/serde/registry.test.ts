import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { HttpError, isHttpError } from '../../src/errors/HttpError.js';
import { isResponseError } from '../../src/errors/ResponseError.js';
import { isTimeoutError } from '../../src/errors/TimeoutError.js';
import { isNetworkError } from '../../src/errors/NetworkError.js';
import { SchemaRegistryClient } from '../../src/serde/registry.js';
import type { AvroSchema } from '../../src/serde/types.js';
import { StubRegistry } from './stubRegistry.js';

const v1 = {
  type: 'record',
  name: 'Price',
  namespace: 'energy',
  fields: [{ name: 'area', type: 'string' }],
} as const satisfies AvroSchema;
const v2WithDefault = {
  ...v1,
  fields: [...v1.fields, { name: 'currency', type: 'string', default: 'EUR' }],
} as const satisfies AvroSchema;
const v2Required = { ...v1, fields: [...v1.fields, { name: 'currency', type: 'string' }] } as const satisfies AvroSchema;

const SECRET = 's3cr3t-Pa55';

/** Every string a caller could see of an error. */
function everythingOf(err: unknown): string {
  const e = err as Error & { body?: unknown; url?: unknown; cause?: unknown };
  return [e.message, e.stack, String(e.body), String(e.url), String((e.cause as Error | undefined)?.message), JSON.stringify(e)].join('\n');
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

describe('serde/registry SchemaRegistryClient', () => {
  let stub: StubRegistry;
  let client: SchemaRegistryClient;

  afterEach(async () => {
    client?.close();
    await stub?.stop();
  });

  describe('against a Confluent-like registry', () => {
    beforeEach(async () => {
      stub = await new StubRegistry().start();
      client = new SchemaRegistryClient({ url: stub.url });
    });

    it('registers a schema with the documented request and caches the id', async () => {
      const id = await client.register('prices-value', v1);
      expect(id).to.equal(1);
      const [post] = stub.calls('POST', '/subjects/prices-value/versions');
      expect(post!.headers['content-type']).to.equal('application/vnd.schemaregistry.v1+json');
      expect(post!.body).to.deep.equal({ schema: JSON.stringify(v1), schemaType: 'AVRO' });
      expect(await client.register('prices-value', v1)).to.equal(1);
      expect(stub.calls('POST', '/subjects/')).to.have.length(1);
    });

    it('re-registering the same schema with a fresh client returns the same id', async () => {
      const id = await client.register('prices-value', v1);
      const other = new SchemaRegistryClient({ url: stub.url });
      try {
        expect(await other.register('prices-value', v1)).to.equal(id);
      } finally {
        other.close();
      }
    });

    it('gets a schema by id once, even when asked concurrently', async () => {
      const writer = new SchemaRegistryClient({ url: stub.url });
      const id = await writer.register('prices-value', v1);
      writer.close();
      const [a, b] = await Promise.all([client.getSchemaById(id), client.getSchemaById(id)]);
      expect(a).to.deep.equal(v1);
      expect(b).to.deep.equal(v1);
      expect(await client.getSchemaById(id)).to.deep.equal(v1);
      expect(stub.calls('GET', `/schemas/ids/${id}`)).to.have.length(1);
    });

    it('knows the schema of an id it registered without asking', async () => {
      const id = await client.register('prices-value', v1);
      expect(await client.getSchemaById(id)).to.deep.equal(v1);
      expect(stub.calls('GET', '/schemas/ids/')).to.have.length(0);
    });

    it('an unknown id is an HttpError 404 naming the registry, and is not cached', async () => {
      const err = await rejection(client.getSchemaById(99));
      expect(isHttpError(err)).to.equal(true);
      expect((err as HttpError).status).to.equal(404);
      expect((err as HttpError).retriable).to.equal(false);
      expect((err as Error).message).to.contain(`${stub.url}/schemas/ids/99`).and.contain('40403');
      await rejection(client.getSchemaById(99));
      expect(stub.calls('GET', '/schemas/ids/99')).to.have.length(2);
    });

    it('a subject without versions is compatible with anything', async () => {
      expect(await client.checkCompatibility('new-value', v2Required)).to.deep.equal({ compatible: true, messages: [] });
      const [call] = stub.calls('POST', '/compatibility/subjects/new-value/versions/latest');
      expect(call!.path).to.contain('verbose=true');
    });

    it('reports compatibility with the verbose messages', async () => {
      await client.register('prices-value', v1);
      expect((await client.checkCompatibility('prices-value', v2WithDefault)).compatible).to.equal(true);
      const res = await client.checkCompatibility('prices-value', v2Required);
      expect(res.compatible).to.equal(false);
      expect(res.messages[0]).to.match(/^Incompatibility\{type:READER_FIELD_MISSING_DEFAULT_VALUE, location:\/fields\/1, message:currency/);
    });

    it('reads and sets compatibility levels (null when the subject has none)', async () => {
      expect(await client.getCompatibility('prices-value')).to.equal(null);
      expect(await client.getCompatibility()).to.equal('BACKWARD');
      await client.setCompatibility('prices-value', 'FULL');
      expect(stub.calls('PUT', '/config/prices-value')[0]!.body).to.deep.equal({ compatibility: 'FULL' });
      expect(await client.getCompatibility('prices-value')).to.equal('FULL');
    });

    it('rejects an unknown compatibility level before sending anything', async () => {
      const err = await rejection(client.setCompatibility('x', 'SIDEWAYS' as never));
      expect((err as Error).message).to.contain('SIDEWAYS');
      expect(stub.requests).to.have.length(0);
    });

    it('latest() returns the newest version, or null for an unknown subject', async () => {
      expect(await client.latest('prices-value')).to.equal(null);
      await client.register('prices-value', v1);
      await client.register('prices-value', v2WithDefault);
      const latest = await client.latest('prices-value');
      expect(latest).to.deep.include({ subject: 'prices-value', id: 2, version: 2 });
      expect(latest!.schema).to.deep.equal(v2WithDefault);
    });

    it('URL-encodes subjects', async () => {
      await client.register('a/b c-value', v1);
      expect(stub.requests[0]!.path).to.equal('/subjects/a%2Fb%20c-value/versions');
    });

    it('a 409 on register carries the registry message', async () => {
      await client.register('prices-value', v1);
      const err = await rejection(client.register('prices-value', v2Required));
      expect((err as HttpError).status).to.equal(409);
      expect((err as Error).message).to.contain('incompatible with an earlier schema');
    });
  });

  it('sends basic auth and never shows the password, from options or from the URL', async () => {
    stub = await new StubRegistry({ auth: { username: 'svc', password: SECRET } }).start();
    client = new SchemaRegistryClient({ url: stub.url, username: 'svc', password: SECRET });
    await client.register('prices-value', v1);
    const expected = 'Basic ' + Buffer.from(`svc:${SECRET}`).toString('base64');
    expect(stub.requests[0]!.headers.authorization).to.equal(expected);

    const withUrlCredentials = new SchemaRegistryClient({ url: stub.url.replace('http://', `http://svc:${SECRET}@`) });
    try {
      expect(withUrlCredentials.url).to.equal(stub.url);
      expect(withUrlCredentials.url).not.to.contain(SECRET);
      expect(await withUrlCredentials.getSchemaById(1)).to.deep.equal(v1);
      expect(stub.requests[1]!.headers.authorization).to.equal(expected);
    } finally {
      withUrlCredentials.close();
    }

    const wrong = new SchemaRegistryClient({ url: stub.url.replace('http://', `http://svc:${SECRET}x@`) });
    try {
      const err = await rejection(wrong.getSchemaById(1));
      expect((err as HttpError).status).to.equal(401);
      expect(everythingOf(err)).to.contain(stub.url);
      expect(everythingOf(err)).not.to.contain(SECRET);
    } finally {
      wrong.close();
    }
  });

  it('an unreachable registry is a retriable error naming the URL without the password', async () => {
    // A port that was free a moment ago.
    const probe = http.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((r) => probe.close(() => r()));
    client = new SchemaRegistryClient({ url: `http://svc:${SECRET}@127.0.0.1:${port}` });
    const err = await rejection(client.register('x-value', v1));
    expect(isNetworkError(err)).to.equal(true);
    expect((err as { code: string }).code).to.equal('ERR_NETWORK');
    expect((err as { reason: string }).reason).to.equal('ECONNREFUSED');
    expect((err as { retriable: boolean }).retriable).to.equal(true);
    expect((err as Error).message).to.contain(`http://127.0.0.1:${port}/subjects/x-value/versions`);
    expect(everythingOf(err)).not.to.contain(SECRET);
  });

  it('times out a registry that does not answer', async () => {
    stub = await new StubRegistry({ override: () => 'hang' }).start();
    client = new SchemaRegistryClient({ url: stub.url, timeoutMs: 100 });
    const started = Date.now();
    const err = await rejection(client.getSchemaById(1));
    expect(isTimeoutError(err)).to.equal(true);
    expect((err as Error).message).to.contain(`${stub.url}/schemas/ids/1`).and.contain('100 ms');
    expect(Date.now() - started).to.be.lessThan(5000);
  });

  it('an answer that is not JSON is a ResponseError naming the registry', async () => {
    stub = await new StubRegistry({ override: () => ({ status: 200, body: '<html>proxy login</html>' }) }).start();
    client = new SchemaRegistryClient({ url: stub.url });
    const err = await rejection(client.getSchemaById(1));
    expect(isResponseError(err)).to.equal(true);
    expect((err as Error).message).to.contain('not JSON').and.contain(stub.url);
  });

  it('a schema of another type is refused', async () => {
    stub = await new StubRegistry({
      override: () => ({ status: 200, body: JSON.stringify({ schema: 'syntax = "proto3";', schemaType: 'PROTOBUF' }) }),
    }).start();
    client = new SchemaRegistryClient({ url: stub.url });
    const err = await rejection(client.getSchemaById(3));
    expect((err as Error).message).to.contain('PROTOBUF');
  });

  it('5xx answers are retriable and carry Retry-After', async () => {
    stub = await new StubRegistry({
      override: () => ({ status: 503, body: '{"error_code":50301,"message":"busy"}', headers: { 'Retry-After': '2' } }),
    }).start();
    client = new SchemaRegistryClient({ url: stub.url });
    const err = (await rejection(client.getSchemaById(1))) as HttpError;
    expect(err.status).to.equal(503);
    expect(err.retriable).to.equal(true);
    expect(err.retryAfterMs).to.equal(2000);
    expect(err.message).to.contain('busy');
  });

  it('works under a base path (Apicurio ccompat)', async () => {
    stub = await new StubRegistry({ basePath: '/apis/ccompat/v7' }).start();
    client = new SchemaRegistryClient({ url: stub.url + '/' });
    expect(client.url).to.equal(stub.url);
    expect(await client.register('prices-value', v1)).to.equal(1);
    expect(stub.requests[0]!.path).to.equal('/subjects/prices-value/versions');
  });

  it('rejects a URL that is not http(s)', () => {
    expect(() => new SchemaRegistryClient({ url: 'localhost:8081' })).to.throw(/schema registry URL/);
    expect(() => new SchemaRegistryClient({ url: 'not a url' })).to.throw(/schema registry URL/);
  });
});
