import { randomBytes } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { deflateRaw } from 'node:zlib';
import avro from 'avsc';

const deflateRawAsync = promisify(deflateRaw);

const OPTS = { namespace: 'org.apache.avro.file' };
const HEADER_TYPE = avro.Type.forSchema(
  {
    type: 'record',
    name: 'Header',
    fields: [
      { name: 'magic', type: { type: 'fixed', name: 'Magic', size: 4 } },
      { name: 'meta', type: { type: 'map', values: 'bytes' } },
      { name: 'sync', type: { type: 'fixed', name: 'Sync', size: 16 } },
    ],
  },
  OPTS,
);
const LONG_TYPE = avro.Type.forSchema('long');
const MAGIC = Buffer.from('Obj\x01', 'latin1');

/** Compression codec of an Avro object container file. */
export type AvroCodec = 'null' | 'deflate';

/**
 * @internal Writes one Avro object container file block by block, so that every `append()` is
 * on disk (in the OS) when it resolves, which avsc's streaming encoder does not offer.
 *
 * Layout (Avro 1.x spec): magic `Obj\x01`, metadata map (`avro.schema`, `avro.codec`), a 16-byte
 * sync marker; then blocks of `count`, `size`, data (raw-deflated for `deflate`) and the marker.
 */
export class AvroFileWriter {
  private handle: FileHandle | undefined;
  private readonly sync = randomBytes(16);
  /** Records written so far. */
  records = 0;
  /** Bytes written so far (header included). */
  bytes = 0;
  private dirty = false;

  private constructor(
    readonly path: string,
    private readonly type: avro.Type,
    private readonly codec: AvroCodec,
  ) {}

  /** Creates the file (it must not exist) and writes the header. */
  static async create(path: string, type: avro.Type, codec: AvroCodec, meta: Record<string, string> = {}): Promise<AvroFileWriter> {
    const writer = new AvroFileWriter(path, type, codec);
    writer.handle = await open(path, 'wx');
    const metaBuffers: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(meta)) metaBuffers[k] = Buffer.from(v, 'utf8');
    metaBuffers['avro.schema'] = Buffer.from(JSON.stringify(type.schema({ exportAttrs: true })), 'utf8');
    metaBuffers['avro.codec'] = Buffer.from(codec, 'utf8');
    const header = HEADER_TYPE.toBuffer({ magic: MAGIC, meta: metaBuffers, sync: writer.sync });
    await writer.writeAll(header);
    return writer;
  }

  /** Encodes values into one block and writes it. Throws (writing nothing) if a value does not fit the schema. */
  async append(values: readonly unknown[]): Promise<void> {
    if (values.length === 0) return;
    const encoded = values.map((v) => this.type.toBuffer(v));
    let data = Buffer.concat(encoded);
    if (this.codec === 'deflate') data = await deflateRawAsync(data);
    const block = Buffer.concat([LONG_TYPE.toBuffer(values.length), LONG_TYPE.toBuffer(data.length), data, this.sync]);
    await this.writeAll(block);
    this.records += values.length;
  }

  /** Forces written blocks to disk (`fsync`) when anything was written since the last sync. */
  async fsync(): Promise<void> {
    if (!this.handle || !this.dirty) return;
    this.dirty = false;
    await this.handle.sync();
  }

  /** Syncs and closes the file. */
  async close(): Promise<void> {
    if (!this.handle) return;
    const handle = this.handle;
    await this.fsync();
    this.handle = undefined;
    await handle.close();
  }

  private async writeAll(buffer: Buffer): Promise<void> {
    if (!this.handle) throw new Error(`Avro file ${this.path} is closed`);
    let offset = 0;
    while (offset < buffer.length) {
      const { bytesWritten } = await this.handle.write(buffer, offset, buffer.length - offset);
      offset += bytesWritten;
    }
    this.bytes += buffer.length;
    this.dirty = true;
  }
}
